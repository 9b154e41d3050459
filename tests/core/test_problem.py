"""Problem details (RFC 9457) for 412 and 428 decisions."""

from __future__ import annotations

import json

import pytest

from ifmatch import (
    PROBLEM_JSON,
    Conditions,
    Decision,
    ETag,
    Outcome,
    Resource,
    decision_problem,
    evaluate,
    problem,
)


def test_problem_members() -> None:
    body = json.loads(problem(416, "no satisfiable range", length=10))
    assert body == {
        "type": "about:blank",
        "title": "Range Not Satisfiable",
        "status": 416,
        "detail": "no satisfiable range",
        "length": 10,
    }
    assert json.loads(problem(599, "x"))["title"] == "Error"
    assert PROBLEM_JSON == "application/problem+json"


def test_412_names_the_field_and_current_etag() -> None:
    decision = evaluate("PUT", Conditions(if_match='"v1"'), Resource(ETag("v2")))
    body = json.loads(decision_problem(decision, '"v2"'))
    assert body["status"] == 412
    assert body["title"] == "Precondition Failed"
    assert body["precondition"] == "If-Match"
    assert body["current_etag"] == '"v2"'
    assert body["detail"].startswith("If-Match failed:")


def test_428_body() -> None:
    decision = evaluate("DELETE", Conditions(), Resource(ETag("v2")), require_precondition=True)
    body = json.loads(decision_problem(decision))
    assert body["status"] == 428
    assert body["title"] == "Precondition Required"
    assert "precondition" not in body
    assert "If-Match" in body["detail"]


@pytest.mark.parametrize(
    "decision",
    [
        pytest.param(Decision(Outcome.PROCEED), id="proceed has no problem"),
        pytest.param(Decision(Outcome.NOT_MODIFIED, "If-None-Match"), id="304 has no body"),
    ],
)
def test_only_412_and_428(decision: Decision) -> None:
    with pytest.raises(ValueError, match="412 and 428"):
        decision_problem(decision)


def test_non_ascii_detail_is_valid_json() -> None:
    body = problem(412, "caf\xe9 \u20ac")
    assert json.loads(body)["detail"] == "caf\xe9 \u20ac"


@pytest.mark.parametrize(
    ("status", "title"),
    [
        pytest.param(401, "Unauthorized", id="RFC 9110 §15.5.2"),
        pytest.param(409, "Conflict", id="RFC 9110 §15.5.10"),
        pytest.param(413, "Content Too Large", id="RFC 9110 §15.5.14 (not 7231's name)"),
        pytest.param(422, "Unprocessable Content", id="RFC 9110 §15.5.21 (not 4918's name)"),
        pytest.param(500, "Internal Server Error", id="RFC 9110 §15.6.1"),
    ],
)
def test_titles_use_rfc_9110_names(status: int, title: str) -> None:
    assert json.loads(problem(status, "x"))["title"] == title
