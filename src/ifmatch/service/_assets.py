"""The service's browser side: the page at ``/``, the module at ``/ifmatch.js``, ``/ui/*``.

The files ship inside the package (``ifmatch/service/static``, package
data), so an installed wheel serves them.  They go through ifmatch's own
:class:`ifmatch.asgi_files.StaticFiles`: a strong ETag from a SHA-256 of the
content (the same on every instance, whatever the file's mtime), 304 and
ranges, and ``Cache-Control: no-cache``, so a browser keeps them but
revalidates each before use: a new release is picked up at the next load.

Every asset carries a strict ``Content-Security-Policy``: scripts and styles
from this origin only (no inline script), requests to this origin only
(``connect-src 'self'``), no framing.  User files under ``/files`` get
:data:`USER_FILE_HEADERS` instead: ``nosniff`` and ``sandbox``, so an
uploaded HTML page runs in an opaque origin without scripts and can never
read the token the page keeps in this origin's ``sessionStorage``.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ifmatch.asgi_files import FileResponse, StaticFiles

STATIC = Path(__file__).parent / "static"
PAGE = "index.html"
MODULE = "ifmatch.js"

#: The page's policy: nothing but this origin's own files and requests.
PAGE_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
ASSET_HEADERS = (
    ("Cache-Control", "no-cache"),
    ("Content-Security-Policy", PAGE_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)
#: Added to every user file served from ``/files``: never sniffed, never active in our origin.
USER_FILE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}
#: Whole-content ETags for files up to this size (all the assets).
_CONTENT_ETAG_LIMIT = 1024 * 1024


class _Asset:
    """One asset file at a fixed path, as an ASGI app (GET and HEAD; 405 otherwise)."""

    def __init__(self, name: str, extra: tuple[tuple[str, str], ...] = ()) -> None:
        self.path = STATIC / name
        self.headers = ASSET_HEADERS + extra

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = FileResponse(
            self.path, headers=self.headers, content_etag_limit=_CONTENT_ETAG_LIMIT
        )
        await response(scope, receive, send)


#: The page as ``/`` serves it: ``/`` also answers JSON clients (see :func:`wants_page`).
page = _Asset(PAGE, (("Vary", "Accept"),))
module = _Asset(MODULE)


def wants_page(accept: str | None) -> bool:
    """Whether ``/`` should send the page rather than its JSON links.

    A browser asks for ``text/html``; a client that names JSON and not HTML
    gets the links; anything else (``*/*``, no Accept) gets the page.
    """
    if accept is None:
        return True
    value = accept.lower()
    return "text/html" in value or "json" not in value


class Index:
    """``/``: the page for browsers, the service's JSON links (``links``) for JSON clients."""

    def __init__(self, links: ASGIApp) -> None:
        self.links = links

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fields = [value for name, value in scope["headers"] if name == b"accept"]
        accept = b",".join(fields).decode("latin-1") if fields else None
        await (page if wants_page(accept) else self.links)(scope, receive, send)


def is_public(scope: Scope) -> bool:
    """Whether a request reads the page or its files, which need no token: the page is
    where the token is typed in, and it holds no data."""
    path: str = scope["path"]
    return scope["method"] in {"GET", "HEAD"} and (
        path in {"/", f"/{MODULE}"} or path.startswith("/ui/")
    )


def routes(links: ASGIApp) -> list[BaseRoute]:
    """``/`` (the page or ``links``), the module, and the page's other files under ``/ui``."""
    files = StaticFiles(STATIC, headers=ASSET_HEADERS, content_etag_limit=_CONTENT_ETAG_LIMIT)
    return [
        Route("/", Index(links), methods=["GET", "HEAD"]),
        Route(f"/{MODULE}", module, methods=["GET", "HEAD"]),
        Mount("/ui", app=files),
    ]
