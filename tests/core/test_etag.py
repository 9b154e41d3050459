"""Entity tags: formatting, parsing and comparison (RFC 9110 §8.8.3, §13.1.1, §13.1.2)."""

from __future__ import annotations

import pytest

from ifmatch import ETag, ETagList, HeaderParseError


@pytest.mark.parametrize(
    ("left", "right", "strong", "weak"),
    [
        pytest.param('W/"1"', 'W/"1"', False, True, id="§8.8.3.2 W/1 vs W/1: strong no, weak yes"),
        pytest.param('W/"1"', 'W/"2"', False, False, id="§8.8.3.2 W/1 vs W/2: no match at all"),
        pytest.param('W/"1"', '"1"', False, True, id="§8.8.3.2 W/1 vs 1: strong no, weak yes"),
        pytest.param('"1"', '"1"', True, True, id="§8.8.3.2 1 vs 1: both match"),
    ],
)
def test_comparison_table(left: str, right: str, strong: bool, weak: bool) -> None:
    a, b = ETag.parse(left), ETag.parse(right)
    assert a.strong_match(b) is strong
    assert b.strong_match(a) is strong
    assert a.weak_match(b) is weak
    assert b.weak_match(a) is weak


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('"xyzzy"', ETag("xyzzy"), id="§8.8.3 strong tag"),
        pytest.param('W/"xyzzy"', ETag("xyzzy", weak=True), id="§8.8.3 weak tag"),
        pytest.param('""', ETag(""), id="§8.8.3 empty opaque-tag is allowed (*etagc)"),
        pytest.param(' \t"a" ', ETag("a"), id="§5.6.1 OWS around the value is ignored"),
        pytest.param('"a,b"', ETag("a,b"), id="§8.8.3 comma is an etagc"),
        pytest.param('"W/x"', ETag("W/x"), id="§8.8.3 W/ inside the quotes is opaque"),
        pytest.param('"\xe9t\xe9"', ETag("\xe9t\xe9"), id="§8.8.3 obs-text (latin-1) allowed"),
        pytest.param('"!#~"', ETag("!#~"), id="§8.8.3 %x21 / %x23-7E edges"),
    ],
)
def test_parse_valid(text: str, expected: ETag) -> None:
    assert ETag.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("abc", id="§8.8.3 unquoted tag"),
        pytest.param('"a"b"', id="§8.8.3 DQUOTE inside the tag"),
        pytest.param('"a\x01"', id="§8.8.3 control character"),
        pytest.param('"a\x7f"', id="§8.8.3 DEL is not an etagc"),
        pytest.param('"a b"', id="§8.8.3 space is not an etagc"),
        pytest.param('"a\tb"', id="§8.8.3 tab is not an etagc"),
        pytest.param("W/abc", id="§8.8.3 W/ without quotes"),
        pytest.param('w/"abc"', id="§8.8.3 weak = %s W/ is case-sensitive"),
        pytest.param('W/ "abc"', id="§8.8.3 no space after W/"),
        pytest.param('"abc', id="§8.8.3 missing closing quote"),
        pytest.param('"a" "b"', id="§8.8.3 two tags are not one entity-tag"),
        pytest.param("*", id="§13.1.1 * is a list value, not an entity-tag"),
        pytest.param('"\u20ac"', id="§8.8.3 non-latin-1 character"),
        pytest.param("", id="empty value"),
    ],
)
def test_parse_invalid(text: str) -> None:
    with pytest.raises(HeaderParseError):
        ETag.parse(text)


def test_constructor_validates_opaque() -> None:
    with pytest.raises(HeaderParseError):
        ETag('a"b')
    with pytest.raises(HeaderParseError):
        ETag("a\nb")


@pytest.mark.parametrize(
    ("tag", "text"),
    [
        pytest.param(ETag("v7"), '"v7"', id="§8.8.3 strong formats as DQUOTE tag DQUOTE"),
        pytest.param(ETag("v7", weak=True), 'W/"v7"', id="§8.8.3 weak formats with W/"),
        pytest.param(ETag(""), '""', id="§8.8.3 empty tag"),
    ],
)
def test_format(tag: ETag, text: str) -> None:
    assert str(tag) == text
    assert ETag.parse(text) == tag


def test_as_weak() -> None:
    assert ETag("a").as_weak() == ETag("a", weak=True)
    weak = ETag("a", weak=True)
    assert weak.as_weak() is weak


