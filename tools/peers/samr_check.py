#!/usr/bin/python3
"""Authenticated SAMR over ncacn_ip_tcp with Impacket: a health check for the lab's Samba DC.

Maps SAMR through the endpoint mapper on HOST:135, binds with NTLM at the chosen auth level,
then runs SamrConnect + SamrEnumerateDomainsInSamServer and prints one JSON line:
  {"binding": "ncacn_ip_tcp:127.0.0.1[49154]", "port": 49154, "auth_level": 6, "domains": ["SAMDOM", "Builtin"]}
Exit status 0 on success, 1 on any failure (the error goes to stderr, as JSON on stdout too).

Run it with /usr/bin/python3 (Debian's python3-impacket), e.g.
  /usr/bin/python3 tools/peers/samr_check.py --creds DIR/creds.json
  /usr/bin/python3 tools/peers/samr_check.py --host 127.0.0.1 --domain SAMDOM --user labuser --password 'LabPass1!'
"""
import argparse
import json
import sys

from impacket.dcerpc.v5 import epm, samr, transport
from impacket.dcerpc.v5 import rpcrt

LEVELS = {
    "none": rpcrt.RPC_C_AUTHN_LEVEL_NONE,
    "connect": rpcrt.RPC_C_AUTHN_LEVEL_CONNECT,
    "call": rpcrt.RPC_C_AUTHN_LEVEL_CALL,
    "packet": rpcrt.RPC_C_AUTHN_LEVEL_PKT,
    "integrity": rpcrt.RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    "privacy": rpcrt.RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--creds", help="creds.json written by tools/peers/samba.sh (defaults for the rest)")
    ap.add_argument("--host")
    ap.add_argument("--domain")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--admin", action="store_true", help="with --creds: use the admin account, not the test user")
    ap.add_argument("--auth-level", choices=sorted(LEVELS), default="privacy")
    args = ap.parse_args()

    host, domain, user, password = "127.0.0.1", "", "", ""
    if args.creds:
        with open(args.creds, encoding="utf-8") as f:
            c = json.load(f)
        host, domain = c["host"], c["domain"]
        acct = c["admin"] if args.admin else c["user"]
        user, password = acct["user"], acct["password"]
    host = args.host or host
    domain = args.domain if args.domain is not None else domain
    user = args.user if args.user is not None else user
    password = args.password if args.password is not None else password
    level = LEVELS[args.auth_level]

    out = {"host": host, "auth_level": level}
    try:
        binding = epm.hept_map(host, samr.MSRPC_UUID_SAMR, protocol="ncacn_ip_tcp")
        out["binding"] = binding
        out["port"] = int(binding.rsplit("[", 1)[1].rstrip("]"))
        rpctransport = transport.DCERPCTransportFactory(binding)
        rpctransport.set_credentials(user, password, domain)
        dce = rpctransport.get_dce_rpc()
        if level != rpcrt.RPC_C_AUTHN_LEVEL_NONE:
            dce.set_auth_type(rpcrt.RPC_C_AUTHN_WINNT)
        dce.set_auth_level(level)
        dce.connect()
        dce.bind(samr.MSRPC_UUID_SAMR)
        resp = samr.hSamrConnect(dce)
        handle = resp["ServerHandle"]
        resp = samr.hSamrEnumerateDomainsInSamServer(dce, handle)
        out["domains"] = [d["Name"] for d in resp["Buffer"]["Buffer"]]
        samr.hSamrCloseHandle(dce, handle)
        dce.disconnect()
    except Exception as e:  # noqa: BLE001 - a health check reports every failure the same way
        out["error"] = f"{type(e).__name__}: {e}"
        print(json.dumps(out))
        print(f"samr_check: {out['error']}", file=sys.stderr)
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
