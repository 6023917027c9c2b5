// `dcomlab replay` (the built CLI) against a live `dcomlab serve` (the built CLI): the Impacket ↔
// dcomlab captures in pcaps/ replayed against the server they were made against (127.0.0.6:135,
// LAB\alice) are equivalent; against XP SP2's policy (alice not an administrator) the activation
// is refused and replay says so. Port 135 needs root; vitest runs test files one at a time, so
// 127.0.0.6:135 and 127.0.0.8:135 are free here.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dcomlab, serve } from '../support/cli';
import { PROJECT_PCAPS } from '../support/paths';

const HOST = '127.0.0.6';
const ALICE = ['--user', 'LAB\\alice', '--password', 'Secret1!'];
const LEVELS = ['connect', 'integrity', 'privacy'] as const;
const pcap = (name: string) => path.join(PROJECT_PCAPS, name);
const isRoot = process.getuid?.() === 0;
// The live credentials come from the command lines only.
const env = { ...process.env };
delete env.DCOMLAB_PASSWORD;
delete env.DCOMLAB_USER;
delete env.DCOMLAB_NT_HASH;

const replay = (args: string[]) => dcomlab(['replay', ...args], env);

/** Stop a server and wait until it is gone (the next block listens on the same address). */
async function stop(srv: ReturnType<typeof serve> | undefined): Promise<void> {
  if (!srv || srv.p.exitCode !== null) return;
  const gone = new Promise((resolve) => srv.p.once('exit', resolve));
  srv.p.kill('SIGTERM');
  await gone;
}

