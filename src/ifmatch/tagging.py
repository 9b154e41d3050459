"""What the middleware does with a response, decided without any framework.

The ASGI, WSGI and Django middleware all follow these rules, so their
behaviour cannot drift apart:

* Only a 200 answering GET or HEAD is touched.  ``Cache-Control: no-store``
  responses, every other status, and responses whose ``ETag`` cannot be
  parsed are left exactly as the application made them.
* The application's own ``ETag`` and ``Last-Modified`` are used as they are;
  a 200 without an ``ETag`` gets a weak one hashed from its body (weak,
  because equal bytes prove equal content but the app may re-encode JSON
  without changing its meaning: RFC 9110 §8.8.3).
* Then the core decides (§13.2.2): a 304 keeps only the headers
  :func:`ifmatch.not_modified_headers` keeps and has no body; a failed
  ``If-Match``/``If-Unmodified-Since`` on a GET is a 412 problem.
* Content codings (§8.4): a strong ETag is never sent on a content-coded
  body, it is weakened there, as nginx does.  Weakening rather than a
  ``-gzip`` suffix means the client sends back exactly what it received and
  it matches (If-None-Match uses the weak comparison, §13.1.2), with no
  suffix to strip (Apache's bug).  A body coded before the middleware saw it
  is hashed *decoded* (gzip, deflate), so a body has one tag whatever its
  coding and whichever order the middleware and the compressor run in.
  A compressor placed *outside* the middleware codes the body after the
  middleware has answered; with ``coding_outside=True`` the middleware
  weakens strong tags for every request that accepts a coding and keeps
  ``Vary: Accept-Encoding`` on its 304s, because it cannot see what the
  compressor will do.
"""

from __future__ import annotations

import enum
import hashlib
import operator
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar

from ifmatch.conditions import Conditions
from ifmatch.dates import parse_http_date
from ifmatch.errors import HeaderParseError
from ifmatch.etag import ETag
from ifmatch.hashing import DEFAULT_HEX_DIGITS, ContentHasher, Hash, HashFactory, weak_etag
from ifmatch.notmodified import not_modified_headers
from ifmatch.preconditions import Outcome, Resource, evaluate
from ifmatch.problem import decision_problem
from ifmatch.respond import refusal

Headers = list[tuple[str, str]]
Name = TypeVar("Name", str, bytes)

#: Default largest body the middleware holds in memory to hash it (1 MiB).
DEFAULT_MAX_BUFFER = 1 << 20
#: A coded body is decoded for hashing up to this many times its coded size.
_MAX_EXPANSION = 64
_DECODABLE = {"gzip": 47, "x-gzip": 47, "deflate": 15}


def _xxh3() -> Hash:
    import xxhash  # optional extra: ifmatch[xxhash]

    digest: Hash = xxhash.xxh3_128()
    return digest


def _blake2b() -> Hash:
    return hashlib.blake2b(digest_size=16)


#: The callable type a middleware takes for ``hash``.
HashChoice = str | Callable[[], Hash]

HASHES: dict[str, HashFactory] = {"sha256": hashlib.sha256, "xxh3": _xxh3, "blake2b": _blake2b}


def _hex_function(factory: HashFactory) -> Callable[[bytes], str]:
    """``body -> hex digits`` for a hash factory; SHA-256 and XXH3 hash in one call."""
    new = _one_shot(factory)
    if new is not None:

        def one_call(body: bytes) -> str:
            return new(body).hexdigest()[:DEFAULT_HEX_DIGITS]

        return one_call

    def updated(body: bytes) -> str:
        digest = factory()
        digest.update(body)
        return digest.hexdigest()[:DEFAULT_HEX_DIGITS]

    return updated


def _one_shot(factory: HashFactory) -> Callable[[bytes], Hash] | None:
    """The constructor that hashes its argument for a known factory (same digest), or ``None``."""
    if factory is hashlib.sha256:
        return hashlib.sha256
    if factory is _xxh3:
        import xxhash

        one_shot: Callable[[bytes], Hash] = xxhash.xxh3_128
        return one_shot
    return None


