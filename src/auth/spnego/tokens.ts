// SPNEGO tokens (RFC 4178 section 4.2, MS-SPNG 2.2):
//
//   InitialContextToken ::= [APPLICATION 0] IMPLICIT SEQUENCE { thisMech OID (1.3.6.1.5.5.2),
//                                                               innerContextToken NegotiationToken }
//   NegotiationToken ::= CHOICE { negTokenInit [0] NegTokenInit, negTokenResp [1] NegTokenResp }
//   NegTokenInit  ::= SEQUENCE { mechTypes [0] MechTypeList, reqFlags [1] ContextFlags OPTIONAL,
//                                mechToken [2] OCTET STRING OPTIONAL, mechListMIC [3] OCTET STRING OPTIONAL }
//   NegTokenInit2 (MS-SPNG 2.2.1) puts negHints at [3] and mechListMIC at [4].
//   NegTokenResp  ::= SEQUENCE { negState [0] ENUMERATED OPTIONAL, supportedMech [1] MechType OPTIONAL,
//                                responseToken [2] OCTET STRING OPTIONAL, mechListMIC [3] OCTET STRING OPTIONAL }
//
// The client's first token is the GSS-API InitialContextToken; later tokens, and every server
// token, are a bare NegotiationToken. The mechListMIC is computed over the DER MechTypeList
// (the SEQUENCE OF MechType, without the [0] around it), so decoding keeps its exact bytes.
import {
  children,
  decodeOid,
  decodeSmallInt,
  derContext,
  derEnumerated,
  derOctetString,
  derOid,
  DerError,
  derSequence,
  explicitInner,
  readTlv,
  TAG_BIT_STRING,
  TAG_ENUMERATED,
  TAG_OCTET_STRING,
  TAG_OID,
  TAG_SEQUENCE,
  tlv,
  application,
  context,
  type Tlv,
} from './der';

export const OID_SPNEGO = '1.3.6.1.5.5.2';
export const OID_NTLMSSP = '1.3.6.1.4.1.311.2.2.10';
/** Microsoft's Kerberos OID (the RC4-era typo of 1.2.840.113554). */
export const OID_MS_KRB5 = '1.2.840.48018.1.2.2';
export const OID_KRB5 = '1.2.840.113554.1.2.2';
export const OID_NEGOEX = '1.3.6.1.4.1.311.2.2.30';

export const MECH_NAMES: Readonly<Record<string, string>> = {
  [OID_NTLMSSP]: 'NTLMSSP',
  [OID_MS_KRB5]: 'MS KRB5',
  [OID_KRB5]: 'KRB5',
  [OID_NEGOEX]: 'NEGOEX',
};

/** negState (RFC 4178 4.2.2). */
export enum NegState {
  AcceptCompleted = 0,
  AcceptIncomplete = 1,
  Reject = 2,
  RequestMic = 3,
}

export interface NegTokenInit {
  kind: 'init';
  mechTypes: string[];
  /** The MechTypeList's DER bytes as received: the mechListMIC covers exactly these. */
  mechTypesDer: Buffer;
  /** reqFlags BIT STRING value bytes (unused-bits byte first), if present. */
  reqFlags?: Buffer;
  mechToken?: Buffer;
  mechListMIC?: Buffer;
  /** True when the token came in the GSS-API InitialContextToken wrapper. */
  gssWrapped: boolean;
}

export interface NegTokenResp {
  kind: 'resp';
  negState?: NegState;
  supportedMech?: string;
  responseToken?: Buffer;
  mechListMIC?: Buffer;
}

export type SpnegoToken = NegTokenInit | NegTokenResp;

/** True when `token` starts like a SPNEGO token (GSS wrapper, negTokenInit or negTokenResp). */
export function looksLikeSpnego(token: Uint8Array): boolean {
  return token.length > 0 && (token[0] === application(0) || token[0] === context(0) || token[0] === context(1));
}

/** Decode a SPNEGO token. Throws DerError (only) when it is not one. */
export function decodeSpnegoToken(token: Uint8Array): SpnegoToken {
  const buf = Buffer.from(token.buffer, token.byteOffset, token.length);
  const top = readTlv(buf, 0);
  if (top.tag === application(0)) {
    const parts = children(top);
    if (parts.length < 2) throw new DerError(top.valueStart, 'InitialContextToken needs thisMech and a token');
    const mech = parts[0]!;
    if (mech.tag !== TAG_OID) throw new DerError(mech.start, 'InitialContextToken: thisMech is not an OID');
    const oid = decodeOid(mech.value, mech.valueStart);
    if (oid !== OID_SPNEGO) throw new DerError(mech.start, `InitialContextToken for ${oid}, not SPNEGO`);
    const inner = parts[1]!;
    if (inner.tag !== context(0)) throw new DerError(inner.start, 'InitialContextToken does not hold a negTokenInit');
    return decodeNegTokenInit(inner, true);
  }
  if (top.tag === context(0)) return decodeNegTokenInit(top, false);
  if (top.tag === context(1)) return decodeNegTokenResp(top);
  throw new DerError(0, `not a SPNEGO token (tag 0x${top.tag.toString(16)})`);
}

