#!/usr/bin/env bash
# netpilotd against ConnMan on the same mac80211_hwsim setup, in the same run: Wi-Fi connect
# times (WPA2-PSK) with fresh scan results and when a scan is needed, reconnecting after the
# access point was off for 2 s, and the first connect ever. Prints medians (min-max) and
# netpilot/ConnMan ratios; keeps both sides' raw cycles.csv.
#
# Usage: bench/wifi.sh [--reps N] [--ap-reps N] [--no-connman] [--connman-results DIR]
#                      [--out DIR]                          (root; about 12 minutes)
#   --reps N               connect cycles per kind on both sides (default 10, the baseline's)
#   --ap-reps N            access point off/on cycles (default 5, the baseline's)
#   --no-connman           netpilotd alone, for quick iterations: no ratios (about 4 minutes)
#   --connman-results DIR  ratios against the ConnMan results of an earlier run in DIR (its
#                          cycles.csv), marked as such; not for published figures
#   --report DIR           print the tables of an earlier run's --out DIR again, run nothing
#
# The ConnMan side is ../shared/bench/wifi/connman-wifi-baseline.sh, run as it is (its own
# VM; about 7 minutes). The netpilot side is the `wifi` test binary's bench mode
# (tests/wifi/bench.rs): its own VM with the baseline's guest layout and phases, netpilotd
# and the `wifi` binary built in release (`make bench` builds them). Each VM keeps one core
# busy; they run one after the other. NETPILOT_BENCH_LOG=debug sets netpilotd's log level
# (default info; logs in DIR/netpilot/logs).
set -euo pipefail

reps=10
ap_reps=5
connman=1
earlier=
out=
report=0
while (($#)); do
  case $1 in
    --reps) reps=$2; shift ;;
    --ap-reps) ap_reps=$2; shift ;;
    --no-connman) connman=0 ;;
    --connman-results) earlier=$2; connman=0; shift ;;
    --out) out=$2; shift ;;
    --report) out=$2; report=1; shift ;;
    *) echo "usage: $0 [--reps N] [--ap-reps N] [--no-connman] [--connman-results DIR] [--out DIR] [--report DIR]" >&2; exit 2 ;;
  esac
  shift
done
for n in "$reps" "$ap_reps"; do
  [[ $n =~ ^[0-9]+$ && $n -ge 1 ]] || { echo "bench: --reps and --ap-reps must be >= 1" >&2; exit 2; }
done
if ((report)); then
  [ -f "$out/netpilot/cycles.csv" ] || { echo "bench: no netpilot/cycles.csv in $out" >&2; exit 1; }
  [ -f "$out/connman/cycles.csv" ] || connman=0
fi
((report)) || [ "$(id -u)" -eq 0 ] || { echo "bench: needs root (QEMU shares / over 9p as root)" >&2; exit 1; }

root=$(cd "$(dirname "$0")/.." && pwd)
if ((report)); then
  out=$(cd "$out" && pwd)
  theirs=
  ((connman)) && theirs=$out/connman/cycles.csv
else
  baseline=${NETPILOT_SHARED:-$root/../shared}/bench/wifi/connman-wifi-baseline.sh
  if ((connman)); then
    [ -x "$baseline" ] || { echo "bench: $baseline not found (../shared beside the checkout, or set NETPILOT_SHARED)" >&2; exit 1; }
  fi
  if [ -n "$earlier" ]; then
    [ -f "$earlier/cycles.csv" ] || { echo "bench: no cycles.csv in $earlier" >&2; exit 1; }
  fi
  # The VM image of tests/hwsim (set up once; `make hwsim` does it too).
  cache=${HWSIM_CACHE:-$root/target/hwsim}
  [ -f "$cache/vm.conf" ] || "$root/tests/hwsim/setup.sh" "$cache"
  export HWSIM_CACHE=$cache

  out=${out:-$(mktemp -d /tmp/netpilot-bench-wifi.XXXXXX)}
  mkdir -p "$out"
  out=$(cd "$out" && pwd)

  # The host's 1-minute load average around each side: the machine is shared, and a side
  # measured under a heavier load is slower (the emulated CPU, not the radio).
  load() { cut -d' ' -f1 /proc/loadavg; }
  if ((connman)); then
    echo "load $(load)" >"$out/load-connman.txt"
    echo "== ConnMan Wi-Fi baseline ($reps connect cycles per kind, $ap_reps AP cycles; about 7 minutes)"
    "$baseline" --reps "$reps" --fresh-reps "$reps" --ap-reps "$ap_reps" --out "$out/connman" \
      >"$out/connman.log" 2>&1 ||
      { tail -20 "$out/connman.log"; echo "bench: the ConnMan baseline failed" >&2; exit 1; }
    echo "load $(load)" >>"$out/load-connman.txt"
    theirs=$out/connman/cycles.csv
  elif [ -n "$earlier" ]; then
    theirs=$(cd "$earlier" && pwd)/cycles.csv
  else
    theirs=
  fi

  echo "load $(load)" >"$out/load-netpilot.txt"
  echo "== netpilotd ($reps connect cycles per kind, $ap_reps AP cycles; about 4 minutes)"
  (cd "$root" && cargo test --release --test wifi -- --bench-wifi --out "$out/netpilot" \
    --reps "$reps" --fresh-reps "$reps" --ap-reps "$ap_reps") >"$out/netpilot.log" 2>&1 ||
    { tail -30 "$out/netpilot.log"; echo "bench: the netpilot side failed (logs in $out/netpilot)" >&2; exit 1; }
  echo "load $(load)" >>"$out/load-netpilot.txt"
