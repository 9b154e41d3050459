"""Handler-level preconditions for Starlette endpoints.

>>> @preconditions(lambda request: Resource(etag_for_version(load_version(request))),
...                require=True)                              # doctest: +SKIP
... async def put_document(request): ...

The decorator asks a cheap function for the current validators (a version
column, an mtime) and answers 304/412/428 *before* the endpoint runs, so a
cached read never reaches the database and a stale write never starts.
For writes whose store can lock, call :func:`ifmatch.guard.check_preconditions`
inside the transaction instead and let :func:`install` (or the ASGI
middleware) turn its exception into the response.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ifmatch.guard import PreconditionError, decide, error_for, validator_headers
from ifmatch.preconditions import Resource

Validators = Callable[[Request], Resource | Awaitable[Resource]]
Endpoint = Callable[..., Awaitable[Response] | Response]


def error_response(error: PreconditionError) -> Response:
    """The Starlette response for a 304/412/428 (its fields from :mod:`ifmatch.respond`)."""
    reply = error.reply
    return Response(reply.body, reply.status, headers=dict(reply.headers))


async def handle_precondition_error(request: Request, exc: Exception) -> Response:
    """The exception handler :func:`install` registers (FastAPI's ``install`` too)."""
    assert isinstance(exc, PreconditionError)
    return error_response(exc)


def install(app: Starlette) -> None:
    """Render :class:`PreconditionError` raised anywhere in ``app`` as its 304/412/428."""
    app.add_exception_handler(PreconditionError, handle_precondition_error)


#: For ``Starlette(exception_handlers=EXCEPTION_HANDLERS)``.
EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    PreconditionError: handle_precondition_error
}


async def current_resource(validators: Validators, request: Request) -> Resource:
    """Call ``validators`` (sync or async) for ``request``."""
    resource = validators(request)
    if inspect.isawaitable(resource):
        return await resource
    return resource


def add_validators(response: Response, resource: Resource) -> None:
    """Give a 200 the resource's ETag/Last-Modified unless the endpoint set its own."""
    if response.status_code != 200 or "etag" in response.headers:
        return
    for name, value in validator_headers(resource):
        if name.lower() not in response.headers:
            response.headers[name] = value


def preconditions(
    validators: Validators, *, require: bool = False, extra_headers: Iterable[tuple[str, str]] = ()
) -> Callable[[Endpoint], Callable[..., Awaitable[Response]]]:
    """Decorate an endpoint so its preconditions are answered before it runs.

    ``validators(request)`` returns the current :class:`~ifmatch.Resource`
    (``Resource.missing()`` when there is none: a safe method then reaches
    the endpoint for its 404, a PUT may create).  ``require=True`` answers a
    write without If-Match/If-Unmodified-Since with 428.  ``extra_headers``
    go on 304s (Cache-Control, Vary: §15.4.5).  A GET 200 without an ETag
    of its own gets the resource's validators.  Works on functions and on
    ``HTTPEndpoint`` methods (the request is the last positional argument).
    """
    extra = list(extra_headers)

    def decorator(endpoint: Endpoint) -> Callable[..., Awaitable[Response]]:
        @functools.wraps(endpoint)
        async def guarded(*args: Any) -> Response:
            request: Request = args[-1]
            resource = await current_resource(validators, request)
            decision = decide(request.method, request.headers.raw, resource, require=require)
            error = error_for(decision, resource, extra)
            if error is not None:
                return error_response(error)
            call: Callable[..., Any] = endpoint
            result: Any = (
                await call(*args)
                if inspect.iscoroutinefunction(endpoint)
                else await run_in_threadpool(call, *args)
            )
            if inspect.isawaitable(result):
                result = await result
            response: Response = result
            if request.method in ("GET", "HEAD"):
                add_validators(response, resource)
            return response

        return guarded

    return decorator
