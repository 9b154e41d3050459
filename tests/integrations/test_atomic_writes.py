"""The atomic write pattern (docs/integrations/atomic-writes.md) under a real race.

Several threads do read-modify-write on one SQLite counter through a Flask
app: GET it with its ETag, PUT ``value + 1`` with ``If-Match``, and on 412
read again and retry.  The handler evaluates the precondition *inside*
``BEGIN IMMEDIATE``, so no two writers can both pass the same If-Match:
the final value must equal the number of successful writes (no lost update).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request

from ifmatch import Resource, etag_for_version
from ifmatch.flask import install
from ifmatch.guard import check_preconditions

THREADS = 4
INCREMENTS = 6
MAX_ATTEMPTS = 200  # per increment; bounded so a bug fails instead of hanging


def counter_app(database: Path) -> Flask:
    with closing(sqlite3.connect(database)) as db:
        db.execute("CREATE TABLE counter (version INTEGER NOT NULL, value INTEGER NOT NULL)")
        db.execute("INSERT INTO counter VALUES (1, 0)")
        db.commit()

    app = Flask("atomic-writes")
    install(app)

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(database, timeout=30, isolation_level=None)

    @app.get("/counter")
    def read() -> Any:
        with closing(connect()) as db:
            version, value = db.execute("SELECT version, value FROM counter").fetchone()
        return jsonify(value=value), {"ETag": str(etag_for_version(version))}

    @app.put("/counter")
    def write() -> Any:
        with closing(connect()) as db:
            db.execute("BEGIN IMMEDIATE")  # the write lock, taken before reading the validators
            try:
                version, _ = db.execute("SELECT version, value FROM counter").fetchone()
                check_preconditions(
                    request.method,
                    list(request.headers),
                    Resource(etag_for_version(version)),
                    require=True,
                )
                time.sleep(0.001)  # widen the window a racing writer would need
                db.execute(
                    "UPDATE counter SET version = version + 1, value = ?",
                    (request.get_json()["value"],),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return "", 204, {"ETag": str(etag_for_version(version + 1))}

    return app


def test_concurrent_read_modify_write_loses_no_update(tmp_path: Path) -> None:
    app = counter_app(tmp_path / "counter.db")
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    failures: list[str] = []

    def worker() -> None:
        client = app.test_client()
        for _ in range(INCREMENTS):
            for _attempt in range(MAX_ATTEMPTS):
                current = client.get("/counter")
                put = client.put(
                    "/counter",
                    json={"value": current.get_json()["value"] + 1},
                    headers={"If-Match": current.headers["ETag"]},
                )
                with lock:
                    statuses[put.status_code] += 1
                if put.status_code == 204:
                    break
                if put.status_code != 412:
                    failures.append(f"unexpected {put.status_code}: {put.get_data()!r}")
                    return
            else:
                failures.append("gave up after MAX_ATTEMPTS conflicts")
                return

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert not failures, failures

    final = app.test_client().get("/counter")
    assert statuses[204] == THREADS * INCREMENTS
    assert final.get_json()["value"] == THREADS * INCREMENTS, statuses
    assert final.headers["ETag"] == f'"v{THREADS * INCREMENTS + 1}"'


def test_unconditional_write_is_refused_and_rolled_back(tmp_path: Path) -> None:
    """RFC 6585 §3 inside the transaction: a 428 leaves the row untouched."""
    app = counter_app(tmp_path / "counter.db")
    client = app.test_client()
    refused = client.put("/counter", json={"value": 99})
    assert refused.status_code == 428
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert client.get("/counter").get_json()["value"] == 0
