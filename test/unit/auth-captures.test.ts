// Real NTLMSSP and SPNEGO tokens from the shared captures, taken out of the DCE/RPC auth
// verifiers by the project's dissector and decoded here; every decoded field is compared with
// tshark's dissection of the same frame. Then, on scapy's PKT_PRIVACY capture (Windows,
// known password), the acceptor's verification logic checks the client's NTLMv2 response and
// MIC, derives the exported session key (tshark derives the same), and the NTLM session
// unseals and verifies every request and response.
//
// Also from the SPNEGO captures (Windows 10 client, Windows Server 2016 DC): the mechListMICs
// carry SeqNum 0 in both directions, and the first signed PDU of each SPNEGO context carries
// SeqNum 1, while a raw NTLM context on the same connection starts at 0 -- the sequence
// numbering SpnegoInitiator/SpnegoAcceptor implement.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SHARED_PCAPS } from '../support/paths';
import { describeWithPeers } from '../support/peers';
import { runTshark } from '../support/tshark';
import { dissectCapture, type PduRecord } from '../../src/dissect/dissect';
import type { Pdu } from '../../src/pdu';
import { NTOWFv1 } from '../../src/auth/ntlm/keys';
import {
  decodeAuthenticate,
  decodeChallenge,
  decodeNegotiate,
  ntlmMessageType,
  NtlmMessageType,
} from '../../src/auth/ntlm/messages';
import { NtlmSecurityContext } from '../../src/auth/ntlm/seal';
import { NtlmSessionSecurity } from '../../src/auth/ntlm/session';
import { verifyAuthenticate } from '../../src/auth/ntlm/verify';
import { decodeSpnegoToken, NegState, OID_NTLMSSP, type SpnegoToken } from '../../src/auth/spnego/tokens';
import { CredentialStore } from '../../src/auth/credentials';
import { SpnegoAcceptor } from '../../src/auth/spnego/acceptor';

const ZEEK = path.join(SHARED_PCAPS, 'zeek', 'dce_rpc_ntlm.pcapng');
const SURICATA = path.join(SHARED_PCAPS, 'suricata-verify', 'dcerpc-ctxids.pcap');
const SCAPY = path.join(SHARED_PCAPS, 'scapy', 'dcerpc_privacy_ntlm.pcapng.gz');
const PASSWORD = 'Password123!';

/** `tshark -T fields` rows for DCE/RPC frames carrying NTLMSSP or SPNEGO, by frame number. */
function tshark(file: string, fields: string[], opts: { prefs?: string[]; occurrence?: 'f' | 'a' } = {}): Map<number, Record<string, string>> {
  const out = runTshark([
    '-r', file, ...(opts.prefs ?? []), '-Y', 'dcerpc && (ntlmssp || spnego)', '-T', 'fields', '-E', 'separator=/t',
    '-E', `occurrence=${opts.occurrence ?? 'f'}`, '-e', 'frame.number', ...fields.flatMap((f) => ['-e', f]),
  ]);
  const rows = new Map<number, Record<string, string>>();
  for (const line of out.split('\n')) {
    if (!line.trim()) continue;
    const cols = line.split('\t');
    const rec: Record<string, string> = {};
    fields.forEach((f, i) => {
      if (cols[i + 1]) rec[f] = cols[i + 1]!;
    });
    rows.set(Number(cols[0]), rec);
  }
  return rows;
}

interface Captured {
  r: PduRecord;
  pdu: Pdu;
  bytes: Buffer;
  /** Where the stub starts in `bytes` (requests and responses). */
  stubOffset: number;
}

async function capture(file: string): Promise<Captured[]> {
  const out: Captured[] = [];
  await dissectCapture(file, (r, pdu, bytes) => {
    if (!pdu) return;
    const stubOffset = 'stub' in pdu && pdu.stub ? pdu.stub.byteOffset - bytes.byteOffset : -1;
    out.push({ r, pdu, bytes: Buffer.from(bytes), stubOffset });
  });
  return out;
}

