"""Real servers for tests: free ports, uvicorn subprocesses, nginx, PostgreSQL.

Everything listens on 127.0.0.1 only.  A component that is missing makes the
test skip with a reason, except under ``CI=true``, where it is a failure: CI
must never go green by skipping what it was meant to check.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_DSN = os.environ.get("IFMATCH_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/test")


def unavailable(reason: str) -> None:
    """Skip with ``reason``, or fail under CI=true."""
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening_inodes(port: int) -> set[str] | None:
    """Socket inodes LISTENing on TCP ``port`` (Linux /proc), or None where unknowable."""
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not any(table.exists() for table in tables):
        return None
    inodes = set()
    for table in tables:
        with contextlib.suppress(OSError):
            for line in table.read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    """Socket inodes open in ``pid`` and its descendants."""
    found, pending = set(), [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{current}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{current}/fd/{fd}")
                    if target.startswith("socket:["):
                        found.add(target[8:-1])
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text()
                pending.extend(int(child) for child in children.split())
    return found


def wait_for_port(
    port: int, timeout: float = 20.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until something accepts on 127.0.0.1:port, or raise.

    With ``process``, the listener must be that process (or a child of it): the
    port was chosen free, but another program may have taken it before the server
    bound it, and a test must never talk to someone else's server.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            if process is None:
                return
            listeners = _listening_inodes(port)
            if not listeners or listeners & _socket_inodes(process.pid):
                return  # ours (or, without /proc, unknowable)
            raise RuntimeError(f"127.0.0.1:{port} was taken by another program")
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@contextlib.contextmanager
def running(
    command: list[str], port: int, env: dict[str, str] | None = None, log_path: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server command, wait until it listens on ``port``, stop it afterwards.

    The server's stderr goes to a temporary file (or ``log_path``, for a test
    that reads the log), not a pipe: a pipe nobody reads fills up after a few
    thousand log lines and hangs the server.
    """
    opened = open(log_path, "w+b") if log_path else tempfile.TemporaryFile()  # noqa: SIM115
    with opened as log:
        process = subprocess.Popen(
            command,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        try:
            try:
                wait_for_port(port, process=process)
            except (RuntimeError, TimeoutError) as error:
                process.kill()
                process.wait(timeout=10)
                log.seek(0)
                stderr = log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"{error}: {stderr}") from None
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)


def wait_for_answer(port: int, timeout: float = 60.0) -> None:
    """Block until an HTTP request to 127.0.0.1:port gets any answer, or raise.

    With ``--workers N`` uvicorn's parent process listens before any worker has
    started: a request then waits in the backlog for as long as a worker takes to
    import and start, which on a loaded machine can outlast a client's timeout.
    Any status (401 with a token, say) means a worker is serving.
    """
    deadline = time.monotonic() + timeout
    while True:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            try:
                if sock.recv(16).startswith(b"HTTP/1."):
                    return
            except TimeoutError:
                pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"127.0.0.1:{port} listens but answers nothing after {timeout}s")
        time.sleep(0.05)


@contextlib.contextmanager
def serving(
    db: str, *options: str, env: dict[str, str] | None = None, log_path: Path | None = None
) -> Iterator[str]:
    """``ifmatch serve`` as a real process on a free port, once a worker answers;
    yields its base URL.

    The access log is off unless ``--access-log`` is among the options: the
    tests read responses, not log lines (those that do pass ``log_path``).
    """
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "ifmatch.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--db",
        db,
        "--log-level",
        "warning",
        *options,
    ]
    if "--access-log" in options:
        command.remove("--access-log")
    else:
        command.append("--no-access-log")
    with running(command, port, env, log_path):
        wait_for_answer(port)
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def uvicorn_app(app_path: str, *extra: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Serve ``module:attribute`` with uvicorn on a free port; yields the base URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app_path,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        *extra,
    ]
    with running(command, port, env):
        yield f"http://127.0.0.1:{port}"


def nginx_binary() -> str | None:
    """The nginx binary, if Debian's package is installed."""
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


@contextlib.contextmanager
def nginx_serving(root: Path) -> Iterator[str]:
    """Run a private nginx serving ``root`` statically on 127.0.0.1; yields the base URL."""
    binary = nginx_binary()
    if binary is None:
        unavailable("nginx is not installed (scripts/system-deps.sh installs it as root)")
        raise AssertionError("unreachable")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="ifmatch-nginx-") as prefix:
        for name in ("logs", "tmp"):
            Path(prefix, name).mkdir()
        config = Path(prefix, "nginx.conf")
        config.write_text(
            f"""
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log;
user root;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    types {{ application/octet-stream bin; text/plain txt; application/json json; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""
        )
        with running([binary, "-p", prefix, "-c", str(config)], port):
            yield f"http://127.0.0.1:{port}"


def postgres_dsn() -> str:
    """The test database's DSN, after checking that it answers (skip/fail otherwise)."""
    try:
        import psycopg
    except ImportError:
        unavailable("psycopg is not installed (pip install -e '.[dev]')")
        raise
    try:
        with psycopg.connect(POSTGRES_DSN, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.OperationalError as error:
        unavailable(f"PostgreSQL at {POSTGRES_DSN} does not answer: {error}")
    return POSTGRES_DSN
