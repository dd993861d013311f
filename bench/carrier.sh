#!/usr/bin/env bash
# netpilotd against ConnMan on the same testbed, in the same run: carrier up -> ready and
# -> online (reconnects, INIT-REBOOT, and the first connect of a fresh state dir), carrier
# down -> idle and -> a session client told, memory after start-up and after the cycles,
# CPU over idle windows. Prints medians and netpilot/ConnMan ratios.
#
# Usage: bench/carrier.sh [--reps N] [--idle-secs S] [--no-connman]   (root; `make bench`
# builds the release binaries). Defaults: 100 cycles, 60 s idle windows (about 25 minutes
# for both sides). --no-connman measures netpilotd alone, for quick iterations: no ratios.
#
# The ConnMan side is ../shared/bench/connman_baseline.sh, run as it is. The netpilot side
# copies its topology: namespaces npb-d (netpilotd) and npb-p (dnsmasq + HTTP online-check
# server), one veth pair created inside them, 198.18.1.0/24, tx offload off on the server
# side. Times run from just before `ip link set <peer> up|down` to the WatchManager event,
# stamped by the reader (a few ms of jitter, as the baseline's observers have).
set -euo pipefail
export LC_ALL=C # a "." in $EPOCHREALTIME

reps=100
idle_secs=60
connman=1
while (($#)); do
  case $1 in
    --reps) reps=$2; shift ;;
    --idle-secs) idle_secs=$2; shift ;;
    --no-connman) connman=0 ;;
    *) echo "usage: $0 [--reps N] [--idle-secs S] [--no-connman]" >&2; exit 2 ;;
  esac
  shift
done
[[ $reps =~ ^[0-9]+$ && $reps -ge 1 ]] || { echo "--reps must be >= 1" >&2; exit 2; }
[[ $idle_secs =~ ^[0-9]+$ && $idle_secs -ge 1 ]] || { echo "--idle-secs must be >= 1" >&2; exit 2; }
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

load() { cut -d' ' -f1 /proc/loadavg; }
load_connman=NA
if ((connman)); then
  load_connman=$(load)
  echo "== ConnMan baseline ($reps cycles, ${idle_secs} s idle windows)"
  "$baseline" --reps "$reps" --no-ref --idle-secs "$idle_secs" --out "$out/connman" >"$out/connman.log" 2>&1 ||
    { tail -20 "$out/connman.log"; echo "bench: the ConnMan baseline failed" >&2; exit 1; }
else
  mkdir -p "$out/connman" && : >"$out/connman/summary_timing.md" && : >"$out/connman/connman_mem.csv" &&
    : >"$out/connman/connman_cpu.csv"
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
load_netpilot=$(load)
start=$EPOCHREALTIME
ip netns exec "$ns" "$daemon" --config "$out/netpilot.toml" 2>"$out/netpilotd.log" &
daemon_pid=$!
pids+=("$daemon_pid")
until [ -S "$out/netpilot.sock" ] && "$cli" --socket "$out/netpilot.sock" state >/dev/null 2>&1; do
  sleep 0.005
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$out/netpilotd.log"; exit 1; }
done
serving=$EPOCHREALTIME

# "RSS_kB ANON_kB FILE_kB CPU_ms" of netpilotd. CPU is utime + stime of the whole process,
# threads that have exited included (tokio's blocking pool comes and goes), in clock ticks
# as the baseline's cpu_ms column.
hz=$(getconf CLK_TCK)
sample() {
  local stat
  stat=$(cut -d')' -f2- "/proc/$daemon_pid/stat")
  awk -v hz="$hz" -v stat="$stat" '
    /^VmRSS/ { rss = $2 } /^RssAnon/ { anon = $2 } /^RssFile/ { file = $2 }
    END { split(stat, f, " "); printf "%d %d %d %.0f\n", rss, anon, file, (f[12] + f[13]) * 1000 / hz }
  ' "/proc/$daemon_pid/status"
}
cpu_window() { # NAME: appends "NAME cpu_ms" over idle_secs to $out/cpu
  local a b
  read -ra a <<<"$(sample)"
  sleep "$idle_secs"
  read -ra b <<<"$(sample)"
  echo "$1 $((b[3] - a[3]))" >>"$out/cpu"
}
: >"$out/cpu"
sleep 5 # as the baseline's start-up settle
read -r rss_start anon_start file_start _ <<<"$(sample)"
cpu_window idle_no_carrier

stamp() { # REGEX: one "epoch-seconds MATCH" line per stdin line that matches
  while IFS= read -r line; do
    [[ $line =~ $1 ]] && printf '%s %s\n' "$EPOCHREALTIME" "${BASH_REMATCH[0]}"
  done
}
# Manager states, and the updates of a session that allows ethernet.
"$cli" --socket "$out/netpilot.sock" --json watch | stamp 'MANAGER_STATE_[A-Z]*' >"$out/states" &
pids+=($!)
"$cli" --socket "$out/netpilot.sock" --json session open --bearers ethernet |
  stamp 'SESSION_STATE_[A-Z]*' >"$out/session" &
pids+=($!)

