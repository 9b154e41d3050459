"""The conditional fields of a request, gathered from whatever header container an adapter has.

Adapters hand the core raw header values; parsing happens in evaluation so
that a value the core cannot read is treated fail-safe rather than raising
in the adapter.  List-valued fields received on several lines are joined
with ``", "`` as RFC 9110 §5.3 allows; a single-valued field (a date,
``If-Range``, ``Range``) received twice is unreadable and kept as such.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: Lower-case field name -> attribute name, and whether the field is a list.
_FIELDS: dict[str, tuple[str, bool]] = {
    "if-match": ("if_match", True),
    "if-none-match": ("if_none_match", True),
    "if-modified-since": ("if_modified_since", False),
    "if-unmodified-since": ("if_unmodified_since", False),
    "if-range": ("if_range", False),
    "range": ("range", False),
}

_NAME_LENGTHS = frozenset(len(name) for name in _FIELDS)

#: Marker for a single-valued field that arrived more than once.
DUPLICATE = "\x00duplicate"

HeaderPairs = Iterable[tuple[str | bytes, str | bytes]]


# Not slotted: from_headers fills the instance dict directly, which is three times faster than
# the frozen dataclass __init__ on the hot path of every conditional request.
@dataclass(frozen=True)
class Conditions:
    """Raw values of the six fields that decide a conditional request (``None`` = absent)."""

    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_unmodified_since: str | None = None
    if_range: str | None = None
    range: str | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str] | HeaderPairs) -> Conditions:
        """Collect the fields from a mapping or from (name, value) pairs, str or bytes.

        Bytes are decoded as ISO-8859-1, as ASGI and WSGI servers do, so no
        byte sequence can make this raise.
        """
        pairs: Iterable[tuple[str | bytes, str | bytes]] = (
            headers.items() if type(headers) is dict or isinstance(headers, Mapping) else headers
        )
        found: dict[str, str] = {}
        lookup = _FIELDS.get
        for raw_name, raw_value in pairs:
            if len(raw_name) not in _NAME_LENGTHS:  # skips most other headers before .lower()
                continue
            name = raw_name if type(raw_name) is str else _text(raw_name)
            field = lookup(name.lower())
            if field is None:
                continue
            attribute, is_list = field
            value = raw_value if type(raw_value) is str else _text(raw_value)
            if attribute not in found:
                found[attribute] = value
            elif is_list:
                found[attribute] = f"{found[attribute]}, {value}"
            else:
                found[attribute] = DUPLICATE
        conditions = object.__new__(cls)
        conditions.__dict__.update(found)  # absent fields fall back to the class defaults (None)
        return conditions

    @property
    def any_present(self) -> bool:
        """Whether the request carries any precondition field at all."""
        return (
            self.if_match is not None
            or self.if_none_match is not None
            or self.if_modified_since is not None
            or self.if_unmodified_since is not None
        )


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value
