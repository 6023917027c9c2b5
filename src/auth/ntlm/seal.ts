// NTLM session security for connection-oriented use: message integrity (MS-NLMP 3.4.4,
// "MAC") and confidentiality (3.4.3, "SEAL"), with the per-direction keys, RC4 handles and
// sequence numbers of 3.4 and 3.1.5.1.2 / 3.2.5.1.2. Connectionless (datagram) mode, which
// rekeys RC4 for every message, is not implemented.
//
// Two signature formats:
//  - With NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY (2.2.2.9.2): Version 1, the first
//    8 bytes of HMAC_MD5(SigningKey, SeqNum || Message) -- RC4-encrypted with the sealing
//    handle when NTLMSSP_NEGOTIATE_KEY_EXCH is set -- and the plain SeqNum. Each direction
//    has its own signing key, sealing key, RC4 handle and sequence number.
//  - Without it (2.2.2.9.1): Version 1, then RandomPad (0), CRC32(Message) and SeqNum, the
//    last twelve bytes RC4-encrypted with the (single) sealing handle. Both directions share
//    that handle -- the spec's "half-duplex" mode (3.4) -- and, as in Samba, one sequence
//    counter that every sent and received message advances.
//
// Ordering matters because RC4 is a stream: SEAL encrypts the message first and only then
// the checksum, so seal() does the same and unseal() decrypts before it checks.
import { crc32, hmacMd5, Rc4 } from '../crypto';
import { NtlmError } from './errors';
import {
  hasFlag,
  NTLMSSP_NEGOTIATE_DATAGRAM,
  NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY,
  NTLMSSP_NEGOTIATE_KEY_EXCH,
} from './flags';
import { SEALKEY, SIGNKEY, type NtlmMode } from './keys';

/** Length of NTLMSSP_MESSAGE_SIGNATURE in both formats. */
export const NTLM_SIGNATURE_LENGTH = 16;

export interface NtlmSecurityContextOptions {
  /** The negotiated flags (the AUTHENTICATE_MESSAGE's NegotiateFlags). */
  flags: number;
  /** ExportedSessionKey from the key exchange. */
  exportedSessionKey: Uint8Array;
  /** Which end this context is: it signs/seals with its own direction's keys. */
  role: NtlmMode;
}

export interface SealResult {
  sealed: Buffer;
  signature: Buffer;
}

export interface UnsealResult {
  plaintext: Buffer;
  /** True when the signature matches. The keystream and sequence number advance either way. */
  valid: boolean;
}

interface Direction {
  signKey: Buffer | null;
  sealKey: Buffer;
  handle: Rc4;
  seqNum: number;
}

/** One side's session security state after NTLM authentication. */
export class NtlmSecurityContext {
  readonly flags: number;
  readonly role: NtlmMode;
  readonly extendedSessionSecurity: boolean;
  private readonly out: Direction;
  private readonly in: Direction;

  constructor(opts: NtlmSecurityContextOptions) {
    if (hasFlag(opts.flags, NTLMSSP_NEGOTIATE_DATAGRAM)) {
      throw new NtlmError('connectionless (datagram) session security is not implemented');
    }
    this.flags = opts.flags;
    this.role = opts.role;
    this.extendedSessionSecurity = hasFlag(opts.flags, NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY);
    const peer: NtlmMode = opts.role === 'client' ? 'server' : 'client';
    const make = (mode: NtlmMode): Direction => {
      const sealKey = SEALKEY(opts.flags, opts.exportedSessionKey, mode);
      return { signKey: SIGNKEY(opts.flags, opts.exportedSessionKey, mode), sealKey, handle: new Rc4(sealKey), seqNum: 0 };
    };
    this.out = make(opts.role);
    // Without extended session security there is one key and one RC4 handle for both
    // directions (the two SEALKEY calls return the same key anyway) and one sequence number.
    this.in = this.extendedSessionSecurity ? make(peer) : this.out;
  }

  /** Keys in use, for logs and tests. */
  get keys(): { sendSignKey: Buffer | null; sendSealKey: Buffer; recvSignKey: Buffer | null; recvSealKey: Buffer } {
    return {
      sendSignKey: this.out.signKey,
      sendSealKey: this.out.sealKey,
      recvSignKey: this.in.signKey,
      recvSealKey: this.in.sealKey,
    };
  }

  /** Next outgoing sequence number. */
  get sendSeqNum(): number {
    return this.out.seqNum;
  }

  /** Next expected incoming sequence number (same counter as sendSeqNum without ESS). */
  get recvSeqNum(): number {
    return this.in.seqNum;
  }

  /**
   * Run `fn` with the RC4 handles saved and restored afterwards; sequence numbers are NOT
   * restored. MS-SPNG 3.3.5.1: when NTLM is negotiated the SPNEGO client sets OriginalHandle
   * to ClientHandle before generating the mechListMIC and back afterwards (the server does
   * the same around validating it), "so the RC4 key state is the same for the mechListMIC
   * and for the first message signed by the application". The SeqNum the mechListMIC used
   * (0) stays consumed, as in Samba (ntlmssp_sign_reset(..., reset_seqnums=false)) and as
   * Windows traffic shows: the first signed request after SPNEGO carries SeqNum 1.
   */
  withPreservedCipherState<T>(fn: () => T): T {
    const out = this.out.handle.clone();
    const inn = this.in === this.out ? null : this.in.handle.clone();
    try {
      return fn();
    } finally {
      this.out.handle = out;
      if (inn) this.in.handle = inn;
    }
  }

