"""One way to answer: a representation and the request's conditions in, a reply out.

Every server-side path answers through this module: the ASGI and WSGI file
apps, the reference service's documents and files, the framework
decorators, :mod:`ifmatch.guard` and the middleware.  As Go's
``serveContent`` serves both ``ServeFile`` and ``ServeContent``, and every
304 goes through its ``writeNotModified``, there is exactly one place that
decides what each answer carries, so two paths cannot disagree:

``200``/``206``
    The representation's fields, in this order: ``Content-Type``,
    ``Content-Length``, ``ETag``, ``Last-Modified``, ``Accept-Ranges``, then
    the caller's own fields.  A Last-Modified in the future is replaced by
    the time of the response (§8.8.2.1).  A 206 replaces Content-Length
    (and for several ranges Content-Type) with the plan's (§14.4, §14.6).
``304`` (§15.4.5)
    The 200's fields reduced by :func:`ifmatch.not_modified_headers`: the
    ETag, Cache-Control, Expires, Vary, Content-Location and Date stay,
    Last-Modified only without an ETag, and no representation metadata.
    Fields about the exchange (Set-Cookie, CORS, request ids) stay.
``412`` (§13.1, §15.5.13) and ``428`` (RFC 6585 §3)
    A problem document (RFC 9457) that names the precondition and the
    current ETag, with ``Content-Type``, ``Content-Length``, and the current
    ``ETag`` and ``Last-Modified``: a client that lost a race (412) or
    forgot ``If-Match`` (428) learns the validator to retry with without a
    second request.  ``Cache-Control: no-store``: a refusal describes one
    request, and a stored one would outlive the state that caused it (a
    ``Cache-Control`` with a lifetime would let a cache store it, RFC 9111
    §3).  Of the caller's fields, only those about the exchange stay
    (:func:`exchange_fields`): a refusal has no representation.
``416`` (§14.4, §15.5.17)
    The same, plus ``Content-Range: bytes */<length>`` (the length the
    client should have asked within) and ``Accept-Ranges: bytes``; the
    validators let a client resuming a download tell whether the bytes it
    holds are still current.

>>> from ifmatch import Conditions, ETag
>>> page = Representation(ETag("v1"), length=3, content_type="text/plain")
>>> reply = respond("GET", Conditions(if_none_match='"v1"'), page)
>>> reply.status, reply.headers
(304, [('ETag', '"v1"')])
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from ifmatch.conditions import Conditions
from ifmatch.dates import format_http_date
from ifmatch.etag import ETag
from ifmatch.notmodified import not_modified_headers
from ifmatch.phrases import status_line
from ifmatch.preconditions import Decision, Outcome, Resource, evaluate
from ifmatch.problem import PROBLEM_JSON, decision_problem, problem
from ifmatch.ranges import ByteRange, plan_ranges

Fields = list[tuple[str, str]]

#: Fields a refusal (412, 428, 416) never takes from the 200: they describe the
#: representation it does not have, or would make a cache store it.
_NOT_ON_REFUSALS = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "content-language",
        "content-location",
        "content-range",
        "content-disposition",
        "content-md5",
        "content-digest",
        "repr-digest",
        "digest",
        "transfer-encoding",
        "trailer",
        "accept-ranges",
        "etag",
        "last-modified",
        "cache-control",
        "expires",
        "vary",
    }
)


@dataclass(frozen=True, slots=True)
class Representation:
    """What a 200 for the target would carry: validators, length, type, further fields.

    ``ranges``: ``True`` offers byte ranges (``Accept-Ranges: bytes``, and a
    ``Range`` is honoured), ``False`` says none are (``Accept-Ranges: none``,
    §14.3), ``None`` says nothing.  ``fields`` are the caller's own 200
    fields (Cache-Control, Content-Disposition, Set-Cookie ...).
    ``changed_within_second`` as in :class:`ifmatch.Resource`.
    """

    etag: ETag | None = None
    last_modified: datetime | None = None
    length: int | None = None
    content_type: str | None = None
    ranges: bool | None = None
    fields: tuple[tuple[str, str], ...] = ()
    changed_within_second: bool = False


@dataclass(slots=True)
class Reply:
    """An answer to send: status, header fields and body.

    ``body`` is a literal body (a problem document, or content the caller
    handed over); ``segments`` is the body of a 200/206 as literal bytes
    (multipart framing) and spans of the representation for the adapter to
    read.  ``decision`` is the core's verdict on the preconditions.
    """

    status: int
    headers: Fields
    body: bytes = b""
    segments: tuple[bytes | ByteRange, ...] = ()
    decision: Decision | None = None

    @property
    def status_line(self) -> str:
        """``"206 Partial Content"``, as WSGI's ``start_response`` takes it."""
        return status_line(self.status)

    @property
    def refused(self) -> bool:
        """Whether this is a 304, 412, 428 or 416 instead of the representation."""
        return self.status in (304, 412, 416, 428)


