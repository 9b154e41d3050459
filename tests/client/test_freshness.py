"""The cache's parsers and decisions on arbitrary input (hypothesis), and their exact rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ifmatch.client.entry import Entry
from ifmatch.client.freshness import (
    DELTA_SECONDS_MAX,
    age_value,
    cache_control,
    current_age,
    freshness_lifetime,
    parse_delta_seconds,
    split_list,
)
from ifmatch.client.policy import Options, Request, on_request, on_response

NAMES = st.sampled_from(
    [
        "Cache-Control",
        "Expires",
        "Date",
        "Age",
        "Last-Modified",
        "ETag",
        "Vary",
        "Pragma",
        "If-None-Match",
        "Connection",
        "Location",
    ]
)
HEADERS = st.lists(st.tuples(NAMES, st.text(max_size=40)), max_size=8)
NOW = 1_700_000_000.0


@given(st.text(max_size=30))
def test_delta_seconds_is_digits_only_and_bounded(text: str) -> None:
    value = parse_delta_seconds(text)
    if text.isascii() and text.isdigit():
        assert value == min(int(text), DELTA_SECONDS_MAX)
    else:
        assert value is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("003600", 3600, id="§1.2.2 leading zeros"),
        pytest.param("2147483648", 2**31, id="§1.2.2 2^31 itself"),
        pytest.param("99999999999999999999", 2**31, id="§1.2.2 overflow is 2^31"),
        pytest.param("-1", None, id="§1.2.2 a sign is not a digit"),
        pytest.param("1.5", None, id="§1.2.2 no fractions"),
        pytest.param("", None, id="empty"),
        pytest.param("\u0663", None, id="a non-ASCII digit"),
    ],
)
def test_delta_seconds(text: str, expected: int | None) -> None:
    assert parse_delta_seconds(text) == expected


@given(st.text(max_size=60))
def test_cache_control_survives_anything(value: str) -> None:
    directives = cache_control([("Cache-Control", value)])
    assert all(name == name.lower() and name for name in directives)


def test_cache_control_quoted_commas_and_first_occurrence() -> None:
    directives = cache_control([("Cache-Control", 'private="a, b", MAX-AGE=5, max-age=9')])
    assert directives == {"private": "a, b", "max-age": "5"}
    assert split_list('a, "b, c", d') == ["a", '"b, c"', "d"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("60", 60, id="§5.1 plain"),
        pytest.param("60, 10", 60, id="§5.1 the first member of a list"),
        pytest.param("sixty", 0, id="§5.1 invalid is ignored"),
        pytest.param("-5", 0, id="§5.1 negative is invalid"),
    ],
)
def test_age_value(value: str, expected: int) -> None:
    assert age_value([("Age", value)]) == expected


@given(HEADERS, st.integers(100, 599))
def test_freshness_and_age_survive_anything(headers: list[tuple[str, str]], status: int) -> None:
    assert freshness_lifetime(status, headers, NOW) >= 0
    assert current_age(headers, NOW - 1, NOW, NOW + 5) >= 5


@given(
    HEADERS,
    HEADERS,
    st.integers(100, 599),
    st.sampled_from(["GET", "HEAD", "POST", "PUT", "OPTIONS"]),
)
def test_the_policy_survives_any_headers(
    stored: list[tuple[str, str]], fresh: list[tuple[str, str]], status: int, method: str
) -> None:
    """Whatever the headers, the decisions are made without an exception."""
    options = Options()
    request = Request(method, "http://h/x", tuple(fresh))
    entry = Entry(200, tuple(stored), b"x", stored_at=NOW - 100, request_time=NOW - 100)
    state = on_request(request, [entry], NOW, options)
    on_response(state, request, status, tuple(fresh), NOW, NOW, options)
