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
from ifmatch.dates import parse_http_date
from ifmatch.errors import HeaderParseError
from ifmatch.etag import SINGLE_TAG_RE, ETag, ETagList

#: Methods that do not change state (§9.2.1); everything else is guarded as a write.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_ONE_SECOND = timedelta(seconds=1)
_ZERO = timedelta(0)


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


# Decisions are immutable, so the ones evaluate() returns most are built once.
_PROCEED = Decision(Outcome.PROCEED)
_PROCEED_WITH_RANGE = Decision(Outcome.PROCEED, use_range=True)
_NOT_MODIFIED_ETAG = Decision(Outcome.NOT_MODIFIED, "If-None-Match", "the representation matches")
_NOT_MODIFIED_DATE = Decision(Outcome.NOT_MODIFIED, "If-Modified-Since", "not modified since")
_FAILED_IF_MATCH = Decision(
    Outcome.PRECONDITION_FAILED,
    "If-Match",
    "the entity-tag does not match the current representation",
)
_FAILED_UNMODIFIED = Decision(
    Outcome.PRECONDITION_FAILED, "If-Unmodified-Since", "the resource changed after the given date"
)
# The same outcomes, worded for the case at hand (built only on the refusal path).
_FAILED_IF_MATCH_MISSING = Decision(
    Outcome.PRECONDITION_FAILED, "If-Match", "the resource does not exist"
)
_FAILED_IF_MATCH_UNREADABLE = Decision(
    Outcome.PRECONDITION_FAILED,
    "If-Match",
    "the field could not be read as entity-tags, so the request is not performed",
)
_FAILED_UNMODIFIED_UNREADABLE = Decision(
    Outcome.PRECONDITION_FAILED,
    "If-Unmodified-Since",
    "the date could not be read, so the request is not performed",
)
_FAILED_NONE_MATCH_EXISTS = Decision(
    Outcome.PRECONDITION_FAILED, "If-None-Match", "the resource exists"
)
_FAILED_NONE_MATCH_LISTED = Decision(
    Outcome.PRECONDITION_FAILED,
    "If-None-Match",
    "the current entity-tag is listed",
)
_FAILED_NONE_MATCH_UNREADABLE = Decision(
    Outcome.PRECONDITION_FAILED,
    "If-None-Match",
    "the field could not be read as entity-tags, so the request is not performed",
)
_REQUIRED = Decision(
    Outcome.PRECONDITION_REQUIRED,
    None,
    "this resource requires If-Match (or If-Unmodified-Since) on writes",
)
_GET_OR_HEAD = frozenset({"GET", "HEAD"})


class _Cond(enum.Enum):
    NONE = "none"
    TRUE = "true"
    FALSE = "false"


# Module-level names for the members: an Enum attribute lookup costs more than a global one
# (about 60 ns on CPython 3.11), and evaluate() makes a dozen of them per request.
_NONE, _TRUE, _FALSE = _Cond.NONE, _Cond.TRUE, _Cond.FALSE


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
    get_or_head = method in _GET_OR_HEAD

    if_match = _check_if_match(conditions.if_match, resource)
    if if_match is _FALSE:
        return _if_match_failure(conditions.if_match, resource)
    unmodified = _NONE
    if if_match is _NONE:
        unmodified = _check_if_unmodified_since(conditions.if_unmodified_since, resource, safe)
        if unmodified is _FALSE:
            if _parse_date(conditions.if_unmodified_since or "") is None:
                return _FAILED_UNMODIFIED_UNREADABLE
            return _FAILED_UNMODIFIED

    none_match = _check_if_none_match(conditions.if_none_match, resource, safe)
    if none_match is _FALSE:
        if get_or_head:
            return _NOT_MODIFIED_ETAG
        return _if_none_match_failure(conditions.if_none_match or "")
    if none_match is _NONE and get_or_head:
        modified = _check_if_modified_since(conditions.if_modified_since, resource)
        if modified is _FALSE:
            return _NOT_MODIFIED_DATE

    if (
        require_precondition
        and not safe
        and resource.exists
        and if_match is _NONE
        and unmodified is _NONE
    ):
        return _REQUIRED

    if (
        method == "GET"
        and conditions.range is not None
        and resource.exists
        and _check_if_range(conditions.if_range, resource, now) is not _FALSE
    ):
        return _PROCEED_WITH_RANGE
    return _PROCEED