def resolve_hash(hash: str | HashFactory) -> HashFactory:
    """A hash factory from a name (``"sha256"``, ``"xxh3"``, ``"blake2b"``) or a callable.

    ``"xxh3"`` needs the ``xxhash`` package (``pip install ifmatch[xxhash]``);
    asking for it without the package fails here, at configuration time.
    """
    if callable(hash):
        return hash
    try:
        factory = HASHES[hash]
    except KeyError:
        raise ValueError(f"unknown hash {hash!r}; choose one of {sorted(HASHES)}") from None
    factory()
    return factory


class Handling(enum.Enum):
    """What a middleware does next with the response it is holding."""

    PASS = enum.auto()  # send it on untouched
    DECIDE = enum.auto()  # the app gave an ETag: decide now, no buffering
    HASH = enum.auto()  # buffer the body (up to the limit), hash it, then decide


class Inspection(NamedTuple):
    """The validators found in the app's response and what to do with them."""

    handling: Handling
    etag: ETag | None = None
    last_modified: str | None = None  # raw; parsed only when a request asks about it
    coding: str | None = None
    weaken: bool = False


LEAVE_ALONE = Inspection(Handling.PASS)
HASH_BODY = Inspection(Handling.HASH)


class Verdict(NamedTuple):
    """What to send: ``status`` 200 (the app's response), 304 or 412.

    ``etag`` is the ETag to set, replacing the app's, or ``None`` to leave
    the header as it is; ``vary`` asks for ``Vary: Accept-Encoding`` (on a
    304 when a compressor runs outside); ``body`` is the 412's problem.
    """

    status: int
    etag: str | None = None
    vary: bool = False
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class TaggingPolicy:
    """The middleware's settings, shared by every request."""

    hash_factory: HashFactory = hashlib.sha256
    max_buffer: int = DEFAULT_MAX_BUFFER
    coding_outside: bool = False
    #: A Content-Length shorter than this many characters is within ``max_buffer``
    #: (or unreadable, which counts as 0), so it needs no ``int()``.
    length_digits: int = field(init=False, repr=False, compare=False)
    #: The opaque part of a body's weak ETag: its hash's first hex digits.
    hex_of: Callable[[bytes], str] = field(init=False, repr=False, compare=False)
    #: ``hash_factory``'s constructor that hashes its argument (SHA-256, XXH3), or ``None``:
    #: a hot path calls it inline, saving :attr:`hex_of`'s Python frame.
    one_shot: Callable[[bytes], Hash] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "length_digits", len(str(self.max_buffer)))
        object.__setattr__(self, "hex_of", _hex_function(self.hash_factory))
        object.__setattr__(self, "one_shot", _one_shot(self.hash_factory))

    @classmethod
    def build(
        cls,
        hash: str | HashFactory = "sha256",
        max_buffer: int = DEFAULT_MAX_BUFFER,
        coding_outside: bool = False,
    ) -> TaggingPolicy:
        """Validate the settings once, when the middleware is created."""
        if max_buffer < 0:
            raise ValueError("max_buffer must be >= 0 bytes")
        factory = resolve_hash(hash)
        ContentHasher(factory).etag()  # fails now if the hash is too short for an ETag
        return cls(factory, max_buffer, coding_outside)

    def context(
        self,
        method: str,
        headers: Iterable[tuple[str | bytes, str | bytes]],
        *,
        hashable: bool = True,
    ) -> ReadContext:
        """Start handling one GET/HEAD request, given its headers (str or bytes pairs).

        ``hashable=False`` says the body will not be the representation (a
        HEAD the app answers without one), so an untagged response stays so.
        """
        fields: list[tuple[str, str]] = []
        accept: list[str] = []
        for name, value in headers:
            # ASGI request header names are lower-case (ASGI spec, HTTP scope).
            key = _REQUEST_NAMES.get(name) if isinstance(name, bytes) else name.lower()
            if key in _CONDITIONAL:
                fields.append((key, _text(value)))
            elif key == "accept-encoding":
                accept.append(_text(value))
        return self.context_fields(method, tuple(fields), ", ".join(accept), hashable=hashable)

    def context_fields(
        self,
        method: str,
        fields: tuple[tuple[str, str], ...],
        accept_encoding: str,
        *,
        hashable: bool = True,
    ) -> ReadContext:
        """:meth:`context` from fields already picked: the precondition fields (lower-case
        names, in request order) and the Accept-Encoding value (``""`` when absent).

        For an adapter whose request already holds them by name (Django's ``META``).
        """
        downstream = self.coding_outside and accepts_coding(accept_encoding)
        return ReadContext(self, method.upper(), fields, bool(fields), downstream, hashable)

    def context_raw(
        self, method: str, headers: Iterable[tuple[bytes, bytes]], *, hashable: bool = True
    ) -> ReadContext:
        """:meth:`context` for ASGI's byte-string pairs, whose names are lower-case."""
        pairs = headers if isinstance(headers, list) else list(headers)
        fields = tuple(
            [
                (_RAW_CONDITIONAL[name], value.decode("latin-1"))
                for name, value in pairs
                if name in _RAW_CONDITIONAL
            ]
        )
        downstream = self.coding_outside and accepts_coding(
            b", ".join([value for name, value in pairs if name == b"accept-encoding"]).decode(
                "latin-1"
            )
        )
        return ReadContext(self, method.upper(), fields, bool(fields), downstream, hashable)

    def unconditional(self, method: str, *, hashable: bool = True) -> ReadContext:
        """The exchange of a request with no precondition field and no Accept-Encoding to heed.

        What :meth:`context` returns for such a request; it holds no per-request state,
        so a middleware may build it once and reuse it.
        """
        return ReadContext(self, method.upper(), (), False, False, hashable)


