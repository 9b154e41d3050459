"""The six integration stacks, end to end: hostile conditional fields.

The stacks of tests/integrations/stacks.py (Starlette, FastAPI, Flask, bare
ASGI, bare WSGI, Django), each behind ifmatch's middleware and handler-level
guard, are driven with raw ASGI scopes and WSGI environs so that any byte
string, on any number of lines, reaches them.  Properties: no 5xx; a guarded
write whose If-Match / If-Unmodified-Since cannot be read is never applied;
a GET whose validators cannot be read never gets a 304.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import django
import pytest
from django.conf import settings as django_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.integrations import stacks
from tests.integrations.store import STORE
from tests.security.raw import (
    HOSTILE_PAIRS,
    HOSTILE_VALUES,
    Pairs,
    Reply,
    asgi_call,
    no_readable_validator,
    unreadable_write_guard,
    wsgi_call,
)

if not django_settings.configured:  # the same settings as tests/integrations/conftest.py
    django_settings.configure(
        DEBUG=False,
        SECRET_KEY="ifmatch-tests-only",
        ALLOWED_HOSTS=["testserver", "localhost"],
        ROOT_URLCONF="tests.integrations.django_app",
        MIDDLEWARE=["ifmatch.django.ConditionalMiddleware"],
        IFMATCH={"max_buffer": 16 * 1024},
        INSTALLED_APPS=[],
        USE_TZ=True,
        DATABASES={},
    )
    django.setup()

Caller = Callable[[str, str, Pairs, bytes], Reply]
EXAMPLES = settings(max_examples=25, deadline=None)


def _asgi(app: Any) -> Caller:
    runner = asyncio.Runner()
    return lambda method, path, pairs, body: runner.run(asgi_call(app, method, path, pairs, body))


def _wsgi(app: Any) -> Caller:
    return lambda method, path, pairs, body: wsgi_call(app, method, path, pairs, body)


def _django() -> Caller:
    from django.core.handlers.wsgi import WSGIHandler

    return _wsgi(WSGIHandler())


BUILDERS: dict[str, Callable[[], Caller]] = {
    "starlette": lambda: _asgi(stacks.starlette_app()),
    "fastapi": lambda: _asgi(stacks.fastapi_app()),
    "flask": lambda: _wsgi(stacks.flask_app()),
    "bare-asgi": lambda: _asgi(stacks.bare_asgi_app()),
    "bare-wsgi": lambda: _wsgi(stacks.bare_wsgi_app()),
    "django": _django,
}


@pytest.fixture(scope="module", params=list(BUILDERS))
def stack(request: pytest.FixtureRequest) -> Caller:
    return BUILDERS[request.param]()


@EXAMPLES
@given(
    method=st.sampled_from(["PUT", "DELETE"]),
    guard=HOSTILE_VALUES,
    extra=HOSTILE_PAIRS,
    field=st.sampled_from([b"if-match", b"if-unmodified-since", b"if-none-match"]),
)
def test_unreadable_write_guard_never_writes(
    stack: Caller, method: str, guard: bytes, extra: Pairs, field: bytes
) -> None:
    STORE.reset()
    pairs = [(field, guard), *extra]
    reply = stack(method, "/versioned", pairs, b'{"title": "overwritten"}')
    assert reply.status < 500, reply
    if unreadable_write_guard(pairs):
        assert not 200 <= reply.status < 300, (pairs, reply)
        assert (STORE.version, STORE.exists, STORE.data) == (1, True, {"title": "first"})


@EXAMPLES
@given(
    path=st.sampled_from(["/doc", "/versioned"]),
    pairs=HOSTILE_PAIRS,
    method=st.sampled_from(["GET", "HEAD"]),
)
def test_unreadable_validators_never_304(
    stack: Caller, path: str, pairs: Pairs, method: str
) -> None:
    STORE.reset()
    reply = stack(method, path, pairs, b"")
    assert reply.status < 500, reply
    if no_readable_validator(pairs):
        assert reply.status != 304, (pairs, reply)


def test_stacks_answer_readable_preconditions(stack: Caller) -> None:
    """Not vacuous: a current tag gives 304 and a write; a torn one is refused."""
    STORE.reset()
    doc = stack("GET", "/doc", [], b"")
    etag = doc.header("etag")
    assert doc.status == 200
    assert etag
    assert stack("GET", "/doc", [(b"if-none-match", etag.encode())], b"").status == 304
    assert stack("GET", "/doc", [(b"if-none-match", etag[:-1].encode())], b"").status == 200
    torn = stack("PUT", "/versioned", [(b"if-match", b'"v1')], b'{"title": "x"}')
    assert torn.status == 412
    assert STORE.version == 1
    done = stack("PUT", "/versioned", [(b"if-match", b'"v1"')], b'{"title": "x"}')
    assert done.status == 200
    assert STORE.version == 2
    STORE.reset()
