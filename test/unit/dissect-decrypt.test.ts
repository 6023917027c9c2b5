// CaptureDecryptor (src/dissect/decrypt.ts): NTLMSSP-protected DCE/RPC decrypted and verified from
// what a capture holds plus a password.
//
// 1. scapy's dcerpc_privacy_ntlm capture (Windows, NTLMv2, KEY_EXCH, PKT_PRIVACY, user
//    DOMAIN\Administrator, password Password123! per ../shared/pcaps/README.md), read with the
//    dissector (dissectCapture): OpenSCManagerW's lpMachineName, decoded here by hand from the
//    decrypted stub per MS-SCMR 3.1.4.15's IDL, is "192.168.0.100"; the sealed EnumServicesStatusW
//    response's fragments reassemble to 33,592 bytes; every signature verifies, as many as tshark
//    counts sealed requests and responses; a wrong password makes the session "not decryptable"
//    with a reason, and nothing throws.
// 2. dcomlab's own client and server through a recording TCP proxy, at PKT_PRIVACY and
//    PKT_INTEGRITY: NTLMv2, NTLM2 and NTLMv1, raw NTLMSSP (WINNT) and SPNEGO, and the anonymous
//    logon. The recorded bytes, replayed through the decryptor, give back exactly the stubs the
//    client and the server sent.
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listProjectCaptures, listSharedCaptures, SHARED_PCAPS } from '../support/paths';
import { describeWithPeers } from '../support/peers';
import { tsharkPdus } from '../support/tshark';
import { ALICE, captureLogger, pattern, startAuthServer, WhoAmIIface, type AuthServer, type Who } from '../support/auth-lab';
import { dissectCapture, type PduRecord } from '../../src/dissect/dissect';
import { CaptureDecryptor, type DecryptCredentials, type UnprotectResult } from '../../src/dissect/decrypt';
import { decodePdu, DREP_LE, encodePdu, NDR20, PduFramer, StubReassembler, type AuthVerifier, type Pdu } from '../../src/pdu';
import { NTOWFv1 } from '../../src/auth/ntlm/keys';
import { NtlmAcceptor, NtlmInitiator } from '../../src/auth/ntlm';
import { CredentialStore } from '../../src/auth/credentials';
import type { SessionSecurity } from '../../src/auth/types';
import { encodeProtected } from '../../src/rpc/security';
import { bindInterface, RpcConnection } from '../../src/rpc';
import { clientAuthFrom } from '../../src/cli/auth-options';
import * as ndr from '../../src/ndr';

const SCAPY = path.join(SHARED_PCAPS, 'scapy', 'dcerpc_privacy_ntlm.pcapng.gz');
const PASSWORD = 'Password123!';
const SVCCTL = '367abb81-9844-35f1-ad32-98f038001003';

/** PDU types a client sends (C706 12.6.4): the dissector's direction 0. */
const dirOf = (ptype: number): 0 | 1 => ([0, 11, 14, 16, 18, 19].includes(ptype) ? 0 : 1);

interface Seen {
  rec: PduRecord;
  pdu: Pdu;
  result?: UnprotectResult;
}

async function decryptCapture(creds: DecryptCredentials[]): Promise<{ dec: CaptureDecryptor; seen: Seen[] }> {
  const dec = new CaptureDecryptor(creds);
  const seen: Seen[] = [];
  await dissectCapture(SCAPY, (rec, pdu, bytes) => {
    if (!pdu) return;
    const result = dec.process(rec.stream, dirOf(rec.ptype), bytes, pdu);
    // Keep copies: the stub of a signed-only PDU is a view of the dissector's buffer.
    const kept = result && 'stub' in result ? { stub: Buffer.from(result.stub), verified: result.verified } : result;
    seen.push({ rec, pdu: decodePdu(Buffer.from(bytes)), ...(kept ? { result: kept } : {}) });
  });
  return { dec, seen };
}

const plain = (s: Seen): Buffer => {
  const r = s.result;
  if (!r || !('stub' in r)) throw new Error(`frame ${s.rec.frame}: no plaintext (${r && 'error' in r ? r.error : 'not protected'})`);
  return r.stub;
};

