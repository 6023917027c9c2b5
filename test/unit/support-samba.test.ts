// The Samba peer helper (tools/peers/samba.sh through startSamba) against Impacket: the DC answers on
// 127.0.0.1 only, NTLM works over ncacn_ip_tcp, and stop() really stops it.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPeers, IMPACKET_PYTHON, SAMR_CHECK_PY, startSamba, type SambaPeer } from '../support/peers';

const execFileAsync = promisify(execFile);

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(2000);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.once('timeout', () => { s.destroy(); resolve(false); });
  });
}

interface SamrCheck { binding?: string; port?: number; domains?: string[]; error?: string }

async function samrCheck(args: string[]): Promise<{ code: number; out: SamrCheck }> {
  try {
    const { stdout } = await execFileAsync(IMPACKET_PYTHON, [SAMR_CHECK_PY, ...args], { timeout: 60_000 });
    return { code: 0, out: JSON.parse(stdout) as SamrCheck };
  } catch (err) {
    const e = err as Error & { code?: number; stdout?: string };
    if (typeof e.code !== 'number' || !e.stdout) throw err;
    return { code: e.code, out: JSON.parse(e.stdout) as SamrCheck };
  }
}

/** PIDs of the processes in samba's process group, and the TCP addresses they listen on. */
async function sambaListeners(rootPid: number): Promise<string[]> {
  const { stdout: ps } = await execFileAsync('ps', ['-eo', 'pid=,pgid=']);
  const pids = new Set(ps.split('\n').map((l) => l.trim().split(/\s+/)).filter(([, g]) => Number(g) === rootPid).map(([p]) => p));
  const { stdout: ss } = await execFileAsync('ss', ['-Hltnp']);
  return ss.split('\n')
    .filter((l) => [...l.matchAll(/pid=(\d+)/g)].some((m) => pids.has(m[1]!)))
    .map((l) => l.trim().split(/\s+/)[3]!);
}

describeWithPeers(['samba', 'impacket'], 'Samba AD DC peer (tools/peers/samba.sh)', () => {
  let samba: SambaPeer;
  beforeAll(async () => {
    samba = await startSamba();
  }, 240_000);
  afterAll(async () => {
    await samba?.stop();
  });

  it('writes its credentials and serves the endpoint mapper on 127.0.0.1:135', async () => {
    expect(samba.host).toBe('127.0.0.1');
    expect(samba.creds).toMatchObject({
      domain: 'SAMDOM', realm: 'SAMDOM.EXAMPLE.COM', host: '127.0.0.1',
      admin: { user: 'Administrator' }, user: { user: 'labuser' },
    });
    expect(JSON.parse(readFileSync(path.join(samba.dir, 'creds.json'), 'utf8'))).toEqual(samba.creds);
    expect(await connects('127.0.0.1', 135)).toBe(true);
  });

  it('listens on 127.0.0.1 only', async () => {
    const pid = Number(readFileSync(path.join(samba.dir, 'samba.pid'), 'utf8'));
    const addrs = await sambaListeners(pid);
    expect(addrs).toContain('127.0.0.1:135');
    expect(addrs.filter((a) => !a.startsWith('127.0.0.1:'))).toEqual([]);
  });

  it('authenticates NTLM at PKT_PRIVACY and PKT_INTEGRITY over ncacn_ip_tcp (SAMR via EPM)', async () => {
    const creds = path.join(samba.dir, 'creds.json');
    for (const level of ['privacy', 'integrity']) {
      for (const who of [[], ['--admin']]) {
        const { code, out } = await samrCheck(['--creds', creds, '--auth-level', level, ...who]);
        expect(out.error, `${level} ${who.join('')}`).toBeUndefined();
        expect(code).toBe(0);
        expect(out.binding).toMatch(/^ncacn_ip_tcp:127\.0\.0\.1\[\d+\]$/);
        expect(out.domains?.map((d) => d.toUpperCase()).sort()).toEqual(['BUILTIN', 'SAMDOM']);
      }
    }
  });

  it('rejects a wrong password', async () => {
    const { code, out } = await samrCheck(['--creds', path.join(samba.dir, 'creds.json'), '--password', 'not-the-password']);
    expect(code).toBe(1);
    expect(out.domains).toBeUndefined();
    expect(out.error).toMatch(/\S/);
  });

  it('shares one DC between callers and stops it by PID after the last stop()', async () => {
    const again = await startSamba();
    expect(again).toBe(samba);
    await again.stop();
    expect(await connects('127.0.0.1', 135)).toBe(true); // still one user left
    await samba.stop();
    expect(await connects('127.0.0.1', 135)).toBe(false);
    expect(existsSync(path.join(samba.dir, 'samba.pid'))).toBe(false);
    // A later start in the same run reuses the provisioned directory.
    const third = await startSamba();
    expect(third.dir).toBe(samba.dir);
    expect(await connects('127.0.0.1', 135)).toBe(true);
    samba = third;
  }, 120_000);
});
