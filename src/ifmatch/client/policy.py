"""The private cache's decisions, sans I/O (RFC 9111 §3, §4; RFC 5861).

The transports ask two questions and do what the answer says:

1. :func:`on_request`: given the request and the stored variants of its
   URL, one of :class:`PassThrough`, :class:`Unsafe`, :class:`CacheMiss`,
   :class:`FromCache`, :class:`NotModifiedFromCache`,
   :class:`NeedRevalidation`, :class:`GatewayTimeout`.
2. :func:`on_response`: given that state and the response head, one of
   :class:`StoreAndUse`, :class:`UseResponse`, :class:`Refreshed`,
   :class:`RetryWithoutValidators`, :class:`StaleOnError`.

(:func:`on_error` answers a transport error the same way.)  Each answer
carries the storage effects (entries to store, variants to remove) and a
label saying what the cache did (``hit; fresh``, ``revalidated``, ``stale;
reason=stale-if-error``, ...).  Nothing here performs I/O or imports httpx:
the same rules drive the sync and async transports and every storage.
"""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass, field, replace
from urllib.parse import urljoin, urlsplit

from ifmatch.client.entry import Entry, VaryValues
from ifmatch.client.freshness import (
    HEURISTICALLY_CACHEABLE,
    UNDERSTOOD,
    Headers,
    Heuristic,
    cache_control,
    current_age,
    field_values,
    first_value,
    freshness_lifetime,
    has_explicit_expiration,
    http_date,
    parse_delta_seconds,
    request_directives,
    split_list,
    stale_extension,
)
from ifmatch.errors import HeaderParseError
from ifmatch.etag import ETag, ETagList

log = logging.getLogger("ifmatch.client.cache")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Never stored (RFC 9111 §3.1: hop-by-hop and connection-specific fields).
UNSTORED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authentication-info",
        "trailer",
    }
)
#: Never replaced from a 304 or HEAD (RFC 9111 §3.2): framing, plus Content-Encoding and
#: Content-Range because the stored bytes were encoded as first received.
NOT_UPDATED = UNSTORED | {"content-length", "content-encoding", "content-range"}
_PASS_THROUGH_FIELDS = ("if-match", "if-unmodified-since", "if-range", "range")
_APP_CONDITIONALS = ("if-none-match", "if-modified-since")
DEFAULT_MAX_ENTRY_BYTES = 32 * 1024 * 1024
#: How long an entry that can be revalidated stays in storage after it went stale.
DEFAULT_KEEP_STALE = 7 * 24 * 3600.0


class Label(enum.StrEnum):
    """What the cache did for one response (the ``ifmatch_cache`` response extension)."""

    FRESH = "hit; fresh"
    REVALIDATED = "revalidated"
    STALE_MAX_STALE = "stale; reason=max-stale"
    STALE_WHILE_REVALIDATE = "stale; reason=stale-while-revalidate"
    STALE_IF_ERROR = "stale; reason=stale-if-error"
    NOT_MODIFIED = "hit; fresh; not-modified"
    MISS = "miss"
    STORED = "miss; stored"
    BYPASS = "bypass"
    ONLY_IF_CACHED = "miss; only-if-cached"


@dataclass(frozen=True, slots=True)
class Options:
    """The cache's settings.

    ``always_revalidate``: never reuse a stored response without asking
    the origin (for data that must never be shown stale); freshness
    directives then only decide what is stored.  ``heuristic``: freshness
    for responses without explicit expiration (§4.2.2); ``None`` (off)
    by default.  ``keep_stale``: how long after it went stale an entry that
    can be revalidated stays in storage.
    """

    always_revalidate: bool = False
    heuristic: Heuristic | None = None
    keep_stale: float = DEFAULT_KEEP_STALE
    max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES


