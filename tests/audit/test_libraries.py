"""The auditor runs on httpx and on httpx2: the library of the transport it is given, else
``$IFMATCH_HTTP``, else httpx (issue 14: the same public API on both libraries)."""

from __future__ import annotations

from types import ModuleType

import pytest

from ifmatch.audit import ALL_CHECKS, Level, WriteOptions, run_audit
from ifmatch.audit.exchange import AuditError, Target
from ifmatch.client.httpx_compat import library_of
from tests.audit.apps import DocumentApp
from tests.support.libraries import http as http  # the fixture: httpx, then httpx2

URL = "http://app.test/docs/1"


def test_a_correct_app_audits_clean_on_either_library(http: ModuleType) -> None:
    """With httpx2's WSGITransport the audit failed with an AssertionError inside httpx2."""
    report = run_audit(URL, write=WriteOptions(), transport=http.WSGITransport(app=DocumentApp()))
    assert report.ids(Level.FAIL) == set()
    assert report.ids(Level.WARN) == set()
    assert [finding.id for finding in report.findings] == [check.id for check in ALL_CHECKS]


def test_a_mistake_is_found_on_either_library(http: ModuleType) -> None:
    report = run_audit(URL, transport=http.WSGITransport(app=DocumentApp("no-304")))
    assert "inm-current" in report.ids(Level.FAIL)


def test_the_target_uses_the_library_of_its_transport_or_of_the_environment(
    http: ModuleType,
) -> None:
    with_transport = Target(URL, transport=http.WSGITransport(app=DocumentApp()))
    from_environment = Target(URL)  # $IFMATCH_HTTP is set by the fixture
    try:
        assert library_of(with_transport.send("GET").headers) is http
        assert library_of(from_environment._client) is http
    finally:
        with_transport.close()
        from_environment.close()


@pytest.mark.usefixtures("http")
def test_an_unreachable_target_is_one_audit_error_on_either_library() -> None:
    target = Target("http://127.0.0.1:9/x", timeout=2)
    try:
        with pytest.raises(AuditError, match="cannot connect"):
            target.send("GET")
    finally:
        target.close()
