"""``ifmatch serve`` against hand-written peers, over loopback with wrk, in one run.

Every server is one process pinned to CPU 0 with ``taskset``, and wrk
(``-t1 -c16`` unless a row says otherwise, ``--latency``) is pinned to CPU 1,
so a row's rate is what one core of server can do.  ``ifmatch serve`` runs
as shipped: SQLite, the JSON access log on (written to /dev/null).

Peers, measured in the same run under the same pinning:

* **raw ASGI**: a hand-written ASGI app on uvicorn with httptools and uvloop
  that compares ``If-None-Match`` bytes and answers a constant body;
* **Starlette route**: a Starlette route checking ``If-None-Match`` against
  an in-memory ETag, on the same uvicorn;
* **raw sqlite3 / raw psycopg loop**: a Python loop of conditional
  ``UPDATE ... WHERE id = ? AND version = ?`` on as many connections as the
  HTTP row has, pinned to CPU 0 like the servers, the floor of a guarded write;
* **floors over HTTP**: bare uvloop protocols with no HTTP parsing and no application,
  under the rows they stand beside: one writes constant bytes (a 304, or the 100 KB
  document's 200), one finds a PUT's If-Match by searching its head and makes the write
  in one raw sqlite3 transaction (what no Python server here can go below).

The read rows run every server side by side and measure them in interleaved
rounds (``IFMATCH_BENCH_ROUNDS``, 3 by default), keeping each row's best round,
so a burst of load from the machine's other users does not fall on one server
only.  The server's CPU time per request (user + system, from /proc) is shown
where it was measured.  The write rows use a wrk Lua script in which every connection (one wrk
thread each) replaces its own document with ``If-Match`` set to the ETag of
its previous response, so every PUT is a real guarded write; the run checks
afterwards that they all succeeded.  Each write row follows a warm-up of the same
load on other documents, as each read row follows one, and keeps its best of the same
number of rounds, as do the raw loops (on PostgreSQL the raw loop and the server
alternate).  The machine is shared with other work, so absolute rates are depressed and
vary between runs: only ratios within one run mean anything.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx

DURATION_S = int(os.environ.get("IFMATCH_BENCH_SECONDS", "5"))
WARMUP_S = 1
WRK = shutil.which("wrk") or ("/usr/bin/wrk" if Path("/usr/bin/wrk").exists() else None)
TASKSET = shutil.which("taskset")
POSTGRES_DSN = os.environ.get("IFMATCH_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/test")
SERVER_CPU, LOAD_CPU = "0", "1"
PLOT = Path(__file__).resolve().parent.parent / "BENCHMARKS-service-scaling.png"


def _document(size: int) -> bytes:
    """A JSON document of exactly ``size`` bytes."""
    skeleton = json.dumps({"title": "Hello", "body": ""}).encode()
    return json.dumps({"title": "Hello", "body": "x" * (size - len(skeleton))}).encode()


DOC_1K = _document(1024)
DOC_100K = _document(100 * 1024)
ETAG = '"v1"'

RAW_ASGI = f"""
BODY = {DOC_1K!r}
ETAG = {ETAG.encode()!r}
OK = [(b"etag", ETAG), (b"content-type", b"application/json"),
      (b"content-length", str(len(BODY)).encode())]
NOT_MODIFIED = [(b"etag", ETAG)]

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({{"type": "lifespan.startup.complete"}})
            else:
                await send({{"type": "lifespan.shutdown.complete"}})
                return
    for name, value in scope["headers"]:
        if name == b"if-none-match" and value == ETAG:
            await send({{"type": "http.response.start", "status": 304, "headers": NOT_MODIFIED}})
            await send({{"type": "http.response.body", "body": b""}})
            return
    await send({{"type": "http.response.start", "status": 200, "headers": OK}})
    await send({{"type": "http.response.body", "body": BODY}})
"""
#: The floor under every Python server here: a bare uvloop protocol that writes constant
#: bytes for each request head it receives (a 304, or a 200 of the 100 KB document when
#: the head has no If-None-Match), with no HTTP parsing and no application at all.
_FLOOR_304 = (
    b"HTTP/1.1 304 Not Modified\r\netag: " + ETAG.encode() + b"\r\ncache-control: no-cache\r\n"
    b"date: Thu, 03 Dec 2026 00:00:00 GMT\r\n\r\n"
)
_FLOOR_200 = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\netag: " + ETAG.encode() + b"\r\n"
    b"content-length: %d\r\ndate: Thu, 03 Dec 2026 00:00:00 GMT\r\n\r\n" % len(DOC_100K) + DOC_100K
)
FLOOR = f"""
import asyncio, sys, uvloop
NOT_MODIFIED = {_FLOOR_304!r}
OK = {_FLOOR_200!r}

