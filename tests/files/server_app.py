"""The app the real-server test runs under uvicorn: StaticFiles mounted in Starlette.

The root comes from ``IFMATCH_FILES_ROOT``; ``bare`` is the same directory
served by StaticFiles alone (``uvicorn tests.files.server_app:bare``).
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.routing import Mount

from ifmatch.asgi_files import StaticFiles

ROOT = os.environ.get("IFMATCH_FILES_ROOT", ".")

bare = StaticFiles(ROOT)
app = Starlette(routes=[Mount("/files", app=StaticFiles(ROOT, cache_control="no-cache"))])
