"""not_modified_headers: the 304's header section (RFC 9110 §15.4.5)."""

from __future__ import annotations

import pytest

from ifmatch import not_modified_headers

DATE = "Sun, 06 Nov 1994 08:49:37 GMT"
FULL = [
    ("Date", DATE),
    ("ETag", '"v2"'),
    ("Last-Modified", DATE),
    ("Vary", "Accept-Encoding"),
    ("Cache-Control", "max-age=60"),
    ("Expires", DATE),
    ("Content-Location", "/doc.json"),
    ("Content-Type", "application/json"),
    ("Content-Length", "1234"),
    ("Content-Encoding", "gzip"),
    ("Content-Language", "en"),
    ("Content-Range", "bytes 0-1/1234"),
    ("Content-Digest", "sha-256=:abc=:"),
    ("Transfer-Encoding", "chunked"),
    ("Trailer", "Server-Timing"),
    ("Set-Cookie", "a=1"),
    ("Set-Cookie", "b=2"),
    ("X-Request-Id", "42"),
    ("Content-Security-Policy", "default-src 'self'"),
]


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Date", id="§15.4.5 MUST keep Date"),
        pytest.param("ETag", id="§15.4.5 MUST keep ETag"),
        pytest.param("Vary", id="§15.4.5 MUST keep Vary"),
        pytest.param("Cache-Control", id="§15.4.5 MUST keep Cache-Control"),
        pytest.param("Expires", id="§15.4.5 MUST keep Expires"),
        pytest.param("Content-Location", id="§15.4.5 MUST keep Content-Location"),
        pytest.param("X-Request-Id", id="§15.4.5 unrelated fields are left alone"),
        pytest.param("Content-Security-Policy", id="Content-* that is not metadata stays"),
    ],
)
def test_kept(name: str) -> None:
    kept = not_modified_headers(FULL)
    assert [value for field, value in kept if field == name] == [
        value for field, value in FULL if field == name
    ]


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Content-Type", id="§15.4.5 representation metadata: Content-Type"),
        pytest.param("Content-Length", id="§15.4.5 no content: Content-Length"),
        pytest.param("Content-Encoding", id="§15.4.5 representation metadata: Content-Encoding"),
        pytest.param("Content-Language", id="§15.4.5 representation metadata: Content-Language"),
        pytest.param("Content-Range", id="§15.4.5 no content: Content-Range"),
        pytest.param("Content-Digest", id="§15.4.5 no content: Content-Digest"),
        pytest.param("Transfer-Encoding", id="§15.4.5 no content: Transfer-Encoding"),
        pytest.param("Trailer", id="§15.4.5 no content, no trailer section"),
        pytest.param("Last-Modified", id="§15.4.5 Last-Modified dropped when there is an ETag"),
    ],
)
def test_dropped(name: str) -> None:
    names = [field.lower() for field, _ in not_modified_headers(FULL)]
    assert name.lower() not in names


def test_last_modified_kept_without_etag() -> None:
    headers = [("Last-Modified", DATE), ("Content-Type", "text/plain"), ("Date", DATE)]
    assert not_modified_headers(headers) == [("Last-Modified", DATE), ("Date", DATE)]


def test_order_and_repeats_kept() -> None:
    kept = not_modified_headers(FULL)
    assert [name for name, _ in kept] == [
        "Date",
        "ETag",
        "Vary",
        "Cache-Control",
        "Expires",
        "Content-Location",
        "Set-Cookie",
        "Set-Cookie",
        "X-Request-Id",
        "Content-Security-Policy",
    ]


def test_bytes_pairs_case_insensitive() -> None:
    headers = [
        (b"etag", b'W/"x"'),
        (b"CONTENT-TYPE", b"text/html"),
        (b"last-modified", DATE.encode()),
        (b"vary", b"accept"),
        (b"content-length", b"10"),
    ]
    assert not_modified_headers(headers) == [(b"etag", b'W/"x"'), (b"vary", b"accept")]


def test_accepts_any_iterable() -> None:
    assert not_modified_headers(iter([("ETag", '"a"')])) == [("ETag", '"a"')]
    assert not_modified_headers([]) == []
