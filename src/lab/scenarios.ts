// The SP2 callback scenarios: each sets up a server box and a client box (policy, callback
// identity, firewall), runs the client (activate CServer, ForwardCall(pCallback)), and compares
// what happened with what Windows XP SP2 does. Each also names the one change that flips its
// verdict (the fix for a failure, the cause for a fix), so a test can show the scenario can fail.
import type { ClientCredentials, CredentialOptions } from '../auth/types';
import type { Logger } from '../base/log';
import { silentLogger } from '../base/log';
import { describeStatus } from '../base/status';
import { AuthLevel } from '../pdu';
import type { ForwardRecord } from './callback';
import { ClientBox, type ClientRunResult } from './client-box';
import { Firewall, type BoxPort, type FirewallAction } from './firewall';
import { policyPreset, type PresetName } from './policy';
import { startServerBox } from './server-box';
import { acceptedOnly, type SocketTap } from '../rpc/tap';

/** The lab's accounts. The service account exists on both boxes with the same password (the fix). */
export const LAB_ACCOUNTS = {
  admin: { user: 'labadmin', domain: 'LAB', password: 'Adm1n-Lab!', groups: ['Administrators'] },
  user: { user: 'labuser', domain: 'LAB', password: 'Us3r-Lab!', groups: [] as string[] },
  service: { user: 'dcomsvc', domain: 'LAB', password: 'Svc-Lab1!', groups: [] as string[] },
} as const;

const creds = (a: { user: string; domain: string; password: string }): ClientCredentials => ({ user: a.user, domain: a.domain, password: a.password });
const ANONYMOUS = 'NT AUTHORITY\\ANONYMOUS LOGON';

export interface Setup {
  /** How CServer calls back: impersonating the client (anonymous off the box) or as its process account. */
  callbackIdentity: 'impersonate' | 'process';
  clientPolicy: PresetName;
  serverPolicy: PresetName;
  /** The client box's inbound ports closed by its firewall. */
  blocked: BoxPort[];
  /** Who activates from the client box. */
  clientAccount: 'admin' | 'user';
}

export interface Expectation {
  activationHr?: number;
  forwardOutcome?: 'returned' | 'fault';
  forwardHr?: number;
  /** Did ForwardCall's body run (the callback unmarshaled)? */
  bodyRan?: boolean;
  backwardRan?: boolean;
  /** Who the client box saw the callback arrive as; null: nothing arrived. */
  arrivedAs?: string | null;
  /** The server logged an OXID resolve attempt at the client's resolver that failed. */
  resolveFailureLogged?: boolean;
}

export interface Scenario {
  name: string;
  summary: string;
  setup: Setup;
  expect: Expectation;
  /** The one change that makes the expectation false. */
  flip: Partial<Setup>;
}

