#!/bin/bash
# record-wpa.sh - record real wpa_supplicant control-interface output on mac80211_hwsim
# radios, for the parser tests of src/tech/wifi/supplicant.rs.
#
# Usage (host, as root):  tests/hwsim/record-wpa.sh OUT_DIR
# It boots a throw-away QEMU guest with ../shared/bench/wifi/run-hwsim-vm.sh (or
# $HWSIM_RUNNER) and runs itself inside it. In the guest, real hostapd (nl80211) runs
# about 240 BSSes on seven radios (special SSIDs and security modes on two, ~55 plain
# BSSes on each of four more, WEP alone on one) and a real wpa_supplicant (nl80211) on
# the first radio.
# A small Python client speaks the control interface directly (no wpa_cli in between),
# so the files hold the exact datagrams:
#   bss.txt        every `BSS FIRST` / `BSS NEXT-<id>` reply, each after a `>>> CMD` line
#   replies.txt    other replies (STATUS in several states, SCAN_RESULTS, LIST_NETWORKS,
#                  GET_CAPABILITY ...), same framing
#   events.txt     every datagram of the ATTACHed monitor socket, one per line
# Only addresses from 198.18.0.0/15 would be used, but nothing here needs IP at all.
set -euo pipefail

if [ -z "${HWSIM_VM:-}" ]; then
    out=${1:?usage: record-wpa.sh OUT_DIR}
    mkdir -p "$out"
    out=$(readlink -f "$out")
    self=$(readlink -f "$0")
    runner=${HWSIM_RUNNER:-$(dirname "$self")/../../../shared/bench/wifi/run-hwsim-vm.sh}
    [ -x "$runner" ] || runner=/work/shared/bench/wifi/run-hwsim-vm.sh
    export HWSIM_RADIOS=8 HWSIM_VM_RWDIRS="$out" HWSIM_VM_TIMEOUT=${HWSIM_VM_TIMEOUT:-900}
    exec "$runner" "$self" "$out"
fi

# ------------------------------------------------------------------ in the guest
out=$1
run=/run/rec
mkdir -p "$run/wpa" "$run/hostapd" "$run/certs"
log() { echo "record-wpa(guest): $*"; }

# Test PKI for the EAP network, made now (nothing committed).
(
    cd "$run/certs"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=np-test-ca \
        -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=radius.np.test \
        -keyout server.key -out server.csr 2>/dev/null
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -out server.pem 2>/dev/null
)
printf '* PEAP\n"np-user" MSCHAPV2 "np-password" [2]\n' > "$run/eap_user"

hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

# Common header of each radio's hostapd config.
header() { # iface channel [beacon interval, TU; default 1000 to keep the guest's CPU free]
    cat <<EOF
interface=$1
driver=nl80211
ctrl_interface=$run/hostapd
hw_mode=g
channel=$2
beacon_int=${3:-1000}
EOF
}
# One `bss=` section: ifname bssid, then lines from stdin.
bss() {
    echo "bss=$1"
    echo "bssid=$2"
    echo "ctrl_interface=$run/hostapd"
    cat
}

# Radio 1 (wlan1), channel 1: SSIDs that are hard to print, and common security modes.
# Beacons every 100 TU, so that a passive scan (111 ms per channel) sees the hidden ones.
{
    header wlan1 1 100
    echo "ssid=np-open"
    bss wlan1_1 02:01:00:00:00:01 <<EOF
ssid2=$(hex 'café-ネット-📶')
utf8_ssid=1
wpa=2
wpa_key_mgmt=WPA-PSK
rsn_pairwise=CCMP
wpa_passphrase=secretpass1
EOF
    bss wlan1_2 02:01:00:00:00:02 <<EOF
ssid2=$(printf '"q"\\b\n\t\001\377=x' | od -An -tx1 | tr -d ' \n')
EOF
    bss wlan1_3 02:01:00:00:00:03 <<EOF
ssid=0123456789abcdef0123456789ABCDEF
wpa=2
wpa_key_mgmt=SAE
rsn_pairwise=CCMP
ieee80211w=2
sae_password=secretpass1
EOF
    bss wlan1_4 02:01:00:00:00:04 <<EOF
ssid=np-hidden
ignore_broadcast_ssid=1
wpa=2
wpa_key_mgmt=WPA-PSK
rsn_pairwise=CCMP
wpa_passphrase=secretpass1
EOF
    bss wlan1_5 02:01:00:00:00:05 <<EOF
ssid=np-hidden-zero
ignore_broadcast_ssid=2
EOF
    bss wlan1_6 02:01:00:00:00:06 <<EOF
ssid=np-transition
wpa=2
wpa_key_mgmt=WPA-PSK SAE
rsn_pairwise=CCMP
ieee80211w=1
wpa_passphrase=secretpass1
EOF
    bss wlan1_7 02:01:00:00:00:07 <<EOF
ssid=np-psk
wpa=2
wpa_key_mgmt=WPA-PSK
rsn_pairwise=CCMP
wpa_passphrase=secretpass1
EOF
    bss wlan1_8 02:01:00:00:00:08 <<EOF
ssid=np-mixed
wpa=3
wpa_key_mgmt=WPA-PSK
wpa_pairwise=TKIP CCMP
rsn_pairwise=CCMP
wpa_passphrase=secretpass1
EOF
    bss wlan1_9 02:01:00:00:00:09 <<EOF
ssid2=$(printf 'caf\351' | od -An -tx1 | tr -d ' \n')
EOF
    bss wlan1_10 02:01:00:00:00:0a <<EOF
ssid=a = b [ESS] "x"
EOF
    bss wlan1_11 02:01:00:00:00:0b <<EOF
ssid=np-psk-sha256
wpa=2
wpa_key_mgmt=WPA-PSK-SHA256
rsn_pairwise=CCMP
ieee80211w=2
wpa_passphrase=secretpass1
EOF
    bss wlan1_12 02:01:00:00:00:0c <<EOF
ssid=np-deny
macaddr_acl=0
deny_mac_file=$run/deny
EOF
} > "$run/hostapd-1.conf"
echo 02:00:00:00:00:00 > "$run/deny"

