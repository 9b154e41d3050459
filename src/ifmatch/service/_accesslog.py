"""The access log's sink: one JSON line per request, written off the request's path.

A request only appends a tuple (``record``); the lines are formatted and
written in one ``write`` per batch, at most :data:`FLUSH_S` later, from a
callback of the event loop, so neither formatting nor the system call sits
between a request and its response.  This holds for the configuration
``ifmatch serve`` installs (:func:`ifmatch.service._logs.configure_logging`:
the access logger's only handler is the JSON-lines handler).  With any other
handler on the logger, each line goes through :mod:`logging` at once, as a
record with ``fields``, so custom handlers see every request when it ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any

ACCESS_LOGGER = logging.getLogger("ifmatch.service.access")
#: How long a line may wait before it is written.
FLUSH_S = 0.05
#: Lines held at most; beyond this a batch is written at once.
_BATCH = 512
#: What a line says of its request: method, path, status, precondition.
_Request = tuple[str, str, int, str]
#: A pending line: when its request ended, the request, its duration (ms).
_Line = tuple[float, _Request, float]
#: ``000`` to ``999``, for the milliseconds of the timestamp and the hundredths of "ms".
_DIGITS3 = [f"{number:03d}" for number in range(1000)]


class AccessSink:
    """Collects finished requests and writes their JSON lines in batches."""

    def __init__(self, logger: logging.Logger = ACCESS_LOGGER) -> None:
        self._logger = logger
        self._pending: list[_Line] = []
        self._scheduled = False
        self._pid = os.getpid()
        self._middles: dict[_Request, str] = {}
        self._second = -1
        self._stamp = ""

    def _direct_stream(self) -> Any:
        """The stream of the JSON-lines handler when it is the logger's only one, else None."""
        handlers = self._logger.handlers
        if len(handlers) == 1 and getattr(handlers[0], "ifmatch", False):
            return getattr(handlers[0], "stream", None)
        return None

    def record(
        self,
        method: str,
        path: str,
        status: int,
        precondition: str,
        ms: float,
        *,
        note: str | None = None,
    ) -> None:
        """Log one finished request (``ms``: its duration in milliseconds).

        A ``note`` (rare: a client that hung up) goes through :mod:`logging`
        at once, after the pending batch, so the line order is kept.
        """
        if not self._logger.isEnabledFor(logging.INFO):
            return
        line = (time.time(), (method, path, status, precondition), ms)
        if note is not None:
            self.flush()
            self._through_logging(line, note)
            return
        if self._direct_stream() is None:
            self._through_logging(line)
            return
        self._pending.append(line)
        if len(self._pending) >= _BATCH:
            self.flush()
        elif not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._scheduled = True
            loop.call_later(FLUSH_S, self.flush)

    def _through_logging(self, line: _Line, note: str | None = None) -> None:
        """One line through :mod:`logging`: the same fields the batched lines carry."""
        _moment, (method, path, status, precondition), ms = line
        fields: dict[str, object] = {
            "method": method,
            "path": path,
            "status": status,
            "precondition": precondition,
            "ms": round(ms, 2),
            "pid": self._pid,
        }
        if note is not None:
            fields["note"] = note
        self._logger.info("request", extra={"fields": fields})

    def _middle(self, request: _Request) -> str:
        """A line's fields between the timestamp and the duration, remembered (the same
        requests repeat): its JSON text is formatted once."""
        method, path, status, precondition = request
        middle = (
            f',"level":"info","method":{json.dumps(method)},"path":{json.dumps(path)},'
            f'"status":{status},"precondition":{json.dumps(precondition)},"ms":'
        )
        if len(self._middles) < 4096:
            self._middles[request] = middle
        return middle

    def _stamp_of(self, second: int) -> str:
        """The timestamp's second, ``YYYY-MM-DDTHH:MM:SS`` (formatted once per second)."""
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return self._stamp

    def flush(self) -> None:
        """Write every pending line now (also called at shutdown)."""
        self._scheduled = False
        pending, self._pending = self._pending, []
        if not pending:
            return
        stream = self._direct_stream()
        if stream is None:  # the configuration changed since: go through logging
            for line in pending:
                self._through_logging(line)
            return
        pid = self._pid = os.getpid()
        middles, stamp_of = self._middles, self._stamp_of
        lines = []
        for moment, request, ms in pending:
            # Integer arithmetic and digit tables, no format spec: the log is on every
            # request's bill.  "ms" keeps two decimals, so it always reads as a float.
            millis, hundredths = int(moment * 1000), int(ms * 100 + 0.5)
            middle = middles.get(request) or self._middle(request)
            lines.append(
                f'{{"ts":"{stamp_of(millis // 1000)}.{_DIGITS3[millis % 1000]}Z"{middle}'
                f'{hundredths // 100}.{_DIGITS3[hundredths % 100][1:]},"pid":{pid}}}\n'
            )
        try:
            stream.write("".join(lines))
            stream.flush()
        except (OSError, ValueError):  # a closed stderr must not break serving
            pass


#: The process's sink, shared by the access-log middleware and the fast path.
ACCESS = AccessSink()