describe.skipIf(!isRoot)('dcomlab replay against a fresh dcomlab serve', () => {
  let srv: ReturnType<typeof serve>;
  beforeAll(async () => {
    srv = serve(['--host', HOST, '--resolver-port', '135', '--user', 'LAB\\alice:Secret1!'], {}, 2);
    const r = await srv.ready;
    expect(r.code, r.err).toBeNull();
  });
  afterAll(() => stop(srv));

  for (const level of LEVELS) {
    it(`impacket-dcom-dcomlab-${level}.pcapng is equivalent (exit 0)`, () => {
      const r = replay([pcap(`impacket-dcom-dcomlab-${level}.pcapng`), '--target', HOST, ...ALICE]);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      const calls = r.stdout.split('\n').filter((l) => / call \d+ /.test(l));
      expect(calls).toHaveLength(14);
      for (const l of calls) expect(l).toMatch(/: equivalent$/);
      // the exporter conversation went to the live exporter, not to the captured port
      expect(r.stdout).toMatch(/^stream 1: .* winnt\/pkt_integrity, replayed to 127\.0\.0\.6:\d+$/m);
      expect(r.stdout).toContain('14 call(s) against 127.0.0.6:135: 14 equivalent, 0 different, 0 skipped');
    }, 60_000);
  }

  it('--json: one document with every call equivalent', () => {
    const r = replay([pcap('impacket-dcom-dcomlab-integrity.pcapng'), '--target', HOST, ...ALICE, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { calls: { operation: string; verdict: string }[]; different: number };
    expect(doc.different).toBe(0);
    expect(doc.calls.map((c) => c.operation)).toContain('RemoteCreateInstance');
    expect(doc.calls.every((c) => c.verdict === 'equivalent')).toBe(true);
  }, 60_000);

  it('a wrong live password is a clear error (exit 2)', () => {
    const r = replay([pcap('impacket-dcom-dcomlab-integrity.pcapng'), '--target', HOST, '--user', 'LAB\\alice', '--password', 'Wrong-1!']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/the live server refused LAB\\alice on stream 0 .*rpc_s_access_denied 0x00000005.*wrong --password/);
  }, 60_000);

  it('sealed captured stubs need the password the capture was made with (exit 2)', () => {
    const r = replay([pcap('impacket-dcom-dcomlab-privacy.pcapng'), '--target', HOST, '--user', 'LAB\\alice', '--password', 'Wrong-1!']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/captured request is sealed and cannot be read: wrong password for LAB\\alice/);
    // the capture's password apart from the live one: the live one is then the one refused
    const r2 = replay([pcap('impacket-dcom-dcomlab-privacy.pcapng'), '--target', HOST, '--user', 'LAB\\alice', '--password', 'Wrong-1!', '--capture-password', 'Secret1!']);
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/the live server refused LAB\\alice/);
  }, 60_000);

  it('an authenticated capture without live credentials is a usage error (exit 2)', () => {
    const r = replay([pcap('impacket-dcom-dcomlab-connect.pcapng'), '--target', HOST]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/stream 0 is authenticated \(winnt\/connect\): give --user and --password/);
  }, 60_000);
});

describe.skipIf(!isRoot)('dcomlab replay against dcomlab serve --policy xp-sp2 (alice not an administrator)', () => {
  let srv: ReturnType<typeof serve>;
  beforeAll(async () => {
    srv = serve(['--host', HOST, '--resolver-port', '135', '--policy', 'xp-sp2', '--user', 'LAB\\alice:Secret1!'], {}, 2);
    const r = await srv.ready;
    expect(r.code, r.err).toBeNull();
  });
  afterAll(() => stop(srv));

  for (const level of LEVELS) {
    it(`impacket-dcom-dcomlab-${level}.pcapng: RemoteCreateInstance's E_ACCESSDENIED is reported (exit 1)`, () => {
      const r = replay([pcap(`impacket-dcom-dcomlab-${level}.pcapng`), '--target', HOST, ...ALICE]);
      expect(r.status, r.stdout + r.stderr).toBe(1);
      expect(r.stdout).toMatch(/^stream 0 call \d+ RemoteCreateInstance: DIFFERENT$/m);
      expect(r.stdout).toContain('    hresult: captured S_OK 0x00000000, live E_ACCESSDENIED 0x80070005');
      // no live exporter to follow: the exporter conversation is not replayed, and says why
      expect(r.stdout).toMatch(/^stream 1: .*not replayed: .*an endpoint a captured answer named/m);
      // the unauthenticated ServerAlive2 is still the same
      expect(r.stdout).toMatch(/ServerAlive2: equivalent$/m);
      expect(r.stdout).toMatch(/NOT equivalent$/m);
    }, 60_000);
  }
});

describe.skipIf(!isRoot)('dcomlab replay of sp2-anonymous-callback.pcapng (pcaps/README.md): callbacks are not stood in for, and replay says so', () => {
  let srv: ReturnType<typeof serve>;
  beforeAll(async () => {
    srv = serve(['--host', HOST, '--resolver-port', '135', '--policy', 'xp-sp2', '--admin', 'LAB\\labadmin:Adm1n-Lab!'], {}, 2);
    const r = await srv.ready;
    expect(r.code, r.err).toBeNull();
  });
  afterAll(() => stop(srv));

  it('activation equivalent; ForwardCall names the captured client\'s callback object it passes; the callback streams are not replayed', () => {
    const r = replay([pcap('sp2-anonymous-callback.pcapng'), '--target', HOST, '--user', 'LAB\\labadmin', '--password', 'Adm1n-Lab!']);
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^stream 0 call \d+ RemoteCreateInstance: equivalent$/m);
    // The live server resolves the captured client's OXID at the captured client box (127.0.0.3), not at this replay.
    expect(r.stdout).toMatch(/^stream 1 call \d+ ForwardCall: DIFFERENT \(passes the captured client's own object, OXID 0x[0-9a-f]{16} \(resolver 127\.0\.0\.3\): the live server calls back there, not to this replay/m);
    // The server's own conversations to the client box (its resolve and the callback) are the client side of nothing replay sends.
    expect(r.stdout).toMatch(/^stream 2: 127\.0\.0\.2:\d+ -> 127\.0\.0\.3:135 .*not replayed/m);
    expect(r.stdout).toMatch(/^stream 3: 127\.0\.0\.2:\d+ -> 127\.0\.0\.3:\d+ .*not replayed/m);
  }, 60_000);
});

describe.skipIf(!isRoot)('dcomlab replay of dcomlab-epm-session.pcapng against serve with the same endpoints', () => {
  let srv: ReturnType<typeof serve>;
  let dir: string;
  beforeAll(async () => {
    // The endpoints test/interop/epm-tshark.test.ts registered when it made the capture.
    const endpoints = [{ interface: '7a5c0001-8b2d-4e6f-9a1b-0c3d5e7f9b11:1.0', port: 49800, annotation: 'dcomlab tshark session' }];
    for (let i = 0; i < 60; i++) {
      endpoints.push({ interface: `7a5c1${i.toString(16).padStart(3, '0')}-8b2d-4e6f-9a1b-0c3d5e7f9b11:2.${i}`, port: 49900 + i, annotation: `bulk ${i} ${'x'.repeat(40)}` });
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dcomlab-replay-'));
    fs.writeFileSync(path.join(dir, 'epm.json'), JSON.stringify({ endpoints }));
    srv = serve(['--host', '127.0.0.8', '--resolver-port', '135', '--config', path.join(dir, 'epm.json')], {}, 2);
    const r = await srv.ready;
    expect(r.code, r.err).toBeNull();
  });
  afterAll(async () => {
    await stop(srv);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('ept_lookup, ept_map and both faults are equivalent; inq_if_ids lists the interfaces serve adds on 135', () => {
    const r = replay([pcap('dcomlab-epm-session.pcapng'), '--target', '127.0.0.8']);
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^stream 0 call \d+ ept_lookup: equivalent$/m);
    expect(r.stdout.match(/ept_map: equivalent$/gm)).toHaveLength(2);
    // opnum 7 (out of range) and a request on a context never bound: the same faults
    expect(r.stdout).toMatch(/^stream 0 call \d+ opnum 7: equivalent/m);
    expect(r.stdout).toMatch(/^stream 0 call \d+ opnum 0: equivalent \(sent as captured, on a context never bound/m);
    // The capture's server was the endpoint mapper alone; serve also has the OXID resolver and activators there.
    expect(r.stdout).toMatch(/^stream 0 call \d+ inq_if_ids: DIFFERENT$/m);
    expect(r.stdout).toContain('    if_id_vector.count: captured 1, live 4');
    expect(r.stdout).toContain('6 call(s) against 127.0.0.8:135: 5 equivalent, 1 different, 0 skipped');
  }, 60_000);
});
