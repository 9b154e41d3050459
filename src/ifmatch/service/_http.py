"""HTTP plumbing for the service: problem responses, bounded bodies, JSON, names and paths.

Every error the service sends is ``application/problem+json`` (RFC 9457),
built by :func:`ifmatch.problem`; handlers raise :class:`Problem` and one
exception handler turns it into the response.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
import unicodedata
from typing import Any, BinaryIO

from starlette.requests import Request
from starlette.responses import Response

from ifmatch import PROBLEM_JSON, problem

_NAME_RE = re.compile(r"[A-Za-z0-9._~-]{1,128}", re.ASCII)
_MAX_PATH = 1024
_SPOOL_IN_MEMORY = 1024 * 1024


class Problem(Exception):
    """An error to answer with a problem+json body; ``headers`` go on the response."""

    def __init__(
        self,
        status: int,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers, self.extra = status, detail, headers or {}, extra

    def response(self) -> Response:
        """The problem+json response."""
        return problem_response(self.status, self.detail, self.headers, **self.extra)


def problem_response(
    status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    """A problem+json response (RFC 9457) with optional headers and extension members.

    Errors are never stored by caches (``Cache-Control: no-store``): they
    describe one request, and a stored 404 or 412 would outlive the state
    that caused it.
    """
    return Response(
        problem(status, detail, **extra),
        status,
        headers={"Cache-Control": "no-store", **(headers or {})},
        media_type=PROBLEM_JSON,
    )


def is_name(value: str) -> bool:
    """Whether ``value`` is a valid collection or document id (see :func:`check_name`)."""
    return _NAME_RE.fullmatch(value) is not None and value not in {".", ".."}


def check_name(value: str, what: str) -> str:
    """A collection or document id: 1-128 unreserved URI characters, not ``.`` or ``..``."""
    if not is_name(value):
        raise Problem(400, f"invalid {what}: use 1-128 characters from A-Z a-z 0-9 . _ ~ -")
    return value


def file_path(raw: str) -> str:
    """Normalize a ``/files/`` path: drop empty segments; refuse ``.``, ``..`` and controls.

    The store is a database, not a file system, but a path that could
    name a parent directory anywhere it is reused must never be accepted:
    that includes segments that become ``.``, ``..``, a slash or a control
    under Unicode compatibility normalization (NFKC: ``U+FF0E U+FF0E`` is a
    fullwidth ``..``), which a file system or a later export may apply.
    U+FFFD is refused too: the server decodes an invalid UTF-8 escape
    (``%ff``) to it, so every invalid spelling would name the same file.
    """
    segments = [segment for segment in raw.split("/") if segment]
    if not segments:
        raise Problem(400, "a file path is required after /files/")
    for segment in segments:
        folded = unicodedata.normalize("NFKC", segment) if not segment.isascii() else segment
        if folded in {".", ".."}:
            raise Problem(400, "'.' and '..' are not allowed in file paths")
        if any(ord(char) < 0x20 or char in "\x7f\\/" for char in folded):
            raise Problem(
                400,
                "control characters, backslashes and look-alike slashes are not allowed"
                " in file paths",
            )
    path = "/".join(segments)
    if len(path.encode("utf-8", "surrogatepass")) > _MAX_PATH:
        raise Problem(400, f"file paths are limited to {_MAX_PATH} bytes")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise Problem(400, "file paths must be valid UTF-8") from None
    if "\ufffd" in path:
        raise Problem(400, "file paths must be valid UTF-8 (U+FFFD stands for an invalid escape)")
    return path


def media_type(request: Request) -> tuple[str, dict[str, str]]:
    """The request's media type, lower-cased, and its parameters."""
    value = request.headers.get("content-type", "")
    kind, _, rest = value.partition(";")
    params = {}
    for item in rest.split(";"):
        name, sep, param = item.partition("=")
        if sep:
            params[name.strip().lower()] = param.strip().strip('"').lower()
    return kind.strip().lower(), params