describe('scapy dcerpc_privacy_ntlm with the known password', () => {
  let seen: Seen[];
  let dec: CaptureDecryptor;
  beforeAll(async () => {
    ({ dec, seen } = await decryptCapture([{ user: 'DOMAIN\\Administrator', password: PASSWORD }]));
  });

  it('finds the key: one NTLMv2 session of DOMAIN\\Administrator, decryptable, MIC valid', () => {
    const sessions = dec.sessions();
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({
      stream: 1, authContextId: 0, authType: 10, authLevel: 6, mechanism: 'NTLMSSP',
      user: 'Administrator', domain: 'DOMAIN', flavour: 'v2', status: 'decryptable', decryptable: true,
      credential: { index: 0, name: 'DOMAIN\\Administrator' }, micValid: true, headerSigning: true, signedRegion: 'whole-pdu',
    });
    expect(sessions[0]!.reason).toBeUndefined();
  });

  it("OpenSCManagerW's lpMachineName decrypts to \"192.168.0.100\"", () => {
    const open = seen.filter((s) => s.rec.ptype === 0 && s.rec.opnum === 15 && s.rec.interface?.uuid === SVCCTL);
    expect(open).toHaveLength(1);
    const stub = plain(open[0]!);
    // MS-SCMR 3.1.4.15: ROpenSCManagerW([in, string, unique] SVCCTL_HANDLEW lpMachineName, ...), where
    // SVCCTL_HANDLEW is wchar_t*: a unique pointer's referent id, then the conformant varying string
    // (NDR: max_count, offset, actual_count, then actual_count UTF-16 code units, the NUL included).
    const referent = stub.readUInt32LE(0);
    expect(referent).not.toBe(0);
    const maxCount = stub.readUInt32LE(4);
    const offset = stub.readUInt32LE(8);
    const actualCount = stub.readUInt32LE(12);
    expect(offset).toBe(0);
    expect(actualCount).toBeLessThanOrEqual(maxCount);
    const name = stub.subarray(16, 16 + actualCount * 2).toString('utf16le');
    expect(name).toBe('192.168.0.100\0');
    // Sealed on the wire: the name is not in the captured bytes.
    expect(open[0]!.pdu.ptype === 0 && open[0]!.pdu.stub.includes(Buffer.from('192.168.0.100', 'utf16le'))).toBe(false);
  });

  it('the multi-fragment EnumServicesStatusW response reassembles to 33,592 bytes', () => {
    const r = new StubReassembler<Seen>(1 << 20);
    const whole: Array<{ callId: number; size: number; fragments: number }> = [];
    for (const s of seen) {
      if (s.rec.ptype !== 2 || !s.result) continue;
      const done = r.push(s.rec.callId, s.rec.flags, plain(s), s);
      if (done) whole.push({ callId: s.rec.callId, size: done.stub.length, fragments: done.fragments });
    }
    const big = whole.filter((w) => w.fragments > 1);
    expect(big).toEqual([{ callId: 5, size: 33592, fragments: 6 }]);
    // The call is EnumServicesStatusW (MS-SCMR opnum 14).
    expect(seen.find((s) => s.rec.ptype === 0 && s.rec.callId === 5)!.rec.opnum).toBe(14);
  });

  it('every sealed request and response verifies; none fails', () => {
    const protectedPdus = seen.filter((s) => s.result);
    expect(protectedPdus.length).toBe(12);
    expect(protectedPdus.every((s) => s.result && 'verified' in s.result && s.result.verified)).toBe(true);
    expect(dec.sessions()[0]).toMatchObject({ verified: 12, failed: 0, undecrypted: 0 });
    // The fault (frame 16) has no verifier: not protected, nothing to say.
    expect(seen.find((s) => s.rec.ptype === 3)!.result).toBeUndefined();
  });

  it('an NT hash instead of the password, and a credential list with a wrong one first, find the same key', async () => {
    const { dec: d2, seen: s2 } = await decryptCapture([
      { user: 'Administrator', password: 'Password123?' },
      { ntHash: Buffer.from('0123456789abcdef0123456789abcdef', 'hex') },
      { domain: 'DOMAIN', user: 'administrator', ntHash: NTOWFv1(PASSWORD) },
    ]);
    expect(d2.sessions()[0]).toMatchObject({ status: 'decryptable', credential: { index: 2 }, verified: 12, failed: 0 });
    expect(s2.filter((s) => s.result).map((s) => plain(s))).toEqual(seen.filter((s) => s.result).map((s) => plain(s)));
  });
});

