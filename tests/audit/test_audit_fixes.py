"""Auditor defects found by trying it (issue 13, items 8 and 9), one test each.

Item 8 needs a real socket: a client library ends a 304 at its header, so
the body such a server sends is only visible on the wire (and on a kept-alive
connection it used to break the next probe).  The servers here are a few
lines of raw HTTP/1.1 on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx
import pytest

from ifmatch.audit import Level, WriteOptions, run_audit

BODY = b'{"title": "conditional requests"}'


def _handle(connection: socket.socket, answer: Callable[[bytes], bytes]) -> None:
    """Serve requests on one connection (keep-alive) until the client closes it."""
    with connection:
        connection.settimeout(5)
        buffer = b""
        with contextlib.suppress(OSError):
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += connection.recv(65536)
                buffer = buffer[length:]
                connection.sendall(answer(head))
                if b"connection: close" in head.lower():
                    return


@contextlib.contextmanager
def raw_server(answer: Callable[[bytes], bytes]) -> Iterator[str]:
    """A threaded raw HTTP/1.1 server on 127.0.0.1; ``answer`` maps a request head to bytes."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    listener.settimeout(0.1)

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(None)
            threading.Thread(target=_handle, args=(connection, answer), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/doc"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _response(status: str, fields: Iterable[str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}", *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _304_with_body(head: bytes) -> bytes:
    """Right in every way but one: its 304s carry the 200's body."""
    fields = ['ETag: "v1"', "Content-Type: application/json", "Cache-Control: no-cache"]
    lower = head.lower()
    if b"if-none-match:" in lower and b'"nope"' not in lower and b"ifmatch-audit" not in lower:
        return _response("304 Not Modified", fields[:1] + fields[2:], BODY)
    if head.startswith(b"HEAD "):
        return _response("200 OK", [*fields, f"Content-Length: {len(BODY)}"])
    return _response("200 OK", [*fields, f"Content-Length: {len(BODY)}"], BODY)


@pytest.mark.parametrize("keep_alive", [True, False], ids=["keep-alive", "connection-close"])
def test_304_with_a_body_stopped_the_audit_or_went_unseen(keep_alive: bool) -> None:
    def answer(head: bytes) -> bytes:
        reply = _304_with_body(head)
        if not keep_alive:
            reply = reply.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
        return reply

    with raw_server(answer) as url:
        report = run_audit(url, timeout=5)
    failed = {finding.id: finding.evidence for finding in report.of_level(Level.FAIL)}
    assert "not-modified-headers" in failed, report.to_text()
    assert f"a {len(BODY)}-byte body after the header" in failed["not-modified-headers"]
    assert report.exit_status == 1


def test_correct_304_over_a_socket_is_not_said_to_have_a_body() -> None:
    def answer(head: bytes) -> bytes:
        reply = _304_with_body(head)
        status = reply.partition(b"\r\n\r\n")[0]
        return reply if b" 200 " in status else status + b"\r\n\r\n"

    with raw_server(answer) as url:
        report = run_audit(url, timeout=5)
    assert "not-modified-headers" in report.ids(Level.PASS), report.to_text()


class _NewTagEveryTime:
    """The issue's server: 200 with a new ETag on every request, If-Match ignored."""

    def __init__(self) -> None:
        self._count = itertools.count(1)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        fields = [
            ("ETag", f'"r{next(self._count)}"'),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(BODY))),
        ]
        start_response("200 OK", fields)
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else BODY]


def test_inm_star_was_skipped_because_etags_change() -> None:
    """§13.1.2: ``*`` matches any current representation; no stable tag is needed."""
    report = run_audit(
        "http://app.test/doc",
        write=WriteOptions(),
        transport=httpx.WSGITransport(app=_NewTagEveryTime()),
    )
    star = next(finding for finding in report.findings if finding.id == "inm-star")
    assert star.level is Level.FAIL, report.to_text()
    assert "If-None-Match: * -> 200" in star.evidence


def test_head_validators_said_same_validators_when_etags_differed() -> None:
    report = run_audit("http://app.test/doc", transport=httpx.WSGITransport(app=_NewTagEveryTime()))
    head = next(finding for finding in report.findings if finding.id == "head-validators")
    assert head.level is not Level.PASS, report.to_text()
    assert "same validators" not in head.evidence
    assert "etag: GET" in head.evidence
