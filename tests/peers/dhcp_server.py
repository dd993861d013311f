#!/usr/bin/env python3
"""A deliberately small DHCPv4 server (RFC 2131) for the netns testbed, stdlib only.

It exists for what dnsmasq will not do: short and hostile leases. It answers DISCOVER
with OFFER and REQUEST with ACK, always offering ADDRESS, broadcasting replies.

Usage: dhcp_server.py IFNAME SERVER_IP ADDRESS [--mask M] [--router R | --no-router]
                      [--lease SECS] [--garbage] [--nak all|renewing] [--dns-count N]
                      [--mtu M] [--classless DST/LEN:VIA,...]
  --lease 0 / 4294967295 test zero and infinite leases; --garbage appends an option
  whose length runs past the end of the packet and an oversize vendor option;
  --nak all NAKs every REQUEST, --nak renewing only those with ciaddr set (renewals);
  --dns-count N sends N nameservers; --mtu sends option 26; --classless sends option 121.
SIGUSR1 toggles silence (stop answering / answer again), to test renew/rebind/expiry.
Every message received is logged as "dhcp_server: got TYPE from IP ciaddr=CIADDR".
"""
import argparse
import signal
import socket
import struct
import sys

MAGIC = b"\x63\x82\x53\x63"
SO_BINDTODEVICE = 25
silent = False


def toggle(_sig, _frame):
    global silent
    silent = not silent
    sys.stderr.write("dhcp_server: silent=%s\n" % silent)


def options(raw):
    """Parse the options field into {code: bytes}, tolerating truncation."""
    out, i = {}, 0
    while i < len(raw):
        code = raw[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        if i + 1 >= len(raw):
            break
        length = raw[i + 1]
        out[code] = raw[i + 2:i + 2 + length]
        i += 2 + length
    return out


def opt(code, data):
    return bytes([code, len(data)]) + data


def classless(spec):
    """RFC 3442 encoding of "DST/LEN:VIA,..."."""
    out = b""
    for route in spec.split(","):
        dst, via = route.split(":")
        net, length = dst.split("/")
        length = int(length)
        out += bytes([length]) + socket.inet_aton(net)[:(length + 7) // 8] + socket.inet_aton(via)
    return out


def reply(request, kind, args):
    xid, flags, chaddr = request[4:8], request[10:12], request[28:44]
    yiaddr = b"\x00" * 4 if kind == 6 else socket.inet_aton(args.address)
    header = struct.pack("!BBBB", 2, 1, 6, 0) + xid + b"\x00\x00" + flags
    header += b"\x00" * 4 + yiaddr + socket.inet_aton(args.server_ip) + b"\x00" * 4
    header += chaddr + b"\x00" * 192 + MAGIC
    body = opt(53, bytes([kind])) + opt(54, socket.inet_aton(args.server_ip))
    if kind == 6:
        return header + body + opt(56, b"netpilot test NAK") + b"\xff"
    body += opt(51, struct.pack("!I", args.lease)) + opt(1, socket.inet_aton(args.mask))
    if args.lease not in (0, 0xFFFFFFFF):
        body += opt(58, struct.pack("!I", args.lease // 2)) + opt(59, struct.pack("!I", args.lease * 7 // 8))
    if not args.no_router:
        body += opt(3, socket.inet_aton(args.router or args.server_ip))
    dns = [socket.inet_aton(args.server_ip)]
    if args.dns_count:
        dns = [socket.inet_aton("198.18.200.%d" % (i + 1)) for i in range(args.dns_count)]
    body += opt(6, b"".join(dns))
    if args.mtu is not None:
        body += opt(26, struct.pack("!H", args.mtu))
    if args.classless:
        body += opt(121, classless(args.classless))
    if args.garbage:
        body += opt(43, b"\xff" * 255) + bytes([15, 200]) + b"lab"
        return header + body
    return header + body + b"\xff"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("ifname")
    p.add_argument("server_ip")
    p.add_argument("address")
    p.add_argument("--mask", default="255.255.255.0")
    p.add_argument("--router")
    p.add_argument("--no-router", action="store_true")
    p.add_argument("--lease", type=int, default=3600)
    p.add_argument("--garbage", action="store_true")
    p.add_argument("--nak", choices=["all", "renewing"])
    p.add_argument("--dns-count", type=int, default=0)
    p.add_argument("--mtu", type=int)
    p.add_argument("--classless")
    args = p.parse_args()
    signal.signal(signal.SIGUSR1, toggle)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, args.ifname.encode())
    sock.bind(("0.0.0.0", 67))
    sys.stderr.write("dhcp_server: ready on %s\n" % args.ifname)
    sys.stderr.flush()
    while True:
        try:
            data, source = sock.recvfrom(4096)
        except InterruptedError:
            continue
        if len(data) < 240 or data[236:240] != MAGIC:
            continue
        kind = options(data[240:]).get(53, b"\x00")[0]
        ciaddr = socket.inet_ntoa(data[12:16])
        sys.stderr.write("dhcp_server: got %d from %s ciaddr=%s\n" % (kind, source[0], ciaddr))
        sys.stderr.flush()
        if silent:
            continue
        answer = {1: 2, 3: 5}.get(kind)  # DISCOVER -> OFFER, REQUEST -> ACK
        if kind == 3 and (args.nak == "all" or (args.nak == "renewing" and ciaddr != "0.0.0.0")):
            answer = 6
        if answer:
            # RFC 2131 4.1: a client with an address (renewing) gets a unicast reply; a
            # NAK is always broadcast.
            target = ciaddr if ciaddr != "0.0.0.0" and answer != 6 else "255.255.255.255"
            sock.sendto(reply(data, answer, args), (target, 68))
            sys.stderr.write("dhcp_server: answered %d with %d\n" % (kind, answer))
            sys.stderr.flush()


if __name__ == "__main__":
    main()
