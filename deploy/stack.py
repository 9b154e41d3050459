"""The production-shaped stack on one machine: N ``ifmatch serve`` instances on one
PostgreSQL, nginx as load balancer and shared cache, Varnish as a second cache in front.

    client -> Varnish (edge) -> nginx (balancer + proxy_cache) -> ifmatch serve x N -> PostgreSQL

Everything listens on 127.0.0.1; the configurations are the templates beside this file
(``nginx.conf.in``, ``varnish.vcl.in``), filled with ports and a working directory.  Used by
``make stack`` / ``scripts/stack.sh up|down``, by the stack and fault tests and by
``bench/bench_stack.py``::

    python deploy/stack.py up --instances 2 --dir .stack [--db postgresql://...]
    python deploy/stack.py down --dir .stack

:class:`PrivatePostgres` starts a throw-away PostgreSQL server (``initdb`` + ``pg_ctl``) in a
directory of its own, so the fault tests can restart or stop *their* database.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
DEFAULT_DB = os.environ.get("IFMATCH_STACK_DB", "postgresql://root@127.0.0.1:5432/test")
#: The policy the stack runs with unless told otherwise: shared caches hold documents and
#: listings for STACK_TTL seconds and then revalidate; browsers always revalidate.
STACK_TTL = 2
DEFAULT_POLICY = (f"*=max-age=0, must-revalidate, s-maxage={STACK_TTL}",)


class Missing(RuntimeError):
    """A program the stack needs is not installed (``scripts/system-deps.sh`` installs it)."""


def program(name: str) -> str:
    """The path of ``name`` (also looked for in /usr/sbin and PostgreSQL's bin directories)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = [
        Path("/usr/sbin", name),
        *sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}")),
    ]
    for candidate in reversed(candidates):
        if candidate.exists():
            return str(candidate)
    raise Missing(f"{name} is not installed (bash scripts/system-deps.sh installs it as root)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    """Block until 127.0.0.1:port accepts, or raise (also when ``process`` exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def fill(template: str, **values: str) -> str:
    """``template`` with every ``@@NAME@@`` replaced; a placeholder left over is an error."""
    for name, value in values.items():
        template = template.replace(f"@@{name}@@", value)
    left = re.search(r"@@[A-Z_]+@@", template)
    if left is not None:
        raise ValueError(f"unfilled placeholder {left[0]}")
    return template


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


@dataclass
class Instance:
    """One ``ifmatch serve`` process."""

    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def access_log(self) -> list[dict[str, Any]]:
        """The JSON access-log lines written so far."""
        lines = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    lines.append(json.loads(line))
        return [line for line in lines if "status" in line]


@dataclass
class Stack:
    """N instances, nginx and Varnish, in ``directory`` (a temporary one by default)."""

    db: str = DEFAULT_DB
    instances: int = 2
    directory: Path | None = None
    cache_control: Sequence[str] = DEFAULT_POLICY
    serve_options: Sequence[str] = ()
    varnish: bool = True
    nodes: list[Instance] = field(default_factory=list)
    nginx_port: int = 0
    varnish_port: int = 0
    #: Every process started, also the detached ones (``down`` signals their groups).
    pids: list[int] = field(default_factory=list)
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _temporary: tempfile.TemporaryDirectory[str] | None = None

    # -- life cycle --------------------------------------------------------------------------

    def start(self, detach: bool = False) -> Stack:
        """Start every component and wait until each listens; stops all of them on failure."""
        nginx, varnishd = program("nginx"), program("varnishd") if self.varnish else ""
        if self.directory is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="ifmatch-stack-")
            self.directory = Path(self._temporary.name)
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            for index in range(self.instances):
                node = Instance(free_port(), self.directory / f"instance-{index}.log")
                self.nodes.append(node)
                self.start_instance(index, detach=detach)
            self._start_nginx(nginx, detach)
            if self.varnish:
                self._start_varnish(varnishd, detach)
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every process this stack started (instances last, so nginx stops first)."""
        for process in reversed(self._processes):
            _stop(process)
        self._processes.clear()
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None

    def _spawn(self, command: list[str], log: Path, detach: bool) -> subprocess.Popen[bytes]:
        with open(log, "ab") as output:
            process = subprocess.Popen(
                command,
                stdout=output,
                stderr=output,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.directory,
            )
        self.pids.append(process.pid)
        if not detach:
            self._processes.append(process)
        return process

    def start_instance(self, index: int, detach: bool = False) -> None:
        """(Re)start instance ``index`` on its port."""
        node = self.nodes[index]
        command = [
            sys.executable, "-m", "ifmatch.cli", "serve",
            "--host", "127.0.0.1", "--port", str(node.port), "--db", self.db,
            "--log-level", "warning", "--pool-size", "4",
        ]  # fmt: skip
        for rule in self.cache_control:
            command += ["--cache-control", rule]
        command += list(self.serve_options)
        node.process = self._spawn(command, node.log, detach)
        try:
            wait_for_port(node.port, node.process)
        except (RuntimeError, TimeoutError) as error:
            tail = node.log.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"instance {index}: {error}\n{tail}") from None

    def kill_instance(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (default SIGKILL: no clean shutdown) to instance ``index`` and reap it."""
        process = self.nodes[index].process
        assert process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.wait(timeout=10)
        if process in self._processes:
            self._processes.remove(process)

    def _start_nginx(self, nginx: str, detach: bool) -> None:
        assert self.directory is not None
        (self.directory / "nginx-tmp").mkdir(exist_ok=True)
        self.nginx_port = free_port()
        upstreams = "\n".join(
            f"        server 127.0.0.1:{node.port} max_fails=1 fail_timeout=5s;"
            for node in self.nodes
        )
        config = fill(
            (HERE / "nginx.conf.in").read_text(),
            DIR=str(self.directory),
            PORT=str(self.nginx_port),
            UPSTREAMS=upstreams,
            USER="user root;" if os.geteuid() == 0 else "",
        )
        path = self.directory / "nginx.conf"
        path.write_text(config)
        process = self._spawn(
            [nginx, "-p", str(self.directory), "-c", str(path), "-e", "stderr"],
            self.directory / "nginx.log",
            detach,
        )
        wait_for_port(self.nginx_port, process)

    def _start_varnish(self, varnishd: str, detach: bool) -> None:
        assert self.directory is not None
        self.varnish_port = free_port()
        vcl = fill((HERE / "varnish.vcl.in").read_text(), BACKEND_PORT=str(self.nginx_port))
        path = self.directory / "varnish.vcl"
        path.write_text(vcl)
        workdir = self.directory / "varnish"
        workdir.mkdir(exist_ok=True)
        command = [
            varnishd, "-F", "-j", "none", "-n", str(workdir),
            "-a", f"127.0.0.1:{self.varnish_port}", "-f", str(path),
            "-T", "none", "-s", "malloc,64m",
            "-p", "default_grace=0", "-p", "default_keep=3600",
        ]  # fmt: skip
        process = self._spawn(command, self.directory / "varnish.log", detach)
        wait_for_port(self.varnish_port, process, timeout=60)

    # -- addresses and logs ------------------------------------------------------------------

    @property
    def nginx_url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    @property
    def varnish_url(self) -> str:
        return f"http://127.0.0.1:{self.varnish_port}"

    def origin_log(self) -> list[dict[str, Any]]:
        """Every instance's access-log lines, each with its ``instance`` index, in time order."""
        lines = []
        for index, node in enumerate(self.nodes):
            lines += [{**line, "instance": index} for line in node.access_log()]
        return sorted(lines, key=lambda line: str(line.get("ts", "")))

    def nginx_log(self) -> list[str]:
        assert self.directory is not None
        path = self.directory / "nginx-access.log"
        return path.read_text().splitlines() if path.exists() else []

    def describe(self) -> dict[str, Any]:
        return {
            "varnish": self.varnish_url if self.varnish else None,
            "nginx": self.nginx_url,
            "instances": [node.url for node in self.nodes],
            "db": self.db,
            "directory": str(self.directory),
        }


# -- a private PostgreSQL ----------------------------------------------------------------------


class PrivatePostgres:
    """A PostgreSQL server of its own in a temporary directory, on a free port.

    ``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres``
    user and every command runs through ``runuser``.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self._temporary = tempfile.TemporaryDirectory(prefix="ifmatch-pg-")
        self.directory = Path(self._temporary.name)
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = [program("runuser"), "-u", "postgres", "--"]
            shutil.chown(self.directory, "postgres")

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres?connect_timeout=3"

    def _run(self, *command: str, timeout: float = 120) -> None:
        subprocess.run([*self._as, *command], check=True, capture_output=True, timeout=timeout)

    def start(self) -> PrivatePostgres:
        self._run(program("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")  # fmt: skip
        self.pg_ctl("start", "-w")
        return self

    def pg_ctl(self, action: str, *extra: str) -> None:
        """``pg_ctl start|stop|restart`` on this cluster (``-m fast`` for stop and restart)."""
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        mode = ["-m", "fast"] if action in {"stop", "restart"} else []
        self._run(program("pg_ctl"), action, "-D", str(self.data), "-l", str(self.log),
                  "-o", options, *mode, *extra)  # fmt: skip

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.pg_ctl("stop", "-w")
        self._temporary.cleanup()

    def __enter__(self) -> PrivatePostgres:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()


def schema_dsn(base: str, schema: str) -> str:
    """``base`` with ``search_path`` set to ``schema`` (created if it does not exist)."""
    import psycopg

    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'.encode())
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(f'-csearch_path={schema}')}"


@contextlib.contextmanager
def running(**options: Any) -> Iterator[Stack]:
    """A started :class:`Stack`, stopped on exit."""
    with Stack(**options) as stack:
        yield stack


# -- the command line ----------------------------------------------------------------------------


def _up(args: argparse.Namespace) -> int:
    directory = Path(args.dir).resolve()
    state = directory / "stack.json"
    if state.exists():
        print(f"stack: already up ({state}); run 'down' first", file=sys.stderr)
        return 1
    db = schema_dsn(args.db, args.schema) if args.schema else args.db
    stack = Stack(
        db=db,
        instances=args.instances,
        directory=directory,
        cache_control=args.cache_control or DEFAULT_POLICY,
    )
    try:
        stack.start(detach=True)
    except Missing as error:
        print(f"stack: {error}", file=sys.stderr)
        return 1
    state.write_text(json.dumps({**stack.describe(), "pids": stack.pids}, indent=2))
    print(json.dumps(stack.describe(), indent=2))
    return 0


def _down(args: argparse.Namespace) -> int:
    state = Path(args.dir).resolve() / "stack.json"
    if not state.exists():
        print("stack: not up", file=sys.stderr)
        return 0
    for pid in json.loads(state.read_text())["pids"]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    state.unlink()
    print("stack: down")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start N instances, nginx and Varnish")
    up.add_argument("--instances", type=int, default=2)
    up.add_argument("--dir", default=".stack")
    up.add_argument("--db", default=DEFAULT_DB)
    up.add_argument("--schema", default="ifmatch_stack", help="'' for the DSN's own search_path")
    up.add_argument("--cache-control", action="append", default=[], metavar="KEY=DIRECTIVES")
    down = commands.add_parser("down", help="stop what 'up' started")
    down.add_argument("--dir", default=".stack")
    args = parser.parse_args(argv)
    return _up(args) if args.command == "up" else _down(args)


if __name__ == "__main__":
    sys.exit(main())
