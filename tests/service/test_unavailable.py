"""While the database cannot answer, the service says 503 with Retry-After, never 500,
and recovers by itself when the database is back (issue 15).

The connections of one in-process app are cut with ``pg_terminate_backend``
(chosen by their ``application_name``), which is what a PostgreSQL restart
does to a pool: every idle connection is dead and does not know it yet.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
import warnings
from collections.abc import Iterator

import pytest

from ifmatch.service.app import create_app
from ifmatch.service.settings import Settings
from ifmatch.service.store import Meta, Store
from tests.service.conftest import postgres_schema
from tests.support.servers import postgres_dsn

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def _terminate(application_name: str) -> int:
    import psycopg

    with psycopg.connect(postgres_dsn(), autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = %s",
            (application_name,),
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.fixture
def cut() -> Iterator[tuple[TestClient, str]]:
    name = f"ifmatch-cut-{uuid.uuid4().hex[:10]}"
    with postgres_schema() as dsn:
        settings = Settings(db=f"{dsn}&application_name={name}", pool_size=4)
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            yield client, name


@pytest.mark.postgres
def test_lost_connections_answer_503_then_recover_without_restart(
    cut: tuple[TestClient, str], caplog: pytest.LogCaptureFixture
) -> None:
    client, name = cut
    assert client.put("/api/notes/a", json={"n": 1}).status_code == 201
    etag = client.get("/api/notes/a").headers["ETag"]
    assert _terminate(name) >= 1
    caplog.set_level(logging.WARNING)
    failed = client.put("/api/notes/a", json={"n": 2}, headers={"If-Match": etag})
    assert failed.status_code == 503
    assert failed.headers["Retry-After"].isdigit()
    assert failed.headers["Content-Type"] == "application/problem+json"
    assert json.loads(failed.content)["status"] == 503
    statuses = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = client.get("/api/notes/a").status_code
        statuses.append(status)
        if status == 200:
            break
        time.sleep(0.1)
    assert statuses[-1] == 200, statuses
    assert set(statuses) <= {200, 503}, statuses
    # The write that got 503 was not applied (the connection died before it began):
    # its If-Match still holds, and the retry succeeds.
    retried = client.put("/api/notes/a", json={"n": 2}, headers={"If-Match": etag})
    assert retried.status_code == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


class _Down(Store):
    """A store whose database is always unavailable."""

    unavailable = (ConnectionError,)

    def __init__(self) -> None:
        self.recovered = 0

    def _fail(self) -> None:
        raise ConnectionError("connection refused")

    def transaction(self, space: str):  # type: ignore[no-untyped-def]
        self._fail()

    def get(self, space: str, name: str) -> tuple[Meta, bytes] | None:
        self._fail()
        return None

    def open(self, space: str, name: str):  # type: ignore[no-untyped-def]
        self._fail()

    def listing(self, space: str):  # type: ignore[no-untyped-def]
        self._fail()

    def page(self, space: str, after: str | None, limit: int):  # type: ignore[no-untyped-def]
        self._fail()

    def ping(self) -> None:
        self._fail()

    def recover(self) -> None:
        self.recovered += 1

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/api/notes/a", {}),
        ("GET", "/api/notes", {}),
        ("GET", "/api/notes?limit=10", {}),
        ("PUT", "/api/notes/a", {"If-Match": '"v1"', "Content-Type": "application/json"}),
        ("DELETE", "/api/notes/a", {"If-Match": '"v1"'}),
        ("GET", "/files/a.bin", {}),
        ("GET", "/healthz", {}),
    ],
)
def test_every_endpoint_answers_503_with_retry_after(
    method: str, path: str, headers: dict[str, str]
) -> None:
    store = _Down()
    app = create_app(Settings(db="sqlite:///unused"), store=store)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.request(method, path, headers=headers, content=b"{}")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.headers["Cache-Control"] == "no-store"
    body = json.loads(response.content)
    assert body["status"] == 503
    assert "unavailable" in body["detail"]
    assert store.recovered == 1
