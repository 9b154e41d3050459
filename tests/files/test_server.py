"""A real server: StaticFiles under uvicorn, checked with httpx and curl.

A download resumed with If-Range is byte-identical to the file when it did
not change, and when it did change the server sends the whole new file
(200), never a splice of the two versions.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.util import FileWrapper

import httpx
import pytest

from ifmatch import wsgi_files
from tests.support.servers import unavailable, uvicorn_app

pytestmark = pytest.mark.slow

SIZE = 3 * 1024 * 1024 + 17
VERSION_ONE = random.Random(1).randbytes(SIZE)
VERSION_TWO = random.Random(2).randbytes(SIZE)  # same size: only the validators tell them apart


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("served")
    (root / "video.bin").write_bytes(VERSION_ONE)
    os.utime(root / "video.bin", (1_700_000_000, 1_700_000_000))
    with uvicorn_app("tests.files.server_app:app", env={"IFMATCH_FILES_ROOT": str(root)}) as base:
        yield f"{base}/files", root


def replace(root: Path, content: bytes, mtime: int) -> None:
    """Deploy a new version the safe way: write aside, then rename over."""
    fresh = root / ".video.tmp"
    fresh.write_bytes(content)
    os.utime(fresh, (mtime, mtime))
    os.replace(fresh, root / "video.bin")


def test_resumed_download_with_if_range(server: tuple[str, Path]) -> None:
    base, root = server
    with httpx.Client(timeout=30) as client:
        first = client.get(f"{base}/video.bin", headers={"Range": "bytes=0-999999"})
        assert first.status_code == 206
        etag = first.headers["etag"]
        assert first.headers["cache-control"] == "no-cache"
        # Unchanged: the rest comes as a 206 and the pieces make the file.
        rest = client.get(
            f"{base}/video.bin", headers={"Range": "bytes=1000000-", "If-Range": etag}
        )
        assert rest.status_code == 206
        assert rest.headers["content-range"] == f"bytes 1000000-{SIZE - 1}/{SIZE}"
        assert first.content + rest.content == VERSION_ONE
        # Changed in between (same size!): If-Range fails, the whole new file comes as a 200.
        replace(root, VERSION_TWO, 1_700_000_100)
        try:
            again = client.get(
                f"{base}/video.bin", headers={"Range": "bytes=1000000-", "If-Range": etag}
            )
            assert again.status_code == 200
            assert again.content == VERSION_TWO
            assert again.headers["etag"] != etag
            # 304 and HEAD on the real server.
            new_etag = again.headers["etag"]
            assert (
                client.get(f"{base}/video.bin", headers={"If-None-Match": new_etag}).status_code
                == 304
            )
            head = client.head(f"{base}/video.bin")
            assert head.headers["content-length"] == str(SIZE)
            assert head.content == b""
            assert client.get(f"{base}/%2e%2e/{root.name}/video.bin").status_code == 404
        finally:
            replace(root, VERSION_ONE, 1_700_000_000)


def test_curl_resume_with_if_range(server: tuple[str, Path], tmp_path: Path) -> None:
    """curl sends If-Range when told to (curl -C - alone does not: see docs)."""
    curl = shutil.which("curl")
    if curl is None:
        unavailable("curl is not installed (scripts/system-deps.sh installs it)")
        return
    base, _ = server
    url = f"{base}/video.bin"
    head = subprocess.run([curl, "-sfI", url], capture_output=True, text=True, check=True)
    etag = next(
        line.split(":", 1)[1].strip()
        for line in head.stdout.splitlines()
        if line.lower().startswith("etag:")
    )
    part = tmp_path / "part"
    subprocess.run([curl, "-sf", "-r", "0-1234566", "-o", str(part), url], check=True, timeout=60)
    assert part.stat().st_size == 1234567
    rest = tmp_path / "rest"
    subprocess.run(
        [curl, "-sf", "-r", "1234567-", "-H", f"If-Range: {etag}", "-o", str(rest),
         "-w", "%{http_code}", url],
        check=True, timeout=60, capture_output=True,
    )  # fmt: skip
    assert part.read_bytes() + rest.read_bytes() == VERSION_ONE


def test_wsgi_file_wrapper_under_a_real_wsgi_server(tmp_path: Path) -> None:
    """wsgiref offers ``wsgi.file_wrapper``: the whole file goes through it, ranges do not."""
    (tmp_path / "video.bin").write_bytes(VERSION_ONE)
    wrapped: list[object] = []

    class Recording(FileWrapper):
        def __init__(self, filelike: Any, blksize: int = 8192) -> None:
            wrapped.append(filelike)
            super().__init__(filelike, blksize)

    class Handler(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    app = wsgi_files.StaticFiles(tmp_path)

    def with_recording(environ: dict[str, Any], start_response: Any) -> Any:
        environ["wsgi.file_wrapper"] = Recording
        return app(environ, start_response)

    with make_server("127.0.0.1", 0, with_recording, handler_class=Handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{httpd.server_port}/video.bin"
            with httpx.Client(timeout=30) as client:
                whole = client.get(url)
                assert whole.content == VERSION_ONE
                assert len(wrapped) == 1
                etag = whole.headers["etag"]
                part = client.get(url, headers={"Range": "bytes=-100", "If-Range": etag})
                assert part.status_code == 206
                assert part.content == VERSION_ONE[-100:]
                assert len(wrapped) == 1
        finally:
            httpd.shutdown()
            thread.join(10)
