"""Which store a ``--db`` URL names, imported only when it is asked for.

:mod:`ifmatch.service.store` is the interface and knows none of its
implementations; :mod:`ifmatch.service.sqlite` and
:mod:`ifmatch.service.postgres` implement it.  This module is the one place
that knows them all, and imports each lazily: a SQLite deployment never
loads psycopg.
"""

from __future__ import annotations

from ifmatch.service.store import Store


def open_store(url: str, *, pool_size: int = 10) -> Store:
    """The store a ``--db`` URL names: ``sqlite:///PATH`` or ``postgresql://...``."""
    if url.startswith("sqlite:///"):
        from ifmatch.service.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        from ifmatch.service.postgres import PostgresStore

        return PostgresStore(url, pool_size=pool_size)
    raise ValueError(f"--db must be sqlite:///PATH or postgresql://..., not {url!r}")


__all__ = ["open_store"]
