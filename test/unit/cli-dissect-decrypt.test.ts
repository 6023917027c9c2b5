// `dcomlab dissect --password` (the built command) on the sealed scapy capture (shared pcaps README:
// DOMAIN\Administrator, Password123!) and on the project's Impacket PKT_PRIVACY capture.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { CLI, dcomlab } from '../support/cli';
import { PROJECT_PCAPS, SHARED_PCAPS } from '../support/paths';

const SCAPY = path.join(SHARED_PCAPS, 'scapy', 'dcerpc_privacy_ntlm.pcapng.gz');

describe('dissect --password', () => {
  it('every sealed request and response unseals and verifies; the session is reported', () => {
    const r = dcomlab(['dissect', SCAPY, '-f', 'jsonl', '--password', 'Password123!']);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const sealed = lines.filter((x) => x.authLevel === 6 && [0, 2].includes(x.ptype as number));
    expect(sealed).toHaveLength(12);
    for (const x of sealed) expect(x).toMatchObject({ decrypted: true, verified: true });
    // One line per session, where its stream ends: after the stream's last PDU, before the next stream's first.
    const at = lines.findIndex((x) => 'decryption' in x);
    const d = lines.filter((x) => 'decryption' in x) as Array<{ decryption: { stream: number; user: string; domain: string; decryptable: boolean; verified: number; failed: number } }>;
    expect(d.map((x) => x.decryption)).toEqual([expect.objectContaining({ stream: 1, user: 'Administrator', domain: 'DOMAIN', decryptable: true, verified: 12, failed: 0 })]);
    expect(lines[at - 1]).toMatchObject({ stream: 1 });
    expect(lines.slice(at + 1).every((x) => x.stream !== 1)).toBe(true);
  });

  it('a wrong password: the session is not decryptable, said once, and the command succeeds', () => {
    const r = dcomlab(['dissect', SCAPY, '--password', 'Password124!']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^decryption: stream 1 context 0 NTLMSSP DOMAIN\\Administrator \(v2\): not decryptable: wrong password/m);
    expect(r.stdout.split('\n').filter((l) => l.includes('pkt_privacy')).length).toBeGreaterThan(0);
  });

  it('text with stdout and stderr on one file (2>&1): each session\'s line comes after its stream\'s PDUs', () => {
    const file = path.join(PROJECT_PCAPS, 'impacket-dcom-dcomlab-privacy.pcapng');
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'dcomlab-2to1-')), 'out.txt');
    const fd = openSync(out, 'w');
    const r = spawnSync(process.execPath, [CLI, 'dissect', file, '--password', 'Secret1!'], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    expect(r.status).toBe(0);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    const sessions = lines.map((l, i) => [i, /^decryption: stream (\d+) /.exec(l)?.[1]] as const).filter(([, s]) => s !== undefined);
    expect(sessions.length).toBeGreaterThan(1);
    for (const [at, stream] of sessions) {
      // PDU lines: frame, then the stream number.
      const last = lines.map((l, i) => [i, /^\s*\d+\s+(\d+) /.exec(l)?.[1]] as const).filter(([, s]) => s === stream).map(([i]) => i).at(-1)!;
      expect(last, `stream ${stream}`).toBeLessThan(at);
    }
  });

  it('the Impacket activation at PKT_PRIVACY decodes once decrypted: CLSID_CServer in the request', () => {
    const file = path.join(PROJECT_PCAPS, 'impacket-dcom-dcomlab-privacy.pcapng');
    const sealed = dcomlab(['dissect', file, '-f', 'jsonl']);
    const act = (out: string) => out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((x) => x.operation === 'RemoteCreateInstance' && x.ptype === 0)!;
    expect(act(sealed.stdout)).toMatchObject({ stubSealed: true });
    const open = dcomlab(['dissect', file, '-f', 'jsonl', '--password', 'Secret1!']);
    const req = act(open.stdout);
    expect(req).toMatchObject({ decrypted: true, verified: true });
    expect(JSON.stringify(req.stub)).toContain('82d1ea8a-00f7-4c0c-9418-1bdca814dccb');
  });
});
