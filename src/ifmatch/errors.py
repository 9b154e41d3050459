"""The one exception the core's parsers raise.

Every parser in :mod:`ifmatch` either returns a value or raises
:class:`HeaderParseError`; no other exception escapes on any input, which the
property tests check with arbitrary text.  Evaluation never raises: it turns
a header it cannot read into the fail-safe outcome instead.
"""

from __future__ import annotations


class HeaderParseError(ValueError):
    """A header field value does not follow its RFC 9110 grammar.

    ``field`` names the header (``"If-Match"``) when the caller knows it, so
    that a problem response can say which field was unreadable.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
