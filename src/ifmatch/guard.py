"""Handler-level preconditions: evaluate, then raise the response a failed one deserves.

Every adapter (Starlette, FastAPI, Flask, Django, the ASGI and WSGI
middleware) turns a :class:`PreconditionError` into the same response, so a
handler can call :func:`check_preconditions` wherever it knows the current
validators, and above all *inside its own transaction*::

    with db:                                   # BEGIN IMMEDIATE / SELECT ... FOR UPDATE
        row = load(db, key)                    # the validators, read under the lock
        check_preconditions(method, headers, resource_of(row), require=True)
        save(db, key, body)                    # nobody wrote in between

A check made before the transaction and a write made in it race (two
clients both pass ``If-Match: "v1"`` and the second overwrites the first);
the same check made under the lock cannot (RFC 9110 §13.1.1, the lost
update problem).  The decorators in the framework modules are the shortcut
for reads and for writes whose store gives no such lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ifmatch.conditions import Conditions, HeaderPairs
from ifmatch.preconditions import SAFE_METHODS, Decision, Outcome, Resource, evaluate
from ifmatch.respond import Reply, not_modified, refused, validator_fields

Headers = list[tuple[str, str]]


def validator_headers(resource: Resource) -> Headers:
    """``ETag`` and ``Last-Modified`` of a resource, as a 200 for it would send them."""
    return validator_fields(resource.etag, resource.last_modified)


class PreconditionError(Exception):
    """A request whose preconditions decided the response: 304, 412 or 428.

    ``status``, ``headers`` and ``body`` are what to send (the header set
    :mod:`ifmatch.respond` decides for every path); adapters copy them into
    their framework's response type and nothing else.  ``extra_headers``
    are fields the 200 would have carried: the 304 keeps those §15.4.5
    lists, a 412/428 those about the exchange (not Cache-Control).
    """

    status: int = 0

    def __init__(
        self, decision: Decision, resource: Resource, extra_headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        super().__init__(f"{decision.status} {decision.field or ''}: {decision.reason}".strip())
        self.decision = decision
        self.resource = resource
        self.extra_headers: Headers = list(extra_headers)

    @property
    def reply(self) -> Reply:
        """The whole answer, from the one responder (:func:`ifmatch.respond.refused`)."""
        resource = self.resource
        return refused(self.decision, resource.etag, resource.last_modified, self.extra_headers)

    @property
    def headers(self) -> Headers:
        """Response headers: the current validators and the problem's type and length."""
        return self.reply.headers

    @property
    def body(self) -> bytes:
        """The RFC 9457 problem document naming the precondition that failed."""
        return self.reply.body


class NotModified(PreconditionError):
    """304 (RFC 9110 §15.4.5): no body; ETag, or Last-Modified when there is no ETag."""

    status = 304

    @property
    def reply(self) -> Reply:
        return not_modified([*validator_headers(self.resource), *self.extra_headers], self.decision)


class PreconditionFailed(PreconditionError):
    """412 (RFC 9110 §15.5.13), with the current ETag so the client can refetch or merge."""

    status = 412


class PreconditionRequired(PreconditionError):
    """428 (RFC 6585 §3): a write to an existing resource came without a precondition."""

    status = 428


_ERRORS: dict[Outcome, type[PreconditionError]] = {
    Outcome.NOT_MODIFIED: NotModified,
    Outcome.PRECONDITION_FAILED: PreconditionFailed,
    Outcome.PRECONDITION_REQUIRED: PreconditionRequired,
}


def decide(
    method: str,
    headers: Mapping[str, str] | HeaderPairs,
    resource: Resource,
    *,
    require: bool = False,
) -> Decision:
    """Evaluate the request's preconditions against ``resource`` (never raises).

    A safe method on a missing resource proceeds, so that the handler answers
    404 rather than a 412 (§13.2.1: preconditions are ignored when the
    response would not otherwise be 2xx).
    """
    if method.upper() in SAFE_METHODS and not resource.exists:
        return Decision(Outcome.PROCEED)
    conditions = Conditions.from_headers(headers)
    return evaluate(method, conditions, resource, require_precondition=require)


def error_for(
    decision: Decision, resource: Resource, extra_headers: Iterable[tuple[str, str]] = ()
) -> PreconditionError | None:
    """The exception that carries the response for a 304/412/428 decision, else ``None``."""
    kind = _ERRORS.get(decision.outcome)
    return None if kind is None else kind(decision, resource, extra_headers)


def check_preconditions(
    method: str,
    headers: Mapping[str, str] | HeaderPairs,
    resource: Resource,
    *,
    require: bool = False,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> Decision:
    """Raise :class:`NotModified`, :class:`PreconditionFailed` or :class:`PreconditionRequired`.

    Returns the proceeding :class:`Decision` (whose ``use_range`` says
    whether to honour ``Range``) when the request may go on.  With
    ``require=True`` a write to an existing resource without ``If-Match``
    or ``If-Unmodified-Since`` raises :class:`PreconditionRequired` (RFC 6585
    §3).  ``extra_headers`` (``Cache-Control``, ``Vary``) are added to a 304
    as §15.4.5 asks.
    """
    decision = decide(method, headers, resource, require=require)
    error = error_for(decision, resource, extra_headers)
    if error is not None:
        raise error
    return decision
