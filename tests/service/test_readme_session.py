"""The shell sessions of the README and docs/, run as written against a real ``ifmatch serve``
on SQLite (and the curl session of docs/service.md replayed over HTTP), so they cannot rot."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ifmatch import parse_http_date
from tests.support.servers import serving, unavailable

pytestmark = pytest.mark.slow
NOTE = "/api/notes/hello"
JSON = {"Content-Type": "application/json"}
NUMBERS = "".join(f"{n}\n" for n in range(1, 200_001)).encode()


def test_readme_session(tmp_path: Path) -> None:
    with (
        serving(f"sqlite:///{tmp_path / 'ifmatch.db'}") as base,
        httpx.Client(base_url=base) as http,
    ):
        body = b'{"title": "Hello", "body": "first draft"}'
        created = http.put(NOTE, content=body, headers={**JSON, "If-None-Match": "*"})
        assert (created.status_code, created.headers["ETag"]) == (201, '"v1"')
        assert created.headers["Location"] == NOTE
        assert parse_http_date(created.headers["Date"]) >= parse_http_date(
            created.headers["Last-Modified"]
        )  # §8.8.2.1: never a Last-Modified later than Date

        read = http.get(NOTE)
        assert (read.status_code, read.content) == (200, body)
        assert read.headers["Cache-Control"] == "no-cache"

        assert http.get(NOTE, headers={"If-None-Match": '"v1"'}).status_code == 304

        second = b'{"title": "Hello", "body": "second draft"}'
        replaced = http.put(NOTE, content=second, headers={**JSON, "If-Match": '"v1"'})
        assert (replaced.status_code, replaced.headers["ETag"]) == (200, '"v2"')

        stale = http.put(NOTE, content=b"{}", headers={**JSON, "If-Match": '"v1"'})
        assert (stale.status_code, stale.headers["ETag"]) == (412, '"v2"')
        assert stale.json()["precondition"] == "If-Match"

        blind = http.put(NOTE, content=b"{}", headers=JSON)
        assert blind.status_code == 428
        assert blind.headers["Content-Type"] == "application/problem+json"

        patch = b'{"body": null, "tags": ["demo"]}'
        merge = {"Content-Type": "application/merge-patch+json", "If-Match": '"v2"'}
        patched = http.patch(NOTE, content=patch, headers=merge)
        assert patched.status_code == 200
        assert patched.json() == {"title": "Hello", "tags": ["demo"]}
        assert http.get(NOTE).content == patched.content

        text = {"Content-Type": "text/plain"}
        uploaded = http.put("/files/numbers.txt", content=NUMBERS, headers=text)
        assert (uploaded.status_code, uploaded.headers["ETag"]) == (201, '"v1"')

        part = http.get("/files/numbers.txt", headers={"Range": "bytes=0-99999"})
        assert part.status_code == 206
        resume = {"Range": "bytes=100000-", "If-Range": '"v1"'}
        rest = http.get("/files/numbers.txt", headers=resume)
        assert rest.status_code == 206
        assert rest.headers["Content-Range"] == f"bytes 100000-{len(NUMBERS) - 1}/{len(NUMBERS)}"
        assert part.content + rest.content == NUMBERS

        changed = "".join(f"{n}\n" for n in range(2, 200_002)).encode()
        replaced_file = http.put(
            "/files/numbers.txt", content=changed, headers={**text, "If-Match": '"v1"'}
        )
        assert (replaced_file.status_code, replaced_file.headers["ETag"]) == (204, '"v2"')
        restarted = http.get("/files/numbers.txt", headers=resume)
        assert restarted.status_code == 200  # the whole new file, never a splice
        assert restarted.content == changed


# -- every ```console block of the README and docs, run as written -----------------------------
#
# A ```console block is a shell session: "$ command" lines (a trailing backslash continues
# one), each followed by the output it printed.  Every such block in README.md and docs/ is
# run here, in a fresh temporary directory, against a fresh `ifmatch serve` that the block
# knows as localhost:8000.  Illustrations that cannot run here (a remote API, a server left
# running) are fenced ```sh, without prompts or output.
#
# The comparison ignores what legitimately varies: HTTP-dates and timestamps, blank lines,
# and the header fields the page leaves out (the fields it shows must be there, in any
# order).  "..." inside a line stands for any text; a line of "..." for any lines.

ROOT = Path(__file__).resolve().parents[2]
_HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT")
_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
_STATUS = re.compile(r"HTTP/\d(\.\d)? \d{3}\b")
_FIELD = re.compile(r"[A-Za-z0-9-]+: ")
#: A URL naming another host: sessions talk to the service they start, and to nothing else.
_REMOTE = re.compile(r"\b[a-z][a-z0-9+.-]*://(?!localhost[:/]|127\.0\.0\.1[:/])[^\s'\"]+")


@dataclass
class Step:
    """One command of a session and the output the page shows for it."""

    command: str
    expected: list[str]


def console_blocks(path: Path) -> list[tuple[int, list[Step]]]:
    """The ```console blocks of a Markdown file: (line number, steps)."""
    blocks: list[tuple[int, list[Step]]] = []
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```console":
            index += 1
            continue
        start, index = index + 1, index + 1
        steps: list[Step] = []
        while index < len(lines) and lines[index].strip() != "```":
            line = lines[index]
            if line.startswith("$ "):
                command = line[2:]
                while command.endswith("\\") and index + 1 < len(lines):
                    index += 1
                    command = command[:-1] + " " + lines[index].strip()
                steps.append(Step(command, []))
            elif steps:
                steps[-1].expected.append(line)
            else:
                raise AssertionError(f"{path.name}:{index + 1}: output before any '$ ' command")
            index += 1
        blocks.append((start, steps))
        index += 1
    return blocks


