"""A real Redis for the storage tests: the one on 127.0.0.1:6379, or one started here.

Redis is shared by everyone on the machine, so each caller gets a key
prefix unique to its test run and deletes its keys afterwards.  When no
server answers and ``redis-server`` is installed, one is started on a free
loopback port for the session (saving nothing to disk) and stopped at the
end.  Without either, tests skip with the reason, except under
``CI=true``, where that is a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    """The URL of a running Redis, starting one if needed; skips (or fails under CI) without."""
    if _answers(6379):
        yield DEFAULT_URL
        return
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "no Redis on 127.0.0.1:6379 and no redis-server to start (scripts/system-deps.sh)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _answers(port):
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def unique_prefix() -> str:
    """A key prefix no other test run uses."""
    return f"ifmatch-test:{os.getpid()}:{uuid.uuid4().hex[:12]}:"