const SP2: Setup = { callbackIdentity: 'impersonate', clientPolicy: 'xp-sp2', serverPolicy: 'xp-sp2', blocked: [], clientAccount: 'admin' };
const E_ACCESSDENIED = 0x80070005;
const E_OUTOFMEMORY = 0x8007000e;
const RPC_S_SERVER_UNAVAILABLE = 0x800706ba;

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'sp2-anonymous-callback', summary: 'impersonate; client box xp-sp2: the callback arrives as ANONYMOUS LOGON and is denied',
    setup: SP2, expect: { forwardOutcome: 'returned', forwardHr: E_ACCESSDENIED, bodyRan: true, backwardRan: false, arrivedAs: ANONYMOUS },
    flip: { callbackIdentity: 'process' },
  },
  {
    name: 'fix-process-identity', summary: 'process identity, same account on both boxes: BackwardCall runs as that account',
    setup: { ...SP2, callbackIdentity: 'process' }, expect: { forwardOutcome: 'returned', forwardHr: 0, backwardRan: true, arrivedAs: 'LAB\\dcomsvc' },
    flip: { callbackIdentity: 'impersonate' },
  },
  {
    name: 'pre-sp2-anonymous-callback', summary: 'impersonate; client box pre-sp2: the anonymous callback is let in',
    setup: { ...SP2, clientPolicy: 'pre-sp2' }, expect: { forwardOutcome: 'returned', forwardHr: 0, backwardRan: true, arrivedAs: ANONYMOUS },
    flip: { clientPolicy: 'xp-sp2' },
  },
  {
    name: 'sp2-firewall', summary: "client's 135 blocked: the OXID cannot be resolved, pCallback does not unmarshal",
    setup: { ...SP2, callbackIdentity: 'process', blocked: ['resolver'] },
    expect: { forwardOutcome: 'fault', forwardHr: E_OUTOFMEMORY, bodyRan: false, backwardRan: false, arrivedAs: null, resolveFailureLogged: true },
    flip: { blocked: [] },
  },
  {
    name: 'fix-open-135', summary: '135 and the callback port open: the callback goes through',
    setup: { ...SP2, callbackIdentity: 'process' }, expect: { forwardOutcome: 'returned', forwardHr: 0, bodyRan: true, backwardRan: true },
    flip: { blocked: ['resolver'] },
  },
  {
    name: 'sp2-firewall-app-port-blocked', summary: "135 open, the client's exporter port blocked: the callback cannot connect",
    setup: { ...SP2, callbackIdentity: 'process', blocked: ['exporter'] },
    expect: { forwardOutcome: 'returned', forwardHr: RPC_S_SERVER_UNAVAILABLE, bodyRan: true, backwardRan: false, arrivedAs: null },
    flip: { blocked: [] },
  },
  {
    name: 'sp2-remote-launch-denied', summary: 'a non-admin account activates under xp-sp2 launch limits',
    setup: { ...SP2, callbackIdentity: 'process', clientAccount: 'user' }, expect: { activationHr: E_ACCESSDENIED, arrivedAs: null },
    flip: { clientAccount: 'admin' },
  },
];

export function scenarioByName(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}

export interface RunOptions {
  serverHost: string;
  clientHost: string;
  /** Both boxes' resolver port (135 needs root or CAP_NET_BIND_SERVICE). */
  resolverPort: number;
  firewallAction?: FirewallAction;
  /** The server's OXID-resolve and callback-connect timeout (scenarios: 2 s). */
  resolveTimeoutMs?: number;
  logger?: Logger;
  /** Apply the scenario's flip (to show its verdict changes). */
  flipped?: boolean;
  /** Record the scenario: told about every connection once (each box taps the ones it accepts). */
  tap?: SocketTap;
}

export interface Observed {
  activationHr: number;
  forwardOutcome?: 'returned' | 'fault' | 'error';
  forwardHr?: number;
  bodyRan: boolean;
  backwardRan: boolean;
  arrivedAs: string | null;
  resolveFailureLogged: boolean;
  /** The server's account of ForwardCall (why unmarshaling failed...). */
  forward?: ForwardRecord;
  firewallHits: { port: BoxPort; peer: string }[];
}

export interface ScenarioResult {
  name: string;
  setup: Setup;
  flipped: boolean;
  expected: string;
  observed: Observed;
  verdict: 'PASS' | 'FAIL';
  mismatches: string[];
  durationMs: number;
}

const hr = (h: number) => describeStatus(h, 'hresult');

/** The headline of an expectation or an observation: the HRESULT that decides it (the verdict table's cell). */
export function headline(x: { activationHr?: number; forwardOutcome?: string; forwardHr?: number }): string {
  if (x.forwardHr !== undefined) return `${x.forwardOutcome === 'fault' ? 'fault ' : ''}${hr(x.forwardHr)}`;
  return x.activationHr !== undefined ? `activation ${hr(x.activationHr)}` : '-';
}

export function describeExpectation(e: Expectation): string {
  const parts: string[] = [];
  if (e.activationHr !== undefined) parts.push(`activation ${hr(e.activationHr)}`);
  if (e.forwardHr !== undefined) parts.push(`ForwardCall ${e.forwardOutcome === 'fault' ? 'faults' : 'returns'} ${hr(e.forwardHr)}`);
  if (e.bodyRan === false) parts.push('its body never ran');
  if (e.backwardRan !== undefined) parts.push(e.backwardRan ? 'BackwardCall ran' : 'BackwardCall never ran');
  if (e.arrivedAs) parts.push(`callback arrived as ${e.arrivedAs}`);
  if (e.resolveFailureLogged) parts.push('the resolve attempt is logged');
  return parts.join('; ');
}

