// The DCOM client (MS-DCOM 3.2): activation on a remote host (RemoteCreateInstance,
// RemoteActivation, RemoteGetClassObject + IClassFactory), OXID resolution with a cache, one
// connection per object exporter bound at its hinted level, interface pointers with
// RemQueryInterface / RemAddRef / RemRelease, and pinging of the OIDs held.
import { ComError, ObjrefError } from '../../base/errors';
import { silentLogger, type Logger } from '../../base/log';
import { AuthLevel } from '../../pdu';
import { RpcConnection, type ClientOptions } from '../../rpc/client';
import type { SocketTap } from '../../rpc/tap';
import { bindInterface } from '../../rpc/typed';
import { IRemoteActivation, IRemoteSCMActivator } from '../interfaces/activation';
import { IClassFactory, IID_IClassFactory } from '../interfaces/class-factory';
import { decodeObjref, OBJREF_CUSTOM, type Objref } from '../objref';
import { SORF_NOPING, TOWER_NCACN_IP_TCP, type ComVersion, type StdObjref } from '../types';
import { activationPropertiesIn, checkActivation, CLIENT_COM_VERSION, readActivationReply, RPC_C_IMP_LEVEL_IDENTIFY, type ActivationReply } from './activation';
import { connectionAuth, exporterLevel, resolverLevel, type DcomAuth } from './auth';
import { chooseBinding, type BindingChoice } from './bindings';
import { DEFAULT_PING_PERIOD_MS, Pinger } from './pinger';
import { ComInterface, commonVersion, ExporterConnection, failed, orpcThis, type ReferenceOwner } from './remote';
import { dsa, ResolverClient, type OxidInfo, type ServerAliveInfo } from './resolver-client';

export * from './auth';
export * from './bindings';
export * from './activation';
export * from './remote';
export * from './resolver-client';
export * from './pinger';

/** The resolver's well-known port (MS-DCOM 2.1: the endpoint mapper's, 135). */
export const RESOLVER_PORT = 135;

export interface DcomClientOptions {
  auth?: DcomAuth;
  logger?: Logger;
  /** Port of the remote activator/resolver (135). */
  resolverPort?: number;
  /** Which of the exporter's string bindings to use (default `target`). */
  bindingChoice?: BindingChoice;
  /** Force the exporter's authentication level (default: ours raised to its authnHint). */
  exporterLevel?: number;
  /** Level of OXID resolution and ping calls (default: ours, at least PKT_INTEGRITY; MS-DCOM 3.2.4.1.2.2). */
  resolverLevel?: number;
  /** Ping period (MS-DCOM 3.1.2.2: 2 minutes). */
  pingPeriodMs?: number;
  /** Send no pings (the server will collect the objects after 3 periods). */
  noPing?: boolean;
  connectTimeoutMs?: number;
  callTimeoutMs?: number;
  /** Connect from this address (a lab box's own address). */
  localAddress?: string;
  /** Told about every connection the client makes (a pcapng recorder's tap). */
  tap?: SocketTap;
}

export type ActivationMethod = 'create' | 'activation' | 'classobject';

export interface ActivationResult {
  method: ActivationMethod;
  host: string;
  /** The activation's HRESULT (S_OK when at least one interface came back). */
  hr: number;
  oxid: OxidInfo;
  /** Where the exporter was reached: the chosen binding, and the level it is bound at. */
  exporter: { binding: string; host: string; port: number; level: number };
  interfaces: { iid: string; hr: number; objref?: Objref; iface?: ComInterface }[];
}

export class DcomClient implements ReferenceOwner {
  readonly log: Logger;
  private readonly resolvers = new Map<string, ResolverClient>();
  private readonly pingers = new Map<string, Pinger>();
  private readonly oxids = new Map<bigint, { info: OxidInfo; resolver: string }>();
  private readonly exporters = new Map<string, ExporterConnection>();
  /** Per OID, the resolver whose ping set holds it. */
  private readonly oidResolver = new Map<bigint, string>();

  constructor(readonly opts: DcomClientOptions = {}) {
    this.log = (opts.logger ?? silentLogger).child({ part: 'dcom-client' });
  }

