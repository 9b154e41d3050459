"""The seam between ifmatch and its HTTP library (ifmatch.client.httpx_compat): httpx, httpx2."""

from __future__ import annotations

import sys
from types import ModuleType

import httpx
import httpx2
import pytest

from ifmatch.client import AsyncCachingTransport, CachingTransport, MemoryStorage, was_revalidated
from ifmatch.client.httpx_compat import default_library, derive, errors, library_of


@pytest.mark.parametrize("library", [httpx, httpx2], ids=["httpx", "httpx2"])
def test_library_of_names_the_library_of_clients_requests_and_subclasses(
    library: ModuleType,
) -> None:
    class Mine(library.Client):  # type: ignore[name-defined,misc]
        pass

    with library.Client() as client, Mine() as mine:
        assert library_of(client) is library
        assert library_of(mine) is library
    assert library_of(library.Request("GET", "http://h/")) is library
    assert library_of(library.Response(200)) is library


def test_library_of_refuses_other_objects() -> None:
    with pytest.raises(TypeError, match="neither an httpx nor an httpx2 object"):
        library_of(object())


def test_errors_catch_either_librarys_exception() -> None:
    for library in (httpx, httpx2):
        with pytest.raises(errors("TransportError")):
            raise library.ReadError("cut")
    assert httpx.TransportError in errors("TransportError")
    assert httpx2.TransportError in errors("TransportError")


def test_default_library_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IFMATCH_HTTP", "httpx2")
    assert default_library() is httpx2
    monkeypatch.setenv("IFMATCH_HTTP", "httpx")
    assert default_library() is httpx
    monkeypatch.delenv("IFMATCH_HTTP")
    assert default_library() is httpx
    monkeypatch.setenv("IFMATCH_HTTP", "requests")
    with pytest.raises(ValueError, match="expected one of httpx, httpx2"):
        default_library()


def test_derive_makes_one_subclass_per_base() -> None:
    class Mixin:
        pass

    one = derive(Mixin, httpx2.SyncByteStream)
    assert issubclass(one, httpx2.SyncByteStream)
    assert issubclass(one, Mixin)
    assert derive(Mixin, httpx2.SyncByteStream) is one
    assert not issubclass(one, httpx.SyncByteStream)


def _handler(library: ModuleType) -> object:
    def answer(request: object) -> object:
        if getattr(request, "headers", {}).get("if-none-match") == '"a"':
            return library.Response(304, headers={"ETag": '"a"'})
        return library.Response(200, headers={"ETag": '"a"'}, content=b"body")

    return answer


@pytest.mark.parametrize("library", [httpx, httpx2], ids=["httpx", "httpx2"])
def test_the_caching_transport_serves_a_304_from_storage_on_either_library(
    library: ModuleType,
) -> None:
    """Under httpx2 it failed with an AssertionError on the response stream's type."""
    transport = CachingTransport(library.MockTransport(_handler(library)), MemoryStorage())
    with library.Client(transport=transport) as client:
        first = client.get("http://h/x")
        second = client.get("http://h/x")
    assert (first.content, was_revalidated(first)) == (b"body", False)
    assert (second.content, was_revalidated(second)) == (b"body", True)
    assert library_of(second) is library


@pytest.mark.asyncio
@pytest.mark.parametrize("library", [httpx, httpx2], ids=["httpx", "httpx2"])
async def test_the_async_caching_transport_works_on_either_library(library: ModuleType) -> None:
    transport = AsyncCachingTransport(library.MockTransport(_handler(library)), MemoryStorage())
    async with library.AsyncClient(transport=transport) as client:
        first = await client.get("http://h/x")
        second = await client.get("http://h/x")
    assert (first.content, second.content) == (b"body", b"body")
    assert was_revalidated(second)


def test_a_blocked_library_is_not_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """``sys.modules[name] = None`` blocks an import; errors() must not read it as a module."""
    monkeypatch.setitem(sys.modules, "httpx2", None)
    assert errors("TransportError") == (httpx.TransportError,)
    monkeypatch.setitem(sys.modules, "httpx", None)
    assert errors("TransportError") == ()
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'ifmatch\[client\]'"):
        default_library()
