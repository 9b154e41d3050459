"""Every Python code block in docs/ and README.md runs: a doc example that breaks fails here.

The blocks of one page run in order in one namespace (a later block may use what an earlier
one defined), in a fresh interpreter whose working directory is a temporary directory.
An HTML comment right before a block changes that block:

* ``<!-- docs-test: skip REASON -->``: not run; the reason is required (a fragment that
  cannot run alone, e.g. a Django ``views.py`` importing its app's ``models``).
* ``<!-- docs-test: setup`` + code + ``-->``: hidden code run just before the block (the
  names a fragment assumes, e.g. a request's headers).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
FENCE = re.compile(r"^```python\s*$")
MARKER = re.compile(r"<!--\s*docs-test:\s*(?P<kind>skip|setup)(?P<rest>.*?)-->\s*\Z", re.S)


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    code: str
    setup: str = ""
    skip: str | None = None


def blocks_of(path: Path) -> list[Block]:
    """The page's ```python blocks, with the marker comment that precedes each (if any)."""
    lines = path.read_text().splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        if not FENCE.match(lines[index]):
            index += 1
            continue
        start = index + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        before = "\n".join(lines[max(0, index - 40) : index]).rstrip()
        comment = before[before.rfind("<!--") :] if before.endswith("-->") else ""
        marker = MARKER.search(comment) if comment else None
        setup, skip = "", None
        if marker and marker["kind"] == "skip":
            skip = marker["rest"].strip()
        elif marker:
            setup = marker["rest"].strip("\n")
        name = str(path.relative_to(ROOT))
        found.append(Block(name, start + 1, "\n".join(lines[start:end]) + "\n", setup, skip))
        index = end + 1
    return found


RUNNER = r"""
import doctest, json, sys
blocks = json.loads(sys.stdin.read())
namespace = {"__name__": "__docs__"}
for block in blocks:
    if block["setup"]:
        exec(compile(block["setup"], f"{block['page']}:{block['line']} (setup)", "exec"), namespace)
    if block["code"].lstrip().startswith(">>>"):  # an interactive session: run as a doctest
        name = f"{block['page']}:{block['line']}"
        test = doctest.DocTestParser().get_doctest(block["code"], namespace, name, name,
                                                  block["line"] - 1)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test, clear_globs=False)
        namespace.update(test.globs)  # DocTest ran on a copy
        if runner.failures:
            sys.exit(f"{runner.failures} doctest example(s) failed in {name}")
        continue
    exec(compile("\n" * (block["line"] - 1) + block["code"], block["page"], "exec"), namespace)
"""


def test_every_page_is_found_and_skips_are_justified() -> None:
    every = [block for page in PAGES for block in blocks_of(page)]
    assert len(every) >= 40
    skipped = [block for block in every if block.skip is not None]
    assert all(block.skip for block in skipped), "a skip needs its reason"
    assert len(skipped) <= len(every) // 5, "skips are to stay rare"


@pytest.mark.parametrize(
    "page",
    [page for page in PAGES if blocks_of(page)],
    ids=lambda page: str(page.relative_to(ROOT)),
)
def test_code_blocks_run(page: Path, tmp_path: Path) -> None:
    runnable = [block for block in blocks_of(page) if block.skip is None]
    payload = json.dumps([block.__dict__ for block in runnable])
    done = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=payload,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "HOME": str(tmp_path),
            "NO_MKDOCS_2_WARNING": "1",
        },
    )
    assert done.returncode == 0, done.stderr[-4000:]
