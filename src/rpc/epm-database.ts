// The endpoint mapper's database (C706 Appendix O, MS-RPCE 3.1.1.x): ept_insert/ept_delete
// semantics for our own servers, and the lookup/map queries with entry-handle iteration.
import { randomUUID } from 'node:crypto';
import { NIL_GUID } from '../base/guid';
import { decodeTower, tcpTower, type DecodedTower } from './tower';

export interface EpmEntry {
  object: string;
  tower: Buffer;
  annotation: string;
  decoded: DecodedTower;
}

/** ept_lookup inquiry_type (C706 O.2.4). */
export const Inquiry = { ALL_ELTS: 0, MATCH_BY_IF: 1, MATCH_BY_OBJ: 2, MATCH_BY_BOTH: 3 } as const;
/** ept_lookup vers_option (C706 O.2.4). */
export const VersOption = { ALL: 1, COMPATIBLE: 2, EXACT: 3, MAJOR_ONLY: 4, UPTO: 5 } as const;

interface Cursor {
  results: EpmEntry[];
  next: number;
}

export class EpmDatabase {
  private entries: EpmEntry[] = [];
  /** Iteration state behind each context handle we hand out (keyed by its uuid). */
  private readonly cursors = new Map<string, Cursor>();
  readonly maxOpenHandles = 1024;

  /** ept_insert: add an entry; with replace, an entry with the same object+interface+protseq goes. */
  insert(e: { object?: string; tower: Buffer; annotation?: string }, replace = true): EpmEntry {
    const decoded = decodeTower(e.tower);
    const entry: EpmEntry = { object: e.object ?? NIL_GUID, tower: Buffer.from(e.tower), annotation: (e.annotation ?? '').slice(0, 63), decoded };
    if (replace) {
      this.entries = this.entries.filter(
        (x) => !(x.object === entry.object && sameIface(x.decoded, decoded) && x.decoded.protseq === decoded.protseq),
      );
    }
    this.entries.push(entry);
    return entry;
  }

  /** Register an interface served on ncacn_ip_tcp host:port. */
  registerTcp(iface: { uuid: string; version: number }, host: string, port: number, annotation = '', object?: string): EpmEntry {
    return this.insert({ object, tower: tcpTower(iface, host, port), annotation });
  }

  /** ept_delete: remove entries with this object and tower; returns how many went. */
  delete(object: string, tower: Buffer): number {
    const before = this.entries.length;
    this.entries = this.entries.filter((x) => !(x.object === object && x.tower.equals(tower)));
    return before - this.entries.length;
  }

  list(): readonly EpmEntry[] {
    return this.entries;
  }

  /**
   * ept_lookup. Returns up to maxEnts entries and the handle to continue with. When this batch
   * reaches the end, the handle is null and the status 0 — as Windows does, so clients that
   * loop until a null handle (Impacket's rpcdump) stop; only a query matching nothing at all
   * answers ept_s_not_registered.
   */
  lookup(q: {
    inquiryType: number; object: string | null; ifId: { uuid: string; version: number } | null;
    versOption: number; handle: string | null; maxEnts: number;
  }): { entries: EpmEntry[]; handle: string | null; found: boolean } {
    const cursor = this.cursorFor(q.handle, () => this.entries.filter((e) => matchesLookup(e, q)));
    return this.take(cursor, q.handle, q.maxEnts);
  }

  /** ept_map: the towers for an interface (and object), with the same handle iteration. */
  map(q: { object: string | null; iface: { uuid: string; version: number }; handle: string | null; maxTowers: number }):
    { entries: EpmEntry[]; handle: string | null; found: boolean } {
    const cursor = this.cursorFor(q.handle, () =>
      this.entries.filter((e) => {
        if (!e.decoded.iface || e.decoded.iface.uuid !== q.iface.uuid) return false;
        // Compatible versions: same major, registered minor >= requested (C706 O.2.3).
        if ((e.decoded.iface.version & 0xffff) !== (q.iface.version & 0xffff)) return false;
        if (e.decoded.iface.version >>> 16 < q.iface.version >>> 16) return false;
        const obj = q.object ?? NIL_GUID;
        return obj === NIL_GUID || e.object === obj || e.object === NIL_GUID;
      }),
    );
    return this.take(cursor, q.handle, q.maxTowers);
  }

  /** ept_lookup_handle_free. */
  free(handle: string | null): void {
    if (handle) this.cursors.delete(handle);
  }

  private cursorFor(handle: string | null, query: () => EpmEntry[]): Cursor {
    if (handle && handle !== NIL_GUID) {
      const c = this.cursors.get(handle);
      if (c) return c;
    }
    return { results: query(), next: 0 };
  }

  private take(c: Cursor, handle: string | null, max: number): { entries: EpmEntry[]; handle: string | null; found: boolean } {
    const n = Math.max(0, max);
    const batch = c.results.slice(c.next, c.next + n);
    c.next += batch.length;
    const found = c.results.length > 0;
    const existing = handle && handle !== NIL_GUID ? handle : null;
    if (c.next >= c.results.length) {
      if (existing) this.cursors.delete(existing);
      return { entries: batch, handle: null, found };
    }
    let h = existing;
    if (!h) {
      if (this.cursors.size >= this.maxOpenHandles) {
        // Oldest iteration goes first; a client that never frees its handles cannot grow us.
        const oldest = this.cursors.keys().next().value;
        if (oldest) this.cursors.delete(oldest);
      }
      h = randomUUID();
      this.cursors.set(h, c);
    }
    return { entries: batch, handle: h, found };
  }
}

function sameIface(a: DecodedTower, b: DecodedTower): boolean {
  return !!a.iface && !!b.iface && a.iface.uuid === b.iface.uuid && a.iface.version === b.iface.version;
}

function matchesLookup(
  e: EpmEntry,
  q: { inquiryType: number; object: string | null; ifId: { uuid: string; version: number } | null; versOption: number },
): boolean {
  const byIf = q.inquiryType === Inquiry.MATCH_BY_IF || q.inquiryType === Inquiry.MATCH_BY_BOTH;
  const byObj = q.inquiryType === Inquiry.MATCH_BY_OBJ || q.inquiryType === Inquiry.MATCH_BY_BOTH;
  if (byObj && (q.object ?? NIL_GUID) !== e.object) return false;
  if (byIf) {
    if (!q.ifId || !e.decoded.iface || e.decoded.iface.uuid !== q.ifId.uuid) return false;
    const [qMaj, qMin] = [q.ifId.version & 0xffff, q.ifId.version >>> 16];
    const [eMaj, eMin] = [e.decoded.iface.version & 0xffff, e.decoded.iface.version >>> 16];
    switch (q.versOption) {
      case VersOption.ALL: break;
      case VersOption.COMPATIBLE: if (eMaj !== qMaj || eMin < qMin) return false; break;
      case VersOption.EXACT: if (eMaj !== qMaj || eMin !== qMin) return false; break;
      case VersOption.MAJOR_ONLY: if (eMaj !== qMaj) return false; break;
      case VersOption.UPTO: if (eMaj > qMaj || (eMaj === qMaj && eMin > qMin)) return false; break;
      default: return false;
    }
  }
  return true;
}