def validator_fields(etag: ETag | str | None, last_modified: datetime | str | None) -> Fields:
    """``ETag`` and ``Last-Modified`` as a 200 sends them (absent ones left out)."""
    fields: Fields = []
    if etag is not None:
        fields.append(("ETag", str(etag)))
    if last_modified is not None:
        if isinstance(last_modified, datetime):
            last_modified = format_http_date(last_modified)
        fields.append(("Last-Modified", last_modified))
    return fields


def exchange_fields(fields: Iterable[tuple[str, str]]) -> Fields:
    """Of a 200's fields, those a refusal keeps: about the exchange, not the representation.

    Set-Cookie, CORS, request ids and security fields (``X-Content-Type-Options``)
    stay; representation metadata, validators and caching fields go.
    """
    return [(name, value) for name, value in fields if name.lower() not in _NOT_ON_REFUSALS]


def not_modified(fields: Iterable[tuple[str, str]], decision: Decision | None = None) -> Reply:
    """The 304 for a 200 that would have carried ``fields`` (§15.4.5)."""
    return Reply(304, not_modified_headers(fields), decision=decision)


def refusal(
    status: int,
    body: bytes,
    etag: ETag | str | None,
    last_modified: datetime | str | None,
    fields: Iterable[tuple[str, str]] = (),
    *,
    head: bool = False,
    extra: Iterable[tuple[str, str]] = (),
) -> Reply:
    """A 412, 428 or 416 with its problem ``body`` (dropped for HEAD, its length kept).

    ``fields`` are the 200's (only the exchange's stay); ``extra`` are the
    status's own (416's Content-Range).
    """
    headers = [
        ("Content-Type", PROBLEM_JSON),
        ("Content-Length", str(len(body))),
        *validator_fields(etag, last_modified),
        *extra,
        ("Cache-Control", "no-store"),
        *exchange_fields(fields),
    ]
    return Reply(status, headers, b"" if head else body)


def refused(
    decision: Decision,
    etag: ETag | str | None,
    last_modified: datetime | str | None = None,
    fields: Iterable[tuple[str, str]] = (),
    *,
    head: bool = False,
) -> Reply:
    """The 412 or 428 for ``decision``, naming the failed field and the current ETag."""
    status = decision.status
    if status not in (412, 428):
        raise ValueError("only a 412 or 428 decision is refused")
    current = None if etag is None else str(etag)
    reply = refusal(
        status, decision_problem(decision, current), etag, last_modified, fields, head=head
    )
    reply.decision = decision
    return reply


def representation_fields(representation: Representation, last_modified: datetime | None) -> Fields:
    """The 200's fields for ``representation`` (``last_modified`` already clamped)."""
    r = representation
    return _fields(r.content_type, r.length, r.etag, last_modified, r.ranges, r.fields)


def _fields(
    content_type: str | None,
    length: int | None,
    etag: ETag | None,
    last_modified: datetime | None,
    ranges: bool | None,
    extra: tuple[tuple[str, str], ...],
) -> Fields:
    """:func:`representation_fields` from the representation's parts."""
    fields: Fields = []
    if content_type is not None:
        fields.append(("Content-Type", content_type))
    if length is not None:
        fields.append(("Content-Length", str(length)))
    if etag is not None:  # validator_fields, inline: this runs on every answer
        fields.append(("ETag", str(etag)))
    if last_modified is not None:
        fields.append(("Last-Modified", format_http_date(last_modified)))
    if ranges is not None:
        fields.append(("Accept-Ranges", "bytes" if ranges else "none"))
    fields += extra
    return fields


