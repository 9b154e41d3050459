"""What the auditor reports: one :class:`Finding` per check, at one :class:`Level`.

A check is data (:class:`Check`): its id, the RFC section it enforces, what a
correct server does, what a failing one gets wrong and the one-line fix.  A
probe turns a check into a finding by adding a level and the evidence it saw
(the request it sent and the answer), so every line of a report can be
reproduced with curl.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Level(enum.StrEnum):
    """How a check came out.  Only ``FAIL`` makes ``ifmatch audit`` exit 1.

    ``SKIP`` is for checks that do not apply (no ETag, no Range support, or
    writes not enabled): the finding's evidence says why.
    """

    PASS = "pass"  # noqa: S105 (a level, not a password)
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Check:
    """One thing the auditor verifies, described once.

    ``expect`` is the title of a pass ("If-None-Match with the current ETag
    -> 304"), ``problem`` the title of a warn or fail ("returns 200 where 304
    belongs"), ``fix`` what to change, in one line.
    """

    id: str
    section: str
    expect: str
    problem: str
    fix: str

    def passed(self, evidence: str, title: str | None = None) -> Finding:
        """This check held."""
        return Finding.of(self, Level.PASS, evidence, title)

    def warned(self, evidence: str, title: str | None = None, fix: str | None = None) -> Finding:
        """A SHOULD (or a recommendation) is not met."""
        return Finding.of(self, Level.WARN, evidence, title, fix)

    def failed(self, evidence: str, title: str | None = None, fix: str | None = None) -> Finding:
        """A MUST is broken."""
        return Finding.of(self, Level.FAIL, evidence, title, fix)

    def skipped(self, why: str) -> Finding:
        """The check does not apply to this resource; ``why`` says so."""
        return Finding.of(self, Level.SKIP, why)


@dataclass(frozen=True, slots=True)
class Finding:
    """The outcome of one check against one URL."""

    id: str
    level: Level
    title: str
    section: str
    fix: str
    evidence: str

    @classmethod
    def of(
        cls,
        check: Check,
        level: Level,
        evidence: str,
        title: str | None = None,
        fix: str | None = None,
    ) -> Finding:
        """A finding for ``check``: pass and skip use ``expect``, warn and fail ``problem``."""
        if title is None:
            title = check.expect if level in (Level.PASS, Level.SKIP) else check.problem
        return cls(check.id, level, title, check.section, fix or check.fix, evidence)

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``--json`` (the fix is omitted on a pass: nothing to fix)."""
        return {
            "id": self.id,
            "level": self.level.value,
            "title": self.title,
            "section": self.section,
            "fix": self.fix if self.level in (Level.WARN, Level.FAIL) else None,
            "evidence": self.evidence,
        }