fi
ours=$out/netpilot/cycles.csv

# stats CSV PHASE FROM TO -> "median min max n" of (TO - FROM) in ms over PHASE's rows;
# columns as in the baseline's cycles.csv (3 t_cmd, 6 t_wpa_completed, 7 t_addr,
# 8 t_ready, 9 t_online).
stats() {
  [ -n "$1" ] && [ -f "$1" ] || { echo "NA NA NA 0"; return; }
  awk -F, -v ph="$2" -v a="$3" -v b="$4" '
    NR > 1 && $1 == ph && $a != "NA" && $b != "NA" && $a != "" && $b != "" { v[++n] = ($b - $a) * 1000 }
    END {
      if (!n) { print "NA NA NA 0"; exit }
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
      m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
      printf "%.0f %.0f %.0f %d\n", m, v[1], v[n], n
    }' "$1"
}
show() { # "median min max n" -> "median (min-max)" or "median" for one value
  set -- $1
  if [ "$4" = 0 ]; then echo "-"; elif [ "$4" = 1 ]; then echo "$1"; else echo "$1 ($2-$3)"; fi
}
row() { # NAME PHASE FROM TO GOAL
  local a b r
  a=$(stats "$ours" "$2" "$3" "$4")
  b=$(stats "$theirs" "$2" "$3" "$4")
  r=$(awk -v x="${a%% *}" -v y="${b%% *}" 'BEGIN { print (x != "NA" && y != "NA" && y + 0 > 0) ? sprintf("%.2f", x / y) : "-" }')
  printf "| %-48s | %18s | %18s | %5s | %4s |\n" "$1" "$(show "$a")" "$(show "$b")" "$r" "$5"
}
{
  echo
  if ((report)); then
    echo "the tables of $out again: ms, median (min-max)"
  elif ((connman)); then
    echo "netpilot vs ConnMan on mac80211_hwsim, same machine, same run: ms, median (min-max)"
  elif [ -n "$earlier" ]; then
    echo "netpilot now vs ConnMan from an EARLIER run ($earlier): ms, median (min-max); not same-run figures"
  else
    echo "netpilot alone (--no-connman): ms, median (min-max)"
  fi
  echo
  echo "| figure                                           |           netpilot |            ConnMan | ratio | goal |"
  echo "|--------------------------------------------------|--------------------|--------------------|-------|------|"
  row "connect, fresh scan results -> ready" D 3 8 ""
  row "connect, fresh scan results -> online" D 3 9 ""
  row "connect, scan needed (results > 5 s) -> ready" C 3 8 0.15
  row "connect, scan needed (results > 5 s) -> online" C 3 9 ""
  row "AP off 2 s, on -> ready" P 3 8 0.5
  row "AP off 2 s, on -> online" P 3 9 ""
  row "first connect ever, enable Wi-Fi -> ready" F 3 8 ""
  row "first connect ever, enable Wi-Fi -> online" F 3 9 0.5
  echo
  echo "where the time goes (ms, median (min-max)):"
  echo
  echo "| step                                             |           netpilot |            ConnMan | ratio |      |"
  echo "|--------------------------------------------------|--------------------|--------------------|-------|------|"
  for p in "D fresh results" "C scan needed" "P AP on" "F first connect"; do
    ph=${p%% *} name=${p#* }
    row "$name: request -> wpa completed" "$ph" 3 6 ""
    row "$name: completed -> IPv4 address" "$ph" 6 7 ""
    row "$name: IPv4 address -> ready" "$ph" 7 8 ""
    row "$name: ready -> online" "$ph" 8 9 ""
  done
  echo
  costs() {
    local c
    c=$(awk -F, -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$out/netpilot/detail.txt" 2>/dev/null)
    echo "${c:--}"
  }
  echo "request: netpilot's RPC on an open channel; ConnMan's connmanctl command, whose start is"
  echo "included. Starting a client in the guest, 5 runs (ms): connmanctl (bus connect, one call):"
  echo "$(costs connmanctl_state_ms); netpilot CLI (connect, one RPC): $(costs cli_state_ms)."
  echo "AP on: the same 'ip netns exec ap hostapd_cli ... enable' on both sides."
  loads() { [ -f "$out/load-$1.txt" ] && awk '{ printf "%s%s", (NR > 1 ? " -> " : ""), $2 }' "$out/load-$1.txt" || echo "-"; }
  echo "host load average (1 min, before -> after; $(nproc) cores): netpilot $(loads netpilot), ConnMan $(loads connman)."
  echo "raw data: $out (netpilot/cycles.csv, connman/cycles.csv, logs)"
} | tee "$out/summary.md"
