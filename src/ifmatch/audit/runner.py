"""Run an audit: the first GET, then the read probes, then (if asked) the write probes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ifmatch.audit.checks import WRITE_CHECKS
from ifmatch.audit.context import Audit, WriteOptions
from ifmatch.audit.exchange import AuditError, Target
from ifmatch.audit.reads import READ_PROBES
from ifmatch.audit.report import Report
from ifmatch.audit.writes import WRITE_PROBES


def run_audit(
    url: str,
    *,
    write: WriteOptions | None = None,
    headers: Iterable[tuple[str, str]] = (),
    timeout: float = 10.0,
    verify: bool = True,
    transport: Any = None,
) -> Report:
    """Audit ``url``; raise :class:`AuditError` when it cannot be audited at all.

    ``write`` enables the write probes, which change the resource (they write
    back its current representation, or ``write.body``).  ``transport`` lets
    tests audit an app in-process (``httpx.WSGITransport``/``ASGITransport``,
    or httpx2's: the audit then runs on httpx2).
    """
    target = Target(url, headers=headers, timeout=timeout, verify=verify, transport=transport)
    try:
        base = target.send("GET")
        if not 200 <= base.status < 300:
            location = base.header("location")
            where = f" (Location: {location})" if location else ""
            raise AuditError(f"GET {url} -> {base.status}{where}: the audit needs a 2xx GET")
        audit = Audit(target, base, write)
        findings = [probe(audit) for probe in READ_PROBES]
        if write is None:
            why = "write probes not enabled (--write)"
            findings += [check.skipped(why) for check in WRITE_CHECKS]
        else:
            findings += [probe(audit) for probe in WRITE_PROBES]
    finally:
        target.close()
    return Report(url, tuple(findings), wrote=write is not None)
