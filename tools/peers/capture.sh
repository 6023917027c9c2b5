#!/usr/bin/env bash
# Capture loopback traffic with dumpcap (tshark's capture engine), stopped by PID.
#
#   tools/peers/capture.sh start DIR OUT.pcapng 'BPF filter'   start capturing on lo, wait until it runs
#   tools/peers/capture.sh stop DIR                            stop it (SIGTERM: dumpcap flushes and exits)
#
# DIR holds capture.pid and capture.log. One capture per DIR. Needs root (or dumpcap capabilities).
set -euo pipefail

die() { echo "capture.sh: $*" >&2; exit 1; }

alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

# our_pid DIR: the recorded PID, if that process is still a dumpcap.
our_pid() {
  local pid exe
  [[ -f $1/capture.pid ]] || return 1
  pid=$(<"$1/capture.pid")
  [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  [[ ${exe##*/} == dumpcap ]] || return 1
  echo "$pid"
}

start() {
  local dir=$1 out=$2 filter=$3 pid i
  mkdir -p "$dir"
  if our_pid "$dir" >/dev/null; then die "a capture is already running for $dir"; fi
  command -v dumpcap >/dev/null || die "dumpcap is not installed (Debian: tshark)"
  rm -f "$out"
  # -P would write pcap; default is pcapng. -q: no packet count on stderr.
  (cd / && exec dumpcap -q -i lo -f "$filter" -w "$out" </dev/null >"$dir/capture.log" 2>&1) &
  pid=$!
  echo "$pid" >"$dir/capture.pid"
  # dumpcap prints "File: OUT" once the capture is open and running.
  for ((i = 0; i < 200; i++)); do
    if grep -q '^File: ' "$dir/capture.log" 2>/dev/null; then
      sleep 0.2   # the filter is attached before "File:" is printed; a little margin anyway
      echo "capture.sh: dumpcap PID $pid writing $out" >&2
      return 0
    fi
    alive "$pid" || { cat "$dir/capture.log" >&2; die "dumpcap exited"; }
    sleep 0.05
  done
  stop "$dir"
  die "dumpcap did not start within 10 s"
}

stop() {
  local dir=$1 pid i
  pid=$(our_pid "$dir") || { rm -f "$dir/capture.pid"; return 0; }
  sleep 0.6   # libpcap hands packets over after its 250 ms timeout; dumpcap exits on SIGTERM without waiting
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    if ! alive "$pid"; then
      rm -f "$dir/capture.pid"
      return 0
    fi
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/capture.pid"
  die "dumpcap PID $pid did not stop on SIGTERM (killed)"
}

case ${1:-} in
  start) [[ $# == 4 ]] || die "usage: $0 start DIR OUT FILTER"; start "$2" "$3" "$4" ;;
  stop) [[ $# == 2 ]] || die "usage: $0 stop DIR"; [[ -d $2 ]] || exit 0; stop "$2" ;;
  *) die "usage: $0 start DIR OUT FILTER | stop DIR" ;;
esac
