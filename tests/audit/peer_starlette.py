"""A Starlette app for the auditor to examine, served by uvicorn.

``/file`` returns ``FileResponse(path)``; ``/static/...`` is ``StaticFiles`` over the
same directory, and ``/ifmatch/...`` is ifmatch's own ``StaticFiles`` (for the docs'
comparison column).  The directory comes from ``IFMATCH_AUDIT_ROOT``.

Run: ``IFMATCH_AUDIT_ROOT=DIR uvicorn tests.audit.peer_starlette:app``.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ifmatch.asgi_files import StaticFiles as IfmatchStaticFiles

ROOT = Path(os.environ.get("IFMATCH_AUDIT_ROOT", "."))


async def serve_file(request: Request) -> FileResponse:
    return FileResponse(ROOT / "data.txt")


app = Starlette(
    routes=[
        Route("/file", serve_file),
        Mount("/static", StaticFiles(directory=ROOT)),
        Mount("/ifmatch", IfmatchStaticFiles(ROOT)),
    ]
)