/** The NTLM message and SPNEGO wrapper in an auth value (auth type 9 or 10). */
function tokens(authType: number, value: Buffer): { spnego?: SpnegoToken; ntlm?: Buffer } {
  if (authType === 10) return ntlmMessageType(value) !== undefined ? { ntlm: value } : {};
  if (authType !== 9 || ntlmMessageType(value) !== undefined) return { ntlm: value };
  if (value.length === 16 && value.readUInt32LE(0) === 1) return {}; // an NTLM signature
  const spnego = decodeSpnegoToken(value);
  const inner = spnego.kind === 'init' ? spnego.mechToken : spnego.responseToken;
  return inner && ntlmMessageType(inner) !== undefined ? { spnego, ntlm: inner } : { spnego };
}

const hex32 = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
const orNull = (s: string) => (s === '' ? 'NULL' : s);

/** What this project decodes, in tshark's field names and formats. */
function ourFields(c: Captured): Record<string, string> {
  const out: Record<string, string> = {};
  const v = c.pdu.auth!;
  const t = tokens(v.type, v.value);
  if (t.spnego?.kind === 'resp') {
    if (t.spnego.negState !== undefined) out['spnego.negResult'] = String(t.spnego.negState);
    if (t.spnego.supportedMech) out['spnego.supportedMech'] = t.spnego.supportedMech;
    if (t.spnego.mechListMIC) out['spnego.mechListMIC'] = t.spnego.mechListMIC.toString('hex');
  }
  if (t.spnego?.kind === 'init') out['spnego.MechType'] = t.spnego.mechTypes[0]!;
  if (t.ntlm) {
    const type = ntlmMessageType(t.ntlm)!;
    out['ntlmssp.messagetype'] = hex32(type);
    if (type === NtlmMessageType.Negotiate) {
      out['ntlmssp.negotiateflags'] = hex32(decodeNegotiate(t.ntlm).flags);
    } else if (type === NtlmMessageType.Challenge) {
      const ch = decodeChallenge(t.ntlm);
      out['ntlmssp.negotiateflags'] = hex32(ch.flags);
      out['ntlmssp.ntlmserverchallenge'] = ch.serverChallenge.toString('hex');
      out['ntlmssp.challenge.target_name'] = orNull(ch.targetName);
    } else if (type === NtlmMessageType.Authenticate) {
      const a = decodeAuthenticate(t.ntlm);
      out['ntlmssp.negotiateflags'] = hex32(a.flags);
      out['ntlmssp.auth.username'] = orNull(a.userName);
      out['ntlmssp.auth.domain'] = orNull(a.domainName);
      out['ntlmssp.auth.hostname'] = orNull(a.workstation);
      if (a.ntChallengeResponse.length > 24) out['ntlmssp.ntlmv2_response.ntproofstr'] = a.ntChallengeResponse.subarray(0, 16).toString('hex');
      if (a.mic) out['ntlmssp.authenticate.mic'] = a.mic.toString('hex');
    }
  }
  return out;
}

const FIELDS = [
  'ntlmssp.messagetype',
  'ntlmssp.negotiateflags',
  'ntlmssp.ntlmserverchallenge',
  'ntlmssp.challenge.target_name',
  'ntlmssp.auth.username',
  'ntlmssp.auth.domain',
  'ntlmssp.auth.hostname',
  'ntlmssp.ntlmv2_response.ntproofstr',
  'ntlmssp.authenticate.mic',
  'spnego.negResult',
  'spnego.supportedMech',
  'spnego.mechListMIC',
  'spnego.MechType',
];

const CAPTURES = [
  { file: ZEEK, name: 'zeek dce_rpc_ntlm (SPNEGO/NTLM in bind/alter_context)', users: ['BLACKCLOVER\\Administrator'], ntlmMessages: 3 },
  { file: SURICATA, name: 'suricata dcerpc-ctxids (SPNEGO/NTLM at PKT_INTEGRITY)', users: ['PURP\\Administrator'], ntlmMessages: 9 },
  { file: SCAPY, name: 'scapy dcerpc_privacy_ntlm (NTLM at PKT_PRIVACY)', users: ['DOMAIN\\Administrator'], ntlmMessages: 3 },
];

