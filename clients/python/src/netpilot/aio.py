"""The asyncio client, on `grpc.aio`. Same calls as `netpilot.Client`, awaited."""

from __future__ import annotations

import contextlib
from typing import AsyncIterator, List, Optional, Sequence

import grpc
import grpc.aio

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
    """An open session. `async for` over it yields `SessionUpdate` messages until the daemon
    releases the session; `release` then holds the `SessionRelease`."""

    def __init__(self, call: grpc.aio.UnaryStreamCall) -> None:
        self._call = call
        self._done = False
        #: The `SessionRelease` that ended the session, or None while it is open.
        self.release: Optional[session_pb2.SessionRelease] = None
        #: The session id; set by `start()`.
        self.id: str = ""
        self._pending: List[session_pb2.OpenSessionResponse] = []

    async def start(self) -> None:
        """Reads the first message, so that invalid settings fail here."""
        first = await self._read()
        if first is None:
            raise NetpilotError(grpc.StatusCode.UNKNOWN, "stream ended before the first update")
        self.id = first.session_id
        self._pending.append(first)

    async def _read(self) -> Optional[session_pb2.OpenSessionResponse]:
        try:
            message = await self._call.read()
        except grpc.RpcError as e:
            raise NetpilotError.from_rpc_error(e) from e
        return None if message is grpc.aio.EOF else message

    def __aiter__(self) -> "Session":
        return self

    async def __anext__(self) -> session_pb2.SessionUpdate:
        if self._done:
            raise StopAsyncIteration
        message = self._pending.pop(0) if self._pending else await self._read()
        if message is not None and message.HasField("update"):
            return message.update
        self._done = True
        if message is not None and message.HasField("release"):
            self.release = message.release
            if await self._read() is not None:
                raise NetpilotError(grpc.StatusCode.INTERNAL, "a message followed the release")
        raise StopAsyncIteration

    def close(self) -> None:
        """Ends the stream, and with it the session."""
        self._done = True
        self._call.cancel()


class Client:
    """An asyncio connection to netpilotd; see `netpilot.Client` for `target`.
    Use it as an async context manager, or await `close()`."""

    def __init__(
        self,
        target: Optional[str] = None,
        *,
        credentials: Optional[grpc.ChannelCredentials] = None,
    ) -> None:
        self.target = resolve_target(target)
        options = channel_options(self.target)
        if credentials is None:
            self._channel = grpc.aio.insecure_channel(self.target, options)
        else:
            self._channel = grpc.aio.secure_channel(self.target, credentials, options)
        self.manager_service = manager_pb2_grpc.ManagerServiceStub(self._channel)
        self.session_service = session_pb2_grpc.SessionServiceStub(self._channel)
        self.agent_service = agent_pb2_grpc.AgentServiceStub(self._channel)

    @classmethod
    def remote(cls, host: str, ca: PemSource, cert: PemSource, key: PemSource) -> "Client":
        """Connects to a remote daemon at "host:port" over mutual TLS."""
        return cls(host, credentials=mtls_credentials(ca, cert, key))

    async def close(self) -> None:
        """Closes the channel; open streams end."""
        await self._channel.close()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def get_manager(self, timeout: Optional[float] = None) -> resources_pb2.Manager:
        """The manager: overall state, offline mode, L4 connectivity."""
        try:
            response = await self.manager_service.GetManager(
                manager_pb2.GetManagerRequest(), timeout=timeout
            )
        except grpc.RpcError as e:
            raise NetpilotError.from_rpc_error(e) from e
        return response.manager

    async def services(self, timeout: Optional[float] = None) -> List[resources_pb2.Service]:
        """All services in service order, the preferred first."""
        try:
            response = await self.manager_service.ListServices(
                manager_pb2.ListServicesRequest(), timeout=timeout
            )
        except grpc.RpcError as e:
            raise NetpilotError.from_rpc_error(e) from e
        return list(response.services)

    async def list_sessions(self, timeout: Optional[float] = None) -> List[session_pb2.SessionInfo]:
        """Open sessions with their owners, oldest first."""
        try:
            response = await self.session_service.ListSessions(
                session_pb2.ListSessionsRequest(), timeout=timeout
            )
        except grpc.RpcError as e:
            raise NetpilotError.from_rpc_error(e) from e
        return list(response.sessions)

    async def watch(
        self, timeout: Optional[float] = None
    ) -> AsyncIterator[manager_pb2.WatchManagerResponse]:
        """Yields a full snapshot, then every change, until the daemon ends the stream."""
        call = self.manager_service.WatchManager(manager_pb2.WatchManagerRequest(), timeout=timeout)
        try:
            async for message in call:
                yield message
        except grpc.RpcError as e:
            raise NetpilotError.from_rpc_error(e) from e
        finally:
            call.cancel()

    @contextlib.asynccontextmanager
    async def open_session(
        self,
        allowed_bearers: Optional[Sequence[str]] = None,
        connection_type: ConnectionTypeArg = None,
        *,
        timeout: Optional[float] = None,
    ) -> AsyncIterator[Session]:
        """Opens a session for the duration of the `async with` block; see
        `netpilot.Client.open_session`."""
        request = open_session_request(allowed_bearers, connection_type)
        session = Session(self.session_service.OpenSession(request, timeout=timeout))
        try:
            await session.start()
            yield session
        finally:
            session.close()
