// `dcomlab dissect` as a user runs it (the built CLI): field names, exit codes, error lines.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT, SHARED_PCAPS } from '../support/paths';

const CLI = path.join(PROJECT_ROOT, 'dist', 'cli', 'main.js');

function dcomlab(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('dcomlab dissect', () => {
  const file = path.join(SHARED_PCAPS, 'suricata-verify', 'dcerpc-bind-no-frag-flag.pcap');

  it('writes one JSON object per PDU with the documented field names', () => {
    const r = dcomlab('dissect', file, '--format', 'jsonl');
    expect(r.code).toBe(0);
    const rows = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.length).toBe(8);
    for (const row of rows) {
      for (const k of ['frame', 'stream', 'src', 'dst', 'time', 'ptype', 'ptypeName', 'flags', 'drep', 'fragLength', 'authLength', 'callId']) {
        expect(row, `field ${k}`).toHaveProperty(k);
      }
      expect(row.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/);
      expect(row.src).toMatch(/^\d+\.\d+\.\d+\.\d+:\d+$/);
    }
    // The capture's README: a bind with pfc_flags 0 and an opnum that gets nca_s_op_rng_error.
    const bind = rows.find((x) => x.ptypeName === 'bind');
    expect(bind.contexts[0].abstractSyntax).toMatchObject({ uuid: 'e1af8308-5d1f-11c9-91a4-08002b14a0fa', version: '3.0', name: 'EPMv4' });
    const fault = rows.find((x) => x.ptypeName === 'fault');
    expect(fault).toMatchObject({ status: 0x1c010002, statusName: 'nca_s_op_rng_error', ctxId: 0 });
    const req = rows.find((x) => x.ptypeName === 'request');
    expect(req.interface).toMatchObject({ name: 'EPMv4', version: '3.0' });
    expect(typeof req.opnum).toBe('number');
  });

  it('reports counts with --stats', () => {
    const r = dcomlab('dissect', file, '--stats');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/8 PDUs in 2 DCE\/RPC streams/);
    expect(r.out).toMatch(/2 SMB streams skipped/);
  });

  it('gives one line with the offset and exit 2 for a corrupt file, never a stack', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dcomlab-cli-'));
    const bad = path.join(dir, 'bad.pcap');
    writeFileSync(bad, Buffer.from('this is not a capture file at all'));
    const r = dcomlab('dissect', bad);
    expect(r.code).toBe(2);
    const lines = r.err.trim().split('\n');
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatch(/bad\.pcap.*offset 0/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('reports a truncated last packet and still prints the PDUs before it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dcomlab-cli-'));
    const cut = path.join(dir, 'cut.pcap');
    const whole = readFileSync(file);
    writeFileSync(cut, whole.subarray(0, whole.length - 10));
    const r = dcomlab('dissect', cut, '--format', 'jsonl');
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/warning: .*cut\.pcap.*missing|truncat/i);
    expect(r.out.trim().split('\n').length).toBeGreaterThanOrEqual(7);
  });

  it('a missing file is one clear line and exit 2', () => {
    const r = dcomlab('dissect', '/nonexistent/x.pcap');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/x\.pcap/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});
