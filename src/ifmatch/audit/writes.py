"""The write probes (``--write`` only), in the order they run: they change the resource.

Each writes back the representation the first GET returned (or the
``--body`` the user gave), so that a server that wrongly accepts a write is
left with the content it had.  The current If-Match goes first: it shows
whether the server accepts the written-back body at all, and when it does
not, the later probes say they cannot judge instead of blaming the
preconditions.
"""

from __future__ import annotations

import secrets

from ifmatch.audit import checks as c
from ifmatch.audit.context import Audit, Probe, succeeded
from ifmatch.audit.exchange import Exchange
from ifmatch.audit.findings import Check, Finding


def _expect_412(a: Audit, check: Check, answer: Exchange) -> Finding:
    """The verdict on a write whose precondition is false: it MUST give 412 (§13.1).

    A 2xx means the write was performed; another refusal cannot be judged
    when the server refused the written-back body itself (``a.write_refused``).
    """
    if answer.status == 412:
        return check.passed(answer.describe())
    if succeeded(answer):
        return check.failed(answer.describe() + " (the write was performed)")
    if a.write_refused:
        return check.skipped(f"{answer.describe()}; cannot judge: {a.write_refused}")
    title = f"{check.expect.split(' -> ')[0]} -> {answer.status}, not 412"
    return check.failed(answer.describe(), title=title)


def if_match_current(a: Audit) -> Finding:
    """§13.1.1: a matching If-Match lets the write through; the new ETag is the one GET shows."""
    current = a.current_etag()
    if current is None or a.etag_problem:
        a.write_refused = "no usable ETag to send in If-Match"
        return c.IF_MATCH_CURRENT.skipped(a.etag_problem or "no usable ETag")
    answer = a.send_write(("If-Match", str(current)))
    if succeeded(answer):
        after = a.current_etag()
        returned = answer.header("etag")
        evidence = f"{answer.describe()}; ETag {current} -> {after}"
        if current.weak:
            return c.IF_MATCH_CURRENT.warned(
                evidence,
                title="If-Match matched a weak ETag, although §13.1.1 requires strong comparison",
                fix="send strong ETags on writable resources",
            )
        if returned is not None and after is not None and returned != str(after):
            return c.IF_MATCH_CURRENT.failed(
                f"{evidence}; the write answered ETag {returned}",
                title="the write's ETag is not the one a GET then returns",
                fix="send the stored representation's ETag in a write's 2xx, or none",
            )
        if after == current:
            evidence += " (unchanged: the same bytes were written back)"
        return c.IF_MATCH_CURRENT.passed(evidence)
    if answer.status == 412 and current.weak:
        a.write_refused = "If-Match cannot match a weak ETag"
        return c.IF_MATCH_CURRENT.warned(
            answer.describe(),
            title="weak ETag: If-Match can never match it, so no conditional write can succeed",
            fix="send strong ETags on writable resources",
        )
    evidence = answer.describe()
    if answer.status in (405, 501):
        # The method is not offered here (a collection takes POST, not PUT): nothing to judge.
        allow = answer.header("allow")
        a.write_refused = f"{answer.method} is not supported here ({answer.status}" + (
            f"; Allow: {allow})" if allow else ")"
        )
        return c.IF_MATCH_CURRENT.skipped(f"{evidence}; {a.write_refused}")
    if answer.status not in (412, 428):
        a.write_refused = f"the written-back body was refused with {answer.status} (try --body)"
        evidence += f"; {a.write_refused}"
    title = f"{c.IF_MATCH_CURRENT.problem} ({answer.status})"
    return c.IF_MATCH_CURRENT.failed(evidence, title=title)


def if_match_stale(a: Audit) -> Finding:
    """The lost-update check: a tag that is not current MUST give 412."""
    stale = f'"ifmatch-audit-stale-{secrets.token_hex(4)}"'
    answer = a.send_write(("If-Match", stale))
    return _expect_412(a, c.IF_MATCH_STALE, answer)


def if_match_weak(a: Audit) -> Finding:
    """§13.1.1: strong comparison, so ``W/"current"`` MUST give 412."""
    current = a.current_etag()
    if current is None or a.etag_problem:
        return c.IF_MATCH_WEAK.skipped(a.etag_problem or "no usable ETag")
    if current.weak:
        return c.IF_MATCH_WEAK.skipped("the ETag is weak itself: see if-match-current")
    answer = a.send_write(("If-Match", str(current.as_weak())))
    return _expect_412(a, c.IF_MATCH_WEAK, answer)


def inm_star_existing(a: Audit) -> Finding:
    """§13.1.2: ``If-None-Match: *`` is false when a representation exists: 412 on writes."""
    answer = a.send_write(("If-None-Match", "*"))
    return _expect_412(a, c.INM_STAR_EXISTING, answer)


def precondition_required(a: Audit) -> Finding:
    """RFC 6585 §3: a server that needs conditional writes says so with 428 (a recommendation)."""
    answer = a.send_write()
    if answer.status == 428:
        return c.PRECONDITION_REQUIRED.passed(answer.describe())
    if succeeded(answer):
        return c.PRECONDITION_REQUIRED.warned(answer.describe() + " (the write was performed)")
    if a.write_refused:
        why = f"{answer.describe()}; cannot judge: {a.write_refused}"
        return c.PRECONDITION_REQUIRED.skipped(why)
    return c.PRECONDITION_REQUIRED.warned(
        answer.describe(), title=f"an unconditional write gives {answer.status}, not 428"
    )


WRITE_PROBES: tuple[Probe, ...] = (
    if_match_current,
    if_match_stale,
    if_match_weak,
    inm_star_existing,
    precondition_required,
)
