"""A cache storage in Redis, shared by every process and machine that reaches the server.

Layout, under a key prefix (``ifmatch:cache:`` by default; give each
application, or each test run, its own):

* ``{prefix}e:{hash of url and variant}``: a hash with the entry's
  metadata (JSON) and body; Redis deletes it at the entry's
  ``expires_at`` (``PEXPIREAT``), so entries expire on their own.
* ``{prefix}u:{hash of url}``: the set of a URL's entry keys (for Vary
  variants and invalidation), expiring with the last of them.
* ``{prefix}lru``, ``{prefix}size``, ``{prefix}used``: store times, sizes
  and the bytes in use, for the byte budget: a store beyond ``max_bytes``
  evicts the least recently used entries first.

Every store and removal is one Lua script, so it is atomic for all the
clients sharing the server.  Needs ``redis`` (redis-py, the ``redis``
extra); it is imported when a :class:`RedisStorage` is created.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

from ifmatch.client.entry import Entry

_STORE = """
local old = redis.call('HGET', KEYS[4], KEYS[1])
if old then redis.call('DECRBY', KEYS[5], old) end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'meta', ARGV[1], 'body', ARGV[2])
redis.call('SADD', KEYS[2], KEYS[1])
if ARGV[3] ~= '' then
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
  if redis.call('PTTL', KEYS[2]) == -1 and redis.call('SCARD', KEYS[2]) == 1 then
    redis.call('PEXPIREAT', KEYS[2], ARGV[3])
  else
    redis.call('PEXPIREAT', KEYS[2], ARGV[3], 'GT')
  end
else
  redis.call('PERSIST', KEYS[2])
end
redis.call('HSET', KEYS[4], KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[5], KEYS[1])
local used = redis.call('INCRBY', KEYS[5], ARGV[4])
-- forget what Redis already expired (its size is still counted)
for _, gone in ipairs(redis.call('ZRANGE', KEYS[3], 0, 9)) do
  if redis.call('EXISTS', gone) == 0 then
    used = redis.call('DECRBY', KEYS[5], tonumber(redis.call('HGET', KEYS[4], gone) or '0'))
    redis.call('ZREM', KEYS[3], gone)
    redis.call('HDEL', KEYS[4], gone)
  end
end
if ARGV[6] ~= '' then
  local budget = tonumber(ARGV[6])
  while used > budget do
    local oldest = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
    if not oldest then break end
    local size = tonumber(redis.call('HGET', KEYS[4], oldest) or '0')
    redis.call('DEL', oldest)
    redis.call('ZREM', KEYS[3], oldest)
    redis.call('HDEL', KEYS[4], oldest)
    used = redis.call('DECRBY', KEYS[5], size)
  end
end
return used
"""

_REFRESH = """
if redis.call('HGET', KEYS[1], 'meta') ~= ARGV[5] then return 0 end
redis.call('HSET', KEYS[1], 'meta', ARGV[1])
if ARGV[2] ~= '' then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
  redis.call('PEXPIREAT', KEYS[2], ARGV[2], 'GT')
else
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
end
local old = tonumber(redis.call('HGET', KEYS[4], KEYS[1]) or '0')
redis.call('HSET', KEYS[4], KEYS[1], ARGV[3])
redis.call('INCRBY', KEYS[5], tonumber(ARGV[3]) - old)
redis.call('ZADD', KEYS[3], ARGV[4], KEYS[1])
return 1
"""

_REMOVE = """
local doomed = ARGV
if #ARGV == 0 then doomed = redis.call('SMEMBERS', KEYS[1]) end
for _, key in ipairs(doomed) do
  local size = redis.call('HGET', KEYS[3], key)
  if size then redis.call('DECRBY', KEYS[4], size) end
  redis.call('DEL', key)
  redis.call('SREM', KEYS[1], key)
  redis.call('ZREM', KEYS[2], key)
  redis.call('HDEL', KEYS[3], key)
