"""Unit tests without a daemon: targets, requests, error decoding, mTLS wiring."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

import netpilot
from netpilot import NetpilotError, resolve_target
from netpilot._common import open_session_request
from netpilot.v1 import session_pb2


def test_target_defaults_to_env_then_standard_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETPILOT_SOCKET", raising=False)
    assert resolve_target() == "unix:/run/netpilot/netpilot.sock"
    monkeypatch.setenv("NETPILOT_SOCKET", "/tmp/x/netpilot.sock")
    assert resolve_target() == "unix:/tmp/x/netpilot.sock"


def test_target_paths_and_grpc_targets() -> None:
    assert resolve_target("/a/b.sock") == "unix:/a/b.sock"
    assert resolve_target("unix:/a/b.sock") == "unix:/a/b.sock"
    assert resolve_target("127.0.0.1:50051") == "127.0.0.1:50051"
    assert resolve_target("dns:///robot.example:443") == "dns:///robot.example:443"


def test_open_session_request() -> None:
    r = open_session_request(["ethernet", "wifi"], "local")
    assert list(r.settings.allowed_bearers.bearers) == ["ethernet", "wifi"]
    assert r.settings.connection_type == session_pb2.CONNECTION_TYPE_LOCAL
    r = open_session_request(None, None)
    assert not r.settings.HasField("allowed_bearers")
    r = open_session_request([], session_pb2.CONNECTION_TYPE_INTERNET)
    assert r.settings.HasField("allowed_bearers") and not r.settings.allowed_bearers.bearers
    assert r.settings.connection_type == session_pb2.CONNECTION_TYPE_INTERNET


class FakeError(grpc.RpcError):
    def __init__(self, trailers: list) -> None:
        self._trailers = trailers

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.INVALID_ARGUMENT

    def details(self) -> str:
        return "settings.allowed_bearers.bearers[0]: unknown bearer"

    def trailing_metadata(self) -> list:
        return self._trailers


def test_error_decodes_bad_request_and_error_info() -> None:
    bad = error_details_pb2.BadRequest()
    bad.field_violations.add(field="settings.allowed_bearers.bearers[0]", description="unknown")
    info = error_details_pb2.ErrorInfo(reason="invalid-arguments", domain="netpilot")
    details = [any_pb2.Any(), any_pb2.Any()]
    details[0].Pack(bad)
    details[1].Pack(info)
    status = status_pb2.Status(code=3, message="m", details=details)
    e = NetpilotError.from_rpc_error(
        FakeError([("other", "x"), ("grpc-status-details-bin", status.SerializeToString())])
    )
    assert e.code == grpc.StatusCode.INVALID_ARGUMENT
    assert e.field_violations == {"settings.allowed_bearers.bearers[0]": "unknown"}
    assert e.reason == "invalid-arguments"
    assert isinstance(e, grpc.RpcError)
    assert NetpilotError.from_rpc_error(FakeError([])).field_violations == {}


def test_remote_wires_mtls_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / "ca.pem").write_bytes(b"CA")
    (tmp_path / "key.pem").write_bytes(b"KEY")
    seen = {}

    def ssl_channel_credentials(**kwargs: bytes) -> str:
        seen["creds"] = kwargs
        return "creds"

    def secure_channel(target: str, creds: str, options: list) -> grpc.Channel:
        seen["channel"] = (target, creds)
        return grpc.insecure_channel(target)

    monkeypatch.setattr(grpc, "ssl_channel_credentials", ssl_channel_credentials)
    monkeypatch.setattr(grpc, "secure_channel", secure_channel)
    client = netpilot.Client.remote(
        "robot.example:50052", tmp_path / "ca.pem", b"CERT", str(tmp_path / "key.pem")
    )
    client.close()
    assert seen["creds"] == {
        "root_certificates": b"CA",
        "private_key": b"KEY",
        "certificate_chain": b"CERT",
    }
    assert seen["channel"] == ("robot.example:50052", "creds")


def test_mtls_credentials_are_real_channel_credentials() -> None:
    creds = netpilot.mtls_credentials(b"ca", b"cert", b"key")
    assert isinstance(creds, grpc.ChannelCredentials)
