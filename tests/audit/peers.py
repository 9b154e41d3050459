"""Start the real servers the auditor is compared against; each yields its URLs.

nginx serves a static file; Django's dev server runs ``ConditionalGetMiddleware``
and ``@condition``; Werkzeug's dev server runs Flask; uvicorn runs Starlette.
All listen on 127.0.0.1, on free ports, for one test module.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.support.servers import free_port, nginx_serving, running, uvicorn_app

#: Served as a static file by every peer; text, so compression would shrink it.
FILE_CONTENT = b"".join(
    b"line %05d of a static file served to the auditor\n" % n for n in range(400)
)


def write_root(root: Path) -> Path:
    (root / "data.txt").write_bytes(FILE_CONTENT)
    return root


@contextlib.contextmanager
def _python_server(module: str, *args: str) -> Iterator[str]:
    port = free_port()
    with running([sys.executable, "-m", module, str(port), *args], port):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def peer_urls(root: Path) -> Iterator[dict[str, str]]:
    """Every peer's URL under audit, by the column name used in docs/audit.md."""
    write_root(root)
    with contextlib.ExitStack() as stack:
        nginx = stack.enter_context(nginx_serving(root))
        django = stack.enter_context(_python_server("tests.audit.peer_django"))
        flask = stack.enter_context(
            _python_server("tests.audit.peer_flask", str(root / "data.txt"))
        )
        starlette = stack.enter_context(
            uvicorn_app("tests.audit.peer_starlette:app", env={"IFMATCH_AUDIT_ROOT": str(root)})
        )
        yield {
            "nginx static file": f"{nginx}/data.txt",
            "Django ConditionalGetMiddleware": f"{django}/doc",
            "Django @condition": f"{django}/edit",
            "Flask send_file": f"{flask}/file",
            "Flask JSON view": f"{flask}/doc",
            "Starlette FileResponse": f"{starlette}/file",
            "Starlette StaticFiles": f"{starlette}/static/data.txt",
            "ifmatch StaticFiles (ASGI)": f"{starlette}/ifmatch/data.txt",
            "ifmatch WSGI middleware (Flask jsonify)": f"{flask}/ifmatch/doc",
        }
