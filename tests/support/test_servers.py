"""The server helpers refuse a port that another program took before the server bound it."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from tests.support.servers import running

pytestmark = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="listener ownership is read from Linux /proc"
)


def test_a_listener_that_is_not_the_server_is_refused() -> None:
    with socket.socket() as squatter:  # this test process, not the server, listens
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
        with pytest.raises(RuntimeError, match="taken by another program"), running(
            sleeper, port
        ):
            pass


def test_the_servers_own_listener_is_accepted() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    with running(server, port) as process:
        assert process.poll() is None
