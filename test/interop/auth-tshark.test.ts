// tshark (Wireshark 4.0) as the oracle for dcomlab's sealed traffic: a dcomlab client talks to a dcomlab
// server (in-process, 127.0.0.9:135) at PKT_PRIVACY while dumpcap captures lo; then tshark, given only the
// password (-o ntlmssp.nt_password:...), must rebuild the NTLM keys from the handshake, decrypt every stub
// and decode the endpoint mapper's answers, with no malformed frame and no error-level expert item.
// Without the password (or with a wrong one) the same capture must show none of those fields: that is the
// proof that they come from decryption.
//
// Capture 1 (NTLMv2), one association:
//   bind epm (NEGOTIATE) · bind_ack (CHALLENGE) · auth3 (AUTHENTICATE) · ept_lookup · ept_map
//   · alter_context WhoAmI · WhoAmI
// Capture 2: the same session with --ntlm ntlm2 (NTLMv1 + extended session security) and with --ntlm v1,
// one connection each.
//
// DCOMLAB_AUTH_SESSION_OUT=FILE: after every assertion on capture 1 passed, copy it there, e.g.
//   DCOMLAB_AUTH_SESSION_OUT=pcaps/dcomlab-epm-privacy-ntlmv2.pcapng npx vitest run test/interop/auth-tshark.test.ts
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NIL_GUID } from '../../src/base/guid';
import { bindInterface, epm, RpcConnection, tcpTower, decodeTower } from '../../src/rpc';
import { clientAuthFrom } from '../../src/cli/auth-options';
import { describeWithPeers, PEERS_ROOT } from '../support/peers';
import { captureSh } from '../support/capture-sh';
import { runTshark, tsharkExpert, tsharkPdus } from '../support/tshark';
import { ALICE, LEVEL, REGISTERED, startAuthServer, WhoAmIIface, type AuthServer, type Who } from '../support/auth-lab';

const HOST = '127.0.0.9';
const NIL_HANDLE = { attributes: 0, uuid: NIL_GUID };

const capture = captureSh;

interface Seen {
  entries: number;
  ports: number[];
  mapPort: number;
  who: Who;
  clientPort: number;
}

/** One authenticated association at PKT_PRIVACY; what the client saw. */
async function session(ntlm: 'v2' | 'ntlm2' | 'v1'): Promise<Seen> {
  const conn = await RpcConnection.connect(HOST, 135, {
    callTimeoutMs: 10_000,
    auth: clientAuthFrom({ authLevel: 'privacy', auth: 'ntlm', user: `${ALICE.domain}\\${ALICE.user}`, password: ALICE.password, ntlm }),
  });
  try {
    const e = await bindInterface(conn, epm);
    const look = await e.call(epm.ops.ept_lookup, {
      inquiry_type: 0, object: null, interface_id: null, vers_option: 1, entry_handle: NIL_HANDLE, max_ents: 500,
    });
    const t = tcpTower({ uuid: REGISTERED.uuid, version: REGISTERED.version }, '0.0.0.0', 0);
    const map = await e.call(epm.ops.ept_map, { object: null, map_tower: { tower_length: t.length, tower_octet_string: t }, entry_handle: NIL_HANDLE, max_towers: 4 });
    const w = await bindInterface(conn, WhoAmIIface);
    const who = await w.call(WhoAmIIface.ops.WhoAmI, { tag: 7 });
    return {
      entries: look.num_ents,
      ports: look.entries.map((x) => decodeTower(x.tower!.tower_octet_string).port ?? -1),
      mapPort: decodeTower(map.towers[0]!.tower_octet_string).port ?? -1,
      who: JSON.parse(who.who!) as Who,
      clientPort: conn.localPort,
    };
  } finally {
    await conn.close();
  }
}

/** tshark -T fields with the NT password preference (or none). */
function fields(file: string, names: string[], filter: string, password?: string): string[][] {
  const pref = password === undefined ? [] : ['-o', `ntlmssp.nt_password:${password}`];
  const args = [...pref, '-r', file, '-T', 'fields', '-E', 'header=n', '-E', 'occurrence=a', '-E', 'aggregator=,'];
  for (const f of names) args.push('-e', f);
  args.push('-Y', filter);
  const out = runTshark(args);
  return out.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
}

function expertWith(file: string, password: string): { malformed: number; errors: string[] } {
  const out = runTshark(['-o', `ntlmssp.nt_password:${password}`, '-r', file, '-Y', '_ws.malformed || _ws.expert.severity == error',
    '-T', 'fields', '-e', 'frame.number', '-e', '_ws.malformed', '-e', '_ws.expert.message']);
  const lines = out.split('\n').filter((l) => l !== '');
  return { malformed: lines.filter((l) => l.split('\t')[1] !== '').length, errors: lines };
}

