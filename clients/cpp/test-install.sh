#!/usr/bin/env bash
# Installs the C++ client from BUILD_DIR into a temp prefix and builds and runs a tiny
# downstream project against it with find_package(netpilot).
# Usage: clients/cpp/test-install.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: test-install.sh BUILD_DIR}" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$here/tests/downstream" -B "$tmp/build" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/build" >/dev/null
out=$("$tmp/build/downstream")
expected="unix:/run/netpilot/netpilot.sock CONNECTION_TYPE_LOCAL"
if [ "$out" != "$expected" ]; then
  echo "install test: downstream printed '$out', want '$expected'" >&2
  exit 1
fi
echo "install test: find_package(netpilot) from an installed prefix works"
