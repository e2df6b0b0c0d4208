#!/usr/bin/env bash
# Proves, by hand and in seconds, what the test suite relies on from the two engines that
# install.sh starts and from Debian's docker-registry:
#  - the second engine (engine-containerd.sh) has the containerd image store, buildx's
#    `docker` driver builds multi-platform images, pushes them to a loopback registry
#    over plain HTTP, with `--provenance=mode=max`, and `--load`s them; the first engine
#    and its docker0 keep working;
#  - a registry with htpasswd auth: `docker login` then pushes work from both engines;
#    without credentials or with a wrong password they fail, and this prints the errors.
# Starts its own registries on free loopback ports and stops them (by PID) on exit.
# Uses a private DOCKER_CONFIG, so ~/.docker/config.json is never touched.
set -euo pipefail

ENGINE2=unix:///run/xtask-engine2/docker.sock
work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# A registry on 127.0.0.1:PORT storing under $work/NAME; AUTH non-empty adds htpasswd auth.
# In-memory storage: the filesystem driver of distribution 2.8 rewrites a tag's link file
# in place, and a HEAD racing the engine's concurrent tag PUTs then gets a 500
# ("invalid checksum digest format"); seen about once in 50 multi-platform pushes.
start_registry() { # NAME PORT [HTPASSWD]
  local dir=$work/$1
  mkdir -p "$dir"
  {
    echo "version: 0.1"
    echo "log: {level: error}"
    echo "storage: {inmemory: {}}"
    echo "http: {addr: 127.0.0.1:$2}"
    if [ -n "${3:-}" ]; then
      echo "auth: {htpasswd: {realm: xtask-test, path: $3}}"
    fi
  } >"$dir/config.yml"
  docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do
    curl -s -o /dev/null "http://127.0.0.1:$2/v2/" && return 0
    sleep 0.1
  done
  cat "$dir/log" >&2
  fail "registry $1 did not answer on 127.0.0.1:$2"
}

export DOCKER_CONFIG=$work/docker-config
mkdir -p "$DOCKER_CONFIG/cli-plugins"
for d in "$HOME/.docker/cli-plugins" /usr/local/lib/docker/cli-plugins /usr/libexec/docker/cli-plugins; do
  [ -x "$d/docker-buildx" ] && { ln -sf "$d/docker-buildx" "$DOCKER_CONFIG/cli-plugins/"; break; }
done
docker buildx version >/dev/null || fail "no buildx plugin"

ctx=$work/ctx
mkdir -p "$ctx"
# shellcheck disable=SC2016 # $TARGETARCH is for the Dockerfile
printf 'FROM scratch\nARG TARGETARCH\nCOPY hello-$TARGETARCH /hello\n' >"$ctx/Dockerfile"
echo amd64 >"$ctx/hello-amd64"
echo arm64 >"$ctx/hello-arm64"

first_engine_ok() {
  env -u DOCKER_HOST docker info --format '{{.ServerVersion}}' >/dev/null || fail "first engine stopped answering"
  ip link show docker0 >/dev/null 2>&1 || fail "docker0 is gone"
}

# --- the second engine
DOCKER_HOST=$ENGINE2 docker info --format '{{json .DriverStatus}}' | grep -q io.containerd.snapshotter \
  || fail "engine2 has no containerd snapshotter"
ok "engine2 image store: containerd snapshotter"
DOCKER_HOST=$ENGINE2 docker buildx inspect | grep -qE '^Driver: +docker$' || fail "engine2 builder is not the docker driver"
ok "engine2 builder driver: docker"

port=$(free_port)
start_registry plain "$port"
t0=$(date +%s%N)
DOCKER_HOST=$ENGINE2 docker buildx build -q --platform linux/amd64,linux/arm64 --push \
  -t "127.0.0.1:$port/x:1" "$ctx" >/dev/null || fail "multi-platform --push"
ok "multi-platform --push over plain HTTP to 127.0.0.1 in $(( ($(date +%s%N) - t0) / 1000000 )) ms (no insecure-registries needed)"
platforms=$(docker buildx imagetools inspect --raw "127.0.0.1:$port/x:1" \
  | python3 -c 'import json,sys;print(" ".join(sorted(m["platform"]["os"]+"/"+m["platform"]["architecture"] for m in json.load(sys.stdin)["manifests"])))')
