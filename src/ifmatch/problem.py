"""Problem details (RFC 9457) for the responses preconditions produce.

Adapters answer 412 and 428 with ``application/problem+json`` bodies built
here, so every integration says the same thing in the same words.
"""

from __future__ import annotations

import json
from typing import Any

from ifmatch.phrases import PHRASES
from ifmatch.preconditions import Decision, Outcome

PROBLEM_JSON = "application/problem+json"


def problem(status: int, detail: str, **extra: Any) -> bytes:
    """A problem+json body: ``type``, ``title``, ``status``, ``detail`` and extension members."""
    document: dict[str, Any] = {
        "type": "about:blank",
        "title": PHRASES.get(status, "Error"),  # RFC 9110's phrase (ifmatch.phrases)
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
