"""The Cache-Control parser (RFC 9111 §5.2): a table of field values, and properties."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ifmatch import HeaderParseError
from ifmatch.cachecontrol import format_cache_control, parse_cache_control


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("no-cache", (("no-cache", None),)),
        ("max-age=0, must-revalidate", (("max-age", "0"), ("must-revalidate", None))),
        ("Max-Age=60", (("max-age", "60"),)),  # §5.2: names are case-insensitive
        ('private="Set-Cookie, Authorization"', (("private", "Set-Cookie, Authorization"),)),
        ('no-cache="a\\"b"', (("no-cache", 'a"b'),)),
        (" , s-maxage=60 ,, ", (("s-maxage", "60"),)),  # RFC 9110 §5.6.1: empty elements
        ("max-stale", (("max-stale", None),)),  # §5.2.1.2: the argument is optional
        ("ext=token-value", (("ext", "token-value"),)),  # §5.2.3: extensions kept
        ("", ()),
    ],
)
def test_parse(value: str, expected: tuple[tuple[str, str | None], ...]) -> None:
    assert parse_cache_control(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "max-age=-1",  # §1.2.2: delta-seconds are digits
        "max-age",
        "s-maxage=1.5",
        "max-age=٣",  # a non-ASCII digit is not DIGIT
        "no cache",
        'private="unterminated',
        "=60",
        "max-age==1",
    ],
)
def test_parse_refuses(value: str) -> None:
    with pytest.raises(HeaderParseError) as error:
        parse_cache_control(value)
    assert error.value.field == "Cache-Control"


TOKEN = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz-0123456789!#$%&'*+.^_`|~"), min_size=1)
ARG = st.one_of(st.none(), st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E)))


@settings(max_examples=500)
@given(st.lists(st.tuples(TOKEN, ARG), max_size=6))
def test_format_then_parse_round_trips(directives: list[tuple[str, str | None]]) -> None:
    directives = [
        (name, arg)
        for name, arg in directives
        if name not in {"max-age", "s-maxage", "max-stale", "min-fresh"}
    ]
    assert parse_cache_control(format_cache_control(directives)) == tuple(directives)


@settings(max_examples=1000)
@given(st.text())
def test_any_text_parses_or_raises_header_parse_error(value: str) -> None:
    with contextlib.suppress(HeaderParseError):
        parse_cache_control(value)
