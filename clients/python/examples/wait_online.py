"""Waits until the device is online (or, with --ready, at least ready); exit 1 on timeout."""
import argparse
import sys

import grpc

from netpilot import Client, NetpilotError
from netpilot.v1.resources_pb2 import ManagerState

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--ready", action="store_true", help="ready is enough, online not needed")
parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
args = parser.parse_args()
wanted = {ManagerState.MANAGER_STATE_ONLINE}
if args.ready:
    wanted.add(ManagerState.MANAGER_STATE_READY)

with Client() as client:
    try:
        for event in client.watch(timeout=args.timeout):
            which = event.WhichOneof("event")
            if which in ("snapshot", "manager_changed"):
                state = getattr(event, which).manager.state
                print("state:", ManagerState.Name(state), flush=True)
                if state in wanted:
                    sys.exit(0)
    except NetpilotError as e:
        if e.code != grpc.StatusCode.DEADLINE_EXCEEDED:
            raise
    print("timed out", file=sys.stderr)
    sys.exit(1)
