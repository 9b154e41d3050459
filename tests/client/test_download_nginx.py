"""The downloader against nginx serving a static file: a real server no one here wrote.

nginx's ETag for a static file is ``"<mtime hex>-<size hex>"``, strong, and
it honours If-Range by ETag; so an interrupted download resumes with a 206,
and one whose file changed on disk gets a 200 and restarts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from ifmatch.client import download
from tests.support.servers import nginx_serving

pytestmark = pytest.mark.slow

FIRST = os.urandom(3 * 1024 * 1024)
SECOND = os.urandom(2 * 1024 * 1024 + 17)


class Interrupted(Exception):
    """Raised by the progress callback to cut a download short."""


def stop_after(limit: int) -> Callable[[int, int | None], None]:
    def progress(done: int, total: int | None) -> None:
        if done >= limit:
            raise Interrupted

    return progress


def test_resume_from_nginx_is_byte_identical(http: ModuleType, tmp_path: Path) -> None:
    root = tmp_path / "www"
    root.mkdir()
    (root / "big.bin").write_bytes(FIRST)
    target = tmp_path / "out.bin"
    with nginx_serving(root) as base, http.Client(base_url=base) as client:
        with pytest.raises(Interrupted):
            download(
                client, "/big.bin", target, progress=stop_after(len(FIRST) // 2), chunk_size=16384
            )
        kept = Path(f"{target}.part").stat().st_size
        assert 0 < kept < len(FIRST)
        requests: list[httpx.Request] = []
        client.event_hooks["request"] = [requests.append]
        result = download(client, "/big.bin", target)
    assert target.read_bytes() == FIRST
    assert result.resumed_from == kept
    assert not result.restarted
    assert requests[0].headers["range"] == f"bytes={kept}-"
    assert requests[0].headers["if-range"] == result.etag
    assert result.etag is not None
    assert "-" in result.etag
    assert not result.etag.startswith("W/")


def test_file_changed_on_disk_restarts_and_matches_the_new_file(
    http: ModuleType, tmp_path: Path
) -> None:
    root = tmp_path / "www"
    root.mkdir()
    source = root / "big.bin"
    source.write_bytes(FIRST)
    target = tmp_path / "out.bin"
    with nginx_serving(root) as base, http.Client(base_url=base) as client:
        with pytest.raises(Interrupted):
            download(
                client, "/big.bin", target, progress=stop_after(len(FIRST) // 2), chunk_size=16384
            )
        first_etag = client.head("/big.bin").headers["etag"]
        source.write_bytes(SECOND)
        later = time.time() + 5
        os.utime(source, (later, later))  # nginx's ETag is mtime-size: make the mtime differ
        statuses: list[int] = []
        client.event_hooks["response"] = [lambda response: statuses.append(response.status_code)]
        result = download(client, "/big.bin", target)
    assert target.read_bytes() == SECOND
    assert result.restarted
    assert result.etag != first_etag
    assert statuses == [200], "If-Range failed, so nginx sent the whole new file"
