#!/usr/bin/env bash
# Regenerates the committed client code from proto/netpilot/v1: the Python modules (with
# .pyi stubs) and the Go packages. The C++ client generates its code at build time.
# Usage: clients/generate.sh TOOLS_DIR [OUT_DIR]
#   OUT_DIR defaults to clients/; a different one lets `make clients-check` diff a fresh
#   generation against the committed files.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tools=$(cd "${1:?usage: generate.sh TOOLS_DIR [OUT_DIR]}" && pwd)
out=${2:-$here}
mkdir -p "$out"
out=$(cd "$out" && pwd)

go_module=github.com/netpilot/netpilot/clients/go
python=$tools/venv/bin/python
[ -x "$python" ] || { echo "generate: $python missing: run clients/deps.sh $tools" >&2; exit 1; }

cd "$root/proto"
protos=(netpilot/v1/*.proto)

# The protoc inside grpcio-tools (pinned in clients/deps.sh), for Python and Go alike, so
# that the output does not depend on the machine's protoc.
protoc() { "$python" -m grpc_tools.protoc -I . "$@"; }

py=$out/python/src/netpilot/v1
rm -rf "$py" && mkdir -p "$py"
protoc --python_out="$out/python/src" --pyi_out="$out/python/src" \
  --grpc_python_out="$out/python/src" "${protos[@]}"
printf '"""Generated from proto/netpilot/v1 by clients/generate.sh. Do not edit."""\n' \
  >"$py/__init__.py"

go=$out/go/netpilotv1
rm -rf "$go" && mkdir -p "$go"
mappings=()
for p in "${protos[@]}"; do
  mappings+=("--go_opt=M$p=$go_module/netpilotv1" "--go-grpc_opt=M$p=$go_module/netpilotv1")
done
protoc --plugin=protoc-gen-go="$tools/bin/protoc-gen-go" \
  --plugin=protoc-gen-go-grpc="$tools/bin/protoc-gen-go-grpc" \
  --go_out="$out/go" --go_opt=module="$go_module" \
  --go-grpc_out="$out/go" --go-grpc_opt=module="$go_module" \
  "${mappings[@]}" "${protos[@]}"
