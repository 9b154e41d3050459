"""Reason phrases: RFC 9110 §15's names for every status this library sends.

Python's :class:`http.HTTPStatus` still carries some of RFC 7231's older
phrases ("Requested Range Not Satisfiable", "Payload Too Large"); the
status line of a WSGI response and the ``title`` of a problem document
(RFC 9457) both come from here, so the two never disagree.

>>> status_line(416)
'416 Range Not Satisfiable'
"""

from __future__ import annotations

from http import HTTPStatus

#: RFC 9110's phrases where they differ from :class:`http.HTTPStatus`'s.
_RFC_9110 = {
    413: "Content Too Large",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}

#: Status code -> reason phrase (RFC 9110 §15, RFC 6585 for 428/429/431).
PHRASES: dict[int, str] = {int(status): status.phrase for status in HTTPStatus} | _RFC_9110


def reason_phrase(status: int) -> str:
    """The phrase for ``status``; ``"Unknown"`` for a code no RFC names."""
    return PHRASES.get(status, "Unknown")


def status_line(status: int) -> str:
    """``"412 Precondition Failed"``: the status as WSGI's ``start_response`` takes it."""
    return f"{status} {reason_phrase(status)}"


__all__ = ["PHRASES", "reason_phrase", "status_line"]
