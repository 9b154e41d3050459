"""The catalogue of checks: what is verified, which RFC section says so, and the fix.

Kept as data, apart from the probes that run them, so that the docs, the
JSON output and the tests all name a check by the same ``id``.  Sections are
RFC 9110's unless another RFC is named.
"""

from __future__ import annotations

from ifmatch.audit.findings import Check

VALIDATORS = Check(
    "validators",
    "RFC 9110 §8.8",
    "the response carries an ETag",
    "no ETag: clients cannot revalidate cheaply or make conditional writes",
    "send an ETag (and Last-Modified where a modification time exists) on every 2xx GET",
)
ETAG_SYNTAX = Check(
    "etag-syntax",
    "RFC 9110 §8.8.3",
    "the ETag is one well-formed entity-tag",
    "malformed ETag",
    'send exactly one quoted tag: ETag: "v1" (strong) or ETag: W/"v1" (weak, capital W)',
)
LAST_MODIFIED_SYNTAX = Check(
    "last-modified-syntax",
    "RFC 9110 §8.8.2, §5.6.7",
    "Last-Modified is an IMF-fixdate, not in the future",
    "malformed Last-Modified",
    "send Last-Modified as an IMF-fixdate (Sun, 06 Nov 1994 08:49:37 GMT), never after Date",
)
ETAG_CODING = Check(
    "etag-coding",
    "RFC 9110 §8.8.3",
    "a strong ETag differs between content codings",
    "strong ETag shared between content codings",
    'when compressing, make the ETag weak (W/"...") or append the coding ("v1-gzip")',
)
ETAG_STABLE = Check(
    "etag-stable",
    "RFC 9110 §8.8.3",
    "the ETag is stable over repeated GETs of unchanged content",
    "ETags differ between requests: servers behind a load balancer?",
    "derive the ETag from the content or a stored version, never from the host, inode or clock",
)
INM_CURRENT = Check(
    "inm-current",
    "RFC 9110 §13.1.2",
    "If-None-Match with the current ETag -> 304",
    "returns 200 where 304 belongs",
    "compare If-None-Match with the current ETag (weak comparison) and answer 304, no body",
)
INM_LIST = Check(
    "inm-list",
    "RFC 9110 §13.1.2",
    "If-None-Match with a list containing the current ETag -> 304",
    "a list containing the current ETag does not give 304",
    "parse If-None-Match as a list (commas inside quotes belong to the tag); test every member",
)
INM_WEAK = Check(
    "inm-weak",
    "RFC 9110 §13.1.2, §8.8.3.2",
    "If-None-Match with the other (W/) form of the current ETag -> 304 (weak comparison)",
    "If-None-Match compared strongly: the W/ form of the current ETag gives 200",
    "use weak comparison for If-None-Match: ignore W/ on both sides",
)
INM_STAR = Check(
    "inm-star",
    "RFC 9110 §13.1.2",
    "If-None-Match: * -> 304",
    "If-None-Match: * does not give 304 for an existing resource",
    "treat If-None-Match: * as matching any current representation",
)
INM_MISMATCH = Check(
    "inm-mismatch",
    "RFC 9110 §13.1.2",
    "If-None-Match with a non-matching tag -> 200 with the body",
    "a non-matching If-None-Match does not give 200 with the body",
    "answer 304 only when a listed tag matches the current ETag",
)
IMS_CURRENT = Check(
    "ims-current",
    "RFC 9110 §13.1.3",
    "If-Modified-Since equal to Last-Modified -> 304",
    "returns 200 where 304 belongs (If-Modified-Since)",
    "compare If-Modified-Since with Last-Modified to the second; answer 304 when not later",
)
IMS_EARLIER = Check(
    "ims-earlier",
    "RFC 9110 §13.1.3",
    "If-Modified-Since before Last-Modified -> 200",
    "an If-Modified-Since before Last-Modified does not give 200",
    "answer 304 only when Last-Modified is not later than the date given",
)
IMS_INVALID = Check(
    "ims-invalid",
    "RFC 9110 §13.1.3",
    "an invalid If-Modified-Since date is ignored -> 200",
    "an invalid If-Modified-Since date does not give 200",
    "ignore If-Modified-Since values that are not valid HTTP-dates",
)
INM_OVER_IMS = Check(
    "inm-over-ims",
    "RFC 9110 §13.1.3, §13.2.2",
    "If-None-Match overrides If-Modified-Since (no match + current date -> 200;"
    " match + old date -> 304)",
    "If-Modified-Since evaluated although If-None-Match is present",
    "ignore If-Modified-Since whenever If-None-Match is present (§13.2.2 step 3 before 4)",
)
NOT_MODIFIED_HEADERS = Check(
    "not-modified-headers",
    "RFC 9110 §15.4.5",
    "the 304 has no body and keeps ETag, Cache-Control, Vary (and Date, Expires, ...)",
    "the 304 drops fields the 200 sends, or has a body",
    "on 304 send the ETag, Cache-Control, Content-Location, Date, Expires and Vary of the 200",
)
HEAD_VALIDATORS = Check(
    "head-validators",
    "RFC 9110 §9.3.2",
    "HEAD sends the same ETag and Last-Modified as GET",
    "HEAD and GET disagree on validators",
    "answer HEAD through the GET code path, dropping only the body",
)
RANGE = Check(
    "range",
    "RFC 9110 §14.2, §14.4, §15.3.7",
    "Range -> 206 with a correct Content-Range and the right bytes",
    "no Range support",
    "support byte ranges (Accept-Ranges: bytes), or say Accept-Ranges: none",
)
IF_RANGE_CURRENT = Check(
    "if-range-current",
    "RFC 9110 §13.1.5",
    "If-Range with the current strong ETag -> 206",
    "If-Range with the current strong ETag does not give 206",
    "when If-Range matches the current ETag strongly, honour Range",
)
IF_RANGE_STALE = Check(
    "if-range-stale",
    "RFC 9110 §13.1.5",
    "If-Range with a stale ETag -> 200 with the full body",
    "If-Range ignored: a stale validator still gets 206, so clients splice old and new bytes",
    "when If-Range does not match strongly, ignore Range and send the whole 200",
)
IF_RANGE_WEAK = Check(
    "if-range-weak",
    "RFC 9110 §13.1.5",
    "If-Range with a weak ETag -> 200 with the full body (strong comparison)",
    "If-Range matched a weak ETag",
    "compare If-Range strongly: a W/ tag never matches, so send the whole 200",
)
RANGE_UNSATISFIABLE = Check(
    "range-unsatisfiable",
    "RFC 9110 §15.5.17, §14.4",
    "an unsatisfiable Range -> 416 with Content-Range: bytes */length",
    "an unsatisfiable Range does not give 416 with Content-Range: bytes */length",
    "answer 416 with Content-Range: bytes */<length> when no range overlaps the representation",
)