@pytest.mark.parametrize(
    ("text", "tags", "any_"),
    [
        pytest.param("*", (), True, id="§13.1.1 *"),
        pytest.param(" * ", (), True, id="§13.1.1 * with OWS"),
        pytest.param('"a"', (ETag("a"),), False, id="§13.1.1 one tag"),
        pytest.param(
            '"a", W/"b"', (ETag("a"), ETag("b", weak=True)), False, id="§13.1.1 strong and W/"
        ),
        pytest.param('"a,b"', (ETag("a,b"),), False, id='§8.8.3 "a,b" is ONE tag'),
        pytest.param(
            '"a,b", "c"', (ETag("a,b"), ETag("c")), False, id="§8.8.3 quoted comma, list comma"
        ),
        pytest.param('"a",,"b"', (ETag("a"), ETag("b")), False, id="§5.6.1 empty list elements ,,"),
        pytest.param(
            ' , "a" ,\t, "b" , ', (ETag("a"), ETag("b")), False, id="§5.6.1 OWS and empty elements"
        ),
        pytest.param('"a"\t,\t"b"', (ETag("a"), ETag("b")), False, id="§5.6.1 tab is OWS"),
        pytest.param('"a","b"', (ETag("a"), ETag("b")), False, id="§5.6.1 no OWS needed"),
        pytest.param("", (), False, id="§5.6.1 empty list"),
        pytest.param(" ,, ", (), False, id="§5.6.1 only empty elements"),
        pytest.param('"*"', (ETag("*"),), False, id='§8.8.3 "*" quoted is a tag, not any'),
    ],
)
def test_list_parse(text: str, tags: tuple[ETag, ...], any_: bool) -> None:
    parsed = ETagList.parse(text)
    assert parsed.tags == tags
    assert parsed.any is any_


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("abc", id="§13.1.1 unquoted tag in a list"),
        pytest.param('"a" "b"', id="§5.6.1 elements need a comma"),
        pytest.param('"a"b', id="§5.6.1 garbage after a tag"),
        pytest.param('*, "a"', id="§13.1.1 * cannot be combined with tags"),
        pytest.param('"a", *', id="§13.1.1 * after a tag"),
        pytest.param("**", id="§13.1.1 ** is not *"),
        pytest.param('"a', id="§8.8.3 unterminated tag"),
        pytest.param('w/"a"', id="§8.8.3 lowercase w/"),
        pytest.param('W/a, "b"', id="§8.8.3 W/ without quotes in a list"),
        pytest.param('"a\x00"', id="§8.8.3 NUL in a tag"),
        pytest.param("\x00", id="NUL instead of a tag"),
        pytest.param('"a";q=1', id="no parameters on entity-tags"),
    ],
)
def test_list_parse_garbage(text: str) -> None:
    with pytest.raises(HeaderParseError) as caught:
        ETagList.parse(text, field="If-None-Match")
    assert caught.value.field == "If-None-Match"


def test_list_format_round_trip() -> None:
    tags = ETagList((ETag("a,b"), ETag("c", weak=True), ETag("")))
    assert str(tags) == '"a,b", W/"c", ""'
    assert ETagList.parse(str(tags)) == tags
    assert str(ETagList(any=True)) == "*"
    assert ETagList.parse("*") == ETagList(any=True)


@pytest.mark.parametrize(
    ("header", "current", "strong", "weak"),
    [
        pytest.param('"a"', ETag("a"), True, True, id="§13.1.1 same strong tag"),
        pytest.param('W/"a"', ETag("a"), False, True, id="§13.1.2 weak tag in list, weak compare"),
        pytest.param('"a"', ETag("a", weak=True), False, True, id="§13.1.1 current tag is weak"),
        pytest.param('"x", "a"', ETag("a"), True, True, id="§13.1.1 any listed tag may match"),
        pytest.param('"x"', ETag("a"), False, False, id="§13.1.1 no listed tag matches"),
        pytest.param("*", ETag("a"), True, True, id="§13.1.1 * matches a current tag"),
        pytest.param("*", None, False, False, id="contains(None) is false"),
    ],
)
def test_list_contains(header: str, current: ETag | None, strong: bool, weak: bool) -> None:
    tags = ETagList.parse(header)
    assert tags.strong_contains(current) is strong
    assert tags.weak_contains(current) is weak
