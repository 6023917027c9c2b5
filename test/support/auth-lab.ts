// Shared pieces of the authentication suites (test/interop/auth-*.test.ts, test/conformance/auth-*.test.ts):
// an in-process dcomlab server with NTLM/SPNEGO accounts, the endpoint mapper (one registered endpoint, so
// ept_lookup answers data, not ept_s_not_registered), mgmt, and a WhoAmI interface whose handler returns
// what the server knows about the caller (ctx.auth) as a JSON string; and a pino logger whose every line is
// kept, to look for reasons and for leaked secrets.
import { Writable } from 'node:stream';
import pino from 'pino';
import * as ndr from '../../src/ndr';
import {
  dispatcherFor, EpmDatabase, RpcServer, serveEndpointMapper, serveMgmt,
  type CallContext, type DispatchInterface, type ServerAuthProvider, type ServerLimits,
} from '../../src/rpc';
import { serverAuthProvider, serverCredentials } from '../../src/cli/auth-options';
import type { CredentialOptions } from '../../src/auth/types';

/** MS-RPCE 2.2.1.1.7 / 2.2.1.1.8. */
export const AUTHN_WINNT = 10;
export const AUTHN_GSS_NEGOTIATE = 9;
export const LEVEL = { none: 1, connect: 2, call: 3, pkt: 4, integrity: 5, privacy: 6 } as const;

/** Fault statuses (MS-RPCE 2.2.2.8 / C706 Appendix E). */
export const RPC_S_ACCESS_DENIED = 0x00000005;
export const NCA_S_FAULT_SEC_PKT_ERROR = 0x00000721;
/** PFC_FIRST_FRAG | PFC_LAST_FRAG | PFC_DID_NOT_EXECUTE. */
export const FAULT_FLAGS_DNE = 0x23;

/** The test account every suite authenticates as against dcomlab. */
export const ALICE = { domain: 'LAB', user: 'alice', password: 'Secret1!', spec: 'LAB\\alice:Secret1!' } as const;
/** A second account, with groups (handlers see them). */
export const BOB = { domain: 'LAB', user: 'bob', password: 'B0b-Passw0rd#', groups: ['Administrators', 'Lab Users'] } as const;
export const WRONG_PASSWORD = 'Wrong-Pass9?';

/**
 * WhoAmI v1.0:
 *   opnum 0 WhoAmI([in] unsigned long tag, [out, string, unique] wchar_t* who, [out] unsigned long level,
 *     [out] error_status_t status): `who` is a JSON object (or the string "unauthenticated");
 *   opnum 1 Reverse([in] unsigned long n, [in, size_is(n)] byte data[], [out] unsigned long n,
 *     [out, size_is(n)] byte data[], [out] error_status_t status): the bytes reversed (for stubs that
 *     need several fragments in each direction).
 */
export const WhoAmIIface = ndr.iface('DcomlabAuthWhoAmI', '3d0c9a51-7e42-4b1f-a6d8-5c2e91f04b7a', 1, 0, {
  WhoAmI: ndr.op(0, {
    in: { tag: ndr.u32 },
    out: { who: ndr.unique(ndr.wstring), level: ndr.u32, status: ndr.errorStatus },
  }),
  Reverse: ndr.op(1, {
    in: { n: ndr.u32, data: ndr.conformantArray(ndr.u8, { sizeIs: 'n' }) },
    out: { n: ndr.u32, data: ndr.conformantArray(ndr.u8, { sizeIs: 'n' }), status: ndr.errorStatus },
  }),
});

/** The bytes Reverse tests send: i*7+3 mod 256 (the Python peers build the same). */
export function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 0xff;
  return b;
}

/** What WhoAmI's `who` decodes to. */
export interface Who {
  tag: number;
  type: number;
  level: number;
  contextId: number;
  user: string;
  domain: string;
  workstation: string;
  anonymous: boolean;
  guest: boolean;
  ntlmFlavour: string;
  groups: string[];
}