describe('scapy dcerpc_privacy_ntlm without the right password', () => {
  it('a wrong password: the session is not decryptable, with the reason (once, in its report); its sealed PDUs stay sealed; nothing throws', async () => {
    const { dec, seen } = await decryptCapture([{ password: 'Password123?' }, { user: 'DOMAIN\\Administrator', password: 'password123!' }]);
    const sessions = dec.sessions();
    expect(sessions).toHaveLength(1);
    for (const s of sessions) {
      expect(s.status).toBe('not-decryptable');
      expect(s.decryptable).toBe(false);
      expect(s.reason).toMatch(/^wrong password for DOMAIN\\Administrator \(v2 response matches none of the 2 credential\(s\) tried\)$/);
      expect(s).toMatchObject({ user: 'Administrator', domain: 'DOMAIN', flavour: 'v2', verified: 0, failed: 0, undecrypted: 12 });
      expect(s.credential).toBeUndefined();
    }
    // Each PDU then reads as if no key were given (the dissector shows it sealed): no per-PDU error
    // repeating the session's reason thousands of times in a large capture.
    expect(seen.filter((s) => s.result)).toEqual([]);
  });

  it('no credential for that user, or none at all: not decryptable, saying so', async () => {
    const other = await decryptCapture([{ user: 'OTHER\\bob', password: PASSWORD }]);
    expect(other.dec.sessions()[0]).toMatchObject({ status: 'not-decryptable', reason: 'no credential given for DOMAIN\\Administrator' });
    const none = await decryptCapture([]);
    expect(none.dec.sessions()[0]!.reason).toMatch(/^no password or NT hash given/);
  });

  it('secrets appear in no report', async () => {
    const { dec } = await decryptCapture([{ user: 'DOMAIN\\Administrator', password: PASSWORD }]);
    const text = JSON.stringify(dec.sessions());
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(NTOWFv1(PASSWORD).toString('hex'));
  });
});

describe('other shared captures: every session is reported, none decryptable without its password', () => {
  async function sessionsOf(file: string, creds: DecryptCredentials[]) {
    const log = captureLogger('debug');
    const dec = new CaptureDecryptor(creds, { logger: log.logger });
    await dissectCapture(path.join(SHARED_PCAPS, file), (rec, pdu, bytes) => {
      dec.process(rec.stream, dirOf(rec.ptype), bytes, pdu);
    });
    return { sessions: dec.sessions(), log };
  }

  it('suricata dcerpc-ctxids: one raw NTLM and two SPNEGO contexts of PURP\\Administrator, wrong password, logged as warnings', async () => {
    const { sessions, log } = await sessionsOf('suricata-verify/dcerpc-ctxids.pcap', [{ password: PASSWORD }]);
    expect(sessions.map((s) => [s.mechanism, s.authLevel, s.flavour, s.status])).toEqual([
      ['NTLMSSP', 5, 'v2', 'not-decryptable'],
      ['SPNEGO/NTLMSSP', 5, 'v2', 'not-decryptable'],
      ['SPNEGO/NTLMSSP', 5, 'v2', 'not-decryptable'],
    ]);
    for (const s of sessions) expect(s.reason).toMatch(/^wrong password for PURP\\Administrator/);
    const warnings = log.records().filter((r) => r.level === 40 && r.msg === 'decrypt: session not decryptable');
    expect(warnings).toHaveLength(3);
    expect(log.lines.join('\n')).not.toContain(PASSWORD);
  });

  it('Kerberos through SPNEGO, Netlogon, and a handshake without AUTHENTICATE: each says why', async () => {
    expect((await sessionsOf('zeek/kerberos135_auth.pcapng', [])).sessions).toMatchObject([
      { status: 'not-decryptable', reason: 'SPNEGO selected MS KRB5, not NTLMSSP' },
    ]);
    expect((await sessionsOf('zeek/dce_rpc_netlogon.pcapng', [])).sessions).toMatchObject([
      { status: 'not-decryptable', mechanism: 'netlogon', reason: expect.stringContaining('not NTLMSSP') },
    ]);
    expect((await sessionsOf('zeek/ntlm-empty-av-sequence.pcap', [])).sessions).toMatchObject([
      { status: 'pending', decryptable: false, reason: 'handshake incomplete: no AUTHENTICATE message seen' },
    ]);
  });
});