  private connOpts(level: number): () => ClientOptions {
    return () => {
      const o: ClientOptions = { logger: this.log };
      const auth = connectionAuth(this.opts.auth, level);
      if (auth) o.auth = auth;
      if (this.opts.connectTimeoutMs !== undefined) o.connectTimeoutMs = this.opts.connectTimeoutMs;
      if (this.opts.callTimeoutMs !== undefined) o.callTimeoutMs = this.opts.callTimeoutMs;
      if (this.opts.localAddress !== undefined) o.localAddress = this.opts.localAddress;
      if (this.opts.tap !== undefined) o.tap = this.opts.tap;
      return o;
    };
  }

  private get level(): number {
    return this.opts.auth?.level ?? AuthLevel.none;
  }

  /** The OXID resolver at host:port (one connection, shared with the pinger). */
  resolver(host: string, port = this.opts.resolverPort ?? RESOLVER_PORT): ResolverClient {
    const key = `${host}:${port}`;
    let r = this.resolvers.get(key);
    if (!r) {
      r = new ResolverClient(host, port, this.connOpts(this.opts.resolverLevel ?? resolverLevel(this.opts.auth)), this.log);
      this.resolvers.set(key, r);
    }
    return r;
  }

  /** ServerAlive2 on host's resolver: its COM version and addresses (`dcomlab ping`). */
  serverAlive2(host: string, port?: number): Promise<ServerAliveInfo> {
    return this.resolver(host, port).serverAlive2();
  }

  /** An OXID's bindings: from the cache, else ResolveOxid2 at `host`'s resolver (MS-DCOM 3.2.4.1.2). */
  async resolveOxid(host: string, oxid: bigint, port?: number): Promise<OxidInfo> {
    const known = this.oxids.get(oxid);
    if (known) return known.info;
    const r = this.resolver(host, port);
    const info = await r.resolveOxid(oxid);
    this.oxids.set(oxid, { info, resolver: `${r.host}:${r.port}` });
    return info;
  }

  /** Forget a cached OXID (e.g. after its exporter went away). */
  forgetOxid(oxid: bigint): void {
    this.oxids.delete(oxid);
  }

  /** The connection to an OXID's exporter, made on first use. */
  exporterFor(info: OxidInfo, target: string): ExporterConnection {
    const addr = chooseBinding(info.bindings.stringBindings, target, this.opts.bindingChoice);
    const level = this.opts.exporterLevel ?? exporterLevel(this.opts.auth, info.authnHint);
    const key = `${info.oxid}/${addr.host}:${addr.port}/${level}`;
    let e = this.exporters.get(key);
    if (!e) {
      const version = commonVersion(CLIENT_COM_VERSION, info.comVersion);
      e = new ExporterConnection(info, { host: addr.host, port: addr.port! }, level, this.connOpts(level), version);
      this.exporters.set(key, e);
      this.log.debug({ oxid: info.oxid.toString(16), binding: addr.binding, level }, 'object exporter');
    }
    return e;
  }

  /**
   * Unmarshal an OBJREF (MS-DCOM 3.2.4.1.2): the OXID resolved at the resolver named by its
   * DUALSTRINGARRAY (or `resolverHost`), then a proxy on its exporter.
   */
  async unmarshal(o: Objref, opts: { resolverHost?: string; resolverPort?: number } = {}): Promise<ComInterface> {
    if (o.flags === OBJREF_CUSTOM) throw new ObjrefError(0, `OBJREF_CUSTOM (clsid ${o.clsid}) needs its own unmarshaler`);
    let resolverHost = opts.resolverHost;
    if (!resolverHost) resolverHost = chooseBinding(o.saResAddr.stringBindings, '', 'first', 0).host;
    const info = await this.resolveOxid(resolverHost, o.std.oxid, opts.resolverPort);
    return this.wrap(this.exporterFor(info, resolverHost), o.iid, { ...o.std });
  }

  // ---- ReferenceOwner ----

  wrap(exporter: ExporterConnection, iid: string, std: StdObjref): ComInterface {
    return new ComInterface(exporter, iid, std, this);
  }

