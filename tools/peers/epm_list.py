#!/usr/bin/python3
"""What Impacket sees in an endpoint mapper: ept_lookup (or ept_map) with Impacket's own NDR classes.

  /usr/bin/python3 tools/peers/epm_list.py HOST [PORT]
      Every entry, as one JSON array on stdout:
        [{"uuid": "12345778-1234-abcd-ef00-0123456789ac", "version": "1.0", "object": "00000000-...",
          "binding": "ncacn_ip_tcp:127.0.0.1[49152]", "protseq": "ncacn_ip_tcp", "annotation": "SAMR"}, ...]
      and on stderr one line per ept_lookup round: "round N: num_ents=... status=0x... handle=null|set".

  /usr/bin/python3 tools/peers/epm_list.py --map UUID M.m HOST [PORT]
      epm.hept_map(HOST, UUID vM.m, protocol='ncacn_ip_tcp'): {"binding": "ncacn_ip_tcp:HOST[PORT]"},
      or {"error": "...", "code": 0x16c9a0d6-as-int} with exit status 1.

Why not epm.hept_lookup: it raises on any non-zero status, and Samba ends its enumeration with
ept_s_not_registered (0x16c9a0d6) on the call after the last batch. Here the loop is Impacket's, with
dce.request(req, checkError=False): it stops on a null entry handle or a non-zero status. An entry seen
twice (same object, tower and annotation) is listed twice: callers decide whether that is a bug.

Run it with Debian's python3 (python3-impacket). Loopback peers only.
"""
import json
import socket
import sys
from struct import unpack

from impacket.dcerpc.v5 import epm, transport
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.uuid import bin_to_string, uuidtup_to_bin

MAX_ROUNDS = 10_000


def connect(host, port):
    rpctransport = transport.DCERPCTransportFactory(r"ncacn_ip_tcp:%s[%d]" % (host, port))
    dce = rpctransport.get_dce_rpc()
    dce.connect()
    dce.bind(epm.MSRPC_UUID_PORTMAP)
    return dce


def protseq_of(floors):
    """The protocol sequence named by floors 3 onwards (Impacket's floor classes)."""
    ids = [f["ProtocolData"] for f in floors[2:]]
    if b"\x07" in ids:
        return "ncacn_ip_tcp"
    if b"\x08" in ids:
        return "ncadg_ip_udp"
    if b"\x1f" in ids:
        return "ncacn_http"
    if b"\x0f" in ids:
        return "ncacn_np"
    if b"\x10" in ids:
        return "ncalrpc"
    return None


def entry_json(entry):
    tower = epm.EPMTower(b"".join(entry["tower"]["tower_octet_string"]))
    floors = tower["Floors"]
    annotation = b"".join(entry["annotation"])
    if annotation.endswith(b"\x00"):
        annotation = annotation[:-1]
    out = {
        "object": bin_to_string(entry["object"]).lower(),
        "annotation": annotation.decode("utf-8", "replace"),
        "floors": len(floors),
    }
    if floors and isinstance(floors[0], epm.EPMRPCInterface):
        f = floors[0]
        out["uuid"] = bin_to_string(f["InterfaceUUID"]).lower()
        out["version"] = "%d.%d" % (f["MajorVersion"], f["MinorVersion"])
    protseq = protseq_of(floors) if len(floors) > 2 else None
    if protseq:
        out["protseq"] = protseq
    if protseq == "ncacn_ip_tcp":
        # Built from the tower's own floors (not from PrintStringBinding): port floor, then IPv4 floor.
        port = ip = None
        for f in floors[3:]:
            if f["ProtocolData"] == b"\x07":
                port = unpack("!H", f["RelatedData"])[0]
            elif f["ProtocolData"] == b"\x09":
                ip = socket.inet_ntoa(f["RelatedData"])
        if port is not None and ip is not None:
            out["binding"] = "ncacn_ip_tcp:%s[%d]" % (ip, port)
    elif len(floors) > 3:
        # Impacket's own rendering (what rpcdump prints) for the other protocol sequences.
        out["binding"] = epm.PrintStringBinding(floors)
    return out


def lookup(host, port):
    dce = connect(host, port)
    entries = []
    handle = epm.ept_lookup_handle_t()
    rounds = 0
    try:
        while True:
            rounds += 1
            if rounds > MAX_ROUNDS:
                raise RuntimeError("more than %d ept_lookup rounds: the server never ends the iteration" % MAX_ROUNDS)
            req = epm.ept_lookup()
            req["inquiry_type"] = epm.RPC_C_EP_ALL_ELTS
            req["object"] = epm.NULL
            req["Ifid"] = epm.NULL
            req["vers_option"] = epm.RPC_C_VERS_ALL
            req["entry_handle"] = handle
            req["max_ents"] = 500
            resp = dce.request(req, checkError=False)
            status = resp["status"]
            num = resp["num_ents"]
            for i in range(num):
                entries.append(entry_json(resp["entries"][i]))
            handle = resp["entry_handle"]
            print("round %d: num_ents=%d status=0x%08x handle=%s"
                  % (rounds, num, status, "null" if handle.isNull() else "set"), file=sys.stderr)
            if status != 0 or handle.isNull():
                break
    finally:
        dce.disconnect()
    return entries


def hept_map(host, uuid, version):
    major, minor = version.split(".")
    try:
        binding = epm.hept_map(host, uuidtup_to_bin((uuid, "%d.%d" % (int(major), int(minor)))), protocol="ncacn_ip_tcp")
    except DCERPCException as e:
        return 1, {"error": str(e), "code": e.get_error_code()}
    return 0, {"binding": binding}


def main(argv):
    if len(argv) >= 3 and argv[0] == "--map":
        uuid, version, rest = argv[1], argv[2], argv[3:]
        if len(rest) != 1:
            # hept_map always dials port 135.
            print("usage: epm_list.py --map UUID M.m HOST", file=sys.stderr)
            return 2
        code, out = hept_map(rest[0], uuid, version)
        print(json.dumps(out))
        return code
    if len(argv) not in (1, 2) or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    host = argv[0]
    port = int(argv[1]) if len(argv) == 2 else 135
    print(json.dumps(lookup(host, port)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