describeWithPeers(['tshark'], 'scapy capture: the verified count is what tshark counts as sealed', () => {
  it('sealed (auth_level 6) requests and responses per tshark = PDUs verified', async () => {
    const ts = tsharkPdus(SCAPY).filter((p) => p.authLevel === 6 && (p.ptype === 0 || p.ptype === 2));
    const { dec } = await decryptCapture([{ user: 'DOMAIN\\Administrator', password: PASSWORD }]);
    const verified = dec.sessions().reduce((n, s) => n + s.verified, 0);
    expect(ts.length).toBe(12);
    expect(verified).toBe(ts.length);
  });
});

describe('bad input never throws', () => {
  it('garbage, truncated PDUs, verifiers with no session, and a tampered sealed PDU', async () => {
    const dec = new CaptureDecryptor([{ password: PASSWORD }]);
    // Not a request/response/fault: nothing to unprotect. A request header over too few bytes: an error.
    expect(dec.process(0, 0, Buffer.from('not a pdu at all'))).toBeUndefined();
    expect(dec.process(0, 0, Buffer.alloc(3))).toEqual({ error: expect.stringContaining('does not decode') });
    const shortRequest = Buffer.from('05000003100000000001100001000000', 'hex');
    expect(dec.process(0, 0, shortRequest)).toEqual({ error: expect.stringContaining('does not decode') });
    const pdus: Array<{ rec: PduRecord; bytes: Buffer }> = [];
    await dissectCapture(SCAPY, (rec, _pdu, bytes) => pdus.push({ rec, bytes: Buffer.from(bytes) }));
    // Sealed PDUs without their handshake: one session, "handshake not in the capture".
    const late = new CaptureDecryptor([{ password: PASSWORD }]);
    for (const p of pdus.filter((x) => x.rec.ptype === 0 || x.rec.ptype === 2)) late.process(p.rec.stream, dirOf(p.rec.ptype), p.bytes);
    expect(late.sessions()).toMatchObject([{ status: 'not-decryptable', reason: 'the authentication handshake is not in the capture', undecrypted: 12 }]);
    // Tamper with one sealed byte of the second sealed request: that PDU fails, the others still verify.
    const tampered = new CaptureDecryptor([{ password: PASSWORD }]);
    let requests = 0;
    const verdicts: boolean[] = [];
    for (const p of pdus) {
      let bytes = p.bytes;
      if (p.rec.ptype === 0 && p.rec.authLevel === 6 && ++requests === 2) {
        bytes = Buffer.from(bytes);
        bytes[40]! ^= 0x01;
      }
      const r = tampered.process(p.rec.stream, dirOf(p.rec.ptype), bytes);
      if (r && 'verified' in r) verdicts.push(r.verified);
      // Truncations of every PDU: errors or nothing, never an exception.
      for (const n of [0, 10, 17, 24, bytes.length - 9]) expect(() => dec.process(p.rec.stream, 0, bytes.subarray(0, Math.max(0, n)))).not.toThrow();
    }
    expect(verdicts.filter((v) => !v)).toHaveLength(1);
    expect(tampered.sessions()[0]).toMatchObject({ verified: 11, failed: 1 });
  });
});

// ---------------------------------------------------------------------------------------------
// dcomlab's client and server through a recording proxy.

interface Chunk {
  dir: 0 | 1;
  data: Buffer;
}

/** A TCP proxy to `port` that records what each side sends, in the order it arrives. */
async function recordingProxy(port: number): Promise<{ port: number; log: Chunk[]; close(): Promise<void> }> {
  const log: Chunk[] = [];
  const socks: net.Socket[] = [];
  const srv = net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    socks.push(down, up);
    down.on('data', (d) => {
      log.push({ dir: 0, data: Buffer.from(d) });
      up.write(d);
    });
    up.on('data', (d) => {
      log.push({ dir: 1, data: Buffer.from(d) });
      down.write(d);
    });
    const end = () => {
      down.destroy();
      up.destroy();
    };
    down.on('close', end).on('error', end);
    up.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    port: (srv.address() as net.AddressInfo).port,
    log,
    close: () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        srv.close(() => r());
      }),
  };
}

interface Flow {
  auth: 'ntlm' | 'spnego';
  ntlm: 'v2' | 'ntlm2' | 'v1';
  level: 'privacy' | 'integrity';
  anonymous?: boolean;
}

const REVERSE_N = 9000; // several fragments each way at the 5840-byte default

