"""``ifmatch audit`` on the command line: report layout, JSON, exit status 0/1/2,
headers and bearer token, --body/--method, and one-line errors instead of tracebacks.

The servers are the apps of tests/audit/apps.py on real sockets.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ifmatch.audit import ALL_CHECKS, READ_CHECKS, WRITE_CHECKS
from ifmatch.audit.cli import main
from ifmatch.cli import main as ifmatch_main
from tests.audit.apps import DocumentApp, serve_wsgi


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main("audit", list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def correct() -> Iterator[tuple[str, DocumentApp]]:
    app = DocumentApp()
    with serve_wsgi(app) as url:
        yield url, app


def test_clean_audit_exits_0_with_a_grouped_report(
    capsys: pytest.CaptureFixture[str], correct: tuple[str, DocumentApp]
) -> None:
    status, out, err = run(capsys, correct[0])
    assert status == 0
    assert err == ""
    assert "FAIL" not in out
    reads, writes = len(READ_CHECKS), len(WRITE_CHECKS)  # every read passes, no write runs
    assert f"PASS ({reads})" in out
    assert f"SKIPPED (not applicable) ({writes})" in out  # the write probes, each saying why
    assert out.count("why: write probes not enabled (--write)") == writes
    assert out.rstrip().endswith(f"0 fail, 0 warn, {reads} pass, {writes} skip")


def test_failures_exit_1_with_section_fix_and_evidence(capsys: pytest.CaptureFixture[str]) -> None:
    with serve_wsgi(DocumentApp("no-304")) as url:
        status, out, _ = run(capsys, url)
    assert status == 1
    failures = out.split("FAIL (4)\n", 1)[1].split("\n\n", 1)[0]
    assert "[inm-current] returns 200 where 304 belongs  (RFC 9110 §13.1.2)" in failures
    assert "fix: compare If-None-Match with the current ETag" in failures
    assert 'seen: GET If-None-Match: "v1" -> 200' in failures


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    with serve_wsgi(DocumentApp("if-match-ignored")) as url:
        status, out, _ = run(capsys, "--json", "--write", url)
    report = json.loads(out)
    assert status == report["exit_status"] == 1
    assert report["write_probes"] is True
    # The two If-Match probes fail (stale and weak accepted); every other probe passes.
    assert report["summary"] == {"fail": 2, "warn": 0, "pass": len(ALL_CHECKS) - 2, "skip": 0}
    stale = next(f for f in report["findings"] if f["id"] == "if-match-stale")
    assert stale == {
        "id": "if-match-stale",
        "level": "fail",
        "title": "If-Match ignored: concurrent writes overwrite each other",
        "section": "RFC 9110 §13.1.1",
        "fix": stale["fix"],
        "evidence": stale["evidence"],
    }
    assert stale["fix"].startswith("compare If-Match")
    assert "the write was performed" in stale["evidence"]
    passed = next(f for f in report["findings"] if f["level"] == "pass")
    assert passed["fix"] is None


def test_dispatch_through_the_ifmatch_command(
    capsys: pytest.CaptureFixture[str], correct: tuple[str, DocumentApp]
) -> None:
    assert ifmatch_main(["audit", "--json", correct[0]]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["fail"] == 0


def guarded(app: DocumentApp) -> Callable[[dict[str, Any], Any], Iterable[bytes]]:
    """The app behind a check for a bearer token and a tenant header (401 otherwise)."""

    def wrapper(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if (
            environ.get("HTTP_AUTHORIZATION") != "Bearer s3cret"
            or environ.get("HTTP_X_TENANT") != "acme"
        ):
            start_response("401 Unauthorized", [("WWW-Authenticate", "Bearer")])
            return [b""]
        return app(environ, start_response)

    return wrapper


def test_headers_and_token(capsys: pytest.CaptureFixture[str]) -> None:
    with serve_wsgi(guarded(DocumentApp())) as url:
        assert run(capsys, url)[0] == 2
        status, _, err = run(capsys, "-H", "X-Tenant: acme", url)
        assert (status, err.strip()) == (
            2,
            f"ifmatch audit: error: GET {url} -> 401: the audit needs a 2xx GET",
        )
        assert run(capsys, "-H", "X-Tenant: acme", "--token", "s3cret", "--write", url)[0] == 0


def test_token_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IFMATCH_TOKEN", "s3cret")
    with serve_wsgi(guarded(DocumentApp())) as url:
        assert run(capsys, "-H", "X-Tenant: acme", url)[0] == 0


def test_body_from_json_text_is_what_gets_written(capsys: pytest.CaptureFixture[str]) -> None:
    app = DocumentApp()
    with serve_wsgi(app) as url:
        status, _, _ = run(capsys, "--write", "--body", '{"replaced": true}', url)
    assert status == 0
    assert app.body == b'{"replaced": true}'
    assert {content_type for _, content_type in app.received} == {"application/json"}


def test_body_from_a_file_with_patch(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    app = DocumentApp()
    body = tmp_path / "doc.json"
    body.write_bytes(b'{"from": "file"}')
    with serve_wsgi(app) as url:
        status, _, _ = run(capsys, "--write", "--method", "PATCH", "--body", f"@{body}", url)
    assert status == 0
    assert app.body == b'{"from": "file"}'
    assert set(app.received) == {("PATCH", "application/json")}


def test_patch_of_the_current_json_is_a_merge_patch(capsys: pytest.CaptureFixture[str]) -> None:
    app = DocumentApp()
    before = app.body
    with serve_wsgi(app) as url:
        assert run(capsys, "--write", "--method", "PATCH", url)[0] == 0
    assert set(app.received) == {("PATCH", "application/merge-patch+json")}
    assert app.body == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["ftp://example.com/x"], "not an http(s) URL", id="not http"),
        pytest.param(["http://"], "not an http(s) URL", id="no host"),
        pytest.param(["http://[::1/x"], "invalid URL", id="unparseable"),
        pytest.param(
            ["--body", "{}", "http://127.0.0.1:1/x"],
            "--body and --content-type need --write",
            id="--body without --write",
        ),
        pytest.param(["-H", "NoColon", "http://127.0.0.1:1/x"], "-H expects", id="bad -H"),
        pytest.param(
            ["-H", "If-None-Match: *", "http://127.0.0.1:1/x"],
            "the probes set the conditional fields themselves",
            id="conditional field in -H",
        ),
        pytest.param(
            ["--write", "--body", "@/nonexistent/file", "http://127.0.0.1:1/x"],
            "cannot read",
            id="unreadable --body file",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_connection_refused_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as closed:  # bound, never listening: held so no server can take it
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/doc"
        status, out, err = run(capsys, url)
    assert (status, out) == (2, "")
    assert err.startswith(f"ifmatch audit: error: GET {url}: cannot connect")
    assert "Traceback" not in err


def test_timeout_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/doc"
        status, _, err = run(capsys, "--timeout", "0.3", url)
    assert status == 2
    assert err.strip() == f"ifmatch audit: error: GET {url}: timed out after 0.3s"


def test_missing_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys)
    assert status == 2
    assert "usage: ifmatch audit" in err


def test_an_internal_error_is_one_line_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ifmatch.audit.cli as cli

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(cli, "run_audit", broken)
    status, out, err = run(capsys, "http://127.0.0.1:1/x")
    assert (status, out) == (2, "")
    assert err == "ifmatch audit: internal error: KeyError: 'boom'\n"
