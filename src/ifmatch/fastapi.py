"""A FastAPI dependency that answers 304/412/428 before the endpoint does its work.

>>> guard = Preconditions(current_validators, require=True)      # doctest: +SKIP
>>> @app.put("/items/{key}")
... async def put_item(key: str, item: Item, resource: Resource = Depends(guard)): ...
>>> install(app)                                  # renders the guard's exceptions

The dependency raises :class:`ifmatch.guard.PreconditionError`; :func:`install`
registers the handler that turns it into the response (the ASGI middleware
does the same for apps that use it).  On a GET 200 it sets the resource's
ETag/Last-Modified through FastAPI's injected ``Response`` so the client
gets the validators it will send back.
"""

# No ``from __future__ import annotations``: FastAPI reads the dependency's
# signature at runtime to inject Request and Response.
from collections.abc import Iterable

from fastapi import FastAPI, Request, Response

from ifmatch.guard import check_preconditions, validator_headers
from ifmatch.preconditions import Resource
from ifmatch.starlette import Validators, current_resource, handle_precondition_error

__all__ = ["Preconditions", "install"]


def install(app: FastAPI) -> None:
    """Render :class:`~ifmatch.guard.PreconditionError` as its 304/412/428 response."""
    from ifmatch.guard import PreconditionError

    app.add_exception_handler(PreconditionError, handle_precondition_error)


class Preconditions:
    """``Depends(Preconditions(validators, require=...))``: the checked current resource.

    ``validators(request)`` may be sync or async and should be cheap (a
    version column); the endpoint body runs only when the request proceeds.
    """

    def __init__(
        self,
        validators: Validators,
        *,
        require: bool = False,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.validators = validators
        self.require = require
        self.extra_headers = list(extra_headers)

    async def __call__(self, request: Request, response: Response) -> Resource:
        resource = await current_resource(self.validators, request)
        check_preconditions(
            request.method,
            request.headers.raw,
            resource,
            require=self.require,
            extra_headers=self.extra_headers,
        )
        if request.method in ("GET", "HEAD") and resource.exists:
            for name, value in validator_headers(resource):
                response.headers.setdefault(name, value)
        return resource
