"""ifmatch's ASGI file apps as a one-line import swap for Starlette's, and inside FastAPI.

``from starlette.staticfiles import StaticFiles`` -> ``from ifmatch.asgi_files import
StaticFiles`` must keep ``directory=`` and ``html=True`` (index.html, the redirect to the
slash, 404.html) working; Starlette's ``FileResponse`` arguments must be accepted, and a
FastAPI path operation may return ifmatch's ``FileResponse`` as it would Starlette's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import BackgroundTasks, FastAPI
from starlette.applications import Starlette
from starlette.responses import FileResponse as StarletteFileResponse
from starlette.responses import Response as StarletteResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles as StarletteStaticFiles

from ifmatch import asgi_files
from tests.files.conftest import asgi_caller

PAGES = {
    "index.html": b"<h1>home</h1>\n",
    "docs/index.html": b"<h1>docs</h1>\n",
    "docs/guide.html": b"<h1>guide</h1>\n",
    "404.html": b"<h1>not found</h1>\n",
    "notes.txt": b"plain notes\n",
}


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pages")
    for name, content in PAGES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    (root / "empty-dir").mkdir()
    return root


def _mounted(app: object) -> Starlette:
    return Starlette(routes=[Mount("/site", app=app)])  # type: ignore[arg-type]


# (path, status, body or None for "whatever Starlette sends", location)
HTML_ROWS = [
    ("/site/", 200, PAGES["index.html"], None),
    ("/site", 307, None, "/site/"),
    ("/site/docs/", 200, PAGES["docs/index.html"], None),
    ("/site/docs", 307, None, "/site/docs/"),
    ("/site/docs?x=1", 307, None, "/site/docs/?x=1"),
    ("/site/docs/guide.html", 200, PAGES["docs/guide.html"], None),
    ("/site/nope.html", 404, PAGES["404.html"], None),
    ("/site/empty-dir/", 404, PAGES["404.html"], None),
]


@pytest.mark.parametrize(("path", "status", "body", "location"), HTML_ROWS)
def test_html_mode_answers_as_starlettes(
    pages: Path, path: str, status: int, body: bytes | None, location: str | None
) -> None:
    ours = asgi_caller(_mounted(asgi_files.StaticFiles(directory=pages, html=True)))
    theirs = asgi_caller(_mounted(StarletteStaticFiles(directory=pages, html=True)))
    mine, reference = ours("GET", path), theirs("GET", path)
    assert (mine.status, reference.status) == (status, status)
    if body is not None:
        assert mine.body == reference.body == body
    if location is not None:
        # Starlette's is absolute; ours is the path (RFC 9110 §10.2.2 allows a reference).
        assert mine.headers["location"].endswith(location)
        assert reference.headers["location"].endswith(location)
    if status == 200:
        revalidated = ours("GET", path, {"If-None-Match": mine.headers["etag"]})
        assert revalidated.status == 304
    if status == 404:
        assert "etag" not in mine.headers  # no validators on an error page (§13.2.1)
        assert ours("GET", path, {"If-None-Match": "*"}).status == 404
        head = ours("HEAD", path)
        assert (head.status, head.body) == (404, b"")
        assert head.headers["content-length"] == str(len(PAGES["404.html"]))


def test_a_refused_path_in_html_mode_is_the_404_page(pages: Path) -> None:
    call = asgi_caller(_mounted(asgi_files.StaticFiles(directory=pages, html=True)))
    for path in ("/site/%2e%2e/notes.txt", "/site/docs/%2e%2e/%2e%2e/etc/passwd"):
        answer = call("GET", path)
        assert (answer.status, answer.body) == (404, PAGES["404.html"])


def test_without_html_mode_nothing_is_guessed(pages: Path) -> None:
    call = asgi_caller(_mounted(asgi_files.StaticFiles(directory=pages)))
    assert call("GET", "/site/").status == 404
    assert call("GET", "/site/docs").status == 404
    missing = call("GET", "/site/nope.html")
    assert missing.status == 404
    assert missing.body != PAGES["404.html"]


def test_a_redirect_never_leaves_the_site(pages: Path) -> None:
    """``//host/dir`` must not become a ``Location: //host/dir/`` (another site)."""
    call = asgi_caller(asgi_files.StaticFiles(directory=pages, html=True))
    for path in ("//docs", "/docs"):
        answer = call("GET", path)
        assert not answer.headers.get("location", "/").startswith("//")


