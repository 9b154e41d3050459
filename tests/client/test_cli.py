"""``ifmatch get`` and ``ifmatch download`` from the command line."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ifmatch.cli import main
from ifmatch.client.cli import default_cache_path, file_name_from_url
from tests.client.app import Doc, State

DATA = bytes(range(256)) * 2048


@pytest.mark.usefixtures("http")  # on httpx, then on httpx2 ($IFMATCH_HTTP)
def test_get_reuses_the_cached_copy_on_304(
    server: str, state: State, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    state.docs["d"] = Doc({"hello": "world"})
    cache = str(tmp_path / "cache.sqlite")
    assert main(["get", f"{server}/docs/d", "--cache", cache]) == 0
    first = capsysbinary.readouterr()
    assert first.out == b'{"hello": "world"}'
    assert b"304" not in first.err
    assert main(["get", f"{server}/docs/d", "--cache", cache, "-H", "X-Test: 1"]) == 0
    second = capsysbinary.readouterr()
    assert second.out == first.out
    assert b"304 Not Modified: reused the cached copy" in second.err
    assert state.log[-1][2]["if-none-match"] == '"v1"'
    assert state.log[-1][2]["x-test"] == "1"


@pytest.mark.usefixtures("http")  # on httpx, then on httpx2 ($IFMATCH_HTTP)
def test_get_http_error_exits_1_with_one_line(
    server: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["get", f"{server}/docs/none", "--cache", str(tmp_path / "c.sqlite")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip() == "ifmatch: HTTP 404 Not Found"


@pytest.mark.usefixtures("http")  # on httpx, then on httpx2 ($IFMATCH_HTTP)
@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        pytest.param(["get", "http://127.0.0.1:{port}/x"], 1, "cannot connect", id="refused"),
        pytest.param(["get", "ftp://example/x"], 2, "not an http(s) URL", id="bad scheme"),
        pytest.param(["get", "http://h/x", "-H", "no colon"], 2, "bad header", id="bad -H"),
        pytest.param(
            ["download", "http://127.0.0.1:{port}/x", "-o", "{tmp}/f"],
            1,
            "cannot connect",
            id="download refused",
        ),
    ],
)
def test_errors_are_one_line_without_traceback(
    argv: list[str],
    code: int,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        args = [a.format(port=closed.getsockname()[1], tmp=tmp_path) for a in argv]
        if args[0] == "get":
            args += ["--cache", str(tmp_path / "c.sqlite")]
        assert main(args) == code
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.usefixtures("http")  # on httpx, then on httpx2 ($IFMATCH_HTTP)
def test_download_with_progress_bar_and_resume(
    server: str, state: State, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state.put_file("f", DATA)
    state.cut_after = len(DATA) // 3
    target = tmp_path / "out.bin"
    assert main(["download", f"{server}/files/f", "-o", str(target), "--retries", "0"]) == 1
    failed = capsys.readouterr().err
    assert "kept" in failed
    assert "Traceback" not in failed
    kept = Path(f"{target}.part").stat().st_size
    assert main(["download", f"{server}/files/f", "-o", str(target), "--progress"]) == 0
    err = capsys.readouterr().err
    assert target.read_bytes() == DATA
    assert "100%" in err
    assert "[" + "#" * 30 + "]" in err
    assert f"resumed at byte {kept}" in err


def test_default_cache_path_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_path() == tmp_path / "ifmatch" / "cache.sqlite"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_path() == Path.home() / ".cache" / "ifmatch" / "cache.sqlite"


def test_the_installed_command_runs(tmp_path: Path) -> None:
    """The real entry point: `ifmatch get` in a subprocess, default cache under XDG_CACHE_HOME."""
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "ifmatch.cli",
                "get",
                f"http://127.0.0.1:{closed.getsockname()[1]}/",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        )
    assert completed.returncode == 1
    assert completed.stderr.startswith("ifmatch: ")
    assert "Traceback" not in completed.stderr
    assert (tmp_path / "ifmatch" / "cache.sqlite").exists()


@pytest.mark.usefixtures("http")  # on httpx, then on httpx2 ($IFMATCH_HTTP)
@pytest.mark.parametrize("command", ["get", "download"])
def test_timeout_is_one_line(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server that accepts the connection and never answers: a timeout, not a traceback."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/x"
        extra = (
            ["--cache", str(tmp_path / "c.sqlite")]
            if command == "get"
            else ["-o", str(tmp_path / "f"), "--retries", "0"]
        )
        assert main([command, url, "--timeout", "0.3", *extra]) == 1
    err = capsys.readouterr().err
    assert "timed out" in err
    assert len(err.strip().splitlines()) == 1


# -- issue 13 item 11 ------------------------------------------------------------------------


@pytest.mark.usefixtures("http")
def test_get_with_the_callers_own_if_none_match_says_304_on_stderr(
    server: str, state: State, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """An empty stdout and status 0 alone do not say the copy is current: stderr does."""
    state.docs["d"] = Doc({"hello": "world"}, version=2)
    for cache in (["--cache", str(tmp_path / "c.sqlite")], ["--no-cache"]):
        assert main(["get", f"{server}/docs/d", "-H", 'If-None-Match: "v2"', *cache]) == 0
        captured = capsysbinary.readouterr()
        assert captured.out == b""
        assert captured.err.decode().strip() == (
            'ifmatch: 304 Not Modified: your copy is current (If-None-Match: "v2")'
        )


@pytest.mark.usefixtures("http")
def test_download_without_o_names_the_file_after_the_urls_last_segment(
    server: str,
    state: State,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state.put_file("report.bin", DATA)
    monkeypatch.chdir(tmp_path)
    assert main(["download", f"{server}/files/report.bin?version=2#top"]) == 0
    assert (tmp_path / "report.bin").read_bytes() == DATA
    assert capsys.readouterr().err.strip() == f"ifmatch: saved report.bin ({len(DATA)} bytes)"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        pytest.param("http://127.0.0.1:9/", "has no last segment", id="root"),
        pytest.param("http://127.0.0.1:9/dir/", "has no last segment", id="directory"),
        pytest.param("http://127.0.0.1:9/a/..", "hidden file or a directory", id="dot-dot"),
        pytest.param("http://127.0.0.1:9/a/%2e%2e", "hidden file or a directory", id="encoded .."),
        pytest.param("http://127.0.0.1:9/.bashrc", "hidden file or a directory", id="dotfile"),
        pytest.param("http://127.0.0.1:9/a%2F..%2Fetc", "not a plain file name", id="encoded /"),
        pytest.param("http://127.0.0.1:9/a%5Cb", "not a plain file name", id="backslash"),
        pytest.param("http://127.0.0.1:9/a%00b", "not a plain file name", id="NUL"),
    ],
)
def test_download_refuses_a_url_without_a_safe_file_name(
    url: str,
    why: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Refused before any request (port 9 is never contacted) and before any file is made."""
    monkeypatch.chdir(tmp_path)
    assert main(["download", url]) == 2
    err = capsys.readouterr().err
    assert why in err
    assert "pass -o FILE" in err
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@given(st.text(max_size=40))
def test_file_name_from_url_is_a_plain_name_in_this_directory_or_refused(path: str) -> None:
    try:
        name = file_name_from_url(f"http://h/{path}")
    except ValueError as error:
        refusal = str(error)
    else:
        refusal = ""
    if refusal:
        assert refusal.endswith("; pass -o FILE")
        return
    assert name
    assert Path(name).name == name
    assert Path(name).parent == Path(".")
    assert not name.startswith(".")
    assert "/" not in name
    assert "\\" not in name
    assert all(ord(c) >= 32 and ord(c) != 127 for c in name)