def _if_match_failure(value: str | None, resource: Resource) -> Decision:
    """The 412 for a false If-Match, saying why: unreadable, no resource, or another tag."""
    if _parse_list(value or "", "If-Match") is None:
        return _FAILED_IF_MATCH_UNREADABLE
    return _FAILED_IF_MATCH if resource.exists else _FAILED_IF_MATCH_MISSING


def _if_none_match_failure(value: str) -> Decision:
    """The 412 for a false If-None-Match on a write: unreadable, ``*``, or a listed tag."""
    tags = _parse_list(value, "If-None-Match")
    if tags is None:
        return _FAILED_NONE_MATCH_UNREADABLE
    return _FAILED_NONE_MATCH_EXISTS if tags.any else _FAILED_NONE_MATCH_LISTED


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
        return _NONE
    single = SINGLE_TAG_RE.fullmatch(value)
    if single is not None:  # fast path: one tag, the usual optimistic-concurrency guard
        current = resource.etag
        matches = (
            resource.exists
            and current is not None
            and single.group(1) is None
            and not current.weak
            and single.group(2) == current.opaque
        )
        return _TRUE if matches else _FALSE
    tags = _parse_list(value, "If-Match")
    if tags is None or not resource.exists:
        return _FALSE
    if tags.any:
        return _TRUE
    return _TRUE if tags.strong_contains(resource.etag) else _FALSE


def _check_if_unmodified_since(value: str | None, resource: Resource, safe: bool) -> _Cond:
    """§13.1.4: true when the resource has not changed since the date."""
    if value is None:
        return _NONE
    date = _parse_date(value)
    if date is None:
        return _NONE if safe else _FALSE
    if not resource.exists or resource.last_modified is None:
        return _NONE
    # Compared by the whole second the client saw: with LM truncated to its wire second,
    # "LM second > date" is "LM - date >= 1 s" and "LM second == date" is "0 <= LM - date < 1 s".
    since = _as_utc(resource.last_modified) - date
    if since >= _ONE_SECOND or (resource.changed_within_second and since >= _ZERO):
        return _FALSE
    return _TRUE


def _check_if_none_match(value: str | None, resource: Resource, safe: bool) -> _Cond:
    """§13.1.2: weak comparison; false when ``*`` and a representation exists."""
    if value is None:
        return _NONE
    single = SINGLE_TAG_RE.fullmatch(value)
    if single is not None:  # fast path: one tag, the usual cache revalidation
        current = resource.etag
        matches = resource.exists and current is not None and single.group(2) == current.opaque
        return _FALSE if matches else _TRUE
    tags = _parse_list(value, "If-None-Match")
    if tags is None:
        return _TRUE if safe else _FALSE
    if not resource.exists:
        return _TRUE
    if tags.any:
        return _FALSE
    return _FALSE if tags.weak_contains(resource.etag) else _TRUE


def _check_if_modified_since(value: str | None, resource: Resource) -> _Cond:
    """§13.1.3: false (-> 304) when the resource has not changed since the date."""
    if value is None or not resource.exists or resource.last_modified is None:
        return _NONE
    date = _parse_date(value)
    if date is None:
        return _NONE
    since = _as_utc(resource.last_modified) - date  # see _check_if_unmodified_since
    if since < _ZERO or (since < _ONE_SECOND and not resource.changed_within_second):
        return _FALSE
    return _TRUE


def _check_if_range(value: str | None, resource: Resource, now: datetime | None) -> _Cond:
    """§13.1.5: a strong entity-tag match, or a date equal to a strong Last-Modified.

    A weak tag never matches.  A Last-Modified is strong only when it is at
    least one second older than the response's Date (§8.8.2.2) and the
    resource did not change twice within its second.
    """
    if value is None:
        return _NONE
    text = value.strip(" \t")
    if text.startswith(('"', 'W/"')):
        try:
            tag = ETag.parse(text)
        except HeaderParseError:
            return _FALSE
        current = resource.etag
        return _TRUE if current is not None and tag.strong_match(current) else _FALSE
    date = _parse_date(text)
    modified = resource.last_modified
    if date is None or modified is None or resource.changed_within_second:
        return _FALSE
    modified_utc = _as_utc(modified)
    moment = _as_utc(now) if now is not None else datetime.now(UTC)
    strong = moment - modified_utc >= _ONE_SECOND
    equal = _ZERO <= modified_utc - date < _ONE_SECOND  # its wire second is the date
    return _TRUE if strong and equal else _FALSE


def _as_utc(moment: datetime) -> datetime:
    """Naive datetimes are UTC, as everywhere in the core, so aware and naive mix safely."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
