#!/usr/bin/env bash
# Installs what the build and the tests need, and only what is missing (idempotent).
# Usage: scripts/deps.sh TOOLS_DIR
set -euo pipefail
tools=${1:?usage: deps.sh TOOLS_DIR}
grpcurl_version=v1.9.4
ghz_version=v0.120.0

say() { printf 'deps: %s\n' "$*"; }

# The tests' peers and tools: ip/ss, DHCP and RA servers, ethtool, a D-Bus bus with the
# systemd-resolved mock, wpa_supplicant and hostapd (also -Dwired, with its internal EAP
# server), openssl for test certificates, python3 for tests/peers/, sysctl (procps),
# modprobe (kmod), nft (nftables) and setpriv (util-linux) for routing per session,
# python3-dbus for bench/dbus_rate.py, and the CA certificates the package registries'
# HTTPS needs.
apt_packages=(iproute2 dnsmasq-base radvd ethtool dbus-daemon python3-dbusmock wpasupplicant hostapd
  openssl python3 procps kmod util-linux python3-dbus ca-certificates)
# The setup access point and tethering (iw: interface combinations, the AP's interface;
# nftables: tethering NAT), and the setup page's browser test (tests/portal.rs).
apt_packages+=(iw nftables chromium chromium-driver)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

command -v cargo >/dev/null || { say "cargo not found: install Rust with rustup (https://rustup.rs)"; exit 1; }
for component in rustfmt clippy; do
  cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1 || rustup component add "$component"
done

mkdir -p "$tools/bin"
# Go for grpcurl and the Go client: the version clients/go/go.mod needs (scripts/go.sh).
"$(dirname "$0")/go.sh" "$tools"
export PATH="$(cd "$tools/bin" && pwd):$PATH"
if [ ! -x "$tools/bin/grpcurl" ]; then
  say "building grpcurl $grpcurl_version"
  GOBIN="$(cd "$tools/bin" && pwd)" go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$grpcurl_version"
fi
if [ ! -x "$tools/bin/ghz" ]; then
  command -v go >/dev/null || { say "go not found: needed to build ghz (make bench)"; exit 1; }
  say "building ghz $ghz_version"
  GOBIN="$(cd "$tools/bin" && pwd)" go install "github.com/bojand/ghz/cmd/ghz@$ghz_version"
fi
