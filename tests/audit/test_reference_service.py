"""Acceptance: against the reference service (``ifmatch serve``) every probe passes,
``--write`` included, for a JSON document and for a file (where the range probes apply).

The service runs as a real subprocess on a free port with a temporary SQLite
database, and the auditor runs through its command line, as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from ifmatch.audit.checks import WRITE_CHECKS
from tests.support.servers import serving

pytestmark = pytest.mark.slow

DOCUMENT = {"title": "audited", "tags": ["etag", "412"], "text": "conditional " * 50}
FILE = bytes(range(256)) * 40


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("audit-service") / "store.sqlite"
    with serving(f"sqlite:///{database}") as base:
        create = {"If-None-Match": "*"}
        made = httpx.put(f"{base}/api/notes/audit", json=DOCUMENT, headers=create)
        assert made.status_code == 201, made.text
        made = httpx.put(f"{base}/files/audit/data.bin", content=FILE, headers=create)
        assert made.status_code == 201, made.text
        yield base


def audit_cli(*args: str) -> tuple[int, dict[str, object]]:
    """Run ``ifmatch audit --json ...`` as a user would; returns (exit status, report)."""
    done = subprocess.run(
        [sys.executable, "-m", "ifmatch.cli", "audit", "--json", *args],
        capture_output=True,
        timeout=60,
        env={**os.environ, "IFMATCH_TOKEN": ""},
        check=False,
    )
    assert done.stderr == b"", done.stderr.decode()
    return done.returncode, json.loads(done.stdout)


def levels(report: dict[str, object], level: str) -> dict[str, str]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return {f["id"]: f["evidence"] for f in findings if f["level"] == level}


@pytest.mark.parametrize("path", ["/api/notes/audit", "/files/audit/data.bin"])
def test_every_probe_passes_with_write(service: str, path: str) -> None:
    status, report = audit_cli("--write", f"{service}{path}")
    assert levels(report, "fail") == {}
    # Documents answer Accept-Ranges: none (§14.3), so the range probes skip, not warn.
    assert levels(report, "warn") == {}
    assert status == 0
    passed = levels(report, "pass")
    # The write side really ran: 412 for stale and weak If-Match and If-None-Match: *, 428.
    for probe in ("if-match-current", "if-match-stale", "if-match-weak", "inm-star-existing"):
        assert probe in passed
    assert "precondition-required" in passed
    # Every skip says why: no gzip here; documents have no ranges, so no If-Range either.
    allowed = {"etag-coding"}
    if path.startswith("/api/"):
        allowed |= {"range", "if-range-current", "if-range-stale", "if-range-weak"}
        allowed |= {"range-unsatisfiable"}
    assert set(levels(report, "skip")) <= allowed


def test_file_ranges_are_probed(service: str) -> None:
    _, report = audit_cli(f"{service}/files/audit/data.bin")
    passed = levels(report, "pass")
    for probe in ("range", "if-range-current", "if-range-stale", "if-range-weak"):
        assert probe in passed
    assert "bytes */10240" in passed["range-unsatisfiable"]


def test_the_written_back_content_is_unchanged(service: str) -> None:
    audit_cli("--write", f"{service}/api/notes/audit")
    assert httpx.get(f"{service}/api/notes/audit").json() == DOCUMENT
    assert httpx.get(f"{service}/files/audit/data.bin").content == FILE


def test_missing_resource_cannot_be_audited(service: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ifmatch.cli", "audit", f"{service}/api/notes/absent"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == b""
    assert done.stderr.decode().startswith("ifmatch audit: error: GET ")
    assert "-> 404" in done.stderr.decode()
    assert "Traceback" not in done.stderr.decode()


def test_patch_write_probes_pass(service: str) -> None:
    """``--method PATCH`` sends the document back as a JSON merge patch (RFC 7396)."""
    status, report = audit_cli("--write", "--method", "PATCH", f"{service}/api/notes/audit")
    assert status == 0
    passed = levels(report, "pass")
    for probe in ("if-match-current", "if-match-stale", "if-match-weak", "inm-star-existing"):
        assert passed[probe].startswith("PATCH ")
    assert "-> 428" in passed["precondition-required"]


def _written_twice_within_a_second(base: str, path: str) -> None:
    """PUT until the document changed twice within its Last-Modified second (bounded)."""
    seen = []
    with httpx.Client(base_url=base) as http:
        etag = http.put(path, json={"n": 0}, headers={"If-None-Match": "*"}).headers["ETag"]
        for attempt in range(1, 30):
            # Start just after a second begins, so that two writes fit in it even when slow.
            time.sleep(1.02 - time.time() % 1)
            etag = http.put(path, json={"n": -attempt}, headers={"If-Match": etag}).headers["ETag"]
            written = http.put(path, json={"n": attempt}, headers={"If-Match": etag})
            etag = written.headers["ETag"]
            modified = written.headers["Last-Modified"]
            revalidated = http.get(path, headers={"If-Modified-Since": modified})
            seen.append((written.status_code, modified, revalidated.status_code))
            if revalidated.status_code == 200:
                return  # the service's one-second rule is in force for this document
    raise AssertionError(f"no two writes fell within one second in 30 tries: {seen}")


@pytest.mark.parametrize("kind", ["document", "collection", "file"])
def test_reference_service_is_clean_under_its_own_audit(service: str, kind: str) -> None:
    """Issue 13 item 10: no failure and no warning, even right after same-second writes
    (the one-second rule of docs/core.md) and on a collection (Accept-Ranges: none)."""
    _written_twice_within_a_second(service, "/api/clean/doc")
    created = httpx.post(f"{service}/api/clean", json={"member": 1})
    assert created.status_code == 201
    path = {"document": "/api/clean/doc", "collection": "/api/clean"}.get(kind, "/files/clean.bin")
    if kind == "file":
        made = httpx.put(f"{service}{path}", content=FILE, headers={"If-None-Match": "*"})
        assert made.status_code == 201
    status, report = audit_cli("--write", f"{service}{path}")
    assert levels(report, "fail") == {}
    assert levels(report, "warn") == {}
    assert status == 0
    passed = levels(report, "pass")
    assert "ims-current" in passed
    if kind == "document":
        assert "one-second rule" in passed["ims-current"]
        assert "if-match-current" in passed
    if kind == "collection":
        assert "Accept-Ranges: none" in levels(report, "skip")["range"]
        assert "405" in levels(report, "skip")["if-match-current"]


@pytest.mark.parametrize("path", ["/", "/ifmatch.js", "/ui/app.js", "/ui/style.css"])
def test_the_page_and_module_pass_the_audit(service: str, path: str) -> None:
    """Issue 18: the page and ifmatch.js as the service serves them: no failure, no warning."""
    status, report = audit_cli(f"{service}{path}")
    assert levels(report, "fail") == {}
    assert levels(report, "warn") == {}
    assert status == 0
    passed = levels(report, "pass")
    for probe in ("validators", "etag-stable", "inm-current", "ims-current", "head-validators"):
        assert probe in passed
    for probe in ("not-modified-headers", "range", "if-range-stale", "range-unsatisfiable"):
        assert probe in passed
    # Skipped: no gzip here, and the write probes (read-only files; no --write).
    assert set(levels(report, "skip")) <= {"etag-coding", *(check.id for check in WRITE_CHECKS)}
