"""Six stacks serving the same endpoints, each driven through its own test client.

Endpoints (all behind the stack's ifmatch middleware, max_buffer 16 KiB):

* ``GET /doc``       JSON, no validator of its own -> the middleware's weak ETag
* ``/versioned``     GET/HEAD/PUT/DELETE guarded by the handler-level API with
                     ``require=True``; strong ETag ``"v<N>"`` + Last-Modified
* ``GET /nostore``   ``Cache-Control: no-store``
* ``GET /missing``   404
* ``GET /stream``    64 KiB streamed in 16 chunks (past the buffer limit)
* ``GET /events``    ``text/event-stream``
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response

from ifmatch import Resource
from ifmatch.fastapi import Preconditions
from ifmatch.guard import check_preconditions, validator_headers

from .store import DOC, DOC_HEADERS, EVENTS, EXPENSIVE, STORE, STREAM_CHUNKS

MAX_BUFFER = 16 * 1024
DOC_BODY = json.dumps(DOC).encode()


@dataclass(frozen=True)
class Answer:
    """A response reduced to what the conformance table looks at."""

    status: int
    headers: dict[str, str]  # lower-case names, repeated fields joined with ", "
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


Client = Callable[[str, str, dict[str, str], bytes], Answer]


def _joined(pairs: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def versioned_resource(_: object = None, *args: object, **kwargs: object) -> Resource:
    return STORE.resource()


# FastAPI reads these annotations at runtime, so they live at module level.
FASTAPI_GUARD = Preconditions(versioned_resource, require=True)
Current = Annotated[Resource, Depends(FASTAPI_GUARD)]


# --- Starlette ------------------------------------------------------------------------------


def starlette_app(**options: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    from ifmatch.asgi import ConditionalMiddleware
    from ifmatch.starlette import install, preconditions

    async def doc(request: Any) -> Response:
        return Response(DOC_BODY, media_type="application/json", headers=DOC_HEADERS)

    @preconditions(versioned_resource, require=True)
    async def versioned(request: Request) -> Response:
        if request.method == "PUT":
            STORE.put(await request.body())
            return Response(
                STORE.body(),
                media_type="application/json",
                headers=dict(validator_headers(STORE.resource())),
            )
        if not STORE.exists:
            return Response(status_code=404)
        if request.method == "DELETE":
            STORE.delete()
            return Response(status_code=204)
        return JSONResponse(STORE.data)

    @preconditions(versioned_resource, require=True)
    async def expensive(request: Request) -> Response:
        return Response(EXPENSIVE(), media_type="application/json")

    async def nostore(request: Request) -> Response:
        return Response(b"secret", headers={"Cache-Control": "no-store"})

    async def missing(request: Request) -> Response:
        return Response(b"not here", status_code=404)

    async def stream(request: Request) -> Response:
        async def chunks() -> Any:
            for chunk in STREAM_CHUNKS:
                yield chunk

        return StreamingResponse(chunks(), media_type="text/plain")

    async def events(request: Request) -> Response:
        return Response(EVENTS, media_type="text/event-stream")

    app = Starlette(
        routes=[
            Route("/doc", doc),
            Route("/versioned", versioned, methods=["GET", "HEAD", "PUT", "DELETE"]),
            Route("/nostore", nostore),
            Route("/missing", missing),
            Route("/stream", stream),
            Route("/events", events),
            Route("/expensive", expensive, methods=["GET", "PUT"]),
        ]
    )
    install(app)
    options.setdefault("max_buffer", MAX_BUFFER)
    app.add_middleware(ConditionalMiddleware, **options)
    return app


# --- FastAPI --------------------------------------------------------------------------------


def fastapi_app() -> Any:
    from fastapi.responses import StreamingResponse

    from ifmatch.asgi import ConditionalMiddleware
    from ifmatch.fastapi import install

    app = FastAPI()

    @app.get("/doc")
    def doc() -> Response:
        return Response(DOC_BODY, media_type="application/json", headers=DOC_HEADERS)

    @app.api_route("/versioned", methods=["GET", "HEAD"])
    def read(response: Response, resource: Current) -> Any:
        if not resource.exists:
            return Response(status_code=404)
        return STORE.data

    @app.put("/versioned")
    async def write(request: Request, resource: Current) -> Response:
        STORE.put(await request.body())
        return Response(
            STORE.body(),
            media_type="application/json",
            headers=dict(validator_headers(STORE.resource())),
        )

    @app.delete("/versioned", response_class=Response)
    def delete(resource: Current) -> Response:
        if not resource.exists:
            return Response(status_code=404)
        STORE.delete()
        return Response(status_code=204)

    @app.api_route("/expensive", methods=["GET", "PUT"])
    def expensive(resource: Current) -> Response:
        # FastAPI merges the dependency's headers only into data it serializes itself;
        # an endpoint returning its own Response adds the validators it wants.
        return Response(
            EXPENSIVE(), media_type="application/json", headers=dict(validator_headers(resource))
        )

    @app.get("/nostore")
    def nostore() -> Response:
        return Response(b"secret", headers={"Cache-Control": "no-store"})

    @app.get("/missing")
    def missing() -> Response:
        return Response(b"not here", status_code=404)

    @app.get("/stream")
    def stream() -> StreamingResponse:
        return StreamingResponse(iter(STREAM_CHUNKS), media_type="text/plain")

    @app.get("/events")
    def events() -> Response:
        return Response(EVENTS, media_type="text/event-stream")

    install(app)
    app.add_middleware(ConditionalMiddleware, max_buffer=MAX_BUFFER)
    return app


# --- Flask ----------------------------------------------------------------------------------


def flask_app() -> Any:
    from flask import Flask, Response, request

    from ifmatch.flask import install, preconditions
    from ifmatch.wsgi import ConditionalMiddleware

    app = Flask("ifmatch-conformance")

    @app.get("/doc")
    def doc() -> Response:
        return Response(DOC_BODY, mimetype="application/json", headers=DOC_HEADERS)

    @app.route("/versioned", methods=["GET", "HEAD", "PUT", "DELETE"])
    @preconditions(versioned_resource, require=True)
    def versioned() -> Any:
        if request.method == "PUT":
            STORE.put(request.get_data())
            return Response(
                STORE.body(),
                mimetype="application/json",
                headers=validator_headers(STORE.resource()),
            )
        if not STORE.exists:
            return Response(status=404)
        if request.method == "DELETE":
            STORE.delete()
            return Response(status=204)
        return STORE.data

    @app.route("/expensive", methods=["GET", "PUT"])
    @preconditions(versioned_resource, require=True)
    def expensive() -> Response:
        return Response(EXPENSIVE(), mimetype="application/json")

    @app.get("/nostore")
    def nostore() -> Response:
        return Response(b"secret", headers={"Cache-Control": "no-store"})

    @app.get("/missing")
    def missing() -> Any:
        return b"not here", 404

    @app.get("/stream")
    def stream() -> Response:
        return Response(iter(STREAM_CHUNKS), mimetype="text/plain")

    @app.get("/events")
    def events() -> Response:
        return Response(EVENTS, mimetype="text/event-stream")

    install(app)
    app.wsgi_app = ConditionalMiddleware(app.wsgi_app, max_buffer=MAX_BUFFER)  # type: ignore[method-assign]
    return app


def flask_async_app() -> Any:
    """The Flask stack with ``async def`` views (and async validators), set up through the
    ``IfMatch`` extension and its ``IFMATCH_*`` configuration."""
    from flask import Flask, Response, request

    from ifmatch.flask import IfMatch

    app = Flask("ifmatch-conformance-async")
    app.config.update(IFMATCH_MAX_BUFFER=MAX_BUFFER, IFMATCH_REQUIRE_PRECONDITIONS=True)
    ifmatch = IfMatch(app)

    async def current(*args: Any, **kwargs: Any) -> Resource:
        return STORE.resource()

    @app.get("/doc")
    async def doc() -> Response:
        return Response(DOC_BODY, mimetype="application/json", headers=DOC_HEADERS)

    @app.route("/versioned", methods=["GET", "HEAD", "PUT", "DELETE"])
    @ifmatch.preconditions(current)
    async def versioned() -> Any:
        if request.method == "PUT":
            STORE.put(request.get_data())
            return Response(
                STORE.body(),
                mimetype="application/json",
                headers=validator_headers(STORE.resource()),
            )
        if not STORE.exists:
            return Response(status=404)
        if request.method == "DELETE":
            STORE.delete()
            return Response(status=204)
        return STORE.data

    @app.route("/expensive", methods=["GET", "PUT"])
    @ifmatch.preconditions(current)
    async def expensive() -> Response:
        return Response(EXPENSIVE(), mimetype="application/json")

    @app.get("/nostore")
    async def nostore() -> Response:
        return Response(b"secret", headers={"Cache-Control": "no-store"})

    @app.get("/missing")
    async def missing() -> Any:
        return b"not here", 404

    @app.get("/stream")
    async def stream() -> Response:
        return Response(iter(STREAM_CHUNKS), mimetype="text/plain")

    @app.get("/events")
    async def events() -> Response:
        return Response(EVENTS, mimetype="text/event-stream")

    return app


# --- bare ASGI ------------------------------------------------------------------------------


def bare_asgi_app() -> Any:
    """A raw ASGI callable; the write guard raises, the middleware renders."""
    from ifmatch.asgi import ConditionalMiddleware

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path, method = scope["path"], scope["method"]
        headers = scope["headers"]

        async def respond(status: int, pairs: list[tuple[str, str]], body: bytes = b"") -> None:
            raw = [(k.lower().encode(), v.encode()) for k, v in pairs]
            if status not in (204, 304):
                raw.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": status, "headers": raw})
            await send({"type": "http.response.body", "body": body})

        if path == "/doc":
            await respond(
                200, [("content-type", "application/json"), *DOC_HEADERS.items()], DOC_BODY
            )
        elif path == "/versioned":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            check_preconditions(method, headers, STORE.resource(), require=True)
            if method == "PUT":
                STORE.put(body)
            elif not STORE.exists:
                await respond(404, [])
                return
            elif method == "DELETE":
                STORE.delete()
                await respond(204, [])
                return
            await respond(
                200,
                [("content-type", "application/json"), *validator_headers(STORE.resource())],
                STORE.body(),
            )
        elif path == "/nostore":
            await respond(200, [("cache-control", "no-store")], b"secret")
        elif path == "/stream":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/plain")],
                }
            )
            for chunk in STREAM_CHUNKS:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        elif path == "/events":
            await respond(200, [("content-type", "text/event-stream")], EVENTS)
        else:
            await respond(404, [], b"not here")

    return ConditionalMiddleware(app, max_buffer=MAX_BUFFER)


# --- bare WSGI ------------------------------------------------------------------------------


def bare_wsgi_app() -> Any:
    """A raw WSGI callable; the write guard raises, the middleware renders."""
    from ifmatch.wsgi import ConditionalMiddleware, status_line

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        headers = [
            (k[5:].replace("_", "-"), v) for k, v in environ.items() if k.startswith("HTTP_")
        ]
        if path == "/doc":
            start_response("200 OK", [("Content-Type", "application/json"), *DOC_HEADERS.items()])
            return [DOC_BODY]
        if path == "/versioned":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            check_preconditions(method, headers, STORE.resource(), require=True)
            if method == "PUT":
                STORE.put(body)
            elif not STORE.exists:
                start_response("404 Not Found", [])
                return [b""]
            elif method == "DELETE":
                STORE.delete()
                start_response("204 No Content", [])
                return []
            start_response(
                status_line(200),
                [("Content-Type", "application/json"), *validator_headers(STORE.resource())],
            )
            return [STORE.body()]
        if path == "/nostore":
            start_response("200 OK", [("Cache-Control", "no-store")])
            return [b"secret"]
        if path == "/stream":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return iter(STREAM_CHUNKS)
        if path == "/events":
            start_response("200 OK", [("Content-Type", "text/event-stream")])
            return [EVENTS]
        start_response("404 Not Found", [])
        return [b"not here"]

    return ConditionalMiddleware(app, max_buffer=MAX_BUFFER)


# --- clients --------------------------------------------------------------------------------


def asgi_client(app: Any) -> Iterator[Client]:
    from starlette.testclient import TestClient

    with TestClient(app) as client:

        def call(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
            response = client.request(method, path, headers=headers, content=body or None)
            return Answer(
                response.status_code, _joined(response.headers.multi_items()), response.content
            )

        yield call


def wsgi_client(app: Any) -> Iterator[Client]:
    from werkzeug.test import Client as WerkzeugClient

    client = WerkzeugClient(app)

    def call(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        response = client.open(path, method=method, headers=headers, data=body)
        data = response.get_data()
        response.close()
        return Answer(response.status_code, _joined(response.headers.items()), data)

    yield call


def flask_client(app: Any) -> Iterator[Client]:
    client = app.test_client()

    def call(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        response = client.open(path, method=method, headers=headers, data=body)
        data = response.get_data()
        response.close()
        return Answer(response.status_code, _joined(response.headers.items()), data)

    yield call


def django_client() -> Iterator[Client]:
    from django.test import Client as DjangoClient

    client = DjangoClient()

    def call(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        response = client.generic(
            method, path, data=body, headers=headers, content_type="application/json"
        )
        if getattr(response, "streaming", False):
            data = b"".join(response.streaming_content)
        else:
            data = response.content
        return Answer(response.status_code, _joined(response.items()), data)

    yield call


def django_asgi_app() -> Any:
    """Django's ASGI handler (the middleware in its async mode, async views) with the
    conformance paths mapped to the ``async/`` views of the URLconf."""
    from django.core.asgi import get_asgi_application

    django_app = get_asgi_application()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {
                **scope,
                "path": "/async" + scope["path"],
                "raw_path": b"/async" + scope.get("raw_path", scope["path"].encode()),
            }
        await django_app(scope, receive, send)

    return app


#: Servers started by :func:`uvicorn_client`, one per stack name, kept for the whole run.
_SERVERS: dict[str, str] = {}


def _serve_in_thread(app: Any) -> str:
    """Start uvicorn on ``app`` in a daemon thread of this process; returns its base URL."""
    import atexit
    import threading

    import uvicorn

    from tests.support.servers import free_port

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):  # bounded: 10 s
        if server.started:
            break
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        threading.Event().wait(0.02)
    else:
        raise RuntimeError("uvicorn did not start within 10 s")

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    atexit.register(stop)
    return f"http://127.0.0.1:{port}"


def uvicorn_client(name: str, factory: Callable[[], Any]) -> Iterator[Client]:
    """The app under a real uvicorn server in a thread of this process (so it shares
    STORE), driven by httpx; one server per stack for the whole run."""
    import httpx

    if name not in _SERVERS:
        _SERVERS[name] = _serve_in_thread(factory())
    with httpx.Client(base_url=_SERVERS[name], timeout=10) as client:

        def call(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
            response = client.request(method, path, headers=headers, content=body or None)
            return Answer(
                response.status_code, _joined(response.headers.multi_items()), response.content
            )

        yield call


STACKS: dict[str, Callable[[], Iterator[Client]]] = {
    "starlette": lambda: asgi_client(starlette_app()),
    "fastapi": lambda: asgi_client(fastapi_app()),
    "flask": lambda: flask_client(flask_app()),
    "flask-async": lambda: flask_client(flask_async_app()),
    "bare-asgi": lambda: asgi_client(bare_asgi_app()),
    "bare-wsgi": lambda: wsgi_client(bare_wsgi_app()),
    "django": django_client,
    "django-asgi": lambda: uvicorn_client("django-asgi", django_asgi_app),
}
