#!/usr/bin/env bash
# Re-make the captures in pcaps/ with real peers, on loopback only. Needs root, tshark (dumpcap),
# python3-impacket and Samba (see .ci/run for the Debian packages). Describe every capture in pcaps/README.md.
#
#   tools/make-pcaps.sh            all captures
#   tools/make-pcaps.sh NAME...    only these (names as in the list below)
#
# Each capture: start the peer, start dumpcap on lo, run the client, stop dumpcap (by PID), stop the peer
# (by PID), check that tshark decodes it with no malformed frame. Work files go to
# $DCOMLAB_PEERS_ROOT/make-pcaps{,-samba} (default under $TMPDIR/dcomlab-peers); a fresh DC is provisioned per run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
project=$(pwd -P)
peers=$project/tools/peers
tmp=${TMPDIR:-${TMP:-${TEMP:-/tmp}}}
root=${DCOMLAB_PEERS_ROOT:-${tmp%/}/dcomlab-peers}
work=$root/make-pcaps
samba_dir=$root/make-pcaps-samba
PY=/usr/bin/python3   # Debian's python3: the one that can import impacket
IMPACKET=/usr/share/doc/python3-impacket/examples

log() { printf '==> %s\n' "$*" >&2; }

cleanup() {
  bash "$peers/capture.sh" stop "$work" || true
  bash "$peers/samba.sh" stop "$samba_dir" || true
}
trap cleanup EXIT

# check FILE: tshark decodes it, with DCE/RPC PDUs and no malformed frame or expert error.
check() {
  local file=$1 pdus bad
  pdus=$(tshark -n -r "$file" -Y 'dcerpc' -T fields -e dcerpc.pkt_type -E occurrence=a 2>/dev/null | tr ',' '\n' | grep -c . || true)
  bad=$(tshark -n -r "$file" -Y '_ws.malformed || _ws.expert.severity == error' 2>/dev/null | wc -l)
  log "$(basename "$file"): $(tshark -n -r "$file" 2>/dev/null | wc -l) frames, $pdus DCE/RPC PDUs, $bad malformed/error frames, $(stat -c %s "$file") bytes"
  ((pdus > 0)) || { echo "no DCE/RPC in $file" >&2; return 1; }
  ((bad == 0)) || { echo "tshark finds malformed frames in $file" >&2; return 1; }
}

start_samba() {
  bash "$peers/samba.sh" start "$samba_dir" >/dev/null
}

# ---------------------------------------------------------------------------------------------------
# impacket-rpcdump-samba-epm: Impacket's rpcdump.py (unauthenticated ept_lookup) against Samba's
# endpoint mapper on 127.0.0.1:135.
make_impacket_rpcdump_samba_epm() {
  local out=$project/pcaps/impacket-rpcdump-samba-epm.pcapng
  start_samba
  bash "$peers/capture.sh" start "$work" "$work/capture.pcapng" 'tcp port 135'
  # rpcdump 0.10 ends with "Protocol failed: ... ept_s_not_registered" against Samba (see pcaps/README.md);
  # its exit status is 0 either way, and the capture is checked below.
  "$PY" "$IMPACKET/rpcdump.py" 127.0.0.1 >"$work/rpcdump.out" 2>&1 || true
  bash "$peers/capture.sh" stop "$work"
  sed 's/^/    rpcdump: /' "$work/rpcdump.out" >&2
  install -m 0644 "$work/capture.pcapng" "$out"
  check "$out"
}

# ---------------------------------------------------------------------------------------------------
# dcomlab-epm-session: a dcomlab client talking to a dcomlab server (endpoint mapper + mgmt, in-process on
# 127.0.0.8:135): bind, alter_context, ept_lookup (2 response fragments), ept_map found and not found,
# mgmt inq_if_ids, an opnum out of range and a request on an unknown context (two faults). The session and
# its capture are test/interop/epm-tshark.test.ts's own (it captures with tools/peers/capture.sh); with
# DCOMLAB_EPM_SESSION_OUT set it copies the capture there once every assertion on it has passed.
make_dcomlab_epm_session() {
  local out=$project/pcaps/dcomlab-epm-session.pcapng
  rm -f "$work/dcomlab-epm-session.pcapng"
  DCOMLAB_EPM_SESSION_OUT=$work/dcomlab-epm-session.pcapng \
    npx vitest run test/interop/epm-tshark.test.ts -t 'a dcomlab client/server EPM session decoded by tshark' >"$work/vitest.out" 2>&1 \
    || { cat "$work/vitest.out" >&2; echo "test/interop/epm-tshark.test.ts failed" >&2; return 1; }
  [[ -s $work/dcomlab-epm-session.pcapng ]] \
    || { cat "$work/vitest.out" >&2; echo "the test saved no capture (skipped? tshark missing?)" >&2; return 1; }
  install -m 0644 "$work/dcomlab-epm-session.pcapng" "$out"
  check "$out"
}