@pytest.mark.usefixtures("http")
def test_resumes_within_one_call_are_counted_and_said(
    server: str, state: State, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two dropped connections in one call: "resumed 2 times", not a bare byte count."""
    state.put_file("f", DATA)
    third = len(DATA) // 3
    state.cut_after = third
    cuts = iter([third])  # the second response (a 206) is cut too, once

    def cut_again() -> None:
        state.cut_after = next(cuts, None)

    state.on_cut = cut_again
    target = tmp_path / "out.bin"
    assert main(["download", f"{server}/files/f", "-o", str(target), "--quiet"]) == 0
    assert target.read_bytes() == DATA
    said = re.fullmatch(
        rf"ifmatch: saved {re.escape(str(target))} \({len(DATA)} bytes; resumed 2 times, "
        rf"first at byte (\d+); {len(DATA)} bytes received in 3 requests\)",
        capsys.readouterr().err.strip(),
    )
    assert said is not None
    assert 0 < int(said[1]) <= third, "the first resume starts where the first cut left the part"


@pytest.mark.usefixtures("http")
def test_get_says_when_the_cache_answered_without_asking_the_server(
    server: str, state: State, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """A fresh stored copy (max-age) is served with no request: stderr says so, not silence."""
    state.docs["d"] = Doc({"hello": "world"})
    state.cache_control = "max-age=600"
    cache = ["--cache", str(tmp_path / "c.sqlite")]
    assert main(["get", f"{server}/docs/d", *cache]) == 0
    capsysbinary.readouterr()
    requests = len(state.log)
    assert main(["get", f"{server}/docs/d", *cache]) == 0
    second = capsysbinary.readouterr()
    assert second.out == b'{"hello": "world"}'
    assert len(state.log) == requests, "no request reached the server"
    assert second.err.decode().startswith(
        "ifmatch: answered from the cache without asking the server (hit; fresh"
    )