  hold(exporter: ExporterConnection, std: StdObjref): void {
    if (this.opts.noPing || (std.flags & SORF_NOPING) !== 0) return;
    const entry = this.oxids.get(exporter.info.oxid);
    const key = entry?.resolver;
    if (!key) return;
    let p = this.pingers.get(key);
    if (!p) {
      p = new Pinger(this.resolvers.get(key)!, this.opts.pingPeriodMs ?? DEFAULT_PING_PERIOD_MS, this.log);
      this.pingers.set(key, p);
    }
    this.oidResolver.set(std.oid, key);
    p.hold(std.oid);
  }

  drop(_exporter: ExporterConnection, std: StdObjref): void {
    const key = this.oidResolver.get(std.oid);
    if (key) this.pingers.get(key)?.drop(std.oid);
  }

  /** The pinger of host's resolver, if any OID there is held. */
  pinger(host: string, port = this.opts.resolverPort ?? RESOLVER_PORT): Pinger | undefined {
    return this.pingers.get(`${host}:${port}`);
  }

  // ---- Activation ----

  /**
   * Activate `clsid` on `host` asking for `iids` (MS-DCOM 3.2.4.1.1): `create`
   * (IRemoteSCMActivator::RemoteCreateInstance, the default), `activation`
   * (IRemoteActivation::RemoteActivation, for old hosts) or `classobject`
   * (RemoteGetClassObject, then IClassFactory::CreateInstance per IID). A failed activation as a
   * whole is a ComError; per-interface failures are in `interfaces`.
   */
  async activate(host: string, clsid: string, iids: readonly string[], method: ActivationMethod = 'create'): Promise<ActivationResult> {
    if (iids.length === 0) throw new ComError(0x80070057, 'activation needs at least one IID');
    let reply: ActivationReply;
    if (method === 'create') reply = await this.remoteCreateInstance(host, clsid, iids);
    else if (method === 'activation') reply = await this.remoteActivation(host, clsid, iids);
    else return this.classObjectActivation(host, clsid, iids);
    return this.finishActivation(method, host, reply);
  }

  private finishActivation(method: ActivationMethod, host: string, reply: ActivationReply): ActivationResult {
    const resolver = this.resolver(host);
    this.oxids.set(reply.oxid.oxid, { info: reply.oxid, resolver: `${resolver.host}:${resolver.port}` });
    const exporter = this.exporterFor(reply.oxid, host);
    const interfaces = reply.interfaces.map((r) => {
      if (failed(r.hr) || !r.objref || r.objref.flags === OBJREF_CUSTOM) return { iid: r.iid, hr: r.hr, ...(r.objref ? { objref: r.objref } : {}) };
      return { iid: r.iid, hr: r.hr, objref: r.objref, iface: this.wrap(exporter, r.iid, { ...r.objref.std }) };
    });
    const hr = interfaces.some((i) => i.iface) ? 0 : interfaces[0]?.hr ?? 0x80004002;
    return {
      method, host, hr, oxid: reply.oxid,
      exporter: { binding: `${exporter.address.host}[${exporter.address.port}]`, host: exporter.address.host, port: exporter.address.port, level: exporter.level },
      interfaces,
    };
  }

  /** A connection to host's activator (port 135) at the client's level, bound to `def`. */
  private async activator<I extends typeof IRemoteSCMActivator | typeof IRemoteActivation>(host: string, def: I) {
    const port = this.opts.resolverPort ?? RESOLVER_PORT;
    const conn = await RpcConnection.connect(host, port, this.connOpts(this.level)());
    try {
      return await bindInterface(conn, def);
    } catch (e) {
      await conn.close();
      throw e;
    }
  }

  private async remoteCreateInstance(host: string, clsid: string, iids: readonly string[]): Promise<ActivationReply> {
    const c = await this.activator(host, IRemoteSCMActivator);
    try {
      const out = await c.call(IRemoteSCMActivator.ops.RemoteCreateInstance, {
        orpcthis: orpcThis(CLIENT_COM_VERSION), pUnkOuter: null,
        pActProperties: activationPropertiesIn({ clsid, iids, serverName: host, authnLevel: this.level }),
      });
      checkActivation(out.hresult, `RemoteCreateInstance(${clsid}) at ${host}`);
      if (!out.ppActProperties) throw new ComError(0x80004005, `RemoteCreateInstance(${clsid}) at ${host}: S_OK without properties`);
      return readActivationReply(out.ppActProperties, iids);
    } finally {
      await c.conn.close();
    }
  }

