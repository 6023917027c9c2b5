#!/usr/bin/python3
"""An NTLM-in-SPNEGO (RPC_C_AUTHN_GSS_NEGOTIATE, auth type 9) DCE/RPC client over a plain socket.

Impacket 0.10 cannot be this client: its DCERPC_v5 sends a Kerberos token for RPC_C_AUTHN_GSS_NEGOTIATE
(kerberosv5.getKerberosType1 in rpcrt.py bind). This script builds the same exchange Windows runs, from
Impacket's pieces: spnego.SPNEGO_NegTokenInit / SPNEGO_NegTokenResp and asn1encode for the tokens,
ntlm.getNTLMSSPType1 / getNTLMSSPType3 / SIGNKEY / SEALKEY / SIGN / SEAL for NTLM, rpcrt's MSRPCHeader,
MSRPCBind, CtxItem, SEC_TRAILER, MSRPCBindAck and MSRPCRequestHeader for the PDUs, epm.ept_lookup for the stub.

  bind           ctx 0 = epm v3, auth 9/LEVEL: negTokenInit { mechTypes [NTLMSSP], mechToken NEGOTIATE }
  bind_ack       negTokenResp { accept-incomplete, supportedMech NTLMSSP, responseToken CHALLENGE }
  alter_context  ctx 0 again: negTokenResp { responseToken AUTHENTICATE, mechListMIC }   (--no-mic: without it)
  alter_ctx_resp negTokenResp { accept-completed, mechListMIC }: the server's MIC is checked when present
  --krb5-first: mechTypes [MS KRB5, KRB5, NTLMSSP] with a non-NTLM optimistic token, as Windows offers
  them: the server answers negTokenResp { request-mic, supportedMech NTLMSSP } without a token, the
  NEGOTIATE then goes in an alter_context (negTokenResp { responseToken }), the CHALLENGE comes back in
  the alter_context_resp, and the AUTHENTICATE follows in a second alter_context (mechListMIC required).
  request        ept_lookup on ctx 0, signed (PKT_INTEGRITY) or sealed (PKT_PRIVACY); the response's
                 signature is checked here (Impacket's rpcrt never checks one)
  alter_context  ctx 1 = --whoami UUID v1.0 (no verifier: the association's security context covers it)
  request        WhoAmI(tag) on ctx 1, signed/sealed

mechListMIC: NTLM GSS_GetMIC over the DER MechTypeList with SeqNum 0 and a fresh RC4 handle in each
direction, then the handles are reset (MS-SPNG 3.3.5.1: the first signed PDU uses the same RC4 state) and
the PDUs carry SeqNum 1, 2, ... per direction. What is signed with extended session security: the whole PDU
up to the auth value, stub in plaintext; sealed: the stub and its auth padding (MS-RPCE 2.2.2.11/3.3.1.5.2).

  /usr/bin/python3 tools/peers/spnego_ntlm_auth.py --host H --port P --user U --domain D --password PW
      [--level integrity|privacy] [--ntlm v2|v1] [--no-mic | --bad-mic] [--krb5-first] [--whoami UUID [--reverse N]]

Prints one JSON object; "error" with "last_pdu" ({ptype, flags, status}) when a step failed. Exit 0 when
the JSON was printed. Loopback peers only.
"""
import argparse
import json
import socket
import sys
from struct import pack, unpack

from Cryptodome.Cipher import ARC4
from impacket import ntlm, spnego
from impacket.dcerpc.v5 import epm, rpcrt
from impacket.dcerpc.v5.dtypes import LPWSTR, ULONG
from impacket.dcerpc.v5.ndr import NDRCALL
from impacket.uuid import bin_to_string, uuidtup_to_bin

AUTH_TYPE = rpcrt.RPC_C_AUTHN_GSS_NEGOTIATE  # 9
AUTH_CTX_ID = 0x5A5A
NTLMSSP_OID = spnego.TypesMech["NTLMSSP - Microsoft NTLM Security Support Provider"]
NDR20 = ("8a885d04-1ceb-11c9-9fe8-08002b104860", "2.0")


class WhoAmI(NDRCALL):
    opnum = 0
    structure = (("tag", ULONG),)


class WhoAmIResponse(NDRCALL):
    structure = (("who", LPWSTR), ("level", ULONG), ("ErrorCode", ULONG))


class Failure(Exception):
    def __init__(self, step, what, last=None):
        super().__init__("%s: %s" % (step, what))
        self.step, self.what, self.last = step, what, last


# ---- DER (just enough for NegTokenResp) -------------------------------------------------------------

