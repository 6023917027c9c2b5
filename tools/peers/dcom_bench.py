#!/usr/bin/python3
"""Impacket's DCOM client timed: full activations against dcomlab's DCOM server, one after another.

  /usr/bin/python3 tools/peers/dcom_bench.py --target 127.0.0.5 --user alice --domain LAB --password 'Secret1!'
      [--seconds 3 | --count N] [--warmup 1] [--level privacy|integrity|connect]
      [--exporter-level privacy|hint] [--nodelay] [--release]

One full activation, timed from start to end (time.perf_counter()):
  DCOMConnection(target, user, password, domain, authLevel=--level, oxidResolver=False)
      -> TCP connect to target:135 (Impacket always dials 135), no bind yet
  CoCreateInstanceEx(CLSID_CServer, IID_ICServer)
      -> NTLM bind of IRemoteSCMActivator at --level (bind, bind_ack, auth3), RemoteCreateInstance
  ICServer(iface).Ping(n) (opnum 4, the request class of tools/peers/dcom_lab_client.py)
      -> TCP connect to the exporter's string binding, NTLM bind of ICServer, the call; echo and HRESULT checked
  [--release: IRemUnknown::RemRelease of the ICServer IPID]
  the exporter connection closed (INTERFACE.disconnect()), then DCOMConnection.disconnect()

--exporter-level: Impacket binds the exporter at the activation's authnHint (dcomlab answers 4,
RPC_C_AUTHN_LEVEL_PKT, which Impacket's CLASS_INSTANCE.get_auth_level() turns into PKT_INTEGRITY for NTLM),
whatever level the activation used. "privacy" (the default) sets the class instance's level to --level before
the first call, so that the exporter is bound at the same level as the activation, as dcomlab's client does
(max(its level, authnHint)); "hint" leaves Impacket's own choice.

--nodelay sets TCP_NODELAY on every socket Impacket opens (it leaves Nagle on: a request written right after
auth3, which has no answer, then waits for the peer's delayed ACK of the auth3).

No keep-alive pinging: oxidResolver=False, so DCOMConnection.initTimer() never starts
DCOMConnection.PINGTIMER (a threading.Timer of 120 s that would ComplexPing the OIDs); the bench checks it is
still None at the end. The class-level bookkeeping Impacket keeps per target (OID_ADD / OID_SET / PORTMAPS /
INTERFACE.CONNECTIONS) is cleared after every activation so that nothing piles up.

stdout: "phase measure-start" and "phase measure-end" lines around the measured part, then one line
"result {json}": count, elapsedMs, perSec, latency percentiles (ms), clientCpuMs and every measured
activation's latency in ms (latenciesMs). Exit 0 whenever the result line was printed.
"""
import argparse
import json
import socket
import sys
import time

from impacket.dcerpc.v5 import transport, rpcrt
from impacket.dcerpc.v5.dcomrt import DCOMConnection, INTERFACE

sys.path.insert(0, __file__.rsplit('/', 1)[0])
from dcom_lab_client import CLSID_CServer, IID_ICServer, ICServer  # noqa: E402

LEVELS = {
    "connect": rpcrt.RPC_C_AUTHN_LEVEL_CONNECT,
    "integrity": rpcrt.RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    "privacy": rpcrt.RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
}


def say(s):
    sys.stdout.write(s + '\n')
    sys.stdout.flush()


def set_nodelay():
    orig = transport.TCPTransport.connect

    def connect(self):
        r = orig(self)
        self.get_socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return r
    transport.TCPTransport.connect = connect


