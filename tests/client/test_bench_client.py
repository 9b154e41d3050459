"""bench/bench_client.py measures what it says, on a short run of both traces (no timing).

The browsing trace's origin really changes its resources on the simulated clock, the relay
really counts bytes, and the cache's row keeps its promise: no stale response, far fewer
requests than no cache; always_revalidate asks every time; heuristic freshness is what makes
a cache show the changed banner stale.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_client.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_client_under_test", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look the module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rows(bench: ModuleType) -> Iterator[dict[str, Any]]:
    setattr(bench, "VIEWS", 30)  # noqa: B010 - 6 simulated minutes: past every change
    with tempfile.TemporaryDirectory() as tmp:
        contenders = {c.name: c for c in bench._contenders(Path(tmp), None)}
        site = bench.Origin(bench._site())
        with bench._serve(site) as port, bench._Relay(port) as relay:
            base = f"http://127.0.0.1:{relay.port}"
            yield {
                name: bench._browse(c, site, relay, base)
                for name, c in contenders.items()
                if "hishel" not in name and "requests-cache" not in name
            }


def test_the_cache_serves_nothing_stale_with_far_fewer_requests(
    rows: dict[str, Any], bench: ModuleType
) -> None:
    baseline = rows["httpx, no cache (baseline)"]
    ours = rows["ifmatch `CachingTransport`, memory"]
    sqlite = rows["ifmatch `CachingTransport`, SQLite"]
    assert baseline.requests == 30 * 21
    assert baseline.stale == ours.stale == sqlite.stale == 0
    assert ours.requests < baseline.requests / 4
    assert ours.requests == sqlite.requests
    assert 0 < ours.received < baseline.received / 10


def test_always_revalidate_asks_every_time_and_heuristics_show_stale(
    rows: dict[str, Any],
) -> None:
    always = rows["ifmatch `CachingTransport`, `always_revalidate=True`"]
    heuristic = next(row for name, row in rows.items() if "heuristic" in name)
    assert always.requests == 30 * 21
    assert always.stale == 0
    assert heuristic.stale > 0  # the banner, after minute 5
