"""Django: a middleware and a view decorator that go beyond Django's own.

``django.middleware.http.ConditionalGetMiddleware`` tags only GET (not HEAD)
with an MD5 of the body and never answers a write; ``@condition`` checks and
then runs the view, so two writers race, and it has no 428 and no problem
body.  Here:

* :class:`ConditionalMiddleware` (``"ifmatch.django.ConditionalMiddleware"``
  in ``MIDDLEWARE``, above ``GZipMiddleware``): the same 304/412 rules as
  the ASGI and WSGI middleware (:mod:`ifmatch.tagging`) for GET and HEAD,
  ETags hashed from the *decoded* body so they survive ``GZipMiddleware``
  (whose random gzip padding, a BREACH defence, changes the coded bytes on
  every response), and any :class:`~ifmatch.guard.PreconditionError` a view
  raises rendered as its 304/412/428 (``process_exception``).
* :func:`preconditions`: like ``@condition`` but correct for unsafe
  methods: If-Match, If-Unmodified-Since and ``If-None-Match: *`` on writes,
  412 with the current ETag and a problem body, ``require=True`` for 428.
  For a race-free write, call :func:`ifmatch.guard.check_preconditions`
  inside ``transaction.atomic()`` after ``select_for_update()``.

Settings (optional): ``IFMATCH = {"hash": "xxh3", "max_buffer": 1048576,
"coding_outside": False}``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotModified

from ifmatch.guard import PreconditionError, decide, error_for, validator_headers
from ifmatch.hashing import weak_etag
from ifmatch.preconditions import Resource
from ifmatch.tagging import Handling, ReadContext, TaggingPolicy, reply_headers

View = Callable[..., HttpResponseBase]


def error_response(error: PreconditionError) -> HttpResponse:
    """The Django response for a 304/412/428 (its fields from :mod:`ifmatch.respond`)."""
    reply = error.reply
    response: HttpResponse = (
        HttpResponseNotModified() if reply.status == 304 else HttpResponse(status=reply.status)
    )
    if reply.status != 304:
        response.content = reply.body
    for name, value in reply.headers:
        response.headers[name] = value
    return response


#: The request fields preconditions read, by their WSGI ``META`` key.
_META_FIELDS = (
    ("HTTP_IF_MATCH", "If-Match"),
    ("HTTP_IF_NONE_MATCH", "If-None-Match"),
    ("HTTP_IF_MODIFIED_SINCE", "If-Modified-Since"),
    ("HTTP_IF_UNMODIFIED_SINCE", "If-Unmodified-Since"),
    ("HTTP_IF_RANGE", "If-Range"),
    ("HTTP_RANGE", "Range"),
    ("HTTP_ACCEPT_ENCODING", "Accept-Encoding"),
)


_PRECONDITION_KEYS = tuple(key for key, _ in _META_FIELDS[:4])
#: The precondition fields by META key, named as :meth:`TaggingPolicy.context` names them.
_PRECONDITION_META = tuple((key, name.lower()) for key, name in _META_FIELDS[:4])
# Module constants: looking a member up on the Enum class costs more than the test itself.
_PASS, _HASH = Handling.PASS, Handling.HASH


def _request_headers(request: HttpRequest) -> list[tuple[str, str]]:
    """Only the fields that matter, read from ``META`` (cheaper than ``request.headers``)."""
    meta = request.META
    return [(name, str(meta[key])) for key, name in _META_FIELDS if key in meta]


def _context(
    policy: TaggingPolicy, method: str, meta: dict[str, Any], hashable: bool
) -> ReadContext:
    """``policy.context(method, _request_headers(request))``, read from ``META`` by name."""
    fields = tuple([(name, str(meta[key])) for key, name in _PRECONDITION_META if key in meta])
    accept = str(meta.get("HTTP_ACCEPT_ENCODING", ""))
    return policy.context_fields(method, fields, accept, hashable=hashable)


def response_fields(response: HttpResponseBase) -> list[tuple[str, str]]:
    """The response's header fields as ``(name, value)`` pairs, names as the view set them.

    Read from the store behind ``response.headers`` when it has the one Django has had since
    3.2 (lower-case name -> (name, value)): iterating the public mapping looks every field
    up again, which measured about 0.9 µs for a single field, a fifth of the middleware's
    whole cost.  Any other mapping is read through its public interface.
    """
    store = getattr(response.headers, "_store", None)
    if type(store) is dict:
        return list(store.values())
    return [(str(name), str(value)) for name, value in response.items()]


class ConditionalMiddleware:
    """ETags and 304/412 for GET/HEAD 200s; renders precondition errors from views.

    Sync and async capable, as Django's ``ConditionalGetMiddleware``: under ASGI
    with an async handler chain Django builds the async variant
    (:class:`AsyncConditionalMiddleware`, chosen in ``__new__`` so the sync
    ``__call__`` carries no mode test), and no request goes through a thread.
    """

    sync_capable = True
    async_capable = True

    def __new__(cls, get_response: Callable[..., Any]) -> ConditionalMiddleware:
        if cls is ConditionalMiddleware and iscoroutinefunction(get_response):
            return super().__new__(AsyncConditionalMiddleware)
        return super().__new__(cls)

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        options: dict[str, Any] = dict(getattr(settings, "IFMATCH", {}))
        self.policy = policy = TaggingPolicy.build(
            options.get("hash", "sha256"),
            int(options.get("max_buffer", 1 << 20)),
            bool(options.get("coding_outside", False)),
        )
        # Requests without preconditions (the usual ones) share these.
        self._unconditional = {
            (method, hashable): policy.unconditional(method, hashable=hashable)
            for method in ("GET", "HEAD")
            for hashable in (True, False)
        }

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.process_read(request, self.get_response(request))

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponseBase | None:
        """Turn a :class:`PreconditionError` raised by a view into its response."""
        if isinstance(exception, PreconditionError):
            return error_response(exception)
        return None

    def process_read(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        """Tag a GET/HEAD 200 and answer 304/412 when its preconditions say so.

        Any other method's response goes back untouched.  The sync and the async
        ``__call__`` both end here, so the two paths cannot drift apart.
        """
        method = request.method
        if method != "GET" and method != "HEAD":
            method = (method or "GET").upper()
            if method != "GET" and method != "HEAD":
                return response
        policy = self.policy
        streaming = response.streaming
        content: bytes = b"" if streaming else getattr(response, "content", b"")
        # A streaming body is never held; a HEAD whose view sent no body has nothing to hash;
        # a body past max_buffer is not hashed, as the ASGI and WSGI middleware do.
        hashable = (
            not streaming
            and len(content) <= policy.max_buffer
            and (method == "GET" or bool(content))
        )
        meta = request.META
        if policy.coding_outside or any(map(meta.__contains__, _PRECONDITION_KEYS)):
            exchange = _context(policy, method, meta, hashable)
        else:
            exchange = self._unconditional[method, hashable]
        headers = response_fields(response)
        plan = exchange.inspect_text(response.status_code, headers)
        if plan.handling is _PASS:
            return response
        hashed = None
        if plan.handling is _HASH:
            hashed = exchange.tag_body(plan, content)
            if not exchange.conditional:
                response.headers["ETag"] = weak_etag(hashed)  # nothing to evaluate: the usual 200
                return response
        verdict = exchange.decide(plan, hashed)
        if verdict.status == 200:
            if verdict.etag is not None:
                response.headers["ETag"] = verdict.etag
            return response
        replacement: HttpResponse = (
            HttpResponseNotModified()
            if verdict.status == 304
            else HttpResponse(verdict.body or b"", status=verdict.status)
        )
        for name, value in reply_headers(headers, verdict):
            replacement.headers[name] = value
        replacement.cookies = response.cookies
        # The discarded response is not closed: close() fires request_finished, which
        # the handler fires once for the response actually sent (as Django's own does).
        return replacement


class AsyncConditionalMiddleware(ConditionalMiddleware):
    """The async path of :class:`ConditionalMiddleware` (what Django gets under ASGI)."""

    def __init__(self, get_response: Callable[..., Any]) -> None:
        super().__init__(get_response)
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase = await self.get_response(request)
        return self.process_read(request, response)


def preconditions(
    validators: Callable[..., Resource | Awaitable[Resource]],
    *,
    require: bool = False,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> Callable[[View], View]:
    """Decorate a view so its preconditions are answered before it runs.

    ``validators(request, *args, **kwargs)`` gets the view's own arguments
    and returns the current :class:`~ifmatch.Resource`; it should be cheap
    (a version column).  A safe method on ``Resource.missing()`` reaches the
    view for its 404.  A GET 200 without an ETag gets the resource's.

    An ``async def`` view gets an async guard (Django then runs it in the event
    loop under ASGI); the validators may be ``async def`` too.  On class-based
    views use ``method_decorator(preconditions(...), name="put")``; it works on
    Django REST Framework's ``APIView`` methods as well (their request proxies
    ``META`` and ``method``).
    """
    extra = list(extra_headers)

    def answer(request: HttpRequest, resource: Resource) -> HttpResponse | None:
        method = (request.method or "GET").upper()
        decision = decide(method, _request_headers(request), resource, require=require)
        error = error_for(decision, resource, extra)
        return None if error is None else error_response(error)

    def finish(request: HttpRequest, response: HttpResponseBase, resource: Resource) -> None:
        if (
            (request.method or "GET").upper() in ("GET", "HEAD")
            and response.status_code == 200
            and not response.has_header("ETag")
        ):
            for name, value in validator_headers(resource):
                if not response.has_header(name):
                    response.headers[name] = value

    def decorator(view: View) -> View:
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def guarded_async(
                request: HttpRequest, *args: Any, **kwargs: Any
            ) -> HttpResponseBase:
                found = validators(request, *args, **kwargs)
                resource = await found if inspect.isawaitable(found) else found
                refused = answer(request, resource)
                if refused is not None:
                    return refused
                response: HttpResponseBase = await view(request, *args, **kwargs)
                finish(request, response, resource)
                return response

            return guarded_async

        current: Callable[..., Any] = (
            async_to_sync(validators) if iscoroutinefunction(validators) else validators
        )

        @functools.wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            resource: Resource = current(request, *args, **kwargs)
            refused = answer(request, resource)
            if refused is not None:
                return refused
            response = view(request, *args, **kwargs)
            finish(request, response, resource)
            return response

        return guarded

    return decorator