class Floor(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if data.endswith(b"\\r\\n\\r\\n"):
            conditional = b"if-none-match" in data.lower()
            self.transport.write(NOT_MODIFIED if conditional else OK)

async def main():
    server = await asyncio.get_running_loop().create_server(
        Floor, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()

uvloop.run(main())
"""
#: The floor under a guarded write over HTTP: a bare uvloop protocol that finds a PUT's
#: If-Match and Content-Length by searching its head, and makes the write as the store does,
#: in one SQLite transaction (WAL, ``synchronous = NORMAL``): read the counter, update the
#: document if its version is the one named, store the counter, commit.  No HTTP parsing
#: beyond that, no JSON check, no log, no checkpointer: what no server can go below.
PUT_FLOOR = """
import asyncio, sqlite3, sys, uvloop

connection = sqlite3.connect(sys.argv[2], isolation_level=None)
connection.execute("PRAGMA journal_mode = WAL")
connection.execute("PRAGMA synchronous = NORMAL")
connection.execute(
    "CREATE TABLE IF NOT EXISTS docs (path BLOB PRIMARY KEY, version INTEGER, body BLOB)")
connection.execute("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, value INTEGER)")
connection.execute("INSERT OR IGNORE INTO counter VALUES (1, 0)")
MISSING = b"HTTP/1.1 404 Not Found\\r\\ncontent-length: 0\\r\\n\\r\\n"
REFUSED = b"HTTP/1.1 412 Precondition Failed\\r\\ncontent-length: 0\\r\\n\\r\\n"
OK = b'HTTP/1.1 200 OK\\r\\netag: "v%d"\\r\\ncontent-length: 0\\r\\n\\r\\n'


def value(head, name):
    at = head.find(b"\\r\\n" + name + b":")
    if at < 0:
        return None
    at += len(name) + 3
    return head[at : head.index(b"\\r\\n", at)].strip()


def answer(head, body):
    method, path = head.split(b" ", 2)[:2]
    if method == b"get":
        row = connection.execute("SELECT version FROM docs WHERE path = ?", (path,)).fetchone()
        return MISSING if row is None else OK % row[0]
    tag = value(head, b"if-match")
    connection.execute("BEGIN IMMEDIATE")
    counter = connection.execute("SELECT value FROM counter WHERE id = 1").fetchone()[0] + 1
    if tag is None:
        connection.execute(
            "INSERT OR REPLACE INTO docs VALUES (?, ?, ?)", (path, counter, body))
        changed = 1
    else:
        changed = connection.execute(
            "UPDATE docs SET version = ?, body = ? WHERE path = ? AND version = ?",
            (counter, body, path, int(tag.strip(b'"v')))).rowcount
    if changed:
        connection.execute("UPDATE counter SET value = ? WHERE id = 1", (counter,))
    connection.execute("COMMIT")
    return OK % counter if changed else REFUSED


class PutFloor(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""

    def data_received(self, data):
        self.buffer += data
        while (end := self.buffer.find(b"\\r\\n\\r\\n")) >= 0:
            head = self.buffer[: end + 2].lower()
            length = int(value(head, b"content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return
            stop = end + 4 + length
            body, self.buffer = self.buffer[end + 4 : stop], self.buffer[stop:]
            self.transport.write(answer(head, body))


async def main():
    server = await asyncio.get_running_loop().create_server(
        PutFloor, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()

uvloop.run(main())
"""
STARLETTE_ROUTE = f"""
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

BODY = {DOC_1K!r}
ETAG = {ETAG!r}

async def doc(request):
    if request.headers.get("if-none-match") == ETAG:
        return Response(status_code=304, headers={{"ETag": ETAG}})
    return Response(BODY, headers={{"ETag": ETAG}}, media_type="application/json")

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
                    '%s')
end
function response(status, headers, body)
  etag = headers["etag"] or headers["ETag"] or etag
end
"""
SMALL_BODY = '{"title": "Hello", "body": "a document of a few dozen bytes"}'


@dataclass(frozen=True)
class Measure:
    """One row: requests per second, latency percentiles (ms), failed answers, and the
    server's CPU time per request (µs, user + system) when it was measured."""

    rate: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    cpu_us: float | None = None


ROUNDS = int(os.environ.get("IFMATCH_BENCH_ROUNDS", "3"))
#: The pid of the server answering at each base URL (for its CPU time).
_PIDS: dict[str, int] = {}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pinned(cpu: str, command: list[str]) -> list[str]:
    return [TASKSET, "-c", cpu, *command] if TASKSET else command


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _server(command: list[str], port: int, cpu: str | None = SERVER_CPU) -> Iterator[str]:
    process = subprocess.Popen(
        _pinned(cpu, command) if cpu else command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited with {process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.1)
        else:
            raise TimeoutError(f"{command} did not listen on 127.0.0.1:{port} within 60 s")
        time.sleep(0.5)  # every worker of a --workers 2 server up
        _PIDS[f"http://127.0.0.1:{port}"] = process.pid
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _uvicorn(directory: str, module: str) -> contextlib.AbstractContextManager[str]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        f"{module}:app",
        "--app-dir",
        directory,
        "--port",
        str(port),
        "--http",
        "httptools",
        "--loop",
        "uvloop",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return _server(command, port)


def _floor(directory: str, script: str, *args: str) -> contextlib.AbstractContextManager[str]:
    """The floor server ``script`` of ``directory``, given a free port, then ``args``."""
    port = _free_port()
    return _server([sys.executable, str(Path(directory) / script), str(port), *args], port)


def _serve(db: str, workers: int = 1) -> contextlib.AbstractContextManager[str]:
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
        str(workers),
        "--log-level",
        "warning",
    ]
    # Two workers get both cores (and share them with wrk); one worker gets CPU 0.
    return _server(command, port, SERVER_CPU if workers == 1 else None)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency(output: str, percent: str) -> float:
    match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")


def _wrk(
    url: str,
    *args: str,
    connections: int = 16,
    threads: int = 1,
    pin: bool = True,
    warmup: bool = True,
    pid: int | None = None,
    seconds: int | None = None,
) -> Measure:
    """One wrk run after a short warm-up (rate, p50, p99, non-2xx/3xx answers)."""
    assert WRK is not None
    base = [WRK, f"-t{threads}", f"-c{connections}", "--latency", *args, url]
    load = _pinned(LOAD_CPU, base) if pin else base
    if warmup:
        subprocess.run(
            [*load[: load.index("--latency")], f"-d{WARMUP_S}s", *load[load.index("--latency") :]],
            capture_output=True,
            check=True,
            timeout=WARMUP_S + 30,
        )
    cpu_before = _cpu_seconds(pid) if pid else 0.0
    duration = seconds or DURATION_S
    output = subprocess.run(
        [*load[: load.index("--latency")], f"-d{duration}s", *load[load.index("--latency") :]],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 30,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if rate is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    requests = re.search(r"(\d+) requests in", output)
    cpu = None
    if pid and requests and int(requests.group(1)):
        cpu = (_cpu_seconds(pid) - cpu_before) / int(requests.group(1)) * 1e6
    return Measure(
        float(rate.group(1)),
        _latency(output, "50"),
        _latency(output, "99"),
        int(errors.group(1)) if errors else 0,
        cpu,
    )


def _cpu_above(mine: Measure, floor: Measure, what: str) -> str:
    """A verdict's tail saying how much server CPU ifmatch spent on ``what`` beyond the
    floor's (empty when either was not measured)."""
    if mine.cpu_us is None or floor.cpu_us is None:
        return ""
    return (
        f"; ifmatch's {what} costs {mine.cpu_us:.0f} µs of server CPU, "
        f"{mine.cpu_us - floor.cpu_us:.0f} µs above the floor's {floor.cpu_us:.0f}"
    )


def _best(measure: Callable[[], Measure]) -> Measure:
    """The best of :data:`ROUNDS` runs of ``measure`` (by rate), as the read rows keep
    theirs: a burst of load from the machine's other users then falls on one run only."""
    return _best_alternating(measure)[0]


def _best_alternating(*measures: Callable[[], Measure]) -> list[Measure]:
    """The best of :data:`ROUNDS` runs of each of ``measures`` (by rate), taking turns
    within each round: a burst of load falls on one round of each, not on all of one."""
    rounds = [[measure() for measure in measures] for _ in range(ROUNDS)]
    return [max(runs, key=lambda measured: measured.rate) for runs in zip(*rounds, strict=True)]


def put_script(workdir: Path, targets: list[tuple[str, str]]) -> Path:
    """A wrk Lua script: each connection PUTs its own (path, ETag) with If-Match."""
    script = workdir / f"put-{uuid.uuid4().hex}.lua"
    script.write_text(
        PUT_SCRIPT
        % (
            ", ".join(f"'{tag}'" for _, tag in targets),
            ", ".join(f"'{path}'" for path, _ in targets),
            SMALL_BODY,
        )
    )
    return script


def _puts(base: str, workdir: Path, connections: int, *, spread: bool = False) -> Measure:
    """Guarded PUTs, each connection on its own document (in one collection, or each in a
    collection of its own with ``spread``); checks that every one succeeded.

    Like every read row, a write row is measured after a warm-up (:data:`WARMUP_S` of the
    same load on other documents): a server just started opens its database pools and
    prepares its statements during its first requests, which is not what a row measures."""
    _guarded_puts(base, workdir, connections, spread=spread, seconds=WARMUP_S)
    return _guarded_puts(base, workdir, connections, spread=spread)


def _guarded_puts(
    base: str, workdir: Path, connections: int, *, spread: bool, seconds: int | None = None
) -> Measure:
    """One wrk run of :func:`_puts`' load on documents of its own."""
    with httpx.Client(base_url=base) as http:
        targets = []
        for number in range(connections):
            collection = f"writes{number}" if spread else "writes"
            path = f"/api/{collection}/c{connections}-{number}-{uuid.uuid4().hex[:6]}"
            response = http.put(
                path, content=SMALL_BODY, headers={"Content-Type": "application/json"}
            )
            targets.append((path, response.headers["ETag"]))
    script = put_script(workdir, targets)
    measure = _wrk(
        base + targets[0][0],
        "-s",
        str(script),
        connections=connections,
        threads=connections,
        warmup=False,
        seconds=seconds,
        pid=_PIDS.get(base),
    )
    with httpx.Client(base_url=base) as http:
        for path, tag in targets:
            assert http.get(path).headers["ETag"] != tag, "a PUT connection wrote nothing"
    return measure


def _loop(connections: int, make: type[_Updater], *args: str, cpu: str = SERVER_CPU) -> Measure:
    """A raw conditional-update loop on ``connections`` threads, in a pinned subprocess."""
    code = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
        import bench_service as b
        print(json.dumps(b._run_loop({connections}, {make.__name__!r}, {list(args)!r})))
        """
    )
    output = subprocess.run(
        _pinned(cpu, [sys.executable, "-c", code]),
        capture_output=True,
        text=True,
        check=True,
        timeout=DURATION_S + WARMUP_S + 120,
    ).stdout
    rate, p50, p99 = json.loads(output.strip().splitlines()[-1])
    return Measure(rate, p50, p99)


class _Updater:
    """One connection's conditional-update loop on its own row."""

    def __init__(self, number: int, target: str) -> None:
        self.number, self.version = number, 1

    def update(self) -> None:
        raise NotImplementedError


class _SQLiteUpdater(_Updater):
    # Writers of one process queue on a lock, as the store's do, not in SQLite's busy handler.
    lock = threading.Lock()

    def __init__(self, number: int, target: str) -> None:
        super().__init__(number, target)
        self.connection = sqlite3.connect(
            target, isolation_level=None, timeout=30, check_same_thread=False
        )
        self.connection.execute("PRAGMA journal_mode = WAL")
        self.connection.execute("PRAGMA synchronous = NORMAL")
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS docs (id INTEGER PRIMARY KEY, version INTEGER, body BLOB)"
        )
        self.connection.execute("INSERT OR REPLACE INTO docs VALUES (?, 1, x'')", (number,))

    def update(self) -> None:
        with self.lock:
            self.connection.execute("BEGIN IMMEDIATE")
            changed = self.connection.execute(
                "UPDATE docs SET version = version + 1, body = ? WHERE id = ? AND version = ?",
                (SMALL_BODY.encode(), self.number, self.version),
            ).rowcount
            self.connection.execute("COMMIT")
        assert changed == 1
        self.version += 1


class _PostgresUpdater(_Updater):
    def __init__(self, number: int, target: str) -> None:
        import psycopg

        super().__init__(number, target)
        self.connection = psycopg.connect(target, autocommit=True)
        self.connection.execute(
            "INSERT INTO docs VALUES (%s, 1, '') ON CONFLICT (id) DO UPDATE SET version = 1",
            (number,),
        )

    def update(self) -> None:
        changed = self.connection.execute(
            "UPDATE docs SET version = version + 1, body = %s WHERE id = %s AND version = %s",
            (SMALL_BODY.encode(), self.number, self.version),
        ).rowcount
        assert changed == 1
        self.version += 1


def _run_loop(connections: int, kind: str, args: list[str]) -> tuple[float, float, float]:
    """Run in the pinned subprocess: rate, p50 and p99 (ms) over all threads."""
    make = {"_SQLiteUpdater": _SQLiteUpdater, "_PostgresUpdater": _PostgresUpdater}[kind]
    updaters = [make(number, args[0]) for number in range(connections)]
    durations: list[list[float]] = [[] for _ in updaters]
    start = threading.Barrier(connections + 1)
    stop_at = [0.0]

    def work(index: int) -> None:
        updater, mine = updaters[index], durations[index]
        start.wait()
        while True:
            began = time.perf_counter()
            if began >= stop_at[0]:
                return
            updater.update()
            mine.append(time.perf_counter() - began)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(connections)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + DURATION_S
    start.wait()
    for thread in threads:
        thread.join()
    every = sorted(duration for mine in durations for duration in mine)
    quantiles = statistics.quantiles(every, n=100)
    return len(every) / DURATION_S, quantiles[49] * 1000, quantiles[98] * 1000


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


def _fill_collection(db: Path, space: str, count: int) -> None:
    """``count`` documents in one collection, written through the store's own transaction."""
    from ifmatch.service.sqlite import SQLiteStore
    from ifmatch.service.store import Content, Meta, ScopeState, now_us

    store = SQLiteStore(str(db))
    content = Content.of(SMALL_BODY.encode(), "application/json")
    moment = now_us()
    with store.transaction(space) as tx:
        for number in range(count):
            meta = Meta(number + 1, moment, False, "application/json", content.length)
            tx.put(f"d{number:06d}", meta, content)
        tx.set_scope(ScopeState(count, moment))
    store.close()


def _middle_page(collection: str, count: int, limit: int) -> str:
    """The path of the page of ``limit`` that starts in the middle of a collection filled
    by :func:`_fill_collection` (its cursor is the member before the middle)."""
    from ifmatch.service._pages import encode_cursor

    return f"/api/{collection}?limit={limit}&cursor={encode_cursor(f'd{count // 2 - 1:06d}')}"


def _row(server: str, workload: str, measure: Measure, ratio: str = "") -> str:
    errors = f" ({measure.errors} failed)" if measure.errors else ""
    cpu = f"{measure.cpu_us:.0f}" if measure.cpu_us is not None else ""
    return (
        f"| {server} | {workload} | {measure.rate:,.0f}{errors} | {ratio} | "
        f"{measure.p50_ms:.2f} | {measure.p99_ms:.2f} | {cpu} |"
    )


def _plot(scaling: dict[tuple[int, int], Measure]) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "(no plot: matplotlib is not installed)"
    figure, axis = plt.subplots(figsize=(6, 3.5))
    for workers in sorted({key[0] for key in scaling}):
        points = sorted((c, m.rate) for (w, c), m in scaling.items() if w == workers)
        axis.plot([c for c, _ in points], [r for _, r in points], marker="o", label=f"{workers}")
    axis.set_xscale("log", base=2)
    axis.set_xlabel("wrk connections")
    axis.set_ylabel("304 requests/s")
    axis.set_title("ifmatch serve (SQLite): 304 on a 1 KB document")
    axis.legend(title="workers")
    axis.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(PLOT, dpi=100)
    plt.close(figure)
    return f"![scaling]({PLOT.name})"


def run() -> str:
    heading = "## Service: `ifmatch serve` against hand-written peers (wrk over loopback)\n\n"
    intro = textwrap.dedent(__doc__ or "").split("\n\n", 1)[1].strip()
    if WRK is None:
        return (
            heading
            + intro
            + "\n\n**Not measured: wrk is not installed** (scripts/system-deps.sh).\n"
        )
    load_before = os.getloadavg()[0]
    rows: list[str] = []
    verdicts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ifmatch-bench-") as directory:
        workdir = Path(directory)
        (workdir / "raw_asgi.py").write_text(RAW_ASGI)
        (workdir / "starlette_route.py").write_text(STARLETTE_ROUTE)
        (workdir / "floor.py").write_text(FLOOR)
        (workdir / "put_floor.py").write_text(PUT_FLOOR)
        db = workdir / "bench.db"
        _fill_collection(db, "doc:big", 100_000)
        _fill_collection(db, "doc:small", 10)
        with (
            _uvicorn(directory, "raw_asgi") as raw_base,
            _uvicorn(directory, "starlette_route") as starlette_base,
            _floor(directory, "floor.py") as floor_base,
            _floor(directory, "put_floor.py", str(workdir / "put-floor.db")) as put_floor_base,
            _serve(f"sqlite:///{db}") as base,
            httpx.Client(base_url=base) as http,
        ):
            tags = {}
            for name, body in (("doc", DOC_1K), ("large", DOC_100K)):
                created = http.put(
                    f"/api/bench/{name}", content=body, headers={"Content-Type": "application/json"}
                )
                tags[name] = created.headers["ETag"]
            for collection in ("big", "small"):
                tags[collection] = http.get(f"/api/{collection}", timeout=120).headers["ETag"]
            page = _middle_page("big", 100_000, 100)
            tags["page"] = http.get(page).headers["ETag"]
            reads: dict[tuple[str, str], tuple[str, list[str]]] = {
                ("raw ASGI", "304"): (
                    raw_base + "/api/bench/doc",
                    ["-H", f"If-None-Match: {ETAG}"],
                ),
                ("raw ASGI", "200"): (raw_base + "/api/bench/doc", []),
                ("Starlette route", "304"): (
                    starlette_base + "/api/bench/doc",
                    ["-H", f"If-None-Match: {ETAG}"],
                ),
                ("Starlette route", "200"): (starlette_base + "/api/bench/doc", []),
                ("ifmatch", "304"): (
                    base + "/api/bench/doc",
                    ["-H", f"If-None-Match: {tags['doc']}"],
                ),
                ("ifmatch", "200"): (base + "/api/bench/doc", []),
                ("ifmatch", "304 100 KB"): (
                    base + "/api/bench/large",
                    ["-H", f"If-None-Match: {tags['large']}"],
                ),
                ("ifmatch", "200 100 KB"): (base + "/api/bench/large", []),
                ("floor", "304 100 KB"): (
                    floor_base + "/api/bench/large",
                    ["-H", f"If-None-Match: {ETAG}"],
                ),
                ("floor", "200 100 KB"): (floor_base + "/api/bench/large", []),
                ("ifmatch", "304 collection of 10"): (
                    base + "/api/small",
                    ["-H", f"If-None-Match: {tags['small']}"],
                ),
                ("ifmatch", "304 collection of 100,000"): (
                    base + "/api/big",
                    ["-H", f"If-None-Match: {tags['big']}"],
                ),
                ("ifmatch", "304 page of 100 from 100,000"): (
                    base + page,
                    ["-H", f"If-None-Match: {tags['page']}"],
                ),
                ("ifmatch", "200 page of 100 from 100,000"): (base + page, []),
            }
            # Rounds interleave the servers, so a burst of load from the machine's other
            # users hits one round of each rather than all of one server; each keeps its best.
            measures = [
                partial(_wrk, url, *args, pid=_PIDS.get(url.split("/api/")[0]))
                for url, args in reads.values()
            ]
            best = dict(zip(reads, _best_alternating(*measures), strict=True))
            peers = {
                label: {w: best[(label, w)] for w in ("304", "200")}
                for label in ("raw ASGI", "Starlette route")
            }
            ours = {
                workload: best[("ifmatch", workload)] for _, workload in reads if _ == "ifmatch"
            }
            put_floor: dict[int, Measure] = {}
            for label, n in (("PUT 1 connection", 1), ("PUT 16 connections", 16)):
                put_floor[n], ours[label] = _best_alternating(
                    partial(_puts, put_floor_base, workdir, n), partial(_puts, base, workdir, n)
                )
        raw_sqlite = {
            n: _best(partial(_loop, n, _SQLiteUpdater, str(workdir / f"raw-{n}.db")))
            for n in (1, 16)
        }
        raw = peers["raw ASGI"]
        for workload in ("304", "200"):
            rows.append(
                _row(
                    "raw ASGI (uvicorn, httptools, uvloop)",
                    f"{workload} 1 KB",
                    raw[workload],
                    "1.00",
                )
            )
            starlette = peers["Starlette route"][workload]
            rows.append(
                _row(
                    "Starlette route",
                    f"{workload} 1 KB",
                    starlette,
                    f"{starlette.rate / raw[workload].rate:.2f}",
                )
            )
            mine = ours[workload]
            rows.append(
                _row(
                    "**ifmatch serve**",
                    f"{workload} 1 KB",
                    mine,
                    f"**{mine.rate / raw[workload].rate:.2f}**",
                )
            )
        share_304 = ours["304"].rate / raw["304"].rate
        share_200 = ours["200"].rate / raw["200"].rate
        verdicts.append(
            f"304 on 1 KB: {share_304:.2f}x raw ASGI (target ≥ 0.50, goal 0.66); "
            f"Starlette route {peers['Starlette route']['304'].rate / raw['304'].rate:.2f}x"
        )
        verdicts.append(f"200 on 1 KB: {share_200:.2f}x raw ASGI (target ≥ 0.40)")
        large = ours["200 100 KB"].rate / ours["304 100 KB"].rate
        rows.append(_row("**ifmatch serve**", "304 100 KB", ours["304 100 KB"]))
        rows.append(_row("**ifmatch serve**", "200 100 KB", ours["200 100 KB"]))
        cpu_304, cpu_200 = ours["304 100 KB"].cpu_us, ours["200 100 KB"].cpu_us
        by_cpu = (
            f", {cpu_304 / cpu_200 * 100:.0f} % by server CPU per request"
            if cpu_304 and cpu_200
            else ""
        )
        verdicts.append(
            f"100 KB: a 304 costs {large * 100:.0f} % of a 200 by requests/s{by_cpu} "
            "(target ≤ 25 %)"
        )
        floor_304, floor_200 = best[("floor", "304 100 KB")], best[("floor", "200 100 KB")]
        rows.append(_row("floor (bare uvloop, constant bytes)", "304 100 KB", floor_304))
        rows.append(_row("floor (bare uvloop, constant bytes)", "200 100 KB", floor_200))
        floor_by_cpu = (
            f", {floor_304.cpu_us / floor_200.cpu_us * 100:.0f} % by server CPU per request"
            if floor_304.cpu_us and floor_200.cpu_us
            else ""
        )
        verdicts.append(
            f"100 KB, the floor (a uvloop protocol writing constant bytes, no parsing, no "
            f"application): its 304 costs {floor_200.rate / floor_304.rate * 100:.0f} % of its "
            f"200 by requests/s{floor_by_cpu}; ifmatch's 304 costs "
            f"{(cpu_304 or 0) - (floor_304.cpu_us or 0):.1f} µs of CPU above the floor's"
        )
        small, big = ours["304 collection of 10"], ours["304 collection of 100,000"]
        rows.append(_row("**ifmatch serve**", "304 collection of 10", small, "1.00"))
        rows.append(
            _row(
                "**ifmatch serve**",
                "304 collection of 100,000",
                big,
                f"{big.rate / small.rate:.2f}",
            )
        )
        verdicts.append(
            f"collection 304, 100,000 vs 10 members: {big.rate / small.rate:.2f}x "
            "(target within 10 %)"
        )
        page_304 = ours["304 page of 100 from 100,000"]
        page_200 = ours["200 page of 100 from 100,000"]
        rows.append(
            _row(
                "**ifmatch serve**",
                "304 page of 100 from 100,000",
                page_304,
                f"{page_304.rate / small.rate:.2f}",
            )
        )
        rows.append(
            _row(
                "**ifmatch serve**",
                "200 page of 100 from 100,000",
                page_200,
                f"{page_200.rate / small.rate:.2f}",
            )
        )
        verdicts.append(
            f"page of 100 from 100,000 (x the 304 collection of 10): 304 "
            f"{page_304.rate / small.rate:.2f}x, 200 {page_200.rate / small.rate:.2f}x "
            "(a page's 304 comes from the fast path's validator cache, its 200 from the "
            "application)"
        )
        for n, label in ((1, "PUT 1 connection"), (16, "PUT 16 connections")):
            rows.append(
                _row(
                    f"raw sqlite3 loop, {n} connection(s)",
                    f"conditional UPDATE x{n}",
                    raw_sqlite[n],
                    "1.00",
                )
            )
            rows.append(
                _row(
                    "floor (bare uvloop + one raw sqlite3 transaction)",
                    f"If-Match {label}",
                    put_floor[n],
                    f"{put_floor[n].rate / raw_sqlite[n].rate:.2f}",
                )
            )
            mine = ours[label]
            rows.append(
                _row(
                    "**ifmatch serve**",
                    f"If-Match {label}",
                    mine,
                    f"{mine.rate / raw_sqlite[n].rate:.2f}",
                )
            )
        verdicts.append(
            f"If-Match PUT, SQLite: {ours['PUT 1 connection'].rate:,.0f}/s on 1 connection "
            f"(target ≥ 5,000), {ours['PUT 16 connections'].rate:,.0f}/s on 16 (target ≥ 8,000)"
        )
        verdicts.append(
            "If-Match PUT, SQLite, the floor (a uvloop protocol that searches the head for "
            "If-Match and makes the write in one raw sqlite3 transaction): "
            f"{put_floor[1].rate:,.0f}/s on 1 connection, {put_floor[16].rate:,.0f}/s on 16; "
            f"ifmatch reaches {ours['PUT 1 connection'].rate / put_floor[1].rate:.2f}x and "
            f"{ours['PUT 16 connections'].rate / put_floor[16].rate:.2f}x of it"
            + _cpu_above(ours["PUT 1 connection"], put_floor[1], "PUT on 1 connection")
        )
        dsn = _postgres()
        if dsn is None:
            rows.append(f"| PostgreSQL | all | not measured: no server at {POSTGRES_DSN} | | | | |")
        else:
            with _postgres_schema(dsn) as pg:
                import psycopg

                with psycopg.connect(pg, autocommit=True) as connection:
                    connection.execute(
                        "CREATE TABLE docs (id integer PRIMARY KEY, version bigint, body bytea)"
                    )
                for n, spread in ((1, False), (16, False), (16, True)):

                    def served(n: int = n, spread: bool = spread) -> Measure:
                        with _serve(pg) as base:
                            return _puts(base, workdir, n, spread=spread)

                    floor, mine = _best_alternating(partial(_loop, n, _PostgresUpdater, pg), served)
                    where = ", one collection each" if spread else ""
                    rows.append(
                        _row(
                            f"raw psycopg loop, {n} connection(s)",
                            f"conditional UPDATE x{n}",
                            floor,
                            "1.00",
                        )
                    )
                    rows.append(
                        _row(
                            "**ifmatch serve** (PostgreSQL)",
                            f"If-Match PUT {n} connection(s){where}",
                            mine,
                            f"**{mine.rate / floor.rate:.2f}**",
                        )
                    )
                    verdicts.append(
                        f"If-Match PUT, PostgreSQL, {n} connection(s){where}: "
                        f"{mine.rate / floor.rate:.2f}x the raw psycopg loop (target ≥ 0.50)"
                    )
        scaling: dict[tuple[int, int], Measure] = {}
        with _serve(f"sqlite:///{db}") as base:
            for connections in (1, 16, 64):
                scaling[(1, connections)] = _wrk(
                    base + "/api/bench/doc",
                    "-H",
                    f"If-None-Match: {tags['doc']}",
                    connections=connections,
                )
        with _serve(f"sqlite:///{db}", workers=2) as base:
            for connections in (1, 16, 64):
                scaling[(2, connections)] = _wrk(
                    base + "/api/bench/doc",
                    "-H",
                    f"If-None-Match: {tags['doc']}",
                    connections=connections,
                    pin=False,
                )
    table = "\n".join(
        [
            "| server | workload | requests/s | x peer | p50 ms | p99 ms | server CPU µs/req |",
            "|---|---|---:|---:|---:|---:|---:|",
            *rows,
        ]
    )
    scale_rows = [
        f"| {w} | {c} | {m.rate:,.0f} | {m.p50_ms:.2f} | {m.p99_ms:.2f} |"
        for (w, c), m in sorted(scaling.items())
    ]
    scale = "\n".join(
        [
            "| workers | connections | 304 requests/s | p50 ms | p99 ms |",
            "|---:|---:|---:|---:|---:|",
            *scale_rows,
        ]
    )
    plot = _plot(scaling)
    checks = "\n".join(f"- {line}" for line in verdicts)
    return (
        f"{heading}{intro}\n\n{table}\n\nIn this run:\n\n{checks}\n\n"
        "### Scaling: 304 on a 1 KB document by workers and connections\n\n"
        "One worker is pinned to CPU 0 with wrk on CPU 1; two workers and wrk share both "
        f"cores unpinned.\n\n{scale}\n\n{plot}\n\n"
        f"Each cell: one wrk run of {DURATION_S} s after {WARMUP_S} s of warm-up. "
        f"Load average when the run began: {load_before:.1f} (the machine is shared: "
        "compare rows of one run, not runs).\n"
    )
