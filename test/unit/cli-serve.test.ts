// `dcomlab serve` and `dcomlab epm` as a user runs them.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { CLI, serve } from '../support/cli';

describe('dcomlab serve', () => {
  it('listens on IPv6 with a picked port, answers epm lookup, and stops cleanly on SIGTERM', async () => {
    const s = serve(['--host', '::1', '--epm-port', '0']);
    const r = await s.ready;
    if (r.code !== null && /address not available/.test(r.err)) {
      console.warn('skipped: no IPv6 loopback here');
      return;
    }
    const m = /listening on \[::1\]:(\d+)/.exec(r.out);
    expect(m, r.out + r.err).not.toBeNull();
    const lookup = spawnSync(process.execPath, [CLI, 'epm', 'lookup', '::1', '--port', m![1]!], { encoding: 'utf8' });
    expect(lookup.status).toBe(0);
    expect(lookup.stdout).toMatch(/^0 endpoints$/m);
    const exited = new Promise<number | null>((resolve) => s.p.on('exit', resolve));
    s.p.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('says how to fix a port it may not bind (root, CAP_NET_BIND_SERVICE or another port)', async () => {
    const isRoot = process.getuid?.() === 0;
    // As root, run the command as an unprivileged user so binding 135 really fails.
    const opts = isRoot ? { uid: 65534, gid: 65534 } : {};
    const probe = spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(CLI)})`], opts);
    if (probe.status !== 0) {
      console.warn(`skipped: user 65534 cannot read ${CLI} here, so the unprivileged case cannot be run`);
      return;
    }
    const s = serve(['--host', '127.0.0.9', '--epm-port', '135'], opts);
    const r = await s.ready;
    if (r.code === null) {
      // This user may bind low ports (CAP_NET_BIND_SERVICE): nothing to show.
      s.p.kill('SIGTERM');
      console.warn('skipped: this user may bind port 135');
      return;
    }
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/port 135.*root or CAP_NET_BIND_SERVICE.*--resolver-port/);
    expect(r.err.trim().split('\n').length).toBe(1);
  });

  it('a port in use is one clear line, exit 2', async () => {
    const a = serve(['--host', '127.0.0.10', '--epm-port', '0']);
    const ra = await a.ready;
    const port = /:(\d+)\s*$/m.exec(ra.out)![1]!;
    const b = serve(['--host', '127.0.0.10', '--epm-port', port]);
    const rb = await b.ready;
    expect(rb.code).toBe(2);
    expect(rb.err).toMatch(/already in use/);
    a.p.kill('SIGTERM');
  });
});

describe('dcomlab epm', () => {
  it('names the status of a failed map', () => {
    const r = spawnSync(process.execPath, [CLI, 'epm', 'map', '127.0.0.1', 'not-a-uuid'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/interface must be UUID/);
  });
  it('a host with nothing listening gives rpc_s_server_unavailable, no stack', () => {
    const r = spawnSync(process.execPath, [CLI, 'epm', 'lookup', '127.0.0.1', '--port', '1'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/rpc_s_server_unavailable 0x000006ba/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
