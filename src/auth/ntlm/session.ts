// SessionSecurity (src/auth/types.ts) over an NtlmSecurityContext: what the RPC runtime calls
// for every PDU at PKT_INTEGRITY / PKT_PRIVACY (MS-RPCE 3.3.1.5.2; NTLM GSS_GetMICEx,
// GSS_VerifyMICEx, GSS_WrapEx, GSS_UnwrapEx of MS-NLMP 3.4).
//
// What the signature covers (the caller builds it; `signsWholePdu` says which):
//  - with NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY: the whole PDU up to the auth value,
//    with the stub in plaintext (header, stub, auth padding, sec_trailer). Checked against
//    real traffic: every sealed request and response of scapy's dcerpc_privacy_ntlm capture
//    (Windows, NTLMv2, KEY_EXCH) verifies that way (test/unit/auth-captures.test.ts);
//  - without it (NTLMv1 CRC32 signatures): the stub and its auth padding only, as Samba's
//    ntlmssp_make_packet_signature does (it checksums `data`, not `whole_pdu`, in that case).
import type { SessionSecurity } from '../types';
import { NTLM_SIGNATURE_LENGTH, NtlmSecurityContext } from './seal';

export class NtlmSessionSecurity implements SessionSecurity {
  readonly signatureLength = NTLM_SIGNATURE_LENGTH;

  constructor(readonly context: NtlmSecurityContext) {}

  /** Next outgoing / expected incoming sequence numbers (for logs and tests). */
  get sendSeqNum(): number {
    return this.context.sendSeqNum;
  }

  get recvSeqNum(): number {
    return this.context.recvSeqNum;
  }

  sign(data: Uint8Array): Buffer {
    return this.context.sign(data);
  }

  verify(data: Uint8Array, signature: Uint8Array): boolean {
    return this.context.verify(data, signature);
  }

  /** True with extended session security: DCE/RPC signs the whole PDU, else the stub and padding. */
  get signsWholePdu(): boolean {
    return this.context.extendedSessionSecurity;
  }

  /** Encrypt `plaintext` and sign `signedData` (plaintext bytes; default the plaintext itself). */
  seal(plaintext: Uint8Array, signedData?: Uint8Array): { sealed: Buffer; signature: Buffer } {
    return this.context.seal(plaintext, signedData ?? plaintext);
  }

  unseal(sealed: Uint8Array, signature: Uint8Array, signedData?: (plain: Buffer) => Uint8Array): { plaintext: Buffer; ok: boolean } {
    const r = this.context.unseal(sealed, signature, signedData);
    return { plaintext: r.plaintext, ok: r.valid };
  }
}