export function whoOf(ctx: CallContext, tag: number): string {
  const a = ctx.auth;
  if (!a) return 'unauthenticated';
  const i = a.identity;
  const w: Who = {
    tag, type: a.type, level: a.level, contextId: a.contextId, user: i.user, domain: i.domain, workstation: i.workstation,
    anonymous: i.anonymous, guest: i.guest, ntlmFlavour: i.ntlmFlavour, groups: i.groups,
  };
  return JSON.stringify(w);
}

export function whoAmIDispatcher(minAuthLevel?: number): DispatchInterface {
  const d = dispatcherFor(WhoAmIIface, {
    WhoAmI: ({ tag }, ctx) => ({ who: whoOf(ctx, tag), level: ctx.auth?.level ?? LEVEL.none, status: 0 }),
    Reverse: ({ n, data }) => ({ n, data: Buffer.from(data).reverse(), status: 0 }),
  });
  return minAuthLevel === undefined ? d : { ...d, minAuthLevel };
}

/** Every log line as text (for secret scans) and parsed (for assertions). */
export interface CapturedLog {
  lines: string[];
  records(): Array<Record<string, unknown> & { msg?: string; level: number }>;
  logger: pino.Logger;
}

export function captureLogger(level = 'trace'): CapturedLog {
  const lines: string[] = [];
  let partial = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      partial += chunk.toString();
      let i;
      while ((i = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, i);
        partial = partial.slice(i + 1);
        if (line.trim()) lines.push(line);
      }
      cb();
    },
  });
  // pino writes synchronously to a plain Writable: each record is in `lines` as soon as the call returns.
  const logger = pino({ level }, stream);
  return { lines, logger, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown> & { msg?: string; level: number }) };
}

/** The one endpoint the servers here register (so ept_lookup has an entry to return). */
export const REGISTERED = { uuid: '0a1b2c3d-4e5f-4a6b-8c7d-9e0fa1b2c3d4', version: 1, port: 49999, annotation: 'dcomlab auth lab' };

export interface AuthServer {
  server: RpcServer;
  host: string;
  port: number;
  log: CapturedLog;
  stop(): Promise<void>;
}

export interface AuthServerOptions {
  host?: string;
  port?: number;
  users?: string[];
  credentials?: Partial<CredentialOptions>;
  /** minAuthLevel for WhoAmI. */
  whoAmIMinLevel?: number;
  extra?: DispatchInterface[];
  logLevel?: string;
  limits?: Partial<ServerLimits>;
  /** Wrap the auth provider (e.g. to keep the acceptors the server creates). */
  wrapAuth?: (p: ServerAuthProvider) => ServerAuthProvider;
}

/**
 * dcomlab's server as `dcomlab serve --user` builds it (serverAuthProvider over serverCredentials), plus
 * WhoAmI. Accounts: LAB\alice (a --user spec) and LAB\bob (a config account with groups).
 */
export async function startAuthServer(o: AuthServerOptions = {}): Promise<AuthServer> {
  const log = captureLogger(o.logLevel ?? 'trace');
  const config = {
    accounts: [{ user: BOB.user, domain: BOB.domain, password: BOB.password, groups: [...BOB.groups] }],
    ...o.credentials,
  };
  const creds = serverCredentials(o.users ?? [ALICE.spec], config);
  const provider = serverAuthProvider(creds);
  const server = new RpcServer({ logger: log.logger, auth: o.wrapAuth ? o.wrapAuth(provider) : provider, limits: o.limits });
  const db = new EpmDatabase();
  serveEndpointMapper(server, db);
  serveMgmt(server);
  server.addInterface(whoAmIDispatcher(o.whoAmIMinLevel));
  for (const d of o.extra ?? []) server.addInterface(d);
  const host = o.host ?? '127.0.0.1';
  const [addr] = await server.listen({ host, port: o.port ?? 0 });
  db.registerTcp({ uuid: REGISTERED.uuid, version: REGISTERED.version }, host, REGISTERED.port, REGISTERED.annotation);
  return { server, host, port: addr!.port, log, stop: () => server.close() };
}
