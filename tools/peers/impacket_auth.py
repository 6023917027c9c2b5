#!/usr/bin/python3
"""Impacket 0.10 as an authenticated DCE/RPC client (RPC_C_AUTHN_WINNT, NTLM) against a dcomlab server.

  /usr/bin/python3 tools/peers/impacket_auth.py --host H --port P --level none|connect|integrity|privacy
      [--ntlm v2|v1|v1-no-ess] [--user U --domain D --password PW]
      [--whoami UUID [--reverse N]] [--alter-whoami UUID] [--skip-epm]

One association per step, each a fresh TCP connection:
  1. epm: bind the endpoint mapper at the chosen level, then epm.hept_lookup(None, dce=dce) (it binds by
     itself: no dce.bind before it, a second bind would be nak'd as Windows does).
  2. --whoami UUID: bind that interface (v1.0) at the same level on a new connection and call opnum 0,
     WhoAmI(tag) -> (LPWSTR who, ULONG level, ULONG ErrorCode), with Impacket's NDR classes.
     --reverse N: then opnum 1, Reverse(n, byte data[n]) with N bytes (i*7+3 mod 256): requests and answers
     of several fragments, each one signed or sealed on its own.
  3. --alter-whoami UUID: on the epm association, dce.alter_ctx(UUID) (Impacket then opens a second
     security context, auth_ctx_id 79232, with its own NTLM exchange in alter_context + auth3) and WhoAmI.

--ntlm: v2 (ntlm.USE_NTLMv2 = True); v1 (USE_NTLMv2 = False: Impacket's NEGOTIATE still asks for
extended session security, so a server that grants it gets the NTLM2 session response); v1-no-ess
(the same with NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY cleared from Impacket's NEGOTIATE: plain NTLMv1).

Prints one JSON object: {"epm": {...} | {"error": ...}, "whoami": {...}, "alter_whoami": {...}}.
An error is {"error": str, "code": int|null, "last_pdu": {"ptype", "flags", "status"}}: "last_pdu" is
the last PDU the transport received (a fault's status is read from it: Impacket raises faults by name only).
Exit 0 whenever the JSON was printed. Loopback peers only.
"""
import argparse
import json
import sys
from struct import unpack

from impacket import ntlm
from impacket.dcerpc.v5 import epm, transport
from impacket.dcerpc.v5.dtypes import LPWSTR, ULONG
from impacket.dcerpc.v5.ndr import NDRCALL, NDRUniConformantArray
from impacket.dcerpc.v5 import rpcrt
from impacket.uuid import bin_to_string, uuidtup_to_bin

LEVELS = {
    "none": rpcrt.RPC_C_AUTHN_LEVEL_NONE,
    "connect": rpcrt.RPC_C_AUTHN_LEVEL_CONNECT,
    "integrity": rpcrt.RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    "privacy": rpcrt.RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
}


class WhoAmI(NDRCALL):
    opnum = 0
    structure = (("tag", ULONG),)


class WhoAmIResponse(NDRCALL):
    structure = (("who", LPWSTR), ("level", ULONG), ("ErrorCode", ULONG))


class BYTES(NDRUniConformantArray):
    item = "c"


class Reverse(NDRCALL):
    opnum = 1
    structure = (("n", ULONG), ("data", BYTES))


def pattern(n):
    return bytes((i * 7 + 3) & 0xFF for i in range(n))


def reverse_call(dce, n):
    """Reverse(n, data[n]) with the test pattern; the answer is parsed by hand (n, max_count, bytes, pad, status)."""
    data = pattern(n)
    req = Reverse()
    req["n"] = n
    req["data"] = [data[i:i + 1] for i in range(n)]
    dce.call(req.opnum, req)
    stub = dce.recv()
    rn, maxc = unpack("<LL", stub[:8])
    got = stub[8:8 + rn]
    status = unpack("<L", stub[-4:])[0]
    return {"n": rn, "max_count": maxc, "reversed_ok": got == data[::-1], "status": status, "stub_len": len(stub)}


class Recorder:
    """Wraps the transport's recv to remember the last PDU header it delivered."""

    def __init__(self, tr):
        self.last = None
        self.buf = b""
        orig = tr.recv

        def recv(*a, **kw):
            data = orig(*a, **kw)
            if data:
                # Impacket reads a PDU as its 24-byte header, then the rest: append until frag_length.
                if len(self.buf) >= 10 and len(self.buf) < unpack("<H", self.buf[8:10])[0]:
                    self.buf += data
                else:
                    self.buf = data
                self.note(self.buf)
            return data

        tr.recv = recv

    def note(self, b):
        if len(b) < 16:
            return
        ptype, flags = b[2], b[3]
        out = {"ptype": ptype, "flags": flags}
        if ptype == 3 and len(b) >= 28:
            out["status"] = unpack("<L", b[24:28])[0]
        if ptype == 13 and len(b) >= 18:
            out["reject_reason"] = unpack("<H", b[16:18])[0]
        self.last = out