App = TypeVar("App")


class TaggingMiddleware(Generic[App]):
    """What the ASGI and WSGI middleware share: the wrapped app and the settings.

    ``hash``: ``"sha256"`` (default, standard library), ``"xxh3"`` (needs
    ``ifmatch[xxhash]``, several times faster), ``"blake2b"`` or a factory
    with hashlib's interface.  ``max_buffer``: largest body held to hash it.
    ``coding_outside``: set it when a compressor wraps the middleware (see
    this module's docstring).  ``head_as_get``: run HEAD as GET inside, so
    HEAD gets exactly GET's validators (RFC 9110 §9.3.2).
    """

    def __init__(
        self,
        app: App,
        *,
        hash: HashChoice = "sha256",
        max_buffer: int = DEFAULT_MAX_BUFFER,
        coding_outside: bool = False,
        head_as_get: bool = True,
    ) -> None:
        self.app = app
        self.policy = policy = TaggingPolicy.build(hash, max_buffer, coding_outside)
        self.head_as_get = head_as_get
        # A request without preconditions (the usual one) shares one of these.
        self._get = policy.unconditional("GET")
        self._head = policy.unconditional("HEAD", hashable=head_as_get)
        self._coding_outside = coding_outside


_CONDITIONAL = frozenset({"if-match", "if-none-match", "if-modified-since", "if-unmodified-since"})
_NO_CONDITIONS = Conditions()
_READS = frozenset({"GET", "HEAD"})
_REQUEST_NAMES = {name.encode(): name for name in (*_CONDITIONAL, "accept-encoding")}
_RAW_CONDITIONAL = {name.encode(): name for name in _CONDITIONAL}
#: The request fields the middleware evaluates, as ASGI names them (lower-case bytes).
PRECONDITION_NAMES = frozenset(_RAW_CONDITIONAL)
#: The response fields the middleware reads, in the order :meth:`ReadContext.inspect` unpacks them.
_SLOTS = {
    name: index
    for index, name in enumerate(
        (
            "etag",
            "last-modified",
            "cache-control",
            "content-encoding",
            "content-type",
            "content-length",
        )
    )
}
_RAW_SLOTS = {name.encode(): index for name, index in _SLOTS.items()}
#: Fields sent on several lines: validators make the response unreadable (left alone), list
#: fields are joined; for Content-Type and Content-Length the last line wins, as in the fast
#: paths (they only steer buffering, never a 304).
_VALIDATOR_SLOTS = frozenset({_SLOTS["etag"], _SLOTS["last-modified"]})
_COMBINED_SLOTS = _VALIDATOR_SLOTS | {_SLOTS["cache-control"], _SLOTS["content-encoding"]}


