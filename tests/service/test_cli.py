"""``ifmatch serve`` options, and how settings reach uvicorn's worker processes."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from ifmatch.service.cli import main, parse_size
from ifmatch.service.settings import ENV_SETTINGS, ENV_TOKEN, Settings


@pytest.mark.parametrize(
    ("text", "size"),
    [("1048576", 1048576), ("512KiB", 512 * 1024), ("10M", 10 * 1024**2), ("1 GiB", 1024**3)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "ten", "-1", "1.5M", "3 parsecs"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size(text)


def test_settings_travel_through_the_environment() -> None:
    settings = Settings(
        db="sqlite:///x.db",
        workers=3,
        token="t0ken",
        require_preconditions=False,
        max_json_body=5,
        max_file_body=7,
        access_log=False,
    )
    environ = {ENV_SETTINGS: settings.to_env(), ENV_TOKEN: "t0ken"}
    assert "t0ken" not in environ[ENV_SETTINGS]  # the token stays out of the JSON
    assert Settings.from_env(environ) == settings
    assert Settings.from_env({}) == Settings()


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown settings"):
        Settings.from_env({ENV_SETTINGS: '{"colour": "blue"}'})


def test_bad_database_fails_before_serving(capsys: pytest.CaptureFixture[str]) -> None:
    assert main("serve", ["--db", "mysql://nowhere/x"]) == 1
    assert "cannot open mysql://nowhere/x" in capsys.readouterr().err


def test_bad_worker_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main("serve", ["--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_newer_schema_fails_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    from ifmatch.service.backends import open_store

    path = tmp_path / "db.sqlite"
    open_store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE schema_version SET version = 2")
    assert main("serve", ["--db", f"sqlite:///{path}"]) == 1
    assert "schema version 2" in capsys.readouterr().err


def test_default_bind_is_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 4: without --host the service listens on 127.0.0.1 only, never on all interfaces."""
    import uvicorn

    served: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(options))
    monkeypatch.setenv(ENV_SETTINGS, "")  # restored afterwards: main() exports the settings
    assert main("serve", ["--db", f"sqlite:///{tmp_path / 'db.sqlite'}"]) == 0
    assert (served["host"], served["port"]) == ("127.0.0.1", 8000)
    assert Settings.from_env({ENV_SETTINGS: os.environ[ENV_SETTINGS]}).host == "127.0.0.1"
