"""Acceptance: ifmatch's read findings agree with REDbot's where both check the same thing.

REDbot (``redbot`` on PyPI, "lint for HTTP") runs in a subprocess per URL
(``tests/audit/redbot_notes.py``) on the real-server peers and on the
one-mistake apps served over a real socket.  The mapping below is the one
docs/audit.md documents: REDbot note -> the ifmatch finding and level it means.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from ifmatch.audit import Report, run_audit
from tests.audit.apps import MISTAKES, DocumentApp, serve_wsgi
from tests.support.servers import unavailable

pytestmark = pytest.mark.slow

#: REDbot note -> (ifmatch finding id, the levels it corresponds to).
NOTE_TO_FINDING: dict[str, tuple[str, set[str]]] = {
    "INM_304": ("inm-current", {"pass"}),
    "INM_FULL": ("inm-current", {"fail"}),
    "IMS_304": ("ims-current", {"pass"}),
    "IMS_FULL": ("ims-current", {"warn"}),
    "MISSING_HDRS_304": ("not-modified-headers", {"fail"}),
    "RANGE_CORRECT": ("range", {"pass"}),
    "RANGE_FULL": ("range", {"warn"}),
    "RANGE_INCORRECT": ("range", {"fail"}),
    "VARY_ETAG_DOESNT_CHANGE": ("etag-coding", {"fail"}),
    "LM_PRESENT": ("last-modified-syntax", {"pass", "warn", "fail"}),
}


@pytest.fixture(scope="module")
def verdicts(peers: dict[str, str]) -> Iterator[dict[str, tuple[dict[str, str], Report]]]:
    """Per URL: (REDbot's notes, ifmatch's read-only report)."""
    try:
        import redbot  # noqa: F401
    except ImportError as error:
        unavailable(f"REDbot is not installed (pip install -e '.[dev]'): {error}")
    with contextlib.ExitStack() as stack:
        urls = dict(peers)
        for mistake in (None, *MISTAKES):
            urls[f"app {mistake or 'correct'}"] = stack.enter_context(
                serve_wsgi(DocumentApp(mistake), path="/doc")
            )
        running = {
            name: subprocess.Popen(
                [sys.executable, "-m", "tests.audit.redbot_notes", url],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=Path(__file__).parents[2],
            )
            for name, url in urls.items()
        }
        found: dict[str, tuple[dict[str, str], Report]] = {}
        for name, process in running.items():
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err.decode()[-2000:]
            found[name] = (json.loads(out), run_audit(urls[name]))
        yield found


#: REDbot's If-None-Match verdict on an ETag that alternates between two "backends" depends on
#: which one answers its conditional request (its subrequests run concurrently): sometimes
#: INM_304, sometimes INM_FULL.  ifmatch's etag-stable (4 sequential GETs) is deterministic,
#: so this URL is compared in test_redbot_sees_the_mistakes_ifmatch_names only.
RACY = {"app per-host-etag"}


def compared(
    verdicts: dict[str, tuple[dict[str, str], Report]],
) -> Iterator[tuple[str, dict[str, str], Report]]:
    for name, (notes, report) in verdicts.items():
        if name not in RACY:
            yield name, notes, report


def level_of(report: Report, check: str) -> str:
    return next(f.level.value for f in report.findings if f.id == check)


def test_every_mapped_note_agrees(verdicts: dict[str, tuple[dict[str, str], Report]]) -> None:
    disagreements = []
    count = 0
    for name, notes, report in compared(verdicts):
        for note, (check, levels) in NOTE_TO_FINDING.items():
            if note in notes:
                count += 1
                if level_of(report, check) not in levels:
                    disagreements.append(f"{name}: REDbot {note}, ifmatch {check} {levels}")
    assert disagreements == [], verdicts
    assert count >= 20  # the comparison really happened on many URLs


def test_the_converse_holds_too(verdicts: dict[str, tuple[dict[str, str], Report]]) -> None:
    """Where ifmatch passes or fails a check REDbot also ran, REDbot says the same."""
    checked: Counter[str] = Counter()
    for name, notes, report in compared(verdicts):
        if notes["support:inm"] == "True":
            checked["inm"] += 1
            assert level_of(report, "inm-current") == "pass", name
        if notes["support:ims"] == "True":
            checked["ims"] += 1
            assert level_of(report, "ims-current") == "pass", name
        if notes["support:partial"] == "True":
            checked["range"] += 1
            assert level_of(report, "range") == "pass", name
        if level_of(report, "not-modified-headers") == "fail":
            checked["304 headers"] += 1
            assert "MISSING_HDRS_304" in notes, name
        if notes["support:gzip"] == "True" and level_of(report, "etag-coding") == "fail":
            checked["coding"] += 1
            assert "VARY_ETAG_DOESNT_CHANGE" in notes, name
        if notes["support:gzip"] == "False":
            checked["no gzip"] += 1
            assert level_of(report, "etag-coding") == "skip", name
    # Each implication was exercised on at least one URL, so none holds vacuously.
    assert set(checked) == {"inm", "ims", "range", "304 headers", "coding", "no gzip"}, checked


def test_redbot_sees_the_mistakes_ifmatch_names(
    verdicts: dict[str, tuple[dict[str, str], Report]],
) -> None:
    assert "INM_FULL" in verdicts["app no-304"][0]
    assert "VARY_ETAG_DOESNT_CHANGE" in verdicts["app gzip-strong-etag"][0]
    assert "INM_FULL" in verdicts["Starlette FileResponse"][0]
    # An ETag that changes per request: REDbot's If-None-Match check passes or fails by
    # luck; ifmatch names the cause every time.
    notes, report = verdicts["app per-host-etag"]
    assert {"INM_FULL", "INM_304"} & set(notes)
    assert level_of(report, "etag-stable") == "fail"
    assert level_of(report, "inm-current") == "skip"
