"""``ifmatch audit URL``: does a server's conditional-request handling follow RFC 9110?

Read probes (safe, the default) check validators, 304s, If-Modified-Since,
HEAD and ranges; write probes (``--write``) check 412, 428 and
``If-None-Match: *``.  Each finding names its RFC section and a one-line fix.

>>> from ifmatch.audit import run_audit  # doctest: +SKIP
>>> run_audit("https://api.example.com/things/1").exit_status  # doctest: +SKIP
0
"""

from ifmatch.audit.checks import ALL_CHECKS, READ_CHECKS, WRITE_CHECKS
from ifmatch.audit.context import WriteOptions
from ifmatch.audit.exchange import AuditError
from ifmatch.audit.findings import Check, Finding, Level
from ifmatch.audit.report import Report
from ifmatch.audit.runner import run_audit

__all__ = [
    "ALL_CHECKS",
    "READ_CHECKS",
    "WRITE_CHECKS",
    "AuditError",
    "Check",
    "Finding",
    "Level",
    "Report",
    "WriteOptions",
    "run_audit",
]
