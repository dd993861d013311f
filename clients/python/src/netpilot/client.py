"""The blocking client."""

from __future__ import annotations

import contextlib
from typing import Iterator, List, Optional, Sequence

import grpc

from netpilot._common import (
    ConnectionTypeArg,
    channel_options,
    NetpilotError,
    PemSource,
    mtls_credentials,
    open_session_request,
    resolve_target,
)
from netpilot.v1 import (
    agent_pb2_grpc,
    manager_pb2,
    manager_pb2_grpc,
    resources_pb2,
    session_pb2,
    session_pb2_grpc,
)


class Session:
    """An open session. Iterate it for `SessionUpdate` messages: the first has every field
    set, later ones only the fields that changed. Iteration ends when the daemon releases
    the session; `release` then holds the `SessionRelease` (with its reason)."""

    def __init__(self, call: grpc.Call) -> None:
        self._call = call
        self._done = False
        #: The `SessionRelease` that ended the session, or None while it is open.
        self.release: Optional[session_pb2.SessionRelease] = None
        first = self._read()
        if first is None:
            raise NetpilotError(grpc.StatusCode.UNKNOWN, "stream ended before the first update")
        #: The session id, for `ChangeSession`, `DestroySession` and the like.
        self.id: str = first.session_id
        self._pending: List[session_pb2.OpenSessionResponse] = [first]

    def _read(self) -> Optional[session_pb2.OpenSessionResponse]:
        try:
            return next(self._call)
        except StopIteration:
            return None
        except grpc.RpcError as e:
            raise NetpilotError.from_rpc_error(e) from e

    def __iter__(self) -> "Session":
        return self

    def __next__(self) -> session_pb2.SessionUpdate:
        if self._done:
            raise StopIteration
        message = self._pending.pop(0) if self._pending else self._read()
        if message is not None and message.HasField("update"):
            return message.update
        self._done = True
        if message is not None and message.HasField("release"):
            self.release = message.release
            if self._read() is not None:
                raise NetpilotError(grpc.StatusCode.INTERNAL, "a message followed the release")
        raise StopIteration

    def close(self) -> None:
        """Ends the stream, and with it the session."""
        self._done = True
        self._call.cancel()


class Client:
    """A blocking connection to netpilotd.

    `target` is a Unix socket path or a gRPC target string ("127.0.0.1:50051"); None means
    `$NETPILOT_SOCKET`, else `/run/netpilot/netpilot.sock`. Without credentials the channel
    is plaintext, which the daemon offers on its Unix socket and on loopback TCP only.
    Use it as a context manager, or call `close()`.

    The generated stubs are available as `manager_service`, `session_service` and
    `agent_service` for calls that have no wrapper here.
    """

    def __init__(
        self,
        target: Optional[str] = None,
        *,
        credentials: Optional[grpc.ChannelCredentials] = None,
    ) -> None:
        self.target = resolve_target(target)
        options = channel_options(self.target)
        if credentials is None:
            self._channel = grpc.insecure_channel(self.target, options)
        else:
            self._channel = grpc.secure_channel(self.target, credentials, options)
        self.manager_service = manager_pb2_grpc.ManagerServiceStub(self._channel)
        self.session_service = session_pb2_grpc.SessionServiceStub(self._channel)
        self.agent_service = agent_pb2_grpc.AgentServiceStub(self._channel)

    @classmethod
    def remote(cls, host: str, ca: PemSource, cert: PemSource, key: PemSource) -> "Client":
        """Connects to a remote daemon at "host:port" over mutual TLS; ca, cert and key are
        PEM bytes or file paths."""
        return cls(host, credentials=mtls_credentials(ca, cert, key))

    def close(self) -> None:
        """Closes the channel; open streams end."""
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_manager(self, timeout: Optional[float] = None) -> resources_pb2.Manager:
        """The manager: overall state, offline mode, L4 connectivity."""
        try:
            return self.manager_service.GetManager(
                manager_pb2.GetManagerRequest(), timeout=timeout
            ).manager
        except grpc.RpcError as e:
            raise NetpilotError.from_rpc_error(e) from e

    def services(self, timeout: Optional[float] = None) -> List[resources_pb2.Service]:
        """All services in service order, the preferred first."""
        try:
            return list(
                self.manager_service.ListServices(
                    manager_pb2.ListServicesRequest(), timeout=timeout
                ).services
            )
        except grpc.RpcError as e:
            raise NetpilotError.from_rpc_error(e) from e

    def list_sessions(self, timeout: Optional[float] = None) -> List[session_pb2.SessionInfo]:
        """Open sessions with their owners, oldest first."""
        try:
            return list(
                self.session_service.ListSessions(
                    session_pb2.ListSessionsRequest(), timeout=timeout
                ).sessions
            )
        except grpc.RpcError as e:
            raise NetpilotError.from_rpc_error(e) from e

    def watch(self, timeout: Optional[float] = None) -> Iterator[manager_pb2.WatchManagerResponse]:
        """Yields a full snapshot, then every change, until the daemon ends the stream.
        `timeout` bounds the whole stream, in seconds."""
        call = self.manager_service.WatchManager(manager_pb2.WatchManagerRequest(), timeout=timeout)
        try:
            yield from call
        except grpc.RpcError as e:
            raise NetpilotError.from_rpc_error(e) from e
        finally:
            call.cancel()

    @contextlib.contextmanager
    def open_session(
        self,
        allowed_bearers: Optional[Sequence[str]] = None,
        connection_type: ConnectionTypeArg = None,
        *,
        timeout: Optional[float] = None,
    ) -> Iterator[Session]:
        """Opens a session for the duration of the `with` block.

        allowed_bearers: bearer names in order of preference ("ethernet", "wifi",
        "bluetooth", "cellular", "*"); None means any. connection_type: "local", "internet"
        or "any" (the default). `timeout` bounds the whole stream, in seconds. Invalid
        settings raise `NetpilotError` (INVALID_ARGUMENT) on entry.
        """
        request = open_session_request(allowed_bearers, connection_type)
        session = Session(self.session_service.OpenSession(request, timeout=timeout))
        try:
            yield session
        finally:
            session.close()
