// `dcomlab scenario` and `dcomlab client` / `serve --callback-identity` as a user runs them (the built
// command, real sockets on loopback, a port above 1024 so no privilege is needed).
import { afterEach, describe, expect, it } from 'vitest';
import { dcomlab, serve } from '../support/cli';

const NAMES = ['sp2-anonymous-callback', 'fix-process-identity', 'pre-sp2-anonymous-callback', 'sp2-firewall', 'fix-open-135', 'sp2-firewall-app-port-blocked', 'sp2-remote-launch-denied'];

describe('dcomlab scenario', () => {
  it('list names the seven scenarios of the issue', () => {
    const r = dcomlab(['scenario', 'list']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0])).toEqual(NAMES);
  });

  it('all: a verdict table, every scenario PASS, exit 0; --json is machine-readable', () => {
    const r = dcomlab(['scenario', 'all', '--resolver-port', '11136']);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^scenario\s+expected\s+observed\s+callback arrived as\s+ms\s+verdict$/);
    for (const n of NAMES) expect(lines.find((l) => l.startsWith(n + ' '))).toMatch(/PASS$/);
    expect(lines.at(-1)).toMatch(/^7\/7 scenarios as expected on loopback in \d+ ms$/);
    const anon = lines.find((l) => l.startsWith('sp2-anonymous-callback '))!;
    expect(anon).toContain('NT AUTHORITY\\ANONYMOUS LOGON (refused)');
    const j = dcomlab(['scenario', 'sp2-firewall', '--resolver-port', '11136', '--firewall', 'reject', '--json']);
    expect(j.status).toBe(0);
    const rep = JSON.parse(j.stdout) as { results: { name: string; verdict: string; observed: { forwardHr: number } }[] };
    expect(rep.results.map((x) => [x.name, x.verdict, x.observed.forwardHr])).toEqual([['sp2-firewall', 'PASS', 0x8007000e]]);
  });

  it('an unknown scenario or option is one clear line, exit 2', () => {
    const r = dcomlab(['scenario', 'sp3-anything']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no scenario "sp3-anything"; `dcomlab scenario list` names them/);
    const t = dcomlab(['scenario', 'all', '--topology', 'cloud']);
    expect(t.status).toBe(2);
    expect(t.stderr).toMatch(/--topology must be loopback or netns/);
  });
});

describe('dcomlab client against dcomlab serve', () => {
  let srv: ReturnType<typeof serve> | undefined;
  afterEach(() => {
    srv?.p.kill('SIGTERM');
    srv = undefined;
  });
  const PORT = '11137';
  const start = async (identity: string[]) => {
    srv = serve(['--host', '127.0.0.12', '--resolver-port', PORT, '--policy', 'xp-sp2', '--admin', 'LAB\\labadmin:Adm1n-Lab!', ...identity], {}, 2);
    const r = await srv.ready;
    expect(r.code, r.err).toBeNull();
  };
  const client = () => dcomlab(['client', '--server', '127.0.0.12', '--host', '127.0.0.13', '--resolver-port', PORT,
    '--user', 'LAB\\labadmin', '--password', 'Adm1n-Lab!', '--accept', 'LAB\\dcomsvc:Svc-Lab1!', '--accept', 'LAB\\labadmin:Adm1n-Lab!']);

  it('callback as the process account: ForwardCall S_OK and BackwardCall ran as that account', async () => {
    await start(['--callback-identity', 'process', '--process-user', 'LAB\\dcomsvc:Svc-Lab1!']);
    const r = client();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe([
      'activation of CServer at 127.0.0.12: S_OK 0x00000000',
      'ForwardCall: returned S_OK 0x00000000',
      'BackwardCall(1) ran as LAB\\dcomsvc at connect',
      '',
    ].join('\n'));
  });

  it('callback as an explicit account (--callback-identity account): BackwardCall ran as it', async () => {
    await start(['--callback-identity', 'account', '--callback-user', 'LAB\\labadmin:Adm1n-Lab!']);
    const r = client();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^BackwardCall\(1\) ran as LAB\\labadmin at connect$/m);
    const bad = dcomlab(['serve', '--callback-identity', 'account']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--callback-identity account needs --callback-user/);
  });

  it('impersonating: the callback arrives anonymous, the xp-sp2 client box refuses it, exit 1', async () => {
    await start([]);
    const r = client();
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^ForwardCall: returned E_ACCESSDENIED 0x80070005$/m);
    expect(r.stdout).toMatch(/^BackwardCall refused: NT AUTHORITY\\ANONYMOUS LOGON \(remote\) call denied by MachineAccessRestriction/m);
  });
});