# Radio 2 (wlan2), channel 6: the ones that need more of hostapd (EAP server, WPS, WEP).
{
    header wlan2 6
    cat <<EOF
ssid=np-eap
wpa=2
wpa_key_mgmt=WPA-EAP
rsn_pairwise=CCMP
ieee8021x=1
eap_server=1
eap_user_file=$run/eap_user
ca_cert=$run/certs/ca.pem
server_cert=$run/certs/server.pem
private_key=$run/certs/server.key
EOF
    bss wlan2_1 02:02:00:00:00:01 <<EOF
ssid=np-wps
wpa=2
wpa_key_mgmt=WPA-PSK
rsn_pairwise=CCMP
wpa_passphrase=secretpass1
wps_state=2
eap_server=1
EOF
    bss wlan2_2 02:02:00:00:00:02 <<EOF
ssid=np-eap-wpa3
wpa=2
wpa_key_mgmt=WPA-EAP WPA-EAP-SHA256
rsn_pairwise=CCMP
ieee80211w=1
ieee8021x=1
eap_server=1
eap_user_file=$run/eap_user
ca_cert=$run/certs/ca.pem
server_cert=$run/certs/server.pem
private_key=$run/certs/server.key
EOF
} > "$run/hostapd-2.conf"

# WEP alone on radio 7: hostapd 2.10 may be built without it, and then only this one fails.
{
    header wlan7 11
    echo "ssid=np-wep"
    echo "wep_default_key=0"
    echo "wep_key0=\"abcde\""
} > "$run/hostapd-wep.conf"

# Radios 3..6: many plain BSSes (open and WPA2-PSK), 55 on each radio.
for r in 3 4 5 6; do
    case $r in 3) chan=1 ;; 4) chan=6 ;; 5) chan=11 ;; *) chan=3 ;; esac
    {
        header "wlan$r" "$chan"
        echo "ssid=np-mass-$r-00"
        for i in $(seq 1 54); do
            printf -v b '02:%02x:00:00:01:%02x' "$((r + 16))" "$i"
            if (( i % 2 )); then
                bss "wlan${r}_$i" "$b" <<EOF
ssid=np-mass-$r-$(printf %02d "$i")
EOF
            else
                bss "wlan${r}_$i" "$b" <<EOF
ssid=np-mass-$r-$(printf %02d "$i")
wpa=2
wpa_key_mgmt=WPA-PSK
rsn_pairwise=CCMP
wpa_passphrase=secretpass1
EOF
            fi
        done
    } > "$run/hostapd-$r.conf"
done

pids=()
# One hostapd at a time, each until its first BSS is enabled: many starting together
# overflow each other's netlink sockets on this slow guest.
start_hostapd() { # conf log
    hostapd "$1" > "$2" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 600); do
        grep -q 'AP-ENABLED' "$2" && return 0
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    log "hostapd $1 did not come up (see $2)"
}
start_hostapd "$run/hostapd-1.conf" "$out/hostapd-1.log"
start_hostapd "$run/hostapd-2.conf" "$out/hostapd-2.log"
start_hostapd "$run/hostapd-wep.conf" "$out/hostapd-wep.log"
for r in 3 4 5 6; do start_hostapd "$run/hostapd-$r.conf" "$out/hostapd-$r.log"; done
ip link set wlan0 up

