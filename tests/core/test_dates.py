"""HTTP-date (RFC 9110 §5.6.7): three formats in, IMF-fixdate out, whole seconds on the wire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ifmatch import HeaderParseError, format_http_date, parse_http_date, wire_seconds

INSTANT = datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT", id="§5.6.7 IMF-fixdate"),
        pytest.param("Sunday, 06-Nov-94 08:49:37 GMT", id="§5.6.7 obsolete RFC 850"),
        pytest.param("Sun Nov  6 08:49:37 1994", id="§5.6.7 ANSI C asctime()"),
        pytest.param("Sun Nov 06 08:49:37 1994", id="§5.6.7 asctime date3 with 2DIGIT day"),
        pytest.param(" Sun, 06 Nov 1994 08:49:37 GMT\t", id="§5.6.1 OWS around the value"),
    ],
)
def test_three_formats_same_instant(text: str) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    parsed = parse_http_date(text, now=now)
    assert parsed == INSTANT
    assert parsed.tzinfo is UTC
    assert format_http_date(parsed) == "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize(
    ("text", "now", "year"),
    [
        pytest.param(
            "Sunday, 06-Nov-94 08:49:37 GMT",
            datetime(2026, 1, 1, tzinfo=UTC),
            1994,
            id="§5.6.7 94 seen in 2026 -> 1994 (2094 is >50 years ahead)",
        ),
        pytest.param(
            "Monday, 06-Nov-17 08:49:37 GMT",
            datetime(2026, 1, 1, tzinfo=UTC),
            2017,
            id="§5.6.7 17 seen in 2026 -> 2017",
        ),
        pytest.param(
            "Thursday, 01-Jan-76 00:00:00 GMT",
            datetime(2026, 1, 1, tzinfo=UTC),
            2076,
            id="§5.6.7 exactly 50 years ahead is not MORE than 50 -> 2076",
        ),
        pytest.param(
            "Thursday, 01-Jan-76 00:00:01 GMT",
            datetime(2026, 1, 1, tzinfo=UTC),
            1976,
            id="§5.6.7 one second more than 50 years ahead -> 1976",
        ),
        pytest.param(
            "Saturday, 01-Jan-10 00:00:00 GMT",
            datetime(2095, 6, 1, tzinfo=UTC),
            2110,
            id="§5.6.7 window slides: 10 seen in 2095 -> 2110 (15 years ahead)",
        ),
        pytest.param(
            "Friday, 31-Dec-99 23:59:59 GMT",
            datetime(2000, 1, 1, tzinfo=UTC),
            1999,
            id="§5.6.7 99 seen on 2000-01-01 -> 1999",
        ),
        pytest.param(
            "Tuesday, 29-Feb-00 12:00:00 GMT",
            datetime(2026, 1, 1, tzinfo=UTC),
            2000,
            id="§5.6.7 29-Feb-00 is 2000, a leap year",
        ),
    ],
)
def test_rfc850_two_digit_year(text: str, now: datetime, year: int) -> None:
    assert parse_http_date(text, now=now).year == year


def test_rfc850_now_may_be_naive_or_any_zone() -> None:
    text = "Thursday, 01-Jan-76 00:00:01 GMT"
    naive = datetime(2026, 1, 1)
    east = datetime(2026, 1, 1, 5, tzinfo=timezone(timedelta(hours=5)))  # same instant
    assert parse_http_date(text, now=naive).year == 1976
    assert parse_http_date(text, now=east).year == 1976


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Sun, 30 Feb 1994 08:49:37 GMT", id="§5.6.7 Feb 30 is no date"),
        pytest.param("Sun, 29 Feb 1900 08:49:37 GMT", id="§5.6.7 1900 is not a leap year"),
        pytest.param("Sun, 06 Nov 1994 24:00:00 GMT", id="§5.6.7 hour 24"),
        pytest.param("Sun, 06 Nov 1994 08:60:00 GMT", id="§5.6.7 minute 60"),
        pytest.param("Sun, 06 Nov 1994 08:49:61 GMT", id="§5.6.7 second 61"),
        pytest.param("Sun, 06 Nov 1994 08:49:99 GMT", id="§5.6.7 second 99"),
        pytest.param("Sun, 00 Nov 1994 08:49:37 GMT", id="§5.6.7 day 0"),
        pytest.param("Sun, 06 Nov 0000 08:49:37 GMT", id="§5.6.7 year 0"),
        pytest.param("sun, 06 nov 1994 08:49:37 gmt", id="§5.6.7 case-sensitive: lower case"),
        pytest.param("SUN, 06 NOV 1994 08:49:37 GMT", id="§5.6.7 case-sensitive: upper case"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 UTC", id="§5.6.7 GMT only"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 +0000", id="§5.6.7 no numeric zone"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT extra", id="§5.6.7 extra text after"),
        pytest.param("x Sun, 06 Nov 1994 08:49:37 GMT", id="§5.6.7 extra text before"),
        pytest.param("Sun, 6 Nov 1994 08:49:37 GMT", id="§5.6.7 IMF day is 2DIGIT"),
        pytest.param("Sun,  06 Nov 1994 08:49:37 GMT", id="§5.6.7 exactly one SP"),
        pytest.param("Sun, 06 Nov 94 08:49:37 GMT", id="§5.6.7 IMF year is 4DIGIT"),
        pytest.param("Sun, \uff10\uff16 Nov 1994 08:49:37 GMT", id="§5.6.7 full-width digits"),
        pytest.param("Sun, \u0660\u0666 Nov 1994 08:49:37 GMT", id="§5.6.7 Arabic-Indic digits"),
        pytest.param(
            "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
            id="§13.1.3 a list of dates is not a date",
        ),
        pytest.param("Sun, 06-Nov-94 08:49:37 GMT", id="§5.6.7 RFC 850 needs the long day"),
        pytest.param("Sunday, 06-Nov-1994 08:49:37 GMT", id="§5.6.7 RFC 850 year is 2DIGIT"),
        pytest.param("Sun Nov 6 08:49:37 1994", id="§5.6.7 asctime day needs SP DIGIT"),
        pytest.param("Sun Nov  6 08:49:37 1994 GMT", id="§5.6.7 asctime has no zone"),
        pytest.param("1994-11-06T08:49:37Z", id="ISO 8601 is not an HTTP-date"),
        pytest.param("784111777", id="a timestamp is not an HTTP-date"),
        pytest.param("", id="empty"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT" + " " * 100 + "x", id="too long"),
    ],
)
def test_invalid_dates(text: str) -> None:
    with pytest.raises(HeaderParseError):
        parse_http_date(text, now=datetime(2026, 1, 1, tzinfo=UTC))


def test_leap_second_reads_as_59() -> None:
    parsed = parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT")
    assert parsed == datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_weekday_name_is_not_cross_checked() -> None:
    # §5.6.7 gives recipients no duty to check day-name against the date; peers don't either.
    assert parse_http_date("Mon, 06 Nov 1994 08:49:37 GMT") == INSTANT


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        pytest.param(INSTANT, "Sun, 06 Nov 1994 08:49:37 GMT", id="§5.6.7 aware UTC"),
        pytest.param(
            INSTANT.replace(microsecond=999_999),
            "Sun, 06 Nov 1994 08:49:37 GMT",
            id="§5.6.7 sub-second truncated, never rounded up",
        ),
        pytest.param(
            datetime(1994, 11, 6, 8, 49, 37, 500_000),
            "Sun, 06 Nov 1994 08:49:37 GMT",
            id="naive datetime means UTC",
        ),
        pytest.param(
            datetime(1994, 11, 6, 9, 49, 37, tzinfo=timezone(timedelta(hours=1))),
            "Sun, 06 Nov 1994 08:49:37 GMT",
            id="§5.6.7 other zones converted to GMT",
        ),
        pytest.param(784111777.9, "Sun, 06 Nov 1994 08:49:37 GMT", id="POSIX float truncated"),
        pytest.param(784111777, "Sun, 06 Nov 1994 08:49:37 GMT", id="POSIX int"),
        pytest.param(0, "Thu, 01 Jan 1970 00:00:00 GMT", id="epoch"),
        pytest.param(-0.5, "Wed, 31 Dec 1969 23:59:59 GMT", id="before epoch floors, no future"),
        pytest.param(
            datetime(9, 1, 1, tzinfo=UTC), "Thu, 01 Jan 0009 00:00:00 GMT", id="year is 4DIGIT"
        ),
    ],
)
def test_format_is_always_imf_fixdate(moment: datetime | float, text: str) -> None:
    assert format_http_date(moment) == text
    assert parse_http_date(text) == wire_seconds(moment)


def test_sub_second_kept_internally_truncated_on_wire() -> None:
    precise = datetime(2026, 3, 1, 12, 0, 0, 750_000, tzinfo=UTC)
    assert precise.microsecond == 750_000  # nothing in the core rounds the value it is given
    assert wire_seconds(precise) == datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert wire_seconds(precise) <= precise
    assert parse_http_date(format_http_date(precise)) == wire_seconds(precise)
