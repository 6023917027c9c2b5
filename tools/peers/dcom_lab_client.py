#!/usr/bin/python3
"""Impacket's DCOM client (dcomrt.DCOMConnection) against dcomlab's DCOM server and its lab class.

  /usr/bin/python3 tools/peers/dcom_lab_client.py --target 127.0.0.5 --user U --domain D --password PW
      [--level connect|integrity|privacy] [--ntlm v2|v1] [--clsid GUID]

--ntlm v1 sets impacket.ntlm.USE_NTLMv2 = False (TCPTransport.doesSupportNTLMv2() reads it at bind time).
Impacket's "NTLMv1" still asks for NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY (and drops TARGET_INFO), so
against a server that grants ESS it sends the NTLM2 session response ("ntlm2"): LmChallengeResponse =
8-byte client challenge + 16 zero bytes, NtChallengeResponse = DESL(NT hash, MD5(server challenge ||
client challenge)[:8]), KeyExchangeKey = HMAC_MD5(MD4(NT hash), server challenge || client challenge).

Impacket always reaches the resolver on port 135 of --target. Steps, each result (or {"error": ...}) in
one JSON object printed on stdout:
  create:   DCOMConnection(target, ..., authLevel) + CoCreateInstanceEx(CLSID, IID_ICServer): oxid, oid, ipid,
            ipidRemUnknown, string bindings, auth level Impacket then uses on the exporter
  ping:     ICServer::Ping(41) (opnum 4) -> echo, ErrorCode
  whoami:   ICServer::WhoAmI() (opnum 5) -> identity, ErrorCode
  forward:  ICServer::ForwardCall(NULL) (opnum 3) -> ErrorCode (E_POINTER expected: nothing to call back; raised by Impacket)
  qi_unknown / qi_icserver: IRemUnknown::RemQueryInterface(1, [IID]) -> the new IPID, and Ping on the ICServer one
  ping1:    DCOMConnection.pingServer(): ComplexPing(0, add=[oid]) on the activation connection -> set id, OIDs
  simple_ping: IObjectExporter(activation dce).SimplePing(set id from ping1) -> error_status (raises if non-zero)
  release:  IRemUnknown::RemRelease on the ICServer IPID
  ping2:    pingServer() again: ComplexPing(set id, del=[oid])
  server_alive2: IObjectExporter(dce).ServerAlive2() on a fresh unauthenticated connection: string bindings
  resolve_oxid2: IObjectExporter(dce).ResolveOxid2(oxid, [7]): string bindings
  resolve_bad_oxid: ResolveOxid2 of an OXID the server never handed out (OR_INVALID_OXID expected)
Exit 0 whenever the JSON was printed. Loopback peers only.
"""
import argparse
import json
import sys
import traceback

from impacket import ntlm
from impacket.dcerpc.v5 import transport, rpcrt
from impacket.dcerpc.v5.dcomrt import DCOMConnection, DCOMCALL, DCOMANSWER, IObjectExporter, IRemUnknown2, PMInterfacePointer
# rpcrt.request raises DCERPCSessionError looked up in the request class's module (this one).
from impacket.dcerpc.v5.dcomrt import DCERPCSessionError  # noqa: F401
from impacket.dcerpc.v5.dcom.oaut import BSTR
from impacket.dcerpc.v5.dtypes import LONG, NULL
from impacket.uuid import string_to_bin, uuidtup_to_bin, bin_to_string

LEVELS = {
    "connect": rpcrt.RPC_C_AUTHN_LEVEL_CONNECT,
    "integrity": rpcrt.RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    "privacy": rpcrt.RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
}

CLSID_CServer = string_to_bin('82D1EA8A-00F7-4C0C-9418-1BDCA814DCCB')
IID_ICServer = uuidtup_to_bin(('737EF2D6-DCD1-44DF-A320-8C9D344CC7A8', '0.0'))
IID_IUnknown = uuidtup_to_bin(('00000000-0000-0000-C000-000000000046', '0.0'))


class ForwardCall(DCOMCALL):
    opnum = 3
    structure = (('pCallback', PMInterfacePointer),)


class ForwardCallResponse(DCOMANSWER):
    structure = (('ErrorCode', LONG),)


class Ping(DCOMCALL):
    opnum = 4
    structure = (('value', LONG),)


class PingResponse(DCOMANSWER):
    structure = (('echo', LONG), ('ErrorCode', LONG))


class WhoAmI(DCOMCALL):
    opnum = 5
    structure = ()


class WhoAmIResponse(DCOMANSWER):
    structure = (('identity', BSTR), ('ErrorCode', LONG))


class ICServer(IRemUnknown2):
    def __init__(self, interface):
        IRemUnknown2.__init__(self, interface)
        self._iid = IID_ICServer

    def Ping(self, value):
        req = Ping()
        req['value'] = value
        return self.request(req, IID_ICServer, self.get_iPid())

    def WhoAmI(self):
        return self.request(WhoAmI(), IID_ICServer, self.get_iPid())

    def ForwardCall(self):
        req = ForwardCall()
        req['pCallback'] = NULL
        return self.request(req, IID_ICServer, self.get_iPid())


def err(e):
    code = getattr(e, "error_code", None)
    if isinstance(code, int):
        code &= 0xffffffff  # HRESULTs come back signed
    return {"error": str(e), "type": type(e).__name__, "code": code}


