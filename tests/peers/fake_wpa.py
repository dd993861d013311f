#!/usr/bin/env python3
"""A wpa_supplicant control socket that replays recorded real output, for host tests that
need a Wi-Fi radio where there is none (this machine's kernel has no cfg80211).

Everything it says was recorded from wpa_supplicant 2.10 on mac80211_hwsim radios
(tests/fixtures/wpa/, see its README): BSS entries from bss.txt, STATUS from
status-idle.txt, and on SELECT_NETWORK the event sequence of a wrong passphrase
(events-wrong-psk.txt), with the network id rewritten to the one selected. It answers the
requests netpilot's Wi-Fi backend makes (PING, ATTACH, BSS FIRST/NEXT, SCAN, ADD_NETWORK,
SET_NETWORK, SELECT_NETWORK, ...) with what wpa_supplicant answers; anything else gets
"UNKNOWN COMMAND".

Usage: fake_wpa.py CTRL_DIR IFNAME FIXTURES_DIR BSS_COUNT EVENT_DELAY_SECONDS
"""

import os
import re
import socket
import sys
import threading
import time

ctrl_dir, ifname, fixtures, bss_count, delay = sys.argv[1:6]
bss_count, delay = int(bss_count), float(delay)


def read(name):
    with open(os.path.join(fixtures, name), encoding="utf-8", errors="surrogateescape") as f:
        return f.read()


entries = [e.strip("\n") + "\n" for e in read("bss.txt").split("\n\n") if e.strip()][:bss_count]
by_id = {int(re.search(r"^id=(\d+)", e, re.M).group(1)): e for e in entries}
ids = sorted(by_id)
status_idle = read("status-idle.txt")
wrong_psk = [l for l in read("events-wrong-psk.txt").splitlines() if l.strip()]

os.makedirs(ctrl_dir, exist_ok=True)
path = os.path.join(ctrl_dir, ifname)
if os.path.exists(path):
    os.unlink(path)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
lock = threading.Lock()
attached = set()
next_network = [0]


def send_events(lines, network):
    time.sleep(delay)
    for line in lines:
        line = re.sub(r"\bid=0\b", "id=%d" % network, line)
        with lock:
            for peer in list(attached):
                try:
                    sock.sendto(line.encode("utf-8", "surrogateescape"), peer)
                except OSError:
                    attached.discard(peer)
        time.sleep(0.05)


def answer(request):
    words = request.split()
    if not words:
        return "FAIL\n"
    cmd = words[0]
    if cmd == "PING":
        return "PONG\n"
    if cmd in ("SET", "SET_NETWORK", "ENABLE_NETWORK", "DISABLE_NETWORK", "REMOVE_NETWORK",
               "DISCONNECT", "RECONNECT", "ABORT_SCAN", "FLUSH"):
        return "OK\n"
    if cmd == "STATUS":
        return status_idle
    if cmd == "LIST_NETWORKS":
        return "network id / ssid / bssid / flags\n"
    if cmd == "ADD_NETWORK":
        n = next_network[0]
        next_network[0] += 1
        return "%d\n" % n
    if cmd == "SCAN":
        threading.Thread(target=send_events, args=(
            ["<3>CTRL-EVENT-SCAN-STARTED ", "<3>CTRL-EVENT-SCAN-RESULTS "], 0), daemon=True).start()
        return "OK\n"
    if cmd == "SELECT_NETWORK":
        network = int(words[1])
        threading.Thread(target=send_events, args=(wrong_psk, network), daemon=True).start()
        return "OK\n"
    if cmd == "BSS":
        which = words[1] if len(words) > 1 else ""
        if which == "FIRST":
            return by_id[ids[0]] if ids else ""
        m = re.match(r"NEXT-(\d+)$", which)
        if m:
            later = [i for i in ids if i > int(m.group(1))]
            return by_id[later[0]] if later else ""
        return ""
    if cmd == "GET_CAPABILITY":
        return "\n"
    return "UNKNOWN COMMAND\n"


print("fake wpa_supplicant on %s: %d BSS" % (path, len(entries)), flush=True)
while True:
    data, peer = sock.recvfrom(4096)
    request = data.decode("utf-8", "replace").strip()
    if request == "ATTACH":
        with lock:
            attached.add(peer)
        reply = "OK\n"
    elif request == "DETACH":
        with lock:
            attached.discard(peer)
        reply = "OK\n"
    else:
        reply = answer(request)
    with lock:
        try:
            sock.sendto(reply.encode("utf-8", "surrogateescape"), peer)
        except OSError:
            pass
