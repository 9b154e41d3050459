"""Fixtures for the client tests: the test app in-process, and served by uvicorn in a thread."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.applications import Starlette

from tests.client.app import State, make_app
from tests.support.libraries import http as http  # the fixture: httpx, then httpx2


@contextlib.contextmanager
def serve_in_thread(app: Starlette) -> Iterator[str]:
    """Serve ``app`` with a real uvicorn on 127.0.0.1 in a thread; yields the base URL.

    A thread (not a subprocess) so that a test can change the app's state,
    e.g. the file being downloaded, between or during requests.
    """
    # The socket is bound here and handed to uvicorn: a port picked first and bound
    # later could be taken by another process in between.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="critical", lifespan="off"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True
        )
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started:
                if time.monotonic() > deadline or not thread.is_alive():
                    raise RuntimeError("uvicorn did not start")
                time.sleep(0.01)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(10)


@pytest.fixture
def state() -> State:
    return State()


@pytest.fixture
def app(state: State) -> Starlette:
    return make_app(state)


@pytest.fixture
def server(app: Starlette) -> Iterator[str]:
    with serve_in_thread(app) as url:
        yield url
