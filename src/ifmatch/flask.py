"""Flask: the :class:`IfMatch` extension, and the decorator and error handler under it.

>>> ifmatch = IfMatch(app)            # or IfMatch() then ifmatch.init_app(app)  # doctest: +SKIP
>>> @app.put("/items/<key>")
... @ifmatch.preconditions(lambda key: Resource(etag_for_version(version_of(key))))
... def put_item(key): ...                                       # doctest: +SKIP

The validators function receives the view's own arguments and should be
cheap; the view runs only when the request proceeds.  Views and validators
may be ``async def`` (Flask runs them through ``app.ensure_sync``, which
needs ``flask[async]``).  :func:`install` registers an error handler so
:func:`ifmatch.guard.check_preconditions` can be called inside a view's
transaction (the atomic way to write).

Configuration (``app.config``, read by :meth:`IfMatch.init_app`; the
decorator reads the first two per request, so they hold without the
extension too):

* ``IFMATCH_REQUIRE_PRECONDITIONS`` (``False``): the default ``require`` of
  :func:`preconditions`: a write to an existing resource without ``If-Match``
  or ``If-Unmodified-Since`` gets 428.
* ``IFMATCH_EXTRA_HEADERS`` (``()``): ``(name, value)`` pairs for every 304
  (``Cache-Control``, ``Vary``: RFC 9110 §15.4.5).
* ``IFMATCH_MIDDLEWARE`` (``True``): wrap ``app.wsgi_app`` in
  :class:`ifmatch.wsgi.ConditionalMiddleware` (ETags and 304s for every GET),
  with ``IFMATCH_HASH`` (``"sha256"``), ``IFMATCH_MAX_BUFFER`` (1 MiB) and
  ``IFMATCH_CODING_OUTSIDE`` (``False``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, current_app, make_response, request

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


#: The configuration keys and their defaults.
DEFAULTS: dict[str, Any] = {
    "IFMATCH_REQUIRE_PRECONDITIONS": False,
    "IFMATCH_EXTRA_HEADERS": (),
    "IFMATCH_MIDDLEWARE": True,
    "IFMATCH_HASH": "sha256",
    "IFMATCH_MAX_BUFFER": 1 << 20,
    "IFMATCH_CODING_OUTSIDE": False,
}


def preconditions(
    validators: Callable[..., Any],
    *,
    require: bool | None = None,
    extra_headers: Iterable[tuple[str, str]] | None = None,
) -> Callable[[View], View]:
    """Decorate a view so its preconditions are answered before it runs.

    See :func:`ifmatch.starlette.preconditions` for the rules; here
    ``validators`` is called with the view's arguments and may be async, as
    may the view.  ``require`` and ``extra_headers`` default to the app's
    ``IFMATCH_REQUIRE_PRECONDITIONS`` and ``IFMATCH_EXTRA_HEADERS``.
    """
    extra = None if extra_headers is None else list(extra_headers)

    def answer(resource: Resource) -> Response | None:
        config = current_app.config
        required = (
            bool(config.get("IFMATCH_REQUIRE_PRECONDITIONS", False)) if require is None else require
        )
        decision = decide(request.method, list(request.headers), resource, require=required)
        headers = list(config.get("IFMATCH_EXTRA_HEADERS", ())) if extra is None else extra
        error = error_for(decision, resource, headers)
        return None if error is None else error_response(error)

    def finish(result: Any, resource: Resource) -> Response:
        response = make_response(result)
        fresh = response.status_code == 200 and "ETag" not in response.headers
        if fresh and request.method in ("GET", "HEAD"):
            for name, value in validator_headers(resource):
                response.headers.setdefault(name, value)
        return response

    def decorator(view: View) -> View:
        if inspect.iscoroutinefunction(view):
            # Flask's ensure_sync runs this coroutine function (flask[async]): the validators,
            # the view and the answer all in one event loop.
            @functools.wraps(view)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                resource = validators(*args, **kwargs)
                if inspect.isawaitable(resource):
                    resource = await resource
                refused = answer(resource)
                if refused is not None:
                    return refused
                return finish(await view(*args, **kwargs), resource)

            return guarded_async

        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            resource = current_app.ensure_sync(validators)(*args, **kwargs)
            refused = answer(resource)
            if refused is not None:
                return refused
            return finish(view(*args, **kwargs), resource)

        return guarded

    return decorator


class IfMatch:
    """The Flask extension: ``IfMatch(app)``, or ``ext = IfMatch()`` and ``ext.init_app(app)``.

    :meth:`init_app` sets the ``IFMATCH_*`` defaults (see the module), registers
    the 304/412/428 error handler (:func:`install`), wraps ``app.wsgi_app`` in
    the conditional middleware unless ``IFMATCH_MIDDLEWARE`` is false, and
    records itself in ``app.extensions["ifmatch"]``.  One instance may serve
    several apps (the application-factory pattern).
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Configure ``app``; calling it twice for one app changes nothing."""
        if "ifmatch" in app.extensions:
            return
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, value)
        install(app)
        if app.config["IFMATCH_MIDDLEWARE"]:
            from ifmatch.wsgi import ConditionalMiddleware

            inner: Any = app.wsgi_app  # Flask's and ifmatch's WSGI aliases differ in name only
            wrapped: Any = ConditionalMiddleware(
                inner,
                hash=app.config["IFMATCH_HASH"],
                max_buffer=int(app.config["IFMATCH_MAX_BUFFER"]),
                coding_outside=bool(app.config["IFMATCH_CODING_OUTSIDE"]),
            )
            app.wsgi_app = wrapped  # type: ignore[method-assign]
        app.extensions["ifmatch"] = self

    @staticmethod
    def preconditions(
        validators: Callable[..., Any],
        *,
        require: bool | None = None,
        extra_headers: Iterable[tuple[str, str]] | None = None,
    ) -> Callable[[View], View]:
        """:func:`preconditions`, defaults from the app's configuration."""
        return preconditions(validators, require=require, extra_headers=extra_headers)
