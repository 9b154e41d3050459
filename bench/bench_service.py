"""Requests per second of ``ifmatch serve`` over loopback, measured with wrk, in one run.

For each backend (SQLite, PostgreSQL) one ``ifmatch serve --workers 2``
answers three workloads, each for a fixed duration with 2 wrk threads:

* **200 GET**: a JSON document read in full (4 connections);
* **304 GET**: the same read with ``If-None-Match`` of its current ETag (4 connections);
* **conditional PUT**: each connection replaces its own document with
  ``If-Match`` set to the ETag of its previous response (a wrk Lua script
  reads it from every response), so every PUT is a real guarded write
  (2 connections, one per wrk thread: wrk shares Lua state per thread).

A baseline in the same run: a bare Starlette app on the same uvicorn
settings returning a constant JSON body with an ETag (no database, no
preconditions), to show what the store and the evaluation add.  wrk and
the servers share the machine's cores, so figures are lower than on a
dedicated load generator.  Without wrk, nothing is measured and the
section says so.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

DURATION_S = 5
WRK = shutil.which("wrk") or ("/usr/bin/wrk" if Path("/usr/bin/wrk").exists() else None)
POSTGRES_DSN = os.environ.get("IFMATCH_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/test")
BASELINE = """
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

BODY = b'{"title": "Hello", "body": "a document of a few dozen bytes"}'

async def doc(request):
    return Response(BODY, headers={"ETag": '"v1"', "Cache-Control": "no-cache"},
                    media_type="application/json")

app = Starlette(routes=[Route("/api/bench/doc", doc)])
"""
PUT_SCRIPT = """
local etags = {%s}
local paths = {%s}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("index", counter)
end
function init(args)
  etag = etags[index]
  path = paths[index]
end
function request()
  return wrk.format("PUT", path, {["Content-Type"] = "application/json", ["If-Match"] = etag},
                    '{"title": "Hello", "body": "a document of a few dozen bytes"}')
end
function response(status, headers, body)
  etag = headers["etag"] or headers["ETag"] or etag
end
"""
BODY = b'{"title": "Hello", "body": "a document of a few dozen bytes"}'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _server(command: list[str], port: int) -> Iterator[str]:
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited with {process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.1)
        else:
            raise TimeoutError(f"{command} did not listen on 127.0.0.1:{port} within 30 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _serve(db: str) -> contextlib.AbstractContextManager[str]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "ifmatch.cli",
        "serve",
        "--port",
        str(port),
        "--db",
        db,
        "--workers",
        "2",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return _server(command, port)


def _wrk(url: str, *args: str, threads: int = 2, connections: int = 4) -> tuple[float, int]:
    """Requests per second, and the number of non-2xx/3xx answers."""
    assert WRK is not None
    output = subprocess.run(
        [WRK, f"-t{threads}", f"-c{connections}", f"-d{DURATION_S}s", *args, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=DURATION_S + 30,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if rate is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    return float(rate.group(1)), int(errors.group(1)) if errors else 0


def _workloads(base: str, workdir: Path) -> dict[str, tuple[float, int]]:
    with httpx.Client(base_url=base) as http:
        created = http.put(
            "/api/bench/doc", content=BODY, headers={"Content-Type": "application/json"}
        )
        etag = created.headers["ETag"]
        targets = []
        for number in range(2):
            path = f"/api/bench/put-{number}"
            response = http.put(path, content=BODY, headers={"Content-Type": "application/json"})
            targets.append((path, response.headers["ETag"]))
    script = workdir / f"put-{uuid.uuid4().hex}.lua"
    script.write_text(
        PUT_SCRIPT
        % (
            ", ".join(f"'{tag}'" for _, tag in targets),
            ", ".join(f"'{path}'" for path, _ in targets),
        )
    )
    url = base + "/api/bench/doc"
    results = {
        "200 GET": _wrk(url),
        "304 GET": _wrk(url, "-H", f"If-None-Match: {etag}"),
        "conditional PUT": _wrk(base + targets[0][0], "-s", str(script), connections=2),
    }
    with httpx.Client(base_url=base) as http:
        for path, tag in targets:
            assert http.get(path).headers["ETag"] != tag, "the PUT workload wrote nothing"
        assert http.get("/api/bench/doc", headers={"If-None-Match": etag}).status_code == 304
    return results


def _postgres() -> str | None:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_DSN, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except Exception:
        return None
    return POSTGRES_DSN


@contextlib.contextmanager
def _postgres_schema(dsn: str) -> Iterator[str]:
    import psycopg

    schema = f"ifmatch_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}".encode())
    try:
        yield f"{dsn}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE".encode())


def run() -> str:
    heading = "## Service: requests per second (`ifmatch serve`, wrk over loopback)\n\n"
    intro = textwrap.dedent(__doc__ or "").split("\n\n", 1)[1].strip()
    if WRK is None:
        return (
            heading
            + intro
            + "\n\n**Not measured: wrk is not installed** (scripts/system-deps.sh).\n"
        )
    rows: list[str] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="ifmatch-bench-") as directory:
        workdir = Path(directory)
        port = _free_port()
        (workdir / "baseline_app.py").write_text(BASELINE)
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "baseline_app:app",
            "--app-dir",
            directory,
            "--port",
            str(port),
            "--workers",
            "2",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        with _server(command, port) as base:
            url = base + "/api/bench/doc"
            baseline = _wrk(url)
            rows.append(
                f"| Starlette constant response (baseline) | 200 GET | {baseline[0]:,.0f} | "
                f"{baseline[1]} |"
            )
        backends: list[tuple[str, contextlib.AbstractContextManager[str]]] = [
            ("SQLite (WAL, 2 workers)", contextlib.nullcontext(f"sqlite:///{workdir / 'b.db'}"))
        ]
        dsn = _postgres()
        if dsn is not None:
            backends.append(("PostgreSQL (2 workers)", _postgres_schema(dsn)))
        for label, database in backends:
            with database as db, _serve(db) as base:
                for workload, (rate, errors) in _workloads(base, workdir).items():
                    rows.append(f"| {label} | {workload} | {rate:,.0f} | {errors} |")
        if dsn is None:
            rows.append(f"| PostgreSQL | all | not measured: no server at {POSTGRES_DSN} | - |")
    table = "\n".join(
        ["| server | workload | requests/s | non-2xx/3xx |", "|---|---|---:|---:|", *rows]
    )
    return (
        f"{heading}{intro}\n\n{table}\n\nEach cell: one wrk run of {DURATION_S} s. "
        f"Load average when the run began: {load_before:.1f} (on a shared machine, compare "
        "rows of one run, not runs).\n"
    )
