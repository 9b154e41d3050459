"""The service's cache policy: which ``Cache-Control`` (and ``Vary``) each response carries.

By default every document, listing and file says ``Cache-Control: no-cache``:
any cache may store it but must revalidate before each reuse (RFC 9111
§5.2.2.4), so nothing stale is ever served, and a shared cache such as nginx's
``proxy_cache`` (which does not store ``no-cache`` responses) only passes
requests through.  An operator who puts caches in front of the service sets
a rule per collection, for every collection, or for the file store::

    ifmatch serve --cache-control 'notes=max-age=0, must-revalidate, s-maxage=60' \\
                  --cache-control '*=no-cache' --cache-control '/files=private, no-cache'

A rule is ``KEY=DIRECTIVES``: ``KEY`` is a collection name (its documents and
its listing), ``*`` (every collection without a rule of its own) or
``/files`` (the file store); the directives are checked against RFC 9111's
grammar when the service starts.

Authenticated requests (RFC 9111 §3.5): a shared cache may store a response
to a request with ``Authorization`` when the response says ``public``,
``s-maxage`` or ``must-revalidate``.  Here only ``public`` opts in: for an
authenticated request any other rule becomes ``private`` (``public``,
``s-maxage`` and ``proxy-revalidate`` dropped), so neither a cache that
follows §3.5 nor one that ignores ``Authorization`` (nginx's ``proxy_cache``)
stores it for others.  With ``public`` every response of the rule also says
``Vary: Authorization``, so a shared cache keys what it stores by the
credentials and never answers one client with what another was allowed to read.

:meth:`CachePolicy.headers` is the one function every response path calls
(it is a dictionary look-up after the first call for a space).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ifmatch.cachecontrol import Directive, format_cache_control, parse_cache_control
from ifmatch.errors import HeaderParseError

DEFAULT = "no-cache"
#: The rule key of the file store (collection names cannot contain a slash).
FILES_KEY = "/files"
EVERY_COLLECTION = "*"
_SHARED_ONLY = frozenset({"public", "s-maxage", "proxy-revalidate"})

Headers = tuple[tuple[str, str], ...]
#: The fields of the default policy for a request without ``Authorization``.
DEFAULT_HEADERS: Headers = (("Cache-Control", DEFAULT),)
#: ... and for one with it (RFC 9111 §3.5).
DEFAULT_AUTHENTICATED: Headers = (("Cache-Control", f"private, {DEFAULT}"),)


class PolicyError(ValueError):
    """A ``--cache-control`` rule that cannot be used, with the reason."""


@dataclass(frozen=True, slots=True)
class _Rule:
    anonymous: Headers
    authenticated: Headers


def _rule(directives: tuple[Directive, ...]) -> _Rule:
    names = {name for name, _ in directives}
    anonymous = (("Cache-Control", format_cache_control(directives)),)
    if "public" in names:
        # Both carry Vary, so a cache never answers either kind of request with the other's.
        both = (*anonymous, ("Vary", "Authorization"))
        return _Rule(both, both)
    if "no-store" in names or "private" in names:
        kept = tuple(d for d in directives if d[0] not in _SHARED_ONLY)
        return _Rule(anonymous, (("Cache-Control", format_cache_control(kept)),))
    private = (("private", None), *(d for d in directives if d[0] not in _SHARED_ONLY))
    return _Rule(anonymous, (("Cache-Control", format_cache_control(private)),))


@dataclass(slots=True)
class CachePolicy:
    """``Cache-Control`` per store space (``doc:<collection>`` or ``file``)."""

    rules: dict[str, str] = field(default_factory=dict)
    _compiled: dict[str, _Rule] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def parse(cls, specs: Iterable[str]) -> CachePolicy:
        """A policy from ``KEY=DIRECTIVES`` rules; raises :class:`PolicyError` with the reason."""
        rules: dict[str, str] = {}
        for spec in specs:
            key, sep, value = spec.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key or not value:
                raise PolicyError(f"{spec!r}: a rule is KEY=DIRECTIVES, e.g. 'notes=no-cache'")
            if key != FILES_KEY and key != EVERY_COLLECTION and not _is_collection(key):
                raise PolicyError(f"{key!r}: the key is a collection name, '*' or '/files'")
            if key in rules:
                raise PolicyError(f"{key!r} has two rules")
            try:
                directives = parse_cache_control(value)
            except HeaderParseError as error:
                raise PolicyError(f"{spec!r}: {error}") from None
            if not directives:
                raise PolicyError(f"{spec!r}: no directives")
            _check(spec, {name for name, _ in directives})
            rules[key] = format_cache_control(directives)
        return cls(rules)

    def value(self, space: str, authenticated: bool = False) -> str:
        """The ``Cache-Control`` value for a response from ``space``."""
        return dict(self.headers(space, authenticated))["Cache-Control"]

    def headers(self, space: str, authenticated: bool = False) -> Headers:
        """``Cache-Control`` (and ``Vary`` when it applies) for a response from ``space``.

        ``authenticated``: the request carried ``Authorization``.  The same
        headers go on the 200 and on its 304 (RFC 9110 §15.4.5).
        """
        rule = self._compiled.get(space)
        if rule is None:
            rule = self._compiled[space] = _rule(parse_cache_control(self._source(space)))
        return rule.authenticated if authenticated else rule.anonymous

    def _source(self, space: str) -> str:
        if space == "file":
            return self.rules.get(FILES_KEY, DEFAULT)
        collection = space.removeprefix("doc:")
        return self.rules.get(collection) or self.rules.get(EVERY_COLLECTION, DEFAULT)


def _is_collection(key: str) -> bool:
    return (
        1 <= len(key) <= 128
        and key not in {".", ".."}
        and all(char.isascii() and (char.isalnum() or char in "._~-") for char in key)
    )


def _check(spec: str, names: set[str]) -> None:
    if "public" in names and ("private" in names or "no-store" in names):
        raise PolicyError(f"{spec!r}: 'public' contradicts 'private' and 'no-store'")
    if "private" in names and "s-maxage" in names:
        raise PolicyError(f"{spec!r}: 's-maxage' is for shared caches, which 'private' excludes")
    request_only = names & {"max-stale", "min-fresh", "only-if-cached"}
    if request_only:
        raise PolicyError(f"{spec!r}: {sorted(request_only)} are request directives")