@dataclass(frozen=True, slots=True)
class Request:
    """A request head: method, absolute URL, header pairs."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class _Received:
    """A response head, and when the exchange that brought it began and ended (§4.2.3)."""

    status: int
    headers: Headers
    request_time: float
    response_time: float


# -- request states ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PassThrough:
    """Send the request as it is; the response is not for the cache."""

    label: Label = Label.BYPASS


@dataclass(frozen=True, slots=True)
class Unsafe:
    """An unsafe method: send it, then invalidate on success (§4.4)."""


@dataclass(frozen=True, slots=True)
class HeadRequest:
    """A HEAD: send it; its response may update a stored GET response (§4.3.5)."""

    entry: Entry | None


@dataclass(frozen=True, slots=True)
class CacheMiss:
    """Nothing reusable: send the request as it is, store the answer if allowed.

    ``entry`` is the matching stored variant, if any (a 304 to the
    application's own conditional request freshens it).
    """

    store: bool = True
    entry: Entry | None = None
    vary_request: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class NeedRevalidation:
    """Send ``headers`` (the request plus validators from ``entry``) and handle the 304."""

    entry: Entry
    headers: tuple[tuple[str, str], ...]
    stale_if_error: float | None = None
    store: bool = True


@dataclass(frozen=True, slots=True)
class FromCache:
    """Answer from ``entry`` without the origin; ``background`` revalidates afterwards."""

    entry: Entry
    headers: tuple[tuple[str, str], ...]
    label: Label
    background: NeedRevalidation | None = None


@dataclass(frozen=True, slots=True)
class NotModifiedFromCache:
    """The application's own If-None-Match / If-Modified-Since matches a fresh entry: 304."""

    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class GatewayTimeout:
    """``only-if-cached`` and nothing usable is stored: 504 (§5.2.1.7)."""


RequestState = (
    PassThrough
    | Unsafe
    | HeadRequest
    | CacheMiss
    | NeedRevalidation
    | FromCache
    | NotModifiedFromCache
    | GatewayTimeout
)

# -- response states --------------------------------------------------------------------------

Removal = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class StoreAndUse:
    """Hand the response over, storing ``entry`` (plus the body) once it is read whole."""

    entry: Entry
    expected_length: int | None
    removals: tuple[Removal, ...] = ()
    label: Label = Label.STORED


@dataclass(frozen=True, slots=True)
class UseResponse:
    """Hand the response over as it is, after the storage effects."""

    label: Label = Label.MISS
    removals: tuple[Removal, ...] = ()
    store: Entry | None = None


@dataclass(frozen=True, slots=True)
class Refreshed:
    """A 304 confirmed ``entry``: answer with it (``headers``); store it again or remove it."""

    entry: Entry
    headers: tuple[tuple[str, str], ...]
    keep: bool
    label: Label = Label.REVALIDATED


@dataclass(frozen=True, slots=True)
class RetryWithoutValidators:
    """A 304 that cannot refer to the stored entry: forget it, ask again unconditionally."""

    removals: tuple[Removal, ...]


@dataclass(frozen=True, slots=True)
class StaleOnError:
    """The origin failed and the entry allows it (RFC 5861 §4): answer with the stale entry."""

    headers: tuple[tuple[str, str], ...]
    label: Label = Label.STALE_IF_ERROR


ResponseState = StoreAndUse | UseResponse | Refreshed | RetryWithoutValidators | StaleOnError


# -- helpers ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Freshness:
    """How fresh a stored entry is now."""

    lifetime: float
    age: float
    directives: dict[str, str | None] = field(default_factory=dict)

    @property
    def fresh(self) -> bool:
        return self.lifetime > self.age

    @property
    def staleness(self) -> float:
        return max(0.0, self.age - self.lifetime)

    def may_serve_stale(self) -> bool:
        """§4.2.4: not when ``must-revalidate`` or ``no-cache`` says otherwise."""
        return "must-revalidate" not in self.directives and "no-cache" not in self.directives


def freshness(entry: Entry, now: float, options: Options) -> Freshness:
    """Lifetime (§4.2.1) and current age (§4.2.3) of ``entry`` at ``now``."""
    return Freshness(
        freshness_lifetime(entry.status, entry.headers, entry.stored_at, options.heuristic),
        current_age(entry.headers, entry.sent_at, entry.stored_at, now),
        cache_control(entry.headers),
    )


def vary_names(headers: Headers) -> list[str]:
    """The lower-case field names ``Vary`` lists, first occurrence kept."""
    return list(
        dict.fromkeys(
            token.strip().lower()
            for value in field_values(headers, "vary")
            for token in value.split(",")
            if token.strip()
        )
    )


def vary_values(names: list[str] | VaryValues, headers: Headers) -> VaryValues:
    """The request's values for ``names``, normalised (RFC 9111 §4.1)."""
    values: list[tuple[str, str | None]] = []
    for item in names:
        name = item if isinstance(item, str) else item[0]
        found = field_values(headers, name)
        if not found:
            values.append((name, None))
            continue
        tokens = [token.strip() for value in found for token in value.split(",")]
        values.append((name, ",".join(token for token in tokens if token)))
    return tuple(values)


def select(request: Request, variants: list[Entry]) -> Entry | None:
    """The stored variant whose Vary values match the request, the most recent first (§4.1)."""
    return next((e for e in variants if vary_values(e.vary, request.headers) == e.vary), None)


def validators(headers: Headers) -> tuple[ETag | None, str | None]:
    """The ETag (if valid) and Last-Modified value (if a valid date); malformed ones drop."""
    etag: ETag | None = None
    raw = first_value(headers, "etag")
    if raw is not None:
        try:
            etag = ETag.parse(raw)
        except HeaderParseError:
            etag = None
    last_modified = first_value(headers, "last-modified")
    if last_modified is not None and http_date(last_modified) is None:
        last_modified = None
    return etag, last_modified


def served_headers(entry: Entry, age: float) -> tuple[tuple[str, str], ...]:
    """The stored headers with ``Age`` generated for this reuse (§5.1, §4)."""
    seconds = min(int(age), 2**31)
    return (*((n, v) for n, v in entry.headers if n.lower() != "age"), ("Age", str(seconds)))


def merge_not_modified(
    stored: tuple[tuple[str, str], ...] | list[tuple[str, str]],
    fresh: Headers,
) -> tuple[tuple[str, str], ...]:
    """Stored headers updated from a 304 or a HEAD (RFC 9111 §4.3.4, §4.3.5 and §3.2).

    Each field in the new response replaces all stored instances of that
    field, in the position of the first; every other stored field is kept.
    Framing fields and Content-Encoding are never replaced: they describe
    the stored bytes, not the representation.

    >>> merge_not_modified([("ETag", '"a"'), ("Content-Type", "text/plain"), ("X", "1")],
    ...                    [("X", "2"), ("Content-Length", "0"), ("Date", "d")])
    (('ETag', '"a"'), ('Content-Type', 'text/plain'), ('X', '2'), ('Date', 'd'))
    """
    connection_listed = _connection_listed(fresh)
    replacing: dict[str, list[tuple[str, str]]] = {}
    for name, value in fresh:
        lowered = name.lower()
        if lowered in NOT_UPDATED or lowered in connection_listed:
            continue
        replacing.setdefault(lowered, []).append((name, value))
    merged: list[tuple[str, str]] = []
    placed: set[str] = set()
    for name, value in stored:
        lowered = name.lower()
        if lowered not in replacing:
            merged.append((name, value))
        elif lowered not in placed:
            merged.extend(replacing[lowered])
            placed.add(lowered)
    for lowered, pairs in replacing.items():
        if lowered not in placed:
            merged.extend(pairs)
    return tuple(merged)


def _revalidated_headers(entry: Entry, fresh: Headers) -> tuple[tuple[str, str], ...]:
    """The stored headers after a validation: merged (§4.3.4), and the stored ``Age`` dropped
    unless the new response has one, since the age now counts from this response (§4.2.3)."""
    stored = entry.headers
    if not field_values(fresh, "age"):
        stored = tuple((n, v) for n, v in stored if n.lower() != "age")
    return merge_not_modified(stored, fresh)


def _connection_listed(headers: Headers) -> set[str]:
    return {
        token.strip().lower()
        for value in field_values(headers, "connection")
        for token in value.split(",")
    }


def storable_headers(headers: Headers) -> tuple[tuple[str, str], ...]:
    """The fields to store: hop-by-hop and Connection-listed ones dropped (§3.1)."""
    listed = _connection_listed(headers)
    return tuple(
        (n, v) for n, v in headers if n.lower() not in UNSTORED and n.lower() not in listed
    )


def storage_deadline(entry: Entry, options: Options) -> float | None:
    """When a storage may forget ``entry`` on its own: stale and of no further use."""
    lifetime = freshness_lifetime(entry.status, entry.headers, entry.stored_at, options.heuristic)
    age = current_age(entry.headers, entry.sent_at, entry.stored_at, entry.stored_at)
    directives = cache_control(entry.headers)
    etag, last_modified = validators(entry.headers)
    extra = max(
        stale_extension(directives, "stale-while-revalidate") or 0,
        stale_extension(directives, "stale-if-error") or 0,
        options.keep_stale if (etag or last_modified) else 0,
    )
    return entry.stored_at + max(0.0, lifetime - age) + extra


def _with_deadline(entry: Entry, options: Options) -> Entry:
    return replace(entry, expires_at=storage_deadline(entry, options))


def _conditional_headers(request: Request, entry: Entry) -> tuple[tuple[str, str], ...] | None:
    """The request plus If-None-Match / If-Modified-Since from ``entry`` (§4.3.1)."""
    etag, last_modified = validators(entry.headers)
    if etag is None and last_modified is None:
        return None
    headers = [(n, v) for n, v in request.headers if n.lower() not in _APP_CONDITIONALS]
    if etag is not None:
        headers.append(("If-None-Match", str(etag)))
    if last_modified is not None:
        headers.append(("If-Modified-Since", last_modified))
    return tuple(headers)


def _answers_conditional(request: Request, entry: Entry) -> bool:
    """§4.3.2: whether the application's own If-None-Match / If-Modified-Since match ``entry``."""
    etag, last_modified = validators(entry.headers)
    if_none_match = field_values(request.headers, "if-none-match")
    if if_none_match:
        try:
            tags = ETagList.parse(", ".join(if_none_match), field="If-None-Match")
        except HeaderParseError:
            return False
        return tags.weak_contains(etag)
    since = http_date(first_value(request.headers, "if-modified-since"))
    modified = http_date(last_modified)
    return since is not None and modified is not None and modified <= since


def _directive_seconds(directives: dict[str, str | None], name: str) -> float | None:
    """A request directive's seconds; present but invalid counts as 0 (the strictest)."""
    if name not in directives:
        return None
    seconds = parse_delta_seconds(directives[name])
    return 0.0 if seconds is None else float(seconds)


# -- the decisions ----------------------------------------------------------------------------


def on_request(
    request: Request, variants: list[Entry], now: float, options: Options
) -> RequestState:
    """What to do with ``request``, given the stored variants of its URL (§4)."""
    method = request.method.upper()
    if method == "HEAD":
        return HeadRequest(select(request, variants))
    if method not in SAFE_METHODS:
        return Unsafe()
    if method != "GET" or any(field_values(request.headers, n) for n in _PASS_THROUGH_FIELDS):
        return PassThrough()
    directives = request_directives(request.headers)
    store = "no-store" not in directives
    entry = select(request, variants)
    conditional = any(field_values(request.headers, n) for n in _APP_CONDITIONALS)
    if entry is None:
        if "only-if-cached" in directives:
            return GatewayTimeout()
        return CacheMiss(store)
    state = freshness(entry, now, options)
    max_age = _directive_seconds(directives, "max-age")
    min_fresh = _directive_seconds(directives, "min-fresh")
    age_ok = max_age is None or state.age <= max_age
    reusable = (
        not options.always_revalidate
        and "no-cache" not in directives
        and "no-cache" not in state.directives
        and age_ok
    )
    if reusable and state.fresh and (min_fresh is None or state.lifetime - state.age >= min_fresh):
        if conditional:
            if _answers_conditional(request, entry):
                return NotModifiedFromCache(served_headers(entry, state.age))
            return FromCache(entry, served_headers(entry, state.age), Label.FRESH)
        return FromCache(entry, served_headers(entry, state.age), Label.FRESH)
    if reusable and not state.fresh and state.may_serve_stale() and "max-stale" in directives:
        limit = directives["max-stale"]
        allowed = math.inf if limit is None else parse_delta_seconds(limit)
        if allowed is not None and state.staleness <= allowed:
            return FromCache(entry, served_headers(entry, state.age), Label.STALE_MAX_STALE)
    if "only-if-cached" in directives:
        return GatewayTimeout()
    if conditional:
        return CacheMiss(store, entry)
    headers = _conditional_headers(request, entry)
    stale_if_error = _stale_if_error(directives, state, options)
    revalidation = (
        NeedRevalidation(entry, headers, stale_if_error, store) if headers is not None else None
    )
    window = stale_extension(state.directives, "stale-while-revalidate")
    if (
        reusable
        and revalidation is not None
        and window is not None
        and not state.fresh
        and state.may_serve_stale()
        and state.staleness <= window
    ):
        return FromCache(
            entry,
            served_headers(entry, state.age),
            Label.STALE_WHILE_REVALIDATE,
            background=revalidation,
        )
    if revalidation is not None:
        return revalidation
    if stale_if_error is not None:
        # Nothing to revalidate with, but the stale entry may still stand in for an error.
        return NeedRevalidation(entry, request.headers, stale_if_error, store)
    return CacheMiss(store, entry)


def _stale_if_error(
    request_directives_: dict[str, str | None], state: Freshness, options: Options
) -> float | None:
    """RFC 5861 §4: how stale ``state``'s entry may be when it stands in for an error."""
    if options.always_revalidate or not state.may_serve_stale():
        return None
    windows = [
        seconds
        for seconds in (
            stale_extension(state.directives, "stale-if-error"),
            stale_extension(request_directives_, "stale-if-error"),
        )
        if seconds is not None
    ]
    return float(max(windows)) if windows else None


def on_response(
    state: RequestState,
    request: Request,
    status: int,
    headers: Headers,
    request_time: float,
    response_time: float,
    options: Options,
) -> ResponseState:
    """What to do with the response to the request ``state`` sent (headers only)."""
    if isinstance(state, Unsafe):
        return UseResponse(Label.BYPASS, _invalidations(request, status, headers))
    if isinstance(state, PassThrough | FromCache | NotModifiedFromCache | GatewayTimeout):
        return UseResponse(Label.BYPASS)
    received = _Received(status, headers, request_time, response_time)
    if isinstance(state, HeadRequest):
        return _on_head(state, request, received, options)
    if isinstance(state, NeedRevalidation):
        if status == 304:
            return _on_not_modified(state, request, received, options)
        if status >= 500 and _stale_enough(state, response_time, options):
            return StaleOnError(_stale_headers(state.entry, response_time))
    elif status == 304:
        return _freshen_from_304(state.entry, request, received, options)
    return _on_full(request, received, options, state.store, state.entry)


def on_error(state: RequestState, now: float, options: Options) -> StaleOnError | None:
    """The origin could not be reached: the stale entry, if RFC 5861 §4 allows it."""
    if isinstance(state, NeedRevalidation) and _stale_enough(state, now, options):
        return StaleOnError(_stale_headers(state.entry, now))
    return None


def _stale_enough(state: NeedRevalidation, now: float, options: Options) -> bool:
    if state.stale_if_error is None:
        return False
    return freshness(state.entry, now, options).staleness <= state.stale_if_error


def _stale_headers(entry: Entry, now: float) -> tuple[tuple[str, str], ...]:
    return served_headers(entry, current_age(entry.headers, entry.sent_at, entry.stored_at, now))


def _freshened(entry: Entry, received: _Received, options: Options) -> Entry:
    """``entry`` with the headers and times of a 304 or a HEAD's 200 that validated it."""
    updated = entry.with_headers(
        _revalidated_headers(entry, received.headers),
        request_time=received.request_time,
        response_time=received.response_time,
    )
    return _with_deadline(updated, options)


def _on_not_modified(
    state: NeedRevalidation, request: Request, received: _Received, options: Options
) -> ResponseState:
    entry = state.entry
    stored_etag, _ = validators(entry.headers)
    new_etag, _ = validators(received.headers)
    if new_etag is not None and (stored_etag is None or not new_etag.weak_match(stored_etag)):
        return RetryWithoutValidators(((request.url, entry.variant),))
    updated = _freshened(entry, received, options)
    keep = (
        state.store
        and updated.size <= options.max_entry_bytes
        and "no-store" not in cache_control(updated.headers)
    )
    return Refreshed(updated, tuple(updated.headers), keep)


def _freshen_from_304(
    entry: Entry | None, request: Request, received: _Received, options: Options
) -> ResponseState:
    """A 304 to the application's own conditional: update the entry it names (§4.3.4)."""
    if entry is None:
        return UseResponse(Label.MISS)
    stored_etag, _ = validators(entry.headers)
    new_etag, _ = validators(received.headers)
    if new_etag is None or stored_etag is None or not new_etag.strong_match(stored_etag):
        return UseResponse(Label.MISS)
    updated = _freshened(entry, received, options)
    if "no-store" in cache_control(updated.headers) or updated.size > options.max_entry_bytes:
        return UseResponse(Label.MISS, ((request.url, entry.variant),))
    return UseResponse(Label.MISS, store=updated)


def _on_head(
    state: HeadRequest, request: Request, received: _Received, options: Options
) -> ResponseState:
    """§4.3.5: a 200 to HEAD updates the stored GET response it describes, or makes it go."""
    entry = state.entry
    headers = received.headers
    if entry is None or received.status != 200:
        return UseResponse(Label.BYPASS)
    stored_etag, stored_lm = validators(entry.headers)
    new_etag, new_lm = validators(headers)
    if stored_etag is not None or new_etag is not None:
        same = stored_etag is not None and new_etag is not None and new_etag.weak_match(stored_etag)
    elif stored_lm is not None or new_lm is not None:
        same = stored_lm == new_lm
    else:
        same = first_value(entry.headers, "content-length") == first_value(
            headers, "content-length"
        )
    if not same:
        return UseResponse(Label.BYPASS, ((request.url, entry.variant),))
    updated = _freshened(entry, received, options)
    return UseResponse(Label.BYPASS, store=updated)


def _on_full(
    request: Request,
    received: _Received,
    options: Options,
    store: bool,
    previous: Entry | None,
) -> ResponseState:
    """A full response to a GET: store it if §3 allows, else forget the variant it replaces."""
    status, headers = received.status, received.headers
    superseded: tuple[Removal, ...] = ()
    if previous is not None and status < 500:
        superseded = ((request.url, previous.variant),)
    if not store:
        return UseResponse(Label.MISS)
    reason = _unstorable(received, options)
    if reason is not None:
        log.debug("not stored (%s): %s", reason, request.url)
        return UseResponse(Label.MISS, superseded)
    names = vary_names(headers)
    entry = _with_deadline(
        Entry(
            status,
            storable_headers(headers),
            b"",
            vary_values(names, request.headers),
            stored_at=received.response_time,
            request_time=received.request_time,
        ),
        options,
    )
    length = first_value(headers, "content-length")
    expected = int(length) if length and length.isdigit() else None
    removals = superseded if previous is not None and previous.variant != entry.variant else ()
    return StoreAndUse(entry, expected, removals)


def _unstorable(received: _Received, options: Options) -> str | None:
    """Why a response to a GET must not (or need not) be stored (§3), or ``None``."""
    status, headers = received.status, received.headers
    if status < 200 or status in {206, 304}:
        return f"status {status}"
    directives = cache_control(headers)
    if "must-understand" in directives:
        # §5.2.2.3: only with a status code this cache understands; then no-store is moot.
        if status not in UNDERSTOOD:
            return f"must-understand and status {status}"
    elif "no-store" in directives:
        return "no-store"
    if "*" in vary_names(headers):
        return "Vary: *"
    etag, last_modified = validators(headers)
    has_validator = etag is not None or last_modified is not None
    if options.always_revalidate:
        return None if has_validator else "no validator"
    if not (
        has_explicit_expiration(headers)
        or "public" in directives
        or "private" in directives
        or status in HEURISTICALLY_CACHEABLE
    ):
        return "no explicit freshness and not heuristically cacheable"
    lifetime = freshness_lifetime(status, headers, received.response_time, options.heuristic)
    stale_if_error = stale_extension(directives, "stale-if-error")
    if lifetime <= 0 and not has_validator and stale_if_error is None:
        return "stale on arrival with no validator"
    return None


def _invalidations(request: Request, status: int, headers: Headers) -> tuple[Removal, ...]:
    """§4.4: a non-error response to an unsafe method invalidates the target URI and the
    same-origin URIs in Location and Content-Location."""
    if status >= 400:
        return ()
    removals: list[Removal] = [(request.url, None)]
    origin = _origin(request.url)
    for name in ("location", "content-location"):
        value = first_value(headers, name)
        if not value:
            continue
        target = urljoin(request.url, value.strip())
        if _origin(target) == origin:
            removals.append((target, None))
    return tuple(removals)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


__all__ = [
    "CacheMiss",
    "Entry",
    "FromCache",
    "GatewayTimeout",
    "HeadRequest",
    "Heuristic",
    "Label",
    "NeedRevalidation",
    "NotModifiedFromCache",
    "Options",
    "PassThrough",
    "Refreshed",
    "Request",
    "RequestState",
    "ResponseState",
    "RetryWithoutValidators",
    "StaleOnError",
    "StoreAndUse",
    "Unsafe",
    "UseResponse",
    "merge_not_modified",
    "on_error",
    "on_request",
    "on_response",
    "split_list",
]
