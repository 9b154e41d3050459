"""The package as users get it: an sdist and a wheel, installed into a clean virtualenv.

Built without build isolation from a copy of the project's files (no network, and no
``*.egg-info`` left in the work tree), then the wheel is installed with ``--no-deps
--no-index`` into a fresh venv: the bare ``pip install ifmatch`` a user without extras has.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import ifmatch

ROOT = Path(__file__).resolve().parents[2]
STATIC = "src/ifmatch/service/static"


def _run(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=240, check=False, cwd=cwd
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build`` (sdist, then the wheel built from the sdist) on a copy of the tree."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "src",
        source / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"),
    )
    out = tmp_path_factory.mktemp("dist")
    built = _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, source)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return out


def _one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def test_wheel_metadata(dist: Path) -> None:
    wheel = _one(dist, f"ifmatch-{ifmatch.__version__}-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"ifmatch-{ifmatch.__version__}.dist-info"
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert {"ifmatch/py.typed", "ifmatch/__main__.py", "ifmatch/cli.py"} <= names
    # The service's page and ifmatch.js are package data: every file in static/ ships.
    static = {f"ifmatch/service/static/{p.name}" for p in (ROOT / STATIC).iterdir()}
    assert "ifmatch/service/static/ifmatch.js" in static
    assert static <= names, static - names
    assert not any(name.startswith("tests/") for name in names)
    assert metadata["Version"] == ifmatch.__version__
    assert metadata["License-Expression"] == "Apache-2.0"
    requires = metadata.get_all("Requires-Dist") or []
    assert [r for r in requires if "extra ==" not in r] == []  # the core needs nothing
    extras = set(metadata.get_all("Provides-Extra") or [])
    assert {"client", "audit", "service", "django", "flask", "fastapi", "starlette"} <= extras
    service = [r for r in requires if 'extra == "service"' in r]
    assert service
    assert not any(r.startswith("httpx") for r in service)
    assert any(r.startswith("httpx") for r in requires if 'extra == "audit"' in r)
    urls = metadata.get_all("Project-URL") or []
    assert any(url.startswith("Repository, https://") for url in urls), urls
    assert "ifmatch = ifmatch.cli:main" in entry_points


def test_sdist_holds_what_a_rebuild_needs(dist: Path) -> None:
    sdist = _one(dist, f"ifmatch-{ifmatch.__version__}.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.partition("/")[2] for name in archive.getnames()}
    assert {
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "src/ifmatch/__init__.py",
        "src/ifmatch/py.typed",
    } <= names


def test_wheel_installs_into_a_clean_venv_and_runs(dist: Path, tmp_path: Path) -> None:
    wheel = _one(dist, "*.whl")
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    installed = _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--quiet",
        "--no-deps",
        "--no-index",
        wheel,
    )
    assert installed.returncode == 0, installed.stderr

    assert _run(env / "bin" / "ifmatch", "--version").stdout == f"ifmatch {ifmatch.__version__}\n"
    assert _run(python, "-m", "ifmatch", "--version").stdout == f"ifmatch {ifmatch.__version__}\n"
    core = _run(python, "-c", "import ifmatch, ifmatch.etag; print(ifmatch.ETag('v1'))")
    assert core.stdout == '"v1"\n', core.stderr
    # No extras in this venv: each command names the one to install, without a traceback.
    for argv, extra in (
        (["serve"], "service"),
        (["get", "http://127.0.0.1:9/"], "client"),
        (["audit", "http://127.0.0.1:9/"], "audit"),
    ):
        answer = _run(env / "bin" / "ifmatch", *argv)
        assert answer.returncode == 1, answer
        assert "Traceback" not in answer.stderr
        assert f"pip install 'ifmatch[{extra}]'" in answer.stderr
