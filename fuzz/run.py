"""``make fuzz``: every target of ``fuzz/targets.py`` under atheris (coverage-guided, libFuzzer),
one process per target, then a table in FUZZING.md.

    .venv/bin/python fuzz/run.py                      # 10**6 inputs per target
    .venv/bin/python fuzz/run.py --runs 20000 ranges  # a few targets, fewer inputs
    .venv/bin/python fuzz/run.py --jobs 2             # two targets at a time

A crash leaves its input in ``fuzz/crashes/<target>-crash-<sha1>`` and is counted; the
input then becomes a row of ``tests/scale/test_fuzz.py``'s table once the bug is fixed.
Without atheris (it is a binary wheel; a platform without one cannot build it), the
targets run on random inputs instead, which the report says.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "FUZZING.md"
CRASHES = ROOT / "fuzz" / "crashes"
RESULTS = ROOT / "fuzz" / "results.json"
CORPUS = ROOT / "fuzz" / "corpus"
_DONE_RE = re.compile(r"Done (\d+) runs in (\d+) second")
_STAT_RE = re.compile(r"#(\d+)\s+(?:pulse|NEW|REDUCE|DONE|INITED)\s+cov: (\d+)")


@dataclass
class Result:
    target: str
    engine: str
    runs: int
    seconds: float
    crashes: int
    coverage: int
    note: str = ""
    #: How many runs (each going on from the corpus of the one before) the totals add up.
    sittings: int = 1


def _worker(target: str, runs: int, corpus: str, random_only: bool, seconds: int) -> None:
    """Run one target in this process (called as ``run.py --worker``)."""
    sys.path.insert(0, str(ROOT))
    if random_only:
        import random

        from fuzz.targets import SEEDS, TARGETS

        function = TARGETS[target]
        generator = random.Random(0)
        started = time.monotonic()
        crashes = 0
        index = -1
        for index in range(runs):
            if seconds and index % 1000 == 0 and time.monotonic() - started > seconds:
                break
            seeds = SEEDS[target]
            data = (
                seeds[index % len(seeds)]
                if index < len(seeds)
                else generator.randbytes(generator.randrange(0, 200))
            )
            try:
                function(data)
            except Exception as error:  # a crash: keep the input and go on
                crashes += 1
                CRASHES.mkdir(exist_ok=True)
                (CRASHES / f"{target}-random-{index}").write_bytes(data)
                print(f"CRASH {type(error).__name__}: {error}"[:300], file=sys.stderr)
        took = int(time.monotonic() - started)
        print(f"Done {index + 1} runs in {took} second(s) crashes={crashes}")
        return
    import atheris  # type: ignore[import-untyped]  # no stubs; only the fuzz extra installs it

    with atheris.instrument_imports(include=["ifmatch"]):
        from fuzz.targets import TARGETS

    function = TARGETS[target]
    CRASHES.mkdir(exist_ok=True)
    argv = [
        sys.argv[0],
        corpus,
        f"-runs={runs}",
        "-max_len=512",
        "-timeout=10",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        f"-artifact_prefix={CRASHES}/{target}-",
    ]
    if seconds:
        argv.append(f"-max_total_time={seconds}")
    atheris.Setup(argv, function)
    atheris.Fuzz()


def _run_target(target: str, runs: int, random_only: bool, seconds: int) -> Result:
    sys.path.insert(0, str(ROOT))
    from fuzz.targets import SEEDS

    # The corpus persists (fuzz/corpus/, not in git): a later run goes on from what an
    # earlier one found.
    corpus = CORPUS / target
    corpus.mkdir(parents=True, exist_ok=True)
    for index, seed in enumerate(SEEDS[target]):
        (corpus / f"seed-{index}").write_bytes(seed)
    command = [
        sys.executable,
        __file__,
        "--worker",
        target,
        "--runs",
        str(runs),
        "--corpus",
        str(corpus),
        "--max-seconds",
        str(seconds),
    ]
    if random_only:
        command.append("--random")
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    took = time.monotonic() - started
    output = done.stdout + done.stderr
    found = _DONE_RE.search(output)
    coverage = max((int(match.group(2)) for match in _STAT_RE.finditer(output)), default=0)
    crashed = done.returncode != 0 or "CRASH" in output or "==ERROR" in output
    if found is not None:
        executed = int(found.group(1))
    else:  # libFuzzer stopped at a crash: the last progress line says how far it got
        counts = [int(match.group(1)) for match in _STAT_RE.finditer(output)]
        executed = max(counts, default=0)
    crashes = int(m.group(1)) if (m := re.search(r"crashes=(\d+)", output)) else int(crashed)
    note = ""
    if crashed:
        tail = [line for line in output.splitlines() if "Error" in line or "assert" in line.lower()]
        note = (tail[-1] if tail else output.strip().splitlines()[-1])[:160]
    engine = "random" if random_only else "atheris"
    return Result(target, engine, executed, took, crashes, coverage, note)


def _stored() -> dict[str, Result]:
    """The results of earlier runs (a target run again replaces its row)."""
    if not RESULTS.exists():
        return {}
    return {name: Result(**fields) for name, fields in json.loads(RESULTS.read_text()).items()}


def _atheris_available() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def _report(results: list[Result], runs: int) -> str:
    lines = [
        "# Fuzzing",
        "",
        "Generated by `make fuzz` (`fuzz/run.py`): each target of `fuzz/targets.py` in a process",
        "of its own, driven by atheris (libFuzzer, coverage-guided over the `ifmatch` package),",
        f"{runs:,} inputs per target, seeded with a few valid inputs. A target fails on any",
        "exception but the documented error and on a broken property (round trips, exact",
        "lengths, fail-safe decisions: see each target's docstring). Crash inputs are kept in",
        "`fuzz/crashes/` and become rows of `tests/scale/test_fuzz.py`; `make test` runs a short",
        "smoke run of every target (`test_fuzz.py::test_smoke`). *Sittings*: a target whose",
        "time budget (`--max-seconds`) ran out before its inputs were done was run again with",
        "`--accumulate`, going on from the corpus (`fuzz/corpus/`) where the run before left it",
        "(the first sitting of this session's campaign used a temporary corpus).",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other work, so the",
        "rates are indicative only), Python " + platform.python_version() + ".",
        "",
        "| target | engine | inputs run | sittings | seconds | inputs/s | coverage | crashes |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        rate = result.runs / result.seconds if result.seconds else 0
        lines.append(
            f"| {result.target} | {result.engine} | {result.runs:,} | {result.sittings} "
            f"| {result.seconds:.0f} "
            f"| {rate:,.0f} | {result.coverage or '-'} | {result.crashes} |"
        )
    notes = [f"- {result.target}: {result.note}" for result in results if result.note]
    if notes:
        lines += ["", "Crashes:", "", *notes]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*")
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--worker")
    parser.add_argument("--corpus", default="")
    parser.add_argument("--random", action="store_true", help="random inputs, not atheris")
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument(
        "--accumulate",
        action="store_true",
        help="add this run's inputs to the stored totals (a campaign in several sittings)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="targets run at once")
    parser.add_argument(
        "--max-seconds", type=int, default=0, help="stop each target after this long (0: never)"
    )
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.runs, args.corpus, args.random, args.max_seconds)
        return 0
    sys.path.insert(0, str(ROOT))
    from fuzz.targets import TARGETS

    names = args.targets or list(TARGETS)
    unknown = set(names) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; known: {sorted(TARGETS)}")
    random_only = args.random or not _atheris_available()

    def one(name: str) -> Result:
        result = _run_target(name, args.runs, random_only, args.max_seconds)
        print(
            f"{name}: {result.runs:,} inputs in {result.seconds:.0f} s, "
            f"{result.crashes} crashes {result.note}",
            flush=True,
        )
        return result

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(one, names))
    if not args.no_report:
        stored = _stored()
        for result in results:
            earlier = stored.get(result.target)
            if args.accumulate and earlier is not None and earlier.engine == result.engine:
                result = Result(
                    result.target,
                    result.engine,
                    earlier.runs + result.runs,
                    earlier.seconds + result.seconds,
                    earlier.crashes + result.crashes,
                    max(earlier.coverage, result.coverage),
                    result.note or earlier.note,
                    earlier.sittings + 1,
                )
            stored[result.target] = result
        RESULTS.write_text(
            json.dumps({name: asdict(result) for name, result in stored.items()}, indent=1)
        )
        ordered = [stored[name] for name in TARGETS if name in stored]
        REPORT.write_text(_report(ordered, args.runs))
    return 1 if any(result.crashes for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
