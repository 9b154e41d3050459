"""HTTP-date (RFC 9110 §5.6.7): three formats in, IMF-fixdate out.

ABNF, quoted from RFC 9110 §5.6.7::

    HTTP-date    = IMF-fixdate / obs-date
    IMF-fixdate  = day-name "," SP date1 SP time-of-day SP GMT
                 ; Sun, 06 Nov 1994 08:49:37 GMT
    obs-date     = rfc850-date / asctime-date
    rfc850-date  = day-name-l "," SP date2 SP time-of-day SP GMT
                 ; Sunday, 06-Nov-94 08:49:37 GMT
    asctime-date = day-name SP date3 SP time-of-day SP year
                 ; Sun Nov  6 08:49:37 1994

HTTP-date is case-sensitive (§5.6.7), so ``sun, 06 nov 1994 ...`` is not a
date.  Validators keep sub-second precision in :class:`datetime.datetime`
values; only whole seconds go on the wire, and comparisons against a
received date use the whole second (:func:`wire_seconds`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from ifmatch.errors import HeaderParseError

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LONG_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name: index + 1 for index, name in enumerate(_MONTHS)}

_DAY = "|".join(_DAYS)
_MONTH = "|".join(_MONTHS)
_TIME = r"(\d\d):(\d\d):(\d\d)"
_IMF_RE = re.compile(rf"(?:{_DAY}), (\d\d) ({_MONTH}) (\d{{4}}) {_TIME} GMT", re.ASCII)
_LONG_DAY = "|".join(_LONG_DAYS)
_RFC850_RE = re.compile(rf"(?:{_LONG_DAY}), (\d\d)-({_MONTH})-(\d\d) {_TIME} GMT", re.ASCII)
_ASCTIME_RE = re.compile(rf"(?:{_DAY}) ({_MONTH}) ([ \d]\d) {_TIME} (\d{{4}})", re.ASCII)
_MAX_LENGTH = 64
_TWO = {f"{number:02d}": number for number in range(100)}  # faster than int() for 2DIGIT
_IMF_SHAPE = re.compile(
    rf"(?:{_DAY}), (\d\d) ([A-Z][a-z][a-z]) (\d\d\d\d) (\d\d):(\d\d):(\d\d) GMT", re.ASCII
)


def parse_http_date(value: str, *, now: datetime | None = None) -> datetime:
    """Parse an HTTP-date in any of its three formats into an aware UTC datetime.

    A two-digit RFC 850 year that would be more than 50 years in the future
    is read as the most recent past year with those digits (§5.6.7).  A leap
    second (``:60``) is read as ``:59``.  Raises :class:`HeaderParseError`
    for anything that is not a valid date.

    >>> parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").isoformat()
    '1994-11-06T08:49:37+00:00'
    """
    text = value.strip(" \t")
    if len(text) > _MAX_LENGTH:
        raise HeaderParseError("HTTP-date too long")
    if fast := _IMF_SHAPE.fullmatch(text):
        # IMF-fixdate, what nearly every client sends: one regex with no month alternation.
        day, month, year, hour, minute, second = fast.groups()
        month_number = _MONTH_NUMBER.get(month)
        if month_number is not None and second < "60":
            try:
                return datetime(
                    int(year),
                    month_number,
                    _TWO[day],
                    _TWO[hour],
                    _TWO[minute],
                    _TWO[second],
                    0,
                    UTC,
                )
            except ValueError as error:
                raise HeaderParseError(f"not a calendar date: {text!r}") from error
    if match := _IMF_RE.fullmatch(text):
        day, month, year, hour, minute, second = match.groups()
        year_number = int(year)
    elif match := _RFC850_RE.fullmatch(text):
        day, month, year, hour, minute, second = match.groups()
        fields = (_MONTH_NUMBER[month], int(day), int(hour), int(minute), int(second))
        year_number = _two_digit_year(int(year), fields, now)
    elif match := _ASCTIME_RE.fullmatch(text):
        month, day, hour, minute, second, year = match.groups()
        year_number = int(year)
    else:
        raise HeaderParseError(f"not an HTTP-date: {text[:_MAX_LENGTH]!r}")
    seconds = int(second)
    if seconds > 60:  # §5.6.7: second = 2DIGIT, 00-60 (60 only for a leap second)
        raise HeaderParseError(f"not a time of day: {text!r}")
    try:
        return datetime(
            year_number,
            _MONTH_NUMBER[month],
            int(day),
            int(hour),
            int(minute),
            min(seconds, 59),
            tzinfo=UTC,
        )
    except ValueError as error:
        raise HeaderParseError(f"not a calendar date: {text!r}") from error


def _two_digit_year(year: int, fields: tuple[int, int, int, int, int], now: datetime | None) -> int:
    """§5.6.7: the latest year ending in ``year`` that is at most 50 years in the future.

    "Recipients of a timestamp value in rfc850-date format, which uses a
    two-digit year, MUST interpret a timestamp that appears to be more than
    50 years in the future as representing the most recent year in the past
    that had the same last two digits."  The comparison is of the whole
    timestamp, not only the year, so the window slides with ``now``.
    """
    current = _utc(now or datetime.now(UTC))
    limit = (
        current.year + 50,
        current.month,
        current.day,
        current.hour,
        current.minute,
        current.second,
    )
    candidate = current.year - current.year % 100 + year + 100
    while (candidate, *fields) > limit:
        candidate -= 100
    return candidate


def _utc(moment: datetime) -> datetime:
    zone = moment.tzinfo
    if zone is UTC:
        return moment
    return moment.replace(tzinfo=UTC) if zone is None else moment.astimezone(UTC)


def format_http_date(moment: datetime | float) -> str:
    """Format a datetime (naive means UTC) or a POSIX timestamp as IMF-fixdate.

    Sub-second precision is dropped (truncated), never rounded up into the future.

    >>> format_http_date(784111777.9)
    'Sun, 06 Nov 1994 08:49:37 GMT'
    """
    # The microseconds are never printed, so a datetime needs no wire_seconds() copy; and
    # %-formatting measured less than half the instructions of an f-string with six specs.
    utc = _utc(moment) if isinstance(moment, datetime) else wire_seconds(moment)
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (  # noqa: UP031 - measured, see above
        _DAYS[utc.weekday()],
        utc.day,
        _MONTHS[utc.month - 1],
        utc.year,
        utc.hour,
        utc.minute,
        utc.second,
    )


def wire_seconds(moment: datetime | float) -> datetime:
    """The whole UTC second a timestamp is sent as: what a client can send back."""
    if isinstance(moment, datetime):
        utc = _utc(moment)
    else:
        utc = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=int(moment // 1))
    return utc.replace(microsecond=0)
