"""schemathesis against /openapi.json: no 5xx, and every response fits the document.

The app runs in-process on a temporary SQLite file; examples are bounded so
the run stays within seconds.  Checks: no server error, documented status
codes, content types, headers, and response bodies matching their schemas.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ifmatch.service.app import create_app
from ifmatch.service.settings import Settings

_DIRECTORY = tempfile.TemporaryDirectory(prefix="ifmatch-schemathesis-")
APP = create_app(Settings(db=f"sqlite:///{Path(_DIRECTORY.name) / 'api.db'}"))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_matches_its_openapi_document(case: schemathesis.Case) -> None:
    response = case.call()
    case.validate_response(response, checks=CHECKS)


def test_document_names_the_conditional_statuses() -> None:
    document = schema.raw_schema
    put = document["paths"]["/api/{collection}/{id}"]["put"]
    assert {"201", "200", "412", "428", "413", "415", "400"} <= set(put["responses"])
    names = {parameter["$ref"].rsplit("/", 1)[1] for parameter in put["parameters"]}
    assert {"IfMatch", "IfNoneMatch", "IfUnmodifiedSince"} <= names
    get = document["paths"]["/files/{path}"]["get"]
    assert {"200", "206", "304", "416"} <= set(get["responses"])
