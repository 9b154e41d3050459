"""The fuzz targets (``fuzz/targets.py``) in ``make test``: a smoke run of each, and the table
of inputs that once crashed a target (each row a regression test).

``make fuzz`` runs the same targets under atheris, 10**6 inputs each (FUZZING.md); here
hypothesis draws arbitrary bytes (100 examples per target in development, 200 under
CI=true) after the targets' seed inputs, which keeps the whole module to seconds.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz.targets import SEEDS, TARGETS

#: (target, input, what was wrong).  Every crash ``make fuzz`` finds becomes a row here once
#: it is fixed; rows found by this session's campaign are listed in FUZZING.md.
CRASHES: list[tuple[str, bytes, str]] = [
    # The harness's own first bug, kept as a row: an app's own 304 with a body was blamed on
    # the middleware, which passes an app's 304 through unchanged.
    ("asgi_middleware", b"\x00\x00\x06\x00\x02a\x041\x00", "app's own 304 with a body"),
    # The harness again: it compared If-Match with the literal "*", so "\t*" (a "*" with
    # whitespace, which evaluate() rightly reads as "*") passing on a resource without an ETag
    # looked like a failed strong match.
    ("conditional_fields", b'\x02\xed\x01"~2"\t*', 'If-Match "\\t*" read as "*"'),
]


@pytest.mark.parametrize("name", sorted(TARGETS))
@given(data=st.binary(max_size=400))
def test_smoke(name: str, data: bytes) -> None:
    TARGETS[name](data)


@pytest.mark.parametrize(
    ("name", "data"), [(name, seed) for name, seeds in SEEDS.items() for seed in seeds]
)
def test_seeds(name: str, data: bytes) -> None:
    TARGETS[name](data)


@pytest.mark.parametrize(("name", "data", "reason"), CRASHES)
def test_crash_rows(name: str, data: bytes, reason: str) -> None:
    TARGETS[name](data)


def test_every_target_has_seeds() -> None:
    assert set(SEEDS) == set(TARGETS)
    assert all(SEEDS[name] for name in TARGETS)
