"""Hypothesis properties of the core: round trips, no foreign exceptions, total, fail-safe."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ifmatch import (
    Conditions,
    Decision,
    ETag,
    ETagList,
    HeaderParseError,
    Outcome,
    RangeSpec,
    Resource,
    evaluate,
    format_http_date,
    not_modified_headers,
    parse_http_date,
    parse_range,
    plan_ranges,
    wire_seconds,
)

# --- strategies -----------------------------------------------------------------------------

ETAGC = st.characters(
    codec="latin-1", exclude_characters='"', min_codepoint=0x21, exclude_categories=["Cc"]
).filter(lambda char: char != "\x7f" and (char <= "\x7e" or char >= "\x80"))
opaques = st.text(ETAGC, max_size=30)
etags = st.builds(ETag, opaques, st.booleans())
etag_lists = st.one_of(
    st.just(ETagList(any=True)), st.lists(etags, max_size=6).map(lambda t: ETagList(tuple(t)))
)


def _hundred_kb(seed: str) -> str:
    return (seed * (100_000 // max(len(seed), 1) + 1))[:100_000]


#: Arbitrary header text: any unicode, latin-1 with control characters, and 100 kB values.
arbitrary = st.one_of(
    st.text(),
    st.text(st.characters(codec="latin-1")),
    st.text(st.sampled_from('"W/,* \t-=0123456789bytes\x00\r\n\x7f\xff\u20ac'), max_size=60),
    st.text(min_size=1, max_size=12).map(_hundred_kb),
)
moments = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
).map(lambda moment: moment.replace(tzinfo=UTC))
recent = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1))
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "get", "PROPFIND"]
methods = st.one_of(st.sampled_from(METHODS), st.text(max_size=8))
UNSAFE = ["POST", "PUT", "PATCH", "DELETE"]


#: Validators the strategies share, so that matches and equal seconds are frequent.
BASE = datetime(2026, 1, 1, 12, tzinfo=UTC)
NEAR = [BASE + timedelta(milliseconds=ms) for ms in (-1000, -1, 0, 1, 500, 999, 1000, 1500)]
NEAR_TEXT = [format_http_date(moment) for moment in NEAR]
NEAR_TAGS = ['"v1"', 'W/"v1"', '"v2"', ' "v1" ', '"v2", "v1"', 'W/"v2",W/"v1"', "*", ""]
plausible_field = st.one_of(
    st.none(),
    st.sampled_from(NEAR_TAGS + NEAR_TEXT + ["bytes=0-1", "bytes=-5,0-0"]),
    etag_lists.map(str),
    etags.map(str),
    recent.map(format_http_date),
    arbitrary,
)


conditions = st.builds(
    Conditions,
    if_match=plausible_field,
    if_none_match=plausible_field,
    if_modified_since=plausible_field,
    if_unmodified_since=plausible_field,
    if_range=plausible_field,
    range=plausible_field,
)
resources = st.one_of(
    st.just(Resource.missing()),
    st.builds(
        Resource,
        etag=st.one_of(
            st.none(), st.sampled_from([ETag("v1"), ETag("v1", weak=True), ETag("v2")]), etags
        ),
        last_modified=st.one_of(
            st.none(),
            st.sampled_from(NEAR),
            st.sampled_from(NEAR).map(lambda m: m.replace(tzinfo=None)),
            recent,
            recent.map(lambda m: m.replace(tzinfo=UTC)),
        ),
        exists=st.booleans(),
        changed_within_second=st.booleans(),
    ),
)
nows = st.one_of(st.none(), recent, recent.map(lambda m: m.replace(tzinfo=UTC)))
near_nows = st.one_of(st.sampled_from(NEAR), st.sampled_from(NEAR).map(lambda m: m + timedelta(1)))


def _unparseable_list(value: str) -> bool:
    try:
        ETagList.parse(value)
    except HeaderParseError:
        return True
    return False


def _unparseable_date(value: str) -> bool:
    try:
        parse_http_date(value)
    except HeaderParseError:
        return True
    return False


# --- round trips --------------------------------------------------------------------------


@given(etags)
def test_etag_round_trip(tag: ETag) -> None:
    assert ETag.parse(str(tag)) == tag


@given(etag_lists, st.lists(st.sampled_from([",", ", ", " ,", ",,", "\t,\t", " , , "]), min_size=6))
def test_etag_list_round_trip(tags: ETagList, separators: list[str]) -> None:
    assert ETagList.parse(str(tags)) == tags
    if not tags.any:  # §5.6.1: any OWS and empty elements between the tags
        text = "".join(f"{tag!s}{separators[i]}" for i, tag in enumerate(tags.tags))
        assert ETagList.parse(separators[-1] + text) == tags


@given(moments)
def test_imf_fixdate_round_trip(moment: datetime) -> None:
    text = format_http_date(moment)
    assert len(text) == 29
    assert parse_http_date(text) == wire_seconds(moment)


@given(moments.filter(lambda m: 100 <= m.year <= 9900), st.integers(-49, 49))
def test_obsolete_formats_round_trip(moment: datetime, years_ahead: int) -> None:
    moment = moment.replace(microsecond=0)
    rfc850 = (
        moment.strftime("%A, %d-%b-")
        + f"{moment.year % 100:02d}"
        + moment.strftime(" %H:%M:%S GMT")
    )
    asctime = f"{moment:%a %b} {moment.day:2d} {moment:%H:%M:%S} {moment.year:04d}"
    # Seen from a "now" less than 50 years before or after the date, the two-digit year is exact.
    now = moment.replace(day=1, month=1) - timedelta(days=365 * years_ahead)
    assert parse_http_date(rfc850, now=now) == moment
    assert parse_http_date(asctime) == moment


range_specs = st.lists(
    st.one_of(
        st.tuples(st.integers(0, 10**12), st.integers(0, 10**6)).map(
            lambda pair: RangeSpec(pair[0], pair[0] + pair[1])
        ),
        st.integers(0, 10**12).map(lambda first: RangeSpec(first, None)),
        st.integers(0, 10**12).map(lambda suffix: RangeSpec(None, suffix)),
    ),
    min_size=1,
    max_size=20,
)


def _format_spec(spec: RangeSpec) -> str:
    first = "" if spec.first is None else str(spec.first)
    last = "" if spec.last is None else str(spec.last)
    return f"{first}-{last}"


@given(range_specs, st.sampled_from(["bytes", "Bytes", "BYTES"]))
def test_range_round_trip(specs: list[RangeSpec], unit: str) -> None:
    value = f"{unit}=" + ", ".join(_format_spec(spec) for spec in specs)
    assert parse_range(value) == tuple(specs)


HEADER_NAMES = {
    "if_match": "If-Match",
    "if_none_match": "If-None-Match",
    "if_modified_since": "If-Modified-Since",
    "if_unmodified_since": "If-Unmodified-Since",
    "if_range": "If-Range",
    "range": "Range",
}
latin1 = st.one_of(st.none(), st.text(st.characters(codec="latin-1"), max_size=40))


@given(st.builds(Conditions, latin1, latin1, latin1, latin1, latin1, latin1), st.booleans())
def test_conditions_round_trip(original: Conditions, as_bytes: bool) -> None:
    pairs = [
        (HEADER_NAMES[attribute], getattr(original, attribute))
        for attribute in HEADER_NAMES
        if getattr(original, attribute) is not None
    ]
    if as_bytes:
        encoded = [(n.lower().encode(), v.encode("latin-1")) for n, v in pairs]
        assert Conditions.from_headers(encoded) == original
    else:
        assert Conditions.from_headers(dict(pairs)) == original


# --- only HeaderParseError, on anything -----------------------------------------------------


@given(arbitrary)
def test_parsers_raise_only_header_parse_error(text: str) -> None:
    for parse in (ETag.parse, ETagList.parse, parse_http_date, parse_range):
        with contextlib.suppress(HeaderParseError):
            parse(text)


@given(st.lists(st.tuples(st.one_of(arbitrary, st.binary()), st.one_of(arbitrary, st.binary()))))
def test_from_headers_never_raises(pairs: list[tuple[str | bytes, str | bytes]]) -> None:
    Conditions.from_headers(pairs)


@pytest.mark.parametrize(
    "seed",
    ['"a",', 'W/"', '"', ",", "W/", "*", "0-", "-1,", "\x00", "\u20ac", 'W/"a" ', "Sun, "],
)
def test_100kb_values(seed: str) -> None:
    value = _hundred_kb(seed)
    for parse in (ETag.parse, ETagList.parse, parse_http_date, parse_range):
        with contextlib.suppress(HeaderParseError):
            parse(value)
    headers = {name: value for name in HEADER_NAMES.values()}
    for method in ("GET", "PUT"):
        assert isinstance(evaluate(method, Conditions.from_headers(headers), Resource()), Decision)


# --- evaluation is total and fail-safe ------------------------------------------------------


@given(methods, conditions, resources, st.booleans(), nows)
def test_evaluate_always_decides(
    method: str, fields: Conditions, resource: Resource, require: bool, now: datetime | None
) -> None:
    decision = evaluate(method, fields, resource, require_precondition=require, now=now)
    assert isinstance(decision, Decision)
    assert decision.outcome in Outcome
    if decision.outcome is Outcome.NOT_MODIFIED:
        assert method.upper() in ("GET", "HEAD")
    if decision.use_range:
        assert decision.outcome is Outcome.PROCEED
        assert method.upper() == "GET"
        assert fields.range is not None
    if decision.outcome is Outcome.PRECONDITION_REQUIRED:
        assert require
        assert resource.exists


@given(st.sampled_from(UNSAFE), arbitrary, conditions, resources, st.booleans())
def test_unreadable_if_match_never_lets_a_write_through(
    method: str, if_match: str, fields: Conditions, resource: Resource, require: bool
) -> None:
    assume(_unparseable_list(if_match))
    fields = Conditions(if_match, *_rest(fields, "if_match"))
    decision = evaluate(method, fields, resource, require_precondition=require)
    assert decision.outcome is not Outcome.PROCEED


@given(st.sampled_from(UNSAFE), arbitrary, conditions, resources)
def test_unreadable_if_unmodified_since_never_lets_a_write_through(
    method: str, value: str, fields: Conditions, resource: Resource
) -> None:
    assume(_unparseable_date(value))
    fields = Conditions(
        None, fields.if_none_match, fields.if_modified_since, value, fields.if_range, fields.range
    )
    assert evaluate(method, fields, resource).outcome is not Outcome.PROCEED


@given(st.sampled_from(UNSAFE), arbitrary, conditions, resources)
def test_unreadable_if_none_match_never_lets_a_write_through(
    method: str, value: str, fields: Conditions, resource: Resource
) -> None:
    assume(_unparseable_list(value))
    fields = Conditions(fields.if_match, value, *_rest(fields, "if_none_match")[1:])
    assert evaluate(method, fields, resource).outcome is not Outcome.PROCEED


@given(methods, arbitrary, conditions, resources)
def test_unreadable_if_none_match_never_gives_304(
    method: str, value: str, fields: Conditions, resource: Resource
) -> None:
    assume(_unparseable_list(value))
    fields = Conditions(fields.if_match, value, *_rest(fields, "if_none_match")[1:])
    assert evaluate(method, fields, resource).outcome is not Outcome.NOT_MODIFIED


@given(methods, arbitrary, conditions, resources)
def test_unreadable_if_modified_since_never_gives_304(
    method: str, value: str, fields: Conditions, resource: Resource
) -> None:
    assume(_unparseable_date(value))
    fields = Conditions(
        fields.if_match, None, value, fields.if_unmodified_since, fields.if_range, fields.range
    )
    assert evaluate(method, fields, resource).outcome is not Outcome.NOT_MODIFIED


def _rest(fields: Conditions, after: str) -> tuple[str | None, ...]:
    names = list(HEADER_NAMES)
    return tuple(getattr(fields, name) for name in names[names.index(after) + 1 :])


# --- ranges never amplify -----------------------------------------------------------------


range_values = st.one_of(
    arbitrary,
    range_specs.map(lambda specs: "bytes=" + ",".join(_format_spec(s) for s in specs)),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 50)), min_size=1, max_size=120).map(
        lambda pairs: "bytes=" + ",".join(f"{a}-{a + n}" for a, n in pairs)
    ),
)


@given(range_values, st.integers(0, 10**7))
def test_ranges_never_amplify(value: str, length: int) -> None:
    plan = plan_ranges(value, length, "application/octet-stream")
    assert plan.status in (200, 206, 416)
    assert plan.content_length <= length
    headers = dict(plan.headers)
    if plan.status == 416:
        assert headers == {"Content-Range": f"bytes */{length}"}
    else:
        assert headers["Content-Length"] == str(plan.content_length)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["ETag", "Content-Type", "Vary", "Last-Modified", "Date", "X-A", "content-length"]
            ),
            st.text(),
        )
    )
)
def test_not_modified_headers_subset(pairs: list[tuple[str, str]]) -> None:
    kept = not_modified_headers(pairs)
    assert all(pair in pairs for pair in kept)
    assert not any(name.lower() in ("content-type", "content-length") for name, _ in kept)


# --- the optimised evaluate() agrees with a plain reading of §13.2.2 ------------------------


def _reference(
    method: str, fields: Conditions, resource: Resource, require: bool, now: datetime
) -> tuple[int | None, str | None, bool]:
    """§13.2.2 written the slow, obvious way: parse everything into values, then compare."""
    method = method.upper()
    safe = method in ("GET", "HEAD", "OPTIONS", "TRACE")
    get_or_head = method in ("GET", "HEAD")

    def tags(value: str) -> ETagList | None:
        try:
            return ETagList.parse(value)
        except HeaderParseError:
            return None

    def date(value: str) -> datetime | None:
        try:
            return parse_http_date(value)
        except HeaderParseError:
            return None

    modified = None if resource.last_modified is None else wire_seconds(resource.last_modified)
    guarded = False
    if fields.if_match is not None:  # step 1
        listed = tags(fields.if_match)
        if not (
            listed is not None
            and resource.exists
            and (listed.any or listed.strong_contains(resource.etag))
        ):
            return 412, "If-Match", False
        guarded = True
    elif fields.if_unmodified_since is not None:  # step 2
        since = date(fields.if_unmodified_since)
        if since is None and not safe:
            return 412, "If-Unmodified-Since", False
        if since is not None and resource.exists and modified is not None:
            if modified > since or (modified == since and resource.changed_within_second):
                return 412, "If-Unmodified-Since", False
            guarded = True
    if fields.if_none_match is not None:  # step 3
        listed = tags(fields.if_none_match)
        if listed is None:
            matched = not safe
        else:
            matched = resource.exists and (listed.any or listed.weak_contains(resource.etag))
        if matched:
            return (304 if get_or_head else 412), "If-None-Match", False
    elif get_or_head and fields.if_modified_since is not None:  # step 4
        since = date(fields.if_modified_since)
        if since is not None and resource.exists and modified is not None:
            fresh = modified == since and not resource.changed_within_second
            if modified < since or fresh:
                return 304, "If-Modified-Since", False
    if require and not safe and resource.exists and not guarded:
        return 428, None, False
    if method != "GET" or fields.range is None or not resource.exists:  # step 5
        return None, None, False
    if fields.if_range is None:
        return None, None, True
    text = fields.if_range.strip(" \t")
    if text.startswith(('"', 'W/"')):
        try:
            validator = ETag.parse(text)
        except HeaderParseError:
            return None, None, False
        current = resource.etag
        return None, None, current is not None and validator.strong_match(current)
    since = date(text)
    if since is None or modified is None or resource.changed_within_second:
        return None, None, False
    assert resource.last_modified is not None
    last = resource.last_modified
    last = last if last.tzinfo else last.replace(tzinfo=UTC)
    moment = now if now.tzinfo else now.replace(tzinfo=UTC)
    return None, None, moment - last >= timedelta(seconds=1) and modified == since


focused_field = st.one_of(
    st.none(),
    st.sampled_from(NEAR_TAGS),
    st.sampled_from(NEAR_TEXT),
    st.sampled_from(["garbage", 'W/"v1', "bytes=0-1", "Sunday, 01-Jan-26 12:00:00 GMT"]),
)
focused_conditions = st.builds(
    Conditions, *[st.one_of(st.none(), focused_field)] * 4, focused_field, focused_field
)
focused_resources = st.builds(
    Resource,
    etag=st.sampled_from([None, ETag("v1"), ETag("v1", weak=True), ETag("v2")]),
    last_modified=st.one_of(st.none(), st.sampled_from(NEAR)),
    exists=st.sampled_from([True, True, True, False]),
    changed_within_second=st.booleans(),
)


@settings(max_examples=1000)
@given(
    st.sampled_from(METHODS[:7]), focused_conditions, focused_resources, st.booleans(), near_nows
)
def test_evaluate_matches_reference_near_validators(
    method: str, fields: Conditions, resource: Resource, require: bool, now: datetime
) -> None:
    decision = evaluate(method, fields, resource, require_precondition=require, now=now)
    expected = _reference(method, fields, resource, require, now)
    assert (decision.status, decision.field, decision.use_range) == expected


@given(methods, conditions, resources, st.booleans(), st.one_of(near_nows, recent))
def test_evaluate_matches_reference(
    method: str, fields: Conditions, resource: Resource, require: bool, now: datetime
) -> None:
    decision = evaluate(method, fields, resource, require_precondition=require, now=now)
    expected = _reference(method, fields, resource, require, now)
    assert (decision.status, decision.field, decision.use_range) == expected
