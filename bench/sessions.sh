#!/usr/bin/env bash
# Session and API figures (issue 9), netpilotd against ConnMan in the same run where a
# reference exists:
#   fan-out   1, 100 and 1000 open session streams; one carrier change (peer link down) ->
#             time until the last client has its update (p50, p99 over rounds), p99 over every
#             delivery, daemon RSS per idle session, and the cost of opening and closing one
#             session with few and with many open (examples/session_bench.rs);
#   RPC       ListServices with 10 and 500 Ethernet links (veth pairs), requests per second and
#             p99 from ghz, against ConnMan's Manager.GetServices over D-Bus on the same links
#             (a sequential client and ghz with one connection at the same concurrency), and
#             the server's CPU time per call (netpilotd; connmand plus the bus daemon);
#   start-up  netpilotd start to serving (the API answers) with 2 and 200 links.
#
# Usage: bench/sessions.sh [--quick] [--no-connman] [--only startup|fanout|rpc]   (root; `make
# bench` builds the release binaries and the bench client). --quick: fewer rounds and
# requests, for iterations; --only: one part.
#
# Everything runs in namespaces this script makes (nps-*), addresses from 198.18.0.0/15; the
# ConnMan side runs connmand in its own namespace with a private D-Bus bus, its state and
# resolv.conf in a temp dir, and nothing managed but those links. Nothing is asserted.
set -euo pipefail

quick=0
connman=1
only=""
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --no-connman) connman=0 ;;
    --only) only=$2; shift ;;
    *) echo "usage: $0 [--quick] [--no-connman] [--only startup|fanout|rpc]" >&2; exit 2 ;;
  esac
  shift
done
part() { [ -z "$only" ] || [ "$only" = "$1" ]; }
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (network namespaces)" >&2; exit 1; }

root=$(cd "$(dirname "$0")/.." && pwd)
tools=${TOOLS:-$root/target/tools}
daemon=$root/target/release/netpilotd
cli=$root/target/release/netpilot
client=$root/target/release/examples/session_bench
ghz=$tools/bin/ghz
needed=("$daemon" "$cli")
part fanout && needed+=("$client")
for f in "${needed[@]}"; do
  [ -x "$f" ] || { echo "bench: $f missing: run \`make bench\`" >&2; exit 1; }
done
[ -x "$ghz" ] || { echo "bench: $ghz missing: run \`make deps\`" >&2; exit 1; }
if ((connman)) && ! command -v connmand >/dev/null; then
  echo "bench: connmand not installed; ConnMan columns skipped (apt-get install connman)" >&2
  connman=0
fi
rounds=20 requests=5000
((quick)) && rounds=5 requests=1000

out=$(mktemp -d /tmp/netpilot-bench-sessions.XXXXXX)
ns=nps-d peer=nps-p cm=nps-cm
pids=()
stop() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
made=()
cleanup() {
  stop
  for n in "$ns" "$peer" "$cm"; do ip netns del "$n" 2>/dev/null || true; done
  for d in "${made[@]}"; do rmdir "$d" 2>/dev/null || true; done
}
trap cleanup EXIT
now_ns() { date +%s%N; }

# A fresh daemon namespace with N veth links (link0..) to one peer namespace, peers up (carrier).
links() {
  local n=$1 where=${2:-$ns}
  for x in "$where" "$peer"; do ip netns del "$x" 2>/dev/null || true; ip netns add "$x"; ip -n "$x" link set lo up; done
  local batch=$out/links.batch
  : >"$batch"
  for ((i = 0; i < n; i++)); do
    echo "link add link$i netns $where type veth peer name peer$i netns $peer" >>"$batch"
  done
  ip -batch "$batch"
  : >"$batch"
  for ((i = 0; i < n; i++)); do echo "link set peer$i up" >>"$batch"; done
  ip -n "$peer" -batch "$batch"
  : >"$batch"
  for ((i = 0; i < n; i++)); do echo "link set link$i up" >>"$batch"; done
  ip -n "$where" -batch "$batch"
}

# Starts netpilotd in $ns observing every link (managing none); prints its pid.
start_daemon() {
  rm -rf "$out/state" "$out/run"
  cat >"$out/netpilot.toml" <<EOF
socket = "$out/netpilot.sock"
state_dir = "$out/state"
run_dir = "$out/run"
log_level = "${NETPILOT_BENCH_LOG:-warn}"
[api]
# One identity (root) holds every session of the fan-out.
max_sessions_per_identity = 2000
max_streams_per_identity = 2100
[online_check]
mode = "off"
[dns]
resolv_conf = "$out/resolv.conf"
EOF
  # Both streams to the log: an inherited stdout would keep the caller's $(...) open.
  ip netns exec "$ns" "$daemon" --config "$out/netpilot.toml" >>"$out/netpilotd.log" 2>&1 &
  echo $!
}

serving() { ip netns exec "$ns" "$cli" --socket "$out/netpilot.sock" state >/dev/null 2>&1; }

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'; }

startup=()
part startup && echo "== start-up to serving (median of 5)"
part startup && for n in 2 200; do
  links "$n"
  samples=()
  for _ in 1 2 3 4 5; do
    t0=$(now_ns)
    pid=$(start_daemon); pids+=("$pid")
    until serving; do sleep 0.005; done
    t1=$(now_ns)
    samples+=("$(( (t1 - t0) / 1000 ))")
    stop
  done
  ms=$(printf '%s\n' "${samples[@]}" | median | awk '{ printf "%.1f", $1 / 1000 }')
  startup+=("$n:$ms")
  echo "  $n links: $ms ms"
done

