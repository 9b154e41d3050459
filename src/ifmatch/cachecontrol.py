"""The ``Cache-Control`` field (RFC 9111 §5.2): parse it into directives and write it back.

Sans-IO and dependency-free, like the rest of the core.  The grammar is
``#( token [ "=" ( token / quoted-string ) ] )`` (§5.2); directive names are
case-insensitive (kept lower-cased here), arguments are kept as given
(quoted strings unquoted).

>>> parse_cache_control('max-age=0, must-revalidate, S-MAXAGE=60, private="Set-Cookie"')
(('max-age', '0'), ('must-revalidate', None), ('s-maxage', '60'), ('private', 'Set-Cookie'))
>>> format_cache_control([("max-age", "0"), ("private", "Set-Cookie")])
'max-age=0, private="Set-Cookie"'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ifmatch.errors import HeaderParseError

Directive = tuple[str, str | None]

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # noqa: S105 - RFC 9110 §5.6.2's tchar
_QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\t\x20-\x7e\x80-\xff])*"'
_DIRECTIVE_RE = re.compile(rf"[ \t]*({_TOKEN})(?:[ \t]*=[ \t]*({_TOKEN}|{_QUOTED}))?[ \t]*")
_TOKEN_RE = re.compile(_TOKEN)
_ESCAPE_RE = re.compile(r"\\(.)")
#: Directives whose argument is delta-seconds (§1.2.2), checked by :func:`parse_cache_control`.
DELTA_SECONDS = frozenset({"max-age", "s-maxage", "max-stale", "min-fresh"})


def parse_cache_control(value: str) -> tuple[Directive, ...]:
    """The directives of one ``Cache-Control`` field value, in order.

    Raises :class:`ifmatch.HeaderParseError` for anything outside the
    grammar, and for a delta-seconds directive whose argument is not digits
    (``max-stale`` may go without one, §5.2.1.2).  Empty list elements are
    skipped, as §5.6.1 of RFC 9110 asks of a recipient.
    """
    directives: list[Directive] = []
    for element in split_list(value):
        match = _DIRECTIVE_RE.fullmatch(element)
        if match is None:
            raise HeaderParseError(
                f"not a Cache-Control directive: {element.strip()!r}", field="Cache-Control"
            )
        name, argument = match.group(1).lower(), match.group(2)
        if argument is not None and argument.startswith('"'):
            argument = _ESCAPE_RE.sub(r"\1", argument[1:-1])
        if name in DELTA_SECONDS and not _delta_seconds(name, argument):
            raise HeaderParseError(
                f"{name} takes delta-seconds, not {argument!r}", field="Cache-Control"
            )
        directives.append((name, argument))
    return tuple(directives)


def format_cache_control(directives: Iterable[Directive]) -> str:
    """The field value for ``directives`` (arguments that are not tokens are quoted)."""
    parts = []
    for name, argument in directives:
        if argument is None:
            parts.append(name)
        elif _TOKEN_RE.fullmatch(argument):
            parts.append(f"{name}={argument}")
        else:
            escaped = argument.replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'{name}="{escaped}"')
    return ", ".join(parts)


def _delta_seconds(name: str, argument: str | None) -> bool:
    if argument is None:
        return name == "max-stale"
    return argument.isascii() and argument.isdigit()


def split_list(value: str) -> list[str]:
    """The elements of a comma-separated field value, commas inside quoted strings kept.

    Each element is stripped of spaces and tabs, and empty elements are left out, as
    RFC 9110 §5.6.1 asks of a recipient.  Shared by every list-valued field ifmatch reads
    by hand (``Cache-Control`` here, ``Pragma`` and others in the client's cache).

    >>> split_list('no-cache, , private="a, b",max-age=0')
    ['no-cache', 'private="a, b"', 'max-age=0']
    """
    elements, start, quoted, escaped = [], 0, False, False
    for index, char in enumerate(value):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            elements.append(value[start:index])
            start = index + 1
    elements.append(value[start:])
    return [stripped for element in elements if (stripped := element.strip(" \t"))]
