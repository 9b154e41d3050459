"""A typed stand-in for a WSGI server's ``start_response`` (PEP 3333), for tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _write(data: bytes) -> None:
    """PEP 3333's ``write()``: these tests never expect the app to call it."""
    raise AssertionError(f"unexpected write() of {len(data)} bytes")


def recorder(
    record: Callable[[str, list[tuple[str, str]]], object] | None = None,
) -> Callable[..., Callable[[bytes], object]]:
    """A ``start_response`` that hands status and headers to ``record`` and returns write()."""

    def start_response(
        status: str, headers: Any, exc_info: Any = None
    ) -> Callable[[bytes], object]:
        if record is not None:
            record(status, list(headers))
        return _write

    return start_response
