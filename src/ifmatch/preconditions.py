"""Evaluation of preconditions, step by step as RFC 9110 §13.2.2 orders them.

Each field has one short check that returns a three-valued :class:`_Cond`:
``NONE`` (absent or to be ignored), ``TRUE`` or ``FALSE``, so that "absent"
is never confused with "false".  :func:`evaluate` composes them in the RFC's
order and is the only function adapters call.

Two deliberate choices go beyond the letter of the RFC, both fail-safe:

* A field that cannot be parsed never lets a write through and never
  yields a 304: an unreadable ``If-Match`` is false (412); an unreadable
  ``If-None-Match`` is false on unsafe methods (412) and true on GET/HEAD
  (a full 200, not a 304); an unreadable ``If-Unmodified-Since`` on an
  unsafe method is false (412), although §13.1.4 says to ignore it, because
  ignoring it would let through the very write the client asked to guard.
  An unreadable date is ignored everywhere else, as §13.1.3/§13.1.4 say.
* The one-second problem: HTTP-dates have whole seconds, so two changes in
  one second are invisible to them.  When the resource says it changed more
  than once within its Last-Modified second, a date equal to that second
  proves nothing: ``If-Unmodified-Since`` fails (412, not a lost update) and
  ``If-Modified-Since`` is true (200, not a stale 304).

§13.2.1 says preconditions are ignored when the response without them would
not be 2xx or 412 (say, a 404 for a GET of a missing resource); that
knowledge is the caller's, so call :func:`evaluate` once you know the
request would otherwise succeed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ifmatch.conditions import Conditions
from ifmatch.dates import parse_http_date, wire_seconds
from ifmatch.errors import HeaderParseError
from ifmatch.etag import ETag, ETagList

#: Methods that do not change state (§9.2.1); everything else is guarded as a write.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Resource:
    """What the server knows about the target's current state.

    ``changed_within_second`` says the resource changed more than once in
    the second of its ``last_modified``, which dates cannot tell apart.
    """

    etag: ETag | None = None
    last_modified: datetime | None = None
    exists: bool = True
    changed_within_second: bool = False

    @classmethod
    def missing(cls) -> Resource:
        """A target with no current representation (a PUT may create it)."""
        return cls(exists=False)


class Outcome(enum.Enum):
    """What the server is to do; ``status`` is ``None`` for "go on with the method"."""

    PROCEED = None
    NOT_MODIFIED = 304
    PRECONDITION_FAILED = 412
    PRECONDITION_REQUIRED = 428

    @property
    def status(self) -> int | None:
        """The status code to answer with instead of performing the method."""
        status: int | None = self.value
        return status


@dataclass(frozen=True, slots=True)
class Decision:
    """The result of :func:`evaluate`.

    ``field`` names the header that decided a 304/412 (or ``None``), and
    ``reason`` says why in a sentence fit for a problem body.  ``use_range``
    says whether a ``Range`` field is to be honoured (§13.2.2 step 5).
    """

    outcome: Outcome
    field: str | None = None
    reason: str = ""
    use_range: bool = False

    @property
    def status(self) -> int | None:
        """Shortcut for ``outcome.status``."""
        return self.outcome.status


class _Cond(enum.Enum):
    NONE = "none"
    TRUE = "true"
    FALSE = "false"


def evaluate(
    method: str,
    conditions: Conditions,
    resource: Resource,
    *,
    require_precondition: bool = False,
    now: datetime | None = None,
) -> Decision:
    """Decide a conditional request following RFC 9110 §13.2.2.

    1. If-Match present: false -> 412.  Absent: If-Unmodified-Since false -> 412.
    2. If-None-Match present: false -> 304 for GET/HEAD, 412 otherwise.
       Absent, and GET/HEAD: If-Modified-Since false -> 304.
    3. ``require_precondition``: an unsafe method on an existing resource
       with neither If-Match nor a usable If-Unmodified-Since -> 428
       (RFC 6585 §3).
    4. GET with Range: If-Range absent or true -> honour the range.

    >>> evaluate("GET", Conditions(if_none_match='W/"x"'), Resource(ETag("x"))).status
    304
    """
    method = method.upper()
    safe = method in SAFE_METHODS

    if_match = _check_if_match(conditions.if_match, resource)
    if if_match is _Cond.FALSE:
        return _failed("If-Match", "the entity-tag does not match the current representation")
    unmodified = _Cond.NONE
    if if_match is _Cond.NONE:
        unmodified = _check_if_unmodified_since(conditions.if_unmodified_since, resource, safe)
        if unmodified is _Cond.FALSE:
            return _failed("If-Unmodified-Since", "the resource changed after the given date")

    none_match = _check_if_none_match(conditions.if_none_match, resource, safe)
    if none_match is _Cond.FALSE:
        if method in {"GET", "HEAD"}:
            return Decision(Outcome.NOT_MODIFIED, "If-None-Match", "the representation matches")
        return _failed("If-None-Match", "the resource exists or matches a listed entity-tag")
    if none_match is _Cond.NONE and method in {"GET", "HEAD"}:
        modified = _check_if_modified_since(conditions.if_modified_since, resource)
        if modified is _Cond.FALSE:
            return Decision(Outcome.NOT_MODIFIED, "If-Modified-Since", "not modified since")

    if (
        require_precondition
        and not safe
        and resource.exists
        and if_match is _Cond.NONE
        and unmodified is _Cond.NONE
    ):
        return Decision(
            Outcome.PRECONDITION_REQUIRED,
            None,
            "this resource requires If-Match (or If-Unmodified-Since) on writes",
        )

    use_range = (
        method == "GET"
        and conditions.range is not None
        and resource.exists
        and _check_if_range(conditions.if_range, resource, now) is not _Cond.FALSE
    )
    return Decision(Outcome.PROCEED, use_range=use_range)


def _failed(field: str, reason: str) -> Decision:
    return Decision(Outcome.PRECONDITION_FAILED, field, reason)


def _parse_list(value: str, field: str) -> ETagList | None:
    try:
        return ETagList.parse(value, field=field)
    except HeaderParseError:
        return None


def _parse_date(value: str) -> datetime | None:
    try:
        return parse_http_date(value)
    except HeaderParseError:
        return None


def _check_if_match(value: str | None, resource: Resource) -> _Cond:
    """§13.1.1: strong comparison; ``*`` is true iff a representation exists."""
    if value is None:
        return _Cond.NONE
    tags = _parse_list(value, "If-Match")
    if tags is None or not resource.exists:
        return _Cond.FALSE
    if tags.any:
        return _Cond.TRUE
    return _Cond.TRUE if tags.strong_contains(resource.etag) else _Cond.FALSE


def _check_if_unmodified_since(value: str | None, resource: Resource, safe: bool) -> _Cond:
    """§13.1.4: true when the resource has not changed since the date."""
    if value is None:
        return _Cond.NONE
    date = _parse_date(value)
    if date is None:
        return _Cond.NONE if safe else _Cond.FALSE
    if not resource.exists or resource.last_modified is None:
        return _Cond.NONE
    second = wire_seconds(resource.last_modified)
    if second > date or (second == date and resource.changed_within_second):
        return _Cond.FALSE
    return _Cond.TRUE


def _check_if_none_match(value: str | None, resource: Resource, safe: bool) -> _Cond:
    """§13.1.2: weak comparison; false when ``*`` and a representation exists."""
    if value is None:
        return _Cond.NONE
    tags = _parse_list(value, "If-None-Match")
    if tags is None:
        return _Cond.TRUE if safe else _Cond.FALSE
    if not resource.exists:
        return _Cond.TRUE
    if tags.any:
        return _Cond.FALSE
    return _Cond.FALSE if tags.weak_contains(resource.etag) else _Cond.TRUE


def _check_if_modified_since(value: str | None, resource: Resource) -> _Cond:
    """§13.1.3: false (-> 304) when the resource has not changed since the date."""
    if value is None or not resource.exists or resource.last_modified is None:
        return _Cond.NONE
    date = _parse_date(value)
    if date is None:
        return _Cond.NONE
    second = wire_seconds(resource.last_modified)
    if second < date or (second == date and not resource.changed_within_second):
        return _Cond.FALSE
    return _Cond.TRUE


def _check_if_range(value: str | None, resource: Resource, now: datetime | None) -> _Cond:
    """§13.1.5: a strong entity-tag match, or a date equal to a strong Last-Modified.

    A weak tag never matches.  A Last-Modified is strong only when it is at
    least one second older than the response's Date (§8.8.2.2) and the
    resource did not change twice within its second.
    """
    if value is None:
        return _Cond.NONE
    text = value.strip(" \t")
    if text.startswith(('"', 'W/"')):
        try:
            tag = ETag.parse(text)
        except HeaderParseError:
            return _Cond.FALSE
        current = resource.etag
        return _Cond.TRUE if current is not None and tag.strong_match(current) else _Cond.FALSE
    date = _parse_date(text)
    modified = resource.last_modified
    if date is None or modified is None or resource.changed_within_second:
        return _Cond.FALSE
    moment = _as_utc(now) if now is not None else datetime.now(UTC)
    strong = moment - _as_utc(modified) >= _ONE_SECOND
    return _Cond.TRUE if strong and wire_seconds(modified) == date else _Cond.FALSE


def _as_utc(moment: datetime) -> datetime:
    """Naive datetimes are UTC, as everywhere in the core, so aware and naive mix safely."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
