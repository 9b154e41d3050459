"""The conflict-resolution page in real Chromium, against ``ifmatch serve`` (issue 18).

Two browser contexts are two people: each has its own storage and HTTP
cache.  Every outcome is checked over HTTP, not only on the screen.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import POLL_MS, Service

pytestmark = pytest.mark.slow

EDITOR = '[data-testid="doc-editor"]'
CONFLICT = '[data-testid="conflict"]'
ERROR = '[data-testid="error"]'
CHANGED = '[data-testid="changed-elsewhere"]'

BASE = {
    "title": "Quarterly plan",
    "owner": "ann",
    "tags": ["q1"],
    "meta": {"rev": 1, "status": "draft"},
    "body": "Goals, owners and dates.",
}
#: The first person's save: changes /title, /owner and /meta/rev.
THEIRS = {
    **BASE,
    "title": "Quarterly plan (v2)",
    "owner": "bob",
    "meta": {"rev": 2, "status": "draft"},
}
#: The second person's edit of BASE: changes /title, /tags and /meta/status.
MINE = {
    **BASE,
    "title": "Quarterly plan, final",
    "tags": ["q1", "final"],
    "meta": {"rev": 1, "status": "review"},
}
DIFFERING = {"/title", "/owner", "/tags", "/meta/rev", "/meta/status"}


def create(service: Service, document: object, collection: str = "plans") -> str:
    """A fresh document over HTTP; returns its path."""
    path = f"/api/{collection}/{uuid.uuid4().hex[:10]}"
    made = service.http.put(path, json=document, headers={"If-None-Match": "*"})
    assert made.status_code == 201, made.text
    return path


def stored(service: Service, path: str) -> tuple[object, str]:
    response = service.http.get(path)
    assert response.status_code == 200, response.text
    return response.json(), response.headers["ETag"]


def open_document(
    service: Service, page: Any, path: str, poll_ms: int = POLL_MS, etag: str | None = None
) -> None:
    """Open ``/#<path>`` and wait until the editor holds the stored version (``etag``)."""
    if etag is None:
        _, etag = stored(service, path)
    if page.url.startswith(service.base):
        page.goto("about:blank")  # a new load, even where only the fragment would change
    page.goto(service.page_url(path, poll_ms))
    page.wait_for_function(
        "etag => document.querySelector('[data-testid=etag]').textContent === etag", arg=etag
    )


def edit_and_save(page: Any, document: object) -> None:
    page.fill(EDITOR, json.dumps(document, indent=2))
    page.click('[data-testid="save"]')


def saved_etag(page: Any, old: str) -> str:
    """Wait until the page shows a version other than ``old``; return it."""
    page.wait_for_function(
        "old => document.querySelector('[data-testid=etag]').textContent !== old", arg=old
    )
    return str(page.text_content('[data-testid="etag"]'))


def make_conflict(service: Service, new_page: Callable[..., Any], **size: int) -> tuple[Any, str]:
    """Two people open BASE; the first saves THEIRS; the second's save of MINE conflicts."""
    path = create(service, BASE)
    first, second = new_page(), new_page(**size)
    open_document(service, first, path)
    open_document(service, second, path)
    _, etag = stored(service, path)
    edit_and_save(first, THEIRS)
    saved_etag(first, etag)
    edit_and_save(second, MINE)
    second.wait_for_selector(CONFLICT, state="visible")
    return second, path


def rows(page: Any) -> dict[str, dict[str, str]]:
    """The conflict view's fields: path -> {differs, class}."""
    found: list[dict[str, str]] = page.eval_on_selector_all(
        f"{CONFLICT} .field[data-path]",
        "els => els.map(e => ({path: e.dataset.path, differs: e.dataset.differs,"
        " cls: e.className}))",
    )
    return {row["path"]: row for row in found}


def choices(page: Any) -> dict[tuple[str, str], bool]:
    """Every field-choice: (JSON Pointer, side) -> chosen."""
    found: list[list[Any]] = page.eval_on_selector_all(
        '[data-testid="field-choice"]',
        "els => els.map(e => [e.dataset.path, e.dataset.side,"
        " e.getAttribute('aria-pressed') === 'true'])",
    )
    return {(path, side): chosen for path, side, chosen in found}