def make_dce(a, port):
    tr = transport.DCERPCTransportFactory(r"ncacn_ip_tcp:%s[%d]" % (a.host, port))
    if LEVELS[a.level] != rpcrt.RPC_C_AUTHN_LEVEL_NONE:
        tr.set_credentials(a.user, a.password, a.domain)
    rec = Recorder(tr)
    dce = tr.get_dce_rpc()
    if LEVELS[a.level] != rpcrt.RPC_C_AUTHN_LEVEL_NONE:
        dce.set_credentials(a.user, a.password, a.domain)
        dce.set_auth_type(rpcrt.RPC_C_AUTHN_WINNT)
    dce.set_auth_level(LEVELS[a.level])
    dce.connect()
    return dce, rec


def error_json(e, rec):
    code = None
    try:
        code = e.get_error_code()
    except Exception:  # noqa: BLE001
        pass
    out = {"error": "%s: %s" % (type(e).__name__, e), "code": code}
    if rec is not None and rec.last is not None:
        out["last_pdu"] = rec.last
    return out


def whoami_call(dce, tag):
    req = WhoAmI()
    req["tag"] = tag
    resp = dce.request(req)
    who = resp["who"]
    if isinstance(who, bytes):
        who = who.decode("utf-16le")
    return {"who": who.rstrip("\x00"), "level": resp["level"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=135)
    ap.add_argument("--level", choices=sorted(LEVELS), default="privacy")
    ap.add_argument("--ntlm", choices=["v2", "v1", "v1-no-ess"], default="v2")
    ap.add_argument("--user", default="")
    ap.add_argument("--domain", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--whoami", help="interface UUID (v1.0) whose opnum 0 is WhoAmI")
    ap.add_argument("--alter-whoami", help="the same, through dce.alter_ctx on the epm association")
    ap.add_argument("--skip-epm", action="store_true")
    ap.add_argument("--reverse", type=int, default=0, help="with --whoami: also call Reverse with N bytes")
    a = ap.parse_args()

    ntlm.USE_NTLMv2 = a.ntlm == "v2"
    if a.ntlm == "v1-no-ess":
        orig_type1 = ntlm.getNTLMSSPType1

        def type1_without_ess(*args, **kw):
            t1 = orig_type1(*args, **kw)
            t1["flags"] &= 0xFFFFFFFF ^ ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
            return t1

        ntlm.getNTLMSSPType1 = type1_without_ess
        rpcrt.ntlm.getNTLMSSPType1 = type1_without_ess

    out = {"level": LEVELS[a.level], "ntlm": a.ntlm}
    dce = rec = None
    if not a.skip_epm or a.alter_whoami:
        try:
            dce, rec = make_dce(a, a.port)
            entries = epm.hept_lookup(None, dce=dce)
            rows = []
            for e in entries:
                floors = e["tower"]["Floors"]
                rows.append({
                    "uuid": bin_to_string(floors[0]["InterfaceUUID"]).lower(),
                    "version": "%d.%d" % (floors[0]["MajorVersion"], floors[0]["MinorVersion"]),
                    "binding": epm.PrintStringBinding(floors),
                    "annotation": e["annotation"][:-1].decode("utf-8", "replace"),
                })
            out["epm"] = {"entries": rows}
        except Exception as e:  # noqa: BLE001 - every failure is reported as JSON
            out["epm"] = error_json(e, rec)
            dce = None

    if a.alter_whoami:
        if dce is None:
            out["alter_whoami"] = {"error": "no epm association"}
        else:
            try:
                dce2 = dce.alter_ctx(uuidtup_to_bin((a.alter_whoami, "1.0")))
                out["alter_whoami"] = whoami_call(dce2, 0xA17E2)
            except Exception as e:  # noqa: BLE001
                out["alter_whoami"] = error_json(e, rec)
    if dce is not None:
        try:
            dce.disconnect()
        except Exception:  # noqa: BLE001
            pass

    if a.whoami:
        rec2 = None
        try:
            d2, rec2 = make_dce(a, a.port)
            d2.bind(uuidtup_to_bin((a.whoami, "1.0")))
            out["whoami"] = whoami_call(d2, 0x600D)
            if a.reverse:
                out["reverse"] = reverse_call(d2, a.reverse)
            d2.disconnect()
        except Exception as e:  # noqa: BLE001
            out["whoami"] = error_json(e, rec2)

    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
