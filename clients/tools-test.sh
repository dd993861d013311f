#!/usr/bin/env bash
# Runs the grpcurl and grpc_health_probe commands of clients/README.md, as written, against
# the daemon of clients/testbed.sh: its socket replaces /tmp/netpilot-dev/netpilot.sock, and
# the TCP commands run inside its namespace, where it listens on 127.0.0.1:50051.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${NETPILOT_SOCKET:?run through clients/testbed.sh}" "${NETPILOT_TEST_NS:?run through clients/testbed.sh}"
for tool in grpcurl grpc_health_probe; do
  command -v "$tool" >/dev/null || { echo "$tool not found: run \`make clients-deps\` (target/tools/bin)" >&2; exit 1; }
done

mapfile -t commands < <(awk '/^## grpcurl and grpc_health_probe/ { s = 1 } s && /^```sh$/ { b = 1; next }
  b && /^```$/ { exit } b' "$here/README.md")
((${#commands[@]} >= 6)) || { echo "tools-test: no commands found in clients/README.md" >&2; exit 1; }

passed=0 failed=0
# The top-level README's "Clients" section repeats some of them: those must be tested too.
while IFS= read -r line; do
  printf '%s\n' "${commands[@]}" | grep -qxF -- "$line" ||
    { echo "tools-test: README.md command not in clients/README.md: $line" >&2; failed=$((failed + 1)); }
done < <(awk '/^## Clients$/ { s = 1 } s && /^```sh$/ { b = 1; next } b && /^```$/ { exit } b' "$here/../README.md")
for line in "${commands[@]}"; do
  cmd=${line//\/tmp\/netpilot-dev\/netpilot.sock/$NETPILOT_SOCKET}
  read -ra argv <<<"$cmd"
  if [[ $cmd == *127.0.0.1:50051* ]]; then
    argv=(ip netns exec "$NETPILOT_TEST_NS" "$(command -v "${argv[0]}")" "${argv[@]:1}")
  fi
  if out=$("${argv[@]}" 2>&1) && [[ $line != *Health* || $out == *SERVING* ]]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    printf 'FAILED: %s\n%s\n' "$line" "$out" >&2
  fi
done
echo "tools: $passed passed, $failed failed"
((failed == 0))
