"""Python client for netpilotd, the netpilot connection manager.

`Client` is the blocking client, `netpilot.aio.Client` the asyncio one. The generated
protobuf modules are in `netpilot.v1` (`manager_pb2`, `session_pb2`, `resources_pb2`,
`agent_pb2`, `setup_pb2` and their `*_pb2_grpc` stubs).
"""

from netpilot._common import DEFAULT_SOCKET, NetpilotError, mtls_credentials, resolve_target
from netpilot.client import Client, Session

__all__ = [
    "DEFAULT_SOCKET",
    "Client",
    "NetpilotError",
    "Session",
    "mtls_credentials",
    "resolve_target",
]
