"""Faults under load, each a test (issue 15): ``kill -9`` of one instance, PostgreSQL
restarted, PostgreSQL gone for a while, PostgreSQL unreachable at start-up.

The invariant, checked after every run (``tests/scale/workload.py``):

    acknowledged <= final <= acknowledged + unknown outcomes

and no write half-applied: the counter's version is exactly one more than its value (the
create was version 1, every applied increment bumped both the row and the version in one
transaction).  While the database is unavailable, requests get 503 with ``Retry-After``
and a problem body, never 500, and no instance logs a traceback; the instances recover
without a restart; the balancer routes around a dead instance.

The PostgreSQL restarted here is a private server (``deploy.stack.PrivatePostgres``:
``initdb`` + ``pg_ctl`` on a free port in a temporary directory), never the shared one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from deploy.stack import Missing, PrivatePostgres, Stack, free_port
from tests.scale import workload
from tests.scale.conftest import start_stack
from tests.service.conftest import postgres_schema
from tests.support.servers import unavailable

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CLIENTS = 8
INCREMENTS = 40
TIME_LIMIT = 90.0


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    try:
        server = PrivatePostgres()
    except Missing as error:
        unavailable(str(error))
        raise
    try:
        server.start()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        server.close()
        stderr = getattr(error, "stderr", b"") or b""
        unavailable(f"cannot start a private PostgreSQL: {error} {stderr.decode()[-500:]}")
    try:
        yield server
    finally:
        server.close()


def _counter() -> str:
    return f"/api/counters/{uuid.uuid4().hex[:12]}"


def _check_invariant(tally: workload.Tally, base: str, doc: str) -> int:
    final = workload.final_value(base, doc)
    assert tally.holds(final), tally.summary(final)
    etag = httpx.get(base + doc, timeout=10).headers["ETag"]
    assert etag == f'"v{final + 1}"', (etag, final)  # no write half-applied
    assert 500 not in tally.statuses, tally.summary(final)
    for answer in tally.unavailable:
        assert answer.status_code == 503
        assert answer.headers["Retry-After"].isdigit()
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert answer.json()["status"] == 503
    return final


def _no_tracebacks(stack: Stack) -> None:
    for node in stack.nodes:
        text = node.log.read_text(errors="replace")
        assert "Traceback" not in text, text[-3000:]
        assert '"status":500' not in text, text[-3000:]


def _trigger(at: int, action: threading.Thread) -> Callable[[int], None]:
    """A progress callback that starts ``action`` once, when ``at`` increments are in."""
    lock = threading.Lock()

    def progress(acknowledged: int) -> None:
        if acknowledged >= at and lock.acquire(blocking=False):
            action.start()

    return progress


def test_kill_9_of_one_instance_under_write_load() -> None:
    with postgres_schema() as dsn:
        stack = start_stack(dsn, 3, varnish=False)
        try:
            doc = _counter()
            workload.create(stack.nginx_url, doc)
            killer = threading.Thread(target=stack.kill_instance, args=(0,))
            tally = workload.run(
                [stack.nginx_url],
                doc,
                clients=CLIENTS,
                increments=INCREMENTS,
                time_limit=TIME_LIMIT,
                on_progress=_trigger(60, killer),
            )
            killer.join(timeout=30)
            assert stack.nodes[0].process is not None
            assert stack.nodes[0].process.returncode == -9  # it really was killed mid-load
            final = _check_invariant(tally, stack.nginx_url, doc)
            assert tally.acknowledged == CLIENTS * INCREMENTS, tally.summary(final)
            print("kill -9:", tally.summary(final))
            # The balancer routes around the dead instance: every read succeeds, served
            # by the survivors.
            marker = f"/api/routed-{uuid.uuid4().hex[:8]}/r"
            assert httpx.put(stack.nginx_url + marker, json={}).status_code == 201
            for _ in range(20):
                assert httpx.get(stack.nginx_url + marker, timeout=10).status_code == 200
            time.sleep(0.3)
            served = {line["instance"] for line in stack.origin_log() if line["path"] == marker}
            assert served <= {1, 2}
            assert served
            _no_tracebacks(stack)
        finally:
            stack.stop()


def test_postgres_restarted_under_write_load(private_postgres: PrivatePostgres) -> None:
    stack = start_stack(private_postgres.dsn, 2, varnish=False)
    try:
        pids = [node.process.pid for node in stack.nodes if node.process is not None]
        doc = _counter()
        workload.create(stack.nginx_url, doc)
        restart = threading.Thread(target=private_postgres.pg_ctl, args=("restart", "-w"))
        tally = workload.run(
            [stack.nginx_url, *(node.url for node in stack.nodes)],
            doc,
            clients=CLIENTS,
            increments=INCREMENTS,
            time_limit=TIME_LIMIT,
            on_progress=_trigger(60, restart),
        )
        restart.join(timeout=60)
        assert restart.ident is not None  # the restart happened during the load
        final = _check_invariant(tally, stack.nginx_url, doc)
        assert tally.acknowledged == CLIENTS * INCREMENTS, tally.summary(final)
        print("postgres restarted:", tally.summary(final))
        # The same processes serve after the restart: recovery without a restart of theirs.
        assert [node.process.pid for node in stack.nodes if node.process is not None] == pids
        for node in stack.nodes:
            assert node.process is not None
            assert node.process.poll() is None
            assert httpx.get(node.url + doc, timeout=10).status_code == 200
        _no_tracebacks(stack)
    finally:
        stack.stop()


def test_postgres_gone_for_a_while_gives_503_then_recovers(
    private_postgres: PrivatePostgres,
) -> None:
    stack = start_stack(private_postgres.dsn, 2, varnish=False)
    try:
        doc = _counter()
        workload.create(stack.nginx_url, doc)
        private_postgres.pg_ctl("stop", "-w")
        try:
            bases = [stack.nginx_url, *(node.url for node in stack.nodes)]
            asked = [
                (base, method, path)
                for base in bases
                for method, path in (("GET", doc), ("PUT", doc), ("GET", "/healthz"))
            ]

            def ask(request: tuple[str, str, str]) -> httpx.Response:
                base, method, path = request
                headers = {"If-Match": '"v1"'} if method == "PUT" else {}
                return httpx.request(
                    method, base + path, json={"n": 99}, headers=headers, timeout=30
                )

            # At once: a request that finds no connection waits for the pool's timeout (5 s).
            with ThreadPoolExecutor(len(asked)) as pool:
                answers = list(pool.map(ask, asked))
            for request, answer in zip(asked, answers, strict=True):
                assert answer.status_code == 503, (request, answer.text)
                assert answer.headers["Retry-After"] == "2"
                assert answer.headers["Content-Type"] == "application/problem+json"
                assert "unavailable" in answer.json()["detail"]
        finally:
            private_postgres.pg_ctl("start", "-w")
        deadline = time.monotonic() + 30
        for base in bases:
            while True:
                answer = httpx.get(base + doc, timeout=10)
                if answer.status_code == 200:
                    break
                assert answer.status_code == 503, answer.text
                assert time.monotonic() < deadline, "no recovery within 30 s"
                time.sleep(0.2)
            assert answer.json() == {"n": 0}  # the PUTs that got 503 were not applied
        _no_tracebacks(stack)
    finally:
        stack.stop()


def test_postgres_unreachable_at_start_up_fails_fast_in_one_line() -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ifmatch.cli",
            "serve",
            "--port",
            str(free_port()),
            "--db",
            f"postgresql://postgres@127.0.0.1:{port}/none",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "IFMATCH_TOKEN": ""},
    )
    assert done.returncode != 0
    assert time.monotonic() - started < 30
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "cannot" in lines[0]
