"""Opens a session and prints its updates until the daemon releases it (or Ctrl-C)."""
import argparse

from google.protobuf import text_format

from netpilot import Client

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--bearer", action="append", help="allowed bearer, repeatable (default any)")
parser.add_argument("--type", default="any", choices=["local", "internet", "any"])
args = parser.parse_args()

with Client() as client:
    with client.open_session(allowed_bearers=args.bearer, connection_type=args.type) as session:
        print("session", session.id, flush=True)
        try:
            for update in session:
                print("update:", text_format.MessageToString(update, as_one_line=True), flush=True)
        except KeyboardInterrupt:
            pass
        if session.release is not None:
            print("released:", session.release.reason, flush=True)
