// The client's ping set per OXID resolver (MS-DCOM 3.2.6.1 Pinging): the OIDs it holds references
// to (except SORF_NOPING ones) go into a set made with ComplexPing (SETID 0, sequence number 1),
// changes go with the next ComplexPing, and an unchanged set is kept alive with SimplePing, once
// per ping period (MS-DCOM 3.1.2.2: at most, and by default, 2 minutes).
import type { Logger } from '../../base/log';
import { formatError } from '../../base/errors';
import type { ResolverClient } from './resolver-client';

/** MS-DCOM 3.1.2.2: the ping period "SHOULD be exactly 2 minutes". */
export const DEFAULT_PING_PERIOD_MS = 120_000;

export class Pinger {
  private setId = 0n;
  private seq = 0;
  private readonly held = new Map<bigint, number>();
  private readonly toAdd = new Set<bigint>();
  private readonly toDel = new Set<bigint>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Pings sent (for tests and the CLI's report). */
  pings = { complex: 0, simple: 0, failed: 0 };

  constructor(private readonly resolver: ResolverClient, private readonly periodMs: number, private readonly log: Logger) {}

  /** One more reference to `oid` (an interface of it was unmarshaled). */
  hold(oid: bigint): void {
    const n = this.held.get(oid) ?? 0;
    this.held.set(oid, n + 1);
    if (n === 0) {
      this.toDel.delete(oid);
      this.toAdd.add(oid);
      this.schedule();
    }
  }

  /** One reference fewer; at zero the OID leaves the set with the next ping. */
  drop(oid: bigint): void {
    const n = this.held.get(oid) ?? 0;
    if (n <= 1) {
      this.held.delete(oid);
      if (!this.toAdd.delete(oid)) this.toDel.add(oid);
    } else this.held.set(oid, n - 1);
  }

  get heldOids(): bigint[] {
    return [...this.held.keys()];
  }

  get currentSetId(): bigint {
    return this.setId;
  }

  private schedule(): void {
    if (this.stopped) return;
    // New OIDs go out at once (together with any others added in the same turn): the server
    // collects an OID nobody pings, so the set must not wait for the next period.
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), 0);
    this.timer.unref();
  }

  /** Send the set's changes (ComplexPing) or keep it alive (SimplePing); one at a time. */
  tick(): Promise<void> {
    this.running ??= this.ping().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async ping(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const add = [...this.toAdd];
    const del = [...this.toDel];
    try {
      if (add.length || del.length) {
        this.toAdd.clear();
        this.toDel.clear();
        // 3.2.6.1: a new set starts at sequence number 1; each call after it increments it.
        if (this.setId === 0n) this.seq = 1;
        const r = await this.resolver.complexPing(this.setId, this.seq, add, del);
        this.seq = (this.seq + 1) & 0xffff;
        this.setId = r.setId;
        this.pings.complex++;
      } else if (this.setId !== 0n) {
        await this.resolver.simplePing(this.setId);
        this.pings.simple++;
      }
    } catch (e) {
      // Nothing was applied: send the same changes next time (unless they were undone meanwhile).
      for (const o of add) if (this.held.has(o)) this.toAdd.add(o);
      for (const o of del) if (!this.held.has(o)) this.toDel.add(o);
      this.pings.failed++;
      this.log.warn({ resolver: `${this.resolver.host}:${this.resolver.port}`, err: formatError(e) }, 'ping failed');
    }
    if (!this.stopped && (this.held.size || this.toDel.size || this.toAdd.size)) {
      this.timer = setTimeout(() => void this.tick(), this.toAdd.size || this.toDel.size ? Math.min(1000, this.periodMs) : this.periodMs);
      this.timer.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