  /** GSS_GetMICEx: the signature of `message`; advances the outgoing sequence number. */
  sign(message: Uint8Array): Buffer {
    return this.mac(this.out, message);
  }

  /**
   * GSS_VerifyMICEx: true when `signature` is the one this side expects next for `message`.
   * Advances the incoming sequence number (and RC4 handle) whatever the outcome.
   */
  verify(message: Uint8Array, signature: Uint8Array): boolean {
    const expected = this.mac(this.in, message);
    return signaturesMatch(expected, signature, this.extendedSessionSecurity);
  }

  /**
   * GSS_WrapEx: encrypt `plaintext`, and sign `signedData` (by default the plaintext
   * itself; DCE/RPC signs the whole PDU with the cleartext stub in it).
   */
  seal(plaintext: Uint8Array, signedData: Uint8Array = plaintext): SealResult {
    // The spec computes the MAC over the plaintext but applies RC4 to the message first:
    // with ESS the HMAC does not touch RC4, so order only matters for the checksum step.
    const dir = this.out;
    if (this.extendedSessionSecurity) {
      const checksum = this.essChecksum(dir, signedData);
      const sealed = dir.handle.update(plaintext);
      return { sealed, signature: this.essFinish(dir, checksum) };
    }
    const crc = crc32(signedData);
    const sealed = dir.handle.update(plaintext);
    return { sealed, signature: this.v1Finish(dir, crc) };
  }

  /**
   * GSS_UnwrapEx: decrypt `sealed` and check `signature`. `signedData` builds the bytes the
   * signature covers from the decrypted plaintext (by default the plaintext itself).
   */
  unseal(sealed: Uint8Array, signature: Uint8Array, signedData: (plaintext: Buffer) => Uint8Array = (p) => p): UnsealResult {
    const dir = this.in;
    const plaintext = dir.handle.update(sealed);
    const covered = signedData(plaintext);
    let expected: Buffer;
    if (this.extendedSessionSecurity) {
      expected = this.essFinish(dir, this.essChecksum(dir, covered));
    } else {
      expected = this.v1Finish(dir, crc32(covered));
    }
    return { plaintext, valid: signaturesMatch(expected, signature, this.extendedSessionSecurity) };
  }

  private mac(dir: Direction, message: Uint8Array): Buffer {
    if (this.extendedSessionSecurity) return this.essFinish(dir, this.essChecksum(dir, message));
    return this.v1Finish(dir, crc32(message));
  }

  /** HMAC_MD5(SigningKey, ConcatenationOf(SeqNum, Message))[0..7] (3.4.4.2). */
  private essChecksum(dir: Direction, message: Uint8Array): Buffer {
    const seq = Buffer.alloc(4);
    seq.writeUInt32LE(dir.seqNum >>> 0);
    return hmacMd5(dir.signKey!, seq, message).subarray(0, 8);
  }

  /** Version, checksum (RC4-encrypted under KEY_EXCH), SeqNum; then SeqNum + 1. */
  private essFinish(dir: Direction, checksum: Buffer): Buffer {
    const sig = Buffer.alloc(NTLM_SIGNATURE_LENGTH);
    sig.writeUInt32LE(1, 0);
    const cs = hasFlag(this.flags, NTLMSSP_NEGOTIATE_KEY_EXCH) ? dir.handle.update(checksum) : checksum;
    cs.copy(sig, 4);
    sig.writeUInt32LE(dir.seqNum >>> 0, 12);
    dir.seqNum = (dir.seqNum + 1) >>> 0;
    return sig;
  }

  /**
   * 3.4.4.1: Version 1, then RC4(RandomPad = 0), RC4(CRC32), RC4(0) XOR SeqNum from one
   * handle, in that order. The encrypted RandomPad is left in the signature, as in the
   * spec's example (4.2.2.4) and Samba; receivers ignore it.
   */
  private v1Finish(dir: Direction, crc: number): Buffer {
    const body = Buffer.alloc(12);
    body.writeUInt32LE(crc >>> 0, 4);
    body.writeUInt32LE(dir.seqNum >>> 0, 8);
    dir.handle.updateInPlace(body);
    dir.seqNum = (dir.seqNum + 1) >>> 0;
    return Buffer.concat([Buffer.from([1, 0, 0, 0]), body]);
  }
}

/** Compare signatures: all 16 bytes with ESS; without it, skip the RandomPad field. */
function signaturesMatch(expected: Buffer, got: Uint8Array, ess: boolean): boolean {
  if (got.length !== NTLM_SIGNATURE_LENGTH) return false;
  const from = ess ? 0 : 8;
  let diff = expected.readUInt32LE(0) ^ Buffer.from(got.buffer, got.byteOffset, 4).readUInt32LE(0);
  for (let i = from; i < NTLM_SIGNATURE_LENGTH; i++) diff |= expected[i]! ^ got[i]!;
  return diff === 0;
}