[[ $platforms == *linux/amd64*linux/arm64* ]] || fail "index lists: $platforms"
ok "index lists: $platforms"
DOCKER_HOST=$ENGINE2 docker buildx build -q --platform linux/amd64,linux/arm64 --provenance=mode=max --push \
  -t "127.0.0.1:$port/x:prov" "$ctx" >/dev/null || fail "--provenance=mode=max"
ok "--provenance=mode=max --push"
DOCKER_HOST=$ENGINE2 docker buildx build -q --platform linux/amd64,linux/arm64 --load -t xtask-check:load "$ctx" >/dev/null \
  || fail "--load of a multi-platform image"
DOCKER_HOST=$ENGINE2 docker image rm xtask-check:load >/dev/null
ok "--load of a multi-platform image"
if out=$(DOCKER_HOST=$ENGINE2 docker buildx build --platform linux/amd64 \
    -o "type=image,name=127.0.0.1:$port/x,push-by-digest=true,name-canonical=true,push=true" "$ctx" 2>&1); then
  ok "push-by-digest accepted (unexpected)"
else
  ok "push-by-digest refused: $(tail -n 1 <<<"$out")"
fi
first_engine_ok
ok "first engine and docker0 unharmed"

# --- htpasswd auth: bcrypt is the only hash distribution accepts; cost 5 keeps each
# request cheap (the registry checks the password on every request)
command -v htpasswd >/dev/null || fail "no htpasswd (apt-get install apache2-utils)"
htpasswd -Bbn -C 5 xtask s3cret >"$work/htpasswd"
aport=$(free_port)
start_registry auth "$aport" "$work/htpasswd"
reg=127.0.0.1:$aport

# expect_fail WHAT CMD...: the command must fail; prints its last stderr line
expect_fail() {
  local what=$1 out
  shift
  if out=$("$@" 2>&1 >/dev/null); then fail "$what succeeded"; fi
  echo "   $what -> $(grep -E '^(ERROR|Error)' <<<"$out" | tail -n 1)"
}

echo "without credentials:"
expect_fail "imagetools inspect --raw" docker buildx imagetools inspect --raw "$reg/x:1"
expect_fail "engine1 build --push" env -u DOCKER_HOST docker buildx build --platform linux/amd64 --push -t "$reg/x:e1" "$ctx"
expect_fail "engine2 build --push" env DOCKER_HOST=$ENGINE2 docker buildx build --platform linux/amd64,linux/arm64 --push -t "$reg/x:e2" "$ctx"

echo "wrong password:"
expect_fail "engine1 login" env -u DOCKER_HOST docker login "$reg" -u xtask -p wrong
expect_fail "engine2 login" env DOCKER_HOST=$ENGINE2 docker login "$reg" -u xtask -p wrong
# a config holding a wrong password, as a stale login leaves it
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$reg" "$(printf xtask:wrong | base64)" >"$DOCKER_CONFIG/config.json"
expect_fail "imagetools inspect --raw" docker buildx imagetools inspect --raw "$reg/x:1"
expect_fail "engine1 build --push" env -u DOCKER_HOST docker buildx build --platform linux/amd64 --push -t "$reg/x:e1" "$ctx"
expect_fail "engine2 build --push" env DOCKER_HOST=$ENGINE2 docker buildx build --platform linux/amd64,linux/arm64 --push -t "$reg/x:e2" "$ctx"
rm "$DOCKER_CONFIG/config.json"

echo s3cret | env -u DOCKER_HOST docker login "$reg" -u xtask --password-stdin >/dev/null 2>&1 || fail "engine1 login"
ok "engine1 docker login to $reg over HTTP"
echo s3cret | DOCKER_HOST=$ENGINE2 docker login "$reg" -u xtask --password-stdin >/dev/null 2>&1 || fail "engine2 login"
ok "engine2 docker login to $reg over HTTP"
env -u DOCKER_HOST docker buildx build -q --platform linux/amd64 --push -t "$reg/x:1-amd64" "$ctx" >/dev/null \
  || fail "engine1 push after login"
ok "engine1 per-platform --push after login"
docker buildx imagetools create -t "$reg/x:merged" "$reg/x:1-amd64" >/dev/null 2>&1 || fail "imagetools create after login"
ok "imagetools create after login"
DOCKER_HOST=$ENGINE2 docker buildx build -q --platform linux/amd64,linux/arm64 --push -t "$reg/x:1" "$ctx" >/dev/null \
  || fail "engine2 push after login"
docker buildx imagetools inspect --raw "$reg/x:1" >/dev/null || fail "imagetools inspect after login"
ok "engine2 multi-platform --push and imagetools inspect after login"
first_engine_ok
echo "all checks passed"