def forget(target):
    for d in (DCOMConnection.OID_ADD, DCOMConnection.OID_DEL, DCOMConnection.OID_SET, DCOMConnection.PORTMAPS,
              INTERFACE.CONNECTIONS):
        d.pop(target, None)


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    return sorted_vals[min(len(sorted_vals) - 1, int(p * len(sorted_vals)))]


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--target', required=True)
    p.add_argument('--user', default='alice')
    p.add_argument('--domain', default='LAB')
    p.add_argument('--password', default='Secret1!')
    p.add_argument('--level', default='privacy', choices=sorted(LEVELS))
    p.add_argument('--exporter-level', default='privacy', choices=['privacy', 'hint'])
    p.add_argument('--seconds', type=float, default=3.0)
    p.add_argument('--count', type=int, default=0, help='measure this many activations instead of --seconds')
    p.add_argument('--warmup', type=float, default=1.0)
    p.add_argument('--nodelay', action='store_true')
    p.add_argument('--release', action='store_true')
    a = p.parse_args()
    level = LEVELS[a.level]
    if a.nodelay:
        set_nodelay()
    seq = [1]
    info = {}

    def once():
        dcom = DCOMConnection(a.target, a.user, a.password, a.domain, authLevel=level, oxidResolver=False)
        srv = None
        try:
            srv = ICServer(dcom.CoCreateInstanceEx(CLSID_CServer, IID_ICServer))
            if a.exporter_level == 'privacy':
                srv.get_cinstance().set_auth_level(level)
            v = seq[0] & 0x7fffffff
            seq[0] += 1
            r = srv.Ping(v)
            if r['echo'] != v or r['ErrorCode'] != 0:
                raise Exception('Ping answered echo %d hr 0x%08x (sent %d)' % (r['echo'], r['ErrorCode'] & 0xffffffff, v))
            if not info:
                d = srv.get_dce_rpc()
                info['exporterLevel'] = srv.get_cinstance().get_auth_level()
                t = d.get_rpc_transport()
                info['exporterAddress'] = '%s[%s]' % (t.getRemoteHost(), t.get_dport())
                info['activationLevel'] = level
            if a.release:
                rr = srv.RemRelease()
                if rr['ErrorCode'] != 0:
                    raise Exception('RemRelease answered 0x%08x' % (rr['ErrorCode'] & 0xffffffff))
        finally:
            if srv is not None:
                try:
                    srv.disconnect()  # the exporter connection (DCOMConnection.disconnect() leaves it open)
                except Exception:  # noqa: BLE001 - never connected
                    pass
            try:
                dcom.disconnect()
            finally:
                forget(a.target)

    try:
        once()
    except Exception as e:  # noqa: BLE001
        say('result ' + json.dumps({'ok': False, 'error': 'check failed: %r' % (e,)}))
        return 0
    errors = 0
    first_error = None
    t_end = time.monotonic() + a.warmup
    while time.monotonic() < t_end:
        try:
            once()
        except Exception as e:  # noqa: BLE001
            errors += 1
            first_error = first_error or repr(e)
            if errors > 100:
                break
    lat = []
    say('phase measure-start')
    c0 = time.process_time()
    t0 = time.perf_counter()
    t_end = t0 + a.seconds
    while (len(lat) < a.count) if a.count > 0 else (time.perf_counter() < t_end):
        s = time.perf_counter()
        try:
            once()
            lat.append((time.perf_counter() - s) * 1000)
        except Exception as e:  # noqa: BLE001
            errors += 1
            first_error = first_error or repr(e)
            if errors > 100:
                break
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    say('phase measure-end')
    srt = sorted(lat)
    say('result ' + json.dumps({
        'ok': errors == 0 and len(lat) > 0, 'count': len(lat), 'errors': errors, 'firstError': first_error,
        'elapsedMs': elapsed * 1000, 'perSec': len(lat) / elapsed if elapsed > 0 else None, 'clientCpuMs': cpu * 1000,
        'latencyMs': {'p50': percentile(srt, 0.5), 'p90': percentile(srt, 0.9), 'p99': percentile(srt, 0.99),
                      'min': srt[0] if srt else None, 'max': srt[-1] if srt else None},
        'pingTimerStarted': DCOMConnection.PINGTIMER is not None,
        'nodelay': a.nodelay, 'release': a.release, 'level': a.level, 'exporterLevelOption': a.exporter_level, **info,
        'latenciesMs': [round(x, 3) for x in lat],
    }))
    return 0


if __name__ == '__main__':
    sys.exit(main())
