#!/usr/bin/env python3
"""ConnMan's Manager.GetServices over D-Bus, for bench/sessions.sh: waits until connmand
lists at least --services services (30 s at most), then makes --requests calls one after
another on one connection and prints "N services: R req/s, p99 P ms". The bus is
$DBUS_SYSTEM_BUS_ADDRESS (a private one the script started)."""
import argparse
import sys
import time

import dbus


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, required=True)
    ap.add_argument("--requests", type=int, default=2000)
    a = ap.parse_args()
    bus = dbus.SystemBus()
    deadline = time.monotonic() + 30
    listed = 0
    while time.monotonic() < deadline:
        try:
            manager = dbus.Interface(bus.get_object("net.connman", "/"), "net.connman.Manager")
            listed = len(manager.GetServices())
            if listed >= a.services:
                break
        except dbus.DBusException:
            pass
        time.sleep(0.1)
    else:
        print("connmand listed %d of %d services in 30 s" % (listed, a.services))
        return 1
    lat = []
    start = time.monotonic()
    for _ in range(a.requests):
        t = time.monotonic()
        manager.GetServices()
        lat.append(time.monotonic() - t)
    total = time.monotonic() - start
    lat.sort()
    p99 = lat[min(len(lat) - 1, round((len(lat) - 1) * 0.99))] * 1e3
    print("%d services: %.0f req/s, p99 %.2f ms" % (listed, a.requests / total, p99))
    return 0


if __name__ == "__main__":
    sys.exit(main())
