#!/usr/bin/env bash
# netpilotd against ConnMan on the same testbed, in the same run: carrier up -> ready,
# -> online, carrier down -> idle, and memory. Prints medians and netpilot/ConnMan ratios.
#
# Usage: bench/carrier.sh [--reps N] [--no-connman]   (root; `make bench` builds the release
# binaries). --no-connman measures netpilotd alone, for quick iterations: no ratios.
#
# The ConnMan side is ../shared/bench/connman_baseline.sh, run as it is. The netpilot side
# copies its topology: namespaces npb-d (netpilotd) and npb-p (dnsmasq + HTTP online-check
# server), one veth pair created inside them, 198.18.1.0/24, tx offload off on the server
# side. Times run from just before `ip link set <peer> up|down` to the WatchManager event,
# stamped by the reader (a few ms of jitter, as the baseline's observers have).
set -euo pipefail

reps=10
connman=1
while (($#)); do
  case $1 in
    --reps) reps=$2; shift ;;
    --no-connman) connman=0 ;;
    *) echo "usage: $0 [--reps N] [--no-connman]" >&2; exit 2 ;;
  esac
  shift
done
[[ $reps =~ ^[0-9]+$ && $reps -ge 1 ]] || { echo "--reps must be >= 1" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (network namespaces)" >&2; exit 1; }

root=$(cd "$(dirname "$0")/.." && pwd)
baseline=${NETPILOT_SHARED:-$root/../shared}/bench/connman_baseline.sh
[ -x "$baseline" ] || { echo "bench: $baseline not found (../shared beside the checkout, or set NETPILOT_SHARED)" >&2; exit 1; }
daemon=$root/target/release/netpilotd
cli=$root/target/release/netpilot
[ -x "$daemon" ] && [ -x "$cli" ] || { echo "bench: run \`make bench\` (builds release binaries)" >&2; exit 1; }

out=$(mktemp -d /tmp/netpilot-bench.XXXXXX)
ns=npb-d peer=npb-p
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  ip netns del "$peer" 2>/dev/null || true
}
trap cleanup EXIT

if ((connman)); then
  echo "== ConnMan baseline ($reps cycles; about 4 minutes)"
  "$baseline" --reps "$reps" --no-ref --idle-secs 10 --out "$out/connman" >"$out/connman.log" 2>&1 ||
    { tail -20 "$out/connman.log"; echo "bench: the ConnMan baseline failed" >&2; exit 1; }
else
  mkdir -p "$out/connman" && : >"$out/connman/summary_timing.md" && echo "point,vmrss_kb" >"$out/connman/connman_mem.csv"
fi

echo "== netpilotd ($reps cycles)"
ip netns add "$ns"
ip netns add "$peer"
ip -n "$ns" link set lo up
ip -n "$peer" link set lo up
ip link add veth0 netns "$ns" type veth peer name peer0 netns "$peer"
ip -n "$peer" addr add 198.18.1.1/24 dev peer0
ip netns exec "$peer" ethtool -K peer0 tx off >/dev/null
ip -n "$ns" link set veth0 up
ip netns exec "$peer" dnsmasq --no-daemon --conf-file=/dev/null --no-ping --no-resolv --no-hosts \
  --port=0 --interface=peer0 --bind-interfaces --dhcp-authoritative \
  --dhcp-range=198.18.1.100,198.18.1.150,255.255.255.0,2m --dhcp-option=option:router,198.18.1.1 \
  --dhcp-leasefile="$out/leases" --pid-file= --user=root --group=root 2>"$out/dnsmasq.log" &
