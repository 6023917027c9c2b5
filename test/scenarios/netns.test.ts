// The SP2 callback scenarios on the netns topology: the server box (10.213.0.1) and the client box
// (10.213.0.2) are `dcomlab serve` and `dcomlab client` processes (the built CLI) in two network
// namespaces joined by a veth pair, and the client box's blocked ports are closed by real iptables
// rules in its namespace (DROP, and REJECT with a TCP reset). Each scenario gives what XP SP2 does,
// and its flip (the fix for a failure, the cause for a fix) changes the verdict.
// Needs root (namespaces, iptables, port 135): in CI (root) a missing capability fails the run,
// elsewhere the suite is skipped with the reason.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { expect, it } from 'vitest';
import { LAB_ACCOUNTS, SCENARIOS, scenarioByName, type Scenario } from '../../src/lab';
import { NetnsError, runScenarioNetns, type NetnsRunOptions, type NetnsScenarioResult } from '../../src/lab/netns';
import { captureLogger } from '../support/auth-lab';
import { CLI } from '../support/cli';
import { describeWithPeers } from '../support/peers';

const PORT = 135;
const BASE: NetnsRunOptions = { resolverPort: PORT, firewallAction: 'drop', resolveTimeoutMs: 2000 };
const ANON = 'NT AUTHORITY\\ANONYMOUS LOGON';
const E_OUTOFMEMORY = 0x8007000e;
const RPC_S_SERVER_UNAVAILABLE = 0x800706ba;

const ours = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(`dcl-${process.pid}-`));
const byName = (n: string): Scenario => scenarioByName(n) ?? (() => { throw new Error(`no scenario ${n}`); })();

