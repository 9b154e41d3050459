"""Optimistic concurrency on any HTTP API: read, change, write with If-Match (RFC 9110 §13.1.1).

:func:`update` GETs the current JSON representation and its ETag, applies
your ``change`` function, and PUTs (or PATCHes with an RFC 7396 merge
patch) the result with ``If-Match: <etag>``.  A 412 means someone else wrote
in between: it re-reads and re-applies ``change`` to *their* version, after
a jittered exponential backoff, up to ``retries`` times, so concurrent edits
all land and none is lost.  When the retries run out it raises
:class:`ConflictError` carrying the server's current version and the one
you tried to write, which is what a merge screen needs.  A 428 (RFC 6585
§3) raises :class:`PreconditionRequiredError`.

:func:`create` writes only if nothing exists (``If-None-Match: *``,
§13.1.2); :func:`delete` deletes only the version you saw (``If-Match``).

The logic is written once, as flows of steps (send a request, sleep, apply
the change; see :mod:`ifmatch.client._flow`) in the sans-IO style of h11:
:func:`update` drives them with an ``httpx.Client`` or ``httpx2.Client``,
:func:`aupdate` with either library's ``AsyncClient`` (whose ``change`` may
also be a coroutine function).  The errors live in :mod:`ifmatch.client.errors`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ifmatch.client._flow import Apply, AsyncChange, Change, Fetch, Flow, Sleep, adrive, drive

# The errors and Version were defined here before errors.py: re-exported, their old path works.
from ifmatch.client.errors import AlreadyExistsError as AlreadyExistsError
from ifmatch.client.errors import ClientError as ClientError
from ifmatch.client.errors import ConflictError as ConflictError
from ifmatch.client.errors import InvalidBodyError
from ifmatch.client.errors import MissingValidatorError as MissingValidatorError
from ifmatch.client.errors import PreconditionRequiredError as PreconditionRequiredError
from ifmatch.client.errors import Version as Version
from ifmatch.errors import HeaderParseError
from ifmatch.etag import ETag

if TYPE_CHECKING:
    from ifmatch.client.httpx_compat import AsyncClient, Client, Response

MERGE_PATCH_JSON = "application/merge-patch+json"
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """The outcome of a successful write.

    ``document`` is what this client wrote (or found unchanged), ``etag``
    the new ETag the server returned (``None`` if it sent none), ``attempts``
    the number of writes tried, ``changed`` ``False`` when ``change``
    returned the document as it was (then nothing was written).
    """

    document: Any
    etag: str | None
    attempts: int
    changed: bool
    response: Response


@dataclass(frozen=True, slots=True)
class Backoff:
    """Full-jitter exponential backoff: attempt n waits uniform(0, min(cap, base * 2**(n-1)))."""

    base: float = 0.05
    cap: float = 2.0
    rng: random.Random | None = None

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        return (self.rng or random).uniform(0, ceiling)


def update_steps(
    url: str,
    *,
    retries: int = 5,
    patch: bool = False,
    backoff: Backoff | None = None,
    use_last_modified: bool = False,
    headers: Mapping[str, str] | None = None,
) -> Flow[UpdateResult]:
    """The read-change-write loop as steps (see the module docstring)."""
    if retries < 0:
        raise ValueError("retries must be >= 0")
    wait = backoff or Backoff()
    base = dict(headers or {})
    attempted: Any = None
    method = "PATCH" if patch else "PUT"
    for attempt in range(1, retries + 2):
        read = yield Fetch("GET", url, {**base, "Accept": JSON})
        current = _version(read)
        condition = _write_condition(url, current, use_last_modified)
        attempted = yield Apply(current.document)
        if attempted == current.document:
            return UpdateResult(attempted, current.etag, attempt - 1, False, read)
        if patch:
            body, media_type = merge_patch(current.document, attempted), MERGE_PATCH_JSON
        else:
            body, media_type = attempted, JSON
        response = yield Fetch(
            method, url, {**base, **condition, "Content-Type": media_type}, _dump(body)
        )
        if response.status_code == 412:
            if attempt <= retries:
                yield Sleep(wait.delay(attempt))
            continue
        _raise_for_write(response, url, method)
        return UpdateResult(attempted, response.headers.get("etag"), attempt, True, response)
    latest = yield Fetch("GET", url, {**base, "Accept": JSON})
    current_version = _version(latest) if latest.status_code == 200 else None
    raise ConflictError(url, current_version, attempted, retries + 1)


def create_steps(
    url: str, document: Any, *, headers: Mapping[str, str] | None = None
) -> Flow[UpdateResult]:
    """PUT only if nothing exists: ``If-None-Match: *`` (RFC 9110 §13.1.2)."""
    base = dict(headers or {})
    response = yield Fetch(
        "PUT", url, {**base, "If-None-Match": "*", "Content-Type": JSON}, _dump(document)
    )
    if response.status_code == 412:
        latest = yield Fetch("GET", url, {**base, "Accept": JSON})
        current = _version(latest) if latest.status_code == 200 else None
        raise AlreadyExistsError(
            url, current, document, 1, f"{url}: already exists (If-None-Match: * failed with 412)"
        )
    _raise_for_write(response, url, "PUT")
    return UpdateResult(document, response.headers.get("etag"), 1, True, response)


def delete_steps(
    url: str, etag: str | ETag | None = None, *, headers: Mapping[str, str] | None = None
) -> Flow[Response]:
    """DELETE only the version whose ETag is given (or the one read first when ``None``)."""
    base = dict(headers or {})
    if etag is None:
        current = _version((yield Fetch("GET", url, {**base, "Accept": JSON})), json_body=False)
        condition = _write_condition(url, current, use_last_modified=False)
    else:
        tag = etag if isinstance(etag, ETag) else ETag.parse(etag)
        condition = {"If-Match": str(tag)}
    response: Response = yield Fetch("DELETE", url, {**base, **condition})
    if response.status_code == 412:
        latest = yield Fetch("GET", url, {**base, "Accept": JSON})
        current_version = _version(latest, json_body=False) if latest.status_code == 200 else None
        raise ConflictError(
            url,
            current_version,
            None,
            1,
            f"{url}: not deleted, it changed since {condition['If-Match']} (412)",
        )
    _raise_for_write(response, url, "DELETE")
    return response


def merge_patch(old: Any, new: Any) -> Any:
    """The RFC 7396 merge patch that turns ``old`` into ``new``.

    Members removed become ``null``; nested objects are diffed recursively;
    arrays and scalars are replaced whole.  A merge patch cannot set a member
    to ``null`` (``null`` means "remove", RFC 7396 §1), so that raises
    :class:`ValueError`: use PUT for such a change.

    >>> merge_patch({"a": 1, "b": {"c": 1, "d": 2}}, {"b": {"c": 1, "d": 3}, "e": [1]})
    {'a': None, 'b': {'d': 3}, 'e': [1]}
    """
    if not isinstance(new, dict) or not isinstance(old, dict):
        _check_no_null(new, top=True)
        return new
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        if key in old and old[key] == value:
            continue
        if isinstance(value, dict) and isinstance(old.get(key), dict):
            patch[key] = merge_patch(old[key], value)
        else:
            _check_no_null(value, top=False)
            patch[key] = value
    return patch


def _check_no_null(value: Any, *, top: bool) -> None:
    if value is None or (isinstance(value, dict) and any(v is None for v in value.values())):
        where = "the document" if top else "a member"
        raise ValueError(
            f"a merge patch cannot set {where} to null (RFC 7396: null removes); use PUT"
        )
    if isinstance(value, dict):
        for item in value.values():
            _check_no_null(item, top=False)


def _version(response: Response, *, json_body: bool = True) -> Version:
    response.raise_for_status()
    document: Any = None
    if json_body:
        try:
            document = response.json()
        except (ValueError, RecursionError) as error:  # RecursionError: nesting too deep
            raise InvalidBodyError(
                f"{response.request.url}: the body is not JSON ({error})"
            ) from None
    return Version(document, response.headers.get("etag"), response.headers.get("last-modified"))


def _write_condition(url: str, current: Version, use_last_modified: bool) -> dict[str, str]:
    """If-Match with a strong ETag; or If-Unmodified-Since when allowed and possible."""
    tag: ETag | None = None
    if current.etag is not None:
        try:
            tag = ETag.parse(current.etag)
        except HeaderParseError:
            tag = None
    if tag is not None and not tag.weak:
        return {"If-Match": str(tag)}
    if use_last_modified and current.last_modified:
        return {"If-Unmodified-Since": current.last_modified}
    if tag is not None:
        problem = (
            f"only a weak ETag {tag}, which If-Match never matches "
            "(strong comparison, RFC 9110 §13.1.1)"
        )
    elif current.etag is not None:
        problem = f"a malformed ETag {current.etag!r}"
    else:
        problem = "no ETag"
    hint = (
        ""
        if use_last_modified or not current.last_modified
        else "; pass use_last_modified=True to guard with If-Unmodified-Since instead"
    )
    raise MissingValidatorError(
        f"{url}: the server sent {problem}: cannot do optimistic concurrency "
        f"without a strong validator{hint}"
    )


def _raise_for_write(response: Response, url: str, method: str) -> None:
    if response.status_code == 428:
        raise PreconditionRequiredError(url, method, _detail(response))
    response.raise_for_status()


def _detail(response: Response) -> str:
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return ""
    return str(body.get("detail", "")) if isinstance(body, dict) else ""


def _dump(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def update(
    client: Client,
    url: str,
    change: Change,
    *,
    retries: int = 5,
    patch: bool = False,
    backoff: Backoff | None = None,
    use_last_modified: bool = False,
    headers: Mapping[str, str] | None = None,
) -> UpdateResult:
    """Read ``url``, apply ``change`` to its JSON, write it back with If-Match; retry on 412.

    ``change`` receives the decoded JSON and returns the new document (it
    may be called several times, each time with the server's latest
    version, so it must not depend on state from an earlier call).  With
    ``patch=True`` the write is a PATCH carrying an RFC 7396 merge patch.
    ``use_last_modified=True`` allows ``If-Unmodified-Since`` when the
    server sends Last-Modified but no strong ETag (second granularity: two
    writes within one second are indistinguishable).

    Raises :class:`ConflictError`, :class:`PreconditionRequiredError`,
    :class:`MissingValidatorError`, or the client library's ``HTTPStatusError`` for other
    error statuses (e.g. 404).
    """
    steps = update_steps(
        url,
        retries=retries,
        patch=patch,
        backoff=backoff,
        use_last_modified=use_last_modified,
        headers=headers,
    )
    return drive(steps, client, change)


async def aupdate(
    client: AsyncClient,
    url: str,
    change: AsyncChange,
    *,
    retries: int = 5,
    patch: bool = False,
    backoff: Backoff | None = None,
    use_last_modified: bool = False,
    headers: Mapping[str, str] | None = None,
) -> UpdateResult:
    """:func:`update` for ``AsyncClient``; ``change`` may be a coroutine function."""
    steps = update_steps(
        url,
        retries=retries,
        patch=patch,
        backoff=backoff,
        use_last_modified=use_last_modified,
        headers=headers,
    )
    return await adrive(steps, client, change)


def create(
    client: Client, url: str, document: Any, *, headers: Mapping[str, str] | None = None
) -> UpdateResult:
    """PUT ``document`` only if ``url`` has none yet; else :class:`AlreadyExistsError`."""
    return drive(create_steps(url, document, headers=headers), client)


async def acreate(
    client: AsyncClient,
    url: str,
    document: Any,
    *,
    headers: Mapping[str, str] | None = None,
) -> UpdateResult:
    """:func:`create` for ``AsyncClient``."""
    return await adrive(create_steps(url, document, headers=headers), client)


def delete(
    client: Client,
    url: str,
    etag: str | ETag | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """DELETE with ``If-Match: etag``; a 412 raises :class:`ConflictError` with the current version.

    Without ``etag`` the current ETag is read first, so at least a change
    racing between that read and the delete is caught.
    """
    return drive(delete_steps(url, etag, headers=headers), client)


async def adelete(
    client: AsyncClient,
    url: str,
    etag: str | ETag | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """:func:`delete` for ``AsyncClient``."""
    return await adrive(delete_steps(url, etag, headers=headers), client)
