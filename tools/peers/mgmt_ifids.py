#!/usr/bin/python3
"""Impacket's remote management (mgmt v1.0, C706 Appendix Q) client against an RPC server.

  /usr/bin/python3 tools/peers/mgmt_ifids.py HOST [PORT]

Binds mgmt (afa8bd80-7d8a-11c9-bef4-08002b102989 v1.0) unauthenticated on ncacn_ip_tcp:HOST[PORT]
(default 135) and runs Impacket's helpers in turn, printing one JSON object:
  {"if_ids": [{"uuid": "...", "version": "3.0"}, ...], "if_ids_status": 0,
   "stats": {"count": 4, "statistics": [calls_in, calls_out, pkts_in, pkts_out], "status": 0},
   "listening": {"status": 0, "return_value": 1},
   "stop": {"error": "...", "code": 5} or {"status": 0}}
Each step that raises is reported as {"error": str(e), "code": e.get_error_code()} in its place.

mgmt.hinq_if_ids, hinq_stats and hstop_server_listening are used as Impacket ships them. For
is_server_listening Impacket's response class has the status only; the IDL's boolean32 return value
follows it on the wire (C706 Q: boolean32 rpc__mgmt_is_server_listening(.., [out] error_status_t *status)),
so this script sends Impacket's request and reads the two u32s of the raw stub.

Run it with Debian's python3 (python3-impacket). Loopback peers only.
"""
import json
import sys
from struct import unpack

from impacket.dcerpc.v5 import mgmt, transport
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.uuid import bin_to_string


def err(e):
    code = e.get_error_code() if isinstance(e, DCERPCException) else None
    return {"error": str(e), "code": code, "type": type(e).__name__}


def main(argv):
    if len(argv) not in (1, 2) or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    host = argv[0]
    port = int(argv[1]) if len(argv) == 2 else 135
    rpctransport = transport.DCERPCTransportFactory(r"ncacn_ip_tcp:%s[%d]" % (host, port))
    dce = rpctransport.get_dce_rpc()
    dce.connect()
    out = {}
    try:
        dce.bind(mgmt.MSRPC_UUID_MGMT)

        try:
            resp = mgmt.hinq_if_ids(dce)
            vector = resp["if_id_vector"]
            ids = []
            for i in range(vector["count"]):
                item = vector["if_id"][i]
                ids.append({
                    "uuid": bin_to_string(item["Uuid"]).lower(),
                    "version": "%d.%d" % (item["VersMajor"], item["VersMinor"]),
                })
            out["if_ids"] = ids
            out["if_ids_status"] = resp["status"]
        except Exception as e:  # noqa: BLE001 - reported, the next step still runs
            out["if_ids"] = err(e)

        try:
            resp = mgmt.hinq_stats(dce)
            out["stats"] = {
                "count": resp["count"],
                "statistics": [resp["statistics"][i] for i in range(len(resp["statistics"]))],
                "status": resp["status"],
            }
        except Exception as e:  # noqa: BLE001
            out["stats"] = err(e)

        try:
            dce.call(mgmt.is_server_listening.opnum, mgmt.is_server_listening())
            raw = dce.recv()
            # Impacket's own parse (status only), then the raw stub for the boolean32 after it.
            parsed = mgmt.is_server_listeningResponse(raw)
            status, ret = unpack("<LL", raw[:8]) if len(raw) >= 8 else (unpack("<L", raw[:4])[0], None)
            out["listening"] = {"status": parsed["status"], "raw_status": status, "return_value": ret, "stub_length": len(raw)}
        except Exception as e:  # noqa: BLE001
            out["listening"] = err(e)

        # And through Impacket's helper as shipped (checkError=False there).
        try:
            resp = mgmt.his_server_listening(dce)
            out["listening_helper"] = {"status": resp["status"]}
        except Exception as e:  # noqa: BLE001
            out["listening_helper"] = err(e)

        try:
            resp = mgmt.hstop_server_listening(dce)
            out["stop"] = {"status": resp["status"]}
        except Exception as e:  # noqa: BLE001
            out["stop"] = err(e)
    finally:
        dce.disconnect()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