pids+=($!)
ip netns exec "$peer" python3 "$root/tests/peers/http_probe_server.py" 198.18.1.1 80 2>"$out/http.log" &
pids+=($!)
cat >"$out/netpilot.toml" <<EOF
managed_interfaces = ["veth0"]
socket = "$out/netpilot.sock"
state_dir = "$out/state"
run_dir = "$out/run"
log_level = "${NETPILOT_BENCH_LOG:-warn}"
[online_check]
ipv4_url = "http://198.18.1.1/generate_204"
interval_min = 1
interval_max = 2
[dns]
resolv_conf = "$out/resolv.conf"
EOF
start=$(date +%s.%N)
ip netns exec "$ns" "$daemon" --config "$out/netpilot.toml" 2>"$out/netpilotd.log" &
daemon_pid=$!
pids+=("$daemon_pid")
until [ -S "$out/netpilot.sock" ] && "$cli" --socket "$out/netpilot.sock" state >/dev/null 2>&1; do
  sleep 0.005
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$out/netpilotd.log"; exit 1; }
done
serving=$(date +%s.%N)
rss() { awk '/^VmRSS/ {print $2}' "/proc/$daemon_pid/status"; }
rss_start=$(rss)

# Manager state changes, one "epoch-seconds STATE" line each.
"$cli" --socket "$out/netpilot.sock" --json watch | while IFS= read -r line; do
  case $line in *manager_changed*) printf '%s %s\n' "$(date +%s.%N)" "$(grep -o 'MANAGER_STATE_[A-Z]*' <<<"$line")" ;; esac
done >"$out/states" &
pids+=($!)

wait_state() { # STATE AFTER -> prints the time of the first STATE line after AFTER
  local deadline=$((SECONDS + 30)) t
  while ((SECONDS < deadline)); do
    t=$(awk -v s="$1" -v a="$2" '$2 == s && $1 > a { print $1; exit }' "$out/states")
    [ -n "$t" ] && { echo "$t"; return; }
    sleep 0.005
  done
  echo "bench: no $1 within 30 s" >&2
  return 1
}

ip netns exec "$peer" ip link set peer0 down
: >"$out/cycles"
for rep in $(seq 0 "$reps"); do
  up=$(date +%s.%N)
  ip -n "$peer" link set peer0 up
  ready=$(wait_state MANAGER_STATE_READY "$up")
  online=$(wait_state MANAGER_STATE_ONLINE "$up")
  # The kernel's linkwatch batches carrier events of stacked devices (veth) to one a second;
  # wait that out so "down" is not measured from a rate-limited event.
  sleep 1.5
  down=$(date +%s.%N)
  ip -n "$peer" link set peer0 down
  idle=$(wait_state MANAGER_STATE_IDLE "$down")
  ((rep == 0)) && continue # warm-up, as in the baseline
  awk -v u="$up" -v r="$ready" -v o="$online" -v d="$down" -v i="$idle" \
    'BEGIN { printf "%.2f %.2f %.2f\n", (r-u)*1000, (o-u)*1000, (i-d)*1000 }' >>"$out/cycles"
  sleep 1.5
done
rss_end=$(rss)

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2 }'; }
ours() { awk -v c="$1" '{ print $c }' "$out/cycles" | median; }
theirs() { awk -F'|' -v m="$1" 'index($2, m) { gsub(/ /, "", $5); print $5; exit }' "$out/connman/summary_timing.md"; }
connman_rss=$(awk -F, 'NR == 2 { print $2 }' "$out/connman/connman_mem.csv")

row() { # NAME OURS THEIRS
  awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN {
    r = (b + 0 > 0) ? sprintf("%.2f", a / b) : "NA"
    printf "| %-34s | %10s | %10s | %6s |\n", n, a, b, r }'
}
{
  echo
  echo "netpilot vs ConnMan, same machine, same run, medians of $reps cycles (ms; RSS kB)"
  echo
  echo "| figure                             |   netpilot |    ConnMan |  ratio |"
  echo "|------------------------------------|------------|------------|--------|"
  row "carrier up (cmd) -> ready" "$(ours 1)" "$(theirs 'A5 cmd->ready')"
  row "carrier up (cmd) -> online" "$(ours 2)" "$(theirs 'A6 cmd->online')"
  row "carrier down (cmd) -> idle" "$(ours 3)" "$(theirs 'B6 cmd->Manager State idle')"
  row "RSS after start-up" "$rss_start" "$connman_rss"
  echo
  awk -v s="$start" -v e="$serving" 'BEGIN { printf "netpilotd start -> serving: %.1f ms; RSS after the cycles: %s kB\n", (e-s)*1000, "'"$rss_end"'" }'
  echo "raw data: $out"
} | tee "$out/summary.md"