end
return #doomed
"""


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:40]


class RedisStorage:
    """Entries in Redis at ``url`` (``redis://127.0.0.1:6379/0`` by default), under ``prefix``.

    ``max_bytes`` (default: no limit) bounds bodies plus headers of the
    entries under this prefix.  Pass ready clients (``client``,
    ``async_client``) to share connection pools; otherwise they are
    created from ``url`` when first needed.  Use it with
    :class:`~ifmatch.client.CachingTransport` (sync methods) or
    :class:`~ifmatch.client.AsyncCachingTransport` (``a``-methods, on
    redis-py's asyncio client: the event loop is never blocked).
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "ifmatch:cache:",
        max_bytes: int | None = None,
        client: Any = None,
        async_client: Any = None,
    ) -> None:
        import redis  # noqa: F401 - fail here, clearly, when the extra is missing

        if max_bytes is not None and max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.url, self.prefix, self.max_bytes = url, prefix, max_bytes
        self._client, self._async_client = client, async_client
        self._made_async = False
        self._async_loop: asyncio.AbstractEventLoop | None = None

    @property
    def client(self) -> Any:
        """The blocking redis-py client."""
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(self.url)
        return self._client

    @property
    def async_client(self) -> Any:
        """The asyncio redis-py client (one per event loop when made here)."""
        loop = asyncio.get_running_loop()
        if self._async_client is None or (self._made_async and self._async_loop is not loop):
            import redis.asyncio

            self._async_client = redis.asyncio.Redis.from_url(self.url)
            self._made_async, self._async_loop = True, loop
        return self._async_client

    def _index(self, url: str) -> str:
        return f"{self.prefix}u:{_digest(url)}"

    def _key(self, url: str, variant: str) -> str:
        return f"{self.prefix}e:{_digest(url, variant)}"

    def _meta(self) -> list[str]:
        return [f"{self.prefix}lru", f"{self.prefix}size", f"{self.prefix}used"]

    def _store_call(self, url: str, entry: Entry) -> tuple[list[str], list[Any]]:
        expires = "" if entry.expires_at is None else str(int(entry.expires_at * 1000))
        keys = [self._key(url, entry.variant), self._index(url), *self._meta()]
        args = [
            entry.to_json(),
            entry.body,
            expires,
            entry.size,
            time.time(),
            "" if self.max_bytes is None else self.max_bytes,
        ]
        return keys, args

    def _remove_call(self, url: str, variant: str | None) -> tuple[list[str], list[str]]:
        keys = [self._index(url), *self._meta()]
        return keys, [] if variant is None else [self._key(url, variant)]

    @staticmethod
    def _entries(raw: list[dict[bytes, bytes]], now: float) -> list[Entry]:
        entries = [
            Entry.from_json(item[b"meta"], item[b"body"])
            for item in raw
            if b"meta" in item and b"body" in item
        ]
        live = [e for e in entries if e.expires_at is None or e.expires_at > now]
        return sorted(live, key=lambda e: -e.stored_at)

    def _too_big(self, entry: Entry) -> bool:
        return self.max_bytes is not None and entry.size > self.max_bytes

    # -- sync ------------------------------------------------------------------------------

    def variants(self, url: str) -> list[Entry]:
        """Live variants of ``url``, most recently stored first."""
        keys = sorted(self.client.smembers(self._index(url)))
        if not keys:
            return []
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        return self._entries(pipe.execute(), time.time())

    def store(self, url: str, entry: Entry) -> None:
        """Store ``entry`` (replacing its variant), then evict beyond ``max_bytes``."""
        if self._too_big(entry):
            self.remove(url, entry.variant)
            return
        keys, args = self._store_call(url, entry)
        self.client.eval(_STORE, len(keys), *keys, *args)

    def remove(self, url: str, variant: str | None = None) -> None:
        """Forget one variant of ``url``, or all of them."""
        keys, args = self._remove_call(url, variant)
        self.client.eval(_REMOVE, len(keys), *keys, *args)

    def refresh(self, url: str, entry: Entry, previous: Entry) -> None:
        """After a 304: update ``previous``'s metadata and expiry, not sending the body again.

        Stores the whole entry when Redis no longer has ``previous`` (expired, replaced).
        """
        if self._too_big(entry):
            self.remove(url, entry.variant)
            return
        keys, args = self._refresh_call(url, entry, previous)
        if not self.client.eval(_REFRESH, len(keys), *keys, *args):
            self.store(url, entry)

    def _refresh_call(self, url: str, entry: Entry, previous: Entry) -> tuple[list[str], list[Any]]:
        keys, args = self._store_call(url, entry)
        return keys, [args[0], args[2], args[3], args[4], previous.to_json()]

    @property
    def used_bytes(self) -> int:
        """Bytes counted against the budget (entries Redis expired count until next store)."""
        return int(self.client.get(f"{self.prefix}used") or 0)

    def __len__(self) -> int:
        return int(self.client.zcard(f"{self.prefix}lru"))

    def clear(self) -> None:
        """Delete every key under this prefix."""
        for key in self.client.scan_iter(match=f"{self.prefix}*"):
            self.client.delete(key)

    def close(self) -> None:
        """Close the blocking client's connections."""
        if self._client is not None:
            self._client.close()

    # -- async -----------------------------------------------------------------------------

    async def avariants(self, url: str) -> list[Entry]:
        """Live variants of ``url``, most recently stored first."""
        keys = sorted(await self.async_client.smembers(self._index(url)))
        if not keys:
            return []
        pipe = self.async_client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        return self._entries(await pipe.execute(), time.time())

    async def astore(self, url: str, entry: Entry) -> None:
        """Store ``entry`` (replacing its variant), then evict beyond ``max_bytes``."""
        if self._too_big(entry):
            await self.aremove(url, entry.variant)
            return
        keys, args = self._store_call(url, entry)
        await self.async_client.eval(_STORE, len(keys), *keys, *args)

    async def aremove(self, url: str, variant: str | None = None) -> None:
        """Forget one variant of ``url``, or all of them."""
        keys, args = self._remove_call(url, variant)
        await self.async_client.eval(_REMOVE, len(keys), *keys, *args)

    async def arefresh(self, url: str, entry: Entry, previous: Entry) -> None:
        """:meth:`refresh` on the asyncio client."""
        if self._too_big(entry):
            await self.aremove(url, entry.variant)
            return
        keys, args = self._refresh_call(url, entry, previous)
        if not await self.async_client.eval(_REFRESH, len(keys), *keys, *args):
            await self.astore(url, entry)

    async def aclose(self) -> None:
        """Close the asyncio client's connections."""
        if self._async_client is not None:
            await self._async_client.aclose()
