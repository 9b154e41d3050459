"""Resumable downloads: Range + If-Range, Content-Range checks, never a spliced file."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from ifmatch.client import DownloadError, adownload, download
from ifmatch.client.httpx_compat import library_of
from tests.client.app import State
from tests.client.support import Scripted

OLD = bytes(range(256)) * 1024  # 256 KiB
NEW = bytes(reversed(range(256))) * 1200  # a different file, and a different length
HALF = len(OLD) // 2


def ranges_sent(state: State) -> list[tuple[str | None, str | None]]:
    return [(h.get("range"), h.get("if-range")) for _, path, h in state.log if "/files/" in path]


def test_interrupted_download_resumes_to_a_byte_identical_file(
    http: ModuleType, server: str, state: State, tmp_path: Path
) -> None:
    state.put_file("f", OLD)
    state.cut_after = HALF
    target = tmp_path / "f.bin"
    with http.Client(base_url=server) as client:
        with pytest.raises(DownloadError, match="kept"):
            download(client, "/files/f", target, retries=0)
        assert not target.exists()
        kept = Path(f"{target}.part").stat().st_size
        assert 0 < kept <= HALF, "what arrived before the cut is kept"
        sidecar = json.loads(Path(f"{target}.part.json").read_text())
        assert sidecar["url"] == "/files/f"
        assert sidecar["total"] == len(OLD)
        result = download(client, "/files/f", target)
    assert target.read_bytes() == OLD
    assert result.resumed_from == kept
    assert not result.restarted
    etag = sidecar["etag"]
    assert ranges_sent(state) == [(None, None), (f"bytes={kept}-", etag)]
    assert not Path(f"{target}.part").exists()
    assert not Path(f"{target}.part.json").exists()


def test_a_dropped_connection_is_resumed_within_one_call(
    http: ModuleType, server: str, state: State, tmp_path: Path
) -> None:
    state.put_file("f", OLD)
    state.cut_after = HALF
    seen: list[tuple[int, int | None]] = []
    with http.Client(base_url=server) as client:
        result = download(
            client, "/files/f", tmp_path / "f", progress=lambda d, t: seen.append((d, t))
        )
    assert (tmp_path / "f").read_bytes() == OLD
    assert result.requests == 2
    assert seen[-1] == (len(OLD), len(OLD))
    assert all(b[0] >= a[0] for a, b in itertools.pairwise(seen)), "never goes back"


def test_resumes_within_one_call_are_counted_in_the_result(
    http: ModuleType, server: str, state: State, tmp_path: Path
) -> None:
    """Issue 13 item 11: three requests and two resumes were reported as resumed_from=0."""
    state.put_file("f", OLD)
    state.cut_after = HALF // 2
    cuts = iter([HALF // 2])  # the first 206 is cut too, once

    def cut_again() -> None:
        state.cut_after = next(cuts, None)

    state.on_cut = cut_again
    with http.Client(base_url=server) as client:
        result = download(client, "/files/f", tmp_path / "f", retry_delay=0)
    assert (tmp_path / "f").read_bytes() == OLD
    assert result.requests == 3
    assert result.resumes == 2
    ranges = [r for r, _ in ranges_sent(state)]
    assert ranges[0] is None
    assert ranges[1] == f"bytes={result.resumed_from}-"
    assert 0 < result.resumed_from <= HALF // 2
    assert result.received == len(OLD), "every byte arrived once: none thrown away"
    assert not result.restarted
    assert result.summary().startswith(
        f"{len(OLD)} bytes; resumed 2 times, first at byte {result.resumed_from}"
    )


def test_source_changed_mid_way_restarts_and_matches_the_new_file(
    http: ModuleType, server: str, state: State, tmp_path: Path
) -> None:
    """curl -C - / wget -c would append NEW's tail to OLD's head; If-Range makes it a 200."""
    state.put_file("f", OLD)
    state.cut_after = HALF
    state.on_cut = lambda: state.put_file("f", NEW)
    target = tmp_path / "f.bin"
    with http.Client(base_url=server) as client:
        with pytest.raises(DownloadError):
            download(client, "/files/f", target, retries=0)
        result = download(client, "/files/f", target)
    assert target.read_bytes() == NEW
    assert result.restarted
    assert result.resumed_from == 0
    (first_range, _), (second_range, if_range) = ranges_sent(state)
    assert first_range is None
    assert second_range is not None
    assert second_range.startswith("bytes=")
    assert if_range is not None


def test_change_mid_way_is_handled_within_one_call(
    http: ModuleType, server: str, state: State, tmp_path: Path
) -> None:
    state.put_file("f", OLD)
    state.cut_after = HALF
    state.on_cut = lambda: state.put_file("f", NEW)
    with http.Client(base_url=server) as client:
        result = download(client, "/files/f", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == NEW
    assert result.restarted


def test_complete_part_answered_416_is_finished(
    http: ModuleType, server: str, state: State, tmp_path: Path
) -> None:
    """Interrupted after the last byte but before the rename: 416 + Content-Range */N."""
    state.put_file("f", OLD)
    target = tmp_path / "f"
    with http.Client(base_url=server) as client:
        etag = client.get("/files/f").headers["etag"]
        Path(f"{target}.part").write_bytes(OLD)
        Path(f"{target}.part.json").write_text(
            json.dumps({"url": "/files/f", "etag": etag, "total": len(OLD)})
        )
        result = download(client, "/files/f", target)
    assert target.read_bytes() == OLD
    assert result.resumed_from == len(OLD)
    assert ranges_sent(state)[-1] == (f"bytes={len(OLD)}-", etag)


def test_the_old_file_stays_in_place_until_the_new_one_is_whole(
    http: ModuleType, server: str, state: State, tmp_path: Path
) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"previous version")
    state.put_file("f", OLD)
    state.cut_after = HALF
    with http.Client(base_url=server) as client:
        with pytest.raises(DownloadError):
            download(client, "/files/f", target, retries=0)
        assert target.read_bytes() == b"previous version"
        download(client, "/files/f", target)
    assert target.read_bytes() == OLD


def test_a_progress_callback_that_raises_aborts_and_keeps_the_part(
    http: ModuleType, server: str, state: State, tmp_path: Path
) -> None:
    state.put_file("f", OLD)

    def stop(done: int, total: int | None) -> None:
        if done >= HALF:
            raise KeyboardInterrupt

    with http.Client(base_url=server) as client:
        with pytest.raises(KeyboardInterrupt):
            download(client, "/files/f", tmp_path / "f", progress=stop, chunk_size=8192)
        kept = Path(f"{tmp_path / 'f'}.part").stat().st_size
        assert HALF <= kept < len(OLD)
        result = download(client, "/files/f", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == OLD
    assert result.resumed_from == kept


# -- decisions, against scripted servers -----------------------------------------------------


def partial(target: Path, data: bytes, **sidecar: object) -> None:
    Path(f"{target}.part").write_bytes(data)
    Path(f"{target}.part.json").write_text(json.dumps({"url": "http://h/f", **sidecar}))


def test_weak_etag_cannot_be_used_with_if_range(http: ModuleType, tmp_path: Path) -> None:
    """§13.1.5: If-Range needs a strong validator; with a weak ETag only, start over."""
    partial(tmp_path / "f", b"abc", etag='W/"x"', total=6)
    mock = Scripted(http.Response(200, headers={"ETag": 'W/"x"'}, content=b"abcdef"))
    with http.Client(transport=mock) as client:
        result = download(client, "http://h/f", tmp_path / "f")
    assert "range" not in mock.seen[0].headers
    assert "if-range" not in mock.seen[0].headers
    assert (tmp_path / "f").read_bytes() == b"abcdef"
    assert result.restarted


@pytest.mark.parametrize(
    ("date", "used"),
    [
        pytest.param("Sun, 06 Nov 1994 08:49:40 GMT", True, id="§8.8.2.2 Date 3 s later: strong"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT", False, id="§8.8.2.2 same second: weak"),
    ],
)
def test_last_modified_as_if_range_only_when_strong(
    http: ModuleType, tmp_path: Path, date: str, used: bool
) -> None:
    modified = "Sun, 06 Nov 1994 08:49:37 GMT"
    partial(tmp_path / "f", b"abc", last_modified=modified, date=date, total=6)
    answer = (
        http.Response(206, headers={"Content-Range": "bytes 3-5/6"}, content=b"def")
        if used
        else http.Response(200, content=b"abcdef")
    )
    mock = Scripted(answer)
    with http.Client(transport=mock) as client:
        download(client, "http://h/f", tmp_path / "f")
    assert mock.seen[0].headers.get("if-range") == (modified if used else None)
    assert (tmp_path / "f").read_bytes() == b"abcdef"


@pytest.mark.parametrize(
    "content_range",
    [
        pytest.param("bytes 2-5/6", id="§14.4 starts before the part's end"),
        pytest.param("bytes 3-5/7", id="§14.4 total differs from the first response's"),
        pytest.param("bytes 3-9/6", id="§14.4 last-pos beyond the length"),
        pytest.param("bytes */6", id="§14.4 unsatisfied-range form on a 206"),
        pytest.param("", id="§15.3.7 206 without Content-Range"),
    ],
)
def test_inconsistent_206_is_never_appended(
    http: ModuleType, tmp_path: Path, content_range: str
) -> None:
    partial(tmp_path / "f", b"abc", etag='"x"', total=6)
    headers = {"Content-Range": content_range} if content_range else {}
    mock = Scripted(
        http.Response(206, headers=headers, content=b"cdef"),
        http.Response(200, headers={"ETag": '"x"'}, content=b"abcdef"),
    )
    with http.Client(transport=mock) as client:
        result = download(client, "http://h/f", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == b"abcdef"
    assert result.restarted
    assert "range" not in mock.seen[1].headers


def test_206_naming_another_etag_is_not_appended(http: ModuleType, tmp_path: Path) -> None:
    partial(tmp_path / "f", b"abc", etag='"x"', total=6)
    mock = Scripted(
        http.Response(206, headers={"Content-Range": "bytes 3-5/6", "ETag": '"y"'}, content=b"XYZ"),
        http.Response(200, headers={"ETag": '"y"'}, content=b"uvwXYZ"),
    )
    with http.Client(transport=mock) as client:
        download(client, "http://h/f", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == b"uvwXYZ"


def test_server_ignoring_range_restarts_without_splicing(http: ModuleType, tmp_path: Path) -> None:
    partial(tmp_path / "f", b"abc", etag='"x"', total=6)
    mock = Scripted(http.Response(200, headers={"ETag": '"x"'}, content=b"abcdef"))
    with http.Client(transport=mock) as client:
        download(client, "http://h/f", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == b"abcdef"


def test_sidecar_for_another_url_is_not_resumed(http: ModuleType, tmp_path: Path) -> None:
    partial(tmp_path / "f", b"abc", etag='"x"', total=6)
    mock = Scripted(http.Response(200, headers={"ETag": '"x"'}, content=b"123456"))
    with http.Client(transport=mock) as client:
        download(client, "http://h/other", tmp_path / "f")
    assert "range" not in mock.seen[0].headers
    assert (tmp_path / "f").read_bytes() == b"123456"


def test_206_shorter_than_asked_is_continued(http: ModuleType, tmp_path: Path) -> None:
    partial(tmp_path / "f", b"ab", etag='"x"', total=6)
    mock = Scripted(
        http.Response(206, headers={"Content-Range": "bytes 2-3/6", "ETag": '"x"'}, content=b"cd"),
        http.Response(206, headers={"Content-Range": "bytes 4-5/6", "ETag": '"x"'}, content=b"ef"),
    )
    with http.Client(transport=mock) as client:
        download(client, "http://h/f", tmp_path / "f")
    assert [r.headers["range"] for r in mock.seen] == ["bytes=2-", "bytes=4-"]
    assert (tmp_path / "f").read_bytes() == b"abcdef"


@pytest.mark.parametrize("status", [404, 500])
def test_error_status_is_a_download_error(http: ModuleType, tmp_path: Path, status: int) -> None:
    with (
        http.Client(transport=Scripted(http.Response(status))) as client,
        pytest.raises(DownloadError, match=str(status)),
    ):
        download(client, "http://h/f", tmp_path / "f")
    assert not (tmp_path / "f").exists()


# -- async -----------------------------------------------------------------------------------


class _Cut(httpx.AsyncBaseTransport):
    """Cuts the first response's body after ``limit`` bytes with the library's ReadError."""

    def __init__(self, inner: Any, limit: int) -> None:
        self.inner, self.limit = inner, limit

    async def handle_async_request(self, request: Any) -> Any:
        response = await self.inner.handle_async_request(request)
        if self.limit <= 0:
            return response
        limit, self.limit = self.limit, 0
        stream = response.stream
        library = library_of(response)
        assert isinstance(stream, library.AsyncByteStream)

        async def cut() -> AsyncIterator[bytes]:
            sent = 0
            async for chunk in stream:
                piece = chunk[: max(0, limit - sent)]
                sent += len(piece)
                if piece:
                    yield piece
                if sent >= limit:
                    raise library.ReadError("connection reset (test)")

        class _Stream(library.AsyncByteStream):  # type: ignore[misc,name-defined]
            def __aiter__(self) -> AsyncIterator[bytes]:
                return cut()

        return library.Response(
            response.status_code,
            headers=response.headers.multi_items(),
            stream=_Stream(),
            extensions=response.extensions,
        )


@pytest.mark.asyncio
async def test_async_download_resumes_byte_identical(
    http: ModuleType, app: Starlette, state: State, tmp_path: Path
) -> None:
    state.put_file("f", OLD)
    transport = _Cut(http.ASGITransport(app), HALF)
    async with http.AsyncClient(transport=transport, base_url="http://test") as client:
        with pytest.raises(DownloadError):
            await adownload(client, "/files/f", tmp_path / "f", retries=0)
        result = await adownload(client, "/files/f", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == OLD
    assert result.resumed_from == HALF


@pytest.mark.asyncio
async def test_async_download_restarts_when_the_source_changed(
    http: ModuleType, app: Starlette, state: State, tmp_path: Path
) -> None:
    state.put_file("f", OLD)
    transport = _Cut(http.ASGITransport(app), HALF)
    async with http.AsyncClient(transport=transport, base_url="http://test") as client:
        with pytest.raises(DownloadError):
            await adownload(client, "/files/f", tmp_path / "f", retries=0)
        state.put_file("f", NEW)
        result = await adownload(client, "/files/f", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == NEW
    assert result.restarted
    assert os.listdir(tmp_path) == ["f"]


def test_two_downloads_of_one_path_do_not_interleave(
    http: ModuleType, server: str, state: State, tmp_path: Path
) -> None:
    """While one download holds the part, another of the same path stops with a clear error."""
    state.put_file("f", OLD)
    target = tmp_path / "f"
    errors: list[str] = []

    def second(done: int, total: int | None) -> None:
        if done and not errors:
            with http.Client(base_url=server) as other:
                try:
                    download(other, "/files/f", target)
                except DownloadError as error:
                    errors.append(str(error))

    with http.Client(base_url=server) as client:
        download(client, "/files/f", target, progress=second, chunk_size=16384)
    assert target.read_bytes() == OLD
    assert errors
    assert "another download is writing it" in errors[0]
