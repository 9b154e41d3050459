"""The ``ifmatch`` command itself: ``--version``, ``python -m ifmatch``, missing extras."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import ifmatch
from ifmatch.cli import main


def test_version_is_declared_once_and_reported(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"ifmatch {ifmatch.__version__}\n"
    assert main(["-V"]) == 0
    assert capsys.readouterr().out == f"ifmatch {ifmatch.__version__}\n"
    # The installed metadata is read from the same attribute (tool.setuptools.dynamic).
    assert version("ifmatch") == ifmatch.__version__


def test_python_dash_m_ifmatch_is_the_command() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "ifmatch", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f"ifmatch {ifmatch.__version__}\n"
    usage = subprocess.run(
        [sys.executable, "-m", "ifmatch"], capture_output=True, text=True, timeout=60, check=False
    )
    assert usage.returncode == 2
    assert "usage: ifmatch" in usage.stdout


@pytest.mark.parametrize(
    ("argv", "absent", "extra"),
    [
        pytest.param(["get", "http://127.0.0.1:9/"], "httpx", "client", id="get"),
        pytest.param(
            ["download", "http://127.0.0.1:9/", "-o", "x"], "httpx", "client", id="download"
        ),
        pytest.param(["audit", "http://127.0.0.1:9/"], "httpx", "audit", id="audit"),
        pytest.param(["serve"], "uvicorn", "service", id="serve-uvicorn"),
        pytest.param(["serve"], "starlette", "service", id="serve-starlette"),
    ],
)
def test_a_missing_extra_is_one_readable_message(
    argv: list[str],
    absent: str,
    extra: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bare ``pip install ifmatch`` lacks the extras: simulated by hiding the module
    (``sys.modules[name] = None`` makes both ``find_spec`` and ``import`` fail)."""
    monkeypatch.setitem(sys.modules, absent, None)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"pip install 'ifmatch[{extra}]'" in err
    assert f"{absent} is not installed" in err


def test_an_import_error_inside_a_command_is_its_extra_or_a_bug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Past the up-front check, an import of one of the extra's modules failing still names
    the extra; a missing module that is no extra's keeps its traceback (that is a bug)."""
    from ifmatch import cli

    monkeypatch.delitem(sys.modules, "ifmatch.client.cli", raising=False)
    monkeypatch.setitem(sys.modules, "httpx", None)
    monkeypatch.setitem(sys.modules, "httpx2", None)  # the client runs on either library
    unchecked = cli._COMMANDS["get"]._replace(requires=())
    monkeypatch.setitem(cli._COMMANDS, "get", unchecked)
    assert main(["get", "http://127.0.0.1:9/"]) == 1
    assert "pip install 'ifmatch[client]'" in capsys.readouterr().err

    monkeypatch.setitem(cli._COMMANDS, "get", unchecked._replace(needs=frozenset()))
    with pytest.raises(ModuleNotFoundError):
        main(["get", "http://127.0.0.1:9/"])


def test_unknown_command_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--version" in out
    assert all(name in out for name in ("serve", "get", "download", "audit"))


def test_make_serve_takes_port_and_host() -> None:
    """``make serve PORT=… HOST=…`` reaches ``ifmatch serve`` (dry run: nothing starts)."""
    root = Path(__file__).resolve().parents[2]
    plan = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "serve", "PORT=8123", "HOST=127.0.0.2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=root,
    ).stdout
    assert "ifmatch serve --host 127.0.0.2 --port 8123 " in plan
    default = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=root,
    ).stdout
    assert "ifmatch serve --host 127.0.0.1 --port 8000 " in default