describe.each(CAPTURES)('$name', ({ file, users, ntlmMessages }) => {
  it('every auth token decodes', async () => {
    const pdus = await capture(file);
    let ntlm = 0;
    const seen = new Set<string>();
    for (const c of pdus) {
      if (!c.pdu.auth || c.pdu.auth.value.length === 0) continue;
      const t = tokens(c.pdu.auth.type, c.pdu.auth.value);
      if (!t.ntlm) continue;
      ntlm++;
      if (ntlmMessageType(t.ntlm) === NtlmMessageType.Authenticate) {
        const a = decodeAuthenticate(t.ntlm);
        seen.add(`${a.domainName}\\${a.userName}`);
      }
    }
    expect(ntlm).toBe(ntlmMessages);
    expect([...seen]).toEqual(users);
  });
});

describe('SPNEGO sequence numbers in Windows traffic', () => {
  it('mechListMICs use SeqNum 0; the first signed PDU after SPNEGO uses 1 (raw NTLM starts at 0)', async () => {
    const pdus = await capture(SURICATA);
    const contexts = new Map<string, { type: number; requests: number[]; responses: number[]; mics: number[] }>();
    for (const c of pdus) {
      const v = c.pdu.auth;
      if (!v || v.level < 5) continue;
      const key = `${c.r.stream}/${v.contextId}`;
      let ctx = contexts.get(key);
      if (c.pdu.ptype === 11 || c.pdu.ptype === 14) {
        if (!ctx || ntlmMessageType(tokens(v.type, v.value).ntlm ?? Buffer.alloc(0)) === NtlmMessageType.Negotiate) {
          ctx = { type: v.type, requests: [], responses: [], mics: [] };
          contexts.set(key, ctx);
        }
      }
      if (!ctx) continue;
      if (v.type === 9 && v.value.length > 16) {
        const t = tokens(9, v.value);
        if (t.spnego?.kind === 'resp' && t.spnego.mechListMIC) ctx.mics.push(t.spnego.mechListMIC.readUInt32LE(12));
      }
      if (v.value.length === 16 && v.value.readUInt32LE(0) === 1) {
        if (c.pdu.ptype === 0) ctx.requests.push(v.value.readUInt32LE(12));
        if (c.pdu.ptype === 2) ctx.responses.push(v.value.readUInt32LE(12));
      }
    }
    const spnego = [...contexts.values()].filter((c) => c.type === 9 && c.requests.length > 0);
    const raw = [...contexts.values()].filter((c) => c.type === 10 && c.requests.length > 0);
    expect(spnego.length).toBe(2);
    expect(raw.length).toBe(1);
    expect(spnego.map((c) => c.requests.length)).toEqual([109, 104]);
    for (const c of spnego) {
      expect(c.mics).toEqual([0, 0]); // client's, then server's
      expect(c.requests).toEqual(c.requests.map((_, i) => i + 1));
      expect(c.responses).toEqual(c.responses.map((_, i) => i + 1));
    }
    for (const c of raw) {
      expect(c.requests).toEqual(c.requests.map((_, i) => i));
    }
  });

  it('a Windows client offering Kerberos first gets the answer Windows gave (request-mic, supportedMech NTLMSSP)', async () => {
    const pdus = await capture(SURICATA);
    const first = pdus.find((c) => c.pdu.auth?.type === 9 && c.pdu.ptype === 11)!;
    const reply = pdus.find((c) => c.r.frame > first.r.frame && c.pdu.ptype === 12 && c.r.stream === first.r.stream)!;
    const init = decodeSpnegoToken(first.pdu.auth!.value);
    expect(init.kind === 'init' && init.mechTypes.at(-1)).toBe(OID_NTLMSSP);
    const acc = new SpnegoAcceptor(new CredentialStore({ accounts: [] }));
    const ours = acc.accept(first.pdu.auth!.value);
    expect(ours.token).toEqual(reply.pdu.auth!.value); // byte for byte
    expect(decodeSpnegoToken(ours.token!)).toMatchObject({ negState: NegState.RequestMic, supportedMech: OID_NTLMSSP });
    // The client's next token (the NTLM NEGOTIATE) gets a CHALLENGE.
    const next = pdus.find((c) => c.r.frame > reply.r.frame && c.pdu.ptype === 14 && c.r.stream === first.r.stream)!;
    const r = acc.accept(next.pdu.auth!.value);
    const resp = decodeSpnegoToken(r.token!);
    expect(resp.kind === 'resp' && resp.negState).toBe(NegState.AcceptIncomplete);
    expect(resp.kind === 'resp' && ntlmMessageType(resp.responseToken!)).toBe(NtlmMessageType.Challenge);
  });
});

