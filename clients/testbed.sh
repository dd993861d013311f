#!/usr/bin/env bash
# The clients' shared testbed: runs one test command against a real netpilotd inside a
# network namespace made for it, and removes everything again, also when the test fails.
#
# Usage: clients/testbed.sh COMMAND [ARGS...]   (as root, after `make build`)
#
# Topology: namespace $NETPILOT_TEST_NS (lo up, veth0 up, no address) ⇄ namespace
# $NETPILOT_TEST_PEER_NS (lo up, peer0 up). netpilotd runs in the first with its socket,
# state and run dirs in a temp dir, and plain TCP on 127.0.0.1:50051 inside that namespace.
# The command gets NETPILOT_SOCKET, NETPILOT_ADDR (reachable only inside the namespace),
# NETPILOT_TEST_NS, NETPILOT_TEST_PEER_NS and NETPILOTD_PID. It may stop the daemon.
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

# Observe only: the client scenario adds addresses by hand. Nothing is written outside $tmp.
cat >"$tmp/netpilot.toml" <<EOF
managed_interfaces = []
[online_check]
mode = "off"
[dns]
resolv_conf = "$tmp/resolv.conf"
[api]
insecure_loopback = true
[access]
user = ["loopback"]
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
"$@"