describeWithPeers(['netns', 'iptables'], 'SP2 scenarios on the netns topology (two namespaces, real iptables rules)', () => {
  const results = new Map<string, NetnsScenarioResult>();
  const need = (n: string) => results.get(n) ?? (() => { throw new Error(`${n} did not run (see its test above)`); })();

  it('the CLI the boxes run is built', () => {
    expect(existsSync(CLI), `${CLI} is missing: npm run build`).toBe(true);
  });

  for (const s of SCENARIOS) {
    it(`${s.name}: ${s.summary}`, async () => {
      const r = await runScenarioNetns(s, BASE);
      results.set(s.name, r);
      expect(r.mismatches).toEqual([]);
      expect(r.verdict).toBe('PASS');
      expect(r.namespaces).toEqual({ server: `dcl-${process.pid}-srv`, client: `dcl-${process.pid}-cli` });
    });
    it(`${s.name}: its verdict flips with ${JSON.stringify(s.flip)}`, async () => {
      const r = await runScenarioNetns(s, { ...BASE, flipped: true });
      expect(r.setup).toEqual({ ...s.setup, ...s.flip });
      expect(r.verdict).toBe('FAIL');
      expect(r.mismatches.length).toBeGreaterThan(0);
    });
  }

  it('sp2-firewall: the OXID resolve at 10.213.0.2:135 met the DROP rule and timed out after 2 s', () => {
    const r = need('sp2-firewall');
    expect(r.observed.forward?.unmarshalError).toBe('OXID resolve at 10.213.0.2:135 timed out after 2.0 s');
    expect(r.observed.forwardHr).toBe(E_OUTOFMEMORY);
    expect(r.firewall).toHaveLength(1);
    expect(r.firewall[0]).toMatchObject({ port: 'resolver', dport: 135, action: 'drop', rule: ['-A', 'INPUT', '!', '-i', 'lo', '-p', 'tcp', '--dport', '135', '-j', 'DROP'] });
    // The rule's own counters: the server box's SYN (and its retransmission) were stopped there.
    expect(r.firewall[0]!.syns).toBeGreaterThanOrEqual(1);
    expect(r.firewall[0]!.packets).toBeGreaterThanOrEqual(r.firewall[0]!.syns);
    expect(new Set(r.observed.firewallHits.map((h) => `${h.port} ${h.peer}`))).toEqual(new Set(['resolver 10.213.0.1']));
    // The 2 s timeout bounds the run (plus two node start-ups), it is not a fixed sleep.
    expect(r.durationMs).toBeGreaterThanOrEqual(2000);
    expect(r.durationMs).toBeLessThan(6000);
  });

  it('sp2-firewall-app-port-blocked: the callback met the DROP rule on the exporter port 49500, not on 135', () => {
    const r = need('sp2-firewall-app-port-blocked');
    expect(r.observed.forwardHr).toBe(RPC_S_SERVER_UNAVAILABLE);
    expect(r.observed.forward?.resolved).toBe(true);
    expect(r.firewall.map((f) => [f.port, f.dport])).toEqual([['exporter', 49500]]);
    expect(r.firewall[0]!.syns).toBeGreaterThanOrEqual(1);
    expect(r.observed.firewallHits.every((h) => h.port === 'exporter')).toBe(true);
  });

  it('sp2-anonymous-callback: the client box saw ANONYMOUS LOGON and refused it; no firewall rule was involved', () => {
    const r = need('sp2-anonymous-callback');
    expect(r.observed.arrivedAs).toBe(ANON);
    expect(r.observed.backwardRan).toBe(false);
    expect(r.observed.forward).toMatchObject({ resolved: true, bodyRan: true, resolver: '10.213.0.2:135', backwardHr: 0x80070005 });
    expect(r.firewall).toEqual([]);
    expect(r.observed.firewallHits).toEqual([]);
  });

  it("the boxes' logs reach the caller's logger, tagged server and client", async () => {
    const log = captureLogger('debug');
    const r = await runScenarioNetns(byName('fix-process-identity'), { ...BASE, logger: log.logger });
    expect(r.verdict).toBe('PASS');
    const recs = log.records();
    const server = recs.filter((x) => x.box === 'server').map((x) => String(x.msg));
    const client = recs.filter((x) => x.box === 'client').map((x) => String(x.msg));
    expect(server).toContain('resolving the callback OXID');
    expect(server).toContain('BackwardCall returned');
    expect(client).toContain('BackwardCall ran');
    // The commands are logged at debug, and no password is.
    const cmds = recs.map((x) => String(x.cmd ?? '')).filter(Boolean);
    expect(cmds.some((c) => /^ip netns exec dcl-\d+-srv \S+ \S+main\.js serve --host 10\.213\.0\.1 --resolver-port 135 .*--process-user LAB\\dcomsvc:\*\*\*/.test(c)), cmds.join('\n')).toBe(true);
    expect(cmds.some((c) => /^ip netns exec dcl-\d+-cli \S+ \S+main\.js client --server 10\.213\.0\.1 --host 10\.213\.0\.2 /.test(c)), cmds.join('\n')).toBe(true);
    for (const a of Object.values(LAB_ACCOUNTS)) expect(JSON.stringify(recs)).not.toContain(a.password);
  });

  it('with --firewall reject the blocked 135 answers with a reset: the resolve fails at once', async () => {
    const r = await runScenarioNetns(byName('sp2-firewall'), { ...BASE, firewallAction: 'reject' });
    expect(r.mismatches).toEqual([]);
    expect(r.verdict).toBe('PASS');
    expect(r.firewall[0]!.rule.slice(-4)).toEqual(['-j', 'REJECT', '--reject-with', 'tcp-reset']);
    expect(r.firewall[0]!.packets).toBeGreaterThanOrEqual(1);
    expect(r.observed.forward?.unmarshalError).toMatch(/^OXID resolve at 10\.213\.0\.2:135 failed after \d+\.\d s: /);
    expect(r.durationMs).toBeLessThan(1500);
  });

  it('a box that cannot start is reported, and the namespaces are removed anyway', async () => {
    const err = await runScenarioNetns(byName('sp2-anonymous-callback'), { ...BASE, cli: '/nonexistent/dcomlab/main.js' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetnsError);
    expect(String((err as Error).message)).toMatch(/server box did not start in dcl-\d+-srv/);
    expect(ours()).toEqual([]);
  });

  it('stale namespaces of the same names are replaced, and none is left behind', async () => {
    execFileSync('ip', ['netns', 'add', `dcl-${process.pid}-cli`]);
    const r = await runScenarioNetns(byName('sp2-remote-launch-denied'), BASE);
    expect(r.verdict).toBe('PASS');
    expect(ours()).toEqual([]);
  });
});
