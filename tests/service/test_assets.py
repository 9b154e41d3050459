"""The page, ``/ifmatch.js`` and ``/ui/*``: validators, revalidation, CSP, the token, package data;
and the headers that keep user files in ``/files`` from running in the page's origin."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser

import pytest
from starlette.testclient import TestClient

from ifmatch.etag import ETag
from ifmatch.service._assets import STATIC

ASSET_PATHS = ["/", "/ifmatch.js", "/ui/app.js", "/ui/style.css", "/ui/icon.svg"]


def _policy(response: object) -> dict[str, str]:
    value = response.headers["Content-Security-Policy"]  # type: ignore[attr-defined]
    directives = (part.strip().split(None, 1) for part in value.split(";") if part.strip())
    return {name: rest for name, rest in directives}


@pytest.mark.parametrize("path", ASSET_PATHS)
def test_assets_are_revalidated_with_a_strong_etag(client: TestClient, path: str) -> None:
    """RFC 9111 §5.2.2.4 no-cache: stored, but revalidated before each use; 304 (§13.1.2)."""
    response = client.get(path, headers={"Accept": "text/html,*/*"})
    assert response.status_code == 200
    etag = ETag.parse(response.headers["ETag"])
    assert not etag.weak
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Last-Modified" in response.headers
    again = client.get(path, headers={"If-None-Match": str(etag), "Accept": "text/html"})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == str(etag)
    assert again.headers["Cache-Control"] == "no-cache"
    head = client.head(path, headers={"Accept": "text/html"})
    assert head.headers["ETag"] == str(etag)


@pytest.mark.parametrize("path", ASSET_PATHS)
def test_assets_carry_a_strict_policy(client: TestClient, path: str) -> None:
    """No inline script, requests to this origin only, no framing (CSP Level 3)."""
    policy = _policy(client.get(path))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert "unsafe" not in " ".join(policy.values())


def test_the_module_is_served_as_a_javascript_module(client: TestClient) -> None:
    response = client.get("/ifmatch.js")
    assert response.headers["Content-Type"].split(";")[0] in {
        "text/javascript",
        "application/javascript",
    }
    assert response.content == (STATIC / "ifmatch.js").read_bytes()
    assert b"export class Client" in response.content


def test_the_etag_follows_the_content_not_the_clock(client: TestClient) -> None:
    """The same bytes give the same tag on every instance, whatever the install time."""
    import hashlib

    body = client.get("/ifmatch.js")
    digest = hashlib.sha256(body.content).hexdigest()[:32]
    assert body.headers["ETag"] == f'"c{digest}"'


def test_root_is_the_page_for_browsers_and_links_for_json_clients(client: TestClient) -> None:
    page = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Vary"] == "Accept"
    assert b'data-testid="doc-editor"' in page.content
    assert (
        client.get("/", headers={"Accept": "*/*"}).headers["Content-Type"].startswith("text/html")
    )
    links = client.get("/", headers={"Accept": "application/json"})
    assert links.json()["openapi"] == "/openapi.json"
    assert links.headers["Vary"] == "Accept"


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self.testids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            self.scripts.append(named)
        if tag == "style":
            self.inline.append("<style>")
        for name, _ in attrs:
            if name.startswith("on") or name == "style":
                self.inline.append(f"{tag} {name}")
        if named.get("data-testid"):
            self.testids.add(str(named["data-testid"]))


def test_the_page_has_nothing_inline_the_policy_would_block() -> None:
    markup = _Markup()
    markup.feed((STATIC / "index.html").read_text())
    assert markup.scripts
    assert all(script.get("src") and script.get("type") == "module" for script in markup.scripts)
    assert markup.inline == []
    for name in ("app.js", "ifmatch.js"):
        source = (STATIC / name).read_text()
        assert not re.search(r"\beval\(|new Function\(|setAttribute\(\"style\"", source)


def test_page_and_module_need_no_token_but_the_data_does(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(token="s3cret")
    for path in ASSET_PATHS:
        assert client.get(path).status_code == 200, path
    assert client.get("/api/notes/x").status_code == 401
    assert client.get("/", headers={"Accept": "application/json"}).status_code == 200
    for method, path in [("PUT", "/ifmatch.js"), ("DELETE", "/ui/app.js"), ("POST", "/")]:
        assert client.request(method, path).status_code == 401, (method, path)
    authorized = {"Authorization": "Bearer s3cret"}
    for method, path in [("PUT", "/ifmatch.js"), ("DELETE", "/ui/app.js"), ("POST", "/")]:
        assert client.request(method, path, headers=authorized).status_code == 405


@pytest.mark.parametrize("path", ["/ui/", "/ui/../app.py", "/ui/%2e%2e/app.py", "/ui/nothing.js"])
def test_nothing_else_is_served_from_the_package(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    ("name", "content_type", "body"),
    [
        ("evil.html", "text/html", b"<script>parent.document.title='owned'</script>"),
        ("evil.svg", "image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>'),
        ("evil.txt", "text/plain", b"<script>alert(1)</script>"),
        ("evil.bin", "application/octet-stream", b"<html><script>1</script>"),
    ],
)
def test_user_files_never_run_in_the_page_origin(
    client: TestClient, name: str, content_type: str, body: bytes
) -> None:
    """Uploaded HTML is served as uploaded, but sandboxed (opaque origin, no script), unsniffed."""
    path = f"/files/uploads/{name}"
    made = client.put(
        path, content=body, headers={"Content-Type": content_type, "If-None-Match": "*"}
    )
    assert made.status_code == 201
    for response in (client.get(path), client.get(path, headers={"Range": "bytes=0-3"})):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"] == "sandbox"
    assert client.head(path).headers["Content-Security-Policy"] == "sandbox"


def test_api_lists_the_collections_that_hold_documents(client: TestClient) -> None:
    """``GET /api``: what the page's sidebar lists; a strong ETag of the list (304, §13.1.2)."""
    empty = client.get("/api")
    assert empty.json() == {"collections": []}
    for path in ("/api/notes/a", "/api/notes/b", "/api/plans/x"):
        created = client.put(path, json={}, headers={"If-None-Match": "*"})
        assert created.status_code == 201
    listing = client.get("/api")
    names = [(c["name"], c["documents"]) for c in listing.json()["collections"]]
    assert names == [("notes", 2), ("plans", 1)]
    notes = listing.json()["collections"][0]
    assert notes["etag"] == client.get("/api/notes").headers["ETag"]
    etag = listing.headers["ETag"]
    assert not ETag.parse(etag).weak
    assert listing.headers["Cache-Control"] == "no-cache"
    assert client.get("/api", headers={"If-None-Match": etag}).status_code == 304
    assert client.head("/api").headers["ETag"] == etag
    # Any write changes it; a collection emptied by deletes is no longer listed.
    plans_x = created.headers[
        "ETag"
    ]  # versions are per space on SQLite, per database on PostgreSQL
    assert client.delete("/api/plans/x", headers={"If-Match": plans_x}).status_code == 204
    after = client.get("/api", headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert [c["name"] for c in after.json()["collections"]] == ["notes"]
    assert client.post("/api", json={}).status_code == 405
