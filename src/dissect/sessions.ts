// `dcomlab sessions`: the associations of a capture (who talked to whom, which interfaces, the
// authentication and identity, calls and faults) and the DCOM story across them: each activation
// on the resolver port linked to the exporter connections it led to (by its bindings and IPIDs),
// OXID resolutions, and callbacks (a server connecting back to its client's address).
import { decodeActivationInterfacePointer, findActivationProperty, IID_IRemoteActivation, IID_IRemoteSCMActivator } from '../dcom/activation';
import { IID_IObjectExporter } from '../dcom/interfaces/object-exporter';
import { readActivationReply } from '../dcom/client/activation';
import { parseNetworkAddr } from '../dcom/client/bindings';
import { decodeObjref, OBJREF_CUSTOM } from '../dcom/objref';
import type { DualStringArray, DualStringArrayWire } from '../dcom/types';
import { dsa } from '../dcom/client/resolver-client';
import { describeStatus } from '../base/status';
import { AUTH_LEVEL_NAMES, AUTH_TYPE_NAMES } from '../pdu';
import { CaptureDecryptor, type DecryptCredentials, type DecryptSessionReport } from './decrypt';
import { dissectCapture, type PduRecord } from './dissect';
import { ExchangeTracker, type ExchangeReport } from './exchanges';

export interface AssociationReport {
  stream: number;
  client: string;
  server: string;
  start: string;
  end: string;
  durationMs: number;
  interfaces: { name: string; uuid: string; version: string; accepted: boolean }[];
  auth?: { type: string; level: string; user?: string; domain?: string; flavour?: string; decryptable?: boolean; reason?: string };
  calls: number;
  operations: Record<string, number>;
  faults: { callId: number; operation?: string; status: string }[];
  /** What the association was in the DCOM story. */
  role?: 'activation' | 'resolver' | 'exporter' | 'callback';
}

export interface ActivationReport {
  stream: number;
  frame: number;
  client: string;
  server: string;
  operation: string;
  clsid?: string;
  iids: string[];
  hresult?: string;
  oxid?: string;
  bindings: string[];
  ipids: string[];
  /** The connections to the object exporter this activation led to. */
  exporterStreams: number[];
}

export interface ResolutionReport {
  stream: number;
  frame: number;
  from: string;
  resolver: string;
  operation: string;
  oxid?: string;
  status?: string;
  bindings: string[];
}

export interface SessionsReport {
  file: string;
  associations: AssociationReport[];
  activations: ActivationReport[];
  resolutions: ResolutionReport[];
  /** Connections a server opened back to its client's address (resolving its OXID, calling it back). */
  callbacks: { stream: number; from: string; to: string; interfaces: string[] }[];
  /** Every bind, alter_context and call with its answer, in capture order (a sequence diagram's arrows). */
  exchanges: ExchangeReport[];
  decryption: DecryptSessionReport[];
}

/** DOMAIN\user, ANONYMOUS LOGON, or undefined when the association's identity is unknown. */
export function associationIdentity(a: AssociationReport): string | undefined {
  const u = a.auth?.user;
  if (u === undefined) return undefined;
  return u === '' ? 'ANONYMOUS LOGON' : `${a.auth?.domain ? a.auth.domain + '\\' : ''}${u}`;
}

const hex64 = (v: bigint) => '0x' + BigInt.asUintN(64, v).toString(16).padStart(16, '0');
/** "10.0.0.2:49152" or "[::1]:135" → the address. */
export const hostOf = (ep: string) => ep.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
const bindingList = (d: DualStringArray) => d.stringBindings.map((b) => b.networkAddr);

interface PendingCall {
  rec: PduRecord;
  value: Record<string, unknown> | undefined;
}