@dataclass(slots=True)
class ReadContext:
    """One GET/HEAD request going through the middleware."""

    policy: TaggingPolicy
    method: str
    #: The request's precondition fields (lower-case names, raw values): parsed by the
    #: core only when a decision needs more than the usual revalidation shortcut.
    fields: tuple[tuple[str, str], ...]
    conditional: bool  # the request carries a precondition the middleware evaluates
    coded_downstream: bool  # a compressor outside may code the body (coding_outside)
    hashable: bool = True

    def inspect(
        self, status: int, headers: Iterable[tuple[str | bytes, str | bytes]]
    ) -> Inspection:
        """Read the app's response head (str or bytes pairs) and choose pass, decide or hash."""
        if status != 200:
            return LEAVE_ALONE
        found: list[str | None] = [None] * len(_SLOTS)
        for name, value in headers:
            if isinstance(name, bytes):
                slot = _RAW_SLOTS.get(name)
                if slot is None and not name.islower():
                    slot = _RAW_SLOTS.get(name.lower())
            else:
                slot = _SLOTS.get(name.lower())
            if slot is None:
                continue
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            previous = found[slot]
            if previous is None or slot not in _COMBINED_SLOTS:
                found[slot] = text
            elif slot in _VALIDATOR_SLOTS:
                # A validator sent twice cannot be read: §5.3 allows no combining, and
                # choosing either value could give a wrong 304.  Leave the response alone.
                return LEAVE_ALONE
            else:
                found[slot] = f"{previous}, {text}"  # one list field on several lines (§5.3)
        return self._plan(*found)

    def inspect_raw(self, status: int, headers: list[tuple[bytes, bytes]]) -> Inspection:
        """:meth:`inspect` for ASGI's byte-string pairs, with a fast path for the usual 200.

        The usual response to hash has, of the fields that matter, only a
        Content-Type and a Content-Length: those are read here without decoding
        anything.  Any other field that matters (or a name that is not lower
        case, as ASGI asks it to be) sends the head to :meth:`inspect`.
        """
        if status != 200:
            return LEAVE_ALONE
        media_type = length = None
        for name, value in headers:
            if name == b"content-type":
                media_type = value
            elif name == b"content-length":
                length = value
            elif name in _RAW_SLOTS or not name.islower():
                return self.inspect(status, headers)
        if not self.hashable or (
            media_type is not None
            and len(media_type) >= 17
            and media_type[:17].lower() == b"text/event-stream"
        ):
            return LEAVE_ALONE
        if (
            length is not None
            and len(length) >= self.policy.length_digits
            and _length(length) > self.policy.max_buffer
        ):
            return LEAVE_ALONE
        return HASH_BODY

    def inspect_text(self, status: int, headers: Iterable[tuple[str, str]]) -> Inspection:
        """:meth:`inspect` for str pairs (WSGI, Django), with :meth:`inspect_raw`'s fast path."""
        if status != 200:
            return LEAVE_ALONE
        media_type = length = None
        for name, value in headers:
            key = name.lower()
            if key == "content-type":
                media_type = value
            elif key == "content-length":
                length = value
            elif key in _SLOTS:
                return self.inspect(status, headers)
        if not self.hashable or (
            media_type is not None
            and len(media_type) >= 17
            and media_type[:17].lower() == "text/event-stream"
        ):
            return LEAVE_ALONE
        if (
            length is not None
            and len(length) >= self.policy.length_digits
            and _length(length) > self.policy.max_buffer
        ):
            return LEAVE_ALONE
        return HASH_BODY

    def _plan(
        self,
        raw_etag: str | None,
        modified: str | None,
        control: str | None,
        coding: str | None,
        media_type: str | None,
        length: str | None,
    ) -> Inspection:
        """The rules of the module docstring applied to a 200's fields (``None`` = absent)."""
        if control is not None and "no-store" in _tokens(control):
            return LEAVE_ALONE
        if coding is not None:
            coding = coding.strip().lower()
            if coding in ("", "identity"):
                coding = None
        if raw_etag is not None:
            try:
                etag = ETag.parse(raw_etag)
            except HeaderParseError:
                return LEAVE_ALONE
            weaken = not etag.weak and (coding is not None or self.coded_downstream)
            return Inspection(Handling.DECIDE, etag, modified, coding, weaken)
        if (
            not self.hashable
            or (media_type is not None and media_type[:17].lower() == "text/event-stream")
            or (length is not None and _length(length) > self.policy.max_buffer)
        ):
            return LEAVE_ALONE
        if modified is None and coding is None:
            return HASH_BODY
        return Inspection(Handling.HASH, None, modified, coding)

    def tag(self, plan: Inspection, body: list[bytes]) -> str:
        """The opaque part of the weak ETag of a buffered body (decoded if gzip/deflate)."""
        if plan.coding is not None:
            body = _decoded(body, plan.coding) or body
        digest = self.policy.hash_factory()
        for chunk in body:
            digest.update(chunk)
        return digest.hexdigest()[:DEFAULT_HEX_DIGITS]

    def tag_body(self, plan: Inspection, body: bytes) -> str:
        """:meth:`tag` for a body held as one byte string (the usual case)."""
        if plan.coding is not None:
            return self.tag(plan, [body])
        return self.policy.hex_of(body)

    def _sends_back(self, hashed: str, weak: str) -> bool:
        """The usual revalidation, decided without parsing: ``If-None-Match: W/"<hashed>"``.

        ``weak`` is ``weak_etag(hashed)``, which the caller has built already.

        With If-None-Match the only field besides the absent If-Match and
        If-Unmodified-Since, §13.2.2 decides by If-None-Match alone, and a
        value that is exactly our tag (weak or strong form) matches under the
        weak comparison (§13.1.2): a 304 for GET/HEAD, as :func:`evaluate`
        would say.  Anything else goes to :func:`evaluate`.
        """
        if self.method not in _READS:
            return False
        value = None
        for name, field_value in self.fields:
            if name == "if-none-match":
                if value is not None:
                    return False  # on several lines: the core joins them
                value = field_value
            elif name != "if-modified-since":  # If-Match, If-Unmodified-Since
                return False
        if value is None:
            return False
        value = value.strip(" \t")
        return value == weak or value == f'"{hashed}"'

    @property
    def conditions(self) -> Conditions:
        """The request's preconditions, gathered by the core (RFC 9110 §13.1)."""
        return Conditions.from_headers(self.fields) if self.fields else _NO_CONDITIONS

    def decide(self, plan: Inspection, hashed: str | None = None) -> Verdict:
        """Evaluate the request against the response's validators (§13.2.2).

        ``hashed`` is :meth:`tag`'s result for a body without an ETag.
        """
        if plan.etag is not None:
            tag = plan.etag.as_weak() if plan.weaken else plan.etag
            new = str(tag) if plan.weaken else None
        else:
            if hashed is None:
                raise ValueError("a response without an ETag needs its body's hash")
            new = weak_etag(hashed)
            if not self.conditional:
                return Verdict(200, new)  # the common case: nothing to evaluate
            if self._sends_back(hashed, new):
                return Verdict(304, new, self.coded_downstream)  # positional: measured cheaper
            tag = ETag(hashed, weak=True)
        if not self.conditional:
            return Verdict(200, new)
        resource = Resource(tag, _date(plan.last_modified))
        decision = evaluate(self.method, self.conditions, resource)
        if decision.outcome is Outcome.NOT_MODIFIED:
            return Verdict(304, str(tag), vary=self.coded_downstream)
        if decision.outcome is Outcome.PRECONDITION_FAILED:
            return Verdict(412, str(tag), body=decision_problem(decision, str(tag)))
        return Verdict(200, new)


