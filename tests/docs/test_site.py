"""``make docs``: the mkdocs-material site with its mkdocstrings API reference builds in strict
mode (a broken link, anchor or reference fails) and without a single warning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1].parent


def test_site_builds_strict_without_warnings(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "WARNING" not in output, output[-4000:]
    # The API reference is rendered from the docstrings, not empty stubs.
    frameworks = (site / "api" / "frameworks" / "index.html").read_text()
    assert "PRECONDITION_RESPONSES" in frameworks
    assert "IfMatch" in frameworks
    assert "AsyncConditionalMiddleware" in frameworks
    models = (site / "api" / "models" / "index.html").read_text()
    assert "guarded_update_async" in models
    assert "guarded_write" in models
    assert (site / "integrations" / "sqlalchemy" / "index.html").exists()
