"""Fixtures of the scale tests: the real stack (instances, nginx, Varnish) on PostgreSQL.

The stack's programs come from Debian's packages (``scripts/system-deps.sh``);
without them the tests skip with the reason, and under ``CI=true`` they fail.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.stack import Missing, Stack
from tests.service.conftest import postgres_schema
from tests.support.servers import unavailable

#: Shared caches hold documents for TTL seconds, then revalidate; the counters
#: collection, written under contention, is always revalidated.
TTL = 2
#: Long enough for both caches' copies to expire (nginx counts lifetimes in whole seconds).
PAST = TTL + 1.2
POLICY = (f"*=max-age=0, must-revalidate, s-maxage={TTL}", "counters=no-cache")


def start_stack(db: str, instances: int, **options: object) -> Stack:
    """A started stack, or skip/fail with the reason a program is missing."""
    try:
        return Stack(db=db, instances=instances, cache_control=POLICY, **options).start()  # type: ignore[arg-type]
    except Missing as error:
        unavailable(str(error))
        raise


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """Three instances on one fresh PostgreSQL schema, behind nginx and Varnish."""
    with postgres_schema() as dsn:
        running = start_stack(dsn, 3)
        try:
            yield running
        finally:
            running.stop()
