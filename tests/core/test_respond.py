"""The responder's plain 200 (RFC 9110 §15.3.1): what merging ``plan_ranges(None)`` gives.

:func:`ifmatch.respond.respond_parts` answers a GET or HEAD with no Range to
honour without building a range plan; these rows check that shortcut against
the general merge (the plan's Content-Length replaces the representation's,
right after Content-Type), including the shapes that must leave the shortcut:
a caller's own Content-Length, a boundary to validate, a negative length.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ifmatch import Conditions, ETag, plan_ranges
from ifmatch.respond import Reply, Representation, representation_fields, respond, respond_parts

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
MODIFIED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def general_200(method: str, representation: Representation) -> tuple[int, list[tuple[str, str]]]:
    """The 200 as the general path builds it: the fields, merged with plan_ranges(None)."""
    assert representation.length is not None
    plan = plan_ranges(None, representation.length, representation.content_type)
    fields = representation_fields(representation, representation.last_modified)
    replaced = {name.lower() for name, _ in plan.headers}
    final = [(name, value) for name, value in fields if name.lower() not in replaced]
    at = 0 if representation.content_type is None else 1
    final[at:at] = plan.headers
    return plan.status, final


REPRESENTATIONS = [
    Representation(ETag("v1"), MODIFIED, 1024, "application/json", ranges=True),
    Representation(ETag("v1", weak=True), None, 0, "text/plain", ranges=False),
    Representation(None, MODIFIED, 5, None),
    Representation(ETag("v2"), None, 7, "text/plain", fields=(("Cache-Control", "no-cache"),)),
    # A caller's own Content-Length: the general merge drops it for the plan's.
    Representation(ETag("v3"), None, 9, "text/plain", fields=(("content-length", "99"),)),
]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_plain_200_is_the_general_merge(method: str, representation: Representation) -> None:
    reply = respond(method, Conditions(), representation, now=NOW)
    assert (reply.status, reply.headers) == general_200(method, representation)
    length = representation.length
    assert length is not None
    expected = () if method == "HEAD" or not length else plan_ranges(None, length).segments
    assert reply.segments == expected


@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_respond_parts_is_respond(representation: Representation) -> None:
    r = representation
    for conditions in (
        Conditions(),
        Conditions(range="bytes=0-3"),
        Conditions(if_none_match='"v1"'),
    ):
        whole: Reply = respond("GET", conditions, r, now=NOW)
        parts = respond_parts(
            "GET",
            conditions,
            r.etag,
            r.last_modified,
            r.length,
            r.content_type,
            r.ranges,
            r.fields,
            r.changed_within_second,
            now=NOW,
        )
        assert (parts.status, parts.headers, parts.segments) == (
            whole.status,
            whole.headers,
            whole.segments,
        )


def test_a_bad_boundary_is_still_refused_on_a_plain_200() -> None:
    page = Representation(ETag("v1"), None, 10, "text/plain", ranges=True)
    with pytest.raises(ValueError, match="boundary"):
        respond("GET", Conditions(), page, now=NOW, boundary="bad boundary!\r\n")


def test_a_negative_length_is_still_refused() -> None:
    page = Representation(ETag("v1"), None, -1, "text/plain")
    with pytest.raises(ValueError, match="negative"):
        respond("GET", Conditions(), page, now=NOW)
