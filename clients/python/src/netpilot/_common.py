"""What the blocking and the asyncio clients share: targets, credentials, requests, errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import grpc
from google.rpc import error_details_pb2, status_pb2

from netpilot.v1 import session_pb2

#: The daemon's standard Unix socket.
DEFAULT_SOCKET = "/run/netpilot/netpilot.sock"

#: Environment variable that overrides `DEFAULT_SOCKET`.
SOCKET_ENV = "NETPILOT_SOCKET"

PemSource = Union[str, os.PathLike, bytes]
ConnectionTypeArg = Union[str, int, None]


def resolve_target(target: Optional[str] = None) -> str:
    """Turns a socket path or a gRPC target into a gRPC target string.

    None means `$NETPILOT_SOCKET`, else `DEFAULT_SOCKET`. A value with a "/" and no scheme
    is a Unix socket path; anything else ("127.0.0.1:50051", "unix:/x", "dns:///h:1") is
    passed to gRPC as it is.
    """
    if target is None:
        target = os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET
    if "/" in target and "://" not in target and not target.startswith("unix:"):
        return "unix:" + os.path.abspath(target)
    return target


def channel_options(target: str) -> List[Tuple[str, str]]:
    """Channel options for a resolved target. grpcio (since 1.57) sends the %-encoded socket
    path as the HTTP/2 authority on Unix sockets, which the daemon's HTTP/2 stack rejects as
    malformed; "localhost" is the convention other gRPC stacks use there."""
    return [("grpc.default_authority", "localhost")] if target.startswith("unix:") else []


def _pem(source: PemSource) -> bytes:
    if isinstance(source, bytes):
        return source
    return Path(source).read_bytes()


def mtls_credentials(ca: PemSource, cert: PemSource, key: PemSource) -> grpc.ChannelCredentials:
    """Mutual-TLS channel credentials: the CA that signed the daemon's certificate, and this
    client's certificate chain and private key, each as PEM bytes or a file path."""
    return grpc.ssl_channel_credentials(
        root_certificates=_pem(ca), private_key=_pem(key), certificate_chain=_pem(cert)
    )


def open_session_request(
    allowed_bearers: Optional[Sequence[str]], connection_type: ConnectionTypeArg
) -> session_pb2.OpenSessionRequest:
    """Builds an OpenSessionRequest. None leaves a setting to the daemon's default;
    connection_type is "local", "internet", "any" or a `session_pb2.ConnectionType` value."""
    settings = session_pb2.SessionSettings()
    if allowed_bearers is not None:
        settings.allowed_bearers.SetInParent()
        settings.allowed_bearers.bearers.extend(allowed_bearers)
    if isinstance(connection_type, str):
        settings.connection_type = session_pb2.ConnectionType.Value(
            "CONNECTION_TYPE_" + connection_type.upper()
        )
    elif connection_type is not None:
        settings.connection_type = connection_type
    return session_pb2.OpenSessionRequest(settings=settings)


class NetpilotError(grpc.RpcError):
    """A failed call, with the daemon's rich error details decoded.

    Attributes:
        code: the gRPC status code, e.g. `grpc.StatusCode.INVALID_ARGUMENT`.
        message: the status message.
        field_violations: field path -> description, from `google.rpc.BadRequest`.
        reason: the ConnMan-style error word from `google.rpc.ErrorInfo`, or "".
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        field_violations: Optional[Dict[str, str]] = None,
        reason: str = "",
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.field_violations = field_violations or {}
        self.reason = reason

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> "NetpilotError":
        """Decodes a grpcio error (blocking or asyncio), including the
        grpc-status-details-bin trailer."""
        code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
        message = (error.details() if hasattr(error, "details") else None) or ""
        trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
        violations: Dict[str, str] = {}
        reason = ""
        for key, value in trailers or ():
            if key != "grpc-status-details-bin":
                continue
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                bad_request = error_details_pb2.BadRequest()
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(bad_request):
                    for v in bad_request.field_violations:
                        violations[v.field] = v.description
                elif detail.Unpack(info):
                    reason = info.reason
        return cls(code, message, violations, reason)
