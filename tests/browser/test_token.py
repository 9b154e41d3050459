"""The page against ``ifmatch serve --token``: the token field, sessionStorage, the bearer token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Service
from tests.support.servers import serving

pytestmark = pytest.mark.slow
TOKEN = "tok-3f9a"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("browser-token")
    log_path = folder / "access.log"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with (
        serving(
            f"sqlite:///{folder / 'store.db'}",
            "--access-log",
            log_path=log_path,
            env={"IFMATCH_TOKEN": TOKEN},
        ) as base,
        httpx.Client(base_url=base, headers=headers, timeout=10) as http,
    ):
        yield Service(base, http, log_path)


def test_the_token_field_unlocks_the_service(
    guarded: Service, new_page: Callable[..., Any], screenshots: Path
) -> None:
    path = "/api/secrets/plan"
    made = guarded.http.put(path, json={"n": 1}, headers={"If-None-Match": "*"})
    assert made.status_code == 201
    page = new_page()
    page.goto(guarded.page_url(path))  # the page itself needs no token
    page.wait_for_selector('[data-testid="error"]', state="visible")
    text = page.text_content('[data-testid="error"]') or ""
    assert "401" in text
    assert "needs a token" in text
    page.fill('[data-testid="token"]', TOKEN)
    page.press('[data-testid="token"]', "Enter")
    page.wait_for_function("() => document.querySelector('[data-testid=etag]').textContent")
    assert page.is_hidden('[data-testid="error"]')
    page.fill('[data-testid="doc-editor"]', '{"n": 2}')
    page.click('[data-testid="save"]')
    page.wait_for_function(
        "() => document.querySelector('#status').textContent.startsWith('Saved')"
    )
    assert guarded.http.get(path).json() == {"n": 2}
    assert page.evaluate("sessionStorage.getItem('ifmatch.token')") == TOKEN
    assert TOKEN not in page.evaluate("JSON.stringify(localStorage)")
    # A new tab of the same browser starts without it (sessionStorage is per tab).
    other = page.context.new_page()
    other.goto(guarded.page_url())
    assert other.evaluate("sessionStorage.getItem('ifmatch.token')") is None
