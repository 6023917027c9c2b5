// The server's answers to protocol mistakes, in one place. Each is what Windows sends, as pinned
// by Samba's raw_protocol.py tests against Windows 2012R2 (test names cited) or by MS-RPCE;
// docs/research/rpc-server-behaviour.md has the details and sources.
import { DREP_LE, encodePdu, PFC, PType } from '../pdu';

/** bind_nak reasons we send (C706 12.6.3.1, MS-RPCE 2.2.2.5). */
export const NakReason = {
  /** Second bind on a bound connection, zero contexts, two BTFN items, unknown assoc group. */
  not_specified: 0,
  local_limit_exceeded: 2,
  /** Wrong rpc_vers/minor, a malformed bind, or a first PDU that is not a bind. */
  protocol_version_not_supported: 4,
  authentication_type_not_recognized: 8,
} as const;

/** Fault flags: FIRST|LAST, with DID_NOT_EXECUTE when the manager routine never ran. */
export const FAULT_FLAGS = PFC.FIRST_FRAG | PFC.LAST_FRAG;
export const FAULT_FLAGS_DNE = PFC.FIRST_FRAG | PFC.LAST_FRAG | PFC.DID_NOT_EXECUTE;

export const ServerAnswers = {
  /**
   * bind_nak: reason, the one version we speak (5.0) and 3 pad bytes — 24 bytes, the layout
   * Windows sends for every reason (raw_protocol.py assertPadding(rep.u._pad, 3)).
   */
  bindNak(callId: number, reason: number): Buffer {
    return encodePdu({
      ptype: PType.bind_nak, rpcVersMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, drep: DREP_LE, callId,
      rejectReason: reason, versions: [{ major: 5, minor: 0 }], extra: Buffer.alloc(3),
    });
  },

  /**
   * A fault PDU (C706 12.6.4.7, MS-RPCE 2.2.2.8): alloc_hint 32 (MS-RPCE sizes extended error
   * data as alloc_hint - 0x20, so 32 means none), cancel_count 0, fault flags 0, no stub.
   */
  fault(callId: number, ctxId: number, status: number, flags: number): Buffer {
    return encodePdu({
      ptype: PType.fault, rpcVersMinor: 0, flags, drep: DREP_LE, callId,
      allocHint: 32, ctxId, cancelCount: 0, faultFlags: 0, status, reserved2: 0, stub: Buffer.alloc(0),
    });
  },
};
