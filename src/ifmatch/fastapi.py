"""A FastAPI dependency that answers 304/412/428 before the endpoint does its work.

>>> def current(key: str, db: Session = Depends(get_db)) -> Resource:  # doctest: +SKIP
...     return Resource(etag_for_version(db.get(Item, key).version))
>>> Checked = Annotated[Resource, Depends(Preconditions(current, require=True))]
>>> @app.put("/items/{key}", responses=PRECONDITION_RESPONSES)
... async def put_item(key: str, item: Item, resource: Checked): ...
>>> install(app)                                  # renders the guard's exceptions

``validators`` is itself a dependency: FastAPI resolves its parameters (path
parameters, ``Depends(get_db)``, the ``Request``), so it can read the version
column through the same session the endpoint uses.  A plain
``validators(request)`` whose one parameter is not annotated is called with the
request, as before.

The dependency declares ``If-Match``, ``If-None-Match``, ``If-Modified-Since``
and ``If-Unmodified-Since`` as header parameters, so OpenAPI documents them and
Swagger's "Try it out" can send them (without them every guarded write gets its
428); :data:`PRECONDITION_RESPONSES` documents the 304, 412 and 428 with their
``application/problem+json`` schema for a route's ``responses=``.

The dependency raises :class:`ifmatch.guard.PreconditionError`; :func:`install`
registers the handler that turns it into the response (the ASGI middleware
does the same for apps that use it).  On a GET 200 it sets the resource's
ETag/Last-Modified through FastAPI's injected ``Response`` so the client
gets the validators it will send back.
"""

# No ``from __future__ import annotations``: FastAPI reads the dependency's
# signature at runtime to inject Request and Response.
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request, Response
from starlette.requests import HTTPConnection

from ifmatch.guard import PreconditionError, check_preconditions, validator_headers
from ifmatch.preconditions import Resource
from ifmatch.problem import PROBLEM_JSON
from ifmatch.starlette import current_resource, error_response

__all__ = [
    "PRECONDITION_HEADERS",
    "PRECONDITION_RESPONSES",
    "PROBLEM_SCHEMA",
    "Preconditions",
    "install",
    "precondition_error_handler",
]

Validators = Callable[..., Resource | Awaitable[Resource]]

#: The request fields the dependency declares, with what OpenAPI says about each.
PRECONDITION_HEADERS: dict[str, str] = {
    "If-Match": "Write only if the current ETag matches (strong comparison); "
    'send the ETag you read, e.g. "v3". Stale: 412.',
    "If-None-Match": 'Read: 304 when one of these ETags is current. Write: "*" creates only '
    "if nothing exists yet (412 otherwise).",
    "If-Modified-Since": "Read: 304 unless changed after this HTTP-date "
    "(ignored when If-None-Match is sent).",
    "If-Unmodified-Since": "Write only if not changed after this HTTP-date "
    "(ignored when If-Match is sent).",
}

#: RFC 9457 problem details as ifmatch sends them for a 412 or a 428.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "title": {"type": "string", "example": "Precondition Failed"},
        "status": {"type": "integer", "example": 412},
        "detail": {"type": "string"},
        "precondition": {
            "type": "string",
            "description": "The request field that decided the answer",
            "example": "If-Match",
        },
        "current_etag": {
            "type": "string",
            "description": "The resource's current ETag: refetch or merge, then retry with it",
            "example": '"v4"',
        },
    },
}

_ETAG_HEADER = {"description": "The current entity tag", "schema": {"type": "string"}}

#: For a route's ``responses=``: what a guarded operation may answer besides its own.
PRECONDITION_RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {
        "description": "Not Modified: the client's copy (If-None-Match / If-Modified-Since) "
        "is current; no body.",
        "headers": {"ETag": _ETAG_HEADER},
    },
    412: {
        "description": "Precondition Failed: the resource changed since the client read it "
        "(If-Match / If-Unmodified-Since), or exists for If-None-Match: *.",
        "headers": {"ETag": _ETAG_HEADER},
        "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
    },
    428: {
        "description": "Precondition Required: a write must send If-Match (or "
        "If-Unmodified-Since) so that it cannot overwrite a change it has not seen "
        "(RFC 6585 §3).",
        "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
    },
}


async def precondition_error_handler(request: Request, exc: Exception) -> Response:
    """The exception handler :func:`install` registers: the error's 304/412/428."""
    assert isinstance(exc, PreconditionError)
    return error_response(exc)


def install(app: FastAPI) -> None:
    """Render :class:`~ifmatch.guard.PreconditionError` as its 304/412/428 response."""
    app.add_exception_handler(PreconditionError, precondition_error_handler)


def _takes_the_request(validators: Validators) -> bool:
    """Whether ``validators`` is the older ``validators(request)``.

    That is: one required parameter and no annotation on it, or ``*args`` /
    ``**kwargs`` (which FastAPI cannot fill).  Anything else is a FastAPI
    dependency whose parameters FastAPI resolves (one annotated ``Request``
    gets the request there too).
    """
    try:
        signature = inspect.signature(validators, eval_str=True)
    except (NameError, TypeError):
        signature = inspect.signature(validators)
    parameters = list(signature.parameters.values())
    for parameter in parameters:
        annotation = parameter.annotation
        if isinstance(annotation, type) and issubclass(annotation, HTTPConnection):
            return False
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    if any(parameter.kind in variadic for parameter in parameters):
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [p for p in parameters if p.kind in positional and p.default is p.empty]
    return len(required) == 1 and required[0].annotation is inspect.Parameter.empty


def _header_parameter(field: str, description: str) -> inspect.Parameter:
    return inspect.Parameter(
        field.lower().replace("-", "_"),
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[str | None, Header(alias=field, description=description)],
    )


class Preconditions:
    """``Depends(Preconditions(validators, require=...))``: the checked current resource.

    ``validators`` returns the current :class:`~ifmatch.Resource`
    (``Resource.missing()`` when there is none); it is a FastAPI dependency
    (sync or async, with path parameters and sub-dependencies such as a DB
    session) and should be cheap (a version column): the endpoint body runs
    only when the request proceeds.  ``require=True`` answers a write without
    ``If-Match``/``If-Unmodified-Since`` with 428.  ``extra_headers`` go on
    304s (Cache-Control, Vary: §15.4.5).  :attr:`responses` is the OpenAPI
    documentation of what the guard may answer.
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
        source: Validators = validators
        if _takes_the_request(validators):

            async def from_request(request: Request) -> Resource:
                return await current_resource(validators, request)

            source = from_request
        # FastAPI reads this signature (inspect.signature honours __signature__): the
        # request and response, the validators as a sub-dependency, and the header fields
        # for OpenAPI. The fields are read from the raw headers, where repeats are kept.
        self.__signature__ = inspect.Signature(
            [
                inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
                inspect.Parameter("response", inspect.Parameter.KEYWORD_ONLY, annotation=Response),
                inspect.Parameter(
                    "resource",
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=Annotated[Resource, Depends(source)],
                ),
                *(_header_parameter(name, text) for name, text in PRECONDITION_HEADERS.items()),
            ],
            return_annotation=Resource,
        )

    @property
    def responses(self) -> dict[int | str, dict[str, Any]]:
        """``responses=`` for a route this guard protects (428 only with ``require=True``)."""
        return {
            status: spec
            for status, spec in PRECONDITION_RESPONSES.items()
            if status != 428 or self.require
        }

    async def __call__(
        self, request: Request, response: Response, resource: Resource, **fields: str | None
    ) -> Resource:
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