describeWithPeers(['tshark'], 'a dcomlab PKT_PRIVACY session decrypted by tshark with the password', () => {
  const dir = path.join(PEERS_ROOT, `auth-tshark-${process.pid}`);
  const fileV2 = path.join(dir, 'dcomlab-epm-privacy-ntlmv2.pcapng');
  const fileV1 = path.join(dir, 'dcomlab-epm-privacy-ntlmv1.pcapng');
  let s: AuthServer;
  let v2: Seen;
  let v1s: { ntlm2: Seen; v1: Seen };
  const passed = new Set<string>();

  beforeAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    s = await startAuthServer({ host: HOST, port: 135 });
    try {
      await capture('start', dir, fileV2, `host ${HOST} and tcp port 135`);
      try {
        v2 = await session('v2');
      } finally {
        await capture('stop', dir);
      }
      await capture('start', dir, fileV1, `host ${HOST} and tcp port 135`);
      try {
        v1s = { ntlm2: await session('ntlm2'), v1: await session('v1') };
      } finally {
        await capture('stop', dir);
      }
    } finally {
      await s.stop();
    }
  }, 60_000);

  afterAll(() => {
    if (passed.size === 5) rmSync(dir, { recursive: true, force: true });
  });

  it('the client saw the answers (so the capture is of a working session)', () => {
    expect(v2).toMatchObject({ entries: 1, ports: [REGISTERED.port], mapPort: REGISTERED.port });
    expect(v2.who).toMatchObject({ user: 'alice', domain: 'LAB', level: LEVEL.privacy, ntlmFlavour: 'v2' });
    expect(v1s.ntlm2.who.ntlmFlavour).toBe('ntlm2');
    expect(v1s.v1.who.ntlmFlavour).toBe('v1');
    passed.add('client');
  });

  it('NTLMv2: every PDU in order, PKT_PRIVACY verifiers on the auth legs and on every request/response', () => {
    const pdus = tsharkPdus(fileV2);
    const B = 11, BA = 12, A3 = 16, AC = 14, ACR = 15, RQ = 0, RS = 2;
    expect(pdus.map((p) => [p.ptype, p.callId, p.authType ?? null, p.authLevel ?? null])).toEqual([
      [B, 1, 10, 6], [BA, 1, 10, 6], [A3, 1, 10, 6],
      [RQ, 2, 10, 6], [RS, 2, 10, 6],
      [RQ, 3, 10, 6], [RS, 3, 10, 6],
      [AC, 4, null, null], [ACR, 4, null, null],
      [RQ, 5, 10, 6], [RS, 5, 10, 6],
    ]);
    for (const p of pdus.filter((x) => x.ptype === RQ || x.ptype === RS)) expect(p.authLength).toBe(16);
    passed.add('pdus');
  });

  it('NTLMv2: with the password, tshark decrypts every stub and decodes ept_lookup/ept_map; the user is alice; nothing is malformed', () => {
    const rows = fields(fileV2, ['dcerpc.cn_call_id', 'dcerpc.pkt_type', 'epm.num_ents', 'epm.proto.tcp_port', 'epm.num_towers', 'epm.rc', 'dcerpc.decrypted_stub_data'],
      'dcerpc.pkt_type == 2', ALICE.password);
    const byCall = new Map(rows.map((r) => [Number(r[0]), r]));
    expect(byCall.get(2)?.slice(2, 6)).toEqual(['1', String(REGISTERED.port), '', '0x00000000']);
    expect(byCall.get(3)?.slice(2, 6)).toEqual(['', String(REGISTERED.port), '1', '0x00000000']);
    // WhoAmI: tshark has no dissector for it, but the decrypted stub is there, and it holds the JSON the client decoded.
    const whoStub = Buffer.from(byCall.get(5)![6]!.replace(/:/g, ''), 'hex');
    expect(whoStub.toString('utf16le')).toContain('"user":"alice"');
    // Every request and response was decrypted: the epm ones decode as epm (tshark then shows no separate
    // "decrypted stub data" item), the WhoAmI ones (no dissector) as decrypted stub data.
    expect(fields(fileV2, ['dcerpc.cn_call_id', 'dcerpc.pkt_type'], 'epm.opnum && (dcerpc.pkt_type == 0 || dcerpc.pkt_type == 2)', ALICE.password))
      .toEqual([['2', '0'], ['2', '2'], ['3', '0'], ['3', '2']]);
    expect(fields(fileV2, ['dcerpc.cn_call_id', 'dcerpc.pkt_type', 'dcerpc.decrypted_stub_data'], 'dcerpc.decrypted_stub_data', ALICE.password)
      .map((r) => [r[0], r[1], r[1] === '0' ? r[2] : 'response']))
      .toEqual([['5', '0', '07000000'], ['5', '2', 'response']]);
    // ept_lookup's request, decrypted: max_ents 500.
    expect(fields(fileV2, ['epm.max_ents'], 'epm.opnum == 2 && dcerpc.pkt_type == 0', ALICE.password)).toEqual([['500']]);
    const user = fields(fileV2, ['ntlmssp.auth.username', 'ntlmssp.auth.domain'], 'ntlmssp.messagetype == 3', ALICE.password);
    expect(user).toEqual([['alice', 'LAB']]);
    expect(expertWith(fileV2, ALICE.password)).toEqual({ malformed: 0, errors: [] });
    expect(tsharkExpert(fileV2)).toEqual({ malformed: 0, errors: [] });
    passed.add('decrypt');
  });

  it('without the password, or with a wrong one, tshark decodes none of it (the fields above come from decryption)', () => {
    for (const pw of [undefined, 'Secret2!']) {
      expect(fields(fileV2, ['epm.num_ents'], 'epm.num_ents', pw)).toEqual([]);
      expect(fields(fileV2, ['frame.number'], 'dcerpc.decrypted_stub_data', pw)).toEqual([]);
      expect(fields(fileV2, ['frame.number'], 'dcerpc.encrypted_stub_data', pw).length).toBe(6);
    }
    passed.add('control');
  });

  // Stream 0 is --ntlm ntlm2, stream 1 --ntlm v1. tshark 4.0 decrypts NTLMv1 only with extended session
  // security: without it, packet-ntlmssp.c derives the RC4 key when it sees the CHALLENGE (before the
  // AUTHENTICATE and its EncryptedRandomSessionKey) and never again, so with KEY_EXCH (which dcomlab, like
  // Windows, negotiates at PKT_PRIVACY) it has the wrong key. Impacket (auth-impacket.test.ts, v1-no-ess)
  // checks plain NTLMv1 sealing against dcomlab's server instead.
  it('NTLMv1 with ESS (ntlm2): tshark decrypts it with the password; plain NTLMv1: a well-formed handshake and sealed stubs', () => {
    const rows = fields(fileV1, ['tcp.stream', 'dcerpc.cn_call_id', 'epm.num_ents', 'epm.proto.tcp_port'], 'dcerpc.pkt_type == 2 && epm.num_ents', ALICE.password);
    expect(rows).toEqual([['0', '2', '1', String(REGISTERED.port)]]);
    expect(fields(fileV1, ['tcp.stream', 'dcerpc.decrypted_stub_data'], 'tcp.stream == 0 && dcerpc.decrypted_stub_data', ALICE.password)
      .map((r) => r[1]!.slice(0, 8))).toEqual(['07000000', '00000200']);
    // The AUTHENTICATE of each: user, a 24-byte NT response (NTLMv1), ESS on stream 0 only.
    const auth = fields(fileV1, ['tcp.stream', 'ntlmssp.auth.username', 'ntlmssp.auth.ntresponse', 'ntlmssp.negotiateflags'], 'ntlmssp.messagetype == 3', ALICE.password);
    expect(auth.map((r) => [r[0], r[1], r[2]!.replace(/:/g, '').length / 2, (parseInt(r[3]!, 16) & 0x80000) !== 0])).toEqual([
      ['0', 'alice', 24, true],
      ['1', 'alice', 24, false],
    ]);
    // Every request/response of both carries a sealed stub and a 16-byte verifier.
    expect(fields(fileV1, ['tcp.stream'], 'dcerpc.encrypted_stub_data').map((r) => r[0])).toEqual(['0', '0', '0', '0', '0', '0', '1', '1', '1', '1', '1', '1']);
    expect(expertWith(fileV1, ALICE.password)).toEqual({ malformed: 0, errors: [] });
    expect(tsharkExpert(fileV1)).toEqual({ malformed: 0, errors: [] });
    passed.add('v1');
  });

  it.runIf(!!process.env.DCOMLAB_AUTH_SESSION_OUT)('saves the NTLMv2 capture to $DCOMLAB_AUTH_SESSION_OUT', () => {
    expect(passed.size).toBe(5);
    copyFileSync(fileV2, path.resolve(process.env.DCOMLAB_AUTH_SESSION_OUT!));
  });
});
