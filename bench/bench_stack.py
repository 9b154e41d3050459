"""The stack under load (issue 15): ``ifmatch serve`` on PostgreSQL directly, behind nginx
(balancer + ``proxy_cache``) and behind Varnish in front of nginx, measured with wrk over
loopback in one run; then a curve over 1, 2 and 4 instances behind nginx.

Workloads (each one wrk run of a fixed duration, 2 threads):

* **200 GET**: a JSON document read in full (8 connections);
* **304 GET**: the same read with ``If-None-Match`` of its current ETag (8 connections);
* **PUT**: each of 2 connections replaces its own document with ``If-Match`` set to the
  ETag of its previous response (a wrk Lua script), so every PUT is a guarded write that
  reaches the origin and the database (caches never store writes).

The stack runs with ``--cache-control '*=max-age=0, must-revalidate, s-maxage=1'``: the
caches may answer a document for 1 s, then revalidate it (a conditional GET the origin
answers 304).  *Origin share* is the number of requests the instances logged during the
run divided by the requests wrk completed; the rest were answered by a cache without the
origin.  The curve uses a ``no-cache`` collection, so every GET reaches an instance and
the balancer's spreading is what is measured.

Everything shares the machine's 2 cores (wrk, nginx, Varnish, the instances and
PostgreSQL), so the instance curve shows contention for CPU, not what N machines would
do; docs/deploy.md turns the per-instance figures into a capacity model.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_service import put_script  # noqa: E402  (bench/ is on sys.path: run.py puts it there)
from deploy.stack import DEFAULT_DB, Missing, Stack, schema_dsn  # noqa: E402

DURATION_S = 4
PLOTS = ROOT / "bench" / "plots"
WRK = shutil.which("wrk") or ("/usr/bin/wrk" if Path("/usr/bin/wrk").exists() else None)
POLICY = ("*=max-age=0, must-revalidate, s-maxage=1", "direct=no-cache")
BODY = b'{"title": "Hello", "body": "a document of a few dozen bytes"}'


def _wrk(url: str, *args: str, connections: int = 8) -> tuple[float, int, int]:
    """Requests per second, requests completed, and the non-2xx/3xx answers."""
    assert WRK is not None
    output = subprocess.run(
        [WRK, "-t2", f"-c{connections}", f"-d{DURATION_S}s", *args, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=DURATION_S + 30,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if rate is None or total is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    return float(rate.group(1)), int(total.group(1)), int(errors.group(1)) if errors else 0


def _origin_requests(stack: Stack) -> int:
    return sum(len(node.access_log()) for node in stack.nodes)


def _measure(
    stack: Stack, base: str, collection: str, workdir: Path
) -> dict[str, tuple[float, float, int]]:
    """rate, origin share, errors per workload, against ``base``."""
    with httpx.Client(base_url=base, timeout=10) as http:
        doc = f"/api/{collection}/{uuid.uuid4().hex[:8]}"
        etag = http.put(doc, content=BODY, headers={"Content-Type": "application/json"}).headers[
            "ETag"
        ]
        targets = []
        for _ in range(2):
            path = f"/api/writes/{uuid.uuid4().hex[:8]}"
            made = http.put(path, content=BODY, headers={"Content-Type": "application/json"})
            targets.append((path, made.headers["ETag"]))
    script = put_script(workdir, targets)
    runs: dict[str, Callable[[], tuple[float, int, int]]] = {
        "200 GET": lambda: _wrk(base + doc),
        "304 GET": lambda: _wrk(base + doc, "-H", f"If-None-Match: {etag}"),
        "PUT": lambda: _wrk(base + targets[0][0], "-s", str(script), connections=2),
    }
    results = {}
    for name, measure in runs.items():
        time.sleep(0.3)
        before = _origin_requests(stack)
        rate, total, errors = measure()
        time.sleep(0.5)  # the last access-log lines
        share = (_origin_requests(stack) - before) / total if total else 0.0
        results[name] = (rate, min(share, 1.0), errors)
    with httpx.Client(base_url=base, timeout=10) as http:
        for path, tag in targets:
            assert http.get(path).headers["ETag"] != tag, "the PUT workload wrote nothing"
    return results


def _plot(
    fronts: dict[str, dict[str, tuple[float, float, int]]],
    curve: dict[int, dict[str, tuple[float, float, int]]],
) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    PLOTS.mkdir(exist_ok=True)
    workloads = ["200 GET", "304 GET", "PUT"]
    figure, axis = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(fronts)
    for index, (front, results) in enumerate(fronts.items()):
        xs = [position + index * width for position in range(len(workloads))]
        axis.bar(xs, [results[w][0] for w in workloads], width, label=front)
    axis.set_xticks([position + 0.4 - width / 2 for position in range(len(workloads))])
    axis.set_xticklabels(workloads)
    axis.set_ylabel("requests/s (wrk, 2 threads)")
    axis.set_title("One instance directly vs the stack (2 instances) — 2-core machine")
    axis.legend()
    figure.tight_layout()
    figure.savefig(PLOTS / "stack-fronts.png", dpi=100)
    plt.close(figure)
    figure, axis = plt.subplots(figsize=(7, 4))
    counts = sorted(curve)
    for workload in ("200 GET", "PUT"):
        axis.plot(counts, [curve[n][workload][0] for n in counts], marker="o", label=workload)
    axis.set_xticks(counts)
    axis.set_xlabel("instances behind nginx (no-cache: every GET reaches an instance)")
    axis.set_ylabel("requests/s")
    axis.set_ylim(bottom=0)
    axis.set_title("Instances behind the balancer — all on one 2-core machine")
    axis.legend()
    figure.tight_layout()
    figure.savefig(PLOTS / "stack-instances.png", dpi=100)
    plt.close(figure)
    return ["bench/plots/stack-fronts.png", "bench/plots/stack-instances.png"]


def run() -> str:
    heading = "## Stack: instances behind nginx and Varnish (`bench/bench_stack.py`)\n\n"
    intro = textwrap.dedent(__doc__ or "").split("\n\n", 1)[1].strip()
    if WRK is None:
        return heading + intro + "\n\n**Not measured: wrk is not installed.**\n"
    load = os.getloadavg()[0]
    schema = f"ifmatch_bench_stack_{uuid.uuid4().hex[:8]}"
    try:
        db = schema_dsn(DEFAULT_DB, schema)
    except Exception as error:
        return heading + intro + f"\n\n**Not measured: no PostgreSQL ({error}).**\n"
    fronts: dict[str, dict[str, tuple[float, float, int]]] = {}
    curve: dict[int, dict[str, tuple[float, float, int]]] = {}
    try:
        with tempfile.TemporaryDirectory() as workdir:
            with Stack(db=db, instances=1, cache_control=POLICY, varnish=False) as one:
                fronts["1 instance, direct"] = _measure(
                    one, one.nodes[0].url, "docs", Path(workdir)
                )
            with Stack(db=db, instances=2, cache_control=POLICY) as stack:
                fronts["2 instances, nginx"] = _measure(
                    stack, stack.nginx_url, "docs", Path(workdir)
                )
                fronts["2 instances, Varnish + nginx"] = _measure(
                    stack, stack.varnish_url, "docs", Path(workdir)
                )
            for count in (1, 2, 4):
                with Stack(db=db, instances=count, cache_control=POLICY, varnish=False) as stack:
                    curve[count] = _measure(stack, stack.nginx_url, "direct", Path(workdir))
    except Missing as error:
        return heading + intro + f"\n\n**Not measured: {error}.**\n"
    finally:
        import psycopg

        with psycopg.connect(DEFAULT_DB, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE".encode())
    rows = ["| front | workload | requests/s | origin share | answered by a cache | non-2xx/3xx |",
            "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for front, results in fronts.items():
        for workload, (rate, share, errors) in results.items():
            rows.append(
                f"| {front} | {workload} | {rate:,.0f} | {share:.1%} | {1 - share:.1%} | {errors} |"
            )
    direct = fronts["1 instance, direct"]
    varnish = fronts["2 instances, Varnish + nginx"]
    ratios = ", ".join(
        f"{workload} x{varnish[workload][0] / direct[workload][0]:.2f}"
        for workload in ("200 GET", "304 GET", "PUT")
    )
    curve_rows = ["| instances | 200 GET (no-cache) req/s | PUT req/s | PUT non-2xx/3xx |",
                  "|---:|---:|---:|---:|"]  # fmt: skip
    for count, results in curve.items():
        curve_rows.append(
            f"| {count} | {results['200 GET'][0]:,.0f} | {results['PUT'][0]:,.0f} "
            f"| {results['PUT'][2]} |"
        )
    plots = _plot(fronts, curve)
    images = "\n".join(f"![{Path(p).stem}]({p})" for p in plots) or "(matplotlib missing: no plots)"
    return (
        f"{heading}{intro}\n\n"
        + "\n".join(rows)
        + f"\n\nThrough Varnish + nginx against one instance directly: {ratios}.\n\n"
        + "\n".join(curve_rows)
        + f"\n\n{images}\n\nEach cell: one wrk run of {DURATION_S} s. Load average when the "
        + f"run began: {load:.1f} (a shared machine: compare rows of one run, not runs)."
    )