cat > "$run/wpa.conf" <<EOF
ctrl_interface=$run/wpa
bss_max_count=1000
EOF
wpa_supplicant -i wlan0 -D nl80211 -c "$run/wpa.conf" -dd -t > "$out/wpa_supplicant.log" 2>&1 &
pids+=($!)

python3 - "$run/wpa/wlan0" "$out" <<'PY'
import os, socket, sys, time

ctrl, out = sys.argv[1], sys.argv[2]
deadline = time.time() + 30
while not os.path.exists(ctrl):
    if time.time() > deadline:
        sys.exit("no control socket")
    time.sleep(0.1)

def open_sock(name):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = "/run/rec/%s-%d" % (name, os.getpid())
    s.bind(path)
    s.connect(ctrl)
    return s

req = open_sock("req")
mon = open_sock("mon")
events = open(os.path.join(out, "events.txt"), "wb")
replies = open(os.path.join(out, "replies.txt"), "wb")
bssf = open(os.path.join(out, "bss.txt"), "wb")

def pump(timeout):
    """Reads monitor datagrams for up to `timeout` s; returns them."""
    got = []
    end = time.time() + timeout
    while True:
        left = end - time.time()
        if left <= 0:
            return got
        mon.settimeout(left)
        try:
            d = mon.recv(65536)
        except socket.timeout:
            return got
        events.write(d + b"\n")
        events.flush()
        got.append(d)

def wait_event(prefix, timeout):
    end = time.time() + timeout
    while time.time() < end:
        for d in pump(min(1.0, max(0.0, end - time.time()))):
            if d.split(b">", 1)[-1].startswith(prefix):
                return d
    return None

def cmd(c, record=True, f=None):
    req.send(c.encode() if isinstance(c, str) else c)
    req.settimeout(10)
    while True:
        d = req.recv(65536)
        if not d.startswith(b"<"):
            break
    if record:
        (f or replies).write(b">>> " + (c.encode() if isinstance(c, str) else c) + b"\n" + d)
        if not d.endswith(b"\n"):
            (f or replies).write(b"\n")
        (f or replies).flush()
    return d

mon.send(b"ATTACH")
mon.settimeout(5)
assert mon.recv(4096) == b"OK\n"

cmd("PING")
cmd("STATUS")
cmd("GET_CAPABILITY key_mgmt")
cmd("GET_CAPABILITY eap")
cmd("GET_CAPABILITY pairwise")

# A hidden network needs a directed probe: a scan_ssid=1 network makes the scans ask.
hid = cmd("ADD_NETWORK").strip().decode()
cmd("SET_NETWORK %s ssid \"np-hidden\"" % hid)
cmd("SET_NETWORK %s scan_ssid 1" % hid)
cmd("SET_NETWORK %s psk \"secretpass1\"" % hid)
cmd("SET_NETWORK %s disabled 1" % hid)

for attempt in range(3):
    r = cmd("SCAN")
    if r.startswith(b"FAIL-BUSY"):
        wait_event(b"CTRL-EVENT-SCAN-RESULTS", 60)
        continue
    wait_event(b"CTRL-EVENT-SCAN-RESULTS", 90)
    pump(1)

def dump_bss():
    r = cmd("BSS FIRST", f=bssf)
    n = 0
    while r:
        n += 1
        bid = None
        for line in r.split(b"\n"):
            if line.startswith(b"id="):
                bid = int(line[3:])
        if bid is None:
            break
        r = cmd("BSS NEXT-%d" % bid, f=bssf)
    return n

# Hidden and MAC-filtered BSSes answer no wildcard probe: listen for their beacons.
cmd("SCAN passive=1 freq=2412")
wait_event(b"CTRL-EVENT-SCAN-RESULTS", 30)
n = dump_bss()
print("record: %d BSSes" % n, flush=True)
cmd("SCAN_RESULTS")
cmd("BSS 02:01:00:00:00:03 MASK=0x1986", f=bssf)
# The mask netpilot's Supplicant::bss_list asks for.
cmd("BSS FIRST MASK=0x181edf", f=bssf)

def connect(lines, expect, timeout=40):
    nid = cmd("ADD_NETWORK").strip().decode()
    for l in lines:
        cmd("SET_NETWORK %s %s" % (nid, l))
    cmd("SELECT_NETWORK %s" % nid)
    ev = wait_event(expect, timeout)
    return nid, ev

# WPA2-PSK: connected, STATUS, then a local disconnect.
nid, ev = connect(['ssid "np-psk"', 'psk "secretpass1"', 'key_mgmt WPA-PSK', 'scan_freq 2412'],
                  b"CTRL-EVENT-CONNECTED")
