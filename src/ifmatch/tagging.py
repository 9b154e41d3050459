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
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from ifmatch.conditions import Conditions
from ifmatch.dates import parse_http_date
from ifmatch.errors import HeaderParseError
from ifmatch.etag import ETag
from ifmatch.hashing import ContentHasher, Hash, HashFactory
from ifmatch.notmodified import not_modified_headers
from ifmatch.preconditions import Outcome, Resource, evaluate
from ifmatch.problem import PROBLEM_JSON, decision_problem

Headers = list[tuple[str, str]]

#: Default largest body the middleware holds in memory to hash it (1 MiB).
DEFAULT_MAX_BUFFER = 1 << 20
#: A coded body is decoded for hashing up to this many times its coded size.
_MAX_EXPANSION = 64
_DECODABLE = {"gzip": 47, "x-gzip": 47, "deflate": 15}


def _sha256() -> Hash:
    return hashlib.sha256()


def _xxh3() -> Hash:
    import xxhash  # optional extra: ifmatch[xxhash]

    digest: Hash = xxhash.xxh3_128()
    return digest


def _blake2b() -> Hash:
    return hashlib.blake2b(digest_size=16)


HASHES: dict[str, HashFactory] = {"sha256": _sha256, "xxh3": _xxh3, "blake2b": _blake2b}


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


class Action(enum.Enum):
    """What a middleware does next with the response it is holding."""

    PASS = enum.auto()  # send it on untouched
    DECIDE = enum.auto()  # the app gave an ETag: decide now, no buffering
    HASH = enum.auto()  # buffer the body (up to the limit), hash it, then decide


@dataclass(frozen=True, slots=True)
class Plan:
    """The validators found in the app's response and what to do with them."""

    action: Action
    etag: ETag | None = None
    last_modified: datetime | None = None
    coding: str | None = None
    weaken: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """The response to send: ``body`` ``None`` means "the app's own body"."""

    status: int
    headers: Headers
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class TaggingPolicy:
    """The middleware's settings, shared by every request."""

    hash_factory: HashFactory = _sha256
    max_buffer: int = DEFAULT_MAX_BUFFER
    coding_outside: bool = False

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
        return cls(resolve_hash(hash), max_buffer, coding_outside)

    def exchange(
        self,
        method: str,
        headers: Iterable[tuple[str | bytes, str | bytes]],
        *,
        hashable: bool = True,
    ) -> Exchange:
        """Start handling one GET/HEAD request, given its headers.

        ``hashable=False`` says the body will not be the representation (a
        HEAD the app answers without one), so an untagged response stays so.
        """
        pairs = list(headers)
        accept = ", ".join(
            _text(value) for name, value in pairs if _text(name).lower() == "accept-encoding"
        )
        conditions = Conditions.from_headers(pairs)
        return Exchange(self, method.upper(), conditions, accepts_coding(accept), hashable)


@dataclass(slots=True)
class Exchange:
    """One GET/HEAD request going through the middleware."""

    policy: TaggingPolicy
    method: str
    conditions: Conditions
    accepts_coding: bool
    hashable: bool = True

    def inspect(self, status: int, headers: Headers) -> Plan:
        """Read the app's response head and choose pass, decide or hash."""
        if status != 200:
            return Plan(Action.PASS)
        fields = {name.lower(): value for name, value in headers}
        if "no-store" in _tokens(fields.get("cache-control", "")):
            return Plan(Action.PASS)
        coding = fields.get("content-encoding", "").strip().lower() or None
        if coding == "identity":
            coding = None
        last_modified = _date(fields.get("last-modified"))
        downstream = self.policy.coding_outside and self.accepts_coding
        raw_etag = fields.get("etag")
        if raw_etag is not None:
            try:
                etag = ETag.parse(raw_etag)
            except HeaderParseError:
                return Plan(Action.PASS)
            weaken = not etag.weak and (coding is not None or downstream)
            return Plan(Action.DECIDE, etag, last_modified, coding, weaken)
        media_type = fields.get("content-type", "").partition(";")[0].strip().lower()
        too_big = _length(fields) > self.policy.max_buffer
        if not self.hashable or media_type == "text/event-stream" or too_big:
            return Plan(Action.PASS)
        return Plan(Action.HASH, None, last_modified, coding)

    def tag(self, plan: Plan, body: Iterable[bytes]) -> ETag:
        """The weak ETag of a buffered body, hashed decoded when it is gzip/deflate coded."""
        chunks = list(body)
        decoded = _decoded(chunks, plan.coding) if plan.coding else None
        hasher = ContentHasher(self.policy.hash_factory)
        for chunk in decoded if decoded is not None else chunks:
            hasher.update(chunk)
        return hasher.etag()

    def decide(self, plan: Plan, headers: Headers, etag: ETag | None = None) -> Reply:
        """Evaluate the request against the response's validators.

        Returns the 304 or 412 to send instead, or the 200 with its ETag
        added or weakened (``body`` ``None``: send the app's body).
        """
        tag = etag or plan.etag
        if tag is not None and plan.weaken:
            tag = tag.as_weak()
        if tag is not None and (tag != plan.etag or plan.weaken):
            headers = [(n, v) for n, v in headers if n.lower() != "etag"] + [("etag", str(tag))]
        decision = evaluate(self.method, self.conditions, Resource(tag, plan.last_modified))
        if decision.outcome is Outcome.NOT_MODIFIED:
            kept = not_modified_headers(headers)
            if self.policy.coding_outside and self.accepts_coding:
                kept = _with_vary(kept, "Accept-Encoding")
            return Reply(304, kept, b"")
        if decision.outcome is Outcome.PRECONDITION_FAILED:
            body = decision_problem(decision, str(tag) if tag is not None else None)
            failed: Headers = [("content-type", PROBLEM_JSON), ("content-length", str(len(body)))]
            if tag is not None:
                failed.append(("etag", str(tag)))
            return Reply(412, failed, body)
        return Reply(200, headers)


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


def _with_vary(headers: Headers, field: str) -> Headers:
    listed = {token for name, value in headers if name.lower() == "vary" for token in
              _tokens(value)}
    if field.lower() in listed or "*" in listed:
        return headers
    return [*headers, ("vary", field)]


def _tokens(value: str) -> set[str]:
    return {item.strip().partition("=")[0].strip().lower() for item in value.split(",")}


def _date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_http_date(value)
    except HeaderParseError:
        return None


def _length(fields: dict[str, str]) -> int:
    try:
        return int(fields.get("content-length", "0"))
    except ValueError:
        return 0


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


#: The callable type a middleware takes for ``hash``.
HashChoice = str | Callable[[], Hash]
