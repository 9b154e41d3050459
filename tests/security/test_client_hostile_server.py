"""The client against a malicious server (httpx.MockTransport plays the server).

* ``download`` writes only the target path (and its ``.part`` files beside
  it), whatever the server names; a bogus ``Content-Range`` never splices
  bytes from the wrong place or the wrong file;
* the cache never holds more than its byte budget, per entry or in all;
* ``update`` stops after its retries, and a hostile body is a ClientError.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ifmatch.client import (
    CachingTransport,
    ClientError,
    ConflictError,
    DownloadError,
    MemoryStorage,
    SQLiteStorage,
    download,
    update,
)

OLD = random.Random(1).randbytes(4000)
NEW = random.Random(2).randbytes(4000)
TAG = '"file-v1"'
URL = "http://hostile.test/file.bin"
Handler = Callable[[Any], Any]


def _client(http: ModuleType, handler: Handler) -> Any:
    return http.Client(transport=http.MockTransport(handler))


def _files(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def test_download_writes_only_the_target(http: ModuleType, tmp_path: Path) -> None:
    target_dir = tmp_path / "downloads"
    target_dir.mkdir()

    def handler(request: Any) -> Any:
        return http.Response(
            200,
            content=OLD,
            headers={
                "ETag": TAG,
                "Content-Disposition": 'attachment; filename="../../evil.sh"',
                "Content-Location": "/../../etc/passwd",
                "Location": "file:///etc/passwd",
            },
        )

    with _client(http, handler) as client:
        download(client, URL, target_dir / "out.bin")
    assert _files(tmp_path) == {"downloads", "downloads/out.bin"}
    assert (target_dir / "out.bin").read_bytes() == OLD


def _resume_setup(http: ModuleType, tmp_path: Path, have: int) -> Path:
    """A part holding OLD[:have] from a 200 that said ETag TAG, as an interrupted run leaves."""
    target = tmp_path / "out.bin"
    calls = iter([http.Response(200, content=OLD[:have], headers={"ETag": TAG})])
    with _client(http, lambda request: next(calls)) as client:
        # The body ends early: Content-Length is absent, so this "finishes"; undo the rename.
        download(client, URL, target)
    part = target.with_name("out.bin.part")
    target.rename(part)
    sidecar = {"url": URL, "etag": TAG, "last_modified": None, "date": None, "total": len(OLD)}
    target.with_name("out.bin.part.json").write_text(json.dumps(sidecar))
    return target


_NUMBER = st.one_of(
    st.integers(0, 5000).map(str), st.sampled_from(["*", "", "-1", "1e3", "99999999999999999999"])
)
_CONTENT_RANGE = st.one_of(
    st.tuples(
        st.sampled_from(["bytes ", "bytes=", "items ", "BYTES ", "bytes  "]),
        _NUMBER,
        _NUMBER,
        _NUMBER,
    ).map(lambda t: f"{t[0]}{t[1]}-{t[2]}/{t[3]}"),
    st.text(st.characters(max_codepoint=0x7E, min_codepoint=0x20), max_size=30),
    st.just("bytes 1000-3999/4000"),  # the honest answer, for contrast
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    content_range=_CONTENT_RANGE,
    same_file=st.booleans(),
    etag=st.sampled_from([None, '"file-v2"', 'W/"file-v1"', "same"]),
    extra=st.binary(max_size=20),
)
def test_bogus_content_range_never_splices(
    http: ModuleType,
    tmp_path_factory: pytest.TempPathFactory,
    content_range: str,
    same_file: bool,
    etag: str | None,
    extra: bytes,
) -> None:
    """Whatever the 206 says, the file ends as one whole version, or the download fails.

    The server holds ``current`` (OLD, or NEW when the file changed); the
    client has OLD[:1000].  The 206 body is what its Content-Range claims,
    taken from ``current`` (plus junk when the claim is unreadable).  The
    206's ETag is absent, another one, or the current file's ("same"); a
    server that sends the old file's strong ETag with new bytes is lying in
    a way no client can detect, so that case is not generated.
    """
    target = _resume_setup(http, tmp_path_factory.mktemp("splice"), 1000)
    current = OLD if same_file else NEW
    current_tag = TAG if same_file else '"file-v2"'
    etag = current_tag if etag == "same" else etag

    def handler(request: Any) -> Any:
        if "range" not in request.headers:
            return http.Response(200, content=current, headers={"ETag": current_tag})
        match = re.fullmatch(r"bytes (\d+)-(\d+)/.*", content_range)
        body = current[int(match[1]) : int(match[2]) + 1] if match else current[1000:] + extra
        headers = {"Content-Range": content_range, **({"ETag": etag} if etag else {})}
        return http.Response(206, content=body, headers=headers)

    with _client(http, handler) as client:
        try:
            download(client, URL, target, retries=1, retry_delay=0)
        except (DownloadError, http.HTTPError):
            assert not target.exists()
            return
    assert target.read_bytes() in {OLD, NEW}, "spliced"
    if not same_file:
        assert target.read_bytes() == NEW


def test_a_changed_file_without_validators_on_the_206_is_not_spliced(
    http: ModuleType, tmp_path: Path
) -> None:
    """A server that ignores If-Range and sends a bare 206 of the new file (§15.3.7 says a
    206 carries the ETag a 200 would) must not get its tail appended to the old head."""
    target = _resume_setup(http, tmp_path, 1000)

    def handler(request: Any) -> Any:
        if "range" not in request.headers:
            return http.Response(200, content=NEW, headers={"ETag": '"file-v2"'})
        return http.Response(
            206, content=NEW[1000:], headers={"Content-Range": "bytes 1000-3999/4000"}
        )

    with _client(http, handler) as client:
        download(client, URL, target)
    assert target.read_bytes() == NEW


def test_download_requests_are_bounded(http: ModuleType, tmp_path: Path) -> None:
    """A server that always answers a resume with an unusable 206 cannot loop the client."""
    target = _resume_setup(http, tmp_path, 1000)
    seen: list[httpx.Request] = []

    def handler(request: Any) -> Any:
        seen.append(request)
        return http.Response(206, content=b"x", headers={"Content-Range": "bytes 0-0/1"})

    with _client(http, handler) as client, pytest.raises(DownloadError):
        download(client, URL, target)
    assert len(seen) <= 2


def test_cache_entries_never_exceed_the_per_entry_budget(http: ModuleType, tmp_path: Path) -> None:
    """Each 304 adds new header fields; the merged entry must stay within max_entry_bytes."""
    counter = iter(range(10_000))

    def handler(request: Any) -> Any:
        pad = [(f"X-Pad-{next(counter)}", "p" * 1000) for _ in range(20)]
        if request.headers.get("if-none-match") == '"a"':
            return http.Response(304, headers=[("ETag", '"a"'), *pad])
        return http.Response(200, content=b"body", headers=[("ETag", '"a"')])

    for storage in (MemoryStorage(), SQLiteStorage(tmp_path / "cache.db")):
        transport = CachingTransport(http.MockTransport(handler), storage, max_entry_bytes=50_000)
        with http.Client(transport=transport) as client:
            for _ in range(10):
                assert client.get("http://hostile.test/r").content == b"body"
        assert storage.used_bytes <= 50_000, type(storage).__name__


def test_cache_budget_holds_against_many_large_responses(http: ModuleType) -> None:
    def handler(request: Any) -> Any:
        return http.Response(200, content=b"z" * 30_000, headers={"ETag": '"z"'})

    storage = MemoryStorage(max_bytes=100_000)
    transport = CachingTransport(http.MockTransport(handler), storage, max_entry_bytes=40_000)
    with http.Client(transport=transport) as client:
        for n in range(50):
            client.get(f"http://hostile.test/{n}")
        client.get("http://hostile.test/huge", headers={"Accept": "x"})
    assert storage.used_bytes <= 100_000
    assert len(storage) <= 3


def test_always_304_cannot_loop_the_cache(http: ModuleType) -> None:
    seen: list[httpx.Request] = []

    def handler(request: Any) -> Any:
        seen.append(request)
        if len(seen) == 1:
            return http.Response(200, content=b"v1", headers={"ETag": '"a"'})
        return http.Response(304, headers={"ETag": f'"other-{len(seen)}"'})

    transport = CachingTransport(http.MockTransport(handler), MemoryStorage())
    with http.Client(transport=transport) as client:
        client.get("http://hostile.test/r")
        client.get("http://hostile.test/r")
    assert len(seen) <= 3


def test_update_stops_after_its_retries(http: ModuleType) -> None:
    writes: list[httpx.Request] = []

    def handler(request: Any) -> Any:
        if request.method == "GET":
            return http.Response(200, json={"n": 0}, headers={"ETag": f'"v{len(writes)}"'})
        writes.append(request)
        return http.Response(412)

    with _client(http, handler) as client, pytest.raises(ConflictError):
        update(
            client,
            "http://hostile.test/doc",
            lambda doc: {**doc, "n": doc["n"] + 1},
            retries=3,
            backoff=None,
        )
    assert len(writes) == 4


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000],
    ids=["deep JSON", "truncated deep JSON"],
)
def test_update_turns_a_json_bomb_into_a_client_error(http: ModuleType, body: bytes) -> None:
    def handler(request: Any) -> Any:
        return http.Response(
            200, content=body, headers={"ETag": '"v1"', "Content-Type": "application/json"}
        )

    with _client(http, handler) as client, pytest.raises(ClientError):
        update(client, "http://hostile.test/doc", lambda doc: doc)


def test_a_content_coded_206_is_not_appended(http: ModuleType, tmp_path: Path) -> None:
    """The client asks for identity; a 206 in gzip holds bytes of another representation
    (RFC 9110 §8.4.1: ranges of a coded response are ranges of the coded bytes)."""
    import gzip

    target = _resume_setup(http, tmp_path, 1000)
    coded = gzip.compress(OLD[1000:], mtime=0)[:3000]  # sized to fit the claimed range

    def handler(request: Any) -> Any:
        if "range" not in request.headers:
            return http.Response(200, content=OLD, headers={"ETag": TAG})
        # A stream, not content=: the client must see the coded bytes as a socket gives them.
        return http.Response(
            206,
            stream=http.ByteStream(coded),
            headers={
                "ETag": TAG,
                "Content-Encoding": "gzip",
                "Content-Length": str(len(coded)),
                "Content-Range": "bytes 1000-3999/4000",
            },
        )

    with _client(http, handler) as client:
        try:
            download(client, URL, target)
        except DownloadError:
            assert not target.exists()
            return
    assert target.read_bytes() == OLD