def step(out, name, fn):
    try:
        out[name] = fn()
    except Exception as e:  # noqa: BLE001 - each step reports its own failure
        out[name] = err(e)
        if "--debug" in sys.argv:
            traceback.print_exc()


def fresh_dce(target):
    t = transport.DCERPCTransportFactory('ncacn_ip_tcp:%s[135]' % target)
    return t.get_dce_rpc()


def bindings(lst):
    return [{"tower": b['wTowerId'], "addr": b['aNetworkAddr'].rstrip('\x00')} for b in lst]


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--target', required=True)
    p.add_argument('--user', default='')
    p.add_argument('--domain', default='')
    p.add_argument('--password', default='')
    p.add_argument('--level', default='privacy', choices=sorted(LEVELS))
    p.add_argument('--ntlm', default='v2', choices=['v1', 'v2'])
    p.add_argument('--clsid', default=None)
    p.add_argument('--only-create', action='store_true')
    p.add_argument('--debug', action='store_true')
    a = p.parse_args()

    # Read by TCPTransport.doesSupportNTLMv2() at every bind (the functions' default arguments were bound
    # at import, so only the transport's lookup follows this).
    ntlm.USE_NTLMv2 = a.ntlm == 'v2'
    out = {}
    dcom = None
    try:
        dcom = DCOMConnection(a.target, a.user, a.password, a.domain, authLevel=LEVELS[a.level], oxidResolver=False)
        clsid = string_to_bin(a.clsid) if a.clsid else CLSID_CServer
        iface = dcom.CoCreateInstanceEx(clsid, IID_ICServer)
        srv = ICServer(iface)
        out['create'] = {
            "oxid": str(srv.get_oxid()), "oid": str(srv.get_oid()), "ipid": bin_to_string(srv.get_iPid()).lower(),
            "ipidRemUnknown": bin_to_string(srv.get_ipidRemUnknown()).lower(),
            "bindings": bindings(srv.get_cinstance().get_string_bindings()),
            "exporter_level": srv.get_cinstance().get_auth_level(),
        }
    except Exception as e:  # noqa: BLE001
        out['create'] = err(e)
        if a.debug:
            traceback.print_exc()
        print(json.dumps(out))
        return 0
    if a.only_create:
        print(json.dumps(out))
        return 0

    def ping():
        r = srv.Ping(41)
        return {"echo": r['echo'], "hr": r['ErrorCode'] & 0xffffffff}

    def whoami():
        r = srv.WhoAmI()
        return {"identity": r['identity']['asData'], "hr": r['ErrorCode'] & 0xffffffff}

    def forward():
        r = srv.ForwardCall()
        return {"hr": r['ErrorCode'] & 0xffffffff}

    def qi(iid):
        def f():
            n = srv.RemQueryInterface(1, [iid])
            res = {"ipid": bin_to_string(n.get_iPid()).lower(), "oxid": str(n.get_oxid())}
            if iid == IID_ICServer:
                r = ICServer(n).Ping(7)
                res["ping"] = r['echo']
            return res
        return f

    def ping_server():
        # DCOMConnection.pingServer (the keep-alive timer's body): ComplexPing with the OIDs added/deleted
        # since the last one, else SimplePing, on the activation connection. It logs errors and goes on, so
        # the set id it stored is the evidence. It re-arms a 120 s timer: cancelled at once.
        DCOMConnection.pingServer()
        t = DCOMConnection.PINGTIMER
        if t is not None:
            t.cancel()
        st = DCOMConnection.OID_SET.get(a.target, {})
        return {"setid": str(st.get('setid', 0)), "oids": sorted(str(o) for o in st.get('oids', set()))}

    def simple_ping():
        # IObjectExporter::SimplePing (opnum 1) on the set ComplexPing created, over the activation
        # connection (IObjectExporter reconnects and rebinds it at the activation level). Impacket raises
        # DCERPCSessionError on a non-zero error_status; pingServer() would only log it.
        setid = DCOMConnection.OID_SET.get(a.target, {}).get('setid', 0)
        r = IObjectExporter(dcom.get_dce_rpc()).SimplePing(setid)
        return {"setid": str(setid), "error_status": r['ErrorCode'] & 0xffffffff}

    def release():
        r = srv.RemRelease()
        return {"hr": r['ErrorCode'] & 0xffffffff}

    def server_alive2():
        dce = fresh_dce(a.target)
        return {"bindings": bindings(IObjectExporter(dce).ServerAlive2())}

    def resolve_oxid2(oxid):
        def f():
            dce = fresh_dce(a.target)
            return {"bindings": bindings(IObjectExporter(dce).ResolveOxid2(oxid, [7]))}
        return f

    step(out, 'ping', ping)
    step(out, 'whoami', whoami)
    step(out, 'forward', forward)
    step(out, 'qi_unknown', qi(IID_IUnknown))
    step(out, 'qi_icserver', qi(IID_ICServer))
    step(out, 'ping1', ping_server)
    step(out, 'simple_ping', simple_ping)
    step(out, 'release', release)
    step(out, 'ping2', ping_server)
    step(out, 'server_alive2', server_alive2)
    step(out, 'resolve_oxid2', resolve_oxid2(srv.get_oxid()))
    step(out, 'resolve_bad_oxid', resolve_oxid2(0x1234))
    try:
        dcom.disconnect()
    except Exception:  # noqa: BLE001 - disconnect bookkeeping only
        pass
    print(json.dumps(out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
