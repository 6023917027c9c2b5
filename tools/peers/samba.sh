#!/usr/bin/env bash
# A throwaway Samba 4.17 AD DC on 127.0.0.1, everything under one directory.
#
#   tools/peers/samba.sh start DIR    provision DIR (first time only), start the DC, wait for 127.0.0.1:135,
#                                     print DIR/creds.json. Returns at once if it is already running and healthy.
#   tools/peers/samba.sh stop DIR     stop the DC by the PID recorded in DIR/samba.pid (its process group too)
#   tools/peers/samba.sh status DIR   exit 0 if running and healthy
#
# Files in DIR: etc/smb.conf, private/ (sam.ldb, secrets), state/, cache/, run/ (samba's own pid file,
# ncalrpc sockets), samba.pid (our record of the root PID), samba.log (all of samba's debug output),
# provision.log, creds.json.
#
# Environment (all optional):
#   DCOMLAB_SAMBA_SERVICES   `server services` to run (default "rpc": endpoint mapper on 135 plus SAMR,
#                            LSA, netlogon... on ncacn_ip_tcp). E.g. "rpc ldap kdc" when Kerberos is wanted.
#   DCOMLAB_SAMBA_DEBUG      samba debug level (default 1)
#   DCOMLAB_SAMBA_MAX_RUNTIME  seconds after which samba exits by itself (default 7200), a safety net
#                            for a test run that dies without calling stop.
set -euo pipefail

REALM=SAMDOM.EXAMPLE.COM
DOMAIN=SAMDOM
NETBIOS_NAME=DCOMLAB-DC
HOST=127.0.0.1
ADMIN_USER=Administrator
ADMIN_PASS='Admin-Pass1!'
TEST_USER=labuser
TEST_PASS='LabPass1!'
SERVICES=${DCOMLAB_SAMBA_SERVICES:-rpc}
DEBUG_LEVEL=${DCOMLAB_SAMBA_DEBUG:-1}
MAX_RUNTIME=${DCOMLAB_SAMBA_MAX_RUNTIME:-7200}
START_TIMEOUT=60

# /usr/sbin is not on every user's PATH.
PATH=$PATH:/usr/sbin:/sbin

die() { echo "samba.sh: $*" >&2; exit 1; }

