#!/usr/bin/env bash
# Installs what the clients, their code generation and the contract checks need, and only
# what is missing (idempotent). Everything but the Debian packages stays under TOOLS_DIR.
# Usage: clients/deps.sh TOOLS_DIR
set -euo pipefail
tools=${1:?usage: clients/deps.sh TOOLS_DIR}
mkdir -p "$tools/bin"
tools=$(cd "$tools" && pwd)

# Pinned versions: generated code depends on them, so `make test` can spot stale output.
grpcio_version=1.85.1          # grpcio, grpcio-tools (its protoc generates Python and Go)
protoc_gen_go_version=v1.36.11 # google.golang.org/protobuf/cmd/protoc-gen-go
protoc_gen_go_grpc_version=v1.6.1
health_probe_version=v0.4.35   # github.com/grpc-ecosystem/grpc-health-probe
buf_version=1.75.0             # @bufbuild/buf from the npm registry

say() { printf 'clients/deps: %s\n' "$*"; }
need() { command -v "$1" >/dev/null || { say "$1 not found: $2"; exit 1; }; }

# Debian: C++ toolchain, system gRPC/protobuf (the C++ client builds against them), GoogleTest;
# python3-venv for the venv below; iproute2 for clients/testbed.sh.
apt_packages=(cmake ninja-build g++ pkg-config libgrpc++-dev libprotobuf-dev protobuf-compiler
  protobuf-compiler-grpc libgtest-dev iproute2 python3 python3-venv ca-certificates)
# Node.js and npm for buf, unless the machine has them from elsewhere.
command -v npm >/dev/null || apt_packages+=(npm)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Python: a project-local venv with the code generator, the runtime and pytest.
need python3 "install Python 3.9 or newer (apt-get install python3 python3-venv)"
venv=$tools/venv
if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv"
  python3 -m venv "$venv"
fi
python_packages=("grpcio==$grpcio_version" "grpcio-tools==$grpcio_version"
  googleapis-common-protos pytest)
stamp=$venv/.netpilot-deps
if [ "$(cat "$stamp" 2>/dev/null)" != "${python_packages[*]}" ]; then
  say "installing Python packages into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${python_packages[@]}"
  printf '%s' "${python_packages[*]}" >"$stamp"
fi

# Go: protoc plugins and grpc_health_probe, built from the Go module proxy, with the Go
# that clients/go/go.mod needs (scripts/go.sh installs it when the machine's is older).
"$(dirname "$0")/../scripts/go.sh" "$tools"
export PATH="$tools/bin:$PATH"
go_install() { # NAME MODULE_PATH@VERSION
  local name=$1 pkg=$2 want=${2##*@} have=""
  [ -x "$tools/bin/$name" ] && have=$(go version -m "$tools/bin/$name" 2>/dev/null | awk '$1 == "mod" { print $3 }')
  if [ "$have" != "$want" ]; then
    say "building $name $want"
    GOBIN="$tools/bin" go install "$pkg"
  fi
}
go_install protoc-gen-go "google.golang.org/protobuf/cmd/protoc-gen-go@$protoc_gen_go_version"
go_install protoc-gen-go-grpc "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$protoc_gen_go_grpc_version"
# grpc_health_probe: the proxy serves this version but neither its version list (so `go
# install …@version` fails on the deprecation check) nor a checksum database entry, so it is
# built as a dependency of a throwaway module, with the checksum check off for it alone.
probe=github.com/grpc-ecosystem/grpc-health-probe
if ! go version -m "$tools/bin/grpc_health_probe" 2>/dev/null | grep -q "mod[[:space:]]*$probe[[:space:]]*$health_probe_version"; then
  say "building grpc_health_probe $health_probe_version"
  work=$(mktemp -d)
  (
    cd "$work"
    export GONOSUMDB=$probe GOFLAGS=-mod=mod
    go mod init netpilot-tools >/dev/null 2>&1
    go get "$probe@$health_probe_version"
    go build -o "$tools/bin/grpc_health_probe" "$probe"
  ) || { rm -rf "$work"; say "building grpc_health_probe failed"; exit 1; }
  rm -rf "$work"
fi

# buf, from the npm registry (the package ships the binary).
need npm "install Node.js and npm (apt-get install npm)"
npm_dir=$tools/npm
if [ "$("$npm_dir/node_modules/.bin/buf" --version 2>/dev/null)" != "$buf_version" ]; then
  say "installing buf $buf_version"
  npm install --silent --no-audit --no-fund --prefix "$npm_dir" "@bufbuild/buf@$buf_version"
fi
ln -sf ../npm/node_modules/.bin/buf "$tools/bin/buf"