def respond(
    method: str,
    conditions: Conditions,
    representation: Representation,
    *,
    now: datetime | None = None,
    require: bool = False,
    boundary: str | None = None,
) -> Reply:
    """Answer ``method`` on an existing ``representation`` (RFC 9110 §13.2.2, §14).

    The order is the RFC's: preconditions (304, 412, 428), then the
    ``Range`` of a GET (206, 416), else the whole representation (200).
    The body of a 200/206 is left to the caller as :attr:`Reply.segments`
    (empty for HEAD); ``require`` answers an unsafe method without
    ``If-Match``/``If-Unmodified-Since`` with 428 (RFC 6585 §3).
    """
    r = representation
    return respond_parts(
        method,
        conditions,
        r.etag,
        r.last_modified,
        r.length,
        r.content_type,
        r.ranges,
        r.fields,
        r.changed_within_second,
        now,
        require,
        boundary,
    )


def respond_parts(
    method: str,
    conditions: Conditions,
    etag: ETag | None,
    last_modified: datetime | None,
    length: int | None,
    content_type: str | None,
    ranges: bool | None,
    extra: tuple[tuple[str, str], ...],
    changed_within_second: bool = False,
    now: datetime | None = None,
    require: bool = False,
    boundary: str | None = None,
) -> Reply:
    """:func:`respond` given the :class:`Representation`'s fields, in their order.

    The one implementation: an adapter that answers every request from
    values it already holds (the files' validators) calls it without
    building a :class:`Representation` first (a frozen dataclass costs
    about as much to build as the rest of a 200's decision).
    """
    moment = now or datetime.now(UTC)
    modified = last_modified
    if modified is not None and modified > moment:
        modified = moment  # §8.8.2.1: never a Last-Modified later than the response
    fields = _fields(content_type, length, etag, modified, ranges, extra)
    resource = Resource(etag, modified, True, changed_within_second)
    decision = evaluate(method, conditions, resource, require_precondition=require, now=moment)
    head = method.upper() == "HEAD"
    if decision.outcome is Outcome.NOT_MODIFIED:
        return not_modified(fields, decision)
    if decision.status is not None:
        return refused(decision, etag, modified, fields, head=head)
    if length is None:
        return Reply(200, fields, decision=decision)
    honoured = decision.use_range and ranges
    if (
        not (honoured and conditions.range is not None)
        and boundary is None
        and length >= 0
        and not _names_length(extra)
    ):
        # The plain 200, as plan_ranges(None) plans it (its Content-Length is already in
        # ``fields``, where the plan would put it), without building and merging that plan.
        segments = () if head or not length else (ByteRange(0, length),)
        return Reply(200, fields, segments=segments, decision=decision)
    plan = plan_ranges(
        conditions.range if honoured else None,
        length,
        content_type,
        boundary=boundary,
    )
    if plan.status == 416:  # §15.5.17: the length the client should have asked within
        body = problem(416, f"no requested range is satisfiable in {length} bytes")
        extra_416 = [("Content-Range", f"bytes */{length}"), ("Accept-Ranges", "bytes")]
        reply = refusal(416, body, etag, modified, fields, head=head, extra=extra_416)
        reply.decision = decision
        return reply
    replaced = {name.lower() for name, _ in plan.headers}
    final = [(name, value) for name, value in fields if name.lower() not in replaced]
    at = 0 if content_type is None else 1  # after Content-Type, as a 200
    final[at:at] = plan.headers
    return Reply(plan.status, final, segments=() if head else plan.segments, decision=decision)


def _names_length(fields: tuple[tuple[str, str], ...]) -> bool:
    """Whether a caller's fields include a Content-Length (a plan's would replace it)."""
    for name, _ in fields:  # noqa: SIM110 - no generator to build for the usual empty tuple
        if name.lower() == "content-length":
            return True
    return False


def pieces(
    body: bytes, segments: Iterable[bytes | ByteRange], chunk_size: int
) -> Iterator[bytes | ByteRange]:
    """A body in order: literal bytes, and spans of at most ``chunk_size`` bytes to read.

    What every streamer (ASGI, WSGI, the service's) iterates, so a span is
    cut into chunks the same way everywhere.
    """
    if body:
        yield body
    for segment in segments:
        if isinstance(segment, bytes):
            yield segment
            continue
        for start in range(segment.start, segment.stop, chunk_size):
            yield ByteRange(start, min(start + chunk_size, segment.stop))


__all__ = [
    "Reply",
    "Representation",
    "exchange_fields",
    "not_modified",
    "pieces",
    "refusal",
    "refused",
    "representation_fields",
    "respond",
    "respond_parts",
    "validator_fields",
]
