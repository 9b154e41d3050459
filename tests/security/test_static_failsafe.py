"""StaticFiles (ASGI and WSGI), end to end: hostile conditional fields, ranges and paths.

Properties: no 5xx; validators that cannot be read never give a 304; an
unsafe method never succeeds; a Range never gets more bytes than the whole
file; no path, however spelled, reads a byte outside the root; ETags carry
no inode, path or raw mtime; a 404 says nothing about what exists.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ifmatch import ETag, asgi_files, wsgi_files
from tests.files.conftest import FILES, SECRET, Site, build_site
from tests.security.raw import (
    HOSTILE_PAIRS,
    HOSTILE_RANGES,
    HOSTILE_VALUES,
    Pairs,
    Reply,
    asgi_call,
    no_readable_validator,
    unreadable_if_range,
    wsgi_call,
)

Caller = Callable[[str, str, Pairs], Reply]
EXAMPLES = settings(max_examples=40, deadline=None)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return build_site(tmp_path_factory.mktemp("static-security"))


@pytest.fixture(scope="module", params=["asgi", "wsgi"])
def static(request: pytest.FixtureRequest, site: Site) -> Caller:
    if request.param == "asgi":
        app = asgi_files.StaticFiles(site.root)
        runner = asyncio.Runner()
        return lambda method, path, pairs: runner.run(asgi_call(app, method, path, pairs))
    wsgi = wsgi_files.StaticFiles(site.root)
    return lambda method, path, pairs: wsgi_call(wsgi, method, path, pairs)


@EXAMPLES
@given(
    pairs=HOSTILE_PAIRS,
    method=st.sampled_from(["GET", "HEAD"]),
    name=st.sampled_from(["/hello.txt", "/big.bin", "/empty.txt"]),
)
def test_unreadable_validators_never_304(
    static: Caller, pairs: Pairs, method: str, name: str
) -> None:
    reply = static(method, name, pairs)
    assert reply.status < 500, reply
    if no_readable_validator(pairs):
        assert reply.status != 304, (pairs, reply)
    if method == "HEAD":
        assert reply.body == b""


@EXAMPLES
@given(pairs=HOSTILE_PAIRS, method=st.sampled_from(["PUT", "POST", "DELETE", "PATCH"]))
def test_unsafe_methods_never_succeed(static: Caller, pairs: Pairs, method: str) -> None:
    reply = static(method, "/hello.txt", pairs)
    assert reply.status < 500, reply
    assert not 200 <= reply.status < 300, reply


@EXAMPLES
@given(
    range_value=HOSTILE_RANGES,
    repeat=st.booleans(),
    if_range=st.none()
    | st.sampled_from([b'"x"', b"Tue, 14 Nov 2023 22:13:20 GMT"])
    | HOSTILE_VALUES,
    name=st.sampled_from(["big.bin", "hello.txt", "empty.txt"]),
)
def test_range_never_amplifies(
    static: Caller, range_value: bytes, repeat: bool, if_range: bytes | None, name: str
) -> None:
    pairs = [(b"range", range_value)] * (2 if repeat else 1)
    if if_range is not None:
        pairs.append((b"if-range", if_range))
    reply = static("GET", "/" + name, pairs)
    assert reply.status in {200, 206, 416}, reply
    if unreadable_if_range(pairs):
        assert reply.status == 200, "an unreadable If-Range never lets a Range through"
    length = reply.header("content-length")
    assert length is not None
    assert int(length) == len(reply.body)
    if reply.status == 416:
        assert len(reply.body) < 512
        assert range_value not in reply.body
    else:
        assert len(reply.body) <= len(FILES[name])


_PIECES = [
    "..",
    ".",
    "%2e%2e",
    "%2E%2E",
    "..%2f",
    "%2f",
    "%5c",
    "\\",
    "\x00",
    "/",
    "//",
    "\uff0e\uff0e",
    "\u2024\u2024",
    ".\u0307",
    "..\u200b",
    "outside",
    "secret.txt",
    "link_dir_out",
    "link_out.txt",
    "sub",
    "hello.txt",
    "C:",
    "~",
    "\udcff",
    "\u00e9",
]


@EXAMPLES
@given(pieces=st.lists(st.sampled_from(_PIECES), max_size=10), absolute=st.booleans())
def test_no_path_reads_outside_the_root(
    static: Caller, site: Site, pieces: list[str], absolute: bool
) -> None:
    path = "/" + (str(site.outside) + "/" if absolute else "") + "".join(pieces)
    reply = static("GET", path, [])
    assert reply.status in {200, 301, 308, 400, 404, 405}, (path, reply)
    assert SECRET not in reply.body
    assert str(site.root) not in reply.body.decode("latin-1")
    assert str(site.outside) not in reply.body.decode("latin-1")


def test_very_long_path_is_404(static: Caller) -> None:
    assert static("GET", "/" + "a/" * 5000 + "x", []).status == 404
    assert static("GET", "/" + "x" * 100_000, []).status == 404


def test_etags_reveal_no_inode_path_or_mtime(static: Caller, site: Site) -> None:
    seen = 0
    for name in FILES:
        reply = static("GET", "/" + name, [])
        if reply.status != 200:
            continue
        seen += 1
        tag = ETag.parse(reply.header("etag") or "")
        stat = os.stat(site.root / name)
        secrets = {
            str(stat.st_ino),
            f"{stat.st_ino:x}",
            str(stat.st_mtime_ns),
            f"{stat.st_mtime_ns:x}",
            str(int(stat.st_mtime)),
            f"{int(stat.st_mtime):x}",
            name,
            Path(name).name,
            str(site.root),
        }
        # Short numbers (a small inode on tmpfs) occur in any hex digest by chance.
        leaked = {value for value in secrets if len(value) >= 6 and value in tag.opaque}
        assert not leaked, (name, str(tag), leaked)
    assert seen >= 5


def test_404_bodies_say_nothing(static: Caller, site: Site) -> None:
    missing = static("GET", "/no/such/file.txt", [])
    for path in ["/../outside/secret.txt", "/link_out.txt", "/sub", "/fifo"]:
        reply = static("GET", path, [])
        assert (reply.status, reply.body) == (404, missing.body), path
    assert b"no/such" not in missing.body
    assert str(site.root).encode() not in missing.body
