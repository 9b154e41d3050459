"""Acceptance: the auditor against real servers no one here wrote, and the comparison
table in docs/audit.md, which this test reads back so that the docs cannot rot.

Each peer runs as a real server on 127.0.0.1 (nginx; Django's dev server; Werkzeug's
``run_simple`` for Flask; uvicorn for Starlette).  Only "Django @condition" is
audited with ``--write``: it is the one peer that implements conditional writes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ifmatch.audit import ALL_CHECKS, Level, Report, WriteOptions, run_audit

pytestmark = pytest.mark.slow

DOCS = Path(__file__).parents[2] / "docs" / "audit.md"
WRITABLE = {"Django @condition"}
_START, _END = "<!-- peers-table:start -->", "<!-- peers-table:end -->"


@pytest.fixture(scope="module")
def reports(peers: dict[str, str]) -> dict[str, Report]:
    return {
        name: run_audit(url, write=WriteOptions() if name in WRITABLE else None)
        for name, url in peers.items()
    }


def docs_table() -> dict[str, dict[str, str]]:
    """docs/audit.md's comparison table: column (server) -> check id -> level."""
    text = DOCS.read_text()
    body = text[text.index(_START) + len(_START) : text.index(_END)]
    rows = [line.strip().strip("|").split("|") for line in body.strip().splitlines()]
    header = [cell.strip() for cell in rows[0][1:]]
    table: dict[str, dict[str, str]] = {name: {} for name in header}
    for row in rows[2:]:
        check = re.sub(r"[`\s]", "", row[0])
        for name, cell in zip(header, row[1:], strict=True):
            table[name][check] = cell.strip().strip("*").split()[0].lower()
    return table


def render_table(reports: dict[str, Report]) -> str:
    """The table as the docs hold it (used to write it; the test compares the parse)."""
    names = list(reports)
    lines = ["| check | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for check in ALL_CHECKS:
        cells = []
        for name in names:
            level = next(f.level for f in reports[name].findings if f.id == check.id)
            cells.append(f"**{level.value}**" if level in (Level.FAIL, Level.WARN) else level.value)
        lines.append(f"| `{check.id}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def test_docs_table_matches_what_the_peers_do(reports: dict[str, Report]) -> None:
    table = docs_table()
    assert set(table) == set(reports)
    observed = {
        name: {finding.id: finding.level.value for finding in report.findings}
        for name, report in reports.items()
    }
    assert table == observed, "docs/audit.md is stale; the current table is:\n" + render_table(
        reports
    )


@pytest.mark.parametrize(
    ("server", "check", "evidence"),
    [
        pytest.param(
            "Starlette FileResponse",
            "inm-current",
            "-> 200",
            id="§13.1.2 Starlette FileResponse never answers 304",
        ),
        pytest.param(
            "Flask send_file",
            "if-range-weak",
            "-> 206",
            id="§13.1.5 Werkzeug matches a weak ETag in If-Range",
        ),
        pytest.param(
            "nginx static file",
            "inm-over-ims",
            "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT -> 200",
            id="§13.1.3 nginx lets If-Modified-Since override a matching If-None-Match",
        ),
        pytest.param(
            "Django ConditionalGetMiddleware",
            "head-validators",
            "HEAD None",
            id="§9.3.2 ConditionalGetMiddleware sends no ETag on HEAD",
        ),
        pytest.param(
            "Django ConditionalGetMiddleware",
            "not-modified-headers",
            "vary missing",
            id="§15.4.5 GZipMiddleware+ConditionalGet 304 drops Vary",
        ),
    ],
)
def test_peer_defects_are_what_the_docs_say(
    reports: dict[str, Report], server: str, check: str, evidence: str
) -> None:
    finding = next(f for f in reports[server].findings if f.id == check)
    assert finding.level is Level.FAIL
    assert evidence in finding.evidence


def test_nginx_passes_every_read_probe_but_one(reports: dict[str, Report]) -> None:
    report = reports["nginx static file"]
    assert report.ids(Level.FAIL) == {"inm-over-ims"}
    assert report.ids(Level.WARN) == set()
