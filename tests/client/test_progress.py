"""``ifmatch download``'s progress bar: drawn on a terminal only, never into a pipe or a log."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from ifmatch.cli import main
from tests.client.app import State

DATA = bytes(range(256)) * 512


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("terminal", "flags", "drawn"),
    [
        pytest.param(False, [], False, id="pipe"),
        pytest.param(True, [], True, id="terminal"),
        pytest.param(True, ["--quiet"], False, id="terminal-quiet"),
        pytest.param(False, ["--progress"], True, id="pipe-forced"),
    ],
)
def test_progress_bar_only_where_asked(
    terminal: bool,
    flags: list[str],
    drawn: bool,
    server: str,
    state: State,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state.put_file("f", DATA)
    stream = Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    target = tmp_path / "out.bin"
    assert main(["download", f"{server}/files/f", "-o", str(target), *flags]) == 0
    assert target.read_bytes() == DATA
    err = stream.getvalue()
    assert f"saved {target} ({len(DATA)} bytes)" in err
    assert ("\r" in err) is drawn
    assert ("100%" in err) is drawn
    if not drawn:
        assert err.count("\n") == 1  # the one summary line
