"""Runs the benchmarks in bench/ and writes their tables into BENCHMARKS.md.

Each ``bench/bench_<name>.py`` defines ``run() -> str``, returning a Markdown
section (a heading, what was measured and how, and the table).  Sections are
kept between markers in BENCHMARKS.md, so running one benchmark
(``python bench/run.py core``) replaces its section and keeps the others.
Every benchmark measures ifmatch and its peers in the same run.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE.parent / "BENCHMARKS.md"
HEADER = """# Benchmarks

Written by `make bench` (`bench/run.py`); each section names what was measured,
against which peers, and on what machine, all in one run per section.
Numbers from a 2-core machine; compare rows within a section, not across machines.
"""


def _load(name: str) -> str:
    path = HERE / f"bench_{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"no benchmark {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    sys.path.insert(0, str(HERE))
    spec.loader.exec_module(module)
    started = time.perf_counter()
    section: str = module.run()
    took = time.perf_counter() - started
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    python = f"{platform.python_implementation()} {platform.python_version()}"
    machine = f"{python}, {platform.machine()}, {os.cpu_count()} cores"
    return f"{section.rstrip()}\n\n_Measured {stamp} on {machine} in {took:.0f} s._\n"


def _sections(text: str) -> dict[str, str]:
    pattern = re.compile(r"<!-- bench:(\w+) -->\n(.*?)<!-- /bench:\1 -->\n", re.DOTALL)
    return {match.group(1): match.group(2) for match in pattern.finditer(text)}


def main(argv: list[str]) -> None:
    names = argv or sorted(path.stem.removeprefix("bench_") for path in HERE.glob("bench_*.py"))
    sections = _sections(OUTPUT.read_text()) if OUTPUT.exists() else {}
    for name in names:
        print(f"bench: {name} ...", flush=True)
        sections[name] = _load(name)
        print(sections[name], flush=True)
    body = "".join(
        f"<!-- bench:{name} -->\n{sections[name]}<!-- /bench:{name} -->\n\n"
        for name in sorted(sections)
    )
    OUTPUT.write_text(f"{HEADER}\n{body}")


if __name__ == "__main__":
    main(sys.argv[1:])
