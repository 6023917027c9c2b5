// `dcomlab serve --lab` as a Windows client meets it: on 0.0.0.0:135 and the fixed exporter port 49500,
// in a network namespace of its own (Samba may hold 127.0.0.1:135 here, and a wildcard bind would
// collide with it), reached over a veth from a second namespace, as another machine would.
//   lab server  NS_SRV  10.214.0.1   dcomlab serve --lab [--callback-identity process]
//   client      NS_CLI  10.214.0.2   Impacket's DCOMConnection; then `dcomlab client --server 10.214.0.1`
// The accounts are the kit's, named the way a workgroup XP client names them (XPCLIENT\labadmin):
// lab mode accepts them as mirrored local accounts.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describeWithPeers, IMPACKET_PYTHON, PEERS_DIR } from '../support/peers';
import { CLI } from '../support/cli';
import { run } from './helpers';
import { CLSID_CServer } from '../../src/dcom/server/lab-class';

const NS_SRV = `dcl-lab-${process.pid}-srv`;
const NS_CLI = `dcl-lab-${process.pid}-cli`;
const SRV = '10.214.0.1';
const CLI_ADDR = '10.214.0.2';
const ADMIN = ['--user', 'XPCLIENT\\labadmin', '--password', 'Adm1n-Lab!'];