interface Recorded {
  log: Chunk[];
  who: Who;
}

async function runFlow(s: AuthServer, f: Flow): Promise<Recorded> {
  const proxy = await recordingProxy(s.port);
  try {
    const conn = await RpcConnection.connect('127.0.0.1', proxy.port, {
      callTimeoutMs: 5000,
      auth: clientAuthFrom({
        authLevel: f.level, auth: f.auth, ntlm: f.ntlm,
        ...(f.anonymous ? { user: '' } : { user: `${ALICE.domain}\\${ALICE.user}`, password: ALICE.password }),
      }),
    });
    let who: Who;
    try {
      const c = await bindInterface(conn, WhoAmIIface);
      who = JSON.parse((await c.call(WhoAmIIface.ops.WhoAmI, { tag: 0x5eed })).who!) as Who;
      const back = await c.call(WhoAmIIface.ops.Reverse, { n: REVERSE_N, data: pattern(REVERSE_N) });
      expect(Buffer.from(back.data)).toEqual(Buffer.from(pattern(REVERSE_N)).reverse());
    } finally {
      await conn.close();
    }
    return { log: proxy.log, who };
  } finally {
    await proxy.close();
  }
}

interface Replayed {
  dec: CaptureDecryptor;
  /** Reassembled plaintext stubs: [requests, responses], in order. */
  stubs: [Buffer[], Buffer[]];
  protectedPdus: number;
  results: UnprotectResult[];
}

/** Frame each direction's bytes into PDUs and feed them to a decryptor, in the order recorded. */
function replay(log: Chunk[], creds: DecryptCredentials[]): Replayed {
  const dec = new CaptureDecryptor(creds);
  const stubs: [Buffer[], Buffer[]] = [[], []];
  const reassemble = [new StubReassembler<null>(1 << 20), new StubReassembler<null>(1 << 20)];
  const results: UnprotectResult[] = [];
  let protectedPdus = 0;
  const framers = ([0, 1] as const).map(
    (dir) =>
      new PduFramer<undefined>((bytes) => {
        const pdu = decodePdu(bytes);
        if ((pdu.ptype === 0 || pdu.ptype === 2) && pdu.auth && pdu.auth.level >= 3) protectedPdus++;
        const r = dec.process(0, dir, bytes, pdu);
        if (!r) return;
        results.push(r);
        if ('stub' in r) {
          const done = reassemble[dir]!.push(pdu.callId, pdu.flags, Buffer.from(r.stub), null);
          if (done) stubs[dir].push(done.stub);
        }
      }),
  );
  for (const c of log) framers[c.dir]!.push(c.data, undefined);
  return { dec, stubs, protectedPdus, results };
}

const FLOWS: Flow[] = [
  { auth: 'ntlm', ntlm: 'v2', level: 'privacy' },
  { auth: 'ntlm', ntlm: 'ntlm2', level: 'privacy' },
  { auth: 'ntlm', ntlm: 'v1', level: 'privacy' },
  { auth: 'spnego', ntlm: 'v2', level: 'privacy' },
  { auth: 'spnego', ntlm: 'ntlm2', level: 'privacy' },
  { auth: 'spnego', ntlm: 'v1', level: 'privacy' },
  { auth: 'ntlm', ntlm: 'v2', level: 'integrity' },
  { auth: 'spnego', ntlm: 'v1', level: 'integrity' },
  { auth: 'ntlm', ntlm: 'v2', level: 'privacy', anonymous: true },
  { auth: 'spnego', ntlm: 'v2', level: 'privacy', anonymous: true },
];

const flavourOf = (f: Flow) => (f.anonymous ? 'anonymous' : f.ntlm);