export function compare(e: Expectation, o: Observed): string[] {
  const bad: string[] = [];
  const check = (what: string, want: unknown, got: unknown, show: (x: never) => string = (x) => String(x)) => {
    if (want !== undefined && want !== got) bad.push(`${what}: expected ${show(want as never)}, observed ${got === undefined ? 'nothing' : show(got as never)}`);
  };
  check('activation', e.activationHr, o.activationHr, hr);
  check('ForwardCall outcome', e.forwardOutcome, o.forwardOutcome);
  check('ForwardCall HRESULT', e.forwardHr, o.forwardHr, hr);
  check('ForwardCall body ran', e.bodyRan, o.bodyRan);
  check('BackwardCall ran', e.backwardRan, o.backwardRan);
  check('callback arrived as', e.arrivedAs, o.arrivedAs, (x: string | null) => x ?? 'nobody');
  check('resolve failure logged', e.resolveFailureLogged, o.resolveFailureLogged);
  return bad;
}

/** The boxes' account lists: the server box knows everyone; the client box its user and the service account. */
function accounts(): { server: CredentialOptions; client: CredentialOptions } {
  const a = LAB_ACCOUNTS;
  const acct = (x: (typeof a)[keyof typeof a]) => ({ user: x.user, domain: x.domain, password: x.password, groups: [...x.groups] });
  return {
    server: { accounts: [acct(a.admin), acct(a.user), acct(a.service)], allowAnonymous: true },
    client: { accounts: [acct(a.admin), acct(a.service)], allowAnonymous: true },
  };
}

/** Run one scenario on the loopback topology: both boxes in this process, the in-process firewall. */
export async function runScenario(s: Scenario, o: RunOptions): Promise<ScenarioResult> {
  const started = performance.now();
  const setup: Setup = { ...s.setup, ...(o.flipped ? s.flip : {}) };
  const log = (o.logger ?? silentLogger).child({ scenario: s.name });
  const acc = accounts();
  const firewall = new Firewall({ blocked: setup.blocked, action: o.firewallAction ?? 'drop' }, log.child({ box: 'client' }));
  let forward: ForwardRecord | undefined;
  const server = await startServerBox({
    host: o.serverHost, resolverPort: o.resolverPort, accounts: acc.server, policy: policyPreset(setup.serverPolicy), logger: log,
    ...(o.tap ? { tap: o.tap } : {}),
    callback: {
      identity: setup.callbackIdentity === 'impersonate' ? { mode: 'impersonate' } : { mode: 'process', account: creds(LAB_ACCOUNTS.service) },
      level: AuthLevel.connect, resolverPort: o.resolverPort, resolveTimeoutMs: o.resolveTimeoutMs ?? 2000,
      onForward: (r) => {
        forward = r;
      },
    },
  });
  const client = new ClientBox({
    host: o.clientHost, resolverPort: o.resolverPort, serverHost: o.serverHost,
    auth: { credentials: creds(LAB_ACCOUNTS[setup.clientAccount]), level: AuthLevel.connect },
    accounts: acc.client, policy: policyPreset(setup.clientPolicy), firewall, logger: log,
    ...(o.tap ? { tap: acceptedOnly(o.tap) } : {}),
  });
  let run: ClientRunResult;
  try {
    await client.start();
    run = await client.run();
  } finally {
    await Promise.all([client.stop(), server.stop()]);
  }
  const arrival = run.callbacks[0];
  const observed: Observed = {
    activationHr: run.activationHr,
    ...(run.forwardOutcome ? { forwardOutcome: run.forwardOutcome } : {}),
    ...(run.forwardHr !== undefined ? { forwardHr: run.forwardHr } : {}),
    bodyRan: forward?.bodyRan ?? false,
    backwardRan: run.callbacks.some((c) => c.ran),
    arrivedAs: arrival ? arrival.identity : null,
    resolveFailureLogged: !!forward?.unmarshalError && /OXID resolve at /.test(forward.unmarshalError),
    ...(forward ? { forward } : {}),
    firewallHits: firewall.hits,
  };
  const mismatches = compare(s.expect, observed);
  return {
    name: s.name, setup, flipped: !!o.flipped, expected: describeExpectation(s.expect), observed,
    verdict: mismatches.length ? 'FAIL' : 'PASS', mismatches, durationMs: Math.round(performance.now() - started),
  };
}
