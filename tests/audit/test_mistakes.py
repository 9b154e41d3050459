"""Acceptance: against apps that each make ONE of the seeds' mistakes, the auditor reports
exactly that mistake, and nothing against the same app without it (the control).

The apps run in-process through ``httpx.WSGITransport``; the auditor is the
same code that talks to real sockets.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ifmatch.audit import ALL_CHECKS, Level, Report, WriteOptions, run_audit
from tests.audit.apps import DocumentApp

URL = "http://app.test/docs/1"


def audit(app: DocumentApp, *, write: bool = True) -> Report:
    return run_audit(
        URL,
        write=WriteOptions() if write else None,
        transport=httpx.WSGITransport(app=app),
    )


def test_correct_app_passes_every_probe() -> None:
    report = audit(DocumentApp())
    assert report.ids(Level.FAIL) == set()
    assert report.ids(Level.WARN) == set()
    assert report.ids(Level.SKIP) == set(), report.to_text()
    assert report.exit_status == 0
    assert [finding.id for finding in report.findings] == [check.id for check in ALL_CHECKS]


@pytest.mark.parametrize(
    ("mistake", "expected_failures", "expected_warnings", "title"),
    [
        pytest.param(
            "no-304",
            {"inm-current", "inm-list", "inm-weak", "inm-star"},
            {"ims-current"},  # the same mistake for dates: §13.1.3 says SHOULD, so a warning
            "returns 200 where 304 belongs",
            id="§13.1.2 200 instead of 304",
        ),
        pytest.param(
            "if-match-ignored",
            {"if-match-stale", "if-match-weak"},
            set(),
            "If-Match ignored: concurrent writes overwrite each other",
            id="§13.1.1 If-Match ignored",
        ),
        pytest.param(
            "gzip-strong-etag",
            {"etag-coding"},
            set(),
            "strong ETag shared between content codings",
            id="§8.8.3 strong ETag kept under gzip",
        ),
        pytest.param(
            "per-host-etag",
            {"etag-stable"},
            set(),
            "ETags differ between requests: servers behind a load balancer?",
            id="§8.8.3 ETag differs per request",
        ),
    ],
)
def test_one_mistake_is_reported_as_exactly_that(
    mistake: str, expected_failures: set[str], expected_warnings: set[str], title: str
) -> None:
    report = audit(DocumentApp(mistake))
    assert report.ids(Level.FAIL) == expected_failures, report.to_text()
    assert report.ids(Level.WARN) == expected_warnings, report.to_text()
    assert title in {finding.title for finding in report.of_level(Level.FAIL)}
    assert report.exit_status == 1


def test_no_304_mistake_also_warns_about_if_modified_since() -> None:
    """§13.1.3 says SHOULD for If-Modified-Since, so ignoring it is a warning, not a failure."""
    report = audit(DocumentApp("no-304"), write=False)
    assert report.ids(Level.WARN) == {"ims-current"}
    assert "not-modified-headers" in report.ids(Level.SKIP)


def test_unstable_etag_skips_the_probes_that_need_the_current_etag() -> None:
    report = audit(DocumentApp("per-host-etag"), write=False)
    skipped = {f.id: f.evidence for f in report.of_level(Level.SKIP)}
    for probe in ("inm-current", "inm-list", "inm-weak", "if-range-current"):
        assert skipped[probe] == "the ETag changes from request to request"
    # If-None-Match: * needs no stable tag, only a current representation.
    assert "inm-star" in report.ids(Level.PASS)


def test_read_probes_do_not_write() -> None:
    app = DocumentApp("if-match-ignored")
    report = audit(app, write=False)
    assert app.writes == 0
    assert {f.id for f in report.findings if f.level is Level.SKIP} >= {
        "if-match-stale",
        "precondition-required",
    }


def test_write_probes_leave_the_content_as_it_was() -> None:
    app = DocumentApp("if-match-ignored")
    before = app.body
    audit(app)
    assert app.writes >= 3  # current If-Match, stale, weak (the last two wrongly accepted)
    assert app.body == before


@pytest.mark.parametrize(
    ("mistake", "failures", "warnings"),
    [
        pytest.param("no-etag", set(), {"validators"}, id="§8.8 no ETag -> warn"),
        pytest.param("unquoted-etag", {"etag-syntax"}, set(), id="§8.8.3 unquoted ETag"),
        pytest.param(
            "weak-etag", set(), {"if-match-current"}, id="§13.1.1 weak ETag on a writable resource"
        ),
        pytest.param(
            "lm-after-date", {"last-modified-syntax"}, set(), id="§8.8.2.1 Last-Modified after Date"
        ),
        pytest.param(
            "strong-etag-dynamic-body",
            {"etag-stable", "range"},
            set(),
            id="§8.8.3 strong ETag over changing bytes (and so a wrong 206)",
        ),
        pytest.param("ims-over-inm", {"inm-over-ims"}, set(), id="§13.1.3 IMS despite INM"),
        pytest.param(
            "304-drops-etag", {"not-modified-headers"}, set(), id="§15.4.5 304 without ETag"
        ),
        pytest.param("no-head", {"head-validators"}, set(), id="§9.1 HEAD -> 405"),
        pytest.param("range-off-by-one", {"range"}, set(), id="§14.4 206 with wrong bytes"),
        pytest.param(
            "if-range-ignored",
            {"if-range-stale", "if-range-weak"},
            set(),
            id="§13.1.5 If-Range ignored",
        ),
        pytest.param(
            "416-without-content-range",
            set(),
            {"range-unsatisfiable"},
            id="§15.5.17 416 without Content-Range",
        ),
        pytest.param("no-428", set(), {"precondition-required"}, id="RFC 6585 §3 no 428"),
        pytest.param(
            "rejects-body", {"if-match-current"}, set(), id="written-back body refused (422)"
        ),
    ],
)
def test_each_further_mistake_is_named(
    mistake: str, failures: set[str], warnings: set[str]
) -> None:
    report = audit(DocumentApp(mistake))
    assert report.ids(Level.FAIL) == failures, report.to_text()
    assert report.ids(Level.WARN) == warnings, report.to_text()


def test_refused_body_skips_the_write_probes_it_makes_unjudgeable() -> None:
    report = audit(DocumentApp("rejects-body"))
    skipped = {f.id: f.evidence for f in report.of_level(Level.SKIP)}
    for probe in ("if-match-stale", "if-match-weak", "inm-star-existing", "precondition-required"):
        assert "cannot judge" in skipped[probe]
        assert "try --body" in skipped[probe]


def test_no_etag_skips_etag_probes_with_the_reason() -> None:
    report = audit(DocumentApp("no-etag"))
    skipped = {f.id: f.evidence for f in report.of_level(Level.SKIP)}
    assert skipped["inm-current"] == "no ETag"
    assert skipped["etag-stable"] == "no ETag"
    # Date-based probes still run without an ETag.
    assert {"ims-current", "ims-earlier", "inm-over-ims"} <= report.ids(Level.PASS)


def test_accept_ranges_none_is_a_skip_not_a_warning() -> None:
    """§14.3: a server MAY say ``Accept-Ranges: none``; that is an answer, not a fault."""
    inner = DocumentApp()

    def no_ranges(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environ.pop("HTTP_RANGE", None)

        def start(status: str, headers: list[tuple[str, str]]) -> Any:
            kept = [(n, v) for n, v in headers if n != "Accept-Ranges"]
            return start_response(status, [*kept, ("Accept-Ranges", "none")])

        return inner(environ, start)

    report = run_audit(URL, transport=httpx.WSGITransport(app=no_ranges))
    assert report.ids(Level.WARN) == set()
    assert "Accept-Ranges: none" in next(f.evidence for f in report.findings if f.id == "range")
    assert {"range", "if-range-stale", "range-unsatisfiable"} <= report.ids(Level.SKIP)


def test_no_accept_ranges_and_no_206_is_a_warning() -> None:
    inner = DocumentApp()

    def ignores_range(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environ.pop("HTTP_RANGE", None)

        def start(status: str, headers: list[tuple[str, str]]) -> Any:
            return start_response(status, [(n, v) for n, v in headers if n != "Accept-Ranges"])

        return inner(environ, start)

    report = run_audit(URL, transport=httpx.WSGITransport(app=ignores_range))
    assert report.ids(Level.WARN) == {"range"}
    assert report.ids(Level.FAIL) == set()
    assert "no Accept-Ranges" in next(f.evidence for f in report.findings if f.id == "range")


def test_an_asgi_app_in_process_through_a2wsgi(tmp_path: Path) -> None:
    """The docs' recipe for ASGI apps: same verdict as on uvicorn (docs/audit.md's table)."""
    from a2wsgi import ASGIMiddleware
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse
    from starlette.routing import Route

    (tmp_path / "data.txt").write_bytes(b"0123456789" * 100)

    async def serve(request: Request) -> FileResponse:
        return FileResponse(tmp_path / "data.txt")

    app = Starlette(routes=[Route("/file", serve)])
    wsgi_app: Any = ASGIMiddleware(app)  # type: ignore[arg-type]  # a2wsgi's ASGI type is narrower than Starlette's
    transport = httpx.WSGITransport(app=wsgi_app)
    report = run_audit("http://app.test/file", transport=transport)
    assert report.ids(Level.FAIL) == {"inm-current", "inm-list", "inm-weak", "inm-star"}
    assert report.ids(Level.WARN) == {"ims-current"}