IF_MATCH_CURRENT = Check(
    "if-match-current",
    "RFC 9110 §13.1.1",
    "a write with If-Match: <current ETag> succeeds (2xx) and the new ETag is what GET returns",
    "a write with the current ETag is refused",
    "compare If-Match strongly with the current ETag and perform the write when it matches",
)
IF_MATCH_STALE = Check(
    "if-match-stale",
    "RFC 9110 §13.1.1",
    "a write with a stale If-Match -> 412",
    "If-Match ignored: concurrent writes overwrite each other",
    "compare If-Match with the current ETag before writing; answer 412 when none matches",
)
IF_MATCH_WEAK = Check(
    "if-match-weak",
    "RFC 9110 §13.1.1",
    "a write with If-Match: W/<current ETag> -> 412 (strong comparison)",
    "If-Match compared weakly: the W/ form of the current ETag was accepted",
    "compare If-Match strongly: a W/ tag never matches",
)
INM_STAR_EXISTING = Check(
    "inm-star-existing",
    "RFC 9110 §13.1.2",
    "a write with If-None-Match: * on an existing resource -> 412",
    "If-None-Match: * ignored: create-only writes overwrite existing resources",
    "on a write, treat If-None-Match: * as false when the resource exists and answer 412",
)
PRECONDITION_REQUIRED = Check(
    "precondition-required",
    "RFC 6585 §3",
    "an unconditional write -> 428 Precondition Required",
    "unconditional write accepted: lost updates go unnoticed (428 recommended)",
    "answer 428 to writes without If-Match (or If-Unmodified-Since) on existing resources",
)

READ_CHECKS = (
    VALIDATORS,
    ETAG_SYNTAX,
    LAST_MODIFIED_SYNTAX,
    ETAG_STABLE,
    ETAG_CODING,
    INM_CURRENT,
    INM_LIST,
    INM_WEAK,
    INM_STAR,
    INM_MISMATCH,
    IMS_CURRENT,
    IMS_EARLIER,
    IMS_INVALID,
    INM_OVER_IMS,
    NOT_MODIFIED_HEADERS,
    HEAD_VALIDATORS,
    RANGE,
    IF_RANGE_CURRENT,
    IF_RANGE_STALE,
    IF_RANGE_WEAK,
    RANGE_UNSATISFIABLE,
)
WRITE_CHECKS = (
    IF_MATCH_CURRENT,
    IF_MATCH_STALE,
    IF_MATCH_WEAK,
    INM_STAR_EXISTING,
    PRECONDITION_REQUIRED,
)
ALL_CHECKS = READ_CHECKS + WRITE_CHECKS
