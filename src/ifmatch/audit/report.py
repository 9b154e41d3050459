"""The audit report: findings grouped fail, warn, pass, skip, as text or JSON.

The exit status is part of the report's contract (and of ``ifmatch audit``'s):
0 when nothing failed, 1 when something did.  Status 2, "could not run", never
produces a report; the command line prints the error instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ifmatch.audit.findings import Finding, Level

_ORDER = (Level.FAIL, Level.WARN, Level.PASS, Level.SKIP)


def _printable(text: str) -> str:
    """``text`` with controls escaped (``\\x9b``): evidence quotes the server's bytes,
    and a C1 control such as CSI must not reach the terminal of whoever reads the report."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)


_HEADINGS = {
    Level.FAIL: "FAIL",
    Level.WARN: "WARN",
    Level.PASS: "PASS",
    Level.SKIP: "SKIPPED (not applicable)",
}


@dataclass(frozen=True, slots=True)
class Report:
    """The findings for one URL, in the order the probes ran."""

    url: str
    findings: tuple[Finding, ...]
    wrote: bool = False

    def of_level(self, level: Level) -> list[Finding]:
        """The findings at ``level``."""
        return [finding for finding in self.findings if finding.level is level]

    def ids(self, level: Level) -> set[str]:
        """The ids of the findings at ``level`` (what tests compare)."""
        return {finding.id for finding in self.of_level(level)}

    def counts(self) -> dict[str, int]:
        """How many findings there are per level."""
        return {level.value: len(self.of_level(level)) for level in _ORDER}

    @property
    def exit_status(self) -> int:
        """0 without failures, 1 with failures."""
        return 1 if self.of_level(Level.FAIL) else 0

    def to_json(self) -> str:
        """The report for machines: url, counts, findings (``fix`` only where due)."""
        document = {
            "url": self.url,
            "write_probes": self.wrote,
            "summary": self.counts(),
            "exit_status": self.exit_status,
            "findings": [finding.to_json() for finding in self.findings],
        }
        return json.dumps(document, indent=2, ensure_ascii=False)

    def to_text(self) -> str:
        """The report for people: one block per level, each finding with section and fix."""
        lines = [
            f"ifmatch audit {_printable(self.url)}" + ("  (write probes on)" if self.wrote else "")
        ]
        for level in _ORDER:
            findings = self.of_level(level)
            if not findings:
                continue
            lines += ["", f"{_HEADINGS[level]} ({len(findings)})"]
            for finding in findings:
                lines.append(f"  [{finding.id}] {finding.title}  ({finding.section})")
                if level in (Level.FAIL, Level.WARN):
                    lines.append(f"      fix: {finding.fix}")
                label = "why" if level is Level.SKIP else "seen"
                lines.append(f"      {label}: {_printable(finding.evidence)}")
        counts = self.counts()
        lines += ["", ", ".join(f"{count} {level}" for level, count in counts.items())]
        return "\n".join(lines)
