#!/usr/bin/env bash
# Stop stale lab peers left behind by an earlier, interrupted run: only processes recorded in our own
# pidfiles under the peers root, and only after checking that the PID still runs the expected program
# (samba.sh and capture.sh do that check). Nothing is ever killed by name.
#
# Peers root: $DCOMLAB_PEERS_ROOT, else $TMPDIR/dcomlab-peers (TMPDIR, TMP, TEMP or /tmp, as Node's
# os.tmpdir(): the same place test/support/peers.ts uses).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=${TMPDIR:-${TMP:-${TEMP:-/tmp}}}
root=${DCOMLAB_PEERS_ROOT:-${tmp%/}/dcomlab-peers}
[[ -d $root ]] || exit 0

shopt -s nullglob
for pidfile in "$root"/*/samba.pid; do
  dir=${pidfile%/samba.pid}
  echo "cleanup: samba in $dir" >&2
  bash "$here/samba.sh" stop "$dir" || echo "cleanup: could not stop samba in $dir" >&2
done
for pidfile in "$root"/*/capture.pid; do
  dir=${pidfile%/capture.pid}
  echo "cleanup: capture in $dir" >&2
  bash "$here/capture.sh" stop "$dir" || echo "cleanup: could not stop capture in $dir" >&2
done
