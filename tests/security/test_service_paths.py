"""The service's /files/{path}: no escape from the files namespace, one spelling per file.

Requests are built as uvicorn builds them: ``path`` is the percent-decoded
target (``urllib.parse.unquote``, which turns an invalid UTF-8 escape into
U+FFFD) and ``raw_path`` the target as sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ifmatch.service.app import create_app
from ifmatch.service.settings import Settings
from tests.security.raw import Pairs, Reply, asgi_call

CREATE: Pairs = [(b"if-none-match", b"*"), (b"content-type", b"application/octet-stream")]
ANY: Pairs = [(b"if-match", b"*")]


class Files:
    """The service app on a fresh SQLite file; ``target`` is the URL path as sent."""

    def __init__(self, db: Path) -> None:
        self.app = create_app(Settings(db=f"sqlite:///{db}", pool_size=2, access_log=False))
        self.runner = asyncio.Runner()

    def __call__(
        self,
        method: str,
        target: str,
        headers: Pairs = (),  # type: ignore[assignment]
        body: bytes = b"",
    ) -> Reply:
        call: Any = asgi_call(self.app, method, unquote(target), list(headers), body)
        reply: Reply = self.runner.run(call)
        return reply

    def close(self) -> None:
        self.runner.close()
        self.app.state.store.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Files]:
    service = Files(tmp_path_factory.mktemp("paths") / "service.db")
    yield service
    service.close()


# fmt: off
REFUSED = [
    pytest.param("/files/..", id="dot-dot"),
    pytest.param("/files/a/../../api/c/d", id="dot-dot towards the document space"),
    pytest.param("/files/%2e%2e/x", id="percent-encoded dot-dot"),
    pytest.param("/files/%2E%2e%2Fapi%2Fc", id="encoded slash after dot-dot"),
    pytest.param("/files/a%5c..%5cb", id="backslash separators"),
    pytest.param("/files/a%00b", id="NUL"),
    pytest.param("/files/a%0d%0aSet-Cookie:x", id="CR LF"),
    pytest.param("/files/a%7f", id="DEL"),
    pytest.param("/files/" + "a" * 1100, id="over 1024 bytes"),
    pytest.param("/files/" + "a/" * 600, id="over 1024 bytes in segments"),
    pytest.param("/files/%EF%BC%8E%EF%BC%8E/x", id="fullwidth dot-dot: NFKC gives .."),
    pytest.param("/files/%E2%80%A4%E2%80%A4", id="one-dot leaders: NFKC gives .."),
    pytest.param("/files/%EF%B9%92", id="small full stop: NFKC gives ."),
    pytest.param("/files/a%EF%BC%8Fb", id="fullwidth solidus: NFKC gives a slash"),
    pytest.param("/files/a%EF%BC%BCb", id="fullwidth reverse solidus: NFKC gives a backslash"),
    pytest.param("/files/%ff", id="invalid UTF-8 escape decodes to U+FFFD"),
    pytest.param("/files/%EF%BF%BD", id="U+FFFD itself cannot be told from %ff"),
]
# fmt: on


@pytest.mark.parametrize("target", REFUSED)
def test_unsafe_paths_are_400_and_write_nothing(files: Files, target: str) -> None:
    put = files("PUT", target, CREATE, b"payload")
    assert put.status == 400, put
    assert put.header("content-type") == "application/problem+json"
    assert files("GET", target).status == 400
    assert files("DELETE", target, ANY).status == 400


def test_invalid_escapes_do_not_alias(files: Files) -> None:
    """Before the fix /files/%ff, /files/%fe and /files/%EF%BF%BD were one file."""
    assert files("PUT", "/files/%ff", CREATE, b"one").status == 400
    assert files("GET", "/files/%fe").status == 400


# fmt: off
SPELLINGS = [
    pytest.param("/files/a/b.txt", ["/files/a//b.txt", "/files//a/b.txt", "/files/a/b.txt/",
                                     "/files/a%2fb.txt"], id="empty segments and encoded slash"),
    pytest.param("/files/caf%C3%A9", ["/files/caf%c3%a9", "/files/caf\u00e9"],
                 id="escape case and raw UTF-8"),
]
# fmt: on


@pytest.mark.parametrize(("canonical", "others"), SPELLINGS)
def test_spellings_of_one_file_read_and_delete_it(
    files: Files, canonical: str, others: list[str]
) -> None:
    assert files("PUT", canonical, CREATE, b"x").status == 201
    for other in others:
        reply = files("GET", other)
        assert (reply.status, reply.body) == (200, b"x"), other
    assert files("DELETE", others[-1], ANY).status == 204
    assert files("GET", canonical).status == 404


def test_nfc_and_nfd_are_two_files(files: Files) -> None:
    """URIs compare by their bytes (RFC 3986 §6.2.1): é precomposed and decomposed differ,
    and each is read and deleted by its own spelling."""
    nfc, nfd = "/files/%C3%A9t%C3%A9", "/files/e%CC%81te%CC%81"
    assert files("PUT", nfc, CREATE, b"nfc").status == 201
    assert files("PUT", nfd, CREATE, b"nfd").status == 201
    assert files("GET", nfc).body == b"nfc"
    assert files("GET", nfd).body == b"nfd"
    assert files("DELETE", nfc, ANY).status == 204
    assert files("DELETE", nfd, ANY).status == 204


def test_file_paths_never_reach_documents(files: Files) -> None:
    json_type = (b"content-type", b"application/json")
    assert files("PUT", "/api/c/d", [(b"if-none-match", b"*"), json_type], b"{}").status == 201
    assert files("GET", "/files/api/c/d").status == 404
    assert files("GET", "/files/doc:c/d").status == 404
    assert files("DELETE", "/files/..%2fapi%2fc%2fd", ANY).status == 400
    assert files("GET", "/api/c/d").status == 200


_SEGMENTS = st.lists(
    st.one_of(
        st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=6).map(
            lambda s: quote(s, safe="")
        ),
        st.sampled_from(
            [
                "%ff",
                "%fe",
                "%c3",
                "%2e",
                "%2E%2E",
                "%2f",
                ".",
                "..",
                "%25",
                "a",
                "%EF%BC%8E",
                "%00",
                "%5c",
                "",
                "%C3%A9",
                "e%CC%81",
            ]
        ),
    ),
    min_size=1,
    max_size=4,
).map("/".join)


def _identity(target: str) -> bytes:
    """What a file's name is, independently of the service: the decoded bytes,
    empty segments dropped."""
    return b"/".join(part for part in unquote_to_bytes(target).split(b"/") if part)


@settings(max_examples=60, deadline=None)
@given(first=_SEGMENTS, second=_SEGMENTS)
def test_distinct_names_never_alias_and_every_file_can_be_deleted(
    files: Files, first: str, second: str
) -> None:
    a, b = "/files/" + first, "/files/" + second
    put_a = files("PUT", a, ANY, b"A")
    if put_a.status == 412:
        put_a = files("PUT", a, CREATE, b"A")
    put_b = files("PUT", b, ANY, b"B")
    if put_b.status == 412:
        put_b = files("PUT", b, CREATE, b"B")
    assert put_a.status in {200, 201, 204, 400}, (a, put_a)
    assert put_b.status in {200, 201, 204, 400}, (b, put_b)
    for target, put, body in [(a, put_a, b"A"), (b, put_b, b"B")]:
        if put.status == 400:
            assert files("GET", target).status == 400
            continue
        reply = files("GET", target)
        expected = b"B" if _identity(target) == _identity(b) else body
        assert (reply.status, reply.body) == (200, expected), (a, b, target)
        location = put.header("location")
        if location is not None:
            assert files("GET", location).body == expected, location
    for target, put in [(a, put_a), (b, put_b)]:
        if put.status != 400:
            assert files("DELETE", target, ANY).status in {204, 404}
            assert files("GET", target).status == 404


@pytest.mark.parametrize(
    "target", ["/files/what%3F", "/files/a%23b", "/files/50%25", "/files/a%20b/caf%C3%A9"]
)
def test_location_names_the_created_file(files: Files, target: str) -> None:
    """Location was built from Starlette's half-escaped url.path: "?" and "#" came back
    escaped twice (/files/what%253F), which names another file."""
    put = files("PUT", target, CREATE, b"here")
    assert put.status == 201
    location = put.header("location")
    assert location is not None
    assert unquote(location) == unquote(target)
    assert files("GET", location).body == b"here"