def der_read(b, off):
    """(tag, value, next offset) of the TLV at off."""
    tag = b[off]
    n = b[off + 1]
    off += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[off:off + k], "big")
        off += k
    return tag, b[off:off + n], off + n


def parse_neg_token_resp(tok):
    tag, body, _ = der_read(tok, 0)
    if tag != 0xA1:
        raise ValueError("not a negTokenResp (tag 0x%02x)" % tag)
    tag, seq, _ = der_read(body, 0)
    if tag != 0x30:
        raise ValueError("negTokenResp without a SEQUENCE")
    out = {}
    off = 0
    while off < len(seq):
        tag, val, off = der_read(seq, off)
        _, inner, _ = der_read(val, 0)
        if tag == 0xA0:
            out["negState"] = int.from_bytes(inner, "big")
        elif tag == 0xA1:
            out["supportedMech"] = inner
        elif tag == 0xA2:
            out["responseToken"] = inner
        elif tag == 0xA3:
            out["mechListMIC"] = inner
    return out


def client_neg_token_resp(response_token, mic):
    """negTokenResp { responseToken, mechListMIC? } (Impacket's class cannot carry a mechListMIC)."""
    body = pack("B", spnego.ASN1_RESPONSE_TOKEN) + spnego.asn1encode(
        pack("B", spnego.ASN1_OCTET_STRING) + spnego.asn1encode(response_token))
    if mic is not None:
        body += b"\xa3" + spnego.asn1encode(pack("B", spnego.ASN1_OCTET_STRING) + spnego.asn1encode(mic))
    return pack("B", 0xA1) + spnego.asn1encode(pack("B", spnego.ASN1_SEQUENCE) + spnego.asn1encode(body))


# ---- transport -----------------------------------------------------------------------------------------

class Conn:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=10)
        self.last = None

    def send(self, b):
        self.s.sendall(b)

    def recv_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.s.recv(n - len(out))
            if not chunk:
                raise Failure("recv", "connection closed by the server", self.last)
            out += chunk
        return out

    def recv_pdu(self):
        head = self.recv_exact(16)
        frag_len = unpack("<H", head[8:10])[0]
        pdu = head + self.recv_exact(frag_len - 16)
        ptype, flags = pdu[2], pdu[3]
        self.last = {"ptype": ptype, "flags": flags}
        if ptype == rpcrt.MSRPC_FAULT:
            self.last["status"] = unpack("<L", pdu[24:28])[0]
        if ptype == rpcrt.MSRPC_BINDNAK:
            self.last["reject_reason"] = unpack("<H", pdu[16:18])[0]
        return pdu


def auth_parts(pdu):
    """(body without auth, sec_trailer fields, auth value) of a received PDU."""
    auth_len = unpack("<H", pdu[10:12])[0]
    if auth_len == 0:
        return pdu, None, b""
    trailer = len(pdu) - auth_len - 8
    t = pdu[trailer:trailer + 8]
    return pdu[:trailer], {"type": t[0], "level": t[1], "pad": t[2], "ctx": unpack("<L", t[4:8])[0]}, pdu[trailer + 8:]


def bind_pdu(ptype, call_id, ctx_id, iface, level, token):
    bind = rpcrt.MSRPCBind()
    item = rpcrt.CtxItem()
    item["ContextID"] = ctx_id
    item["TransItems"] = 1
    item["AbstractSyntax"] = iface
    item["TransferSyntax"] = uuidtup_to_bin(NDR20)
    bind.addCtxItem(item)
    p = rpcrt.MSRPCHeader()
    p["type"] = ptype
    p["call_id"] = call_id
    p["pduData"] = bind.getData()
    if token is not None:
        tr = rpcrt.SEC_TRAILER()
        tr["auth_type"] = AUTH_TYPE
        tr["auth_level"] = level
        tr["auth_ctx_id"] = AUTH_CTX_ID
        pad = (4 - (len(p.get_packet()) % 4)) % 4
        if pad:
            p["pduData"] += b"\x00" * pad
            tr["auth_pad_len"] = pad
        p["sec_trailer"] = tr
        p["auth_data"] = token
    return p.get_packet()


# ---- the session ---------------------------------------------------------------------------------------