def test_constructor_takes_starlettes_names(pages: Path, tmp_path: Path) -> None:
    assert asgi_files.StaticFiles(directory=pages).directory == pages
    assert asgi_files.StaticFiles(pages).root == pages
    asgi_files.StaticFiles(directory=tmp_path / "later", check_dir=False)
    with pytest.raises(ValueError, match="not a directory"):
        asgi_files.StaticFiles(directory=tmp_path / "absent")
    with pytest.raises(TypeError, match="directory"):
        asgi_files.StaticFiles()
    with pytest.raises(ValueError, match="outside"):
        asgi_files.StaticFiles(directory=pages, follow_symlink=True)
    with pytest.raises(TypeError, match="packages"):
        asgi_files.StaticFiles(directory=pages, packages=["bootstrap4"])


def test_file_response_takes_starlettes_arguments(pages: Path) -> None:
    path = pages / "notes.txt"
    # Positional, in Starlette's order: path, status_code, headers, media_type, background,
    # filename.
    response = asgi_files.FileResponse(
        path,
        200,
        {"X-Kind": "notes"},
        "text/x-notes",
        None,
        "notes.txt",
        content_disposition_type="inline",
    )
    answer = asgi_caller(response)("GET", "/")
    assert answer.status == 200
    assert answer.body == PAGES["notes.txt"]
    assert answer.headers["x-kind"] == "notes"
    assert answer.headers["content-type"] == "text/x-notes"
    assert answer.headers["content-disposition"] == 'inline; filename="notes.txt"'
    theirs = asgi_caller(StarletteFileResponse(path, filename="notes.txt"))("GET", "/")
    ours = asgi_caller(asgi_files.FileResponse(path, filename="notes.txt"))("GET", "/")
    assert ours.headers["content-disposition"] == theirs.headers["content-disposition"]
    assert ours.headers["content-type"] == theirs.headers["content-type"]


def test_file_response_with_another_status_sends_the_whole_file(pages: Path) -> None:
    call = asgi_caller(asgi_files.FileResponse(pages / "404.html", status_code=404))
    answer = call("GET", "/", {"If-None-Match": "*", "Range": "bytes=0-3"})
    assert answer.status == 404
    assert answer.body == PAGES["404.html"]
    assert "etag" not in answer.headers


def test_fastapi_path_operation_returns_a_file_response(pages: Path) -> None:
    """A path operation returning it gets the file, not a JSON dump of the object (which
    would include its filesystem path); headers set on it and background tasks behave as
    with Starlette's FileResponse."""
    ran: list[str] = []
    app = FastAPI()

    @app.get("/notes")
    def notes(tasks: BackgroundTasks) -> asgi_files.FileResponse:
        response = asgi_files.FileResponse(pages / "notes.txt", media_type="text/plain")
        response.headers["Cache-Control"] = "no-cache"
        response.set_cookie("seen", "1")
        tasks.add_task(ran.append, "after")
        return response

    call = asgi_caller(app)
    answer = call("GET", "/notes")
    assert answer.status == 200
    assert answer.body == PAGES["notes.txt"]
    assert str(pages) not in answer.body.decode()
    assert answer.headers["cache-control"] == "no-cache"
    assert answer.headers["set-cookie"].startswith("seen=1")
    assert ran == ["after"]
    revalidated = call("GET", "/notes", {"If-None-Match": answer.headers["etag"]})
    assert revalidated.status == 304
    assert revalidated.headers["cache-control"] == "no-cache"
    assert revalidated.body == b""
    ranged = call("GET", "/notes", {"Range": "bytes=0-4"})
    assert (ranged.status, ranged.body) == (206, b"plain")
    assert isinstance(asgi_files.FileResponse(pages / "notes.txt"), StarletteResponse)
    assert "/notes" in app.openapi()["paths"]


def test_plain_asgi_without_starlette(pages: Path) -> None:
    """Starlette is optional: without it FileResponse is a plain ASGI app that still works."""
    script = f"""
import asyncio, sys
sys.modules["starlette"] = None
from ifmatch import asgi_files
sent = []
async def receive():
    return {{"type": "http.request", "body": b"", "more_body": False}}
async def send(message):
    sent.append(message)
scope = {{"type": "http", "method": "GET", "path": "/", "headers": []}}
asyncio.run(asgi_files.FileResponse({str(pages / "notes.txt")!r})(scope, receive, send))
assert sent[0]["status"] == 200, sent
assert b"".join(m.get("body", b"") for m in sent[1:]) == {PAGES["notes.txt"]!r}
print(asgi_files.FileResponse.__mro__[1].__module__)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ifmatch.asgi_files"
