"""schemathesis against /openapi.json: no 5xx, and every response fits the document.

The app runs in-process on a temporary SQLite file; examples are bounded so
the run stays within seconds.  Checks: no server error, documented status
codes, content types, headers, and response bodies matching their schemas.

The database is seeded with the resources the document's examples name
(``notes/hello``, ``hello.txt``), so the schema's examples reach existing
resources and their 200, 206, 304 and 412 answers are checked too, not only
the 404s and 428s of an empty store.  The last test says which statuses the
run saw, so that coverage cannot quietly vanish.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from ifmatch.service.app import create_app
from ifmatch.service.settings import Settings

_DIRECTORY = tempfile.TemporaryDirectory(prefix="ifmatch-schemathesis-")
APP = create_app(Settings(db=f"sqlite:///{Path(_DIRECTORY.name) / 'api.db'}", access_log=False))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
SEEN: Counter[int] = Counter()
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_matches_its_openapi_document(seeded: None, case: schemathesis.Case[Any]) -> None:
    response = case.call()
    SEEN[response.status_code] += 1
    case.validate_response(response, checks=CHECKS)


def test_the_run_reached_existing_resources() -> None:
    """Runs after the schemathesis test (file order): it met more than errors."""
    assert SEEN, "the schemathesis test did not run first"
    assert {200, 304, 412} <= set(SEEN), SEEN


@pytest.fixture(scope="module")
def seeded() -> None:
    """``notes/hello`` and ``hello.txt`` at version 1, as the examples expect."""
    with TestClient(APP) as client:
        document = client.put(
            "/api/notes/hello", json={"title": "hello"}, headers={"If-None-Match": "*"}
        )
        upload = client.put(
            "/files/hello.txt",
            content=b"hello, world\n",
            headers={"If-None-Match": "*", "Content-Type": "text/plain"},
        )
    assert (document.status_code, upload.status_code) == (201, 201)
    assert document.headers["ETag"] == upload.headers["ETag"] == '"v1"'


def test_document_names_the_conditional_statuses() -> None:
    document = schema.raw_schema
    put = document["paths"]["/api/{collection}/{id}"]["put"]
    assert {"201", "200", "412", "428", "413", "415", "400"} <= set(put["responses"])
    names = {parameter["$ref"].rsplit("/", 1)[1] for parameter in put["parameters"]}
    assert {"IfMatch", "IfNoneMatch", "IfUnmodifiedSince"} <= names
    get = document["paths"]["/files/{path}"]["get"]
    assert {"200", "206", "304", "416"} <= set(get["responses"])
