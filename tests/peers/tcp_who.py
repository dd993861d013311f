#!/usr/bin/env python3
"""TCP endpoint for the session-routing tests (stdlib only): accepts connections on
ADDRESS:PORT, reads what the client sends (a tag naming the test step) and writes one line
per connection to stderr (the test harness logs it), flushed: "<tag> from <client address>". Which peer namespace logs
a tag shows which link the connection left through. Usage: tcp_who.py ADDRESS PORT
"""
import socket
import sys


def main():
    address, port = sys.argv[1], int(sys.argv[2])
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((address, port))
    server.listen(16)
    while True:
        conn, peer = server.accept()
        conn.settimeout(5)
        try:
            tag = conn.recv(256).decode("ascii", "replace").strip()
        except OSError:
            tag = "?"
        finally:
            conn.close()
        sys.stderr.write("%s from %s\n" % (tag, peer[0]))
        sys.stderr.flush()


if __name__ == "__main__":
    main()
