"""Fixtures for the security tests."""

from tests.support.libraries import http as http  # the fixture: httpx, then httpx2