def merge_and_wait(page: Any, service: Service, path: str) -> object:
    _, before = stored(service, path)
    page.click('[data-testid="merge-save"]')
    page.wait_for_selector(CONFLICT, state="hidden")
    saved_etag(page, before)
    document, etag = stored(service, path)
    assert page.text_content('[data-testid="etag"]') == etag
    return document


def test_the_second_save_shows_the_conflict_with_the_right_fields_marked(
    service: Service, new_page: Callable[..., Any], screenshots: Path
) -> None:
    page, path = make_conflict(service, new_page)
    marked = rows(page)
    assert {p for p, row in marked.items() if row["differs"] == "true"} == DIFFERING
    assert marked["/body"]["differs"] == "false"
    both = {p for p, row in marked.items() if "both" in row["cls"].split()}
    assert both == {"/title"}  # the only field both people changed
    # Two choices per differing field, preselected from the side that changed it.
    assert choices(page) == {
        ("/title", "mine"): True,
        ("/title", "theirs"): False,
        ("/owner", "mine"): False,
        ("/owner", "theirs"): True,
        ("/tags", "mine"): True,
        ("/tags", "theirs"): False,
        ("/meta/rev", "mine"): False,
        ("/meta/rev", "theirs"): True,
        ("/meta/status", "mine"): True,
        ("/meta/status", "theirs"): False,
    }
    assert stored(service, path)[0] == THEIRS  # nothing was overwritten
    page.screenshot(path=screenshots / "conflict.png", full_page=True)


PER_FIELD = [("/title", "theirs"), ("/owner", "mine"), ("/tags", "theirs"), ("/meta/rev", "mine")]
MERGED = {
    **BASE,
    "title": THEIRS["title"],
    "owner": "ann",
    "tags": ["q1"],
    "meta": {"rev": 1, "status": "review"},  # /meta/status keeps its preselected side: mine
}


@pytest.mark.parametrize(
    ("clicks", "expected"),
    [
        pytest.param(["keep-mine"], MINE, id="keep-mine"),
        pytest.param(["take-theirs"], THEIRS, id="take-theirs"),
        pytest.param(PER_FIELD, MERGED, id="per-field"),
    ],
)
def test_each_resolution_stores_exactly_the_chosen_result(
    service: Service,
    new_page: Callable[..., Any],
    clicks: list[Any],
    expected: dict[str, object],
) -> None:
    page, path = make_conflict(service, new_page)
    for click in clicks:
        if isinstance(click, str):
            page.click(f'[data-testid="{click}"]')
        else:
            pointer, side = click
            page.click(f'[data-testid="field-choice"][data-path="{pointer}"][data-side="{side}"]')
    assert merge_and_wait(page, service, path) == expected
    assert page.is_visible(EDITOR)
    assert page.is_hidden(ERROR)


def test_a_merge_against_a_version_that_moved_again_conflicts_again(
    service: Service, new_page: Callable[..., Any]
) -> None:
    page, path = make_conflict(service, new_page)
    _, etag = stored(service, path)
    third = {**THEIRS, "body": "Rewritten by a third person."}
    assert service.http.put(path, json=third, headers={"If-Match": etag}).status_code == 200
    page.click('[data-testid="keep-mine"]')
    page.click('[data-testid="merge-save"]')
    page.wait_for_function(
        "() => document.querySelector('#conflict-title').textContent.includes('changed again')"
    )
    assert stored(service, path)[0] == third
    # The new three-way: started from THEIRS (what was merged against), mine = the merge.
    assert rows(page)["/body"]["differs"] == "true"
    page.click('[data-testid="keep-mine"]')
    assert merge_and_wait(page, service, path) == MINE


