"""Conditions.from_headers: every header container adapters have (RFC 9110 §5.2, §5.3)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from ifmatch import Conditions, ETag, Resource, evaluate, plan_ranges
from ifmatch.conditions import DUPLICATE

IMS = "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"If-None-Match": '"a"', "If-Modified-Since": IMS}, id="dict of str"),
        pytest.param(
            [("if-none-match", '"a"'), ("IF-MODIFIED-SINCE", IMS)],
            id="§5.1 field names are case-insensitive",
        ),
        pytest.param(
            [(b"if-none-match", b'"a"'), (b"if-modified-since", IMS.encode())],
            id="ASGI bytes pairs",
        ),
        pytest.param(
            ((b"If-None-Match", '"a"'), ("If-Modified-Since", IMS.encode())),
            id="mixed str and bytes pairs",
        ),
        pytest.param(
            iter([("If-None-Match", '"a"'), ("If-Modified-Since", IMS)]),
            id="a one-shot iterator of pairs",
        ),
    ],
)
def test_containers(headers: Mapping[str, str] | list[tuple[str | bytes, str | bytes]]) -> None:
    conditions = Conditions.from_headers(headers)
    assert conditions == Conditions(if_none_match='"a"', if_modified_since=IMS)


def test_all_six_fields_and_nothing_else() -> None:
    conditions = Conditions.from_headers(
        {
            "If-Match": '"m"',
            "If-None-Match": '"n"',
            "If-Modified-Since": "ims",
            "If-Unmodified-Since": "ius",
            "If-Range": '"r"',
            "Range": "bytes=0-1",
            "Accept": "*/*",
            "ETag": '"not a request field"',
        }
    )
    assert conditions == Conditions('"m"', '"n"', "ims", "ius", '"r"', "bytes=0-1")
    assert conditions.any_present
    assert not Conditions(range="bytes=0-1", if_range='"r"').any_present
    assert Conditions.from_headers({}) == Conditions()


def test_repeated_list_fields_are_joined() -> None:
    # §5.3: a list field on several lines is the same as one comma-joined line.
    pairs = [("If-None-Match", '"a"'), ("If-None-Match", '"b,c"'), ("if-match", "*")]
    conditions = Conditions.from_headers(pairs)
    assert conditions.if_none_match == '"a", "b,c"'
    assert conditions.if_match == "*"
    resource = Resource(ETag("b,c"))
    assert evaluate("GET", conditions, resource).status == 304


@pytest.mark.parametrize(
    ("name", "value", "method", "status", "use_range"),
    [
        pytest.param(
            "If-Modified-Since",
            IMS,
            "GET",
            None,
            True,
            id="§5.3 repeated IMS is unreadable: ignored, no 304",
        ),
        pytest.param(
            "If-Unmodified-Since",
            IMS,
            "PUT",
            412,
            False,
            id="§5.3 repeated IUS is unreadable: fail-safe 412 on a write",
        ),
        pytest.param(
            "If-Range",
            '"v1"',
            "GET",
            None,
            False,
            id="§5.3 repeated If-Range is unreadable: whole 200",
        ),
    ],
)
def test_repeated_single_valued_fields_are_unreadable(
    name: str, value: str, method: str, status: int | None, use_range: bool
) -> None:
    pairs = [(name, value), (name.lower(), value), ("Range", "bytes=0-1")]
    conditions = Conditions.from_headers(pairs)
    assert getattr(conditions, name.lower().replace("-", "_")) == DUPLICATE
    resource = Resource(ETag("v1"), datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC))
    decision = evaluate(method, conditions, resource)
    assert decision.status == status
    assert decision.use_range is use_range


def test_repeated_range_is_unreadable_and_ignored() -> None:
    conditions = Conditions.from_headers([("Range", "bytes=0-1"), ("Range", "bytes=2-3")])
    assert conditions.range == DUPLICATE
    assert plan_ranges(conditions.range, 10).status == 200


def test_bytes_are_latin1_and_never_raise() -> None:
    raw = bytes(range(256))
    conditions = Conditions.from_headers([(b"If-Match", raw), (b"\xff\xfe", b"x")])
    assert conditions.if_match == raw.decode("latin-1")
    assert evaluate("PUT", conditions, Resource(ETag("a"))).status == 412


def test_obs_text_tag_from_bytes_matches() -> None:
    tag = ETag("caf\xe9")
    conditions = Conditions.from_headers([(b"if-none-match", '"caf\xe9"'.encode("latin-1"))])
    assert evaluate("GET", conditions, Resource(tag)).status == 304


def test_framework_header_containers() -> None:
    """The containers adapters hand over: multi-valued, case-insensitive, some bytes-backed."""
    from django.utils.datastructures import CaseInsensitiveMapping
    from starlette.datastructures import Headers as StarletteHeaders
    from werkzeug.datastructures import Headers as WerkzeugHeaders

    expected = Conditions(if_none_match='"a", "b"', if_modified_since=IMS)
    raw = [(b"if-none-match", b'"a"'), (b"if-none-match", b'"b"')]
    raw.append((b"if-modified-since", IMS.encode()))
    starlette = StarletteHeaders(raw=raw)
    assert Conditions.from_headers(starlette) == expected
    werkzeug = WerkzeugHeaders([("If-None-Match", '"a"'), ("If-None-Match", '"b"')])
    werkzeug.add("If-Modified-Since", IMS)
    assert Conditions.from_headers(werkzeug) == expected  # iterates as (name, value) pairs
    django = CaseInsensitiveMapping({"If-None-Match": '"a", "b"', "IF-MODIFIED-SINCE": IMS})
    assert Conditions.from_headers(django) == expected