async function sh(args: string[]): Promise<void> {
  const r = await run('ip', args, { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

interface Lab {
  p: ChildProcess;
  out: () => string;
  /** Waits for a line matching `re` on the server's stdout (its lab log). */
  line: (re: RegExp, ms?: number) => Promise<string>;
}

let lab: Lab | undefined;

/** Start `serve --lab ARGS` in the server namespace; resolves once its banner is out. */
async function startLab(args: string[]): Promise<Lab> {
  const p = spawn('ip', ['netns', 'exec', NS_SRV, process.execPath, CLI, 'serve', '--lab', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stderr!.on('data', (d) => (err += d));
  const line = (re: RegExp, ms = 15_000) => new Promise<string>((resolve, reject) => {
    const started = Date.now();
    const look = () => {
      const hit = out.split('\n').find((l) => re.test(l));
      if (hit) return resolve(hit);
      if (p.exitCode !== null || Date.now() - started > ms) return reject(new Error(`no line ${re} from serve --lab (exit ${p.exitCode}):\n${out}\n${err}`));
      setTimeout(look, 50);
    };
    look();
  });
  lab = { p, out: () => out, line };
  await line(/^\s+on Windows\s+labclient\.exe /);
  return lab;
}

async function stopLab(): Promise<void> {
  const p = lab?.p;
  lab = undefined;
  if (!p || p.exitCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

/** Run a program in the client namespace. */
const inClient = (cmd: string, args: string[], timeoutMs = 60_000) => run('ip', ['netns', 'exec', NS_CLI, cmd, ...args], { timeoutMs });

describeWithPeers(['impacket', 'netns'], 'dcomlab serve --lab on 0.0.0.0:135, from another namespace', () => {
  beforeAll(async () => {
    await run('ip', ['netns', 'delete', NS_SRV]);
    await run('ip', ['netns', 'delete', NS_CLI]);
    await sh(['netns', 'add', NS_SRV]);
    await sh(['netns', 'add', NS_CLI]);
    await sh(['link', 'add', 'veth-lab-s', 'netns', NS_SRV, 'type', 'veth', 'peer', 'name', 'veth-lab-c', 'netns', NS_CLI]);
    await sh(['-n', NS_SRV, 'addr', 'add', `${SRV}/24`, 'dev', 'veth-lab-s']);
    await sh(['-n', NS_CLI, 'addr', 'add', `${CLI_ADDR}/24`, 'dev', 'veth-lab-c']);
    for (const [ns, dev] of [[NS_SRV, 'veth-lab-s'], [NS_CLI, 'veth-lab-c']] as const) {
      await sh(['-n', ns, 'link', 'set', 'lo', 'up']);
      await sh(['-n', ns, 'link', 'set', dev, 'up']);
    }
  }, 60_000);
  afterEach(stopLab);
  afterAll(async () => {
    await stopLab();
    await run('ip', ['netns', 'delete', NS_SRV]);
    await run('ip', ['netns', 'delete', NS_CLI]);
  });

  it('prints what a Windows client needs, listens on 0.0.0.0:135 and 49500, and Impacket activates CServer and calls Ping and WhoAmI', async () => {
    const l = await startLab([]);
    const banner = l.out();
    expect(banner).toMatch(/listening\s+0\.0\.0\.0:135 \(endpoint mapper, OXID resolver, activators\); object exporter on port 49500/);
    // The bindings name the box's real address, never the wildcard it listens on (nor loopback, which a client cannot reach).
    expect(banner).toMatch(new RegExp(`addresses\\s+${SRV.replace(/\./g, '\\.')} \\(`));
    expect(banner).toContain(`CServer {${CLSID_CServer.toUpperCase()}}`);
    expect(banner).toMatch(/accounts\s+labadmin \/ Adm1n-Lab! \(Administrators\), labuser \/ Us3r-Lab!, dcomsvc \/ Svc-Lab1!/);
    expect(banner).toContain(`labclient.exe ${SRV}`);
    const ss = await run('ip', ['netns', 'exec', NS_SRV, 'ss', '-Hltn']);
    expect(ss.stdout).toMatch(/0\.0\.0\.0:135\b/);
    expect(ss.stdout).toMatch(/0\.0\.0\.0:49500\b/);

    const py = await inClient(IMPACKET_PYTHON, [path.join(PEERS_DIR, 'dcom_lab_client.py'), '--target', SRV, '--user', 'labadmin', '--domain', 'XPCLIENT', '--password', 'Adm1n-Lab!', '--level', 'connect'], 90_000);
    expect(py.code, py.stderr).toBe(0);
    const r = JSON.parse(py.stdout) as {
      create: { bindings: { addr: string }[]; error?: string };
      ping: { echo: number; hr: number; error?: string };
      whoami: { identity: string; hr: number; error?: string };
    };
    expect(r.create.error).toBeUndefined();
    expect(r.create.bindings.map((b) => b.addr)).toContain(`${SRV}[49500]`);
    expect(r.ping).toEqual({ echo: 41, hr: 0 });
    // A mirrored logon: XPCLIENT\labadmin is this box's own labadmin.
    expect(r.whoami).toEqual({ identity: 'DCOMLAB\\labadmin', hr: 0 });
    // One plain line per activation and per OXID resolution.
    expect(await l.line(/ activation\s+RemoteCreateInstance of CServer from 10\.214\.0\.2 as DCOMLAB\\labadmin \(connect\): S_OK 0x00000000, OXID [0-9a-f]{16}$/)).toBeTruthy();
    expect(await l.line(/ resolve\s+ResolveOxid2 of OXID [0-9a-f]{16} from 10\.214\.0\.2: OK$/)).toBeTruthy();
  }, 120_000);

  it('dcomlab client --server: the fix-process-identity flow succeeds, BackwardCall running as dcomsvc', async () => {
    const l = await startLab(['--callback-identity', 'process']);
    expect(l.out()).toMatch(/callbacks\s+process: callbacks authenticate as dcomsvc/);
    const c = await inClient(process.execPath, [CLI, 'client', '--server', SRV, '--host', CLI_ADDR, ...ADMIN, '--accept', 'dcomsvc:Svc-Lab1!', '--json']);
    expect(c.code, `${c.stdout}\n${c.stderr}\n${l.out()}`).toBe(0);
    const r = JSON.parse(c.stdout) as { activation: { hresult: number }; forwardCall: { outcome: string; hresult: number }; callbacks: { ran: boolean; identity: string }[] };
    expect(r.activation.hresult).toBe(0);
    expect(r.forwardCall).toMatchObject({ outcome: 'returned', hresult: 0 });
    expect(r.callbacks).toHaveLength(1);
    expect(r.callbacks[0]).toMatchObject({ ran: true });
    expect(r.callbacks[0]!.identity).toMatch(/\\dcomsvc$/);
    expect(await l.line(/ ForwardCall\s+from 10\.214\.0\.2 as DCOMLAB\\labadmin$/)).toBeTruthy();
    expect(await l.line(/ callback\s+resolving the client's OXID [0-9a-f]{16} at 10\.214\.0\.2:135 \(process identity\)$/)).toBeTruthy();
    expect(await l.line(/ callback\s+BackwardCall\(\d+\) at 10\.214\.0\.2:135 as dcomsvc: S_OK 0x00000000$/)).toBeTruthy();
  }, 120_000);

  it("without the fix (impersonate, the default), the same client sees E_ACCESSDENIED: the callback arrived as ANONYMOUS LOGON", async () => {
    const l = await startLab([]);
    const c = await inClient(process.execPath, [CLI, 'client', '--server', SRV, '--host', CLI_ADDR, ...ADMIN, '--accept', 'dcomsvc:Svc-Lab1!', '--json']);
    expect(c.code).toBe(1);
    const r = JSON.parse(c.stdout) as { forwardCall: { hresult: number; name: string }; callbacks: { ran: boolean; identity: string }[] };
    expect(r.forwardCall.name).toBe('E_ACCESSDENIED 0x80070005');
    expect(r.callbacks[0]).toMatchObject({ ran: false, identity: 'NT AUTHORITY\\ANONYMOUS LOGON' });
    expect(await l.line(/ callback\s+BackwardCall\(\d+\) at 10\.214\.0\.2:135 as ANONYMOUS LOGON: E_ACCESSDENIED 0x80070005$/)).toBeTruthy();
  }, 120_000);
});
