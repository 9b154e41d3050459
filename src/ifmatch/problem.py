"""Problem details (RFC 9457) for the responses preconditions produce.

Adapters answer 412 and 428 with ``application/problem+json`` bodies built
here, so every integration says the same thing in the same words.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from ifmatch.preconditions import Decision, Outcome

PROBLEM_JSON = "application/problem+json"

#: RFC 9110's names where Python's ``HTTPStatus`` phrases are older ones (RFC 7231's).
_TITLES = {
    413: "Content Too Large",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}


def _title(status: int) -> str:
    if status in _TITLES:
        return _TITLES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem(status: int, detail: str, **extra: Any) -> bytes:
    """A problem+json body: ``type``, ``title``, ``status``, ``detail`` and extension members."""
    document: dict[str, Any] = {
        "type": "about:blank",
        "title": _title(status),
        "status": status,
        "detail": detail,
    }
    document.update(extra)
    return json.dumps(document, separators=(",", ":")).encode()


def decision_problem(decision: Decision, current_etag: str | None = None) -> bytes:
    """The problem body for a 412 or 428 decision, naming the field that failed."""
    status = decision.status
    if status not in (412, 428) or decision.outcome is Outcome.PROCEED:
        raise ValueError("only 412 and 428 decisions have problem bodies")
    extra: dict[str, Any] = {}
    if decision.field:
        extra["precondition"] = decision.field
    if current_etag is not None:
        extra["current_etag"] = current_etag
    detail = decision.reason
    if decision.field:
        detail = f"{decision.field} failed: {decision.reason}"
    return problem(status, detail, **extra)
