// CRC-32 (IEEE 802.3 / ISO-HDLC: reflected polynomial 0xEDB88320, init and final XOR
// 0xFFFFFFFF). NTLMv1 message signatures without extended session security carry
// CRC32(message) in NTLMSSP_MESSAGE_SIGNATURE.Checksum (MS-NLMP 3.4.4.1).

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32 of `data` as an unsigned 32-bit number. Pass the previous result as `crc` to
 * continue over several buffers.
 */
export function crc32(data: Uint8Array, crc = 0): number {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