# ---------------------------------------------------------------------------------------------------
# dcomlab-epm-samba-lookup: `dcomlab epm lookup 127.0.0.1` (the built CLI, unauthenticated ept_lookup
# until the entry handle is null or the status is not 0) against Samba's endpoint mapper on 127.0.0.1:135.
make_dcomlab_epm_samba_lookup() {
  local out=$project/pcaps/dcomlab-epm-samba-lookup.pcapng
  npm run build --silent >"$work/build.out" 2>&1 || { cat "$work/build.out" >&2; return 1; }
  start_samba
  bash "$peers/capture.sh" start "$work" "$work/capture.pcapng" 'tcp port 135'
  node dist/cli/main.js epm lookup 127.0.0.1 >"$work/lookup.out" 2>&1 \
    || { bash "$peers/capture.sh" stop "$work"; cat "$work/lookup.out" >&2; return 1; }
  bash "$peers/capture.sh" stop "$work"
  tail -n 1 "$work/lookup.out" | sed 's/^/    dcomlab: /' >&2
  install -m 0644 "$work/capture.pcapng" "$out"
  check "$out"
}

# ---------------------------------------------------------------------------------------------------
# impacket-dcom-dcomlab-LEVEL: Impacket's DCOMConnection (tools/peers/dcom_lab_client.py) against
# `dcomlab serve` on 127.0.0.6 (port 135 and a dynamic exporter port), account LAB\alice / Secret1!,
# NTLMv2: activation of CServer, Ping(41), WhoAmI, ForwardCall(NULL), RemQueryInterface, RemRelease,
# ComplexPing/SimplePing, ServerAlive2, ResolveOxid2.
make_impacket_dcom_dcomlab() {
  local level=$1 out=$project/pcaps/impacket-dcom-dcomlab-$1.pcapng pid
  npm run build --silent >"$work/build.out" 2>&1 || { cat "$work/build.out" >&2; return 1; }
  bash "$peers/capture.sh" start "$work" "$work/capture.pcapng" 'host 127.0.0.6'
  node dist/cli/main.js serve --host 127.0.0.6 --resolver-port 135 --user 'LAB\alice:Secret1!' --log-level warn >"$work/serve.out" 2>&1 &
  pid=$!
  for _ in $(seq 50); do grep -q 'object exporter listening' "$work/serve.out" && break; sleep 0.1; done
  "$PY" "$peers/dcom_lab_client.py" --target 127.0.0.6 --user alice --domain LAB --password 'Secret1!' --level "$level" >"$work/client.out" 2>&1 || true
  bash "$peers/capture.sh" stop "$work"
  kill "$pid"; wait "$pid" || true
  grep -q '"echo": 41' "$work/client.out" || { cat "$work/client.out" "$work/serve.out" >&2; echo "the Impacket session failed" >&2; return 1; }
  install -m 0644 "$work/capture.pcapng" "$out"
  check "$out"
}
make_impacket_dcom_dcomlab_connect() { make_impacket_dcom_dcomlab connect; }
make_impacket_dcom_dcomlab_integrity() { make_impacket_dcom_dcomlab integrity; }
make_impacket_dcom_dcomlab_privacy() { make_impacket_dcom_dcomlab privacy; }

# ---------------------------------------------------------------------------------------------------
# sp2-anonymous-callback, sp2-fix-process-identity, sp2-firewall: the SP2 scenarios on the loopback topology (server box 127.0.0.2, client box 127.0.0.3,
# resolver port 135), captured by `dcomlab scenario NAME --capture` (dumpcap on lo).
make_sp2_scenario() {
  local name=$1 out=$project/pcaps/$1.pcapng
  npm run build --silent >"$work/build.out" 2>&1 || { cat "$work/build.out" >&2; return 1; }
  rm -rf "$work/scenario"
  node dist/cli/main.js scenario "$name" --resolver-port 135 --capture "$work/scenario" >"$work/scenario.out" 2>&1 \
    || { cat "$work/scenario.out" >&2; echo "scenario $name did not pass" >&2; return 1; }
  install -m 0644 "$work/scenario/$name.pcapng" "$out"
  check "$out"
}
make_sp2_anonymous_callback() { make_sp2_scenario sp2-anonymous-callback; }
make_sp2_fix_process_identity() { make_sp2_scenario fix-process-identity && mv "$project/pcaps/fix-process-identity.pcapng" "$project/pcaps/sp2-fix-process-identity.pcapng"; }
make_sp2_firewall() { make_sp2_scenario sp2-firewall; }

ALL=(impacket-rpcdump-samba-epm dcomlab-epm-session dcomlab-epm-samba-lookup impacket-dcom-dcomlab-connect impacket-dcom-dcomlab-integrity impacket-dcom-dcomlab-privacy sp2-anonymous-callback sp2-fix-process-identity sp2-firewall)

[[ $(id -u) == 0 ]] || { echo "make-pcaps.sh: needs root (capture on lo, Samba on port 135)" >&2; exit 1; }
names=("$@")
((${#names[@]})) || names=("${ALL[@]}")
# A fresh DC for every run: its SIDs and GUIDs are new, nothing from an earlier run leaks in.
bash "$peers/samba.sh" stop "$samba_dir" 2>/dev/null || true
rm -rf "$work" "$samba_dir"
mkdir -p "$work" "$project/pcaps"
for name in "${names[@]}"; do
  fn=make_${name//-/_}
  declare -F "$fn" >/dev/null || { echo "make-pcaps.sh: no capture named $name (have: ${ALL[*]})" >&2; exit 2; }
  log "$name"
  "$fn"
done
log "versions: $(tshark --version | head -n 1); $(samba --version); impacket $("$PY" -c 'from impacket import version; print(version.version)')"
# Success: the work files go (on failure they stay, for their logs).
cleanup
trap - EXIT
rm -rf "$work" "$samba_dir"
