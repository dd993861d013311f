#!/usr/bin/env bash
# Makes sure `go` is at least the version clients/go/go.mod asks for (its `go` line), and
# changes nothing when it is. Otherwise it installs the pinned toolchain below into
# TOOLS_DIR/go, linked as TOOLS_DIR/bin/go and gofmt (the Makefile puts TOOLS_DIR/bin first
# on PATH): the Go module proxy serves every Go release as the module golang.org/toolchain,
# which is what `go` itself fetches for GOTOOLCHAIN=go1.X.Y. Any Go can fetch it, so a
# fresh Debian gets Debian's golang-go first (bookworm: 1.19) to fetch it with. The proxy's
# checksum database verifies the download, as for every module.
# Idempotent: once a good enough `go` is on PATH, a run only asks it its version.
#
# Usage: scripts/go.sh TOOLS_DIR      (scripts/deps.sh and clients/deps.sh call it)
set -euo pipefail
tools=${1:?usage: scripts/go.sh TOOLS_DIR}
pinned=1.26.8 # installed when the machine's go is missing or older than go.mod's
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$tools/bin"
tools=$(cd "$tools" && pwd)
export PATH="$tools/bin:$PATH"

say() { printf 'go: %s\n' "$*"; }
# at_least A B: version A >= version B.
at_least() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$2" ]; }
version() { go env GOVERSION 2>/dev/null | sed 's/^go//'; }

want=$(awk '$1 == "go" { print $2; exit }' "$root/clients/go/go.mod")
[ -n "$want" ] || { say "no go line in clients/go/go.mod"; exit 1; }
have=$(version)
if [ -n "$have" ] && at_least "$have" "$want"; then
  exit 0
fi
at_least "$pinned" "$want" || { say "the pinned toolchain $pinned is older than go.mod's $want: raise it in $0"; exit 1; }

if ! command -v go >/dev/null; then
  say "no go on PATH: installing Debian's golang-go to fetch Go $pinned with"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends golang-go ca-certificates
fi
say "go ${have:-missing} is older than the $want clients/go/go.mod needs: fetching Go $pinned"
arch=$(go env GOHOSTARCH)
[ "$arch" = arm ] && arch=armv6l
module=golang.org/toolchain@v0.0.1-go$pinned.linux-$arch
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Outside any module; -modcacherw so that `rm -rf target` can remove the cache again.
dir=$(cd "$work" && GOTOOLCHAIN=local GOFLAGS=-modcacherw GOMODCACHE="$tools/go-modcache" \
  go mod download -json "$module" | awk -F'"' '$2 == "Dir" { print $4 }')
[ -n "$dir" ] && [ -f "$dir/bin/go" ] || { say "fetching $module failed"; exit 1; }
# Module zips keep no file modes.
chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/*
ln -sfn "$dir" "$tools/go"
ln -sf ../go/bin/go "$tools/bin/go"
ln -sf ../go/bin/gofmt "$tools/bin/gofmt"
have=$(version)
[ "$have" = "$pinned" ] || { say "$tools/bin/go reports ${have:-nothing}, not $pinned"; exit 1; }
say "installed Go $pinned as $tools/bin/go"
