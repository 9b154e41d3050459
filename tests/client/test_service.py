"""The client against the reference service (`ifmatch serve`, two worker processes).

Races between clients, 428 on unguarded writes, revalidation, and a
download of a file that changes on the service between attempts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ifmatch.client import (
    AlreadyExistsError,
    Backoff,
    CachingTransport,
    ConflictError,
    SQLiteStorage,
    create,
    delete,
    download,
    poll,
    update,
    was_revalidated,
)
from tests.support.servers import serving

pytestmark = pytest.mark.slow
FAST = Backoff(base=0.005, cap=0.05)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("service") / "service.db"
    with serving(f"sqlite:///{database}", "--workers", "2") as base:
        yield base


@pytest.mark.parametrize("patch", [False, True], ids=["PUT", "PATCH merge-patch"])
def test_update_race_against_the_service(http: ModuleType, service: str, patch: bool) -> None:
    """Four clients read the same version, each adds its key; all four keys are stored."""
    url = f"/api/race/{http.__name__}-{'patch' if patch else 'put'}"
    keys = ["a", "b", "c", "d"]
    barrier = threading.Barrier(len(keys))
    attempts: list[int] = []
    with http.Client(base_url=service) as client:
        create(client, url, {"start": True})

    def run(key: str) -> None:
        calls = 0

        def change(document: dict[str, Any]) -> dict[str, Any]:
            nonlocal calls
            calls += 1
            if calls == 1:
                barrier.wait(timeout=20)
            return {**document, key: calls}

        with http.Client(base_url=service) as own:
            attempts.append(
                update(own, url, change, patch=patch, backoff=FAST, retries=10).attempts
            )

    threads = [threading.Thread(target=run, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with http.Client(base_url=service) as client:
        final = client.get(url).json()
    assert set(final) == {"start", *keys}
    assert 1 in attempts, "one writer wins the first round"
    assert max(attempts) > 1, "the others saw 412 and re-applied their change"


def test_unguarded_write_gets_428_and_create_only_refuses_to_overwrite(
    http: ModuleType, service: str
) -> None:
    with http.Client(base_url=service) as client:
        create(client, f"/api/guard/{http.__name__}", {"v": 1})
        assert client.put(f"/api/guard/{http.__name__}", json={"v": 2}).status_code == 428
        with pytest.raises(AlreadyExistsError) as caught:
            create(client, f"/api/guard/{http.__name__}", {"v": 3})
        assert caught.value.current is not None
        assert caught.value.current.document == {"v": 1}


def test_conditional_delete_against_the_service(http: ModuleType, service: str) -> None:
    with http.Client(base_url=service) as client:
        first = create(client, f"/api/del/{http.__name__}", {"v": 1})
        update(client, f"/api/del/{http.__name__}", lambda d: {"v": 2})
        with pytest.raises(ConflictError):
            delete(client, f"/api/del/{http.__name__}", first.etag)
        delete(client, f"/api/del/{http.__name__}")
        assert client.get(f"/api/del/{http.__name__}").status_code == 404


def test_revalidation_against_the_service(http: ModuleType, service: str) -> None:
    with http.Client(base_url=service, transport=CachingTransport()) as client:
        create(client, f"/api/cache/{http.__name__}", {"big": "y" * 10_000})
        first = client.get(f"/api/cache/{http.__name__}")
        second = client.get(f"/api/cache/{http.__name__}")
        update(client, f"/api/cache/{http.__name__}", lambda d: {"big": "z"})
        third = client.get(f"/api/cache/{http.__name__}")
    assert not was_revalidated(first)
    assert was_revalidated(second)
    assert second.json() == first.json()
    assert third.json() == {"big": "z"}


def test_download_from_the_service_restarts_when_the_file_changed(
    http: ModuleType, service: str, tmp_path: Path
) -> None:
    old, new = b"o" * 300_000, b"n" * 200_000
    target = tmp_path / "file.bin"

    def stop(done: int, total: int | None) -> None:
        if done >= 100_000:
            raise KeyboardInterrupt

    url = f"/files/dl/{http.__name__}.bin"
    with http.Client(base_url=service) as client:
        assert client.put(url, content=old, headers={"If-None-Match": "*"}).status_code == 201
        with pytest.raises(KeyboardInterrupt):
            download(client, url, target, progress=stop, chunk_size=16384)
        resumed = download(client, url, target)
        assert target.read_bytes() == old
        assert resumed.resumed_from > 0
        etag = client.head(url).headers["etag"]
        with pytest.raises(KeyboardInterrupt):
            download(client, url, target, progress=stop, chunk_size=16384)
        assert client.put(url, content=new, headers={"If-Match": etag}).status_code in {200, 204}
        result = download(client, url, target)
    assert target.read_bytes() == new
    assert result.restarted


def test_poll_through_a_warm_shared_cache_yields_the_current_version_first(
    http: ModuleType, service: str, tmp_path: Path
) -> None:
    """Issue 14: a second program with the same SQLite cache file polled and got ``[]``.

    The first program reads the document through the cache file; the second
    opens the same file and polls: its first response is a revalidated copy
    (304 on the wire), and it is still the current version, so it comes first;
    a write by someone else is the next one.
    """
    url = f"/api/poll/{http.__name__}"
    cache = tmp_path / "shared.sqlite"
    first_program = SQLiteStorage(cache)
    with http.Client(base_url=service, transport=CachingTransport(storage=first_program)) as one:
        create(one, url, {"v": 1})
        assert one.get(url).json() == {"v": 1}
    first_program.close()

    second_program = SQLiteStorage(cache)
    seen: list[Any] = []
    revalidated: list[bool] = []
    try:
        with http.Client(
            base_url=service, transport=CachingTransport(storage=second_program)
        ) as two:
            for response in poll(two, url, 0, max_changes=2, max_requests=10):
                seen.append(response.json())
                revalidated.append(was_revalidated(response))
                if len(seen) == 1:
                    with http.Client(base_url=service) as other:
                        update(other, url, lambda d: {"v": 2})
    finally:
        second_program.close()
    assert seen == [{"v": 1}, {"v": 2}]
    assert revalidated[0], "the first one came from the shared cache after a 304"