wait_line() { # FILE WORD AFTER -> prints the time of the first WORD line after AFTER
  local deadline=$((SECONDS + 30)) t
  while ((SECONDS < deadline)); do
    t=$(awk -v s="$2" -v a="$3" '$2 == s && $1 > a { print $1; exit }' "$1")
    [ -n "$t" ] && { echo "$t"; return; }
    sleep 0.005
  done
  echo "bench: no $2 in $1 within 30 s" >&2
  return 1
}
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) * 1000 }'; }

: >"$out/cycles"
for rep in $(seq 0 "$reps"); do
  up=$EPOCHREALTIME
  ip -n "$peer" link set peer0 up
  ready=$(wait_line "$out/states" MANAGER_STATE_READY "$up")
  online=$(wait_line "$out/states" MANAGER_STATE_ONLINE "$up")
  # The kernel's linkwatch batches carrier events of stacked devices (veth) to one a second;
  # wait that out so "down" is not measured from a rate-limited event.
  sleep 1.5
  down=$EPOCHREALTIME
  ip -n "$peer" link set peer0 down
  idle=$(wait_line "$out/states" MANAGER_STATE_IDLE "$down")
  told=$(wait_line "$out/session" SESSION_STATE_DISCONNECTED "$down")
  echo "$rep $(ms "$up" "$ready") $(ms "$up" "$online") $(ms "$down" "$idle") $(ms "$down" "$told")" >>"$out/cycles"
  sleep 1.5
  if ((rep == 0)); then read -r _ _ _ cpu_from <<<"$(sample)"; fi # CPU of the reconnects
done
read -r rss_cycles anon_cycles file_cycles cpu_to <<<"$(sample)"

ip -n "$peer" link set peer0 up
wait_line "$out/states" MANAGER_STATE_ONLINE "$EPOCHREALTIME" >/dev/null
cpu_window idle_connected
ip -n "$peer" link set peer0 down

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2 }'; }
ours() { awk -v c="$1" '$1 > 0 { print $c }' "$out/cycles" | median; }
first() { awk -v c="$1" '$1 == 0 { print $c }' "$out/cycles"; }
# The baseline's summary_timing.md: | metric | n | min | median | max | warm-up (rep 0) |
theirs() { awk -F'|' -v m="$1" -v c="${2:-5}" 'index($2, m) { gsub(/ /, "", $c); print $c; exit }' "$out/connman/summary_timing.md"; }
their_rss() { awk -F, -v p="$1" '$1 == p { print $2 }' "$out/connman/connman_mem.csv"; }
their_cpu() { awk -F, -v w="$1" -v c="$2" '$1 == w { print $c }' "$out/connman/connman_cpu.csv"; }
our_cpu() { awk -v w="$1" -v c="$2" '$1 == w { print $c }' "$out/cpu"; }

row() { # NAME OURS THEIRS
  awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN {
    r = (b + 0 > 0) ? sprintf("%.2f", a / b) : "NA"
    printf "| %-46s | %10s | %10s | %6s |\n", n, a, b, r }'
}
{
  echo
  echo "netpilot vs ConnMan, same machine, same run: medians of $reps reconnects (INIT-REBOOT),"
  echo "the first connect of a fresh state dir, ${idle_secs} s idle windows (ms; RSS kB; CPU ms)"
  echo
  echo "| figure                                         |   netpilot |    ConnMan |  ratio |"
  echo "|------------------------------------------------|------------|------------|--------|"
  row "carrier up (cmd) -> ready" "$(ours 2)" "$(theirs 'A5 cmd->ready')"
  row "carrier up (cmd) -> online" "$(ours 3)" "$(theirs 'A6 cmd->online')"
  row "first connect: carrier up (cmd) -> ready" "$(first 2)" "$(theirs 'A5 cmd->ready' 7)"
  row "first connect: carrier up (cmd) -> online" "$(first 3)" "$(theirs 'A6 cmd->online' 7)"
  row "carrier down (cmd) -> idle" "$(ours 4)" "$(theirs 'B6 cmd->Manager State idle')"
  row "carrier down (cmd) -> session told (ConnMan: idle)" "$(ours 5)" "$(theirs 'B6 cmd->Manager State idle')"
  row "RSS after start-up" "$rss_start" "$(their_rss startup_idle)"
  row "RSS after $reps cycles" "$rss_cycles" "$(their_rss "after_${reps}_cycles")"
  row "CPU per reconnect + disconnect cycle (ms)" \
    "$(awk -v a="$cpu_from" -v b="$cpu_to" -v n="$reps" 'BEGIN { printf "%.1f", (b - a) / n }')" \
    "$(awk -F, -v w="cycles_$reps" -v n="$reps" '$1 == w { printf "%.1f", $4 / n }' "$out/connman/connman_cpu.csv")"
  row "CPU over ${idle_secs} s idle, no carrier (ms)" "$(our_cpu idle_no_carrier 2)" "$(their_cpu idle_no_carrier 4)"
  row "CPU over ${idle_secs} s idle, connected (ms)" "$(our_cpu idle_connected 2)" "$(their_cpu idle_connected 4)"
  echo
  echo "netpilotd RSS anon + file (kB): $anon_start + $file_start after start-up, $anon_cycles + $file_cycles after the cycles"
  awk -v s="$start" -v e="$serving" 'BEGIN { printf "netpilotd start -> serving: %.1f ms\n", (e-s)*1000 }'
  echo "load average (1 min) as each side started: ConnMan $load_connman, netpilot $load_netpilot"
  echo "raw data: $out"
} | tee "$out/summary.md"