def reply_headers(headers: list[tuple[str, str]], verdict: Verdict) -> list[tuple[str, str]]:
    """The app's headers turned into those of the verdict's response (WSGI, Django)."""
    if verdict.status == 412:
        return _refusal(headers, verdict)
    if verdict.etag is not None:
        headers = [pair for pair in headers if pair[0].lower() != "etag"]
        headers.append(("etag", verdict.etag))
    if verdict.status == 304:
        headers = _not_modified(headers)
        if verdict.vary and not _varies_on_coding(headers):
            headers.append(("vary", "Accept-Encoding"))
    return headers


def reply_raw_headers(
    headers: list[tuple[bytes, bytes]], verdict: Verdict
) -> list[tuple[bytes, bytes]]:
    """:func:`reply_headers` for ASGI's byte-string pairs."""
    if verdict.status == 412:
        text = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]
        return [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in _refusal(text, verdict)
        ]
    if verdict.etag is not None:
        headers = [pair for pair in headers if pair[0].lower() != b"etag"]
        headers.append((b"etag", verdict.etag.encode("latin-1")))
    if verdict.status == 304:
        headers = _not_modified(headers)
        if verdict.vary and not _varies_on_coding(headers):
            headers.append((b"vary", b"Accept-Encoding"))
    return headers


