"""The server helpers: a port another program took is refused; missing services skip or fail."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from tests.support.servers import running


@pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="listener ownership is read from Linux /proc"
)
def test_a_listener_that_is_not_the_server_is_refused() -> None:
    with socket.socket() as squatter:  # this test process, not the server, listens
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
        with pytest.raises(RuntimeError, match="taken by another program"), running(sleeper, port):
            pass


def test_the_servers_own_listener_is_accepted() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    with running(server, port) as process:
        assert process.poll() is None


def test_missing_postgres_skips_with_its_reason_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 4: without PostgreSQL, skip with a clear reason; under CI=true, fail."""
    from tests.support import servers

    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setattr(
            servers, "POSTGRES_DSN", f"postgresql://root@127.0.0.1:{closed.getsockname()[1]}/t"
        )
        monkeypatch.setattr(servers, "IN_CI", False)
        with pytest.raises(pytest.skip.Exception, match=r"PostgreSQL at .* does not answer"):
            servers.postgres_dsn()
        monkeypatch.setattr(servers, "IN_CI", True)
        with pytest.raises(pytest.fail.Exception, match="required under CI=true: PostgreSQL"):
            servers.postgres_dsn()


def test_missing_nginx_skips_with_its_reason_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Issue 5: without nginx, skip with a clear reason; under CI=true, fail."""
    from tests.support import servers

    monkeypatch.setattr(servers, "nginx_binary", lambda: None)
    monkeypatch.setattr(servers, "IN_CI", False)
    with (
        pytest.raises(pytest.skip.Exception, match="nginx is not installed"),
        servers.nginx_serving(tmp_path),
    ):
        pass
    monkeypatch.setattr(servers, "IN_CI", True)
    with (
        pytest.raises(pytest.fail.Exception, match="required under CI=true: nginx"),
        servers.nginx_serving(tmp_path),
    ):
        pass
