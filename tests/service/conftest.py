"""Fixtures for the service tests: in-process apps on SQLite or PostgreSQL, real servers.

PostgreSQL tests run in a schema of their own (``search_path`` set through
the DSN's ``options``), dropped afterwards, so runs never see each other's
rows.  Without a server they skip, and fail under CI=true (``postgres_dsn``).
"""

from __future__ import annotations

import contextlib
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from ifmatch.service.app import create_app
from ifmatch.service.settings import Settings
from tests.support.servers import postgres_dsn

with warnings.catch_warnings():
    # Starlette announces a future switch of its test client's HTTP library.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A DSN whose ``search_path`` is a fresh schema, dropped on exit."""
    import psycopg

    base = postgres_dsn()
    schema = f"ifmatch_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}".encode())
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE".encode())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.db'}"
    else:
        with postgres_schema() as dsn:
            yield dsn


@pytest.fixture
def make_client(db_url: str) -> Iterator[Callable[..., TestClient]]:
    """Build in-process clients of the app on ``db_url`` with settings overrides."""
    opened: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = Settings(db=db_url, pool_size=2, **overrides)
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """The app with default settings (preconditions required)."""
    return make_client()
