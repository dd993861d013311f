#!/usr/bin/env python3
"""Records the order of two events on one interface: a DHCPRELEASE leaving it, and the
kernel deleting an IPv4 address from it.

Usage: release_order.py IFNAME ADDRESS OUTFILE

Writes "ready" once listening, then "release" for each DHCPRELEASE sent on IFNAME and
"deleted" when ADDRESS is deleted. A packet socket sees an outgoing frame while the
sender's send call runs, so a release sent before the address was deleted is queued here
before the RTM_DELADDR notification: the packet socket is drained before "deleted" is
written. Runs until killed.
"""
import select
import socket
import struct
import sys

ETH_P_ALL = 3
RTMGRP_IPV4_IFADDR = 0x10
RTM_DELADDR = 21
IFA_ADDRESS, IFA_LOCAL = 1, 2
DHCP_MAGIC = b"\x63\x82\x53\x63"


def is_release(frame):
    """A DHCPRELEASE (option 53 = 7) in an Ethernet/IPv4/UDP frame to port 67."""
    if len(frame) < 14 + 20 + 8 + 240 or frame[12:14] != b"\x08\x00":
        return False
    ihl = (frame[14] & 0x0F) * 4
    if frame[14 + 9] != 17:
        return False
    udp = 14 + ihl
    if struct.unpack("!H", frame[udp + 2 : udp + 4])[0] != 67:
        return False
    dhcp = frame[udp + 8 :]
    if dhcp[236:240] != DHCP_MAGIC:
        return False
    i = 240
    while i + 1 < len(dhcp):
        code = dhcp[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        length = dhcp[i + 1]
        if code == 53 and length >= 1 and i + 2 < len(dhcp):
            return dhcp[i + 2] == 7
        i += 2 + length
    return False


def deleted_addresses(data):
    """IPv4 addresses in the RTM_DELADDR messages of one netlink datagram."""
    found = []
    off = 0
    while off + 16 <= len(data):
        length, kind = struct.unpack("=IH", data[off : off + 6])
        if length < 16:
            break
        if kind == RTM_DELADDR:
            attrs = data[off + 16 + 8 : off + length]
            j = 0
            while j + 4 <= len(attrs):
                alen, atype = struct.unpack("=HH", attrs[j : j + 4])
                if alen < 4:
                    break
                if atype in (IFA_ADDRESS, IFA_LOCAL) and alen == 8:
                    found.append(socket.inet_ntoa(attrs[j + 4 : j + 8]))
                j += (alen + 3) & ~3
        off += (length + 3) & ~3
    return found


def main():
    ifname, address, out = sys.argv[1:4]
    packets = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    packets.bind((ifname, 0))
    packets.setblocking(False)
    kernel = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    kernel.bind((0, RTMGRP_IPV4_IFADDR))
    log = open(out, "a", buffering=1)

    def drain():
        while True:
            try:
                frame = packets.recv(65535)
            except BlockingIOError:
                return
            if is_release(frame):
                log.write("release\n")

    log.write("ready\n")
    while True:
        readable, _, _ = select.select([packets, kernel], [], [])
        if packets in readable:
            drain()
        if kernel in readable:
            if address in deleted_addresses(kernel.recv(65535)):
                drain()
                log.write("deleted\n")


if __name__ == "__main__":
    main()