def test_changed_elsewhere_within_one_poll_interval(
    service: Service, new_page: Callable[..., Any], screenshots: Path
) -> None:
    path = create(service, BASE)
    watcher, writer = new_page(), new_page()
    open_document(service, watcher, path)
    open_document(service, writer, path)
    unsaved = json.dumps({**BASE, "body": "Goals, owners, dates and a budget."}, indent=2)
    watcher.fill(EDITOR, unsaved)
    # When the notice shows, in the page's clock (epoch ms, as the access log's).
    watcher.evaluate(
        """() => {
          window.changedAt = null;
          new MutationObserver(() => {
            if (!document.getElementById("changed").hidden && window.changedAt === null)
              window.changedAt = performance.timeOrigin + performance.now();
          }).observe(document.getElementById("changed"), { attributes: true });
        }"""
    )
    # Before the write, the watcher's polls find nothing new: wait for one of those 304s
    # (RFC 9110 §13.1.2) in the log, so the write cannot come before the first poll.
    deadline = time.monotonic() + 10
    while not any(
        line["method"] == "GET" and line["status"] == 304 for line in service.lines(path)
    ):
        assert time.monotonic() < deadline, "no poll of the page was answered 304"
        time.sleep(0.05)
    _, etag = stored(service, path)
    puts = len([line for line in service.lines(path) if line["method"] == "PUT"])
    edit_and_save(writer, THEIRS)
    saved_etag(writer, etag)
    watcher.wait_for_selector(CHANGED, state="visible")
    service.wait_lines({path: 0})
    put = [line for line in service.lines(path) if line["method"] == "PUT"][puts]
    written = datetime.fromisoformat(put["ts"]).timestamp() * 1000  # logged after the commit
    seen = watcher.evaluate("window.changedAt")
    polls = watcher.evaluate(
        """path => performance.getEntriesByType("resource")
            .filter(entry => new URL(entry.name).pathname === path)
            .map(entry => performance.timeOrigin + entry.startTime)""",
        path,
    )
    # The poll that noticed was the first one the page sent after the write (or one
    # already on its way): so at most one interval later, whatever the machine's speed.
    after = [moment for moment in polls if written < moment <= seen]
    assert len(after) <= 1, (after, written, seen)
    assert seen > written
    text = watcher.text_content(CHANGED) or ""
    assert "Changed elsewhere" in text
    assert stored(service, path)[1] in text
    assert "Your edit is kept" in text
    assert watcher.input_value(EDITOR) == unsaved
    # Polls that found nothing new were 304s (RFC 9110 §13.1.2).
    lines = [line for line in service.log() if line["path"] == path and line["method"] == "GET"]
    assert any(line["status"] == 304 for line in lines)
    watcher.screenshot(path=screenshots / "editor.png")


def test_the_browser_cache_revalidates_the_module_and_the_document(
    service: Service, new_page: Callable[..., Any]
) -> None:
    """Chromium's own HTTP cache sends If-None-Match for ifmatch.js and the document: 304s."""
    path = create(service, BASE)
    page = new_page()
    # A long poll interval: no poll of the module's own can answer for the browser's cache.
    _, etag = stored(service, path)
    open_document(service, page, path, poll_ms=600_000, etag=etag)
    watched = ["/ifmatch.js", path]
    # The document's lines so far: the create, the test's read and the browser's first GET.
    service.wait_lines({"/ifmatch.js": 0, path: 2})
    before = {name: len(service.lines(name)) for name in watched}
    open_document(service, page, path, poll_ms=600_000, etag=etag)
    service.wait_lines(before)
    time.sleep(0.3)  # any further line would show up by now
    module, document = (service.lines(name)[before[name] :] for name in watched)
    assert [line["status"] for line in module] == [304]
    assert [(line["status"], line["precondition"]) for line in document] == [
        (304, "304 If-None-Match")
    ]
    assert page.input_value(EDITOR).startswith('{\n  "title": "Quarterly plan"')


