"""What one guarded PUT costs ``ifmatch serve``'s protocol and store, in-process.

The protocol (:class:`ifmatch.service._protocol.FastHttpProtocol`) is fed by a fake
transport that sends the next ``PUT`` as soon as an answer is written, with the ETag
of that answer in ``If-Match``: one connection writing one document back to back, as
the benchmark's "If-Match PUT 1 connection" row does over loopback, without the
sockets, the kernel and wrk.  The application is the shipped one, on SQLite, with the
access log on (written to /dev/null).

Counted with valgrind's callgrind, the instructions per PUT repeat to about 0.1 %:
two runs of different lengths, so that start-up cancels out.  The SQLite
checkpointer and the access log's flush run on timers; under valgrind, fifty times
slower, those would fire every few PUTs instead of every few thousand, so this
holds them off (the WAL just grows for the run).  docs/service.md ("What a PUT
costs") quotes the count.  Not part of ``make bench``: run it by hand::

    python bench/put_instructions.py          # instructions per PUT (needs valgrind)
    python bench/put_instructions.py --time   # microseconds per PUT, wall and CPU
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BODY = b'{"title": "Hello", "body": "a document of a few dozen bytes"}'
_ETAG = re.compile(rb"\r\netag: ([^\r]*)\r\n")
_COLLECTED = re.compile(r"Collected : ([\d,]+)")
#: The two run lengths whose difference is counted.
SHORT, LONG = 1000, 3000


def _put(etag: bytes | None) -> bytes:
    condition = b"If-None-Match: *" if etag is None else b"If-Match: " + etag
    return (
        b"PUT /api/writes/doc HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
        b"Content-Type: application/json\r\n" + condition + b"\r\n"
        b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY
    )


class _Client(asyncio.Transport):
    """The protocol's transport: each answer it is given sends the next PUT, with that
    answer's ETag in If-Match, until ``puts`` answers; the clocks start at the first."""

    def __init__(self, protocol: asyncio.Protocol, puts: int) -> None:
        super().__init__()
        self.protocol, self.left = protocol, puts
        self.done: asyncio.Future[tuple[float, float]] = asyncio.get_running_loop().create_future()
        self.started = (0.0, 0.0)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        answer = bytes(data)
        if not answer.startswith(b"HTTP/1.1"):
            return  # the body of an answer whose head came in a write of its own
        found = _ETAG.search(answer)
        if not answer.startswith((b"HTTP/1.1 200", b"HTTP/1.1 201")) or found is None:
            self.done.set_exception(RuntimeError(f"unexpected answer: {answer[:200]!r}"))
            return
        if self.started == (0.0, 0.0):  # the document is created: the guarded PUTs begin
            self.started = (time.perf_counter(), time.process_time())
        self.left -= 1
        if self.left <= 0:
            wall, cpu = self.started
            self.done.set_result((time.perf_counter() - wall, time.process_time() - cpu))
            return
        asyncio.get_running_loop().call_soon(self.send, found.group(1))

    def send(self, etag: bytes | None) -> None:
        self.protocol.data_received(_put(etag))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        return None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None


async def _puts(db: Path, count: int) -> tuple[float, float]:
    """A PUT that creates the document, then ``count`` guarded ones (their wall and CPU
    seconds)."""
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from ifmatch.service._logs import configure_logging
    from ifmatch.service._middleware import ACCESS_LOGGER
    from ifmatch.service._protocol import FastHttpProtocol
    from ifmatch.service.app import create_app
    from ifmatch.service.cli import uvicorn_options
    from ifmatch.service.settings import Settings

    configure_logging()
    for handler in ACCESS_LOGGER.handlers:  # written, as with ``ifmatch serve``, to nowhere
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - for the process's life
    app = create_app(Settings(db=f"sqlite:///{db}"))
    config = Config(
        app=app, **{**uvicorn_options("warning"), "http": FastHttpProtocol}, lifespan="off"
    )
    protocol = FastHttpProtocol(config, ServerState(), {}, asyncio.get_running_loop())
    client = _Client(protocol, count + 1)
    protocol.connection_made(client)
    try:
        client.send(None)
        return await client.done
    finally:
        if protocol.timeout_keep_alive_task is not None:
            protocol.timeout_keep_alive_task.cancel()
        app.fast.close()
        app.state.store.close()


def _child(db: Path, count: int) -> None:
    """Run ``count`` PUTs with the timers held off (see the module's docstring)."""
    import uvloop

    from ifmatch.service import _accesslog, sqlite

    sqlite.CHECKPOINT_EVERY_S = 1e9
    _accesslog.FLUSH_S = 1e9
    wall, cpu = uvloop.run(_puts(db, count))
    print(f"{wall} {cpu}")


def _command(directory: Path, count: int) -> list[str]:
    return [sys.executable, __file__, "--child", str(directory / f"{count}.db"), str(count)]


def _instructions(directory: Path, count: int, valgrind: str) -> int:
    """The instructions callgrind counts in a child that makes ``count`` PUTs."""
    log = directory / f"{count}.log"
    subprocess.run(
        [
            valgrind,
            "--tool=callgrind",
            f"--callgrind-out-file={directory / f'{count}.callgrind'}",
            f"--log-file={log}",
            *_command(directory, count),
        ],
        check=True,
        capture_output=True,
        timeout=900,
    )
    found = _COLLECTED.search(log.read_text())
    if found is None:
        raise RuntimeError(f"callgrind counted nothing: {log.read_text()[-500:]}")
    return int(found.group(1).replace(",", ""))


def main(arguments: list[str]) -> int:
    if arguments[:1] == ["--child"]:
        _child(Path(arguments[1]), int(arguments[2]))
        return 0
    with tempfile.TemporaryDirectory(prefix="ifmatch-put-") as name:
        directory = Path(name)
        if arguments[:1] == ["--time"]:
            count = 20 * LONG
            output = subprocess.run(
                _command(directory, count), check=True, capture_output=True, text=True
            ).stdout
            wall, cpu = (float(value) / count * 1e6 for value in output.split())
            print(f"{wall:.1f} µs wall, {cpu:.1f} µs CPU per PUT ({count:,} PUTs)")
            return 0
        valgrind = shutil.which("valgrind")
        if valgrind is None:
            print("valgrind is not installed (scripts/system-deps.sh bench)", file=sys.stderr)
            return 1
        short = _instructions(directory, SHORT, valgrind)
        long = _instructions(directory, LONG, valgrind)
    print(f"{(long - short) / (LONG - SHORT):,.0f} instructions per PUT")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