function seqFields(wrapper: Tlv, what: string): Map<number, Tlv> {
  const seq = explicitInner(wrapper, what);
  if (seq.tag !== TAG_SEQUENCE) throw new DerError(seq.start, `${what}: expected a SEQUENCE`);
  const fields = new Map<number, Tlv>();
  for (const f of children(seq)) {
    if ((f.tag & 0xe0) !== 0xa0) throw new DerError(f.start, `${what}: unexpected tag 0x${f.tag.toString(16)}`);
    const n = f.tag & 0x1f;
    if (fields.has(n)) throw new DerError(f.start, `${what}: field [${n}] appears twice`);
    fields.set(n, f);
  }
  return fields;
}

function octets(f: Tlv, what: string): Buffer {
  const v = explicitInner(f, what);
  if (v.tag !== TAG_OCTET_STRING) throw new DerError(v.start, `${what}: expected an OCTET STRING`);
  return Buffer.from(v.value);
}

function decodeNegTokenInit(wrapper: Tlv, gssWrapped: boolean): NegTokenInit {
  const fields = seqFields(wrapper, 'negTokenInit');
  const mt = fields.get(0);
  if (!mt) throw new DerError(wrapper.start, 'negTokenInit without mechTypes');
  const list = explicitInner(mt, 'mechTypes');
  if (list.tag !== TAG_SEQUENCE) throw new DerError(list.start, 'mechTypes: expected a SEQUENCE OF OID');
  const mechTypes = children(list).map((o) => {
    if (o.tag !== TAG_OID) throw new DerError(o.start, 'mechTypes: element is not an OID');
    return decodeOid(o.value, o.valueStart);
  });
  const out: NegTokenInit = { kind: 'init', mechTypes, mechTypesDer: Buffer.from(list.raw), gssWrapped };
  const rf = fields.get(1);
  if (rf) {
    const b = explicitInner(rf, 'reqFlags');
    if (b.tag !== TAG_BIT_STRING) throw new DerError(b.start, 'reqFlags: expected a BIT STRING');
    out.reqFlags = Buffer.from(b.value);
  }
  const tok = fields.get(2);
  if (tok) out.mechToken = octets(tok, 'mechToken');
  // [3] is mechListMIC (RFC 4178) or negHints (NegTokenInit2, a SEQUENCE); [4] is NegTokenInit2's mechListMIC.
  const f3 = fields.get(3);
  if (f3 && explicitInner(f3, '[3]').tag === TAG_OCTET_STRING) out.mechListMIC = octets(f3, 'mechListMIC');
  const f4 = fields.get(4);
  if (f4) out.mechListMIC = octets(f4, 'mechListMIC');
  return out;
}

function decodeNegTokenResp(wrapper: Tlv): NegTokenResp {
  const fields = seqFields(wrapper, 'negTokenResp');
  const out: NegTokenResp = { kind: 'resp' };
  const st = fields.get(0);
  if (st) {
    const e = explicitInner(st, 'negState');
    if (e.tag !== TAG_ENUMERATED) throw new DerError(e.start, 'negState: expected ENUMERATED');
    const v = decodeSmallInt(e.value, e.valueStart);
    if (v > NegState.RequestMic) throw new DerError(e.start, `negState ${v} is not defined`);
    out.negState = v as NegState;
  }
  const sm = fields.get(1);
  if (sm) {
    const o = explicitInner(sm, 'supportedMech');
    if (o.tag !== TAG_OID) throw new DerError(o.start, 'supportedMech: expected an OID');
    out.supportedMech = decodeOid(o.value, o.valueStart);
  }
  const rt = fields.get(2);
  if (rt) out.responseToken = octets(rt, 'responseToken');
  const mic = fields.get(3);
  if (mic) out.mechListMIC = octets(mic, 'mechListMIC');
  return out;
}

/** The DER MechTypeList (SEQUENCE OF OID): what a mechListMIC is computed over. */
export function encodeMechTypeList(mechTypes: readonly string[]): Buffer {
  return derSequence(...mechTypes.map(derOid));
}

/** A client's first token: InitialContextToken around a negTokenInit. */
export function encodeNegTokenInit(t: { mechTypes: readonly string[]; mechToken?: Uint8Array; mechListMIC?: Uint8Array }): Buffer {
  const fields: Buffer[] = [derContext(0, encodeMechTypeList(t.mechTypes))];
  if (t.mechToken) fields.push(derContext(2, derOctetString(t.mechToken)));
  if (t.mechListMIC) fields.push(derContext(3, derOctetString(t.mechListMIC)));
  return tlv(application(0), derOid(OID_SPNEGO), derContext(0, derSequence(...fields)));
}

/** A negTokenResp (every server token, and the client's later ones). */
export function encodeNegTokenResp(t: Omit<NegTokenResp, 'kind'>): Buffer {
  const fields: Buffer[] = [];
  if (t.negState !== undefined) fields.push(derContext(0, derEnumerated(t.negState)));
  if (t.supportedMech !== undefined) fields.push(derContext(1, derOid(t.supportedMech)));
  if (t.responseToken) fields.push(derContext(2, derOctetString(t.responseToken)));
  if (t.mechListMIC) fields.push(derContext(3, derOctetString(t.mechListMIC)));
  return derContext(1, derSequence(...fields));
}