def test_a_428_is_shown_in_words(service: Service, new_page: Callable[..., Any]) -> None:
    path = create(service, BASE)
    page = new_page()
    open_document(service, page, path)

    def strip_if_match(route: Any) -> None:
        request = route.request
        headers = {k: v for k, v in request.headers.items() if k.lower() != "if-match"}
        route.continue_(headers=headers if request.method == "PUT" else None)

    page.route(f"**{path}", strip_if_match)
    before = len(service.lines(path))
    edit_and_save(page, MINE)
    page.wait_for_selector(ERROR, state="visible")
    text = page.text_content(ERROR) or ""
    assert "428 Precondition Required" in text
    assert "only accepts this change with If-Match" in text
    deadline = time.monotonic() + 10
    while not (puts := [line for line in service.lines(path)[before:] if line["method"] == "PUT"]):
        assert time.monotonic() < deadline, "the PUT was not logged"
        time.sleep(0.05)
    assert [line["status"] for line in puts] == [428]
    assert stored(service, path)[0] == BASE


def test_a_network_error_is_shown_in_words(service: Service, new_page: Callable[..., Any]) -> None:
    path = create(service, BASE)
    page = new_page()
    open_document(service, page, path)
    page.route(
        f"**{path}",
        lambda route: (
            route.abort("connectionrefused") if route.request.method == "PUT" else route.continue_()
        ),
    )
    edit_and_save(page, MINE)
    page.wait_for_selector(ERROR, state="visible")
    text = page.text_content(ERROR) or ""
    assert "could not be reached" in text
    assert "Check that the service is running" in text
    assert stored(service, path)[0] == BASE
    assert page.input_value(EDITOR).startswith('{\n  "title": "Quarterly plan, final"')


def test_create_and_delete_from_the_page(service: Service, new_page: Callable[..., Any]) -> None:
    page = new_page()
    collection = f"c{uuid.uuid4().hex[:8]}"
    page.goto(service.page_url(f"/api/{collection}"))
    page.fill('[data-testid="new-name"]', "first")
    page.fill('[data-testid="new-json"]', '{"a": 1}')
    page.click('[data-testid="create"]')
    page.wait_for_function("() => location.hash.endsWith('/first')")
    path = f"/api/{collection}/first"
    document, etag = stored(service, path)
    assert document == {"a": 1}
    page.wait_for_function(
        "etag => document.querySelector('[data-testid=etag]').textContent === etag", arg=etag
    )
    # The collection lists it, and creating the same name again replaces nothing (412).
    page.goto(service.page_url(f"/api/{collection}"))
    page.wait_for_selector(f'[data-testid="documents"] a[href="#{path}"]')
    assert page.is_visible(f'[data-testid="collections"] a[href="#/api/{collection}"]')
    page.fill('[data-testid="new-name"]', "first")
    page.fill('[data-testid="new-json"]', '{"a": 2}')
    page.click('[data-testid="create"]')
    page.wait_for_selector(ERROR, state="visible")
    assert "already exists" in (page.text_content(ERROR) or "")
    assert stored(service, path)[0] == {"a": 1}
    # A stale delete is refused (If-Match); a current one deletes.
    open_document(service, page, path)
    assert service.http.put(path, json={"a": 3}, headers={"If-Match": etag}).status_code == 200
    page.click('[data-testid="delete"]')
    page.click('[data-testid="delete"]')
    page.wait_for_selector(ERROR, state="visible")
    assert "Not deleted" in (page.text_content(ERROR) or "")
    assert stored(service, path)[0] == {"a": 3}
    open_document(service, page, path)
    page.click('[data-testid="delete"]')
    page.click('[data-testid="delete"]')
    page.wait_for_function(f"() => location.hash === '#/api/{collection}'")
    assert service.http.get(path).status_code == 404


