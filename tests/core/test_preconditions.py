"""evaluate(): RFC 9110 §13.2.2 step by step, RFC 6585 §3 (428), fail-safe and one-second rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ifmatch import Conditions, Decision, ETag, Outcome, Resource, evaluate, format_http_date

# A Last-Modified with sub-second precision, as a database timestamp has.
LM = datetime(2026, 1, 1, 12, 0, 0, 250_000, tzinfo=UTC)
NOW = LM + timedelta(hours=1)
LM_TEXT = format_http_date(LM)  # "Thu, 01 Jan 2026 12:00:00 GMT"
BEFORE = format_http_date(LM - timedelta(seconds=1))
AFTER = format_http_date(LM + timedelta(seconds=1))

CURRENT = Resource(ETag("v2"), LM)
WEAK = Resource(ETag("v2", weak=True), LM)
MISSING = Resource.missing()
NO_DATE = Resource(ETag("v2"))
NO_VALIDATORS = Resource()
TWICE = Resource(ETag("v2"), LM, changed_within_second=True)

GARBAGE = ["garbage", 'W/"unterminated', "\x00", "*, *", "\u20ac", "Sun, 06 Nov 1994"]


def decide(method: str, resource: Resource, *, require: bool = False, **fields: str) -> Decision:
    return evaluate(method, Conditions(**fields), resource, require_precondition=require, now=NOW)


def decide_row(
    method: str, resource: Resource, fields: dict[str, str], require: bool = False
) -> Decision:
    """decide() for table rows, whose fields come as a dict."""
    return decide(method, resource, require=require, **fields)


ORDER: list[object] = [
    # Step 1: If-Match (§13.1.1, strong comparison).
    pytest.param(
        "PUT", CURRENT, {"if_match": '"v2"'}, None, None, id="§13.1.1 If-Match matches -> proceed"
    ),
    pytest.param(
        "PUT", CURRENT, {"if_match": '"v1"'}, 412, "If-Match", id="§13.1.1 stale If-Match -> 412"
    ),
    pytest.param(
        "PUT",
        CURRENT,
        {"if_match": '"v1", "v2"'},
        None,
        None,
        id="§13.1.1 any listed tag may match",
    ),
    pytest.param(
        "PUT",
        CURRENT,
        {"if_match": 'W/"v2"'},
        412,
        "If-Match",
        id="§13.1.1 strong comparison: weak listed tag never matches",
    ),
    pytest.param(
        "PUT",
        WEAK,
        {"if_match": '"v2"'},
        412,
        "If-Match",
        id="§13.1.1 strong comparison: weak current tag never matches",
    ),
    pytest.param(
        "PUT",
        WEAK,
        {"if_match": 'W/"v2"'},
        412,
        "If-Match",
        id="§13.1.1 strong comparison: W/ vs W/ does not match",
    ),
    pytest.param(
        "PUT",
        CURRENT,
        {"if_match": "*"},
        None,
        None,
        id="§13.1.1 If-Match * true when the resource exists",
    ),
    pytest.param(
        "PUT",
        NO_VALIDATORS,
        {"if_match": "*"},
        None,
        None,
        id="§13.1.1 If-Match * true for an existing resource without ETag",
    ),
    pytest.param(
        "PUT",
        MISSING,
        {"if_match": "*"},
        412,
        "If-Match",
        id="§13.1.1 If-Match * false when there is no representation",
    ),
    pytest.param(
        "PUT",
        MISSING,
        {"if_match": '"v2"'},
        412,
        "If-Match",
        id="§13.1.1 If-Match tag on a missing resource -> 412",
    ),
    pytest.param(
        "PUT",
        NO_VALIDATORS,
        {"if_match": '"v2"'},
        412,
        "If-Match",
        id="§13.1.1 If-Match tag when the resource has no ETag -> 412",
    ),
    pytest.param(
        "GET",
        CURRENT,
        {"if_match": '"v1"'},
        412,
        "If-Match",
        id="§13.1.1 If-Match applies to GET too",
    ),
    pytest.param(
        "PUT",
        CURRENT,
        {"if_match": ""},
        412,
        "If-Match",
        id="§13.1.1 empty If-Match list matches nothing",
    ),
    # Step 1 beats step 2.
    pytest.param(
        "PUT",
        CURRENT,
        {"if_match": '"v2"', "if_unmodified_since": BEFORE},
        None,
        None,
        id="§13.2.2 If-Match present: If-Unmodified-Since is ignored",
    ),
    pytest.param(
        "PUT",
        CURRENT,
        {"if_match": '"v1"', "if_unmodified_since": AFTER},
        412,
        "If-Match",
        id="§13.2.2 If-Match decides even when IUS would pass",
    ),
    # Step 2: If-Unmodified-Since (§13.1.4).
    pytest.param(
        "PUT",
        CURRENT,
        {"if_unmodified_since": BEFORE},
        412,
        "If-Unmodified-Since",
        id="§13.1.4 modified after the date -> 412",
    ),
    pytest.param(
        "PUT",
        CURRENT,
        {"if_unmodified_since": LM_TEXT},
        None,
        None,
        id="§13.1.4 date equal to the Last-Modified second -> proceed",
    ),
    pytest.param(
        "PUT",
        CURRENT,
        {"if_unmodified_since": AFTER},
        None,
        None,
        id="§13.1.4 date after Last-Modified -> proceed",
    ),
    pytest.param(
        "PUT",
        NO_DATE,
        {"if_unmodified_since": BEFORE},
        None,
        None,
        id="§13.1.4 no modification date available: MAY ignore",
    ),
    pytest.param(
        "GET",
        CURRENT,
        {"if_unmodified_since": BEFORE},
        412,
        "If-Unmodified-Since",
        id="§13.1.4 If-Unmodified-Since applies to GET too",
    ),
    # Steps 1/2 beat step 3.
    pytest.param(
        "GET",
        CURRENT,
        {"if_match": '"v1"', "if_none_match": '"v2"'},
        412,
        "If-Match",
        id="§13.2.2 If-Match is evaluated before If-None-Match",
    ),
    pytest.param(
        "GET",
        CURRENT,
        {"if_unmodified_since": BEFORE, "if_none_match": '"v2"'},
        412,
        "If-Unmodified-Since",
        id="§13.2.2 IUS is evaluated before If-None-Match",
    ),
    pytest.param(
        "PUT",
        CURRENT,
        {"if_match": '"v2"', "if_none_match": '"v2"'},
        412,
        "If-None-Match",
        id="§13.2.2 If-Match true, then If-None-Match false -> 412",
    ),
    # Step 3: If-None-Match (§13.1.2, weak comparison).
    pytest.param(
        "GET",
        CURRENT,
        {"if_none_match": '"v2"'},
        304,
        "If-None-Match",
        id="§13.1.2 GET matching If-None-Match -> 304",
    ),
    pytest.param(
        "HEAD",
        CURRENT,
        {"if_none_match": '"v2"'},
        304,
        "If-None-Match",
        id="§13.1.2 HEAD matching If-None-Match -> 304",
    ),
    pytest.param(
        "GET",
        CURRENT,
        {"if_none_match": 'W/"v2"'},
        304,
        "If-None-Match",
        id="§13.1.2 weak comparison: W/ listed tag matches a strong one",
    ),
    pytest.param(
        "GET",
        WEAK,
        {"if_none_match": '"v2"'},
        304,
        "If-None-Match",
        id="§13.1.2 weak comparison: a weak current tag matches",
    ),
    pytest.param(
        "GET",
        CURRENT,
        {"if_none_match": '"v1", "v3"'},
        None,
        None,
        id="§13.1.2 no listed tag matches -> proceed (200)",
    ),
    pytest.param(
        "GET",
        CURRENT,
        {"if_none_match": "*"},
        304,
        "If-None-Match",
        id="§13.1.2 If-None-Match * on an existing resource, GET -> 304",
    ),
    pytest.param(
        "GET",
        MISSING,
        {"if_none_match": '"v2"'},
        None,
        None,
        id="§13.1.2 no representation: If-None-Match is true",
    ),
    pytest.param(
        "PUT",
        CURRENT,
        {"if_none_match": '"v2"'},
        412,
        "If-None-Match",
        id="§13.1.2 PUT matching If-None-Match -> 412, not 304",
    ),
    pytest.param(
        "POST",
        CURRENT,
        {"if_none_match": '"v2"'},
        412,
        "If-None-Match",
        id="§13.1.2 POST matching If-None-Match -> 412",
    ),
    pytest.param(
        "OPTIONS",
        CURRENT,
        {"if_none_match": '"v2"'},
        412,
        "If-None-Match",
        id="§13.2.2 304 only for GET/HEAD: a safe OPTIONS gets 412",
    ),
    pytest.param(
        "DELETE",
        CURRENT,
        {"if_none_match": "*"},
        412,
        "If-None-Match",
        id="§13.1.2 DELETE If-None-Match * on existing -> 412",
    ),
    pytest.param(
        "PUT",
        CURRENT,
        {"if_none_match": "*"},
        412,
        "If-None-Match",
        id="§13.1.2 PUT If-None-Match * on existing -> 412 (create-only)",
    ),
    pytest.param(
        "PUT",
        MISSING,
        {"if_none_match": "*"},
        None,
        None,
        id="§13.1.2 PUT If-None-Match * on missing -> create",
    ),
    # Step 3 beats step 4.
    pytest.param(
        "GET",
        CURRENT,
        {"if_none_match": '"v1"', "if_modified_since": AFTER},
        None,
        None,
        id="§13.1.3 If-None-Match present: If-Modified-Since is ignored (200)",
    ),
    pytest.param(
        "GET",
        CURRENT,
        {"if_none_match": '"v2"', "if_modified_since": BEFORE},
        304,
        "If-None-Match",
        id="§13.1.3 If-None-Match decides even when IMS says modified",
    ),
    # Step 4: If-Modified-Since (§13.1.3), GET/HEAD only.
    pytest.param(
        "GET",
        CURRENT,
        {"if_modified_since": LM_TEXT},
        304,
        "If-Modified-Since",
        id="§13.1.3 Last-Modified equal to the date -> 304",
    ),
    pytest.param(
        "GET",
        CURRENT,
        {"if_modified_since": AFTER},
        304,
        "If-Modified-Since",
        id="§13.1.3 Last-Modified earlier than the date -> 304",
    ),
    pytest.param(
        "GET",
        CURRENT,
        {"if_modified_since": BEFORE},
        None,
        None,
        id="§13.1.3 modified after the date -> 200",
    ),
    pytest.param(
        "HEAD",
        CURRENT,
        {"if_modified_since": LM_TEXT},
        304,
        "If-Modified-Since",
        id="§13.1.3 HEAD not modified -> 304",
    ),
    pytest.param(
        "POST",
        CURRENT,
        {"if_modified_since": LM_TEXT},
        None,
        None,
        id="§13.1.3 If-Modified-Since ignored for POST",
    ),
    pytest.param(
        "PUT",
        CURRENT,
        {"if_modified_since": LM_TEXT},
        None,
        None,
        id="§13.1.3 If-Modified-Since ignored for PUT",
    ),
    pytest.param(
        "OPTIONS",
        CURRENT,
        {"if_modified_since": LM_TEXT},
        None,
        None,
        id="§13.1.3 If-Modified-Since ignored for OPTIONS",
    ),
    pytest.param(
        "GET",
        NO_DATE,
        {"if_modified_since": LM_TEXT},
        None,
        None,
        id="§13.1.3 no modification date available -> ignored",
    ),
    pytest.param(
        "GET",
        MISSING,
        {"if_modified_since": LM_TEXT},
        None,
        None,
        id="§13.1.3 no representation -> ignored",
    ),
    pytest.param("GET", CURRENT, {}, None, None, id="§13.2.2 step 6: no preconditions"),
]


@pytest.mark.parametrize(("method", "resource", "fields", "status", "field"), ORDER)
def test_rfc_order(
    method: str, resource: Resource, fields: dict[str, str], status: int | None, field: str | None
) -> None:
    decision = decide_row(method, resource, fields)
    assert decision.status == status
    assert decision.field == field
    if status is not None:
        assert decision.reason


FAIL_SAFE: list[object] = [
    *[
        pytest.param(m, {"if_match": g}, 412, "If-Match", id=f"fail-safe If-Match {m} {g!r} -> 412")
        for m in ("PUT", "DELETE", "PATCH", "POST")
        for g in GARBAGE[:3]
    ],
    pytest.param(
        "GET",
        {"if_match": "garbage"},
        412,
        "If-Match",
        id="fail-safe unreadable If-Match on GET is false too",
    ),
    *[
        pytest.param(
            m,
            {"if_unmodified_since": g},
            412,
            "If-Unmodified-Since",
            id=f"fail-safe IUS {m} {g!r} -> 412 (deviation from §13.1.4's ignore)",
        )
        for m in ("PUT", "DELETE", "PATCH")
        for g in GARBAGE[:2]
    ],
    pytest.param(
        "PUT",
        {"if_unmodified_since": f"{LM_TEXT}, {LM_TEXT}"},
        412,
        "If-Unmodified-Since",
        id="fail-safe IUS list of dates on PUT -> 412",
    ),
    pytest.param(
        "GET",
        {"if_unmodified_since": "garbage"},
        None,
        None,
        id="§13.1.4 unreadable IUS on GET is ignored",
    ),
    *[
        pytest.param(
            m, {"if_none_match": g}, 412, "If-None-Match", id=f"fail-safe INM {m} {g!r} -> 412"
        )
        for m in ("PUT", "POST")
        for g in GARBAGE[:3]
    ],
    *[
        pytest.param(
            m, {"if_none_match": g}, None, None, id=f"fail-safe INM {m} {g!r} -> 200, never 304"
        )
        for m in ("GET", "HEAD")
        for g in GARBAGE
    ],
    pytest.param(
        "GET",
        {"if_none_match": "garbage", "if_modified_since": LM_TEXT},
        None,
        None,
        id="fail-safe unreadable INM still shadows IMS: no 304",
    ),
    *[
        pytest.param(
            "GET",
            {"if_modified_since": g},
            None,
            None,
            id=f"§13.1.3 unreadable IMS {g!r} ignored -> 200",
        )
        for g in GARBAGE
    ],
    pytest.param(
        "GET",
        {"if_modified_since": f"{LM_TEXT}, {LM_TEXT}"},
        None,
        None,
        id="§13.1.3 IMS that is a list of dates is ignored -> 200",
    ),
    pytest.param(
        "PUT",
        {"if_match": '"v2"', "if_unmodified_since": "garbage"},
        None,
        None,
        id="§13.1.4 If-Match present: even an unreadable IUS is ignored",
    ),
]


@pytest.mark.parametrize(("method", "fields", "status", "field"), FAIL_SAFE)
def test_fail_safe(
    method: str, fields: dict[str, str], status: int | None, field: str | None
) -> None:
    decision = decide_row(method, CURRENT, fields)
    assert decision.status == status
    assert decision.field == field


@pytest.mark.parametrize(
    ("method", "resource", "fields", "status"),
    [
        pytest.param(
            "PUT",
            TWICE,
            {"if_unmodified_since": LM_TEXT},
            412,
            id="one-second: IUS equal to a twice-changed LM second -> 412",
        ),
        pytest.param(
            "PUT",
            CURRENT,
            {"if_unmodified_since": LM_TEXT},
            None,
            id="one-second: IUS equal, changed once -> proceed",
        ),
        pytest.param(
            "PUT",
            TWICE,
            {"if_unmodified_since": AFTER},
            None,
            id="one-second: a later IUS still proves no change",
        ),
        pytest.param(
            "GET",
            TWICE,
            {"if_modified_since": LM_TEXT},
            None,
            id="one-second: IMS equal to a twice-changed LM second -> 200",
        ),
        pytest.param(
            "GET",
            CURRENT,
            {"if_modified_since": LM_TEXT},
            304,
            id="one-second: IMS equal, changed once -> 304",
        ),
        pytest.param(
            "GET",
            TWICE,
            {"if_modified_since": AFTER},
            304,
            id="one-second: a later IMS still proves no change",
        ),
        pytest.param(
            "GET", TWICE, {"if_none_match": '"v2"'}, 304, id="one-second: ETags are unaffected"
        ),
    ],
)
def test_one_second_problem(
    method: str, resource: Resource, fields: dict[str, str], status: int | None
) -> None:
    assert decide_row(method, resource, fields).status == status


WHOLE = Resource(ETag("v2"), datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC))  # LM on a whole second


@pytest.mark.parametrize(
    ("method", "fields", "status"),
    [
        pytest.param(
            "GET",
            {"if_modified_since": BEFORE},
            None,
            id="§13.1.3 whole-second LM exactly 1 s after IMS -> 200",
        ),
        pytest.param(
            "GET",
            {"if_modified_since": LM_TEXT},
            304,
            id="§13.1.3 whole-second LM equal to IMS -> 304",
        ),
        pytest.param(
            "PUT",
            {"if_unmodified_since": BEFORE},
            412,
            id="§13.1.4 whole-second LM exactly 1 s after IUS -> 412",
        ),
        pytest.param(
            "PUT",
            {"if_unmodified_since": LM_TEXT},
            None,
            id="§13.1.4 whole-second LM equal to IUS -> proceed",
        ),
    ],
)
def test_whole_second_boundaries(method: str, fields: dict[str, str], status: int | None) -> None:
    assert decide_row(method, WHOLE, fields).status == status


def test_if_range_date_one_second_off_whole_second_lm() -> None:
    ranged = Conditions(range="bytes=0-1", if_range=BEFORE)
    assert evaluate("GET", ranged, WHOLE, now=NOW).use_range is False
    exact = Conditions(range="bytes=0-1", if_range=LM_TEXT)
    assert evaluate("GET", exact, WHOLE, now=NOW).use_range is True


def test_sub_second_last_modified_compared_by_wire_second() -> None:
    # LM is 12:00:00.25; the client can only echo 12:00:00, which must count as "not modified".
    assert LM.microsecond
    assert decide("GET", CURRENT, if_modified_since=LM_TEXT).status == 304
    assert decide("PUT", CURRENT, if_unmodified_since=LM_TEXT).status is None


LATER = NOW  # "now" in decide(); LM is an hour older, so it is a strong validator.


@pytest.mark.parametrize(
    ("method", "resource", "fields", "now", "use_range"),
    [
        pytest.param(
            "GET",
            CURRENT,
            {"range": "bytes=0-1"},
            LATER,
            True,
            id="§13.2.2 step 5: Range without If-Range is honoured",
        ),
        pytest.param(
            "GET",
            CURRENT,
            {"range": "bytes=0-1", "if_range": '"v2"'},
            LATER,
            True,
            id="§13.1.5 If-Range strong tag matches -> 206",
        ),
        pytest.param(
            "GET",
            CURRENT,
            {"range": "bytes=0-1", "if_range": '"v1"'},
            LATER,
            False,
            id="§13.1.5 If-Range tag differs -> whole 200",
        ),
        pytest.param(
            "GET",
            CURRENT,
            {"range": "bytes=0-1", "if_range": 'W/"v2"'},
            LATER,
            False,
            id="§13.1.5 weak If-Range tag never matches",
        ),
        pytest.param(
            "GET",
            WEAK,
            {"range": "bytes=0-1", "if_range": '"v2"'},
            LATER,
            False,
            id="§13.1.5 a weak current tag never matches",
        ),
        pytest.param(
            "GET",
            WEAK,
            {"range": "bytes=0-1", "if_range": 'W/"v2"'},
            LATER,
            False,
            id="§13.1.5 W/ vs W/ never matches",
        ),
        pytest.param(
            "GET",
            CURRENT,
            {"range": "bytes=0-1", "if_range": LM_TEXT},
            LATER,
            True,
            id="§13.1.5 date equal to a strong Last-Modified -> 206",
        ),
        pytest.param(
            "GET",
            CURRENT,
            {"range": "bytes=0-1", "if_range": LM_TEXT},
            LM + timedelta(milliseconds=500),
            False,
            id="§8.8.2.2 LM less than 1 s before Date is weak -> 200",
        ),
        pytest.param(
            "GET",
            CURRENT,
            {"range": "bytes=0-1", "if_range": LM_TEXT},
            LM + timedelta(seconds=1),
            True,
            id="§8.8.2.2 LM exactly 1 s before Date is strong -> 206",
        ),
        pytest.param(
            "GET",
            CURRENT,
            {"range": "bytes=0-1", "if_range": LM_TEXT},
            LM - timedelta(seconds=5),
            False,
            id="§8.8.2.2 LM in the future of Date is not strong",
        ),
        pytest.param(
            "GET",
            CURRENT,
            {"range": "bytes=0-1", "if_range": LM_TEXT},
            datetime(2026, 1, 1, 13),
            True,
            id="§13.1.5 naive now is read as UTC",
        ),
        pytest.param(
            "GET",
            TWICE,
            {"range": "bytes=0-1", "if_range": LM_TEXT},
            LATER,
            False,
            id="§8.8.2.2 changed twice in its second: LM not strong -> 200",
        ),
        pytest.param(
            "GET",
            CURRENT,
            {"range": "bytes=0-1", "if_range": AFTER},
            LATER,
            False,
            id="§13.1.5 later date does not EXACTLY match -> 200",
        ),
        pytest.param(
            "GET",
            CURRENT,
            {"range": "bytes=0-1", "if_range": BEFORE},
            LATER,
            False,
            id="§13.1.5 earlier date -> 200",
        ),
        pytest.param(
            "GET",
            NO_DATE,
            {"range": "bytes=0-1", "if_range": LM_TEXT},
            LATER,
            False,
            id="§13.1.5 no Last-Modified -> date never matches",
        ),
        pytest.param(
            "GET",
            CURRENT,
            {"range": "bytes=0-1", "if_range": "garbage"},
            LATER,
            False,
            id="fail-safe unreadable If-Range -> whole 200",
        ),
        pytest.param(
            "GET",
            CURRENT,
            {"range": "bytes=0-1", "if_range": '"v2'},
            LATER,
            False,
            id="fail-safe broken If-Range tag -> whole 200",
        ),
        pytest.param(
            "GET",
            CURRENT,
            {"if_range": '"v2"'},
            LATER,
            False,
            id="§13.1.5 If-Range without Range is ignored",
        ),
        pytest.param(
            "HEAD", CURRENT, {"range": "bytes=0-1"}, LATER, False, id="§14.2 Range ignored for HEAD"
        ),
        pytest.param(
            "POST", CURRENT, {"range": "bytes=0-1"}, LATER, False, id="§14.2 Range ignored for POST"
        ),
        pytest.param(
            "PUT",
            CURRENT,
            {"range": "bytes=0-1", "if_range": '"v2"'},
            LATER,
            False,
            id="§14.2 Range ignored for PUT",
        ),
        pytest.param(
            "GET",
            MISSING,
            {"range": "bytes=0-1"},
            LATER,
            False,
            id="§14.2 no representation, no range",
        ),
    ],
)
def test_if_range(
    method: str, resource: Resource, fields: dict[str, str], now: datetime, use_range: bool
) -> None:
    decision = evaluate(method, Conditions(**fields), resource, now=now)
    assert decision.outcome is Outcome.PROCEED
    assert decision.use_range is use_range


def test_not_modified_wins_over_range() -> None:
    decision = decide("GET", CURRENT, if_none_match='"v2"', range="bytes=0-1", if_range='"v2"')
    assert decision.status == 304
    assert decision.use_range is False


@pytest.mark.parametrize(
    ("method", "resource", "fields", "require", "status"),
    [
        pytest.param("PUT", CURRENT, {}, True, 428, id="RFC 6585 §3 unconditional PUT -> 428"),
        pytest.param("DELETE", CURRENT, {}, True, 428, id="RFC 6585 §3 unconditional DELETE"),
        pytest.param("PATCH", CURRENT, {}, True, 428, id="RFC 6585 §3 unconditional PATCH"),
        pytest.param(
            "PUT",
            CURRENT,
            {"if_match": '"v2"'},
            True,
            None,
            id="RFC 6585 §3 If-Match satisfies the requirement",
        ),
        pytest.param(
            "PUT",
            CURRENT,
            {"if_match": "*"},
            True,
            None,
            id="RFC 6585 §3 If-Match * satisfies the requirement",
        ),
        pytest.param(
            "PUT",
            CURRENT,
            {"if_unmodified_since": LM_TEXT},
            True,
            None,
            id="RFC 6585 §3 If-Unmodified-Since satisfies the requirement",
        ),
        pytest.param(
            "PUT",
            NO_DATE,
            {"if_unmodified_since": LM_TEXT},
            True,
            428,
            id="RFC 6585 §3 IUS the server cannot evaluate does not guard -> 428",
        ),
        pytest.param(
            "PUT",
            CURRENT,
            {"if_none_match": '"v9"'},
            True,
            428,
            id="RFC 6585 §3 If-None-Match alone does not guard an update",
        ),
        pytest.param(
            "PUT",
            CURRENT,
            {"if_match": '"v1"'},
            True,
            412,
            id="RFC 6585 §3 a stale If-Match is 412, not 428",
        ),
        pytest.param("PUT", MISSING, {}, True, None, id="RFC 6585 §3 not for a create"),
        pytest.param(
            "PUT",
            MISSING,
            {"if_none_match": "*"},
            True,
            None,
            id="RFC 6585 §3 create-only PUT is fine",
        ),
        pytest.param("GET", CURRENT, {}, True, None, id="RFC 6585 §3 not for GET"),
        pytest.param("HEAD", CURRENT, {}, True, None, id="RFC 6585 §3 not for HEAD"),
        pytest.param("PUT", CURRENT, {}, False, None, id="RFC 6585 §3 only when asked for"),
    ],
)
def test_precondition_required(
    method: str, resource: Resource, fields: dict[str, str], require: bool, status: int | None
) -> None:
    decision = decide_row(method, resource, fields, require)
    assert decision.status == status
    if status == 428:
        assert decision.outcome is Outcome.PRECONDITION_REQUIRED
        assert "If-Match" in decision.reason


def test_decision_from_headers_end_to_end() -> None:
    headers = {"If-None-Match": '"v1", W/"v2"', "If-Modified-Since": BEFORE, "Accept": "*/*"}
    decision = evaluate("GET", Conditions.from_headers(headers), CURRENT)
    assert decision == Decision(Outcome.NOT_MODIFIED, "If-None-Match", decision.reason)


def test_naive_datetimes_never_raise() -> None:
    naive = Resource(ETag("v2"), datetime(2026, 1, 1, 12, 0, 0))
    fields = Conditions(if_modified_since=LM_TEXT, range="bytes=0-1", if_range=LM_TEXT)
    assert evaluate("GET", fields, naive, now=datetime(2026, 1, 1, 13)).status == 304
    ranged = Conditions(range="bytes=0-1", if_range=LM_TEXT)
    assert evaluate("GET", ranged, naive, now=datetime(2026, 1, 1, 13)).use_range is True
    assert evaluate("GET", ranged, CURRENT, now=datetime(2026, 1, 1, 13)).use_range is True


def test_method_names_are_upper_cased() -> None:
    # §9.1 methods are case-sensitive; frameworks normalise them, and treating "put" as PUT
    # errs toward guarding writes.
    assert decide("put", CURRENT, if_match='"v1"').status == 412
    assert decide("get", CURRENT, if_none_match='"v2"').status == 304


def test_outcome_statuses() -> None:
    assert [o.status for o in Outcome] == [None, 304, 412, 428]
    assert Decision(Outcome.PRECONDITION_FAILED).status == 412
