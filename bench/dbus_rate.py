#!/usr/bin/env python3
"""ConnMan's Manager.GetServices over D-Bus, for bench/sessions.sh: waits until connmand
lists at least --services services (--wait seconds at most; then it measures with what it
lists, and says how many), then makes --requests calls one after another on one
connection, stopping early after --seconds, and prints "N services: R req/s, p99 P ms,
server CPU C us per call", the server being the processes --server-pids names (connmand and
the bus daemon, whose CPU time over the calls is divided by the calls).
The bus is $DBUS_SYSTEM_BUS_ADDRESS (a private one the script started)."""
import argparse
import os
import sys
import time

import dbus


def cpu_seconds(pids):
    """User plus system CPU time of these processes, in seconds (proc(5) fields 14, 15)."""
    ticks = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, required=True)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--wait", type=float, default=120)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--server-pids", default="", help="comma-separated")
    a = ap.parse_args()
    server = [int(p) for p in a.server_pids.split(",") if p]
    bus = dbus.SystemBus()
    deadline = time.monotonic() + a.wait
    listed = 0
    manager = None
    while time.monotonic() < deadline:
        try:
            manager = dbus.Interface(bus.get_object("net.connman", "/"), "net.connman.Manager")
            listed = len(manager.GetServices())
            if listed >= a.services:
                break
        except dbus.DBusException:
            pass
        time.sleep(0.1)
    if manager is None or listed == 0:
        print("connmand listed no service in %.0f s" % a.wait)
        return 1
    lat = []
    cpu_before = cpu_seconds(server)
    start = time.monotonic()
    for _ in range(a.requests):
        t = time.monotonic()
        manager.GetServices()
        lat.append(time.monotonic() - t)
        if t - start > a.seconds:
            break
    total = time.monotonic() - start
    cpu = (cpu_seconds(server) - cpu_before) / len(lat) * 1e6
    lat.sort()
    p99 = lat[min(len(lat) - 1, round((len(lat) - 1) * 0.99))] * 1e3
    print(
        "%d services: %.0f req/s, p99 %.2f ms, server CPU %.0f us per call"
        % (listed, len(lat) / total, p99, cpu)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