def _refusal(headers: list[tuple[str, str]], verdict: Verdict) -> list[tuple[str, str]]:
    """The 412's fields, as :func:`ifmatch.respond.refusal` decides them for every path."""
    modified = next((value for name, value in headers if name.lower() == "last-modified"), None)
    return refusal(412, verdict.body or b"", verdict.etag, modified, headers).headers


_first = operator.itemgetter(0)
#: Name sequence -> indices of the fields a 304 keeps, as the core decided them.
_KEPT_ON_304: dict[tuple[str | bytes, ...], tuple[int, ...]] = {}


def _not_modified(headers: list[tuple[Name, Name]]) -> list[tuple[Name, Name]]:
    """:func:`ifmatch.not_modified_headers`, memoized by the sequence of names.

    The core chooses the fields a 304 keeps by their names alone (§15.4.5),
    and an app sends a handful of distinct name sequences, so each sequence
    is decided once by the core and then replayed.
    """
    names = tuple(map(_first, headers))  # map and itemgetter: no comprehension frame
    kept = _KEPT_ON_304.get(names)
    if kept is None:
        probe: list[tuple[Any, Any]] = [
            (name, b"%d" % index if isinstance(name, bytes) else str(index))
            for index, name in enumerate(names)
        ]
        kept = tuple(int(value) for _, value in not_modified_headers(probe))
        if len(_KEPT_ON_304) >= 256:
            _KEPT_ON_304.clear()  # bounded: an app with ever-new names only loses the memo
        _KEPT_ON_304[names] = kept
    return list(map(headers.__getitem__, kept))


def accepts_coding(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding value admits any content coding but identity (§12.5.3)."""
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        if not coding or coding == "identity":
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            return True
    return False


def _decoded(chunks: list[bytes], coding: str) -> list[bytes] | None:
    """The decoded body, or ``None`` (hash the coded bytes) when it can't be decoded safely."""
    wbits = _DECODABLE.get(coding)
    if wbits is None:
        return None
    limit = _MAX_EXPANSION * max(sum(len(chunk) for chunk in chunks), 1024)
    decoder = zlib.decompressobj(wbits)
    out: list[bytes] = []
    size = 0
    try:
        for chunk in chunks:
            data = chunk
            while data:
                piece = decoder.decompress(data, limit - size + 1)
                size += len(piece)
                if size > limit:
                    return None
                out.append(piece)
                data = decoder.unconsumed_tail
        out.append(decoder.flush())
    except zlib.error:
        return None
    return out


def _varies_on_coding(headers: Iterable[tuple[str | bytes, str | bytes]]) -> bool:
    listed = {
        token
        for name, value in headers
        if _lower(name) == "vary"
        for token in _tokens(_text(value))
    }
    return "accept-encoding" in listed or "*" in listed


def _lower(name: str | bytes) -> str:
    return (name.decode("latin-1") if isinstance(name, bytes) else name).lower()


def _tokens(value: str) -> set[str]:
    return {item.strip().partition("=")[0].strip().lower() for item in value.split(",")}


def _date(value: str | None) -> datetime | None:
    """A Last-Modified the app sent, or ``None`` when absent or unreadable (then ignored)."""
    if value is None:
        return None
    try:
        return parse_http_date(value)
    except HeaderParseError:
        return None


def _length(value: str | bytes) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value
