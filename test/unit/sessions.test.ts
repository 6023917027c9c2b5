// `dcomlab sessions` over the project's own captures (pcaps/, made by tools/make-pcaps.sh with real
// peers) and a third-party one: the associations, identities, and the DCOM story. Expected values
// come from how each capture was made (addresses, accounts, CLSID_CServer, what each SP2 scenario
// does) and, for the third-party capture, from tshark.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyzeSessions } from '../../src/dissect/sessions';
import { CLSID_CServer } from '../../src/dcom/server/lab-class';
import { PROJECT_ROOT, SHARED_PCAPS } from '../support/paths';
import { describeWithPeers } from '../support/peers';
import { runTshark } from '../support/tshark';
import { dcomlab } from '../support/cli';

const PCAPS = path.join(PROJECT_ROOT, 'pcaps');

describe('sessions of the SP2 anonymous-callback capture', () => {
  it('the activation, the exporter connection it led to, and the anonymous callback refused with status 5', async () => {
    const r = await analyzeSessions(path.join(PCAPS, 'sp2-anonymous-callback.pcapng'));
    expect(r.activations).toHaveLength(1);
    const act = r.activations[0]!;
    expect(act).toMatchObject({ operation: 'RemoteCreateInstance', clsid: CLSID_CServer, hresult: 'S_OK 0x00000000' });
    expect(act.client).toMatch(/^127\.0\.0\.3:\d+$/);
    expect(act.server).toBe('127.0.0.2:135');
    expect(act.bindings).toHaveLength(1);
    const exporter = r.associations.find((a) => act.exporterStreams.includes(a.stream))!;
    expect(exporter.server).toBe(act.bindings[0]!.replace(/\[(\d+)\]$/, ':$1'));
    expect(exporter.role).toBe('exporter');
    expect(exporter.operations).toMatchObject({ ForwardCall: 1 });
    const byRole = (role: string) => r.associations.filter((a) => a.role === role);
    expect(byRole('activation')[0]!.auth).toMatchObject({ user: 'labadmin', domain: 'LAB', flavour: 'v2' });
    // The server box resolves the client's OXID at the client's 135, then calls it back, both as anonymous NTLM.
    expect(r.resolutions).toHaveLength(1);
    expect(r.resolutions[0]).toMatchObject({ operation: 'ResolveOxid2', resolver: '127.0.0.3:135', status: 'ERROR_SUCCESS 0x00000000' });
    const cb = byRole('callback');
    expect(cb.map((a) => a.server.replace(/:\d+$/, ''))).toEqual(['127.0.0.3', '127.0.0.3']);
    for (const a of cb) expect(a.auth).toMatchObject({ user: '', flavour: 'anonymous' });
    const back = cb.find((a) => a.operations.BackwardCall)!;
    expect(back.faults).toEqual([{ callId: expect.any(Number), operation: 'BackwardCall', status: 'rpc_s_access_denied 0x00000005' }]);
    expect(r.callbacks.map((c) => c.interfaces)).toEqual([['IObjectExporter'], ['IClientCallback']]);
  });

  it('the firewall capture: the activation and ForwardCall, and no callback connection at all', async () => {
    const r = await analyzeSessions(path.join(PCAPS, 'sp2-firewall.pcapng'));
    expect(r.activations).toHaveLength(1);
    expect(r.associations.flatMap((a) => Object.keys(a.operations))).not.toContain('BackwardCall');
    expect(r.associations.flatMap((a) => a.faults.map((f) => f.status))).toContain('E_OUTOFMEMORY 0x8007000e');
  });
});

describe('sessions of an Impacket activation at PKT_PRIVACY', () => {
  const file = path.join(PCAPS, 'impacket-dcom-dcomlab-privacy.pcapng');
  it('with the password every authenticated session decrypts; the activation links to its exporter and its OXID resolution', async () => {
    const r = await analyzeSessions(file, [{ password: 'Secret1!' }]);
    const authed = r.associations.filter((a) => a.auth);
    expect(authed.length).toBeGreaterThan(0);
    for (const a of authed) expect(a.auth).toMatchObject({ user: 'alice', domain: 'LAB', decryptable: true });
    const act = r.activations[0]!;
    expect(act).toMatchObject({ clsid: CLSID_CServer, hresult: 'S_OK 0x00000000' });
    expect(act.exporterStreams).toHaveLength(1);
    // dcom_lab_client.py resolves the activation's OXID, then a made-up one (0x1234).
    expect(r.resolutions.map((x) => [x.oxid, x.status])).toEqual([[act.oxid, 'ERROR_SUCCESS 0x00000000'], ['0x0000000000001234', 'OR_INVALID_OXID 0x00000776']]);
  });
  it('without it the sessions say why they cannot be decrypted, and the story is still told from what is not sealed', async () => {
    const r = await analyzeSessions(file);
    const authed = r.associations.filter((a) => a.auth);
    for (const a of authed) expect(a.auth!.decryptable).toBe(false);
    expect(authed.some((a) => /no password/.test(a.auth!.reason ?? ''))).toBe(true);
    expect(r.resolutions).toHaveLength(2); // unauthenticated: readable
  });
});

describeWithPeers(['tshark'], 'sessions of a Windows activation (zeek kerberos135_auth) against tshark', () => {
  it('the activation\'s OXID and bindings are the ones tshark shows', async () => {
    const file = path.join(SHARED_PCAPS, 'zeek', 'kerberos135_auth.pcapng');
    const r = await analyzeSessions(file);
    expect(r.activations).toHaveLength(1);
    const act = r.activations[0]!;
    const t = runTshark(['-n', '-r', file, '-Y', 'isystemactivator.opnum == 4 && dcerpc.pkt_type == 2', '-T', 'fields', '-E', 'aggregator=|',
      '-e', 'dcom.oxid', '-e', 'dcom.dualstringarray.network_addr']).trim().split('\t');
    expect(t[0]!.split('|')).toContain(act.oxid);
    const addrs = t[1]!.split('|');
    for (const b of act.bindings) expect(addrs).toContain(b);
  });
});

describe('dcomlab sessions (the built command)', () => {
  it('prints each association and the DCOM story; --json is the same report; a wrong password is reported, not fatal', () => {
    const file = path.join(PCAPS, 'sp2-anonymous-callback.pcapng');
    const t = dcomlab(['sessions', file]);
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^stream \d+: 127\.0\.0\.3:\d+ -> 127\.0\.0\.2:135 \[activation\] winnt\/connect as LAB\\labadmin \(v2\)/m);
    expect(t.stdout).toMatch(/^ {2}fault: call \d+ BackwardCall: rpc_s_access_denied 0x00000005$/m);
    expect(t.stdout).toMatch(/^ {2}callback \(stream \d+\) 127\.0\.0\.2:\d+ -> 127\.0\.0\.3:\d+: IClientCallback$/m);
    const j = JSON.parse(dcomlab(['sessions', file, '--json']).stdout) as { associations: unknown[]; callbacks: unknown[] };
    expect(j.associations).toHaveLength(4);
    expect(j.callbacks).toHaveLength(2);
    const w = dcomlab(['sessions', path.join(PCAPS, 'impacket-dcom-dcomlab-privacy.pcapng'), '--password', 'not-it']);
    expect(w.status).toBe(0);
    expect(w.stdout).toMatch(/not decryptable: wrong password for LAB\\alice/);
  });
});
