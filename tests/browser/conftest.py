"""Fixtures for the page's tests in real Chromium: one browser and one service per module.

Debian's ``chromium`` (installed by ``scripts/system-deps.sh``) driven by
Playwright from PyPI through ``executable_path``: no browser is downloaded.
Where either is missing the tests skip with the reason, and fail under
``CI=true``.  Playwright's sync API runs an event loop in the main thread
while it is started, so it is started per module and stopped after it:
tests elsewhere that call ``asyncio.run`` must never find it running.
The service runs as ``ifmatch serve`` on a free port with its access log in
a file the tests read.  Screenshots go to ``tmp_path``, or to
the folder ``IFMATCH_SCREENSHOTS`` names (``docs/img`` when refreshing the
docs' pictures).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.servers import serving, unavailable

CHROMIUM = os.environ.get("IFMATCH_CHROMIUM", "/usr/bin/chromium")
# As root, and on a machine with no network: no sandbox, no background connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The poll interval the page is opened with (ms): short, so the tests are quick.
POLL_MS = 400


@dataclass
class Service:
    """A running ``ifmatch serve``: its base URL, an HTTP client, and its access log."""

    base: str
    http: httpx.Client
    log_path: Path

    def log(self) -> list[dict[str, Any]]:
        """The access log's lines so far, parsed."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def lines(self, path: str) -> list[dict[str, Any]]:
        """The access log's lines for ``path``."""
        return [line for line in self.log() if line["path"] == path]

    def wait_lines(self, counts: dict[str, int]) -> None:
        """Wait until the log has more than ``counts[path]`` lines for each path.

        A line is written once its response is finished, which can be after
        the browser already used it: tests wait for the lines they read.
        """
        deadline = time.monotonic() + 10
        while any(len(self.lines(path)) <= count for path, count in counts.items()):
            assert time.monotonic() < deadline, f"no new access log lines for {counts}"
            time.sleep(0.05)

    def page_url(self, fragment: str = "", poll_ms: int = POLL_MS) -> str:
        return f"{self.base}/?poll={poll_ms}#{fragment}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright, shared by the tests of a module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[dev]')")
        raise
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        unavailable(f"{CHROMIUM} is missing (scripts/system-deps.sh installs chromium as root)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``ifmatch serve`` on SQLite with its access log, for one test module."""
    folder = tmp_path_factory.mktemp("browser-service")
    log_path = folder / "access.log"
    with (
        serving(f"sqlite:///{folder / 'store.db'}", "--access-log", log_path=log_path) as base,
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        yield Service(base, http, log_path)


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open pages, each in a context of its own (its own storage and HTTP cache)."""
    contexts: list[Any] = []

    def make(width: int = 1100, height: int = 760) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        watch(page)
        context.on("page", watch)
        return page

    def watch(page: Any) -> None:
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))

    yield make
    errors = [error for context in contexts for page in context.pages for error in page.errors]
    for context in contexts:
        context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the tests' screenshots go (``IFMATCH_SCREENSHOTS`` to keep them, e.g. docs/img)."""
    folder = Path(os.environ.get("IFMATCH_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
