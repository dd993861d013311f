#!/usr/bin/env python3
"""Online-check endpoint for the netns testbed (stdlib only).

GET /generate_204 -> 204 (online); GET /portal -> 302 to /login (a captive portal);
anything else -> 404. Usage: http_probe_server.py ADDRESS PORT
"""
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/generate_204":
            self.send_response(204)
            self.end_headers()
        elif self.path == "/portal":
            self.send_response(302)
            self.send_header("Location", "http://%s/login" % self.server.server_address[0])
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, fmt, *args):
        sys.stderr.write("http_probe_server: " + fmt % args + "\n")


if __name__ == "__main__":
    address, port = sys.argv[1], int(sys.argv[2])
    http.server.HTTPServer((address, port), Handler).serve_forever()
