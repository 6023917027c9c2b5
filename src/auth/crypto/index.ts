// The primitives NTLM needs. MD4, RC4 and CRC32 are written here (OpenSSL 3 refuses MD4
// and RC4 without the legacy provider); DES comes from des.js; MD5 and HMAC-MD5 come
// from node:crypto, which still offers them in the default provider.
import { createHash, createHmac } from 'node:crypto';

export { md4 } from './md4';
export { Rc4, rc4 } from './rc4';
export { crc32 } from './crc32';
export { DES, DESL, desEncryptBlock, desDecryptBlock, expandDesKey, setOddParity } from './des';

/** MD5 of the concatenation of `parts`. */
export function md5(...parts: Uint8Array[]): Buffer {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** HMAC-MD5 (RFC 2104) keyed with `key` over the concatenation of `parts`. */
export function hmacMd5(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac('md5', key);
  for (const p of parts) h.update(p);
  return h.digest();
}
