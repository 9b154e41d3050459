"""The reference service ``ifmatch serve``: a versioned JSON document and file store.

Resources carry strong ETags derived from a version that every write bumps
inside its transaction, and every write's preconditions are evaluated in
that same transaction (:mod:`ifmatch.service.store`), on SQLite
(:mod:`ifmatch.service.sqlite`) or PostgreSQL (:mod:`ifmatch.service.postgres`).
:func:`ifmatch.service.app.create_app` builds the Starlette application.
"""
