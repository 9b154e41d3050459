"""The conformance table: HTTP-level cases every integration must pass alike.

Each row is data: a request (method, path, headers with placeholders) and
what the response must show.  Placeholders are filled from an unconditional
GET of the same path made just before: ``{etag}`` its ETag, ``{weak}`` the
weak form and ``{strong}`` the strong form of that tag, ``{lm}`` its
Last-Modified; ``{old}`` is a date long before any Last-Modified here.
The ids cite the RFC section each row checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

OLD = "Sat, 01 Jan 2000 00:00:00 GMT"
INVALID_DATE = "yesterday at noon"


@dataclass(frozen=True)
class Case:
    """One request and what its response must show."""

    method: str
    path: str
    headers: dict[str, str]
    status: int
    same_as_get: tuple[str, ...] = ()  # header values equal to the plain GET's
    present: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    empty_body: bool = False
    full_body: bool = False  # the body equals the plain GET's
    problem: str | None = None  # the "precondition" member of a problem body ("" = none named)
    new_etag: bool = False  # the ETag differs from the plain GET's
    body: bytes = field(default=b"")


PUT_BODY = b'{"title": "second"}'
_304_KEEPS = ("etag", "vary", "cache-control")

CASES = [
    # --- reads: If-None-Match (§13.1.2, weak comparison) -----------------------------------
    pytest.param(
        Case(
            "GET",
            "/doc",
            {"If-None-Match": "{etag}"},
            304,
            same_as_get=_304_KEEPS,
            absent=("content-type", "content-length"),
            empty_body=True,
        ),
        id="§13.1.2 generated ETag sent back -> 304, §15.4.5 keeps ETag/Vary/CC",
    ),
    pytest.param(
        Case("GET", "/doc", {"If-None-Match": "{strong}"}, 304, empty_body=True),
        id="§8.8.3.2 weak comparison: strong form of a weak tag -> 304",
    ),
    pytest.param(
        Case(
            "GET",
            "/versioned",
            {"If-None-Match": "{etag}"},
            304,
            same_as_get=("etag",),
            absent=("content-type", "content-length"),
            empty_body=True,
        ),
        id="§13.1.2 app's strong ETag sent back -> 304",
    ),
    pytest.param(
        Case("GET", "/versioned", {"If-None-Match": "{weak}"}, 304, empty_body=True),
        id="§13.1.2 weak form of a strong ETag -> 304",
    ),
    pytest.param(
        Case("GET", "/doc", {"If-None-Match": '"nope", W/"other", {etag}'}, 304, empty_body=True),
        id="§13.1.2 tag found in a list -> 304",
    ),
    pytest.param(
        Case("GET", "/doc", {"If-None-Match": "*"}, 304, empty_body=True),
        id="§13.1.2 If-None-Match * on an existing representation -> 304",
    ),
    pytest.param(
        Case(
            "GET", "/doc", {"If-None-Match": '"nope"'}, 200, same_as_get=("etag",), full_body=True
        ),
        id="§13.1.2 non-matching tag -> 200 with the full body",
    ),
    pytest.param(
        Case("GET", "/doc", {"If-None-Match": "not a tag"}, 200, full_body=True),
        id="§13.1.2 unparseable If-None-Match on GET -> 200, never a 304",
    ),
    pytest.param(
        Case("HEAD", "/doc", {"If-None-Match": "{etag}"}, 304, empty_body=True),
        id="§13.1.2 HEAD with the current tag -> 304",
    ),
    # --- reads: If-Modified-Since (§13.1.3) ------------------------------------------------
    pytest.param(
        Case("GET", "/versioned", {"If-Modified-Since": "{lm}"}, 304, empty_body=True),
        id="§13.1.3 If-Modified-Since equal to Last-Modified -> 304",
    ),
    pytest.param(
        Case("GET", "/versioned", {"If-Modified-Since": OLD}, 200, full_body=True),
        id="§13.1.3 modified since an older date -> 200",
    ),
    pytest.param(
        Case("GET", "/versioned", {"If-Modified-Since": INVALID_DATE}, 200, full_body=True),
        id="§13.1.3 invalid date is ignored -> 200",
    ),
    pytest.param(
        Case(
            "GET",
            "/versioned",
            {"If-None-Match": '"nope"', "If-Modified-Since": "{lm}"},
            200,
            full_body=True,
        ),
        id="§13.2.2 If-None-Match beats If-Modified-Since -> 200",
    ),
    pytest.param(
        Case(
            "GET",
            "/versioned",
            {"If-None-Match": "{etag}", "If-Modified-Since": OLD},
            304,
            empty_body=True,
        ),
        id="§13.2.2 If-None-Match true wins over an old If-Modified-Since -> 304",
    ),
    # --- reads: validators (§8.8, §9.3.2) ---------------------------------------------------
    pytest.param(
        Case("GET", "/doc", {}, 200, present=("etag",), full_body=True),
        id="§8.8.3 a 200 without validators gets a weak ETag",
    ),
    pytest.param(
        Case("HEAD", "/doc", {}, 200, same_as_get=("etag", "content-type"), empty_body=True),
        id="§9.3.2 HEAD carries GET's generated ETag, no body",
    ),
    pytest.param(
        Case("HEAD", "/versioned", {}, 200, same_as_get=("etag", "last-modified"), empty_body=True),
        id="§9.3.2 HEAD carries GET's ETag and Last-Modified",
    ),
    # --- reads left alone ---------------------------------------------------------------------
    pytest.param(
        Case("GET", "/nostore", {"If-None-Match": "*"}, 200, absent=("etag",), full_body=True),
        id="§5.2.2.5(9111) no-store response untouched: no ETag, no 304",
    ),
    pytest.param(
        Case("GET", "/missing", {"If-None-Match": "*"}, 404, absent=("etag",), full_body=True),
        id="§13.2.1 a 404 is not made conditional",
    ),
    pytest.param(
        Case("GET", "/stream", {}, 200, absent=("etag",), full_body=True),
        id="§8.8.3 body past the buffer limit streams through untagged",
    ),
    pytest.param(
        Case("GET", "/events", {}, 200, absent=("etag",), full_body=True),
        id="text/event-stream is never buffered or tagged",
    ),
    # --- reads: If-Match / If-Unmodified-Since on GET (§13.1.1, §13.1.4) ---------------------
    pytest.param(
        Case("GET", "/doc", {"If-Match": '"stale"'}, 412, problem="If-Match"),
        id="§13.1.1 GET with a stale If-Match -> 412",
    ),
    pytest.param(
        Case("GET", "/doc", {"If-Match": "{etag}"}, 412, problem="If-Match"),
        id="§13.1.1 If-Match uses strong comparison: a weak tag never matches -> 412",
    ),
    # --- writes (§13.1.1, §13.1.4, RFC 6585 §3) ---------------------------------------------
    pytest.param(
        Case(
            "PUT",
            "/versioned",
            {"If-Match": '"v0"'},
            412,
            same_as_get=("etag",),
            problem="If-Match",
            body=PUT_BODY,
        ),
        id="§13.1.1 PUT with a stale If-Match -> 412 with current ETag + problem",
    ),
    pytest.param(
        Case("PUT", "/versioned", {"If-Match": "v1"}, 412, problem="If-Match", body=PUT_BODY),
        id="§13.1.1 unparseable If-Match -> 412, fail-safe",
    ),
    pytest.param(
        Case("PUT", "/versioned", {"If-Match": "{weak}"}, 412, problem="If-Match", body=PUT_BODY),
        id="§13.1.1 weak tag in If-Match never matches -> 412",
    ),
    pytest.param(
        Case("PUT", "/versioned", {}, 428, problem="", body=PUT_BODY),
        id="RFC 6585 §3 write without a precondition -> 428 problem",
    ),
    pytest.param(
        Case(
            "PUT", "/versioned", {"If-None-Match": "*"}, 412, problem="If-None-Match", body=PUT_BODY
        ),
        id="§13.1.2 If-None-Match * on an existing resource -> 412",
    ),
    pytest.param(
        Case(
            "PUT",
            "/versioned",
            {"If-Match": "{etag}"},
            200,
            new_etag=True,
            present=("etag",),
            body=PUT_BODY,
        ),
        id="§13.1.1 PUT with the current If-Match -> 200 with the new ETag",
    ),
    pytest.param(
        Case("PUT", "/versioned", {"If-Match": '"v0", {etag}'}, 200, new_etag=True, body=PUT_BODY),
        id="§13.1.1 current tag found in an If-Match list -> 200",
    ),
    pytest.param(
        Case("PUT", "/versioned", {"If-Match": "*"}, 200, new_etag=True, body=PUT_BODY),
        id="§13.1.1 If-Match * on an existing resource -> 200",
    ),
    pytest.param(
        Case(
            "PUT",
            "/versioned",
            {"If-Unmodified-Since": OLD},
            412,
            problem="If-Unmodified-Since",
            body=PUT_BODY,
        ),
        id="§13.1.4 If-Unmodified-Since before Last-Modified -> 412",
    ),
    pytest.param(
        Case(
            "PUT", "/versioned", {"If-Unmodified-Since": "{lm}"}, 200, new_etag=True, body=PUT_BODY
        ),
        id="§13.1.4 If-Unmodified-Since equal to Last-Modified -> 200",
    ),
    pytest.param(
        Case(
            "PUT",
            "/versioned",
            {"If-Unmodified-Since": INVALID_DATE},
            412,
            problem="If-Unmodified-Since",
            body=PUT_BODY,
        ),
        id="§13.1.4 unreadable If-Unmodified-Since on a write -> 412, fail-safe",
    ),
    pytest.param(
        Case(
            "PUT",
            "/versioned",
            {"If-Match": '"v0"', "If-Unmodified-Since": "{lm}"},
            412,
            problem="If-Match",
            body=PUT_BODY,
        ),
        id="§13.2.2 If-Match is evaluated before If-Unmodified-Since -> 412",
    ),
    pytest.param(
        Case("DELETE", "/versioned", {"If-Match": "{etag}"}, 204),
        id="§13.1.1 DELETE with the current If-Match -> 204",
    ),
    pytest.param(
        Case("DELETE", "/versioned", {"If-Match": '"v0"'}, 412, problem="If-Match"),
        id="§13.1.1 DELETE with a stale If-Match -> 412",
    ),
    pytest.param(
        Case("DELETE", "/versioned", {}, 428, problem=""),
        id="RFC 6585 §3 DELETE without a precondition -> 428",
    ),
]
