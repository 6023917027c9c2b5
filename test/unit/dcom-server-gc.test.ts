// Garbage collection by pinging on dcomlab's DCOM server: ping sets (MS-DCOM 3.1.2.5.1.2 SimplePing,
// 3.1.2.5.1.3 ComplexPing), their timer (3.1.2.2: ping period x 3) and expiry (3.1.2.6), and the
// exporter's object reclamation (3.1.1.6.2). Timings are shortened to a 50 ms ping period.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { minimalActivationIn, orpcthis } from '../support/dcom';
import { RpcConnection } from '../../src/rpc/client';
import { RpcServer, type CallContext } from '../../src/rpc/server';
import { bindInterface } from '../../src/rpc/typed';
import {
  decodeActivationInterfacePointer, findActivationProperty,
} from '../../src/dcom/activation';
import { IRemoteSCMActivator } from '../../src/dcom/interfaces/activation';
import { IObjectExporter } from '../../src/dcom/interfaces/object-exporter';
import { decodeObjref, OBJREF_STANDARD } from '../../src/dcom/objref';
import { SORF_NOPING } from '../../src/dcom/types';
import {
  CLSID_CServer, ClassRegistry, CServerClass, cserverDispatcher, DEFAULT_PING_PERIOD_MS, DEFAULT_PINGS_TO_EXPIRE, HR, ICServer,
  IID_ICServer, IID_IUnknown, ObjectExporter, OxidResolver, scmActivatorDispatcher, type OxidResolverOptions,
} from '../../src/dcom/server';

const HOST = '127.0.0.1';
const PERIOD = 50;
const EXPIRY = PERIOD * 3;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves when `cond` holds; rejects after `ms`. */
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await sleep(5);
  }
}