cmd("STATUS")
cmd("STATUS-VERBOSE")
cmd("BSS CURRENT", f=bssf)
cmd("LIST_NETWORKS")
cmd("DISCONNECT")
wait_event(b"CTRL-EVENT-DISCONNECTED", 10)
cmd("STATUS")
cmd("REMOVE_NETWORK %s" % nid)

# Wrong key: temporarily disabled with WRONG_KEY, twice, then disabled by us.
nid, ev = connect(['ssid "np-psk"', 'psk "wrongpass1"', 'key_mgmt WPA-PSK', 'scan_freq 2412'],
                  b"CTRL-EVENT-SSID-TEMP-DISABLED")
wait_event(b"CTRL-EVENT-SSID-TEMP-DISABLED", 40)
cmd("LIST_NETWORKS")
cmd("DISABLE_NETWORK %s" % nid)
cmd("REMOVE_NETWORK %s" % nid)

# SAE with PMF required, on the 32-byte SSID.
nid, ev = connect(['ssid "0123456789abcdef0123456789ABCDEF"', 'psk "secretpass1"',
                   'key_mgmt SAE', 'ieee80211w 2', 'scan_freq 2412'],
                  b"CTRL-EVENT-CONNECTED")
cmd("STATUS")
cmd("DISCONNECT")
wait_event(b"CTRL-EVENT-DISCONNECTED", 10)
cmd("REMOVE_NETWORK %s" % nid)

# Transition mode network with both key managements.
nid, ev = connect(['ssid "np-transition"', 'psk "secretpass1"', 'key_mgmt WPA-PSK SAE',
                   'ieee80211w 1', 'scan_freq 2412'], b"CTRL-EVENT-CONNECTED")
cmd("STATUS")
cmd("DISCONNECT")
wait_event(b"CTRL-EVENT-DISCONNECTED", 10)
cmd("REMOVE_NETWORK %s" % nid)

# Hidden network.
cmd("SET_NETWORK %s scan_freq 2412" % hid)
cmd("ENABLE_NETWORK %s" % hid)
cmd("SELECT_NETWORK %s" % hid)
wait_event(b"CTRL-EVENT-CONNECTED", 40)
cmd("STATUS")
cmd("DISCONNECT")
wait_event(b"CTRL-EVENT-DISCONNECTED", 10)
cmd("DISABLE_NETWORK %s" % hid)

# EAP: PEAP/MSCHAPv2 right, then wrong password.
eap = ['ssid "np-eap"', 'key_mgmt WPA-EAP', 'eap PEAP', 'identity "np-user"',
       'anonymous_identity "anon"', 'password "np-password"',
       'ca_cert "/run/rec/certs/ca.pem"', 'phase2 "auth=MSCHAPV2"', 'scan_freq 2437']
nid, ev = connect(eap, b"CTRL-EVENT-CONNECTED")
cmd("STATUS")
cmd("DISCONNECT")
wait_event(b"CTRL-EVENT-DISCONNECTED", 10)
cmd("REMOVE_NETWORK %s" % nid)
bad = [l if not l.startswith("password") else 'password "wrong"' for l in eap]
nid, ev = connect(bad, b"CTRL-EVENT-SSID-TEMP-DISABLED")
cmd("DISABLE_NETWORK %s" % nid)
cmd("REMOVE_NETWORK %s" % nid)

# Refused by the AP's MAC list.
nid, ev = connect(['ssid "np-deny"', 'key_mgmt NONE', 'scan_freq 2412', 'scan_ssid 1'],
                  b"CTRL-EVENT-SSID-TEMP-DISABLED", 30)
cmd("DISABLE_NETWORK %s" % nid)
cmd("REMOVE_NETWORK %s" % nid)

# Not there at all.
nid, ev = connect(['ssid "np-absent"', 'key_mgmt NONE', 'scan_freq 2412'],
                  b"CTRL-EVENT-NETWORK-NOT-FOUND", 30)
cmd("DISABLE_NETWORK %s" % nid)
cmd("REMOVE_NETWORK %s" % nid)

# Scan for a few channels only; a failing scan request.
cmd("SCAN freq=2412,2437")
wait_event(b"CTRL-EVENT-SCAN-RESULTS", 30)
cmd("SCAN freq=99999")
cmd("ABORT_SCAN")
cmd("NO_SUCH_COMMAND")
cmd("SET_NETWORK 999 ssid \"x\"")
for i in range(120):
    cmd("ADD_NETWORK", record=False)
cmd("LIST_NETWORKS")
cmd("LIST_NETWORKS LAST_ID=60")
cmd("SET country US")
wait_event(b"CTRL-EVENT-REGDOM-CHANGE", 5)
cmd("SET country DE")
wait_event(b"CTRL-EVENT-REGDOM-CHANGE", 5)
pump(2)
mon.send(b"DETACH")
PY
rc=$?
kill "${pids[@]}" 2>/dev/null || true
exit $rc