  private async remoteActivation(host: string, clsid: string, iids: readonly string[]): Promise<ActivationReply> {
    const c = await this.activator(host, IRemoteActivation);
    try {
      const out = await c.call(IRemoteActivation.ops.RemoteActivation, {
        ORPCthis: orpcThis(CLIENT_COM_VERSION), Clsid: clsid, pwszObjectName: null, pObjectStorage: null,
        ClientImpLevel: RPC_C_IMP_LEVEL_IDENTIFY, Mode: 0, Interfaces: iids.length, pIIDs: [...iids],
        cRequestedProtseqs: 1, aRequestedProtseqs: [TOWER_NCACN_IP_TCP],
      });
      if (out.status !== 0) throw new ComError(out.status, `RemoteActivation(${clsid}) at ${host}: error_status`);
      checkActivation(out.phr, `RemoteActivation(${clsid}) at ${host}`);
      const version: ComVersion = out.pServerVersion;
      return {
        oxid: { oxid: out.pOxid, bindings: dsa(out.ppdsaOxidBindings), ipidRemUnknown: out.pipidRemUnknown, authnHint: out.pAuthnHint, comVersion: version },
        interfaces: iids.map((iid, i) => {
          const hr = out.pResults[i] ?? out.phr;
          const mip = out.ppInterfaceData[i];
          // RemoteActivation's interfaces are OBJREFs in MInterfacePointers, like PropsOutInfo's.
          return mip ? { iid, hr, objref: decodeObjref(mip.abData) } : { iid, hr };
        }),
      };
    } finally {
      await c.conn.close();
    }
  }

  /**
   * RemoteGetClassObject for IClassFactory (MS-DCOM 3.1.2.5.2.3.2), then
   * IClassFactory::CreateInstance for the first IID and RemQueryInterface for the others (one
   * instance, as CoCreateInstanceEx gives), then the class object is released.
   */
  private async classObjectActivation(host: string, clsid: string, iids: readonly string[]): Promise<ActivationResult> {
    const c = await this.activator(host, IRemoteSCMActivator);
    let reply: ActivationReply;
    try {
      const out = await c.call(IRemoteSCMActivator.ops.RemoteGetClassObject, {
        orpcthis: orpcThis(CLIENT_COM_VERSION),
        pActProperties: activationPropertiesIn({ clsid, iids: [IID_IClassFactory], serverName: host, authnLevel: this.level }),
      });
      checkActivation(out.hresult, `RemoteGetClassObject(${clsid}) at ${host}`);
      if (!out.ppActProperties) throw new ComError(0x80004005, `RemoteGetClassObject(${clsid}) at ${host}: S_OK without properties`);
      reply = readActivationReply(out.ppActProperties, [IID_IClassFactory]);
    } finally {
      await c.conn.close();
    }
    const cf = this.finishActivation('classobject', host, reply);
    const factory = cf.interfaces[0]?.iface;
    if (!factory) throw new ComError(cf.interfaces[0]?.hr ?? 0x80004002, `RemoteGetClassObject(${clsid}) at ${host}: no IClassFactory`);
    try {
      const made = await factory.call(IClassFactory, 'RemoteCreateInstance', { riid: iids[0]! });
      const first = made.ppvObject ? decodeObjref(made.ppvObject.abData) : undefined;
      if (failed(made.hresult) || !first || first.flags === OBJREF_CUSTOM) {
        const hr = failed(made.hresult) ? made.hresult : 0x80004005;
        return { ...cf, hr, interfaces: iids.map((iid) => ({ iid, hr })) };
      }
      const firstItf = this.wrap(factory.exporter, iids[0]!, { ...first.std });
      const rest = iids.length > 1 ? await firstItf.queryInterface(iids.slice(1)) : [];
      const interfaces = [{ iid: iids[0]!, hr: made.hresult, objref: first, iface: firstItf }, ...rest];
      return { ...cf, hr: 0, interfaces };
    } finally {
      await factory.release().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    for (const p of this.pingers.values()) p.stop();
    await Promise.all([...this.exporters.values()].map((e) => e.close()));
    await Promise.all([...this.resolvers.values()].map((r) => r.close()));
    this.exporters.clear();
    this.resolvers.clear();
    this.pingers.clear();
  }
}
