"""Cut-short and malformed requests against a real ``ifmatch serve``, over raw sockets.

Whatever a client does (hang up mid-upload, send garbage, lie about
lengths), the service answers no request with a 5xx, writes nothing for an
incomplete request, and its log holds no traceback: a dropped client is one
access-log line with status 499 and a note, not a 500 alert (issue 13, item 1).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port, wait_for_port

pytestmark = pytest.mark.slow
DOC = "/api/c/d"


@contextlib.contextmanager
def _service(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """``ifmatch serve`` with its access log on, stderr in a file read after it stopped."""
    port, log = free_port(), tmp_path / "stderr.log"
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
        f"sqlite:///{tmp_path / 'faults.db'}",
        "--log-level",
        "warning",
    ]
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
        )
        try:
            wait_for_port(port, process=process)
            yield port, log
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)


def _exchange(
    port: int, data: bytes, *, read: bool = True, pause: float = 0.0, half_close: bool = False
) -> bytes:
    """Send raw bytes, then read until the server closes; or reset the connection at once.

    ``half_close`` shuts the sending side first (which uvicorn takes for a hang-up).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        if pause:
            time.sleep(pause)
        if not read:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return b""
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def _statuses(reply: bytes) -> list[int]:
    """The status codes of every response in ``reply`` (pipelined answers included)."""
    return [
        int(line.split()[1])
        for line in reply.split(b"\r\n")
        if line.startswith(b"HTTP/1.") and len(line.split()) > 1 and line.split()[1].isdigit()
    ]


def _head(method: str, path: str, *fields: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _whole(method: str, path: str, body: bytes, *fields: str) -> bytes:
    """A complete request with ``body`` and its true Content-Length."""
    return _head(method, path, *fields, f"Content-Length: {len(body)}") + body


# Requests the client hangs up on before their content is complete: nothing may be written.
CUT_SHORT = [
    (
        "file, Content-Length",
        _head("PUT", "/files/p.bin", "Content-Length: 1000000", "If-None-Match: *") + b"x" * 5000,
        "/files/p.bin",
    ),
    (
        "document, chunked",
        _head(
            "PUT",
            "/api/partial/d",
            "Content-Type: application/json",
            "Transfer-Encoding: chunked",
            "If-None-Match: *",
        )
        + b"400\r\n"
        + b'{"a": "'
        + b"y" * 200,
        "/api/partial/d",
    ),
    (
        "file, chunked",
        _head("PUT", "/files/q.bin", "Transfer-Encoding: chunked", "If-None-Match: *")
        + b"10000\r\n"
        + b"z" * 3000,
        "/files/q.bin",
    ),
    (
        "patch, Content-Length",
        _head(
            "PATCH",
            DOC,
            "Content-Type: application/merge-patch+json",
            "If-Match: *",
            "Content-Length: 500",
        )
        + b'{"cut": ',
        DOC,
    ),
    (
        "post, chunked",
        _head("POST", "/api/posted", "Content-Type: application/json", "Transfer-Encoding: chunked")
        + b"100\r\n{",
        "/api/posted",
    ),
    (
        "expect 100-continue",
        _head(
            "PUT",
            "/files/e.bin",
            "Content-Length: 100000",
            "Expect: 100-continue",
            "If-None-Match: *",
        ),
        "/files/e.bin",
    ),
]

# Malformed, hostile or merely odd requests: each gets one answer, never a 5xx.
MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n",
    b"GET /api/c HTTP/1.1\r\nHost: 127.0.0.1\r\nX: a\x00b\r\n\r\n",
    _head("PUT", "/files/n.bin", "Content-Length: -1", "If-None-Match: *"),
    _head("PUT", "/files/n.bin", "Content-Length: abc", "If-None-Match: *"),
    _head("PUT", "/files/n.bin", "Content-Length: 3", "Content-Length: 4", "If-None-Match: *")
    + b"abcd",
    _head("PUT", "/files/n.bin", "Transfer-Encoding: chunked", "If-None-Match: *")
    + b"zz\r\nabc\r\n0\r\n\r\n",
    _head("PUT", "/files/n.bin", "Transfer-Encoding: gzip, chunked", "If-None-Match: *")
    + b"3\r\nabc\r\n0\r\n\r\n",
    _head("GET", DOC, 'If-None-Match: "' + "a" * 2_000_000 + '"'),
    _head("GET", DOC, *(f"X-Pad-{n}: {'p' * 7000}" for n in range(20))),
    _whole("PUT", DOC, b"{}", "Content-Type: application/json", 'If-Match: \x7f"v'),
    _whole("PUT", DOC, b"{}", "Content-Type: application/json", "If-Unmodified-Since: yesterday"),
    _whole(
        "PUT",
        "/api/c/bomb",
        b"[" * 20000 + b"]" * 20000,
        "Content-Type: application/json",
        "If-None-Match: *",
    ),
    _whole("PUT", "/api/c/num", b"9" * 50000, "Content-Type: application/json", "If-None-Match: *"),
    _whole(
        "PATCH",
        DOC,
        b'[{"op":"add","op":"remove","path":"/x","value":1}]',
        "Content-Type: application/json-patch+json",
        "If-Match: *",
    ),
    _whole(
        "PUT", DOC, b"{}", "Content-Type: application/json", "If-Match: *", "Content-Encoding: gzip"
    ),
    _head("GET", "/files/%00%ff/../x"),
    _head("GET", "/files/p.bin", "Range: bytes=" + ",".join(["0-"] * 500)),
    _head("BREW", "/api/c"),
    _head("GET", "http://elsewhere.example/api/c"),
    b"GET /api/c HTTP/1.0\r\n\r\n",
    b"GET /api/c HTTP/9.9\r\nHost: x\r\n\r\n",
    _head("GET", DOC, "Authorization: Bearer a", "Authorization: Bearer b"),
    _whole("POST", "/api/c", b"{}", "Content-Type: application/json", 'If-Match: "nope"'),
]