/** The NEGOTIATE, CHALLENGE and AUTHENTICATE of the scapy capture, and all its PDUs. */
async function scapyHandshake() {
  const pdus = await capture(SCAPY);
  const find = (t: number) => pdus.find((c) => c.pdu.auth && ntlmMessageType(c.pdu.auth.value) === t)!;
  const neg = find(1);
  const chal = find(2);
  const auth = find(3);
  return { pdus, negotiate: neg.pdu.auth!.value, challenge: chal.pdu.auth!.value, authenticate: auth.pdu.auth!.value, authRec: auth.r };
}

describe('scapy PKT_PRIVACY capture: verification and decryption with the known password', () => {

  it("the acceptor's verification accepts Password123! (NTLMv2 and MIC) and rejects a wrong password", async () => {
    const h = await scapyHandshake();
    const ok = verifyAuthenticate({ negotiate: h.negotiate, challenge: h.challenge, authenticate: h.authenticate, ntHash: NTOWFv1(PASSWORD) });
    expect(ok.ok).toBe(true);
    expect(ok.flavour).toBe('v2');
    expect(ok.micPresent).toBe(true);
    expect(ok.micValid).toBe(true);
    expect(ok.userDomUsed).toBe('DOMAIN');
    expect(ok.exportedSessionKey!.toString('hex')).toBe('31b3b998169b7892c3197a3eba307f9c');
    const bad = verifyAuthenticate({ negotiate: h.negotiate, challenge: h.challenge, authenticate: h.authenticate, ntHash: NTOWFv1('Password123?') });
    expect(bad.ok).toBe(false);
    expect(bad.reason).toBe('NTLMv2 response does not match');
    expect(bad.exportedSessionKey).toBeUndefined();
  });

  it('an NTOWFv2 cache (a decryptor trying one account on many sessions) gives the same answers, keyed by user and domain', async () => {
    const h = await scapyHandshake();
    const ntHash = NTOWFv1(PASSWORD);
    const cache = new Map<string, Buffer>();
    const first = verifyAuthenticate({ negotiate: h.negotiate, challenge: h.challenge, authenticate: h.authenticate, ntHash, ntowfv2Cache: cache });
    expect(first.ok).toBe(true);
    expect(cache.size).toBe(1);
    const again = verifyAuthenticate({ negotiate: h.negotiate, challenge: h.challenge, authenticate: h.authenticate, ntHash, ntowfv2Cache: cache });
    expect(again.exportedSessionKey!.toString('hex')).toBe('31b3b998169b7892c3197a3eba307f9c');
    // An entry for the NIL domain is another key: it does not stand in for DOMAIN's.
    const nilOnly = new Map([[`ADMINISTRATOR\u0000`, Buffer.alloc(16, 7)]]);
    expect(verifyAuthenticate({ challenge: h.challenge, authenticate: h.authenticate, ntHash, ntowfv2Cache: nilOnly }).ok).toBe(true);
    // The cache is what is used: a wrong entry for the account makes the right password fail.
    const wrong = new Map([[`ADMINISTRATOR\u0000DOMAIN`, Buffer.alloc(16, 7)]]);
    const r = verifyAuthenticate({ challenge: h.challenge, authenticate: h.authenticate, ntHash, ntowfv2Cache: wrong });
    expect(r.ok).toBe(false);
  });

  it('the NTLM session unseals every request and response, signatures verifying', async () => {
    const h = await scapyHandshake();
    const v = verifyAuthenticate({ negotiate: h.negotiate, challenge: h.challenge, authenticate: h.authenticate, ntHash: NTOWFv1(PASSWORD) });
    const server = new NtlmSessionSecurity(new NtlmSecurityContext({ flags: v.flags, exportedSessionKey: v.exportedSessionKey!, role: 'server' }));
    const client = new NtlmSessionSecurity(new NtlmSecurityContext({ flags: v.flags, exportedSessionKey: v.exportedSessionKey!, role: 'client' }));
    expect(server.signsWholePdu).toBe(true);
    const sealed = h.pdus.filter((c) => c.r.stream === h.authRec.stream && c.r.frame > h.authRec.frame && (c.pdu.ptype === 0 || c.pdu.ptype === 2) && c.pdu.auth);
    expect(sealed.length).toBe(12);
    const requests: Buffer[] = [];
    const responseStubs = new Map<number, Buffer[]>();
    for (const c of sealed) {
      const p = c.pdu as Extract<Pdu, { ptype: 0 | 2 }>;
      const v2 = p.auth!;
      const authValueOffset = c.bytes.length - v2.value.length;
      const regionEnd = authValueOffset - 8;
      const stubOffset = c.stubOffset;
      expect(stubOffset).toBeGreaterThanOrEqual(24);
      const region = c.bytes.subarray(stubOffset, regionEnd);
      const session = p.ptype === 0 ? server : client;
      const { plaintext, ok } = session.unseal(region, v2.value, (plain) => {
        const pduBytes = Buffer.from(c.bytes.subarray(0, authValueOffset));
        plain.copy(pduBytes, stubOffset);
        return pduBytes;
      });
      expect(ok, `frame ${c.r.frame}`).toBe(true);
      const stub = plaintext.subarray(0, plaintext.length - v2.padLength);
      if (p.ptype === 0) requests.push(stub);
      else responseStubs.set(p.callId, [...(responseStubs.get(p.callId) ?? []), stub]);
    }
    // OpenSCManagerW's MachineName (scapy's own test of this file): "192.168.0.100".
    expect(requests.some((s) => s.includes(Buffer.from('192.168.0.100', 'utf16le')))).toBe(true);
    // The multi-fragment EnumServicesStatusW response reassembles to 33,592 bytes of stub.
    const sizes = [...responseStubs.values()].map((parts) => Buffer.concat(parts).length);
    expect(sizes).toContain(33592);
  });
});

