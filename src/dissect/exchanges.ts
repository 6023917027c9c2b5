// The PDU exchanges of a capture, in order: each bind or alter_context with its answer, each call
// (request, possibly in fragments) with its response or fault. An exchange is what a sequence
// diagram draws as one arrow: who asked whom for what, under which authentication, and how it
// ended (the HRESULT or status the answer carries, decoded with the operation's own definition).
// auth3 completes its bind's handshake and answers nothing: it is not an exchange of its own.
import * as ndr from '../ndr';
import { describeStatus } from '../base/status';
import { AUTH_LEVEL_NAMES, PFC, PType } from '../pdu';
import type { DecodedStub } from './stub';
import type { PduRecord } from './dissect';

export interface ExchangeReport {
  stream: number;
  /** The frame of the request (its first fragment) or bind; of the answer, when there was one. */
  frame: number;
  answerFrame?: number;
  time: string;
  /** Endpoints, "address:port": the caller and the callee. */
  from: string;
  to: string;
  kind: 'bind' | 'alter_context' | 'call';
  /** "bind IRemoteSCMActivator v0.0", "ICServer::ForwardCall" (opnum N when the interface is unknown). */
  label: string;
  authLevel?: string;
  /** Who the caller authenticated as, once known: DOMAIN\user, ANONYMOUS LOGON; none when unauthenticated. */
  identity?: string;
  /** How it ended: "bind_ack", "bind_nak: reason", "S_OK 0x00000000", "fault E_OUTOFMEMORY 0x8007000E", "no answer". */
  result: string;
  failed: boolean;
}

/** The answer a response stub carries: its HRESULT (preferred) or error_status_t. */
export function stubOutcome(stub: DecodedStub): { text: string; failed: boolean } | undefined {
  const fields = stub.params.fields;
  let hr: number | undefined;
  let status: number | undefined;
  for (const k of stub.params.keys) {
    const v = stub.value[k];
    if (typeof v !== 'number') continue;
    if (fields[k] === ndr.hresult) hr = v;
    else if (fields[k] === ndr.errorStatus) status = v;
  }
  if (hr !== undefined) return { text: describeStatus(hr >>> 0, 'hresult'), failed: (hr >>> 0) >= 0x80000000 };
  if (status !== undefined) return { text: describeStatus(status >>> 0, 'win32'), failed: status !== 0 };
  return undefined;
}

/** Feed it every record of a capture in order (`observe`), then take the exchanges (`finish`). */
export class ExchangeTracker {
  private readonly list: ExchangeReport[] = [];
  /** Exchanges still waiting for their answer, by stream and call id. */
  private readonly open = new Map<string, ExchangeReport>();

  observe(r: PduRecord): void {
    const key = `${r.stream}/${r.callId}`;
    const level = r.authLevel !== undefined ? AUTH_LEVEL_NAMES[r.authLevel] ?? String(r.authLevel) : undefined;
    const start = (kind: ExchangeReport['kind'], label: string) => {
      const x: ExchangeReport = { stream: r.stream, frame: r.frame, time: r.time, from: r.src, to: r.dst, kind, label, result: 'no answer', failed: true };
      if (level !== undefined) x.authLevel = level;
      this.list.push(x);
      this.open.set(key, x);
    };
    switch (r.ptype) {
      case PType.bind:
      case PType.alter_context: {
        const names = (r.contexts ?? []).map((c) => c.abstractSyntax.name ?? c.abstractSyntax.uuid);
        const unique = [...new Set(names)];
        start(r.ptype === PType.bind ? 'bind' : 'alter_context', `${r.ptype === PType.bind ? 'bind' : 'alter_context'} ${unique.join(', ') || '(no context)'}`);
        return;
      }
      case PType.request: {
        // Fragments after the first continue the call already opened.
        if ((r.flags & PFC.FIRST_FRAG) === 0 && this.open.has(key)) return;
        const iface = r.interface?.name ?? r.interface?.uuid;
        const op = r.operation ?? `opnum ${r.opnum ?? '?'}`;
        start('call', iface ? `${iface}::${op}` : op);
        return;
      }
      case PType.bind_ack:
      case PType.alter_context_resp: {
        const o = this.take(key, r);
        if (!o) return;
        const results = r.results ?? [];
        const accepted = results.filter((x) => x.result === 0).length;
        const refused = results.filter((x) => x.result !== 0);
        const ack = r.ptype === PType.bind_ack ? 'bind_ack' : 'alter_context_resp';
        o.result = refused.length ? `${ack}, ${refused.length} refused: ${[...new Set(refused.map((x) => x.reasonName ?? x.resultName))].join(', ')}` : ack;
        o.failed = results.length > 0 && accepted === 0;
        return;
      }
      case PType.bind_nak: {
        const o = this.take(key, r);
        if (!o) return;
        o.result = `bind_nak${r.statusName ? `: ${r.statusName}` : ''}`;
        o.failed = true;
        return;
      }
      case PType.response: {
        if ((r.flags & PFC.LAST_FRAG) === 0) return;
        const o = this.take(key, r);
        if (!o) return;
        const out = r.stub ? stubOutcome(r.stub) : undefined;
        o.result = out?.text ?? (r.stubSealed ? 'response (sealed)' : 'response');
        o.failed = out?.failed ?? false;
        return;
      }
      case PType.fault: {
        const o = this.take(key, r);
        if (!o) return;
        o.result = `fault ${describeStatus(r.status ?? 0)}`;
        o.failed = true;
        return;
      }
      default:
    }
  }

  private take(key: string, r: PduRecord): ExchangeReport | undefined {
    const x = this.open.get(key);
    if (!x) return undefined;
    this.open.delete(key);
    x.answerFrame = r.frame;
    return x;
  }

  /**
   * The exchanges, each with the identity its connection authenticated as (`identityOf(stream)`,
   * known only once the whole handshake was read) and the association's level where the PDU named none.
   */
  finish(identityOf: (stream: number) => { identity?: string; level?: string } | undefined): ExchangeReport[] {
    for (const x of this.list) {
      const who = identityOf(x.stream);
      if (who?.identity !== undefined) x.identity = who.identity;
      if (x.authLevel === undefined && who?.level !== undefined) x.authLevel = who.level;
    }
    return this.list;
  }
}
