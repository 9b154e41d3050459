"""The client stands on the core alone: importing it loads no service, server or framework code."""

from __future__ import annotations

import subprocess
import sys


def test_the_client_imports_no_service_or_server_module() -> None:
    """Issue 12: the client imported ``ifmatch.service.patch`` for its merge patch."""
    probe = (
        "import sys, ifmatch.client, ifmatch.client.cli\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('ifmatch.service', 'starlette',"
        " 'uvicorn', 'django', 'flask', 'ifmatch.asgi', 'ifmatch.wsgi')))\n"
        "print(','.join(bad))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert completed.stdout.strip() == ""
