"""The ifmatch client: conditional requests done right, on top of httpx, sync and async.

* :class:`CachingTransport` / :class:`AsyncCachingTransport`: a private
  RFC 9111 cache (freshness, revalidation with If-None-Match /
  If-Modified-Since, Vary, no-store, stale-while-revalidate,
  stale-if-error; or ``always_revalidate=True``) that slots under any
  ``httpx.Client``; :class:`MemoryStorage` (LRU with a byte budget),
  :class:`SQLiteStorage` (a file shared by processes) or
  :class:`RedisStorage` (shared by machines).
* :func:`update` / :func:`aupdate`: read, change, write back with If-Match,
  re-applying the change on 412; :func:`create` (If-None-Match: *) and
  :func:`delete` (If-Match), each with an ``a``-prefixed async twin.
* :func:`download` / :func:`adownload`: resumable downloads with Range and
  If-Range that never splice two versions of a file.
* :func:`poll` / :func:`apoll`: yield the current representation, then
  only changed ones.
* :mod:`ifmatch.client.errors`: what the client raises on its own account.

Every function takes the ``httpx.Client`` (or ``AsyncClient``) to use as
its first argument, so timeouts, auth, proxies and the cache transport are
configured once, the httpx way; an ``httpx2`` client works the same.  See
docs/client.md.
"""

from ifmatch.client.cache import (
    CACHE_STATUS,
    REVALIDATED,
    AsyncCachingTransport,
    CachingTransport,
    Heuristic,
    Label,
    cache_status,
    merge_not_modified,
    was_revalidated,
)
from ifmatch.client.download import DownloadResult, adownload, download
from ifmatch.client.errors import (
    AlreadyExistsError,
    ClientError,
    ConflictError,
    DownloadError,
    InvalidBodyError,
    MissingValidatorError,
    PreconditionRequiredError,
    Version,
)
from ifmatch.client.poll import apoll, poll
from ifmatch.client.redis_storage import RedisStorage
from ifmatch.client.storage import AsyncStorage, Entry, MemoryStorage, SQLiteStorage, Storage
from ifmatch.client.update import (
    Backoff,
    UpdateResult,
    acreate,
    adelete,
    aupdate,
    create,
    delete,
    merge_patch,
    update,
)

# Applying a merge patch is the service's PATCH algorithm, in the neutral core module
# ifmatch.patch: one implementation, so a client checks a patch as the server will apply it.
from ifmatch.patch import merge_patch as apply_merge_patch

__all__ = [
    "CACHE_STATUS",
    "REVALIDATED",
    "AlreadyExistsError",
    "AsyncCachingTransport",
    "AsyncStorage",
    "Backoff",
    "CachingTransport",
    "ClientError",
    "ConflictError",
    "DownloadError",
    "DownloadResult",
    "Entry",
    "Heuristic",
    "InvalidBodyError",
    "Label",
    "MemoryStorage",
    "MissingValidatorError",
    "PreconditionRequiredError",
    "RedisStorage",
    "SQLiteStorage",
    "Storage",
    "UpdateResult",
    "Version",
    "acreate",
    "adelete",
    "adownload",
    "apoll",
    "apply_merge_patch",
    "aupdate",
    "cache_status",
    "create",
    "delete",
    "download",
    "merge_not_modified",
    "merge_patch",
    "poll",
    "update",
    "was_revalidated",
]
