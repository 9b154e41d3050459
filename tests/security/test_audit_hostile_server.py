"""The auditor against a hostile server: any status, any validator, any Content-Range.

Every response the MockTransport gives is drawn by hypothesis (garbage ETag,
Last-Modified, Content-Range, Vary, duplicated fields, random statuses and
bodies), so each of the auditor's probes parses server-chosen text.  Property:
``run_audit`` returns a report (whose JSON and text render) or raises
AuditError, never another exception.
"""

from __future__ import annotations

import json

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from ifmatch.audit import AuditError, WriteOptions, run_audit

_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"), max_size=60
)
_VALUES = {
    "etag": st.one_of(_TEXT, st.sampled_from(['"a"', 'W/"a"', '"a", "b"', "*", '"', "W/"])),
    "last-modified": st.one_of(
        _TEXT,
        st.sampled_from(["Tue, 14 Nov 2023 22:13:20 GMT", "Tuesday, 14-Nov-23 22:13:20 GMT", "0"]),
    ),
    "content-range": st.one_of(
        _TEXT,
        st.sampled_from(
            ["bytes 0-0/1", "bytes */5", "bytes 5-1/3", "bytes 0-99999999999999999999/1"]
        ),
    ),
    "vary": _TEXT,
    "cache-control": _TEXT,
    "date": _TEXT,
    "content-type": _TEXT,
    "accept-ranges": st.sampled_from(["bytes", "none", "", "items"]),
}
_RESPONSE = st.tuples(
    st.sampled_from([200, 200, 200, 204, 206, 304, 404, 412, 416, 428, 500]),
    st.lists(
        st.sampled_from(sorted(_VALUES)).flatmap(
            lambda name: _VALUES[name].map(lambda value: (name, value))
        ),
        max_size=8,
    ),
    st.binary(max_size=200),
)


def _raw(pairs: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Header values as a socket delivers them: any latin-1 byte (obs-text included)."""
    return [(name.encode(), value.encode("latin-1")) for name, value in pairs]


@settings(max_examples=40, deadline=None)
@given(data=st.data(), write=st.booleans())
def test_audit_survives_any_server(data: st.DataObject, write: bool) -> None:
    first = data.draw(
        st.lists(
            st.sampled_from(sorted(_VALUES)).flatmap(
                lambda name: _VALUES[name].map(lambda value: (name, value))
            ),
            max_size=8,
        )
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if handler.calls == 0:  # type: ignore[attr-defined]
            handler.calls += 1  # type: ignore[attr-defined]
            return httpx.Response(200, headers=_raw(first), stream=httpx.ByteStream(b'{"a": 1}'))
        status, headers, body = data.draw(_RESPONSE)
        if status in {204, 304}:
            body = b""
        return httpx.Response(status, headers=_raw(headers), stream=httpx.ByteStream(body))

    handler.calls = 0  # type: ignore[attr-defined]
    options = WriteOptions() if write else None
    try:
        report = run_audit(
            "http://hostile.test/r",
            write=options,
            transport=httpx.MockTransport(handler),
            timeout=2,
        )
    except AuditError:
        return
    assert json.loads(report.to_json())["url"] == "http://hostile.test/r"
    text = report.to_text()
    assert all(char.isprintable() for line in text.splitlines() for char in line), text


def test_text_report_escapes_server_controls() -> None:
    """obs-text (0x80-0xFF) is legal in a field value, so a server can send a C1 CSI
    (0x9B) in its ETag; the report quotes it as evidence, escaped."""

    def handler(request: httpx.Request) -> httpx.Response:
        headers = [(b"etag", b'"\x9b31mX"'), (b"last-modified", b"\x9b2J")]
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(b"hi"))

    report = run_audit("http://hostile.test/r", transport=httpx.MockTransport(handler))
    text = report.to_text()
    assert "\x9b" not in text
    assert "\\x9b31mX" in text
