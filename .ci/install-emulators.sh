#!/usr/bin/env bash
# Installs what `smoke` (xtask/src/smoke.rs) uses to run staged host binaries built for
# another CPU or OS, on Debian bookworm. Idempotent: a provisioned machine takes no time.
# Called from .ci/install.sh; also fine on its own (as root).
#
# Gotchas seen here:
# - smoke runs `qemu-aarch64-static BIN` explicitly, so it needs no binfmt_misc entry (the
#   package's postinst may warn that it cannot register one in a container); dist's probe
#   of the arm64 VM service runs a whole container, which does: registered below.
# - Debian's wine64 puts its loader at /usr/lib/wine/wine64, NOT on PATH; /usr/bin/wine is
#   a wrapper that prefers a 32-bit wine and nags about wine32 unless WINEDEBUG=-all.
#   smoke looks for /usr/lib/wine/wine64 first.
# - wine 8.0 has no bcryptprimitives.dll, which Rust's std needs (ProcessPrng): smoke builds
#   a shim with x86_64-w64-mingw32-gcc (gcc-mingw-w64-x86-64, installed by install.sh).
# - wine64 is installed WITH its recommends: that is the set seen working here.
# - The first wine run creates a prefix (~7 s); smoke keeps it under target/dist/smoke/.
set -euo pipefail

step() { echo "==> $*" >&2; }

missing=()
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
[ -x /usr/lib/wine/wine64 ] || missing+=(wine64)
if [ ${#missing[@]} -gt 0 ]; then
  step "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  for p in "${missing[@]}"; do
    case "$p" in
      wine64) apt-get install -y -qq wine64 >/dev/null ;;
      *) apt-get install -y -qq --no-install-recommends "$p" >/dev/null ;;
    esac
  done

  command -v qemu-aarch64-static >/dev/null || { echo "qemu-aarch64-static missing after install" >&2; exit 1; }
  [ -x /usr/lib/wine/wine64 ] || { echo "/usr/lib/wine/wine64 missing after install" >&2; exit 1; }
fi

# --- qemu-aarch64 in binfmt_misc, so the engine runs whole linux/arm64 containers (dist
# probes each variant's VM service as a container). The fix-binary flag (F) makes the
# kernel open the interpreter now, so it works inside containers whose file system has no
# qemu. It changes how arm64 ELF runs machine-wide; smoke runs qemu explicitly either way.
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/qemu-aarch64" ]; then
  step "register qemu-aarch64 with binfmt_misc"
  [ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt"
  conf=/usr/share/binfmts/qemu-aarch64
  field() { sed -n "s/^$1 //p" "$conf"; }
  echo ":qemu-aarch64:M:$(field offset):$(field magic):$(field mask):$(command -v qemu-aarch64-static):F" > "$binfmt/register"
fi
grep -q '^enabled' "$binfmt/qemu-aarch64" || { echo "qemu-aarch64 is not enabled in binfmt_misc" >&2; exit 1; }
