"""Freshness and age of stored responses (RFC 9111 §4.2, §5.1-§5.3, §1.2.2; RFC 5861).

Pure functions over header pairs (``Sequence[tuple[str, str]]``) and times
in seconds since the epoch: no I/O, no httpx.  The decisions built on them
live in :mod:`ifmatch.client.policy`.

Parsing follows the RFC's robustness rules:

* ``delta-seconds`` (§1.2.2) is digits only; leading zeros are fine
  (``max-age=003600`` is an hour); a number too large to represent is
  2^31; anything else is invalid.
* ``Cache-Control`` (§5.2) directives are case-insensitive, their
  arguments a token or a quoted-string; when a directive repeats, the
  first occurrence counts (§4.2.1).
* ``Expires`` (§5.3) that is not a valid HTTP-date (``0``, ``-1``, garbage)
  means "already expired".
* ``Age`` (§5.1): the first member of a list; an invalid value is ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ifmatch.cachecontrol import split_list as split_list  # re-exported: the one splitter
from ifmatch.dates import parse_http_date
from ifmatch.errors import HeaderParseError

Headers = Sequence[tuple[str, str]]

#: §1.2.2: "it MUST consider the value to be 2147483648 (2^31)".
DELTA_SECONDS_MAX = 2**31
#: RFC 9110 §15.1: status codes a cache may reuse heuristically (RFC 9111 §4.2.2).
HEURISTICALLY_CACHEABLE = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
#: Status codes whose meaning this cache understands (§3, §5.2.2.3 must-understand): the final
#: codes of RFC 9110, less 206 (partial content is not combined here) and 304.
UNDERSTOOD = frozenset(
    {
        200,
        201,
        202,
        203,
        204,
        205,
        300,
        301,
        302,
        303,
        307,
        308,
        400,
        401,
        402,
        403,
        404,
        405,
        406,
        407,
        408,
        409,
        410,
        411,
        412,
        413,
        414,
        415,
        416,
        417,
        421,
        422,
        426,
        500,
        501,
        502,
        503,
        504,
        505,
    }
)


def field_values(headers: Headers, name: str) -> list[str]:
    """Every field line's value for ``name`` (case-insensitive), in order."""
    lowered = name.lower()
    return [value for key, value in headers if key.lower() == lowered]


def first_value(headers: Headers, name: str) -> str | None:
    """The first field line's value for ``name``, or ``None``."""
    lowered = name.lower()
    return next((value for key, value in headers if key.lower() == lowered), None)


def parse_delta_seconds(text: str | None) -> int | None:
    """``delta-seconds`` (§1.2.2): digits only, 2^31 at most; ``None`` when invalid.

    >>> parse_delta_seconds("003600"), parse_delta_seconds("99999999999"), parse_delta_seconds("-1")
    (3600, 2147483648, None)
    """
    if text is None or not text or not text.isascii() or not text.isdigit():
        return None
    if len(text) > 10:
        return DELTA_SECONDS_MAX
    return min(int(text), DELTA_SECONDS_MAX)


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        inner = text[1:-1]
        out: list[str] = []
        escaped = False
        for char in inner:
            if escaped or char != "\\":
                out.append(char)
                escaped = False
            else:
                escaped = True
        return "".join(out)
    return text


def cache_control(headers: Headers) -> dict[str, str | None]:
    """Directives of every ``Cache-Control`` line: lower-case name -> argument (or ``None``).

    The first occurrence of a directive wins (§4.2.1).

    >>> cache_control([("Cache-Control", 'max-age=60, No-Cache="Set-Cookie, X"'),
    ...                ("cache-control", "max-age=5")])
    {'max-age': '60', 'no-cache': 'Set-Cookie, X'}
    """
    directives: dict[str, str | None] = {}
    for value in field_values(headers, "cache-control"):
        for part in split_list(value):
            name, sep, argument = part.partition("=")
            key = name.strip(" \t").lower()
            if not key or key in directives:
                continue
            directives[key] = _unquote(argument.strip(" \t")) if sep else None
    return directives


def request_directives(headers: Headers) -> dict[str, str | None]:
    """Request ``Cache-Control``; ``Pragma: no-cache`` counts only without it (§5.4)."""
    directives = cache_control(headers)
    if not field_values(headers, "cache-control"):
        pragma = {
            part.lower() for value in field_values(headers, "pragma") for part in split_list(value)
        }
        if "no-cache" in pragma:
            directives["no-cache"] = None
    return directives


def http_date(text: str | None) -> float | None:
    """An HTTP-date as seconds since the epoch, or ``None`` when absent or invalid."""
    if text is None:
        return None
    try:
        return parse_http_date(text).timestamp()
    except HeaderParseError:
        return None


def age_value(headers: Headers) -> int:
    """§5.1: the first member of ``Age``; an invalid value is ignored (0)."""
    raw = first_value(headers, "age")
    if raw is None:
        return 0
    parts = split_list(raw)
    seconds = parse_delta_seconds(parts[0] if parts else None)
    return 0 if seconds is None else seconds


@dataclass(frozen=True, slots=True)
class Heuristic:
    """Heuristic freshness (§4.2.2): ``fraction`` of the time since Last-Modified, capped.

    Used only for a response without explicit expiration whose status is
    heuristically cacheable (or that says ``public``) and that has a
    Last-Modified.  Off (``None``) by default in the transports.
    """

    fraction: float = 0.1
    max_seconds: float = 24 * 3600


def freshness_lifetime(
    status: int, headers: Headers, response_time: float, heuristic: Heuristic | None = None
) -> float:
    """§4.2.1 for a private cache: ``max-age``, else ``Expires - Date``, else heuristic, else 0.

    ``s-maxage`` is for shared caches and ignored.  An invalid ``max-age``
    or ``Expires`` makes the response stale (lifetime 0).
    """
    directives = cache_control(headers)
    if "max-age" in directives:
        seconds = parse_delta_seconds(directives["max-age"])
        return 0.0 if seconds is None else float(seconds)
    expires_values = field_values(headers, "expires")
    if expires_values:
        expires = http_date(expires_values[0])
        if expires is None:
            return 0.0
        date = http_date(first_value(headers, "date"))
        return max(0.0, expires - (response_time if date is None else date))
    if heuristic is None or (status not in HEURISTICALLY_CACHEABLE and "public" not in directives):
        return 0.0
    last_modified = http_date(first_value(headers, "last-modified"))
    if last_modified is None:
        return 0.0
    date = http_date(first_value(headers, "date"))
    since = (response_time if date is None else date) - last_modified
    return max(0.0, min(since * heuristic.fraction, heuristic.max_seconds))


def current_age(headers: Headers, request_time: float, response_time: float, now: float) -> float:
    """§4.2.3, exactly: corrected initial age plus the time the response has been resident."""
    date = http_date(first_value(headers, "date"))
    apparent_age = max(0.0, response_time - (response_time if date is None else date))
    response_delay = max(0.0, response_time - request_time)
    corrected_age_value = age_value(headers) + response_delay
    corrected_initial_age = max(apparent_age, corrected_age_value)
    resident_time = max(0.0, now - response_time)
    return corrected_initial_age + resident_time


def has_explicit_expiration(headers: Headers) -> bool:
    """Whether the response carries ``max-age`` or ``Expires`` (a private cache's explicit ones)."""
    return "max-age" in cache_control(headers) or bool(field_values(headers, "expires"))


def stale_extension(directives: dict[str, str | None], name: str) -> int | None:
    """The seconds of an RFC 5861 directive (``stale-while-revalidate``, ``stale-if-error``)."""
    if name not in directives:
        return None
    return parse_delta_seconds(directives[name])