def test_cut_short_and_malformed_requests_make_no_5xx_and_no_traceback(tmp_path: Path) -> None:
    with _service(tmp_path) as (port, log):
        base = f"http://127.0.0.1:{port}"
        created = httpx.put(base + DOC, json={"keep": True}, headers={"If-None-Match": "*"})
        assert created.status_code == 201
        for name, data, _ in CUT_SHORT:
            _exchange(port, data, read=False, pause=0.2)  # reset mid-body
            reply = _exchange(port, data, half_close=True)
            assert all(status < 500 for status in _statuses(reply)), name
        answers = {index: _statuses(_exchange(port, data)) for index, data in enumerate(MALFORMED)}
        # A download the client abandons after its first bytes.
        httpx.put(base + "/files/big.bin", content=b"b" * 3_000_000, headers={"If-None-Match": "*"})
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(_head("GET", "/files/big.bin"))
            assert sock.recv(1024).startswith(b"HTTP/1.1 200")
        time.sleep(0.5)
        with httpx.Client(base_url=base) as http:
            for _, _, path in CUT_SHORT:
                if path == DOC:
                    assert http.get(DOC).json() == {"keep": True}
                elif path.startswith("/api/posted"):
                    assert http.get(path).json()["items"] == []
                else:
                    assert http.get(path).status_code == 404, path
            assert http.get("/healthz").status_code == 200
    for index, statuses in answers.items():
        assert len(statuses) == 1, (MALFORMED[index][:80], statuses)
        assert statuses[0] < 500, (MALFORMED[index][:80], statuses)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    assert "Exception in ASGI application" not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert lines, text[-2000:]
    assert all(line["status"] < 500 for line in lines if "status" in line), [
        line for line in lines if line.get("status", 0) >= 500
    ]
    closed = [line for line in lines if line.get("status") == 499]
    assert {line["path"] for line in closed} >= {"/files/p.bin", "/api/partial/d", DOC}
    assert all("client closed" in line["note"] for line in closed)
