"""A small site on disk, and one way to call the ASGI and the WSGI file apps alike.

Every mtime is fixed in the past, so dates compare deterministically and
``If-Range`` dates are strong (§8.8.2.2).  Outside the root sits a secret
that no request may ever read, and symlinks point at it from inside.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from werkzeug.test import Client

from ifmatch import asgi_files, wsgi_files

#: 2023-11-14T22:13:20.123456789Z: a sub-second mtime, long past.
MTIME_NS = 1_700_000_000_123_456_789
LAST_MODIFIED = "Tue, 14 Nov 2023 22:13:20 GMT"
SECRET = b"TOP-SECRET outside the root\n"
BIG = random.Random(7).randbytes(200_000)
FILES: dict[str, bytes] = {
    "hello.txt": b"Hello, conditional world!\n",
    "big.bin": BIG,
    "empty.txt": b"",
    "page.html": b"<p>hi</p>\n",
    "data.unknownext": b"\x00\x01\x02",
    "sub/nested.json": b'{"a": 1}\n',
    ".hidden": b"hidden\n",
    "caf\u00e9 menu.txt": "caf\u00e9\n".encode(),
    "%2e%2e": b"a file literally named %2e%2e\n",
}


@dataclass(frozen=True)
class Site:
    """The paths of the test site."""

    root: Path
    outside: Path

    def content(self, name: str) -> bytes:
        return (self.root / name).read_bytes()


def build_site(base: Path) -> Site:
    """Write the site below ``base``: ``root/`` is served, ``outside/`` must never be."""
    root, outside = base / "root", base / "outside"
    outside.mkdir(parents=True)
    (outside / "secret.txt").write_bytes(SECRET)
    for name, content in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (root / "link_in.txt").symlink_to(root / "hello.txt")
    (root / "link_out.txt").symlink_to(outside / "secret.txt")
    (root / "link_dir_out").symlink_to(outside, target_is_directory=True)
    (root / "link_rel_out.txt").symlink_to(Path("..") / "outside" / "secret.txt")
    os.mkfifo(root / "fifo")
    for path in [*root.rglob("*"), outside / "secret.txt"]:
        if path.is_file() and not path.is_symlink():
            os.utime(path, ns=(MTIME_NS, MTIME_NS))
    return Site(root, outside)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """A read-only site shared by a module's tests."""
    return build_site(tmp_path_factory.mktemp("site"))


@pytest.fixture
def fresh_site(tmp_path: Path) -> Site:
    """A site a test may change."""
    return build_site(tmp_path)


@dataclass(frozen=True)
class Answer:
    """A response, whichever protocol served it."""

    status: int
    headers: httpx.Headers
    body: bytes


Call = Callable[..., Answer]


def asgi_caller(app: object) -> Call:
    """Requests through ``httpx.ASGITransport``.

    (Starlette's TestClient would do, but it percent-decodes the path twice:
    ``/%252e%252e`` arrives as ``/..``, which hides the single decoding we test.)
    """

    async def request(method: str, path: str, headers: Mapping[str, str]) -> Answer:
        transport = httpx.ASGITransport(app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.request(method, path, headers=dict(headers))
            return Answer(response.status_code, response.headers, response.content)

    def call(method: str, path: str, headers: Mapping[str, str] | None = None) -> Answer:
        return asyncio.run(request(method, path, headers or {}))

    return call


def wsgi_caller(app: object) -> Call:
    """Requests through Werkzeug's test Client."""
    client = Client(app)  # type: ignore[arg-type]

    def call(method: str, path: str, headers: Mapping[str, str] | None = None) -> Answer:
        response = client.open(path, method=method, headers=dict(headers or {}))
        try:
            return Answer(
                response.status_code, httpx.Headers(list(response.headers.items())), response.data
            )
        finally:
            response.close()

    return call


@pytest.fixture(params=["asgi", "wsgi"])
def static(request: pytest.FixtureRequest, site: Site) -> Iterator[Call]:
    """``call(method, path, headers)`` against StaticFiles(site.root), ASGI then WSGI."""
    if request.param == "asgi":
        yield asgi_caller(asgi_files.StaticFiles(site.root))
    else:
        yield wsgi_caller(wsgi_files.StaticFiles(site.root))
