#!/usr/bin/env bash
# The clients' shared testbed: runs one test command against a real netpilotd inside a
# network namespace made for it, and removes everything again, also when the test fails.
#
# Usage: clients/testbed.sh COMMAND [ARGS...]   (as root, after `make build`)
#
# Topology: namespace $NETPILOT_TEST_NS (lo up, veth0 up, no address) ⇄ namespace
# $NETPILOT_TEST_PEER_NS (lo up, peer0 up). netpilotd runs in the first with its socket,
# state and run dirs in a temp dir, plain TCP on 127.0.0.1:50051 and mutual TLS on
# 127.0.0.1:50443 inside that namespace.
# The command runs inside the daemon's namespace and gets NETPILOT_SOCKET, NETPILOT_ADDR
# (plain TCP), NETPILOT_TLS_ADDR with NETPILOT_TLS_CA and the client certificates
# NETPILOT_TLS_{ADMIN,VIEWER,INTRUDER}_{CERT,KEY} (mutual TLS, a PKI made with `netpilot
# certs`), NETPILOT_TEST_NS, NETPILOT_TEST_PEER_NS and NETPILOTD_PID. It may stop the daemon.
# Addresses a test adds must come from 198.18.0.0/15 or 2001:db8::/32.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
daemon=${NETPILOTD:-$root/target/debug/netpilotd}
(($#)) || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "testbed: needs root for network namespaces (run as root, as CI does)" >&2; exit 1; }
command -v ip >/dev/null || { echo "testbed: ip not found: apt-get install iproute2" >&2; exit 1; }
[ -x "$daemon" ] || { echo "testbed: $daemon missing: run \`make build\`" >&2; exit 1; }

ns=np-cl-$$-d
peer_ns=np-cl-$$-p
tmp=$(mktemp -d /tmp/np-cl.XXXXXX)
pid=""

alive() { [ -n "$pid" ] && [ -e "/proc/$pid" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$pid/stat" 2>/dev/null; }

cleanup() {
  local status=$?
  trap - EXIT
  if alive; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do alive || break; sleep 0.1; done
    alive && kill -KILL "$pid" 2>/dev/null || true
  fi
  [ -n "$pid" ] && { wait "$pid" 2>/dev/null || true; }
  ip netns del "$ns" 2>/dev/null || true
  ip netns del "$peer_ns" 2>/dev/null || true
  if [ "$status" -ne 0 ] && [ -f "$tmp/netpilotd.log" ]; then
    echo "---- netpilotd log (test failed with status $status) ----" >&2
    cat "$tmp/netpilotd.log" >&2
    echo "---- end of netpilotd log ----" >&2
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$ns"
ip netns add "$peer_ns"
ip -n "$ns" link set lo up
ip -n "$peer_ns" link set lo up
ip link add veth0 netns "$ns" type veth peer name peer0 netns "$peer_ns"
ip -n "$peer_ns" link set peer0 up
ip -n "$ns" link set veth0 up

# A fleet PKI made with `netpilot certs`: the daemon's certificate (127.0.0.1, localhost),
# an admin controller (CN fleet-controller), a viewer (URI spiffe://fleet/dashboard), and
# an intruder whose certificate comes from another CA.
cli=${NETPILOT_CLI:-$root/target/debug/netpilot}
[ -x "$cli" ] || { echo "testbed: $cli missing: run \`make build\`" >&2; exit 1; }
pki=$tmp/pki
"$cli" certs ca --dir "$pki" --days 2 >/dev/null
"$cli" certs server --dir "$pki" --name server --dns localhost --ip 127.0.0.1 --days 2 >/dev/null
"$cli" certs client --dir "$pki" --name fleet-controller --days 2 >/dev/null
"$cli" certs client --dir "$pki" --name dashboard --uri spiffe://fleet/dashboard --days 2 >/dev/null
"$cli" certs ca --dir "$pki/other" --name "another CA" --days 2 >/dev/null
"$cli" certs client --dir "$pki/other" --name fleet-controller --days 2 >/dev/null

# Observe only: the client scenario adds addresses by hand. Nothing is written outside $tmp.
cat >"$tmp/netpilot.toml" <<EOF
managed_interfaces = []
[online_check]
mode = "off"
[dns]
resolv_conf = "$tmp/resolv.conf"
[api]
insecure_loopback = true
[tls]
listen = "127.0.0.1:50443"
cert = "$pki/server.pem"
key = "$pki/server.key"
client_ca = "$pki/ca.pem"
[access]
admin = ["cn:fleet-controller"]
user = ["loopback"]
viewer = ["uri:spiffe://fleet/dashboard"]
EOF

# `ip netns exec` execs netpilotd, so $! is the daemon's PID.
ip netns exec "$ns" "$daemon" --config "$tmp/netpilot.toml" --socket "$tmp/netpilot.sock" --state-dir "$tmp/state" \
  --run-dir "$tmp/run" --listen 127.0.0.1:50051 --log-level debug \
  </dev/null >/dev/null 2>"$tmp/netpilotd.log" &
pid=$!
for _ in $(seq 150); do
  [ -S "$tmp/netpilot.sock" ] && break
  alive || { echo "testbed: netpilotd exited before serving" >&2; exit 1; }
  sleep 0.1
done
[ -S "$tmp/netpilot.sock" ] || { echo "testbed: netpilotd did not create its socket in 15 s" >&2; exit 1; }

export NETPILOT_SOCKET=$tmp/netpilot.sock NETPILOT_ADDR=127.0.0.1:50051
export NETPILOT_TEST_NS=$ns NETPILOT_TEST_PEER_NS=$peer_ns NETPILOTD_PID=$pid
export NETPILOT_TLS_ADDR=127.0.0.1:50443 NETPILOT_TLS_CA=$pki/ca.pem
export NETPILOT_TLS_ADMIN_CERT=$pki/fleet-controller.pem NETPILOT_TLS_ADMIN_KEY=$pki/fleet-controller.key
export NETPILOT_TLS_VIEWER_CERT=$pki/dashboard.pem NETPILOT_TLS_VIEWER_KEY=$pki/dashboard.key
export NETPILOT_TLS_INTRUDER_CERT=$pki/other/fleet-controller.pem NETPILOT_TLS_INTRUDER_KEY=$pki/other/fleet-controller.key
# The command runs inside the daemon's namespace, so that the TCP and TLS listeners on its
# loopback are reachable; the socket and `ip -n` work from there as from anywhere.
ip netns exec "$ns" "$@"
