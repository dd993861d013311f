"""Shared fixtures. The daemon tests run under clients/testbed.sh, which starts netpilotd in
a network namespace and exports where it is."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, List

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


class Reader:
    """Reads an iterable (a session's updates, the lines a child prints) on a thread of its
    own, so that every read here has a deadline: a missing message fails the test after
    DEADLINE instead of blocking it. The thread ends with the iterable (a cancelled call, a
    closed pipe)."""

    def __init__(self, iterable: Iterable[Any], what: str) -> None:
        self._what = what
        self._queue: "queue.Queue[tuple]" = queue.Queue()
        threading.Thread(target=self._pump, args=(iterable,), daemon=True).start()

    def _pump(self, iterable: Iterable[Any]) -> None:
        try:
            for item in iterable:
                self._queue.put(("item", item))
        except BaseException as e:  # handed to the reading test, which raises it
            self._queue.put(("error", e))
        else:
            self._queue.put(("end", None))

    def _get(self, end: float) -> tuple:
        try:
            return self._queue.get(timeout=max(0.0, end - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"{self._what}: nothing within {DEADLINE} s")

    def next(self) -> Any:
        """The next item; fails after DEADLINE or when the iterable ended."""
        kind, item = self._get(time.monotonic() + DEADLINE)
        if kind == "error":
            raise item
        if kind == "end":
            pytest.fail(f"{self._what}: ended while the test waited for more")
        return item

    def rest(self) -> List[Any]:
        """The items left until the iterable ends, which must happen within DEADLINE."""
        end, items = time.monotonic() + DEADLINE, []
        while True:
            kind, item = self._get(end)
            if kind == "error":
                raise item
            if kind == "end":
                return items
            items.append(item)