class Session:
    def __init__(self, flags, key):
        self.flags = flags
        self.ess = bool(flags & ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY)
        if self.ess:
            # Impacket compares mode with the str 'Client'; anything else is the server's key.
            self.c_sign = ntlm.SIGNKEY(flags, key, "Client")
            self.s_sign = ntlm.SIGNKEY(flags, key, "Server")
            self.c_seal = ntlm.SEALKEY(flags, key, "Client")
            self.s_seal = ntlm.SEALKEY(flags, key, "Server")
        else:
            self.c_sign = self.s_sign = self.c_seal = self.s_seal = key
        self.reset_handles()
        self.send_seq = 0
        self.recv_seq = 0

    def reset_handles(self):
        self.c_handle = ARC4.new(self.c_seal).encrypt
        self.s_handle = ARC4.new(self.s_seal).encrypt if self.ess else self.c_handle

    def mic(self, data):
        sig = ntlm.SIGN(self.flags, self.c_sign, data, self.send_seq, self.c_handle).getData()
        self.send_seq += 1
        return sig

    def check_server_mic(self, data, mic):
        want = ntlm.SIGN(self.flags, self.s_sign, data, self.recv_seq, self.s_handle).getData()
        self.recv_seq += 1
        return want == mic


def request(conn, sess, level, call_id, ctx_id, opnum, stub, counts=None, max_frag=4280):
    """One call: the stub in as many request fragments as max_frag needs, each signed/sealed on its own."""
    room = max_frag - 24 - 8 - 16
    room -= room % 16
    chunks = [stub[i:i + room] for i in range(0, len(stub), room)] or [b""]
    left = len(stub)
    for i, chunk in enumerate(chunks):
        pad = (16 - len(chunk) % 16) % 16
        body = chunk + b"\x00" * pad
        p = rpcrt.MSRPCRequestHeader()
        p["type"] = rpcrt.MSRPC_REQUEST
        p["flags"] = (rpcrt.PFC_FIRST_FRAG if i == 0 else 0) | (rpcrt.PFC_LAST_FRAG if i == len(chunks) - 1 else 0)
        p["call_id"] = call_id
        p["ctx_id"] = ctx_id
        p["op_num"] = opnum
        p["alloc_hint"] = left
        p["pduData"] = body
        tr = rpcrt.SEC_TRAILER()
        tr["auth_type"] = AUTH_TYPE
        tr["auth_level"] = level
        tr["auth_pad_len"] = pad
        tr["auth_ctx_id"] = AUTH_CTX_ID
        p["sec_trailer"] = tr.getData()
        p["auth_data"] = b"\x00" * 16
        whole = p.get_packet()[:-16]
        to_sign = whole if sess.ess else body
        if level == rpcrt.RPC_C_AUTHN_LEVEL_PKT_PRIVACY:
            sealed, sig = ntlm.SEAL(sess.flags, sess.c_sign, sess.c_seal, to_sign, body, sess.send_seq, sess.c_handle)
            p["pduData"] = sealed
        else:
            sig = ntlm.SIGN(sess.flags, sess.c_sign, to_sign, sess.send_seq, sess.c_handle)
        sess.send_seq += 1
        p["auth_data"] = sig.getData()
        conn.send(p.get_packet())
        left -= len(chunk)
    if counts is not None:
        counts.append(len(chunks))

    # The answer, fragment by fragment: each one is signed (or sealed) on its own, in order.
    stub = b""
    n_resp = 0
    all_ok = True
    while True:
        resp = conn.recv_pdu()
        if resp[2] != rpcrt.MSRPC_RESPONSE:
            raise Failure("request opnum %d" % opnum, "ptype %d instead of a response" % resp[2], conn.last)
        head, trailer, value = auth_parts(resp)
        if trailer is None:
            raise Failure("request opnum %d" % opnum, "response without a verifier", conn.last)
        if (trailer["type"], trailer["level"], trailer["ctx"]) != (AUTH_TYPE, level, AUTH_CTX_ID):
            raise Failure("request opnum %d" % opnum, "response verifier %r" % trailer, conn.last)
        data = head[24:]
        if level == rpcrt.RPC_C_AUTHN_LEVEL_PKT_PRIVACY:
            # RC4 is symmetric: the server's handle decrypts; the signature is over the plaintext.
            plain = sess.s_handle(data)
            signed = (resp[:24] + plain + resp[len(head):-16]) if sess.ess else plain
            want = ntlm.MAC(sess.flags, sess.s_handle, sess.s_sign, sess.recv_seq, signed).getData()
        else:
            plain = data
            signed = resp[:-16] if sess.ess else data
            want = ntlm.SIGN(sess.flags, sess.s_sign, signed, sess.recv_seq, sess.s_handle).getData()
        sess.recv_seq += 1
        all_ok = all_ok and want == value
        if trailer["pad"]:
            plain = plain[:-trailer["pad"]]
        stub += plain
        n_resp += 1
        if resp[3] & rpcrt.PFC_LAST_FRAG:
            if counts is not None:
                counts.append(n_resp)
            return stub, all_ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=135)
    ap.add_argument("--user", default="")
    ap.add_argument("--domain", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--level", choices=["integrity", "privacy"], default="integrity")
    ap.add_argument("--ntlm", choices=["v2", "v1"], default="v2")
    ap.add_argument("--no-mic", action="store_true", help="send no mechListMIC with the AUTHENTICATE")
    ap.add_argument("--bad-mic", action="store_true", help="flip a bit of the mechListMIC's checksum")
    ap.add_argument("--krb5-first", action="store_true",
                    help="offer MS KRB5, KRB5, NTLMSSP (as Windows does) with a Kerberos-looking optimistic token")
    ap.add_argument("--whoami", help="interface UUID (v1.0) whose opnum 0 is WhoAmI")
    ap.add_argument("--reverse", type=int, default=0, help="with --whoami: also call opnum 1, Reverse, with N bytes")
    a = ap.parse_args()
    level = rpcrt.RPC_C_AUTHN_LEVEL_PKT_PRIVACY if a.level == "privacy" else rpcrt.RPC_C_AUTHN_LEVEL_PKT_INTEGRITY
    v2 = a.ntlm == "v2"
    out = {"auth_type": AUTH_TYPE, "level": level, "ntlm": a.ntlm}
    conn = None
    try:
        conn = Conn(a.host, a.port)
        mechs = [NTLMSSP_OID] if not a.krb5_first else [
            spnego.TypesMech["MS KRB5 - Microsoft Kerberos 5"], spnego.TypesMech["KRB5 - Kerberos 5"], NTLMSSP_OID]
        mech_types_der = pack("B", spnego.ASN1_SEQUENCE) + spnego.asn1encode(
            b"".join(pack("B", spnego.ASN1_OID) + spnego.asn1encode(m) for m in mechs))
        # 1. bind with negTokenInit.
        type1 = ntlm.getNTLMSSPType1("", "", signingRequired=True, use_ntlmv2=v2)
        init = spnego.SPNEGO_NegTokenInit()
        init["MechTypes"] = mechs
        # --krb5-first: an optimistic token for the first mechanism (Kerberos), which an NTLM-only server ignores.
        init["MechToken"] = type1.getData() if not a.krb5_first else b"\x60\x09\x06\x07\x2a\x86\x48\x86\xf7\x12\x01"
        epm_if = epm.MSRPC_UUID_PORTMAP
        conn.send(bind_pdu(rpcrt.MSRPC_BIND, 1, 0, epm_if, level, init.getData()))
        ack = conn.recv_pdu()
        if ack[2] != rpcrt.MSRPC_BINDACK:
            raise Failure("bind", "ptype %d instead of bind_ack" % ack[2], conn.last)
        bindack = rpcrt.MSRPCBindAck(ack)
        if bindack.getCtxItem(1)["Result"] != 0:
            raise Failure("bind", "epm context rejected", conn.last)
        _, trailer, token = auth_parts(ack)
        if trailer is None:
            raise Failure("bind", "bind_ack without a verifier", conn.last)
        resp1 = parse_neg_token_resp(token)
        out["bind_ack"] = {"negState": resp1.get("negState"), "supportedMech_is_ntlmssp": resp1.get("supportedMech") == NTLMSSP_OID,
                           "auth_type": trailer["type"], "auth_level": trailer["level"], "auth_ctx_id": trailer["ctx"]}
        call_id = 2
        if a.krb5_first:
            # The server selected NTLMSSP without a token: the NEGOTIATE goes in an alter_context.
            out["bind_ack"]["responseToken"] = "responseToken" in resp1
            neg = spnego.SPNEGO_NegTokenResp()
            neg["ResponseToken"] = type1.getData()
            conn.send(bind_pdu(rpcrt.MSRPC_ALTERCTX, call_id, 0, epm_if, level, neg.getData()))
            call_id += 1
            r = conn.recv_pdu()
            if r[2] != rpcrt.MSRPC_ALTERCTX_R:
                raise Failure("alter_context (NEGOTIATE)", "ptype %d instead of alter_context_resp" % r[2], conn.last)
            _, trailer, token = auth_parts(r)
            resp1 = parse_neg_token_resp(token)
            out["negotiate_resp"] = {"negState": resp1.get("negState"), "responseToken": "responseToken" in resp1}
        challenge = resp1["responseToken"]
        # 2. AUTHENTICATE (+ mechListMIC) in an alter_context.
        type3, key = ntlm.getNTLMSSPType3(type1, challenge, a.user, a.password, a.domain, use_ntlmv2=v2)
        sess = Session(type3["flags"], key)
        out["flags"] = type3["flags"]
        mic = None if a.no_mic else sess.mic(mech_types_der)
        if mic is not None and a.bad_mic:
            mic = mic[:4] + bytes([mic[4] ^ 0x01]) + mic[5:]
        conn.send(bind_pdu(rpcrt.MSRPC_ALTERCTX, call_id, 0, epm_if, level, client_neg_token_resp(type3.getData(), mic)))
        call_id += 1
        r = conn.recv_pdu()
        if r[2] != rpcrt.MSRPC_ALTERCTX_R:
            raise Failure("alter_context (AUTHENTICATE)", "ptype %d instead of alter_context_resp" % r[2], conn.last)
        _, trailer, token = auth_parts(r)
        final = parse_neg_token_resp(token) if token else {}
        server_mic = final.get("mechListMIC")
        out["alter_resp"] = {"negState": final.get("negState"), "mechListMIC": server_mic is not None}
        if server_mic is not None:
            out["server_mic_ok"] = sess.check_server_mic(mech_types_der, server_mic)
        # MS-SPNG 3.3.5.1: the RC4 handles are back where they were before the MICs; sequence numbers go on.
        sess.reset_handles()
        # 3. ept_lookup, signed or sealed.
        req = epm.ept_lookup()
        req["inquiry_type"] = epm.RPC_C_EP_ALL_ELTS
        req["object"] = epm.NULL
        req["Ifid"] = epm.NULL
        req["vers_option"] = epm.RPC_C_VERS_ALL
        req["entry_handle"] = epm.ept_lookup_handle_t()
        req["max_ents"] = 500
        stub, ok = request(conn, sess, level, call_id, 0, 2, req.getData())
        call_id += 1
        lr = epm.ept_lookupResponse(stub)
        rows = []
        for i in range(lr["num_ents"]):
            e = lr["entries"][i]
            tower = epm.EPMTower(b"".join(e["tower"]["tower_octet_string"]))
            floors = tower["Floors"]
            rows.append({
                "uuid": bin_to_string(floors[0]["InterfaceUUID"]).lower(),
                "version": "%d.%d" % (floors[0]["MajorVersion"], floors[0]["MinorVersion"]),
                "binding": epm.PrintStringBinding(floors),
                "annotation": b"".join(e["annotation"])[:-1].decode("utf-8", "replace"),
            })
        out["epm"] = {"entries": rows, "status": lr["status"], "signature_ok": ok}
        # 4. WhoAmI on a second presentation context.
        if a.whoami:
            conn.send(bind_pdu(rpcrt.MSRPC_ALTERCTX, call_id, 1, uuidtup_to_bin((a.whoami, "1.0")), level, None))
            call_id += 1
            r = conn.recv_pdu()
            if r[2] != rpcrt.MSRPC_ALTERCTX_R or rpcrt.MSRPCBindAck(r).getCtxItem(1)["Result"] != 0:
                raise Failure("alter_context (WhoAmI)", "context not accepted", conn.last)
            w = WhoAmI()
            w["tag"] = 0x5E9
            stub, ok = request(conn, sess, level, call_id, 1, 0, w.getData())
            call_id += 1
            wr = WhoAmIResponse(stub)
            who = wr["who"]
            if isinstance(who, bytes):
                who = who.decode("utf-16le")
            out["whoami"] = {"who": who.rstrip("\x00"), "level": wr["level"], "signature_ok": ok}
            if a.reverse:
                data = bytes((i * 7 + 3) & 0xFF for i in range(a.reverse))
                stub = pack("<LL", len(data), len(data)) + data
                frags = []
                stub, ok = request(conn, sess, level, call_id, 1, 1, stub, frags)
                rn = unpack("<L", stub[:4])[0]
                out["reverse"] = {"n": rn, "reversed_ok": stub[8:8 + rn] == data[::-1], "status": unpack("<L", stub[-4:])[0],
                                  "signature_ok": ok, "request_fragments": frags[0], "response_fragments": frags[1]}
    except Failure as e:
        out["error"] = str(e)
        out["last_pdu"] = e.last
    except Exception as e:  # noqa: BLE001 - reported as JSON
        out["error"] = "%s: %s" % (type(e).__name__, e)
        out["last_pdu"] = conn.last if conn else None
    finally:
        if conn:
            conn.s.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