def _normalize(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        line = _STAMP.sub("<TIME>", _HTTP_DATE.sub("<DATE>", line.rstrip("\r").rstrip()))
        if line:
            out.append(line)
    return out


def _line_matches(pattern: str, line: str) -> bool:
    if "..." not in pattern:
        return pattern == line
    parts = [re.escape(part) for part in pattern.split("...")]
    return re.fullmatch(".*".join(parts), line, re.S) is not None


def _sections(lines: list[str]) -> list[tuple[str, list[str]]]:
    """Split output into ("text", [line]) items and ("head", [status, fields...]) items."""
    items: list[tuple[str, list[str]]] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if _STATUS.match(line):
            head = [line]
            while index < len(lines) and _FIELD.match(lines[index]):
                head.append(lines[index])
                index += 1
            items.append(("head", head))
        else:
            items.append(("text", [line]))
    return items


def _matches(expected: list[tuple[str, list[str]]], actual: list[tuple[str, list[str]]]) -> bool:
    """Whether ``actual`` fits ``expected`` ("..." lines match any run of items)."""
    if not expected:
        return not actual
    kind, lines = expected[0]
    if kind == "text" and lines[0] == "...":
        return any(_matches(expected[1:], actual[skip:]) for skip in range(len(actual) + 1))
    if not actual or actual[0][0] != kind:
        return False
    got = actual[0][1]
    if kind == "text":
        fits = _line_matches(lines[0], got[0])
    else:
        fields = [field.lower() for field in got[1:]]
        fits = _line_matches(lines[0], got[0]) and all(
            any(_line_matches(shown.lower(), field) for field in fields) for shown in lines[1:]
        )
    return fits and _matches(expected[1:], actual[1:])


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


SESSIONS = [
    pytest.param(path, start, steps, id=f"{path.relative_to(ROOT)}:{start}")
    for path in _documents()
    for start, steps in console_blocks(path)
]


def test_the_docs_have_sessions_to_run() -> None:
    names = {str(param.id).split(":")[0] for param in SESSIONS}
    assert {"README.md", "docs/service.md"} <= names


@pytest.mark.parametrize(("path", "start", "steps"), SESSIONS)
def test_shell_session_runs_as_written(
    tmp_path: Path, path: Path, start: int, steps: list[Step]
) -> None:
    for program in ("curl", "seq", "cmp", "wc"):
        if shutil.which(program) is None:
            unavailable(f"{program} is not installed (scripts/system-deps.sh installs curl)")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("IFMATCH_TOKEN", None)
    with serving(f"sqlite:///{tmp_path / 'session.db'}") as base:
        host = base.removeprefix("http://")
        for step in steps:
            elsewhere = _REMOTE.search(step.command)
            assert elsewhere is None, (
                f"{path.name}:{start}: {elsewhere and elsewhere.group(0)} is not this service:"
                " fence an illustration ```sh, without prompts and output"
            )
            command = step.command.replace("localhost:8000", host)
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            where = f"{path.name}:{start}: $ {step.command}"
            assert done.returncode == 0, f"{where}\nexit {done.returncode}\n{done.stderr}"
            actual = _normalize(done.stdout.replace(host, "localhost:8000").splitlines())
            expected = _normalize(step.expected)
            assert _matches(_sections(expected), _sections(actual)), (
                f"{where}\n--- the page shows:\n"
                + "\n".join(expected)
                + "\n--- the command printed:\n"
                + "\n".join(actual)
            )


@pytest.mark.parametrize(
    ("expected", "actual", "fits"),
    [
        (["HTTP/1.1 200 OK", 'etag: "v1"'], ["HTTP/1.1 200 OK", "date: x", 'ETag: "v1"'], True),
        (["HTTP/1.1 200 OK", 'etag: "v2"'], ["HTTP/1.1 200 OK", 'etag: "v1"'], False),
        (["HTTP/1.1 304 Not Modified"], ["HTTP/1.1 200 OK"], False),
        (['{"detail":"If-Match failed: ..."}'], ['{"detail":"If-Match failed: no"}'], True),
        (["...", "last"], ["a", "b", "last"], True),
        (["first"], ["first", "more"], False),
        (["1288895"], ["1288896"], False),
    ],
)
def test_session_comparison(expected: list[str], actual: list[str], fits: bool) -> None:
    """The comparison is not vacuous: missing fields, other values and extra output fail."""
    assert _matches(_sections(expected), _sections(actual)) is fits
