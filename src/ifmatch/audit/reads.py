"""The read probes (the default, safe: GET and HEAD only), in the order they run.

Levels follow the RFC's keywords: a broken MUST is a ``fail``, a missed
SHOULD a ``warn``.  Every request but the compression probe asks for
``Accept-Encoding: identity``, so that ETags, bodies and byte ranges refer to
one representation.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from ifmatch.audit import checks as c
from ifmatch.audit.context import Audit, Probe, succeeded
from ifmatch.audit.exchange import Exchange
from ifmatch.audit.findings import Check, Finding, Level
from ifmatch.dates import format_http_date, parse_http_date
from ifmatch.errors import HeaderParseError
from ifmatch.etag import ETag

_IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r" \d{4} \d\d:\d\d:\d\d GMT"
)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
#: Fields a 304 must repeat when the 200 has them (§15.4.5).
_KEPT_ON_304 = ("etag", "cache-control", "vary", "content-location", "date", "expires")
_NO_SUCH_TAG = '"ifmatch-audit-no-such-tag"'
_LONG_AGO = "Thu, 01 Jan 1970 00:00:00 GMT"
_STABILITY_GETS = 3
_UNSTABLE = "the ETag changes from request to request"


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:12]


# --- validators -----------------------------------------------------------------------------


def validators(a: Audit) -> Finding:
    """§8.8: without an ETag nothing conditional can work reliably."""
    etags = a.base.headers.get_list("etag")
    modified = a.base.header("last-modified")
    if etags:
        return c.VALIDATORS.passed(f"ETag: {', '.join(etags)}")
    if modified:
        return c.VALIDATORS.warned(f"no ETag; Last-Modified: {modified} (1-second precision)")
    return c.VALIDATORS.failed(
        "neither ETag nor Last-Modified in the 200",
        title="no validator: neither ETag nor Last-Modified, so nothing conditional can work",
    )


def etag_syntax(a: Audit) -> Finding:
    """§8.8.3: ``entity-tag = [ W/ ] DQUOTE *etagc DQUOTE``, exactly one field."""
    etags = a.base.headers.get_list("etag")
    if not etags:
        return c.ETAG_SYNTAX.skipped("no ETag")
    if len(etags) > 1:
        a.etag_problem = "several ETag fields"
        return c.ETAG_SYNTAX.failed(f"{len(etags)} ETag fields: {', '.join(etags)}")
    try:
        a.etag = ETag.parse(etags[0])
    except HeaderParseError as error:
        a.etag_problem = "the ETag is malformed"
        return c.ETAG_SYNTAX.failed(f"ETag: {etags[0]} ({error})")
    a.etag_problem = None
    kind = "weak" if a.etag.weak else "strong"
    return c.ETAG_SYNTAX.passed(f"ETag: {a.etag} ({kind})")


def last_modified_syntax(a: Audit) -> Finding:
    """§8.8.2: an HTTP-date (IMF-fixdate when generated, §5.6.7), not after Date (§8.8.2.1)."""
    value = a.base.header("last-modified")
    if value is None:
        return c.LAST_MODIFIED_SYNTAX.skipped("no Last-Modified (optional when an ETag is sent)")
    try:
        modified = parse_http_date(value)
    except HeaderParseError as error:
        return c.LAST_MODIFIED_SYNTAX.failed(f"Last-Modified: {value} ({error})")
    a.last_modified = value
    date = a.base.header("date")
    if date is not None:
        try:
            sent = parse_http_date(date)
        except HeaderParseError:
            sent = None
        # Servers cache Date per second (uvicorn, nginx), so it may trail a fresh
        # Last-Modified by up to one second; only a larger lead is a fault.
        if sent is not None and modified - sent > timedelta(seconds=1):
            return c.LAST_MODIFIED_SYNTAX.failed(
                f"Last-Modified: {value} is after Date: {date}",
                title="Last-Modified is later than the response's Date",
            )
    if _IMF_FIXDATE.fullmatch(value.strip()) is None:
        return c.LAST_MODIFIED_SYNTAX.warned(
            f"Last-Modified: {value}", title="Last-Modified uses an obsolete date format"
        )
    return c.LAST_MODIFIED_SYNTAX.passed(f"Last-Modified: {value}")


def etag_stable(a: Audit) -> Finding:
    """§8.8.3: the same content must get the same ETag, whichever server answers."""
    if a.etag is None:
        return c.ETAG_STABLE.skipped(a.etag_problem or "no ETag")
    seen = [a.base] + [a.get() for _ in range(_STABILITY_GETS)]
    tags = [exchange.header("etag") for exchange in seen]
    bodies = {_digest(exchange.body) for exchange in seen}
    evidence = f"{len(seen)} GETs: ETags {', '.join(map(str, tags))}; {len(bodies)} distinct bodies"
    if len(set(tags)) == 1:
        if len(bodies) > 1 and not a.etag.weak:
            return c.ETAG_STABLE.failed(
                evidence,
                title="a strong ETag names different bytes",
                fix='mark the ETag weak (W/"...") or change it whenever the bytes change',
            )
        return c.ETAG_STABLE.passed(evidence)
    a.etag_problem = _UNSTABLE
    if len(bodies) == 1:
        return c.ETAG_STABLE.failed(evidence)
    return c.ETAG_STABLE.warned(
        evidence,
        title="the representation and its ETag change on every request: no 304 is possible",
        fix="keep per-request values (timestamps, nonces) out of the representation",
    )


def etag_coding(a: Audit) -> Finding:
    """§8.8.3: a strong ETag promises identical bytes, and gzip changes the bytes."""
    if a.etag is None or a.etag_problem:
        return c.ETAG_CODING.skipped(a.etag_problem or "no ETag")
    gzipped = a.get(accept_encoding="gzip")
    coding = (gzipped.header("content-encoding") or "identity").strip().lower()
    plain = (a.base.header("content-encoding") or "identity").strip().lower()
    evidence = (
        f"Accept-Encoding: identity -> Content-Encoding {plain}, ETag {a.base.header('etag')};"
        f" gzip -> Content-Encoding {coding}, ETag {gzipped.header('etag')}"
    )
    if coding == plain:
        return c.ETAG_CODING.skipped(f"no content coding for Accept-Encoding: gzip; {evidence}")
    try:
        tag = ETag.parse(gzipped.header("etag") or "")
    except HeaderParseError:
        return c.ETAG_CODING.passed(evidence + " (the coded response has no usable ETag)")
    if tag.strong_match(a.etag) and gzipped.body != a.base.body:
        return c.ETAG_CODING.failed(evidence)
    return c.ETAG_CODING.passed(evidence)


# --- If-None-Match ---------------------------------------------------------------------------


def _expect_304(a: Audit, check: Check, value: str) -> Finding:
    """§13.1.2: a matching If-None-Match on GET MUST give 304."""
    if a.etag is None or a.etag_problem:
        return check.skipped(a.etag_problem or "no ETag")
    answer = a.get(("If-None-Match", value))
    if answer.status == 304:
        a.not_modified = a.not_modified or answer
        return check.passed(answer.describe())
    if answer.status == a.base.status:
        return check.failed(answer.describe())
    return check.failed(answer.describe(), title=f"If-None-Match: {value} gives {answer.status}")


def inm_current(a: Audit) -> Finding:
    """The current ETag itself."""
    finding = _expect_304(a, c.INM_CURRENT, str(a.etag))
    a.inm_works = finding.level is Level.PASS
    return finding


def inm_list(a: Audit) -> Finding:
    """The current ETag second in a list, after one with a comma inside its quotes."""
    return _expect_304(a, c.INM_LIST, f'"ifmatch,audit", {a.etag}')


def inm_weak(a: Audit) -> Finding:
    """The other form (weak for a strong tag, strong for a weak one): weak comparison."""
    other = None if a.etag is None else ETag(a.etag.opaque, weak=not a.etag.weak)
    return _expect_304(a, c.INM_WEAK, str(other))


def inm_star(a: Audit) -> Finding:
    """``*`` matches any current representation: no stable (or well-formed) tag needed."""
    if not a.base.headers.get_list("etag"):
        return c.INM_STAR.skipped("no ETag")
    answer = a.get(("If-None-Match", "*"))
    if answer.status == 304:
        a.not_modified = a.not_modified or answer
        return c.INM_STAR.passed(answer.describe())
    if answer.status == a.base.status:
        return c.INM_STAR.failed(answer.describe())
    return c.INM_STAR.failed(answer.describe(), title=f"If-None-Match: * gives {answer.status}")


def inm_mismatch(a: Audit) -> Finding:
    """A tag the server never sent: the request proceeds (also without any ETag)."""
    answer = a.get(("If-None-Match", _NO_SUCH_TAG))
    if answer.status == a.base.status and (answer.body or not a.base.body):
        return c.INM_MISMATCH.passed(answer.describe())
    return c.INM_MISMATCH.failed(answer.describe())


# --- If-Modified-Since -----------------------------------------------------------------------


def ims_current(a: Audit) -> Finding:
    """§13.1.3: the server SHOULD answer 304 (a warning, not a failure, otherwise)."""
    if a.last_modified is None:
        return c.IMS_CURRENT.skipped("no usable Last-Modified")
    answer = a.get(("If-Modified-Since", a.last_modified))
    if answer.status == 304:
        a.not_modified = a.not_modified or answer
        return c.IMS_CURRENT.passed(answer.describe())
    if answer.status == a.base.status:
        return _one_second_rule(a, answer) or c.IMS_CURRENT.warned(answer.describe())
    return c.IMS_CURRENT.failed(
        answer.describe(), title=f"If-Modified-Since: <Last-Modified> gives {answer.status}"
    )


def _one_second_rule(a: Audit, equal: Exchange) -> Finding | None:
    """A pass when a 200 for a date equal to Last-Modified is a deliberate choice.

    HTTP-dates have whole seconds, so after two changes within one second a
    date equal to Last-Modified cannot tell the versions apart; a server that
    knows this (as ifmatch does, docs/core.md "The one-second problem")
    answers 200 to it, and 304 to any later date.  That is accepted only
    when the server also answers If-None-Match with 304, so clients still
    revalidate cheaply; a server comparing dates with ``>`` instead of ``>=``
    and no working ETag is still warned about.
    """
    assert a.last_modified is not None
    if not a.inm_works:
        return None
    later = format_http_date(parse_http_date(a.last_modified) + timedelta(seconds=1))
    again = a.get(("If-Modified-Since", later))
    if again.status != 304:
        return None
    a.not_modified = a.not_modified or again
    return c.IMS_CURRENT.passed(
        f"{equal.describe()}; {again.describe()}: a date equal to Last-Modified is treated as"
        " inconclusive, as after two changes within that second (the one-second rule), and"
        " If-None-Match gives 304"
    )


def ims_earlier(a: Audit) -> Finding:
    """A day before Last-Modified: modified since, so the full 200."""
    if a.last_modified is None:
        return c.IMS_EARLIER.skipped("no usable Last-Modified")
    earlier = format_http_date(parse_http_date(a.last_modified) - timedelta(days=1))
    answer = a.get(("If-Modified-Since", earlier))
    if answer.status == a.base.status:
        return c.IMS_EARLIER.passed(answer.describe())
    return c.IMS_EARLIER.failed(answer.describe())


def ims_invalid(a: Audit) -> Finding:
    """An unparseable date MUST be ignored (also by servers without Last-Modified)."""
    answer = a.get(("If-Modified-Since", "yesterday, around noon"))
    if answer.status == a.base.status:
        return c.IMS_INVALID.passed(answer.describe())
    return c.IMS_INVALID.failed(answer.describe())


def inm_over_ims(a: Audit) -> Finding:
    """§13.1.3: a recipient MUST ignore If-Modified-Since when If-None-Match is present.

    Both ways: a non-matching tag with a current date is a 200 (needs Last-Modified), and a
    matching tag with a date long past is a 304 (needs an If-None-Match that already works).
    """
    seen: list[str] = []
    wrong = False
    if a.last_modified is not None:
        answer = a.get(("If-None-Match", _NO_SUCH_TAG), ("If-Modified-Since", a.last_modified))
        seen.append(answer.describe())
        wrong = answer.status != a.base.status
    if a.inm_works and a.etag is not None:
        answer = a.get(("If-None-Match", str(a.etag)), ("If-Modified-Since", _LONG_AGO))
        seen.append(answer.describe())
        wrong = wrong or answer.status != 304
    if not seen:
        return c.INM_OVER_IMS.skipped("no Last-Modified and no working If-None-Match")
    evidence = "; ".join(seen)
    return c.INM_OVER_IMS.failed(evidence) if wrong else c.INM_OVER_IMS.passed(evidence)


def not_modified_headers(a: Audit) -> Finding:
    """§15.4.5: a 304 MUST repeat what the 200 would say about the representation."""
    answer = a.not_modified
    if answer is None:
        return c.NOT_MODIFIED_HEADERS.skipped("no 304 to inspect")
    problems = [
        f"{name} missing"
        for name in _KEPT_ON_304
        if name in a.base.headers and name not in answer.headers
    ]
    base_etag, etag = a.base.header("etag"), answer.header("etag")
    if a.etag_problem is None and base_etag is not None and etag is not None and base_etag != etag:
        problems.append(f"ETag {etag} differs from the 200's {base_etag}")
    if answer.body:
        problems.append(f"a {len(answer.body)}-byte body")
    else:
        stray = a.target.raw_body(answer)
        if stray:
            problems.append(f"a {len(stray)}-byte body after the header ({stray[:40]!r})")
    evidence = f"{answer.describe()}; " + ("; ".join(problems) or "fields kept, no body")
    return (
        c.NOT_MODIFIED_HEADERS.failed(evidence)
        if problems
        else c.NOT_MODIFIED_HEADERS.passed(evidence)
    )


def head_validators(a: Audit) -> Finding:
    """§9.3.2: HEAD is GET without the body, validators included."""
    answer = a.target.send("HEAD")
    if answer.status in (405, 501):
        return c.HEAD_VALIDATORS.failed(
            answer.describe(), title=f"HEAD not supported ({answer.status}); §9.1 requires it"
        )
    differ = {
        name: f"{name}: GET {a.base.header(name)} / HEAD {answer.header(name)}"
        for name in ("etag", "last-modified")
        if a.base.header(name) != answer.header(name)
    }
    evidence = f"{answer.describe()}; " + ("; ".join(differ.values()) or "same validators")
    if not succeeded(answer) or "last-modified" in differ:
        return c.HEAD_VALIDATORS.failed(evidence)
    if "etag" in differ and a.etag_problem == _UNSTABLE:
        # GETs disagree among themselves ([etag-stable]), so HEAD cannot be held to one of them.
        return c.HEAD_VALIDATORS.skipped(f"{evidence}, as the ETags of GETs differ too")
    if differ:
        return c.HEAD_VALIDATORS.failed(evidence)
    return c.HEAD_VALIDATORS.passed(evidence)


# --- ranges ----------------------------------------------------------------------------------


def _span(length: int) -> tuple[int, int]:
    """A range inside the representation that is neither a prefix nor the whole."""
    if length < 4:
        return 0, 0
    return length // 4, length // 2


def _check_206(a: Audit, answer: Exchange, first: int, last: int) -> str | None:
    """What is wrong with a 206 for ``bytes=first-last``, or ``None``."""
    length = len(a.base.body)
    content_type = answer.header("content-type") or ""
    if content_type.startswith("multipart/byteranges"):
        return "a multipart/byteranges answer to a single range"
    content_range = answer.header("content-range")
    match = _CONTENT_RANGE.fullmatch((content_range or "").strip())
    if match is None:
        return f"Content-Range: {content_range} is not bytes first-last/length"
    if (int(match[1]), int(match[2]), match[3]) != (first, last, str(length)):
        return f"Content-Range: {content_range}, expected bytes {first}-{last}/{length}"
    if answer.body != a.base.body[first : last + 1]:
        return f"the body is not bytes {first}-{last} of the 200's body"
    if (
        a.etag_problem is None  # an ETag that changes on every GET is [etag-stable]'s finding
        and a.base.header("etag") is not None
        and answer.header("etag") != a.base.header("etag")
    ):
        return f"the 206's ETag {answer.header('etag')} is not the 200's (§15.3.7)"
    return None


def byte_range(a: Audit) -> Finding:
    """§14.2: a server MAY ignore Range, so no support is a warning; a wrong 206 fails."""
    length = len(a.base.body)
    if a.base.header("content-encoding") not in (None, "identity"):
        return c.RANGE.skipped("the representation is content-coded even for identity")
    if length == 0:
        return c.RANGE.skipped("empty representation: nothing to range over")
    first, last = _span(length)
    answer = a.get(("Range", f"bytes={first}-{last}"))
    accept = a.base.header("accept-ranges")
    evidence = f"{answer.describe()}; " + (
        f"Accept-Ranges: {accept}" if accept else "no Accept-Ranges"
    )
    if answer.status == 206:
        problem = _check_206(a, answer, first, last)
        if problem:
            return c.RANGE.failed(
                f"{evidence}; {problem}",
                title="206 with a wrong Content-Range or wrong bytes",
                fix="slice the selected representation exactly as Content-Range states",
            )
        a.ranges = True
        return c.RANGE.passed(f"{evidence}; Content-Range: {answer.header('content-range')}")
    if answer.status == a.base.status and answer.body == a.base.body:
        if accept and accept.strip().lower() == "none":
            return c.RANGE.skipped(f"{evidence}: no ranges offered, as §14.3 lets a server say")
        if accept and "bytes" in accept.lower():
            return c.RANGE.warned(evidence, title="Accept-Ranges: bytes, but Range gives 200")
        return c.RANGE.warned(evidence, title="no Range support (no Accept-Ranges: bytes)")
    return c.RANGE.failed(evidence, title=f"a satisfiable Range gives {answer.status}")


def _ranged(a: Audit, check: Check, if_range: str, *, expect_206: bool) -> Finding:
    length = len(a.base.body)
    first, last = _span(length)
    answer = a.get(("Range", f"bytes={first}-{last}"), ("If-Range", if_range))
    if expect_206:
        if answer.status == 206 and _check_206(a, answer, first, last) is None:
            return check.passed(answer.describe())
        if answer.status == a.base.status:
            return check.warned(answer.describe())  # §13.1.5 says SHOULD
        return check.failed(answer.describe())
    if answer.status == a.base.status and answer.body == a.base.body:
        return check.passed(answer.describe())
    return check.failed(answer.describe())


def if_range_current(a: Audit) -> Finding:
    """§13.1.5: the current strong ETag lets the Range through."""
    if not a.ranges:
        return c.IF_RANGE_CURRENT.skipped("no working Range support")
    if a.etag is None or a.etag_problem:
        return c.IF_RANGE_CURRENT.skipped(a.etag_problem or "no ETag")
    if a.etag.weak:
        return c.IF_RANGE_CURRENT.skipped("the ETag is weak: If-Range needs a strong validator")
    return _ranged(a, c.IF_RANGE_CURRENT, str(a.etag), expect_206=True)


def if_range_stale(a: Audit) -> Finding:
    """§13.1.5: a validator that does not match MUST make the server ignore Range."""
    if not a.ranges:
        return c.IF_RANGE_STALE.skipped("no working Range support")
    return _ranged(a, c.IF_RANGE_STALE, '"ifmatch-audit-stale"', expect_206=False)


def if_range_weak(a: Audit) -> Finding:
    """§13.1.5: If-Range uses strong comparison, so a W/ tag never matches."""
    if not a.ranges:
        return c.IF_RANGE_WEAK.skipped("no working Range support")
    if a.etag is None or a.etag_problem:
        return c.IF_RANGE_WEAK.skipped(a.etag_problem or "no ETag")
    return _ranged(a, c.IF_RANGE_WEAK, str(a.etag.as_weak()), expect_206=False)


def range_unsatisfiable(a: Audit) -> Finding:
    """§15.5.17: 416, and the server SHOULD say the length in ``Content-Range: bytes */N``."""
    if not a.ranges:
        return c.RANGE_UNSATISFIABLE.skipped("no working Range support")
    length = len(a.base.body)
    answer = a.get(("Range", f"bytes={length}-"))
    content_range = answer.header("content-range")
    evidence = f"{answer.describe()}; Content-Range: {content_range}"
    if answer.status == 416:
        if (content_range or "").strip() == f"bytes */{length}":
            return c.RANGE_UNSATISFIABLE.passed(evidence)
        return c.RANGE_UNSATISFIABLE.warned(evidence)
    if answer.status == a.base.status:
        return c.RANGE_UNSATISFIABLE.warned(
            evidence, title="an unsatisfiable Range gives 200, not 416 (allowed, less useful)"
        )
    return c.RANGE_UNSATISFIABLE.failed(evidence)


READ_PROBES: tuple[Probe, ...] = (
    validators,
    etag_syntax,
    last_modified_syntax,
    etag_stable,
    etag_coding,
    inm_current,
    inm_list,
    inm_weak,
    inm_star,
    inm_mismatch,
    ims_current,
    ims_earlier,
    ims_invalid,
    inm_over_ims,
    not_modified_headers,
    head_validators,
    byte_range,
    if_range_current,
    if_range_stale,
    if_range_weak,
    range_unsatisfiable,
)