describe('ping sets and garbage collection (tables, no sockets)', () => {
  const resolvers: OxidResolver[] = [];
  afterEach(() => {
    for (const r of resolvers.splice(0)) r.stop();
  });

  function setup(o: OxidResolverOptions = {}) {
    const x = new ObjectExporter({ host: HOST });
    const r = new OxidResolver([HOST], { pingPeriodMs: PERIOD, pingsToExpire: 3, ...o });
    r.register(x);
    resolvers.push(r);
    const object = (noPing = false) => {
      const o2 = x.exportObject(CLSID_CServer, [IID_ICServer], {});
      const std = x.marshalInterface(o2, IID_ICServer, 5, noPing)!;
      return { oid: o2.oid, obj: o2, ipid: std.ipid, std };
    };
    return { x, r, object };
  }

  it('defaults to a 2-minute ping period and 3 missed pings (MS-DCOM 3.1.2.2); bad timings are refused', () => {
    const r = new OxidResolver([HOST]);
    expect([r.pingPeriodMs, r.pingsToExpire, r.setTimeoutMs]).toEqual([DEFAULT_PING_PERIOD_MS, DEFAULT_PINGS_TO_EXPIRE, 360_000]);
    expect(DEFAULT_PING_PERIOD_MS).toBe(120_000);
    expect(DEFAULT_PINGS_TO_EXPIRE).toBe(3);
    expect(new OxidResolver([HOST], 'HOST/lab').principalName).toBe('HOST/lab');
    expect(() => new OxidResolver([HOST], { pingPeriodMs: 0 })).toThrow(RangeError);
    expect(() => new OxidResolver([HOST], { pingsToExpire: 0 })).toThrow(RangeError);
  });

  it('a set not pinged for period x 3 expires; its OID is reclaimed and every IPID of it removed', async () => {
    const { x, r, object } = setup();
    const a = object();
    const unk = x.marshalInterface(a.obj, IID_IUnknown)!;
    const t0 = Date.now();
    const { status, setId } = r.complexPing(0n, 1, [a.oid], []);
    expect(status).toBe(0);
    expect(setId).not.toBe(0n);
    expect(r.pingSets.get(setId)).toEqual(new Set([a.oid]));
    await until(() => x.objectByOid(a.oid) === undefined);
    // Not before the ping set timer (a timer may fire a millisecond early on rounding).
    expect(Date.now() - t0).toBeGreaterThanOrEqual(EXPIRY - 2);
    expect(x.ipidEntry(a.ipid)).toBeUndefined();
    expect(x.ipidEntry(unk.ipid)).toBeUndefined();
    expect(r.pingSets.has(setId)).toBe(false);
    expect(r.simplePing(setId)).toBe(HR.OR_INVALID_SET);
  });

  it('SimplePing and ComplexPing reset the timer; the set expires once the pings stop', async () => {
    const { x, r, object } = setup();
    const a = object();
    const { setId } = r.complexPing(0n, 1, [a.oid], []);
    let seq = 2;
    // Each kind alone for twice the set's lifetime: a ComplexPing with nothing to change pings the set too.
    for (const ping of [() => r.simplePing(setId), () => r.complexPing(setId, seq++, [], []).status]) {
      const t0 = Date.now();
      while (Date.now() - t0 < EXPIRY * 2) {
        await sleep(PERIOD / 2);
        expect(ping()).toBe(0);
      }
      expect(x.objectByOid(a.oid)).toBeDefined();
    }
    expect(r.pingSets.get(setId)).toEqual(new Set([a.oid]));
    await until(() => x.objectByOid(a.oid) === undefined);
  });

  it('an OID held by another live set survives the expiry of one of its sets', async () => {
    const { x, r, object } = setup();
    const a = object();
    const dead = r.complexPing(0n, 1, [a.oid], []).setId;
    const live = r.complexPing(0n, 1, [a.oid], []).setId;
    const t0 = Date.now();
    while (r.pingSets.has(dead)) {
      expect(r.simplePing(live)).toBe(0);
      await sleep(PERIOD / 2);
      if (Date.now() - t0 > 3000) throw new Error('the unpinged set never expired');
    }
    expect(x.objectByOid(a.oid)).toBeDefined();
    expect(x.ipidEntry(a.ipid)).toBeDefined();
    // Now nobody pings: the last set goes, and the object with it.
    await until(() => x.objectByOid(a.oid) === undefined);
    expect(r.pingSets.size).toBe(0);
  });

  it('SORF_NOPING objects are never reclaimed; later references to them carry the flag', async () => {
    const { x, r, object } = setup();
    const a = object(true);
    expect(a.std.flags).toBe(SORF_NOPING);
    expect(x.marshalInterface(a.obj, IID_IUnknown)!.flags).toBe(SORF_NOPING);
    const b = object();
    expect(b.std.flags).toBe(0);
    const { setId } = r.complexPing(0n, 1, [a.oid, b.oid], []);
    await until(() => !r.pingSets.has(setId));
    expect(x.objectByOid(b.oid)).toBeUndefined();
    expect(x.objectByOid(a.oid)).toBeDefined();
    expect(x.ipidEntry(a.ipid)?.iid).toBe(IID_ICServer);
    // MS-DCOM 3.1.1.5.6.1.1: RemQueryInterface's STDOBJREF flags are 0 whatever the object.
    expect(x.remQueryInterface(a.ipid, 1, [IID_ICServer]).results![0]!.std.flags).toBe(0);
  });

  it('an OID marshaled but never added to a ping set is not reclaimed by pinging (MS-DCOM 3.1.2.5.1.7, 3.1.2.6)', async () => {
    const { x, r, object } = setup();
    const never = object();
    const other = object();
    const { setId } = r.complexPing(0n, 1, [other.oid], []);
    await until(() => !r.pingSets.has(setId));
    await sleep(EXPIRY);
    expect(x.objectByOid(other.oid)).toBeUndefined();
    expect(x.objectByOid(never.oid)).toBeDefined();
    // It still goes when its references are released (3.1.1.5.6.1.3).
    expect(x.remRelease([{ ipid: never.ipid, cPublicRefs: 5, cPrivateRefs: 0 }])).toBe(0);
    expect(x.objectByOid(never.oid)).toBeUndefined();
  });

  it('DelFromSet takes the OID out of the set: the set expiring later does not reclaim it', async () => {
    const { x, r, object } = setup();
    const a = object();
    const b = object();
    const { setId } = r.complexPing(0n, 1, [a.oid, b.oid], []);
    expect(r.complexPing(setId, 2, [], [a.oid])).toEqual({ status: 0, setId });
    expect(r.pingSets.get(setId)).toEqual(new Set([b.oid]));
    await until(() => !r.pingSets.has(setId));
    expect(x.objectByOid(b.oid)).toBeUndefined();
    expect(x.objectByOid(a.oid)).toBeDefined();
  });

  it('ComplexPing: unknown SETID is OR_INVALID_SET; unknown OIDs are OR_INVALID_OID for a set, skipped for a new one', () => {
    const { r, object } = setup();
    const a = object();
    expect(r.complexPing(0x1234n, 1, [a.oid], [])).toEqual({ status: HR.OR_INVALID_SET, setId: 0x1234n });
    expect(r.simplePing(0x1234n)).toBe(HR.OR_INVALID_SET);
    expect(HR.OR_INVALID_SET).toBe(0x778);
    const fresh = r.complexPing(0n, 1, [0x5n, a.oid], []);
    expect(fresh.status).toBe(0);
    expect(r.pingSets.get(fresh.setId)).toEqual(new Set([a.oid]));
    const b = object();
    expect(r.complexPing(fresh.setId, 2, [b.oid, 0x5n], [])).toEqual({ status: HR.OR_INVALID_OID, setId: fresh.setId });
    expect(HR.OR_INVALID_OID).toBe(0x777);
    // The OIDs before the unknown one were added, as the spec's steps run in order.
    expect(r.pingSets.get(fresh.setId)).toEqual(new Set([a.oid, b.oid]));
  });

  it('ComplexPing with a sequence number below the set\'s takes no action and answers success', () => {
    const { r, object } = setup();
    const a = object();
    const b = object();
    const { setId } = r.complexPing(0n, 5, [a.oid], []);
    expect(r.complexPing(setId, 4, [b.oid], [a.oid])).toEqual({ status: 0, setId });
    expect(r.pingSets.get(setId)).toEqual(new Set([a.oid]));
    // An equal sequence number is processed ("greater than that specified by the client" is not).
    expect(r.complexPing(setId, 5, [b.oid], [a.oid]).status).toBe(0);
    expect(r.pingSets.get(setId)).toEqual(new Set([b.oid]));
  });

  it('reclaim() keeps an object called within the last ping period (MS-DCOM 3.1.1.6.2); calls refresh the time', () => {
    const { x, object } = setup();
    const a = object();
    const t = a.obj.lastInvocation;
    expect(x.reclaim(a.oid, 1000, t + 999)).toBe('recently-called');
    expect(x.objectByOid(a.oid)).toBeDefined();
    a.obj.lastInvocation = 0;
    x.resolve({ object: a.ipid } as CallContext, IID_ICServer);
    expect(a.obj.lastInvocation).toBeGreaterThanOrEqual(t);
    expect(x.reclaim(a.oid, 1000, a.obj.lastInvocation + 1000)).toBe('reclaimed');
    expect(x.objectByOid(a.oid)).toBeUndefined();
    expect(x.ipidEntry(a.ipid)).toBeUndefined();
    expect(x.reclaim(a.oid, 1000)).toBe('unknown');
  });

  it('stop() clears the set timers: nothing expires afterwards', async () => {
    const { x, r, object } = setup();
    const a = object();
    const { setId } = r.complexPing(0n, 1, [a.oid], []);
    r.stop();
    await sleep(EXPIRY * 2);
    expect(r.pingSets.has(setId)).toBe(true);
    expect(x.objectByOid(a.oid)).toBeDefined();
  });
});

