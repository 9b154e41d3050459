"""One conformance table, run against all six stacks through their own test clients."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ifmatch import PROBLEM_JSON, ETag, etag_for_content

from .conformance import CASES, OLD, Case
from .stacks import DOC_BODY, STACKS, Client
from .store import STORE


@pytest.fixture(params=sorted(STACKS))
def client(request: pytest.FixtureRequest) -> Iterator[Client]:
    STORE.reset()
    yield from STACKS[request.param]()
    STORE.reset()


def _fill(value: str, etag: str, last_modified: str) -> str:
    tag = ETag.parse(etag) if etag else None
    return (
        value.replace("{etag}", etag)
        .replace("{weak}", str(tag.as_weak()) if tag else "")
        .replace("{strong}", str(ETag(tag.opaque)) if tag else "")
        .replace("{lm}", last_modified)
        .replace("{old}", OLD)
    )


@pytest.mark.parametrize("case", CASES)
def test_conformance(client: Client, case: Case) -> None:
    base = client("GET", case.path, {}, b"")
    etag, last_modified = base.header("etag") or "", base.header("last-modified") or ""
    headers = {name: _fill(value, etag, last_modified) for name, value in case.headers.items()}

    answer = client(case.method, case.path, headers, case.body)

    assert answer.status == case.status, answer
    for name in case.same_as_get:
        assert base.header(name) is not None, f"the plain GET has no {name}"
        assert answer.header(name) == base.header(name), name
    for name in case.present:
        assert answer.header(name), name
    for name in case.absent:
        assert answer.header(name) is None, (name, answer.headers)
    if case.empty_body:
        assert answer.body == b""
    if case.full_body:
        assert answer.body == base.body
    if case.new_etag:
        assert answer.header("etag") not in (None, etag)
        follow = client("GET", case.path, {"If-None-Match": answer.header("etag") or ""}, b"")
        assert follow.status == 304, "the ETag a write returned must validate the next read"
    if case.problem is not None:
        assert answer.header("content-type") == PROBLEM_JSON
        document = json.loads(answer.body)
        assert document["status"] == case.status
        assert document.get("precondition", "") == case.problem
        if case.status == 412 and case.path == "/versioned":
            assert answer.header("etag") == etag
            assert document["current_etag"] == etag


def test_every_stack_generates_the_same_etag_for_the_same_body() -> None:
    """The generated tag is a function of the bytes, not of the framework: each stack's
    tag for /doc is the core's weak SHA-256 tag of DOC_BODY (§8.8.3, ``etag_for_content``)."""
    expected = str(etag_for_content(DOC_BODY))
    tags = {}
    for name in sorted(STACKS):
        for client in STACKS[name]():
            answer = client("GET", "/doc", {}, b"")
            assert answer.body == DOC_BODY, name
            tags[name] = answer.header("etag")
    assert tags == dict.fromkeys(STACKS, expected)