usage() { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# alive PID: the process exists and is not a zombie (in containers PID 1 may never reap it).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

# our_pid DIR: print the recorded root PID if that process is still our samba.
# A PID is trusted only if it runs /usr/sbin/samba and samba's own pid file in DIR/run agrees
# (or has not been written yet), so a reused PID is never signalled.
our_pid() {
  local dir=$1 pid exe own
  [[ -f $dir/samba.pid ]] || return 1
  pid=$(<"$dir/samba.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  [[ ${exe##*/} == samba* ]] || return 1
  if [[ -f $dir/run/samba.pid ]]; then
    own=$(tr -dc '0-9' <"$dir/run/samba.pid")
    [[ -z $own || $own == "$pid" ]] || return 1
  fi
  echo "$pid"
}

healthy() {
  our_pid "$1" >/dev/null && port_open "$HOST" 135
}

write_creds() {
  local dir=$1
  cat >"$dir/creds.json.tmp" <<EOF
{
  "domain": "$DOMAIN",
  "realm": "$REALM",
  "netbiosName": "$NETBIOS_NAME",
  "host": "$HOST",
  "admin": { "user": "$ADMIN_USER", "password": "$ADMIN_PASS" },
  "user": { "user": "$TEST_USER", "password": "$TEST_PASS" },
  "dir": "$dir",
  "smbConf": "$dir/etc/smb.conf"
}
EOF
  mv "$dir/creds.json.tmp" "$dir/creds.json"
}

provision() {
  local dir=$1 conf=$1/etc/smb.conf t0=$SECONDS
  # creds.json is written last: without it, a provision is incomplete and is redone.
  rm -rf "$dir/etc" "$dir/private" "$dir/state" "$dir/cache" "$dir/bind-dns" "$dir/run" "$dir/log"
  mkdir -p "$dir/etc" "$dir/run" "$dir/log"
  # An empty config file, so that provision does not inherit /etc/samba/smb.conf (Debian's file server
  # defaults: unix password sync, [homes], [printers]...).
  : >"$conf"
  echo "samba.sh: provisioning $REALM in $dir" >&2
  if ! samba-tool domain provision -s "$conf" --targetdir="$dir" \
      --server-role=dc --dns-backend=NONE \
      --realm="$REALM" --domain="$DOMAIN" --host-name="$NETBIOS_NAME" --host-ip="$HOST" \
      --adminpass="$ADMIN_PASS" \
      --option="interfaces=$HOST" --option="bind interfaces only=yes" \
      --option="server services=$SERVICES" \
      --option="pid directory=$dir/run" \
      --option="ncalrpc dir=$dir/run/ncalrpc" \
      --option="winbindd socket directory=$dir/run/winbindd" \
      --option="ntp signd socket directory=$dir/run/ntp_signd" \
      --option="log file=$dir/log/samba.log" \
      --option="smb passwd file=$dir/private/smbpasswd" \
      --option="usershare path=$dir/usershares" \
      --option="prefork children=2" \
      >"$dir/provision.log" 2>&1; then
    tail -n 20 "$dir/provision.log" >&2
    die "provision failed (full log: $dir/provision.log)"
  fi
  # Any path still outside DIR would be shared with the host's samba: refuse.
  local stray
  stray=$(testparm -s -v "$conf" 2>/dev/null | grep -E '^\s*[a-z ]*(dir|directory|file|path) = /' | grep -v 'template homedir' | grep -vF "$dir" || true)
  if [[ -n $stray ]]; then
    echo "$stray" >&2
    die "provisioned smb.conf has paths outside $dir"
  fi
  # Offline, straight on sam.ldb (samba is not running yet). samba-tool wants its options after the subcommand.
  local ldb=(-s "$conf" -H "$dir/private/sam.ldb")
  {
    samba-tool domain passwordsettings set --complexity=off --min-pwd-length=1 \
      --min-pwd-age=0 --max-pwd-age=0 --history-length=0 --account-lockout-threshold=0 "${ldb[@]}"
    samba-tool user create "$TEST_USER" "$TEST_PASS" --given-name=Lab --surname=User "${ldb[@]}"
    samba-tool user setexpiry "$TEST_USER" --noexpiry "${ldb[@]}"
    samba-tool user setexpiry "$ADMIN_USER" --noexpiry "${ldb[@]}"
  } >>"$dir/provision.log" 2>&1 || { tail -n 20 "$dir/provision.log" >&2; die "user setup failed"; }
  write_creds "$dir"
  echo "samba.sh: provisioned in $((SECONDS - t0)) s" >&2
}

start() {
  local dir=$1
  if healthy "$dir"; then
    cat "$dir/creds.json"
    return
  fi
  [[ $(id -u) == 0 ]] || die "a Samba AD DC must run as root (it binds port 135)"
  command -v samba >/dev/null || die "samba is not installed (Debian: samba samba-ad-dc samba-ad-provision)"
  # A stale record of ours: stop it first.
  if our_pid "$dir" >/dev/null; then stop "$dir"; fi
  if port_open "$HOST" 135; then
    ss -Hltnp 'sport = :135' >&2 2>/dev/null || true
    die "127.0.0.1:135 is already taken by a process that is not this DC ($dir); stop it first (tools/peers/cleanup.sh stops the lab's own)"
  fi
  [[ -f $dir/creds.json && -f $dir/private/sam.ldb ]] || provision "$dir"

  rm -f "$dir/run/samba.pid"
  local t0=$SECONDS pid
  # -F: stay in the foreground, so that $! is samba's own root PID. -F does not start a process group,
  # so setsid(1) does: stop can then signal the whole group (prefork master, workers). setsid only forks
  # when its caller leads a process group, which this background subshell never does (no job control).
  # Not -i: interactive samba exits as soon as stdin reaches EOF. --debug-stdout: one log, DIR/samba.log.
  (cd / && exec setsid samba -F -s "$dir/etc/smb.conf" --debug-stdout -d "$DEBUG_LEVEL" \
      --option="server services=$SERVICES" --maximum-runtime="$MAX_RUNTIME" \
      </dev/null >"$dir/samba.log" 2>&1 9>&-) &
  pid=$!
  echo "$pid" >"$dir/samba.pid"
  while ! port_open "$HOST" 135; do
    if ! alive "$pid"; then
      tail -n 30 "$dir/samba.log" >&2
      die "samba exited during start-up (log: $dir/samba.log)"
    fi
    if ((SECONDS - t0 >= START_TIMEOUT)); then
      tail -n 30 "$dir/samba.log" >&2
      stop "$dir"
      die "127.0.0.1:135 not accepting connections after ${START_TIMEOUT}s (log: $dir/samba.log)"
    fi
    sleep 0.1
  done
  echo "samba.sh: samba PID $pid listening on $HOST:135 after $((SECONDS - t0)) s" >&2
  cat "$dir/creds.json"
}

stop() {
  local dir=$1 pid pgid sig i
  if ! pid=$(our_pid "$dir"); then
    rm -f "$dir/samba.pid"
    return 0
  fi
  pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ' || true)
  for sig in TERM KILL; do
    if [[ $pgid == "$pid" ]]; then
      kill -s "$sig" -- "-$pid" 2>/dev/null || true   # the whole group: prefork masters and workers
    else
      kill -s "$sig" "$pid" 2>/dev/null || true
    fi
    for ((i = 0; i < 100; i++)); do
      if ! alive "$pid" && { [[ $pgid != "$pid" ]] || ! group_alive "$pid"; }; then
        rm -f "$dir/samba.pid"
        echo "samba.sh: stopped samba PID $pid" >&2
        return 0
      fi
      sleep 0.1
    done
  done
  die "samba PID $pid did not exit"
}

# group_alive PGID: some non-zombie process is still in that group.
group_alive() {
  ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^[ZX]/ { found = 1 } END { exit !found }'
}

[[ $# == 2 ]] || usage
cmd=$1
if [[ $cmd != start && ! -d $2 ]]; then
  [[ $cmd == stop ]] && exit 0
  exit 1
fi
mkdir -p "$2"
dir=$(cd "$2" && pwd -P)

exec 9>"$dir/.lock"
flock -w 120 9 || die "could not lock $dir/.lock"

case $cmd in
  start) start "$dir" ;;
  stop) stop "$dir" ;;
  status) healthy "$dir" ;;
  *) usage ;;
esac
