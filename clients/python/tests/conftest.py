"""Shared fixtures. The daemon tests run under clients/testbed.sh, which starts netpilotd in
a network namespace and exports where it is."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, List

import pytest

HERE = Path(__file__).resolve().parent
#: How long a test waits for a condition before it fails.
DEADLINE = 15.0


def require_env(name: str) -> str:
    """A variable that clients/testbed.sh exports; fails (never skips) without it."""
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} unset: run the tests under clients/testbed.sh (make clients-test)")
    return value


@pytest.fixture
def ns() -> str:
    """The daemon's network namespace."""
    return require_env("NETPILOT_TEST_NS")


@pytest.fixture
def peer_ns() -> str:
    """The peer's network namespace."""
    return require_env("NETPILOT_TEST_PEER_NS")


@pytest.fixture
def socket_path() -> str:
    """The daemon's Unix socket."""
    return require_env("NETPILOT_SOCKET")


def ip(*args: str) -> None:
    """Runs `ip ARGS…` and fails the test when it fails."""
    subprocess.run(["ip", *args], check=True)


def example(name: str, *args: str) -> List[str]:
    """The command line of an example program."""
    return [sys.executable, str(HERE.parent / "examples" / name), *args]


def eventually(what: str, check: Callable[[], bool]) -> None:
    """Polls `check` until it is true, failing after DEADLINE."""
    end = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > end:
            pytest.fail(f"{what}: still not true after {DEADLINE} s")
        time.sleep(0.05)