fanout=()
if part fanout; then
echo "== fan-out ($rounds carrier changes each)"
links 1
ip -n "$ns" addr add 198.18.1.2/24 dev link0
for n in 1 100 1000; do
  pid=$(start_daemon); pids+=("$pid")
  until serving; do sleep 0.01; done
  json=$("$client" --socket "$out/netpilot.sock" --pid "$pid" --sessions "$n" --rounds "$rounds" \
    --toggle "ip -n $peer link set peer0")
  echo "  $json"
  fanout+=("$json")
  stop
done
fi

# ConnMan: connmand in its own namespace on the same kind of links, private D-Bus bus.
connman_rate() {
  local n=$1
  links "$n" "$cm"
  mkdir -p "$out/cm/state" "$out/cm/run"
  cat >"$out/cm/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$out/cm/bus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
  <include ignore_missing="yes">/usr/share/dbus-1/system.d/connman.conf</include>
  <include ignore_missing="yes">/etc/dbus-1/system.d/connman.conf</include>
</busconfig>
EOF
  rm -f "$out/cm/bus.sock"
  dbus-daemon --config-file="$out/cm/bus.conf" --nofork --nopidfile --nosyslog >"$out/cm/dbus.log" 2>&1 &
  pids+=($!)
  local bus=$!
  for _ in $(seq 100); do [ -S "$out/cm/bus.sock" ] && break; sleep 0.05; done
  printf '[General]\nPreferredTechnologies=ethernet\n' >"$out/cm/main.conf"
  printf 'nameserver 127.0.0.1\n' >"$out/cm/resolv.conf"
  # As ../shared/bench/connman_baseline.sh: its own mount and UTS namespace, so that its
  # state dir, /run/connman and resolv.conf are bind mounts into the temp dir.
  for d in /var/lib/connman /run/connman; do [ -e "$d" ] || { mkdir -p "$d"; made+=("$d"); }; done
  DBUS_SYSTEM_BUS_ADDRESS="unix:path=$out/cm/bus.sock" ip netns exec "$cm" \
    unshare --mount --uts --propagation private /bin/sh -c '
      mount --bind "$1" /var/lib/connman && mount --bind "$2" /run/connman &&
      mount --bind "$3" /etc/resolv.conf && exec connmand -n -c "$4" -i "link*"' cm-wrap \
    "$out/cm/state" "$out/cm/run" "$out/cm/resolv.conf" "$out/cm/main.conf" \
    >"$out/cm/connmand.log" 2>&1 &
  pids+=($!)
  # ip netns exec, unshare and sh exec one another: this pid becomes connmand's.
  local connmand=$!
  # The distribution's python3 (python3-dbus), not one a version manager put first on PATH.
  local py=/usr/bin/python3
  [ -x "$py" ] || py=python3
  DBUS_SYSTEM_BUS_ADDRESS="unix:path=$out/cm/bus.sock" "$py" "$root/bench/dbus_rate.py" \
    --services "$n" --requests "$requests" --server-pids "$bus,$connmand"
}

# User plus system CPU time of a process, in clock ticks (proc(5) fields 14, 15).
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

rpc=()
part rpc && echo "== ListServices ($requests requests per run)"
part rpc && for n in 10 500; do
  links "$n"
  pid=$(start_daemon); pids+=("$pid")
  until serving; do sleep 0.01; done
  # One JSON document on one line: count the ids, not the lines.
  until [ "$(ip netns exec "$ns" "$cli" --socket "$out/netpilot.sock" services --json 2>/dev/null | grep -o '"id"' | wc -l)" -ge "$n" ]; do sleep 0.05; done
  # The links' own events (IPv6 link-local addresses after DAD) come for a few seconds more:
  # measure once the daemon has used no CPU for a second (30 s at most).
  for _ in $(seq 30); do
    t0=$(cpu_ticks "$pid"); sleep 1
    [ "$(cpu_ticks "$pid")" = "$t0" ] && break
  done
  for c in 1 8; do
    t0=$(cpu_ticks "$pid")
    ip netns exec "$ns" "$ghz" --insecure --proto "$root/proto/netpilot/v1/manager.proto" \
      --import-paths "$root/proto" --call netpilot.v1.ManagerService.ListServices \
      -n "$requests" -c "$c" --connections 1 --format json -o "$out/ghz-$n-$c.json" \
      "unix://$out/netpilot.sock" >/dev/null
    cpu=$((($(cpu_ticks "$pid") - t0) * 1000000 / $(getconf CLK_TCK) / requests))
    rps=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('%.0f' % r['rps'])" "$out/ghz-$n-$c.json")
    p99=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('%.2f' % ([d['latency'] for d in r['latencyDistribution'] if d['percentage']==99][0]/1e6))" "$out/ghz-$n-$c.json")
    echo "  netpilotd, $n services, concurrency $c: $rps req/s, p99 $p99 ms, server CPU $cpu us per call"
    rpc+=("np:$n:$c:$rps:$p99:$cpu")
  done
  stop
  if ((connman)); then
    # Not in a subshell: connman_rate records the pids it starts.
    connman_rate "$n" >"$out/connman-$n.txt" || echo "failed (see $out/cm)" >>"$out/connman-$n.txt"
    line=$(tail -1 "$out/connman-$n.txt")
    echo "  connmand, $line"
    rpc+=("cm:$n:$line")
    stop
    ip netns del "$cm" 2>/dev/null || true
  fi
done

echo
echo "== summary"
for f in "${fanout[@]+"${fanout[@]}"}"; do echo "fanout $f"; done
for s in "${startup[@]+"${startup[@]}"}"; do echo "startup ${s%%:*} links: ${s#*:} ms"; done
for r in "${rpc[@]+"${rpc[@]}"}"; do echo "rpc $r"; done
echo "(logs in $out)"