def refuse_content_coding(request: Request) -> None:
    """415 for a request body with a content coding (RFC 9110 §15.5.16): stored bytes are raw.

    A transfer coding other than ``chunked`` is refused too (400): the server
    hands the content over de-chunked but still gzip-coded, and storing
    that would store other bytes than the client meant (RFC 9112 §6.1).
    """
    transfer = request.headers.get("transfer-encoding")
    if transfer is not None:
        codings = [coding.strip().lower() for coding in transfer.split(",")]
        if any(coding not in {"chunked", ""} for coding in codings):
            raise Problem(400, f"only the chunked transfer coding is supported, not {transfer!r}")
    coding = request.headers.get("content-encoding", "identity").strip().lower()
    if coding not in {"", "identity"}:
        raise Problem(
            415, f"content coding {coding!r} is not supported", {"Accept-Encoding": "identity"}
        )


def _declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise Problem(413, f"the request content is limited to {limit} bytes", limit=limit)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole request content, refusing (413) as soon as it exceeds ``limit`` bytes."""
    _declared_length(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, f"the request content is limited to {limit} bytes", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def spool_body(request: Request, limit: int) -> tuple[BinaryIO, int]:
    """Stream the request content into a temporary file (413 past ``limit``); caller closes it."""
    _declared_length(request, limit)
    spool: Any = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Problem(413, f"the request content is limited to {limit} bytes", limit=limit)
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    file: BinaryIO = spool
    return file, size


#: The deepest nesting of arrays and objects a request's JSON may have (``[]`` is 1).
MAX_JSON_DEPTH = 128
#: The most digits an integer in a request's JSON may have.
MAX_JSON_DIGITS = 1000


class _Unacceptable(ValueError):
    """JSON that parses but is refused; the message is fit for the client."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Unacceptable(f"the number {text[:40]} is out of range")
    return value


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_DIGITS:
        raise _Unacceptable(f"integers are limited to {MAX_JSON_DIGITS} digits")
    return int(text)


def _no_constants(text: str) -> Any:
    raise _Unacceptable(f"{text} is not JSON")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose member names are unique (RFC 8259 §4; RFC 6902 §4 needs one ``op``)."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _Unacceptable(f"the member name {name[:40]!r} appears twice in an object")
            seen.add(name)
    return value


def nests_deeper(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels (without recursing)."""
    pending = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        item, depth = pending.pop()
        if not isinstance(item, dict | list):  # a patch's result may be a scalar
            continue
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


#: The decoders of :func:`parse_json`, made once (``json.loads`` with hooks makes one a call).
_LENIENT = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constants)
_STRICT = json.JSONDecoder(
    parse_float=_finite,
    parse_constant=_no_constants,
    parse_int=_integer,
    object_pairs_hook=_unique_object,
)


def parse_json(data: bytes, *, strict: bool = True) -> Any:
    """Parse UTF-8 JSON text (RFC 8259): no NaN/Infinity, no overflowing numbers.

    ``strict`` (a request's content) also refuses a repeated member name,
    nesting deeper than :data:`MAX_JSON_DEPTH` and integers longer than
    :data:`MAX_JSON_DIGITS`; stored documents are read without those checks.
    Messages name what is wrong and where, never the parser's internals.
    """
    try:
        text = data.decode("utf-8")
        if text.startswith("\ufeff"):
            raise _Unacceptable("it starts with a byte order mark (RFC 8259 §8.1)")
        value = (_STRICT if strict else _LENIENT).decode(text)
    except UnicodeDecodeError:
        raise Problem(400, "the request content is not UTF-8 (RFC 8259 §8.1)") from None
    except json.JSONDecodeError as error:
        what = error.msg.removesuffix(" at").removesuffix(" starting")
        where = f"line {error.lineno}, column {error.colno}"
        raise Problem(400, f"invalid JSON: {what} ({where})") from None
    except _Unacceptable as error:
        raise Problem(400, f"invalid JSON: {error}") from None
    except RecursionError:
        raise Problem(400, f"invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:
        raise Problem(400, "invalid JSON: a value cannot be read") from None
    # Fewer brackets than the limit cannot nest past it (brackets inside strings only
    # over-count): most documents are never walked.
    deep = text.count("{") + text.count("[") > MAX_JSON_DEPTH
    if strict and deep and nests_deeper(value):
        raise Problem(400, f"invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def dump_json(value: Any) -> bytes:
    """Compact JSON, ASCII only, so any parsed value serializes back."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
