# A minimal SBOM generator for the tests, following BuildKit's SBOM scanning protocol
# (moby/buildkit docs/attestations/sbom-protocol.md): scan $BUILDKIT_SCAN_SOURCE and
# write one SPDX 2.3 document listing every file with its SHA-256 to
# $BUILDKIT_SCAN_DESTINATION/<name>.spdx.json, wrapped in an in-toto statement (BuildKit
# reads the directory as an attestation bundle and fills in the subject). Runs under a static busybox in a
# FROM-scratch image, so every tool is called as `busybox TOOL`.
set -eu
src=$BUILDKIT_SCAN_SOURCE
name=$(busybox basename "$src")
out=$BUILDKIT_SCAN_DESTINATION/$name.spdx.json
cd "$src"
{
  printf '{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[],"predicate":'
  printf '{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT",'
  printf '"name":"%s","documentNamespace":"https://xtask.invalid/spdx/%s",' "$name" "$name"
  printf '"creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: xtask-test-scanner"]},'
  printf '"files":['
  i=0
  for f in $(busybox find . -type f | busybox sort); do
    sum=$(busybox sha256sum "$f" | busybox cut -d' ' -f1)
    [ "$i" -gt 0 ] && printf ','
    printf '{"fileName":"%s","SPDXID":"SPDXRef-File-%d","checksums":[{"algorithm":"SHA256","checksumValue":"%s"}]}' "$f" "$i" "$sum"
    i=$((i + 1))
  done
  printf ']}}\n'
} >"$out"
