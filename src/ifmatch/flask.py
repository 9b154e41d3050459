"""Handler-level preconditions for Flask views.

>>> @app.put("/items/<key>")
... @preconditions(lambda key: Resource(etag_for_version(version_of(key))), require=True)
... def put_item(key): ...                                       # doctest: +SKIP

The validators function receives the view's own arguments and should be
cheap; the view runs only when the request proceeds.  :func:`install`
registers an error handler so :func:`ifmatch.guard.check_preconditions`
can be called inside a view's transaction (the atomic way to write).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, make_response, request

from ifmatch.guard import PreconditionError, decide, error_for, validator_headers
from ifmatch.preconditions import Resource

View = Callable[..., Any]


def error_response(error: PreconditionError) -> Response:
    """The Flask response for a 304/412/428 (its fields from :mod:`ifmatch.respond`)."""
    reply = error.reply
    response = Response(reply.body, status=reply.status)
    for name, value in reply.headers:
        response.headers[name] = value
    if error.status == 304:
        response.headers.pop("Content-Type", None)
    return response


def install(app: Flask) -> None:
    """Render :class:`PreconditionError` raised in any view as its 304/412/428."""
    app.register_error_handler(PreconditionError, error_response)


def preconditions(
    validators: Callable[..., Resource],
    *,
    require: bool = False,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> Callable[[View], View]:
    """Decorate a view so its preconditions are answered before it runs.

    See :func:`ifmatch.starlette.preconditions` for the rules; here
    ``validators`` is called with the view's arguments.
    """
    extra = list(extra_headers)

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            resource = validators(*args, **kwargs)
            decision = decide(request.method, list(request.headers), resource, require=require)
            error = error_for(decision, resource, extra)
            if error is not None:
                return error_response(error)
            response = make_response(view(*args, **kwargs))
            fresh = response.status_code == 200 and "ETag" not in response.headers
            if fresh and request.method in ("GET", "HEAD"):
                for name, value in validator_headers(resource):
                    response.headers.setdefault(name, value)
            return response

        return guarded

    return decorator