describe('dcomlab client and server through a recording proxy: the decryptor gives back what was sent', () => {
  let s: AuthServer;
  const recorded = new Map<Flow, Recorded>();
  beforeAll(async () => {
    s = await startAuthServer();
    for (const f of FLOWS) recorded.set(f, await runFlow(s, f));
  }, 60_000);
  afterAll(async () => {
    await s?.stop();
  });

  it.each(FLOWS)('$auth $ntlm at $level (anonymous: $anonymous)', (f) => {
    const rec = recorded.get(f)!;
    expect(rec.who).toMatchObject({ ntlmFlavour: flavourOf(f), anonymous: !!f.anonymous });
    const creds: DecryptCredentials[] = f.anonymous ? [] : [{ password: 'not-it' }, { user: `${ALICE.domain}\\${ALICE.user}`, password: ALICE.password }];
    const { dec, stubs, protectedPdus, results } = replay(rec.log, creds);

    const [session, ...more] = dec.sessions();
    expect(more).toEqual([]);
    expect(session).toMatchObject({
      authType: f.auth === 'ntlm' ? 10 : 9, authLevel: f.level === 'privacy' ? 6 : 5, flavour: flavourOf(f),
      status: 'decryptable', failed: 0, undecrypted: 0, headerSigning: true,
      signedRegion: f.ntlm === 'v1' && !f.anonymous ? 'stub' : 'whole-pdu',
      ...(f.anonymous ? { user: '' } : { user: ALICE.user, domain: ALICE.domain, credential: { index: 1, name: 'LAB\\alice' } }),
    });
    if (f.auth === 'spnego') expect(session!.mechListMic).toEqual({ client: true, server: true });
    // Every protected PDU (several fragments each way for Reverse) verified.
    expect(protectedPdus).toBeGreaterThanOrEqual(6);
    expect(session!.verified).toBe(protectedPdus);
    expect(results.every((r) => 'verified' in r && r.verified)).toBe(true);

    // The stubs, as the client and the server encoded them.
    const [requests, responses] = stubs;
    expect(requests).toEqual([
      ndr.encodeParams(WhoAmIIface.ops.WhoAmI.in, { tag: 0x5eed }),
      ndr.encodeParams(WhoAmIIface.ops.Reverse.in, { n: REVERSE_N, data: pattern(REVERSE_N) }),
    ]);
    expect(responses).toHaveLength(2);
    const who = ndr.decodeParams(WhoAmIIface.ops.WhoAmI.out, responses[0]!);
    expect(JSON.parse(who.who!)).toEqual(rec.who);
    expect(responses[1]).toEqual(
      ndr.encodeParams(WhoAmIIface.ops.Reverse.out, { n: REVERSE_N, data: Buffer.from(pattern(REVERSE_N)).reverse(), status: 0 }),
    );
  });

  it.each(FLOWS.filter((f) => !f.anonymous))('$auth $ntlm at $level with a wrong password: not decryptable, no plaintext', (f) => {
    const { dec, results, protectedPdus } = replay(recorded.get(f)!.log, [{ user: 'alice', password: 'Secret1?' }]);
    expect(dec.sessions()).toMatchObject([
      { status: 'not-decryptable', reason: expect.stringMatching(/^wrong password for LAB\\alice/), undecrypted: protectedPdus, verified: 0 },
    ]);
    expect(results.every((r) => 'error' in r)).toBe(true);
  });
});

