#!/usr/bin/env bash
# A second Docker engine beside the machine's own, with the containerd image store:
# Docker Desktop's builder behaviour (multi-platform builds with the `docker` driver,
# `--load` of a multi-platform image, provenance attestations).
#
#   engine-containerd.sh up        provision if needed, start it, print `export DOCKER_HOST=...`
#   engine-containerd.sh down      stop what `up` started (by PID files), remove its bridge
#   engine-containerd.sh env       print `export DOCKER_HOST=...` (for eval)
#   engine-containerd.sh status    exit 0 when it answers
#   engine-containerd.sh provision only fetch the binaries (no daemon)
#
# Binaries: Debian trixie's docker.io 26.1.5 and containerd 1.7.24 (they need glibc 2.34,
# so they run on bookworm), trixie's tini-static as docker-init, and the system's runc
# (trixie's needs glibc 2.38). Trixie is used through a private apt list for the
# download only, never added to the system's sources. Everything lives under its own
# prefix, sockets, state dirs and bridge: the first engine (docker0, /var/lib/docker,
# /run/docker.sock) is never touched. Never `--bridge=none`: dockerd then deletes docker0.
set -euo pipefail

NAME=xtask-engine2
PREFIX=${XTASK_ENGINE2_PREFIX:-/opt/$NAME}       # binaries and config
BIN=$PREFIX/bin
ETC=$PREFIX/etc
STATE=/var/lib/$NAME                             # data-root, containerd root
RUN=/run/$NAME                                   # sockets, exec-root, PID files
LOG=/var/log/$NAME
SOCK=$RUN/docker.sock
CTR_SOCK=$RUN/containerd/containerd.sock
BRIDGE=xtask-br2                                 # at most 15 characters
BRIDGE_ADDR=10.213.0.1/24
# The packages whose binaries we take, and the versions they must report.
TRIXIE_PKGS=(docker.io containerd tini)
DOCKERD_VERSION=26.1.5
CONTAINERD_VERSION=1.7.24
START_TIMEOUT=${XTASK_ENGINE2_TIMEOUT:-60}


say() { echo "engine2: $*" >&2; }
die() { say "$*"; exit 1; }

print_env() { echo "export DOCKER_HOST=unix://$SOCK"; }

