"""The curl session of docs/service.md (and the README), replayed over HTTP against a real
``ifmatch serve`` on SQLite, so the documented statuses cannot rot."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ifmatch import parse_http_date
from tests.support.servers import serving

pytestmark = pytest.mark.slow
NOTE = "/api/notes/hello"
JSON = {"Content-Type": "application/json"}
NUMBERS = "".join(f"{n}\n" for n in range(1, 200_001)).encode()


def test_readme_session(tmp_path: Path) -> None:
    with (
        serving(f"sqlite:///{tmp_path / 'ifmatch.db'}") as base,
        httpx.Client(base_url=base) as http,
    ):
        body = b'{"title": "Hello", "body": "first draft"}'
        created = http.put(NOTE, content=body, headers={**JSON, "If-None-Match": "*"})
        assert (created.status_code, created.headers["ETag"]) == (201, '"v1"')
        assert created.headers["Location"] == NOTE
        assert parse_http_date(created.headers["Date"]) >= parse_http_date(
            created.headers["Last-Modified"]
        )  # §8.8.2.1: never a Last-Modified later than Date

        read = http.get(NOTE)
        assert (read.status_code, read.content) == (200, body)
        assert read.headers["Cache-Control"] == "no-cache"

        assert http.get(NOTE, headers={"If-None-Match": '"v1"'}).status_code == 304

        second = b'{"title": "Hello", "body": "second draft"}'
        replaced = http.put(NOTE, content=second, headers={**JSON, "If-Match": '"v1"'})
        assert (replaced.status_code, replaced.headers["ETag"]) == (200, '"v2"')

        stale = http.put(NOTE, content=b"{}", headers={**JSON, "If-Match": '"v1"'})
        assert (stale.status_code, stale.headers["ETag"]) == (412, '"v2"')
        assert stale.json()["precondition"] == "If-Match"

        blind = http.put(NOTE, content=b"{}", headers=JSON)
        assert blind.status_code == 428
        assert blind.headers["Content-Type"] == "application/problem+json"

        patch = b'{"body": null, "tags": ["demo"]}'
        merge = {"Content-Type": "application/merge-patch+json", "If-Match": '"v2"'}
        patched = http.patch(NOTE, content=patch, headers=merge)
        assert patched.status_code == 200
        assert patched.json() == {"title": "Hello", "tags": ["demo"]}
        assert http.get(NOTE).content == patched.content

        text = {"Content-Type": "text/plain"}
        uploaded = http.put("/files/numbers.txt", content=NUMBERS, headers=text)
        assert (uploaded.status_code, uploaded.headers["ETag"]) == (201, '"v1"')

        part = http.get("/files/numbers.txt", headers={"Range": "bytes=0-99999"})
        assert part.status_code == 206
        resume = {"Range": "bytes=100000-", "If-Range": '"v1"'}
        rest = http.get("/files/numbers.txt", headers=resume)
        assert rest.status_code == 206
        assert rest.headers["Content-Range"] == f"bytes 100000-{len(NUMBERS) - 1}/{len(NUMBERS)}"
        assert part.content + rest.content == NUMBERS

        changed = "".join(f"{n}\n" for n in range(2, 200_002)).encode()
        replaced_file = http.put(
            "/files/numbers.txt", content=changed, headers={**text, "If-Match": '"v1"'}
        )
        assert (replaced_file.status_code, replaced_file.headers["ETag"]) == (204, '"v2"')
        restarted = http.get("/files/numbers.txt", headers=resume)
        assert restarted.status_code == 200  # the whole new file, never a splice
        assert restarted.content == changed