describe('a peer that signs only the stub and its padding even with extended session security', () => {
  it('the decryptor finds which region the signatures cover, and says so', () => {
    const ini = new NtlmInitiator({ user: 'alice', domain: 'LAB', password: 'pw-1' }, 6);
    const acc = new NtlmAcceptor(new CredentialStore({ accounts: [{ user: 'alice', domain: 'LAB', password: 'pw-1' }] }));
    const negotiate = ini.start();
    const challenge = acc.accept(negotiate).token!;
    const authenticate = ini.step(challenge).token!;
    acc.accept(authenticate);
    const verifier = (value: Buffer): AuthVerifier => ({ type: 10, level: 6, padLength: 0, reserved: 0, contextId: 7, value });
    const common = { rpcVersMinor: 0, flags: 3, drep: DREP_LE } as const;
    const stubOnly = (s: SessionSecurity): SessionSecurity => ({
      signatureLength: s.signatureLength,
      signsWholePdu: false,
      sign: (d) => s.sign(d),
      verify: (d, g) => s.verify(d, g),
      seal: (p, d) => s.seal(p, d),
      unseal: (a, b, c) => s.unseal(a, b, c),
    });
    const client = { type: 10, level: 6, contextId: 7, session: stubOnly(ini.session()) };
    const server = { type: 10, level: 6, contextId: 7, session: stubOnly(acc.session()) };
    const stubs = [Buffer.from('first request, 27 bytes....'), Buffer.from('a response'), Buffer.from('second request'), pattern(100)];
    const pdus = [
      encodePdu({
        ptype: 11, ...common, flags: 7, callId: 1, maxXmitFrag: 5840, maxRecvFrag: 5840, assocGroupId: 0,
        contexts: [{ ctxId: 0, abstractSyntax: { uuid: '12345678-1234-4234-9234-123456789abc', version: 1 }, transferSyntaxes: [{ ...NDR20 }] }],
        auth: verifier(negotiate),
      }),
      encodePdu({
        ptype: 12, ...common, flags: 7, callId: 1, maxXmitFrag: 5840, maxRecvFrag: 5840, assocGroupId: 0x1234, secAddr: '49700',
        results: [{ result: 0, reason: 0, transferSyntax: { ...NDR20 } }], auth: verifier(challenge),
      }),
      encodePdu({ ptype: 16, ...common, callId: 1, body: Buffer.alloc(4), auth: verifier(authenticate) }),
      encodeProtected({ ptype: 0, ...common, callId: 2, allocHint: 27, ctxId: 0, opnum: 1, stub: stubs[0]! }, client),
      encodeProtected({ ptype: 2, ...common, callId: 2, allocHint: 10, ctxId: 0, cancelCount: 0, reserved: 0, stub: stubs[1]! }, server),
      encodeProtected({ ptype: 0, ...common, callId: 3, allocHint: 14, ctxId: 0, opnum: 1, stub: stubs[2]! }, client),
      encodeProtected({ ptype: 2, ...common, callId: 3, allocHint: 100, ctxId: 0, cancelCount: 0, reserved: 0, stub: stubs[3]! }, server),
    ];
    const dec = new CaptureDecryptor([{ user: 'LAB\\alice', password: 'pw-1' }]);
    const out = pdus.map((b) => dec.process(3, b[2] === 0 || b[2] === 11 || b[2] === 16 ? 0 : 1, b)).filter((r) => r !== undefined);
    expect(out).toEqual(stubs.map((stub) => ({ stub, verified: true })));
    expect(dec.sessions()).toMatchObject([
      { stream: 3, authContextId: 7, flavour: 'v2', status: 'decryptable', headerSigning: true, signedRegion: 'stub', verified: 4, failed: 0 },
    ]);
  });
});

describe('reports as sessions end (onSessionEnd)', () => {
  /** The decryptor's reports over one capture, kept (sessions()) or handed out as streams end. */
  async function reports(file: string, streaming: boolean) {
    const ended: Array<{ stream: number; closing: number | undefined }> = [];
    const out: unknown[] = [];
    let closing: number | undefined;
    const d = new CaptureDecryptor([{ password: PASSWORD }], streaming ? { onSessionEnd: (r) => { out.push(r); ended.push({ stream: r.stream, closing }); } } : {});
    await dissectCapture(file, () => undefined, {
      decodePdus: false, decodeStubs: true,
      unprotectBytes: (s, dir, b) => d.unprotect(s, dir, b),
      onAuthPdu: (s, dir, b, p) => d.observe(s, dir, b, p),
      onStreamClose: (s) => {
        closing = s;
        d.endStream(s);
        closing = undefined;
      },
    });
    d.finish();
    return { reports: streaming ? out : d.sessions(), kept: d.sessions(), ended };
  }

  it('the same reports as sessions() gives, every capture: each handed out once its stream ends, then forgotten', async () => {
    let total = 0;
    for (const f of [...listSharedCaptures(), ...listProjectCaptures()]) {
      const kept = await reports(f, false);
      const streamed = await reports(f, true);
      const key = (r: unknown) => JSON.stringify(r);
      expect(streamed.reports.map(key).sort(), f).toEqual(kept.reports.map(key).sort());
      expect(streamed.kept).toEqual([]);
      // Within a stream, in the order they started (the order sessions() keeps).
      const order = (rs: unknown[]) => (rs as Array<{ stream: number; authContextId: number }>).map((r) => `${r.stream}/${r.authContextId}`);
      const byStream = (rs: string[], s: number) => rs.filter((k) => k.startsWith(`${s}/`));
      for (const s of new Set(streamed.ended.map((e) => e.stream))) expect(byStream(order(streamed.reports), s)).toEqual(byStream(order(kept.reports), s));
      // Handed out while its own stream closes (none waits for the end of the file here).
      for (const e of streamed.ended) expect(e.closing).toBe(e.stream);
      total += streamed.reports.length;
    }
    expect(total).toBeGreaterThan(10);
  });
});