# Answers in milliseconds: no docker CLI start-up, no API negotiation.
answers() { curl -sf --max-time 2 --unix-socket "$SOCK" http://engine2/_ping >/dev/null 2>&1; }

provisioned() {
  local b
  for b in dockerd docker-proxy docker-init containerd containerd-shim-runc-v2; do
    [ -x "$BIN/$b" ] || return 1
  done
  command -v runc >/dev/null
}

provision() {
  provisioned && return 0
  command -v runc >/dev/null || {
    say "apt-get install runc (bookworm's: trixie's needs glibc 2.38)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends runc >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends runc >/dev/null; }
  }
  say "fetching ${TRIXIE_PKGS[*]} from Debian trixie (private apt list) into $BIN"
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  mkdir -p "$tmp/lists/partial" "$tmp/archives/partial" "$tmp/x"
  echo "deb http://deb.debian.org/debian trixie main" >"$tmp/sources.list"
  local aptopts=(-oDir::Etc::SourceList="$tmp/sources.list" -oDir::Etc::SourceParts=/dev/null
                 -oDir::State::Lists="$tmp/lists" -oDir::Cache::Archives="$tmp/archives"
                 -oAPT::Sandbox::User=root)
  apt-get "${aptopts[@]}" update -qq
  (cd "$tmp" && apt-get "${aptopts[@]}" download "${TRIXIE_PKGS[@]}" >/dev/null)
  local d
  for d in "$tmp"/*.deb; do dpkg -x "$d" "$tmp/x"; done
  "$tmp/x/usr/sbin/dockerd" --version | grep -q " $DOCKERD_VERSION" \
    || die "trixie's dockerd is not $DOCKERD_VERSION: $("$tmp/x/usr/sbin/dockerd" --version)"
  "$tmp/x/usr/bin/containerd" --version | grep -q " $CONTAINERD_VERSION" \
    || die "trixie's containerd is not $CONTAINERD_VERSION: $("$tmp/x/usr/bin/containerd" --version)"
  mkdir -p "$BIN"
  install -m 0755 "$tmp/x/usr/sbin/dockerd" "$tmp/x/usr/sbin/docker-proxy" \
                  "$tmp/x/usr/bin/containerd" "$tmp/x/usr/bin/containerd-shim-runc-v2" "$BIN/"
  install -m 0755 "$tmp/x/usr/bin/tini-static" "$BIN/docker-init"
  rm -rf "$tmp"
  trap - EXIT
}

write_configs() {
  mkdir -p "$ETC"
  cat >"$ETC/containerd.toml" <<EOF
version = 2
root = "$STATE/containerd"
state = "$RUN/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CTR_SOCK"
[ttrpc]
  address = "$CTR_SOCK.ttrpc"
[debug]
  address = "$RUN/containerd/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd-opt"
EOF
  cat >"$ETC/daemon.json" <<EOF
{
  "features": {"containerd-snapshotter": true},
  "cgroup-parent": "$NAME"
}
EOF
}

# PID from a PID file, only if that process is still the binary we started.
live_pid() { # FILE BINARY
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1")
  [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$2" ] && echo "$pid"
}

start_daemon() { # PIDFILE LOGFILE BINARY ARGS...
  local pidfile=$1 log=$2
  shift 2
  # A backgrounded process of a non-interactive shell is no group leader, so setsid
  # execs in place and $! is the daemon's own PID.
  ( exec setsid "$@" </dev/null >>"$log" 2>&1 ) &
  echo $! >"$pidfile"
}

fail_with_logs() {
  local f
  for f in "$LOG/containerd.log" "$LOG/dockerd.log"; do
    [ -f "$f" ] && { echo "--- tail $f" >&2; tail -n 30 "$f" >&2; }
  done
  die "$*"
}

up() {
  if answers; then print_env; return 0; fi
  provision
  write_configs
  mkdir -p "$STATE" "$RUN/containerd" "$LOG"
  export PATH="$BIN:$PATH"   # docker-init, docker-proxy, containerd-shim-runc-v2; runc from the system

  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  ip addr show dev "$BRIDGE" | grep -q "inet ${BRIDGE_ADDR%/*}/" || ip addr add "$BRIDGE_ADDR" dev "$BRIDGE"
  ip link set "$BRIDGE" up

  if ! live_pid "$RUN/containerd.pid" "$BIN/containerd" >/dev/null; then
    : >"$LOG/containerd.log"
    start_daemon "$RUN/containerd.pid" "$LOG/containerd.log" \
      "$BIN/containerd" --config "$ETC/containerd.toml"
    for _ in $(seq 1 $((START_TIMEOUT * 10))); do
      [ -S "$CTR_SOCK" ] && break
      live_pid "$RUN/containerd.pid" "$BIN/containerd" >/dev/null || fail_with_logs "containerd exited"
      sleep 0.1
    done
    [ -S "$CTR_SOCK" ] || fail_with_logs "containerd did not open $CTR_SOCK in ${START_TIMEOUT}s"
  fi

  if ! live_pid "$RUN/dockerd.pid" "$BIN/dockerd" >/dev/null; then
    : >"$LOG/dockerd.log"
    rm -f "$RUN/dockerd.pid"
    start_daemon "$RUN/dockerd.launch.pid" "$LOG/dockerd.log" \
      "$BIN/dockerd" -H "unix://$SOCK" \
        --data-root "$STATE/docker" --exec-root "$RUN/exec" --pidfile "$RUN/dockerd.pid" \
        --containerd "$CTR_SOCK" --config-file "$ETC/daemon.json" \
        --bridge "$BRIDGE" --iptables=false --ip6tables=false
  fi
  for _ in $(seq 1 $((START_TIMEOUT * 10))); do
    answers && break
    [ -e "/proc/$(cat "$RUN/dockerd.launch.pid")" ] || fail_with_logs "dockerd exited"
    sleep 0.1
  done
  answers || fail_with_logs "dockerd did not answer on $SOCK in ${START_TIMEOUT}s"
  print_env
}

stop_pid() { # PIDFILE BINARY NAME
  local pid
  pid=$(live_pid "$1" "$2") || { rm -f "$1"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do
    [ -e "/proc/$pid" ] || break
    sleep 0.1
  done
  if [ -e "/proc/$pid" ]; then say "$3 ($pid) ignored TERM for 20s: KILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$1"
}

down() {
  stop_pid "$RUN/dockerd.pid" "$BIN/dockerd" dockerd
  # dockerd may have died before writing its own PID file
  stop_pid "$RUN/dockerd.launch.pid" "$BIN/dockerd" dockerd
  stop_pid "$RUN/containerd.pid" "$BIN/containerd" containerd
  # shims that our containerd started (they carry its socket address)
  local p
  for p in $(pgrep -f -- "-address $CTR_SOCK" 2>/dev/null || true); do
    if [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$BIN/containerd-shim-runc-v2" ]; then
      kill -TERM "$p" 2>/dev/null || true
    fi
  done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
  rm -f "$SOCK"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) print_env ;;
  status) if answers; then echo "up: unix://$SOCK"; else echo "down" >&2; exit 1; fi ;;
  provision) provision ;;
  *) echo "usage: $0 up|down|env|status|provision" >&2; exit 2 ;;
esac