describe('garbage collection over loopback (IObjectExporter on a resolver with a 50 ms ping period)', () => {
  let exporter: ObjectExporter;
  let resolver: OxidResolver;
  let rpc: RpcServer;
  let port: number;
  beforeAll(async () => {
    exporter = new ObjectExporter({ host: HOST });
    exporter.addInterface(cserverDispatcher(exporter));
    await exporter.start();
    const registry = new ClassRegistry();
    registry.register(CServerClass);
    resolver = new OxidResolver([HOST], { pingPeriodMs: PERIOD, pingsToExpire: 3 });
    resolver.register(exporter);
    rpc = new RpcServer();
    rpc.addInterface(resolver.dispatcher());
    rpc.addInterface(scmActivatorDispatcher(registry, exporter));
    const [a] = await rpc.listen({ host: HOST, port: 0 });
    port = a!.port;
  });
  afterAll(async () => {
    resolver?.stop();
    await Promise.all([rpc?.close(), exporter?.stop()]);
  });

  const actIn = (iids: string[]) => minimalActivationIn(CLSID_CServer, iids);

  it('an activated object whose set stops being pinged is reclaimed: its IPID then answers RPC_E_DISCONNECTED', async () => {
    const scmConn = await RpcConnection.connect(HOST, port);
    const exConn = await RpcConnection.connect(HOST, exporter.listeningPort!);
    try {
      const scm = await bindInterface(scmConn, IRemoteSCMActivator);
      const r = await scm.call(IRemoteSCMActivator.ops.RemoteCreateInstance, { orpcthis: orpcthis(), pUnkOuter: null, pActProperties: actIn([IID_ICServer]) });
      expect(r.hresult).toBe(0);
      const po = findActivationProperty(decodeActivationInterfacePointer(r.ppActProperties!).properties, 'PropsOutInfo')!;
      const o = decodeObjref(po.ppIntfData![0]!.abData);
      if (o.flags !== OBJREF_STANDARD) throw new Error('not OBJREF_STANDARD');

      const ox = await bindInterface(scmConn, IObjectExporter);
      const p = await ox.call(IObjectExporter.ops.ComplexPing, { pSetId: 0n, SequenceNum: 1, cAddToSet: 1, cDelFromSet: 0, AddToSet: [o.std.oid], DelFromSet: null });
      expect(p).toMatchObject({ error_status: 0, pPingBackoffFactor: 0 });
      expect(resolver.pingSets.get(p.pSetId)).toEqual(new Set([o.std.oid]));
      // Unknown sets and OIDs, on the wire (MS-ERREF 2.2 values).
      expect((await ox.call(IObjectExporter.ops.SimplePing, { pSetId: p.pSetId ^ 1n })).error_status).toBe(0x778);
      const bad = await ox.call(IObjectExporter.ops.ComplexPing, { pSetId: p.pSetId ^ 1n, SequenceNum: 2, cAddToSet: 0, cDelFromSet: 0, AddToSet: null, DelFromSet: null });
      expect(bad).toMatchObject({ error_status: 0x778, pSetId: p.pSetId ^ 1n });
      const badOid = await ox.call(IObjectExporter.ops.ComplexPing, { pSetId: p.pSetId, SequenceNum: 2, cAddToSet: 1, cDelFromSet: 0, AddToSet: [7n], DelFromSet: null });
      expect(badOid.error_status).toBe(0x777);

      const srv = await bindInterface(exConn, ICServer);
      expect(await srv.call(ICServer.ops.Ping, { ORPCthis: orpcthis(), value: 3 }, { object: o.std.ipid })).toMatchObject({ echo: 3, hresult: 0 });
      expect((await ox.call(IObjectExporter.ops.SimplePing, { pSetId: p.pSetId })).error_status).toBe(0);
      await until(() => exporter.objectByOid(o.std.oid) === undefined);
      await expect(srv.call(ICServer.ops.Ping, { ORPCthis: orpcthis(), value: 4 }, { object: o.std.ipid })).rejects.toMatchObject({ status: HR.RPC_E_DISCONNECTED });
      expect((await ox.call(IObjectExporter.ops.SimplePing, { pSetId: p.pSetId })).error_status).toBe(0x778);
    } finally {
      await Promise.all([scmConn.close(), exConn.close()]);
    }
  });
});
