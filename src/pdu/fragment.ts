// Fragmentation and reassembly of request/response stubs (C706 12.6.2 / MS-RPCE 3.3.1.5.6):
// first/last flags, alloc_hint = bytes still to come including this fragment.
import { DcomlabError, RpcFault } from '../base/errors';
import { Status } from '../base/status';
import { COMMON_HEADER_LENGTH, PFC, SEC_TRAILER_LENGTH } from './constants';

/**
 * Split a stub into chunks that fit a fragment of `maxFrag` bytes once the header
 * (`headerLen` = common header + request/response fields) and the auth trailer
 * (`authOverhead` = max padding + sec_trailer + auth value, 0 when unauthenticated) are added.
 * Chunk sizes are multiples of 16 except the last, so each fragment keeps NDR alignment intact
 * for receivers that process fragments one at a time, and auth padding stays the same per fragment.
 */
export function splitStub(stub: Buffer, maxFrag: number, headerLen: number, authOverhead = 0): Buffer[] {
  let room = maxFrag - headerLen - authOverhead;
  room -= room % 16;
  if (room <= 0) throw new RangeError(`fragment size ${maxFrag} leaves no room for stub data`);
  if (stub.length <= room) return [stub];
  const out: Buffer[] = [];
  for (let o = 0; o < stub.length; o += room) out.push(stub.subarray(o, Math.min(stub.length, o + room)));
  return out;
}

/** Header bytes before the stub of a request (with/without object UUID) and of a response. */
export function requestHeaderLength(hasObject: boolean): number {
  return COMMON_HEADER_LENGTH + 8 + (hasObject ? 16 : 0);
}
export const RESPONSE_HEADER_LENGTH = COMMON_HEADER_LENGTH + 8;
/** Worst-case auth trailer overhead for an auth value of `authValueLength` bytes (padding up to 15). */
export function authOverhead(authValueLength: number): number {
  return authValueLength > 0 ? 15 + SEC_TRAILER_LENGTH + authValueLength : 0;
}

/** pfc_flags for fragment i of n. */
export function fragmentFlags(i: number, n: number, base = 0): number {
  let f = base & ~(PFC.FIRST_FRAG | PFC.LAST_FRAG);
  if (i === 0) f |= PFC.FIRST_FRAG;
  if (i === n - 1) f |= PFC.LAST_FRAG;
  return f;
}

export class ReassemblyLimitError extends DcomlabError {
  override name = 'ReassemblyLimitError';
}

interface Pending {
  parts: Buffer[];
  size: number;
  first: unknown;
}

/**
 * Collects stub fragments per call id until the last one. `maxSize` bounds the memory a peer
 * can make us hold for one call; `maxCalls` bounds the calls in progress.
 */
export class StubReassembler<F = unknown> {
  private readonly pending = new Map<number, Pending>();
  constructor(readonly maxSize = 4 * 1024 * 1024, readonly maxCalls = 64) {}

  /**
   * Feed one fragment. Returns the whole stub and the first fragment's PDU when `flags`
   * carries LAST_FRAG, otherwise undefined. Throws RpcFault(nca_s_proto_error) for a
   * continuation with no first fragment, and ReassemblyLimitError past the limits.
   */
  push(callId: number, flags: number, stub: Buffer, pdu: F): { stub: Buffer; first: F; fragments: number } | undefined {
    const first = (flags & PFC.FIRST_FRAG) !== 0;
    const last = (flags & PFC.LAST_FRAG) !== 0;
    if (first && last) return { stub, first: pdu, fragments: 1 };
    let p = this.pending.get(callId);
    if (first) {
      if (p) this.pending.delete(callId);
      if (this.pending.size >= this.maxCalls) {
        throw new ReassemblyLimitError(`more than ${this.maxCalls} fragmented calls in progress`, Status.nca_s_server_too_busy);
      }
      p = { parts: [], size: 0, first: pdu };
      this.pending.set(callId, p);
    } else if (!p) {
      throw new RpcFault(Status.nca_s_proto_error, `fragment of call ${callId} without a first fragment`);
    }
    p.size += stub.length;
    if (p.size > this.maxSize) {
      this.pending.delete(callId);
      throw new ReassemblyLimitError(`call ${callId} exceeds the ${this.maxSize}-byte reassembly limit`, Status.nca_s_fault_remote_no_memory);
    }
    p.parts.push(Buffer.from(stub));
    if (!last) return undefined;
    this.pending.delete(callId);
    return { stub: Buffer.concat(p.parts, p.size), first: p.first as F, fragments: p.parts.length };
  }

  discard(callId: number): void {
    this.pending.delete(callId);
  }

  get inProgress(): number {
    return this.pending.size;
  }
}
