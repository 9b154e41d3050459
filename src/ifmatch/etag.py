"""Entity tags (RFC 9110 §8.8.3) and the lists of them that conditional fields carry.

ABNF, quoted from RFC 9110 §8.8.3 and §13.1.1::

    entity-tag = [ weak ] opaque-tag
    weak       = %s"W/"
    opaque-tag = DQUOTE *etagc DQUOTE
    etagc      = %x21 / %x23-7E / obs-text          ; VCHAR except DQUOTE, plus obs-text
    If-Match   = "*" / #entity-tag                   ; If-None-Match is the same

A list (``#entity-tag``) may hold empty elements and optional whitespace
around commas (§5.6.1).  A comma inside a quoted tag belongs to the tag:
``"a,b"`` is one tag, so lists are scanned, never split on commas.

Header values reach us as ``str``; obs-text octets (0x80-0xFF) are expected
to have been decoded as ISO-8859-1, which is what ASGI and WSGI servers do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ifmatch.errors import HeaderParseError

_ETAGC = r"[\x21\x23-\x7e\x80-\xff]"
_OPAQUE_RE = re.compile(rf"{_ETAGC}*")
# One list element, anchored where the scanner stands: optional W/ and a quoted tag.
_ELEMENT_RE = re.compile(rf'(W/)?"({_ETAGC}*)"')
_OWS = " \t"
#: A field value that is exactly one entity-tag with optional OWS: the common case of
#: If-Match / If-None-Match, which evaluation compares without building a list.
SINGLE_TAG_RE = re.compile(rf'[ \t]*(W/)?"({_ETAGC}*)"[ \t]*')


@dataclass(frozen=True, slots=True)
class ETag:
    """An entity tag: the opaque value between the quotes, and whether it is weak.

    >>> ETag.parse('W/"abc"')
    ETag(opaque='abc', weak=True)
    >>> str(ETag("v7"))
    '"v7"'
    """

    opaque: str
    weak: bool = False

    def __post_init__(self) -> None:
        if _OPAQUE_RE.fullmatch(self.opaque) is None:
            raise HeaderParseError(
                f"entity-tag characters must be %x21 / %x23-7E / obs-text: {self.opaque[:40]!r}",
                field="ETag",
            )

    @classmethod
    def parse(cls, value: str) -> ETag:
        """Parse one ``entity-tag`` (surrounding whitespace allowed).

        Raises :class:`HeaderParseError` for anything else, including the
        unquoted tags some servers send (``ETag: abc``), which are not ETags.
        """
        text = value.strip(_OWS)
        match = _ELEMENT_RE.fullmatch(text)
        if match is None:
            raise HeaderParseError(f"not an entity-tag: {text[:40]!r}", field="ETag")
        return _etag(match.group(2), match.group(1) is not None)

    def __str__(self) -> str:
        return f'W/"{self.opaque}"' if self.weak else f'"{self.opaque}"'

    def strong_match(self, other: ETag) -> bool:
        """Strong comparison (§8.8.3.2): both strong and the same opaque tag."""
        return not self.weak and not other.weak and self.opaque == other.opaque

    def weak_match(self, other: ETag) -> bool:
        """Weak comparison (§8.8.3.2): the same opaque tag, weakness ignored."""
        return self.opaque == other.opaque

    def as_weak(self) -> ETag:
        """The weak form of this tag (e.g. for a compressed variant)."""
        return self if self.weak else ETag(self.opaque, weak=True)


@dataclass(frozen=True, slots=True)
class ETagList:
    """The value of ``If-Match`` or ``If-None-Match``: ``*`` or a list of tags.

    >>> ETagList.parse('"a,b", W/"c" ,,').tags
    (ETag(opaque='a,b', weak=False), ETag(opaque='c', weak=True))
    """

    tags: tuple[ETag, ...] = ()
    any: bool = False

    @classmethod
    def parse(cls, value: str, *, field: str = "If-Match") -> ETagList:
        """Parse ``"*" / #entity-tag``; raise :class:`HeaderParseError` otherwise.

        An empty or all-commas value is an empty list, which matches nothing.
        """
        text = value.strip(_OWS)
        if text == "*":
            return cls(any=True)
        single = _ELEMENT_RE.fullmatch(text)
        if single is not None:  # the common case: one tag, no commas to scan for
            return _etag_list((_etag(single.group(2), single.group(1) is not None),))
        tags: list[ETag] = []
        pos, end = 0, len(text)
        while pos < end:
            char = text[pos]
            if char in _OWS or char == ",":
                pos += 1
                continue
            match = _ELEMENT_RE.match(text, pos)
            if match is None:
                raise HeaderParseError(f"{field}: expected an entity-tag at {pos}", field=field)
            tags.append(_etag(match.group(2), match.group(1) is not None))
            pos = match.end()
            while pos < end and text[pos] in _OWS:
                pos += 1
            if pos < end and text[pos] != ",":
                raise HeaderParseError(f"{field}: expected ',' at {pos}", field=field)
        return cls(tuple(tags))

    def __str__(self) -> str:
        return "*" if self.any else ", ".join(str(tag) for tag in self.tags)

    def strong_contains(self, etag: ETag | None) -> bool:
        """True when ``*`` and a representation exists, or a tag matches strongly."""
        if etag is None:
            return False
        if self.any:
            return True
        if etag.weak:
            return False
        opaque = etag.opaque
        return any(not tag.weak and tag.opaque == opaque for tag in self.tags)

    def weak_contains(self, etag: ETag | None) -> bool:
        """True when ``*`` and a representation exists, or a tag matches weakly."""
        if etag is None:
            return False
        if self.any:
            return True
        opaque = etag.opaque
        return any(tag.opaque == opaque for tag in self.tags)


def strong_etag(value: str | None) -> ETag | None:
    """``value`` as one strong entity-tag, or ``None`` when it is absent, unreadable or weak.

    What a client can send in ``If-Match`` or ``If-Range``, which compare
    strongly (RFC 9110 §13.1.1, §13.1.5): a weak or unreadable tag from the
    server is no basis for either.

    >>> strong_etag('"v1"'), strong_etag('W/"v1"'), strong_etag("v1"), strong_etag(None)
    (ETag(opaque='v1', weak=False), None, None, None)
    """
    if value is None:
        return None
    try:
        tag = ETag.parse(value)
    except HeaderParseError:
        return None
    return None if tag.weak else tag


_new = object.__new__
_set = object.__setattr__


def _etag(opaque: str, weak: bool) -> ETag:
    """An ETag whose opaque-tag the caller's regular expression has already validated."""
    tag: ETag = _new(ETag)
    _set(tag, "opaque", opaque)
    _set(tag, "weak", weak)
    return tag


def _etag_list(tags: tuple[ETag, ...]) -> ETagList:
    parsed: ETagList = _new(ETagList)
    _set(parsed, "tags", tags)
    _set(parsed, "any", False)
    return parsed
