"""The clients' shared scenario against a real netpilotd (run under clients/testbed.sh).

The tests run in file order on one daemon; the last one stops it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from typing import List

import grpc
import pytest

from conftest import DEADLINE, HERE, Reader, eventually, example, ip, require_env
from netpilot import Client, NetpilotError
from netpilot import aio
from netpilot.v1 import session_pb2

BAD_FIELD = "settings.allowed_bearers.bearers[0]"


def set_fields(update: session_pb2.SessionUpdate) -> List[str]:
    """Names of the fields an update sets, in field-number order."""
    return [field.name for field, _ in update.ListFields()]


def readme_example() -> str:
    text = (HERE.parent / "README.md").read_text()
    match = re.search(r"```python\n(.*?)```", text, re.S)
    assert match, "clients/python/README.md has no python example"
    return match.group(1)


def test_lists_services_over_the_unix_socket(socket_path: str) -> None:
    with Client(socket_path) as client:
        services = client.services(timeout=DEADLINE)
    assert [s.ethernet.interface for s in services] == ["veth0"]
    assert services[0].id.startswith("ethernet_") and services[0].name == "Wired"


def test_readme_example_works_as_written(socket_path: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", readme_example()], check=True, capture_output=True, text=True,
        timeout=DEADLINE,
    ).stdout
    assert out.startswith("state: MANAGER_STATE_IDLE\n"), out
    assert re.search(r"^ethernet_\w+_cable SERVICE_STATE_\w+ veth0", out, re.M), out


def test_invalid_settings_name_the_field() -> None:
    with Client() as client:
        with pytest.raises(NetpilotError) as caught:
            with client.open_session(
                allowed_bearers=["wimax"], connection_type="local", timeout=DEADLINE
            ):
                pytest.fail("a session with an unknown bearer must not open")
        assert client.list_sessions(timeout=DEADLINE) == []
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert BAD_FIELD in caught.value.field_violations
    assert BAD_FIELD in caught.value.message


def test_a_dropped_stream_ends_the_session() -> None:
    with Client() as client:
        with client.open_session(["ethernet"], "local", timeout=60) as session:
            ids = [s.session_id for s in client.list_sessions(timeout=DEADLINE)]
            assert ids == [session.id]
        eventually("the closed session is gone", lambda: client.list_sessions(timeout=DEADLINE) == [])

        # A client that dies without a word (SIGKILL): its session goes too.
        follower = subprocess.Popen(
            example("follow_session.py", "--bearer", "ethernet", "--type", "local"),
            stdout=subprocess.PIPE, text=True,
        )
        try:
            first = Reader(follower.stdout, "follow_session.py's output").next()
            assert first.startswith("session "), first
            eventually(
                "the session is listed", lambda: len(client.list_sessions(timeout=DEADLINE)) == 1
            )
        finally:
            follower.kill()
            follower.wait(timeout=DEADLINE)
        eventually(
            "the killed client's session is gone",
            lambda: client.list_sessions(timeout=DEADLINE) == [],
        )


def test_asyncio_client() -> None:
    async def scenario() -> None:
        async with aio.Client() as client:
            services = await client.services(timeout=DEADLINE)
            assert [s.ethernet.interface for s in services] == ["veth0"]
            async with client.open_session(["ethernet"], "local", timeout=DEADLINE) as session:
                first = await asyncio.wait_for(session.__anext__(), DEADLINE)
                assert first.state == session_pb2.SESSION_STATE_DISCONNECTED
                listed = await client.list_sessions(timeout=DEADLINE)
                assert [s.session_id for s in listed] == [session.id]
            with pytest.raises(NetpilotError) as caught:
                async with client.open_session(["wimax"], "local", timeout=DEADLINE):
                    pytest.fail("a session with an unknown bearer must not open")
            assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
            assert BAD_FIELD in caught.value.field_violations
            async for event in client.watch(timeout=DEADLINE):
                assert event.WhichOneof("event") == "snapshot"
                break

    asyncio.run(scenario())


def test_mutual_tls_with_the_real_daemon() -> None:
    """A real TLS handshake with the daemon's mTLS listener (certificates from `netpilot
    certs`): the admin reads and changes, the viewer reads and is refused a change naming
    the role, a certificate from another CA is not served."""
    addr, ca = require_env("NETPILOT_TLS_ADDR"), require_env("NETPILOT_TLS_CA")
    with Client.remote(
        addr, ca, require_env("NETPILOT_TLS_ADMIN_CERT"), require_env("NETPILOT_TLS_ADMIN_KEY")
    ) as admin:
        admin.services(timeout=DEADLINE)
        from netpilot.v1 import manager_pb2

        admin.manager_service.UpdateManager(
            manager_pb2.UpdateManagerRequest(offline_mode=False), timeout=DEADLINE
        )
    with Client.remote(
        addr, ca, require_env("NETPILOT_TLS_VIEWER_CERT"), require_env("NETPILOT_TLS_VIEWER_KEY")
    ) as viewer:
        viewer.get_manager(timeout=DEADLINE)
        with pytest.raises(grpc.RpcError) as refused:
            viewer.manager_service.UpdateManager(
                manager_pb2.UpdateManagerRequest(offline_mode=True), timeout=DEADLINE
            )
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "needs role admin" in refused.value.details()
    with Client.remote(
        addr,
        ca,
        require_env("NETPILOT_TLS_INTRUDER_CERT"),
        require_env("NETPILOT_TLS_INTRUDER_KEY"),
    ) as intruder:
        with pytest.raises(NetpilotError):
            intruder.get_manager(timeout=5)


def test_session_follows_the_link_until_shutdown(ns: str, peer_ns: str) -> None:
    """Runs last: it stops the daemon."""
    pid = int(require_env("NETPILOTD_PID"))
    with Client() as client, client.open_session(
        allowed_bearers=["ethernet"], connection_type="local", timeout=60
    ) as session:
        assert session.id
        updates = Reader(session, "session updates")
        first = updates.next()
        every = len(first.DESCRIPTOR.fields)
        assert len(set_fields(first)) == every, f"the first update carries every field: {first}"
        assert first.state == session_pb2.SESSION_STATE_DISCONNECTED
        assert list(first.allowed_bearers.bearers) == ["ethernet"]
        assert first.connection_type == session_pb2.CONNECTION_TYPE_LOCAL

        ip("-n", ns, "addr", "add", "198.18.4.2/24", "dev", "veth0")
        up = updates.next()
        assert set_fields(up) == ["state", "name", "bearer", "interface", "service_id", "ipv4"]
        assert up.state == session_pb2.SESSION_STATE_CONNECTED
        assert (up.name, up.bearer, up.interface) == ("Wired", "ethernet", "veth0")
        assert up.service_id.startswith("ethernet_") and up.ipv4.address == "198.18.4.2"
        subprocess.run(
            example("wait_online.py", "--ready", "--timeout", "10"), check=True, timeout=DEADLINE
        )

        ip("-n", peer_ns, "link", "set", "peer0", "down")
        down = updates.next()
        assert down.state == session_pb2.SESSION_STATE_DISCONNECTED

        follower = subprocess.Popen(
            example("follow_session.py", "--bearer", "ethernet", "--type", "local"),
            stdout=subprocess.PIPE, text=True,
        )
        lines = Reader(follower.stdout, "follow_session.py's output")
        assert lines.next().startswith("session ")
        assert "SESSION_STATE_DISCONNECTED" in lines.next()

        os.kill(pid, signal.SIGTERM)
        rest = updates.rest()  # ends cleanly after the release, or raises
        assert rest == [], rest
        assert session.release is not None and session.release.reason == "shutdown"
        out = "".join(lines.rest())
        assert follower.wait(timeout=DEADLINE) == 0 and out.endswith("released: shutdown\n"), out
