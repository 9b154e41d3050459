"""bench/bench_middleware.py measures what it says: every variant serves the same bytes with
the expected status, and each floor middleware tags exactly as ifmatch does.

A smoke run (a couple of requests per variant, no timing), so a change to the middleware
or to a framework cannot leave the benchmark comparing different things unnoticed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_middleware.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_middleware_under_test", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look the module up
    spec.loader.exec_module(module)
    return module


def test_every_asgi_variant_serves_the_document_with_its_status(bench: ModuleType) -> None:
    runners = bench._asgi_runners(list(bench.ASGI_VARIANTS))  # checks every body is BODY
    for name, run in runners.items():
        run(2)
        expected = {304} if bench.ASGI_VARIANTS[name][2] else {200}
        assert run.statuses == expected, name
    assert 1000 <= len(bench.BODY) <= 1100  # the "1 KB JSON GET"


def test_floor_middlewares_tag_as_ifmatch_does(bench: ModuleType) -> None:
    from werkzeug.test import Client

    tags = {
        name: bench._answer(bench._starlette_app(middleware, "json"), [])[0][b"etag"]
        for name, middleware in [("ours", "sha256"), ("floor", "floor")]
    }
    assert tags["ours"] == tags["floor"]
    flask = {
        mode: Client(bench._flask_app(mode)).get("/doc").headers["ETag"]
        for mode in ("ifmatch", "floor")
    }
    assert flask["ifmatch"] == flask["floor"] == tags["ours"].decode()


def test_wsgi_and_django_timers_run_and_check_their_status(bench: ModuleType) -> None:
    for base, variant in [*bench._flask_pairs().values(), *bench._django_pairs().values()]:
        assert base(2) > 0  # a timer raises if a response has the wrong status
        assert variant(2) > 0
