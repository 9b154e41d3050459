"""Structured logging: the access log as one JSON object per line on stderr."""

from __future__ import annotations

import json
import logging
import sys
import time

from ifmatch.service._middleware import ACCESS_LOGGER


class JSONLines(logging.Formatter):
    """Formats a record's ``fields`` (or its message) as one JSON line with a UTC timestamp."""

    def format(self, record: logging.LogRecord) -> str:
        moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line = {"ts": f"{moment}.{int(record.msecs):03d}Z", "level": record.levelname.lower()}
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        else:
            line["message"] = record.getMessage()
        return json.dumps(line, separators=(",", ":"))


def configure_logging() -> None:
    """Send the access log to stderr as JSON lines (once per process)."""
    if any(getattr(handler, "ifmatch", False) for handler in ACCESS_LOGGER.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONLines())
    handler.ifmatch = True  # type: ignore[attr-defined]
    ACCESS_LOGGER.addHandler(handler)
    ACCESS_LOGGER.setLevel(logging.INFO)
    ACCESS_LOGGER.propagate = False
