"""The same requests to our StaticFiles/FileResponse and to Starlette's, side by side.

Each row is a case where Starlette (as installed, 1.x) answers differently
from RFC 9110 and we answer as the RFC says.  The Starlette column records
its observed answer: if Starlette fixes one, its assertion fails, and the
comparison table in docs/integrations/files.md is to be updated.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from starlette.responses import FileResponse as StarletteFileResponse
from starlette.staticfiles import StaticFiles as StarletteStaticFiles

from ifmatch import asgi_files
from tests.files.conftest import BIG, MTIME_NS, Call, Site, asgi_caller

# fmt: off
ROWS = [
    pytest.param({"Range": "bytes=0-9, 300000-"}, 206, 416,
                 id="§14.1.1 one satisfiable range of two -> 206 (Starlette: 416)"),
    pytest.param({"Range": "bytes=0-0, -0"}, 206, 416,
                 id="§14.1.1 satisfiable + empty suffix -> 206 (Starlette: 416)"),
    pytest.param({"If-Match": '"stale"'}, 412, 200,
                 id="§13.1.1 stale If-Match -> 412 (Starlette ignores it: 200)"),
    pytest.param({"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}, 412, 200,
                 id="§13.1.4 If-Unmodified-Since before the change -> 412 (Starlette: 200)"),
    pytest.param({"If-None-Match": '"a,b", {etag}'}, 304, 304,
                 id='§13.1.2 "a,b", current -> 304 (both)'),
    pytest.param({"If-None-Match": "*"}, 304, 304, id="§13.1.2 * -> 304 (both)"),
]
# fmt: on


@pytest.fixture(scope="module")
def pair(site: Site) -> tuple[Call, Call]:
    ours = asgi_caller(asgi_files.StaticFiles(site.root))
    theirs = asgi_caller(StarletteStaticFiles(directory=site.root))
    return ours, theirs


@pytest.mark.parametrize(("request_headers", "rfc", "starlette"), ROWS)
def test_static_files_against_starlette(
    pair: tuple[Call, Call], request_headers: dict[str, str], rfc: int, starlette: int
) -> None:
    for call, expected in zip(pair, (rfc, starlette), strict=True):
        etag = call("HEAD", "/big.bin").headers["etag"]
        headers = {name: value.replace("{etag}", etag) for name, value in request_headers.items()}
        answer = call("GET", "/big.bin", headers)
        assert answer.status == expected, "Starlette changed? update docs/integrations/files.md"
        if answer.status == 206:
            assert answer.body == BIG[:10] or answer.body == BIG[:1]


def test_if_range_date_of_a_file_modified_this_second(tmp_path: Path) -> None:
    """§13.1.5/§8.8.2.2: a Last-Modified less than a second old is weak: no 206 on it.

    Starlette compares the date string and sends the 206, which can splice
    two versions written within the same second.
    """
    (tmp_path / "new.bin").write_bytes(BIG)  # mtime: now
    ours = asgi_caller(asgi_files.StaticFiles(tmp_path))
    theirs = asgi_caller(StarletteStaticFiles(directory=tmp_path))
    for call, expected in ((ours, 200), (theirs, 206)):
        last_modified = call("HEAD", "/new.bin").headers["last-modified"]
        answer = call("GET", "/new.bin", {"Range": "bytes=0-9", "If-Range": last_modified})
        assert answer.status == expected


def test_file_response_alone_answers_conditional_requests(site: Site) -> None:
    """Starlette's FileResponse outside StaticFiles never sends 304 or 412; ours does."""
    path = site.root / "big.bin"
    assert os.stat(path).st_mtime_ns == MTIME_NS
    ours = asgi_caller(asgi_files.FileResponse(path))
    theirs = asgi_caller(StarletteFileResponse(path))
    for call, (not_modified, failed) in ((ours, (304, 412)), (theirs, (200, 200))):
        etag = call("HEAD", "/").headers["etag"]
        assert call("GET", "/", {"If-None-Match": etag}).status == not_modified
        assert call("GET", "/", {"If-Match": '"stale"'}).status == failed
