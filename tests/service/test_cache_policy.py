"""The cache policy: per-collection and file Cache-Control, and authenticated requests
(RFC 9111 §3.5, §5.2.2), on both backends, through the app."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ifmatch.service.app import create_app
from ifmatch.service.cachepolicy import CachePolicy, PolicyError
from ifmatch.service.settings import Settings

NOTES = "notes=max-age=0, must-revalidate, s-maxage=60"


@pytest.mark.parametrize(
    ("rules", "space", "authenticated", "expected"),
    [
        ((), "doc:notes", False, {"Cache-Control": "no-cache"}),
        # Authenticated: private, so even a cache that ignores Authorization never shares it.
        ((), "file", True, {"Cache-Control": "private, no-cache"}),
        (
            (NOTES,),
            "doc:notes",
            False,
            {"Cache-Control": "max-age=0, must-revalidate, s-maxage=60"},
        ),
        ((NOTES,), "doc:other", False, {"Cache-Control": "no-cache"}),
        # §3.5: must-revalidate and s-maxage would let a shared cache store an authenticated
        # response; only "public" opts in, so they become private.
        ((NOTES,), "doc:notes", True, {"Cache-Control": "private, max-age=0, must-revalidate"}),
        (("*=s-maxage=5", "a=no-store"), "doc:b", False, {"Cache-Control": "s-maxage=5"}),
        (("*=s-maxage=5", "a=no-store"), "doc:a", True, {"Cache-Control": "no-store"}),
        (("/files=private, max-age=60",), "file", True, {"Cache-Control": "private, max-age=60"}),
        (("/files=private, max-age=60",), "doc:files", False, {"Cache-Control": "no-cache"}),
        (
            ("notes=public, s-maxage=60",),
            "doc:notes",
            True,
            {"Cache-Control": "public, s-maxage=60", "Vary": "Authorization"},
        ),
        (
            ("notes=public, s-maxage=60",),
            "doc:notes",
            False,
            {"Cache-Control": "public, s-maxage=60", "Vary": "Authorization"},
        ),
    ],
)
def test_policy_table(
    rules: tuple[str, ...], space: str, authenticated: bool, expected: dict[str, str]
) -> None:
    assert dict(CachePolicy.parse(rules).headers(space, authenticated)) == expected


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("notes", "KEY=DIRECTIVES"),
        ("notes=", "KEY=DIRECTIVES"),
        ("no/tes=no-cache", "collection name"),
        ("notes=max-age=soon", "delta-seconds"),
        ("notes=public, private", "contradicts"),
        ("notes=private, s-maxage=5", "shared caches"),
        ("notes=max-stale=5", "request directives"),
        ("notes=,", "no directives"),
    ],
)
def test_policy_refuses(rule: str, reason: str) -> None:
    with pytest.raises(PolicyError, match=reason):
        CachePolicy.parse([rule])


def test_two_rules_for_one_key_are_refused() -> None:
    with pytest.raises(PolicyError, match="two rules"):
        CachePolicy.parse(["a=no-cache", "a=no-store"])


def test_documents_listings_files_and_304s_carry_the_policy(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(cache_control=(NOTES, "/files=private, no-cache"))
    put = client.put("/api/notes/a", json={"n": 1})
    assert put.status_code == 201
    assert put.headers["Cache-Control"] == "max-age=0, must-revalidate, s-maxage=60"
    got = client.get("/api/notes/a")
    assert got.headers["Cache-Control"] == "max-age=0, must-revalidate, s-maxage=60"
    # RFC 9110 §15.4.5: the 304 carries the Cache-Control the 200 would have had.
    same = client.get("/api/notes/a", headers={"If-None-Match": got.headers["ETag"]})
    assert same.status_code == 304
    assert same.headers["Cache-Control"] == "max-age=0, must-revalidate, s-maxage=60"
    listing = client.get("/api/notes")
    assert listing.headers["Cache-Control"] == "max-age=0, must-revalidate, s-maxage=60"
    client.put("/api/other/a", json={})
    assert client.get("/api/other/a").headers["Cache-Control"] == "no-cache"
    client.put("/files/x.bin", content=b"abc")
    assert client.get("/files/x.bin").headers["Cache-Control"] == "private, no-cache"
    ranged = client.get("/files/x.bin", headers={"Range": "bytes=0-0"})
    assert ranged.status_code == 206
    assert ranged.headers["Cache-Control"] == "private, no-cache"


def test_an_authenticated_response_is_private_unless_public(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(token="s3cret", cache_control=(NOTES, "pub=public, s-maxage=30"))
    auth = {"Authorization": "Bearer s3cret"}
    client.put("/api/notes/a", json={}, headers=auth)
    got = client.get("/api/notes/a", headers=auth)
    assert got.headers["Cache-Control"] == "private, max-age=0, must-revalidate"
    assert "Vary" not in got.headers
    client.put("/api/pub/a", json={}, headers=auth)
    shared = client.get("/api/pub/a", headers=auth)
    assert shared.headers["Cache-Control"] == "public, s-maxage=30"
    assert shared.headers["Vary"] == "Authorization"
    again = client.get("/api/pub/a", headers={**auth, "If-None-Match": shared.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers["Vary"] == "Authorization"


def test_the_fast_path_sends_the_policy_too(tmp_path: Path) -> None:
    settings = Settings(db=f"sqlite:///{tmp_path / 'fast.db'}", cache_control=(NOTES,))
    app = create_app(settings)
    with TestClient(app) as client:
        etag = client.put("/api/notes/a", json={}).headers["ETag"]
        before = app.fast.answered
        got = client.get("/api/notes/a")
        same = client.get("/api/notes/a", headers={"If-None-Match": etag})
        listing = client.get("/api/notes", headers={"If-None-Match": '"c1"'})
        assert app.fast.answered == before + 3  # answered by the fast path, not the application
        for response in (got, same, listing):
            assert response.headers["Cache-Control"] == "max-age=0, must-revalidate, s-maxage=60"
        # Credentials the service does not check: the application answers, privately.
        private = client.get("/api/notes/a", headers={"Authorization": "Bearer x"})
        assert app.fast.answered == before + 3
        assert private.headers["Cache-Control"] == "private, max-age=0, must-revalidate"
    token = Settings(db=settings.db, cache_control=(NOTES,), token="s3cret")
    app = create_app(token)
    with TestClient(app) as client:
        answer = client.get("/api/notes/a", headers={"Authorization": "Bearer s3cret"})
        assert app.fast.answered == 1
        assert answer.headers["Cache-Control"] == "private, max-age=0, must-revalidate"
