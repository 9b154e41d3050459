"""The read-modify-write workload of the stack and fault tests, with honest accounting.

Each client increments one counter document: GET it, PUT ``n + 1`` with ``If-Match``.
A 200/201 is an *acknowledged* increment; a 412 is a lost race (re-read and try again);
anything else (a 502/503/504, a dropped connection, a timeout) is an *unknown outcome*:
the write may or may not have been committed, and the client starts over with a fresh
read.  Whatever happens to the servers, the final value must then satisfy

    acknowledged <= final <= acknowledged + unknown

(no acknowledged write lost; nothing applied that no client sent).  Every loop is
bounded in count and in time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

#: The statuses that leave a write's outcome unknown (the request may have been applied).
UNKNOWN = frozenset({500, 502, 503, 504})


@dataclass
class Tally:
    """What the clients saw."""

    acknowledged: int = 0
    unknown: int = 0
    refused: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    unavailable: list[httpx.Response] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def holds(self, final: int) -> bool:
        """The invariant: acknowledged <= final <= acknowledged + unknown."""
        return self.acknowledged <= final <= self.acknowledged + self.unknown

    def summary(self, final: int) -> str:
        return (
            f"acknowledged={self.acknowledged} unknown={self.unknown} final={final} "
            f"refused={self.refused} statuses={dict(self.statuses)} errors={dict(self.errors)}"
        )


def create(base: str, doc: str) -> None:
    """Create the counter at 0."""
    with httpx.Client(base_url=base, timeout=10) as http:
        made = http.put(doc, json={"n": 0}, headers={"If-None-Match": "*"})
        assert made.status_code == 201, made.text


def final_value(base: str, doc: str, timeout: float = 30) -> int:
    """The counter's value, read from ``base`` (retried while the service is recovering)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base, timeout=10) as http:
        while True:
            try:
                read = http.get(doc)
                if read.status_code == 200:
                    value: int = read.json()["n"]
                    return value
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the counter could not be read back"
            time.sleep(0.2)


def run(
    bases: Sequence[str],
    doc: str,
    *,
    clients: int,
    increments: int,
    time_limit: float,
    on_progress: Callable[[int], None] | None = None,
) -> Tally:
    """``clients`` threads, each after ``increments`` acknowledged increments (or the time
    limit); client ``i`` talks to ``bases[i % len(bases)]``.  ``on_progress`` is called with
    the running count of acknowledged increments (from the client threads)."""
    tally = Tally()
    deadline = time.monotonic() + time_limit

    def note(status: int | None, error: str | None = None) -> None:
        with tally.lock:
            if status is not None:
                tally.statuses[status] += 1
            if error is not None:
                tally.errors[error] += 1

    def client(number: int) -> None:
        done = 0
        with httpx.Client(base_url=bases[number % len(bases)], timeout=10) as http:
            while done < increments and time.monotonic() < deadline:
                try:
                    read = http.get(doc)
                except httpx.HTTPError as error:
                    note(None, type(error).__name__)
                    time.sleep(0.05)
                    continue
                note(read.status_code)
                if read.status_code != 200:
                    if read.status_code == 503:
                        with tally.lock:
                            tally.unavailable.append(read)
                    time.sleep(0.05)
                    continue
                body = {"n": read.json()["n"] + 1}
                try:
                    write = http.put(doc, json=body, headers={"If-Match": read.headers["ETag"]})
                except httpx.HTTPError as error:
                    note(None, type(error).__name__)
                    with tally.lock:
                        tally.unknown += 1
                    time.sleep(0.05)
                    continue
                note(write.status_code)
                with tally.lock:
                    if write.status_code == 200:
                        tally.acknowledged += 1
                        done += 1
                        acknowledged = tally.acknowledged
                    elif write.status_code == 412:
                        tally.refused += 1
                        continue
                    else:
                        assert write.status_code in UNKNOWN, (write.status_code, write.text)
                        tally.unknown += 1
                        if write.status_code == 503:
                            tally.unavailable.append(write)
                        continue
                if on_progress is not None:
                    on_progress(acknowledged)

    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client, number) for number in range(clients)]:
            future.result()
    return tally
