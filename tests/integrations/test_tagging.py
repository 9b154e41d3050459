"""The middleware's decision equals the core's, whatever the request sends.

:meth:`Exchange.decide` takes a shortcut for the usual revalidation
(``If-None-Match`` holding exactly the tag); these properties check that
the shortcut and the header scan never disagree with :func:`ifmatch.evaluate`.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ifmatch import Conditions, ETag, Resource, evaluate
from ifmatch.tagging import Action, TaggingPolicy, _date

HEX = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
DATES = st.sampled_from(
    ["Mon, 01 Jan 2024 00:00:00 GMT", "Sat, 01 Jan 2000 00:00:00 GMT", "not a date"]
)


@st.composite
def if_none_match(draw: st.DrawFn, tag: str) -> str:
    forms = [f'W/"{tag}"', f'"{tag}"', f' W/"{tag}" ', f'"{tag[:-1]}x"', "*", "garbage",
             f'W/"{tag}", "other"', f'"other",W/"{tag}"', '""', f'w/"{tag}"']
    return draw(st.sampled_from(forms) | st.text(max_size=40))


@given(data=st.data(), tag=HEX, method=st.sampled_from(["GET", "HEAD"]))
def test_decide_agrees_with_evaluate(data: st.DataObject, tag: str, method: str) -> None:
    headers: dict[str, str] = {}
    if data.draw(st.booleans()):
        headers["If-None-Match"] = data.draw(if_none_match(tag))
    if data.draw(st.booleans()):
        headers["If-Match"] = data.draw(if_none_match(tag))
    if data.draw(st.booleans()):
        headers["If-Modified-Since"] = data.draw(DATES)
    if data.draw(st.booleans()):
        headers["If-Unmodified-Since"] = data.draw(DATES)
    modified = data.draw(st.none() | DATES)

    exchange = TaggingPolicy.build().exchange(method, list(headers.items()))
    response = [("Content-Type", "text/plain")]
    if modified:
        response.append(("Last-Modified", modified))
    plan = exchange.inspect(200, response)
    assert plan.action is Action.HASH
    verdict = exchange.decide(plan, tag)

    expected = evaluate(
        method, Conditions.from_headers(headers), Resource(ETag(tag, weak=True), _date(modified))
    )
    assert verdict.status == (expected.status or 200)
    assert verdict.etag == f'W/"{tag}"'