// tshark as the oracle (CI=true: fails without tshark; elsewhere skipped with a warning).
describeWithPeers(['tshark'], 'auth tokens against tshark', () => {
  it.each(CAPTURES)("$name: decoded fields equal tshark's", async ({ file }) => {
    const pdus = await capture(file);
    const ts = tshark(file, FIELDS);
    let compared = 0;
    for (const c of pdus) {
      if (!c.pdu.auth || c.pdu.auth.value.length <= 16) continue;
      const ours = ourFields(c);
      if (Object.keys(ours).length === 0) continue;
      const theirs = ts.get(c.r.frame);
      expect(theirs, `frame ${c.r.frame}`).toBeDefined();
      for (const [k, v] of Object.entries(ours)) {
        expect(`${c.r.frame} ${k}=${theirs![k]}`).toBe(`${c.r.frame} ${k}=${v}`);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(10);
    // And no frame tshark saw NTLMSSP or SPNEGO in was missed.
    const ourFrames = new Set(pdus.filter((c) => c.pdu.auth && c.pdu.auth.value.length > 16).map((c) => c.r.frame));
    for (const [frame, rec] of ts) if (rec['ntlmssp.messagetype'] || rec['spnego.negResult']) expect(ourFrames.has(frame), `frame ${frame}`).toBe(true);
  });

  it('scapy capture: tshark derives the same exported session key and session base key', async () => {
    const h = await scapyHandshake();
    // tshark reports the keys it derives as expert info: "NTLMSSP SessionKey (<hex>)".
    const ts = tshark(SCAPY, ['_ws.expert.message'], { prefs: ['-o', `ntlmssp.nt_password:${PASSWORD}`], occurrence: 'a' });
    const expert = ts.get(h.authRec.frame)!['_ws.expert.message']!;
    const m = /NTLMSSP SessionKey \(([0-9a-f]{32})\)/.exec(expert);
    expect(m, expert).not.toBeNull();
    const key = verifyAuthenticate({ challenge: h.challenge, authenticate: h.authenticate, ntHash: NTOWFv1(PASSWORD) }).exportedSessionKey!;
    expect(m![1]).toBe(key.toString('hex'));
    // ... and the NTLMv2 SessionBaseKey.
    const base = verifyAuthenticate({ challenge: h.challenge, authenticate: h.authenticate, ntHash: NTOWFv1(PASSWORD) }).sessionBaseKey!;
    expect(expert).toContain(`NTLMv2 BaseSessionKey (${base.toString('hex')})`);
  });
});
