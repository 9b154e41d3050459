"""The service's settings, and how they travel to uvicorn's worker processes.

``--workers N`` makes uvicorn start fresh processes that import the app by
name, so the settings go through one environment variable
(``IFMATCH_SERVICE_SETTINGS``, JSON) that :func:`Settings.from_env` reads
back.  The bearer token may also come from ``IFMATCH_TOKEN``, which keeps it
out of the process list.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass

ENV_SETTINGS = "IFMATCH_SERVICE_SETTINGS"
ENV_TOKEN = "IFMATCH_TOKEN"  # noqa: S105 - a variable name, not a secret
MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``ifmatch serve`` can be told."""

    db: str = "sqlite:///ifmatch.db"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    token: str | None = None
    require_preconditions: bool = True
    max_json_body: int = 1 * MiB
    max_file_body: int = 10 * MiB
    pool_size: int = 10
    access_log: bool = True
    #: ``KEY=DIRECTIVES`` rules of :class:`ifmatch.service.cachepolicy.CachePolicy`.
    cache_control: tuple[str, ...] = ()

    def to_env(self) -> str:
        """The settings as the JSON that :meth:`from_env` reads (without the token)."""
        fields = dataclasses.asdict(self)
        fields.pop("token")
        return json.dumps(fields)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Settings from ``IFMATCH_SERVICE_SETTINGS`` and ``IFMATCH_TOKEN`` (defaults otherwise)."""
        env = os.environ if environ is None else environ
        fields = json.loads(env.get(ENV_SETTINGS, "{}"))
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = set(fields) - known
        if unknown:
            raise ValueError(f"{ENV_SETTINGS}: unknown settings {sorted(unknown)}")
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
        return cls(**fields, token=env.get(ENV_TOKEN) or None)
