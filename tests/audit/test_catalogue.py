"""The catalogue of checks is data: unique ids, an RFC section and a one-line fix each,
and every id documented in docs/audit.md."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ifmatch.audit import ALL_CHECKS, READ_CHECKS, WRITE_CHECKS, Check, Finding, Level
from ifmatch.audit.reads import READ_PROBES
from ifmatch.audit.writes import WRITE_PROBES

DOCS = (Path(__file__).parents[2] / "docs" / "audit.md").read_text()


def test_ids_are_unique_and_probes_match_checks() -> None:
    assert len({check.id for check in ALL_CHECKS}) == len(ALL_CHECKS)
    assert len(READ_PROBES) == len(READ_CHECKS)
    assert len(WRITE_PROBES) == len(WRITE_CHECKS)


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda check: check.id)
def test_each_check_has_section_fix_and_docs(check: Check) -> None:
    assert check.section.startswith(("RFC 9110 §", "RFC 6585 §"))
    assert 10 < len(check.fix) <= 100
    assert "\n" not in check.fix
    assert f"| `{check.id}` |" in DOCS


@pytest.mark.parametrize(
    ("level", "title_from", "fix_in_json"),
    [
        pytest.param(Level.PASS, "expect", False, id="pass: expectation, no fix"),
        pytest.param(Level.SKIP, "expect", False, id="skip: expectation, no fix"),
        pytest.param(Level.WARN, "problem", True, id="warn: problem and fix"),
        pytest.param(Level.FAIL, "problem", True, id="fail: problem and fix"),
    ],
)
def test_finding_titles_and_json(level: Level, title_from: str, fix_in_json: bool) -> None:
    check = ALL_CHECKS[0]
    makers: dict[Level, Callable[[str], Finding]] = {
        Level.PASS: check.passed,
        Level.SKIP: check.skipped,
        Level.WARN: check.warned,
        Level.FAIL: check.failed,
    }
    finding = makers[level]("evidence")
    assert finding.title == getattr(check, title_from)
    assert finding.to_json()["fix"] == (check.fix if fix_in_json else None)
    assert finding.to_json()["level"] == level.value