def test_a_large_collection_opens_a_page_at_a_time(
    service: Service, new_page: Callable[..., Any]
) -> None:
    """The collection view asks for pages of 100 (each with its own validator) and offers
    the next one, so a collection of any size opens as fast as a small one."""
    collection = f"big{uuid.uuid4().hex[:8]}"
    names = [f"d{number:03d}" for number in range(130)]
    for name in names:
        response = service.http.put(
            f"/api/{collection}/{name}", json={"n": name}, headers={"If-None-Match": "*"}
        )
        assert response.status_code == 201
    listed = f"/api/{collection}"
    page = new_page()
    asked: list[str] = []
    page.on(
        "request",
        lambda request: (
            asked.append(request.url.split(listed, 1)[1]) if listed in request.url else None
        ),
    )
    page.goto(service.page_url(listed))
    links = '[data-testid="documents"] a'
    page.wait_for_function(f"() => document.querySelectorAll('{links}').length === 100")
    assert page.is_visible('[data-testid="more"]')
    assert asked == ["?limit=100"], "the view never asks for the whole listing"
    page.click('[data-testid="more"]')
    page.wait_for_function(f"() => document.querySelectorAll('{links}').length === 130")
    assert page.is_hidden('[data-testid="more"]')
    assert len(asked) == 2, asked
    assert asked[1].startswith("?limit=100&cursor="), asked
    shown = page.eval_on_selector_all(links, "nodes => nodes.map((n) => n.textContent)")
    assert [text[:4] for text in shown] == names, "in order, each document once"
    assert "130 document(s)" in (page.text_content("#status") or "")


def test_keyboard_only_at_400_pixels(
    service: Service, new_page: Callable[..., Any], screenshots: Path
) -> None:
    page, path = make_conflict(service, new_page, width=400, height=800)
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    # The conflict view takes the focus on its first control.
    assert page.evaluate("document.activeElement.dataset.testid") == "keep-mine"
    page.screenshot(path=screenshots / "conflict-400px.png", full_page=True)
    page.keyboard.press("Enter")
    assert all(chosen == (side == "mine") for (_, side), chosen in choices(page).items())
    for _ in range(30):
        if page.evaluate("document.activeElement.dataset.testid") == "merge-save":
            break
        page.keyboard.press("Tab")
    else:
        pytest.fail("merge-save cannot be reached with Tab")
    _, before = stored(service, path)
    page.keyboard.press("Enter")
    saved_etag(page, before)
    assert stored(service, path)[0] == MINE


EVIL = """<!doctype html><title>upload</title><script>
document.title = "ran";
fetch("/api/pwned/" + location.pathname.split("/").pop().replace(".html", ""), {
  method: "PUT",
  headers: {"If-None-Match": "*", "Content-Type": "application/json"},
  body: JSON.stringify({token: sessionStorage.getItem("ifmatch.token")}),
});
</script><p>an uploaded page</p>"""


def test_an_uploaded_page_does_not_run_in_the_page_origin(
    service: Service, new_page: Callable[..., Any]
) -> None:
    made = service.http.put(
        "/files/evil.html",
        content=EVIL,
        headers={"Content-Type": "text/html", "If-None-Match": "*"},
    )
    assert made.status_code == 201
    page = new_page()
    page.goto(service.page_url())
    page.fill('[data-testid="token"]', "secret-token")
    page.press('[data-testid="token"]', "Enter")
    page.wait_for_function("() => sessionStorage.getItem('ifmatch.token') === 'secret-token'")

    # The control: the same markup served from this origin without the sandbox runs and writes.
    page.route(
        "**/control.html",
        lambda route: route.fulfill(status=200, content_type="text/html", body=EVIL),
    )
    page.goto(f"{service.base}/control.html")
    page.wait_for_function("() => document.title === 'ran'")
    deadline = time.monotonic() + 10
    while service.http.get("/api/pwned/control").status_code != 200:
        assert time.monotonic() < deadline, "the control page's script did not write"
        time.sleep(0.1)
    assert service.http.get("/api/pwned/control").json() == {"token": "secret-token"}

    # The upload, as the service serves it: sandboxed, so no script runs, in an opaque origin.
    page.goto(service.page_url())
    response = page.goto(f"{service.base}/files/evil.html")
    assert response.headers["content-security-policy"] == "sandbox"
    assert page.text_content("p") == "an uploaded page"
    assert page.title() == "upload"
    assert page.evaluate("() => self.origin") == "null"
    page.wait_for_timeout(500)
    assert page.title() == "upload"
    assert service.http.get("/api/pwned/evil").status_code == 404
