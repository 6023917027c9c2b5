// The SP2 callback scenarios on the loopback topology (server box 127.0.0.2, client box 127.0.0.3,
// the in-process firewall): each reproduces what XP SP2 does, and applying its flip (the fix for
// a failure, the cause for a fix) changes the verdict, so none of them can pass by accident.
// Port 135 when we may bind it (CI runs as root), else 11135 on both boxes.
import { describe, expect, it } from 'vitest';
import { SCENARIOS, runScenario, scenarioByName, type ScenarioResult } from '../../src/lab';
import { captureLogger } from '../support/auth-lab';

const PORT = process.getuid?.() === 0 ? 135 : 11135;
const BOXES = { serverHost: '127.0.0.2', clientHost: '127.0.0.3', resolverPort: PORT };
const ANON = 'NT AUTHORITY\\ANONYMOUS LOGON';

describe('SP2 scenarios on loopback', () => {
  const results = new Map<string, ScenarioResult>();

  for (const s of SCENARIOS) {
    it(`${s.name}: ${s.summary}`, async () => {
      const r = await runScenario(s, BOXES);
      results.set(s.name, r);
      expect(r.mismatches).toEqual([]);
      expect(r.verdict).toBe('PASS');
    });
    it(`${s.name}: its verdict flips with ${JSON.stringify(s.flip)}`, async () => {
      const r = await runScenario(s, { ...BOXES, flipped: true });
      expect(r.verdict).toBe('FAIL');
      expect(r.mismatches.length).toBeGreaterThan(0);
    });
  }

  it('sp2-anonymous-callback: the client box saw ANONYMOUS LOGON and its log names the ACE that refused it', async () => {
    const log = captureLogger('debug');
    const r = await runScenario(scenarioByName('sp2-anonymous-callback')!, { ...BOXES, logger: log.logger });
    expect(r.observed.forwardHr).toBe(0x80070005);
    expect(r.observed.arrivedAs).toBe(ANON);
    const denial = log.records().find((x) => x.box === 'client' && typeof x.msg === 'string' && x.msg.includes('denied by MachineAccessRestriction'));
    expect(denial?.msg).toMatch(/^NT AUTHORITY\\ANONYMOUS LOGON \(remote\) call denied by MachineAccessRestriction: .*\(A;;CCDC;;;AN\)/);
  });

  it('sp2-firewall: the server logs the resolve attempt at the client\'s resolver and the timeout', async () => {
    const log = captureLogger('debug');
    const r = await runScenario(scenarioByName('sp2-firewall')!, { ...BOXES, logger: log.logger });
    expect(r.observed.forward?.unmarshalError).toBe(`OXID resolve at 127.0.0.3:${PORT} timed out after 2.0 s`);
    expect(r.observed.firewallHits.map((h) => h.port)).toContain('resolver');
    expect(r.observed.firewallHits.map((h) => h.port)).not.toContain('exporter');
    const msgs = log.records().filter((x) => x.box === 'server').map((x) => String(x.msg));
    expect(msgs).toContain('resolving the callback OXID');
    expect(msgs.some((m) => m.startsWith('ForwardCall not run: OXID resolve at 127.0.0.3'))).toBe(true);
  });

  it('with --firewall reject the blocked ports refuse at once instead of timing out', async () => {
    const fw = await runScenario(scenarioByName('sp2-firewall')!, { ...BOXES, firewallAction: 'reject' });
    expect(fw.verdict).toBe('PASS');
    expect(fw.durationMs).toBeLessThan(1500);
    expect(fw.observed.forward?.unmarshalError).toMatch(/OXID resolve at 127\.0\.0\.3:\d+ failed after .*rpc_s_server_unavailable|ECONNRESET|closed/);
    const app = await runScenario(scenarioByName('sp2-firewall-app-port-blocked')!, { ...BOXES, firewallAction: 'reject' });
    expect(app.verdict).toBe('PASS');
  });

  it('every scenario ran (the verdict table is complete)', () => {
    expect([...results.keys()].sort()).toEqual(SCENARIOS.map((s) => s.name).sort());
  });
});