/** Read a capture once and tell its story. */
export async function analyzeSessions(file: string, creds: DecryptCredentials[] = []): Promise<SessionsReport> {
  const decryptor = new CaptureDecryptor(creds);
  const assocs = new Map<number, AssociationReport>();
  const requests = new Map<string, PendingCall>();
  const activations: ActivationReport[] = [];
  const resolutions: ResolutionReport[] = [];
  const exchanges = new ExchangeTracker();

  const assoc = (r: PduRecord): AssociationReport => {
    let a = assocs.get(r.stream);
    if (!a) {
      // The side that sends a bind or request is the client.
      const fromClient = r.ptype === 11 || r.ptype === 14 || r.ptype === 0 || r.ptype === 16;
      a = {
        stream: r.stream, client: fromClient ? r.src : r.dst, server: fromClient ? r.dst : r.src, start: r.time, end: r.time, durationMs: 0,
        interfaces: [], calls: 0, operations: {}, faults: [],
      };
      assocs.set(r.stream, a);
    }
    a.end = r.time;
    return a;
  };

  /** Per stream, the contexts of the last bind/alter_context: its ack's results follow their order. */
  const offered = new Map<number, AssociationReport['interfaces']>();
  await dissectCapture(file, (r) => {
    const a = assoc(r);
    exchanges.observe(r);
    if (r.contexts) {
      const list: AssociationReport['interfaces'] = [];
      for (const c of r.contexts) {
        const s = c.abstractSyntax;
        let i = a.interfaces.find((x) => x.uuid === s.uuid && x.version === s.version);
        if (!i) a.interfaces.push((i = { name: s.name ?? s.uuid, uuid: s.uuid, version: s.version, accepted: false }));
        list.push(i);
      }
      offered.set(r.stream, list);
    }
    if (r.results) {
      const list = offered.get(r.stream) ?? [];
      r.results.forEach((x, i) => {
        if (x.result === 0 && list[i]) list[i]!.accepted = true;
      });
    }
    if (r.authType !== undefined && r.authLevel !== undefined && !a.auth) {
      a.auth = { type: AUTH_TYPE_NAMES[r.authType] ?? String(r.authType), level: AUTH_LEVEL_NAMES[r.authLevel] ?? String(r.authLevel) };
    }
    const key = `${r.stream}/${r.callId}`;
    if (r.ptype === 0) {
      if (r.reassembled === undefined && (r.flags & 2) === 0) return; // not the last fragment
      a.calls++;
      const op = r.operation ?? `opnum ${r.opnum}`;
      a.operations[op] = (a.operations[op] ?? 0) + 1;
      requests.set(key, { rec: r, value: r.stub?.value });
      return;
    }
    if (r.ptype === 3) {
      const req = requests.get(key);
      a.faults.push({ callId: r.callId, ...(req?.rec.operation ? { operation: req.rec.operation } : {}), status: describeStatus(r.status ?? 0) });
      requests.delete(key);
      return;
    }
    if (r.ptype !== 2 || (r.flags & 2) === 0) return;
    const req = requests.get(key);
    requests.delete(key);
    if (!req) return;
    storyOf(req, r.stub?.value);
  }, {
    decodeStubs: true,
    unprotect: (stream, dir, bytes, pdu) => decryptor.unprotect(stream, dir, bytes, pdu),
    onAuthPdu: (stream, dir, bytes, pdu) => decryptor.observe(stream, dir, bytes, pdu),
  });

  /** What a finished call adds to the DCOM story (activations, OXID resolutions). */
  function storyOf(req: PendingCall, out: Record<string, unknown> | undefined): void {
    const op = req.rec.operation;
    const iface = req.rec.interface?.uuid;
    const inn = req.value;
    if ((op === 'RemoteCreateInstance' || op === 'RemoteGetClassObject') && iface === IID_IRemoteSCMActivator) {
      const act: ActivationReport = {
        stream: req.rec.stream, frame: req.rec.frame, client: req.rec.src, server: req.rec.dst, operation: op, iids: [], bindings: [], ipids: [], exporterStreams: [],
      };
      try {
        const mip = inn?.pActProperties as { ulCntData: number; abData: Buffer } | null | undefined;
        if (mip) {
          const inst = findActivationProperty(decodeActivationInterfacePointer(mip, { lenient: true }).properties, 'InstantiationInfoData');
          if (inst) {
            act.clsid = inst.classId;
            act.iids = inst.pIID ?? [];
          }
        }
      } catch { /* an undecodable request still leaves its reply to tell */ }
      if (out) {
        act.hresult = describeStatus(out.hresult as number, 'hresult');
        const mip = out.ppActProperties as { ulCntData: number; abData: Buffer } | null;
        try {
          if (mip) {
            const reply = readActivationReply(mip, act.iids);
            act.oxid = hex64(reply.oxid.oxid);
            act.bindings = bindingList(reply.oxid.bindings);
            act.ipids = [reply.oxid.ipidRemUnknown, ...reply.interfaces.flatMap((i) => (i.objref && i.objref.flags !== OBJREF_CUSTOM ? [i.objref.std.ipid] : []))];
          }
        } catch { /* keep what we have */ }
      }
      activations.push(act);
    } else if (op === 'RemoteActivation' && iface === IID_IRemoteActivation) {
      const act: ActivationReport = {
        stream: req.rec.stream, frame: req.rec.frame, client: req.rec.src, server: req.rec.dst, operation: op,
        clsid: inn?.Clsid as string | undefined, iids: (inn?.pIIDs as string[] | null) ?? [], bindings: [], ipids: [], exporterStreams: [],
      };
      if (out) {
        act.hresult = describeStatus(out.phr as number, 'hresult');
        act.oxid = hex64(out.pOxid as bigint);
        act.bindings = bindingList(dsa(out.ppdsaOxidBindings as DualStringArrayWire | null));
        act.ipids = [out.pipidRemUnknown as string];
        for (const m of (out.ppInterfaceData as ({ abData: Buffer } | null)[]) ?? []) {
          try {
            const o = m ? decodeObjref(m.abData) : undefined;
            if (o && o.flags !== OBJREF_CUSTOM) act.ipids.push(o.std.ipid);
          } catch { /* skip */ }
        }
      }
      activations.push(act);
    } else if ((op === 'ResolveOxid2' || op === 'ResolveOxid') && iface === IID_IObjectExporter) {
      resolutions.push({
        stream: req.rec.stream, frame: req.rec.frame, from: req.rec.src, resolver: req.rec.dst, operation: op,
        ...(inn?.pOxid !== undefined ? { oxid: hex64(inn.pOxid as bigint) } : {}),
        ...(out ? { status: describeStatus(out.error_status as number, 'win32'), bindings: bindingList(dsa(out.ppdsaOxidBindings as DualStringArrayWire | null)) } : { bindings: [] }),
      });
    }
  }

  // ---- the links
  const list = [...assocs.values()].sort((x, y) => x.stream - y.stream);
  for (const a of list) a.durationMs = Math.round(Date.parse(a.end) - Date.parse(a.start)) || 0;
  for (const act of activations) {
    assocs.get(act.stream)!.role = 'activation';
    const endpoints = new Set(act.bindings.flatMap((b) => {
      try {
        const p = parseNetworkAddr(b);
        return p.port ? [`${p.host}:${p.port}`] : [];
      } catch {
        return [];
      }
    }));
    for (const a of list) {
      if (a.stream === act.stream || Date.parse(a.start) < Date.parse(assocs.get(act.stream)!.start)) continue;
      if (endpoints.has(a.server) && hostOf(a.client) === hostOf(act.client)) {
        act.exporterStreams.push(a.stream);
        a.role ??= 'exporter';
      }
    }
  }
  for (const r of resolutions) assocs.get(r.stream)!.role ??= 'resolver';
  // A callback: a connection whose server is an address that was a client of an activation.
  const clients = new Set(activations.map((x) => hostOf(x.client)));
  const servers = new Set(activations.map((x) => hostOf(x.server)));
  const callbacks = list
    .filter((a) => clients.has(hostOf(a.server)) && servers.has(hostOf(a.client)) && !activations.some((x) => x.stream === a.stream))
    .map((a) => {
      a.role = 'callback';
      return { stream: a.stream, from: a.client, to: a.server, interfaces: a.interfaces.map((i) => i.name) };
    });
  const decryption = decryptor.sessions();
  for (const d of decryption) {
    const a = assocs.get(d.stream);
    if (!a || !a.auth) continue;
    if (d.user !== undefined) a.auth.user = d.user;
    if (d.domain !== undefined) a.auth.domain = d.domain;
    if (d.flavour !== undefined) a.auth.flavour = d.flavour;
    a.auth.decryptable = d.decryptable;
    if (d.reason) a.auth.reason = d.reason;
  }
  const exchangeList = exchanges.finish((stream) => {
    const a = assocs.get(stream);
    if (!a?.auth) return undefined;
    const identity = associationIdentity(a);
    return { level: a.auth.level, ...(identity !== undefined ? { identity } : {}) };
  });
  return { file, associations: list, activations, resolutions, callbacks, exchanges: exchangeList, decryption };
}
