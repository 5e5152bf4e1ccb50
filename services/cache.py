"""Read-through JSON cache in Redis for what many visitors see alike.

What is cached is data (lists of dicts), never rendered HTML: pages carry the
visitor's name and XSRF token. Keys:

- ``cache:areas``, ``cache:facilities`` — reference data;
- ``cache:home`` — the home page's listings;
- ``cache:house:<id>`` — one listing page's data;
- ``cache:search:<generation>:<normalised parameters>`` — search results. Every
  write that may change any search result bumps ``cache:gen:search`` so all old
  result keys are unreachable at once (they expire on their TTL).

Keys are built only from validated, normalised parameters, so their number is
bounded by the parameter space, not by what clients send.

The cache is an optimisation, never a dependency:

- Reads: when Redis fails, the loader answers from MariaDB; after a failure
  this process leaves Redis alone for ``pause`` seconds, so an outage costs one
  timeout per pause rather than one per request.
- Invalidations run after a write has committed, so they must not turn its
  success into an error: they are tried twice, then remembered in this process
  and replayed in the background until Redis takes them (bounded: past
  ``MAX_PENDING`` listings everything listing-related is dropped instead).
  Until the replay succeeds this process serves listing data from MariaDB only
  (and stores none). Should the process end first, the stale entries live out
  their TTL (``cache_ttl``); with more than ``MAX_PENDING`` listings pending the
  replay gives every cached listing page ``fallback_ttl`` seconds instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from typing import Any, Awaitable, Callable

from redis.exceptions import RedisError

log = logging.getLogger("ihome.cache")

AREAS_KEY = "cache:areas"
FACILITIES_KEY = "cache:facilities"
HOME_KEY = "cache:home"
SEARCH_GENERATION_KEY = "cache:gen:search"
MAX_PENDING = 1000
# Keys whose contents depend on listings (reference data does not).
_LISTING_PREFIXES = ("cache:house:", "cache:search:", HOME_KEY, AREAS_KEY)


def house_key(house_id: int) -> str:
    """The cache key of one listing page's data: ``cache:house:<id>``."""
    return f"cache:house:{int(house_id)}"


def _default(value: Any) -> str:
    # dates, datetimes and Decimals from MariaDB rows
    return str(value) if not hasattr(value, "isoformat") else value.isoformat()


class Cache:
    """JSON values in Redis with a TTL in seconds.

    *pause* is how long (seconds) reads skip Redis after it failed;
    *retry_interval* how often pending invalidations are replayed;
    *fallback_ttl* the TTL left to every listing page when too many invalidations were pending.
    """

    def __init__(self, redis, ttl: int, *, pause: float = 2.0, retry_interval: float = 1.0,
                 fallback_ttl: int = 30):
        self.redis = redis
        self.ttl = ttl
        self.pause = pause
        self.retry_interval = retry_interval
        self.fallback_ttl = fallback_ttl
        self._skip_until = 0.0
        self._pending: set[int] = set()
        self._pending_global = False  # home, areas and the search generation
        self._replayer: asyncio.Task | None = None
        self.failures = 0  # Redis errors seen (for tests and logs)

    # -- reads ---------------------------------------------------------------
    def _available(self) -> bool:
        return time.monotonic() >= self._skip_until

    def _failed(self, what: str, exc: BaseException) -> None:
        self.failures += 1
        self._skip_until = time.monotonic() + self.pause
        log.warning("cache %s failed, answering without Redis for %.0f s: %s", what, self.pause, exc)

    @property
    def degraded(self) -> bool:
        """True while this process holds invalidations Redis has not taken yet."""
        return self._pending_global or bool(self._pending)

    async def get_or_load(self, key: str | None, loader: Callable[[], Awaitable[Any]],
                          ttl: int | None = None) -> Any:
        """The value at *key*; on a miss, ``await loader()`` and store its JSON for *ttl* seconds.

        A *key* of None, Redis failing, or (for listing data) an invalidation of
        this process still pending: the loader answers and nothing is stored.
        """
        listing = key is not None and key.startswith(_LISTING_PREFIXES)
        use_redis = key is not None and self._available() and not (listing and self.degraded)
        if use_redis:
            try:
                raw = await self.redis.get(key)
            except RedisError as exc:
                self._failed("read", exc)
                use_redis = False
            else:
                if raw is not None:
                    return json.loads(raw)
        value = await loader()
        # Round-trip through JSON so a miss returns exactly what a hit would.
        encoded = json.dumps(value, default=_default, ensure_ascii=False)
        if use_redis:
            try:
                await self.redis.set(key, encoded, ex=ttl or self.ttl)
            except RedisError as exc:
                self._failed("write", exc)
        return json.loads(encoded)

    async def search_key(self, normalised: str) -> str | None:
        """The current key for a search with the *normalised* parameter string;
        None when Redis cannot say the current generation (then nothing is cached)."""
        if not self._available() or self.degraded:
            return None
        try:
            generation = await self.redis.get(SEARCH_GENERATION_KEY) or "0"
        except RedisError as exc:
            self._failed("read", exc)
            return None
        digest = hashlib.sha1(normalised.encode()).hexdigest()
        return f"cache:search:{generation}:{digest}"

    # -- invalidation --------------------------------------------------------
    async def invalidate_house(self, house_id: int | None = None) -> None:
        """Make everything a listing change affects fresh: its page, home, all searches,
        and the area choices (they include every city that has an online listing).

        Never raises for a Redis failure (see the module docstring)."""
        await self.invalidate_houses([] if house_id is None else [house_id])

    async def invalidate_houses(self, house_ids: list[int]) -> None:
        """:meth:`invalidate_house` for several listings at once (an owner's name, avatar or
        account status shows on all of theirs), in one round trip. Never raises for a
        Redis failure: the invalidation is retried once, then replayed in the background."""
        ids = {int(i) for i in house_ids}
        for attempt in (1, 2):
            try:
                await self._invalidate(ids, everything=True)
                return
            except RedisError as exc:
                if attempt == 2:
                    log.warning("cache invalidation of listings %s failed twice, replaying later: %s",
                                sorted(ids), exc)
                    self.failures += 1
        self._remember(ids)

    async def _invalidate(self, ids: set[int], *, everything: bool) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            if ids:
                pipe.delete(*[house_key(i) for i in sorted(ids)])
            if everything:
                pipe.delete(HOME_KEY, AREAS_KEY)
                pipe.incr(SEARCH_GENERATION_KEY)
            await pipe.execute()

    def _remember(self, ids: set[int]) -> None:
        self._pending_global = True
        self._pending |= ids
        if len(self._pending) > MAX_PENDING:
            # Too many to remember one by one: the replay then also makes every
            # listing page expire within fallback_ttl (see _replay).
            self._pending = {-1}
        if self._replayer is None or self._replayer.done():
            self._replayer = asyncio.get_running_loop().create_task(self._replay())

    async def _replay(self) -> None:
        """Retry the pending invalidations every retry_interval seconds until Redis takes them."""
        while self.degraded:
            await asyncio.sleep(self.retry_interval)
            ids, everything = set(self._pending), self._pending_global
            try:
                if -1 in ids:
                    await self._expire_all_houses()
                    ids.discard(-1)
                await self._invalidate(ids, everything=everything)
            except RedisError as exc:
                log.info("cache invalidation still pending: %s", exc)
                continue
            self._pending -= ids | {-1}
            if everything:
                self._pending_global = False
            log.info("pending cache invalidations replayed")

    async def _expire_all_houses(self) -> None:
        """Give every cached listing page at most fallback_ttl seconds more (SCAN, bounded batches)."""
        async for key in self.redis.scan_iter(match="cache:house:*", count=500):
            await self.redis.expire(key, self.fallback_ttl, lt=True)

    async def close(self) -> None:
        """Stop the background replay (at shutdown); pending invalidations are logged."""
        if self._replayer is not None and not self._replayer.done():
            self._replayer.cancel()
            try:
                await self._replayer
            except (asyncio.CancelledError, Exception):
                pass
        if self.degraded:
            log.warning("shutting down with cache invalidations pending for listings %s; "
                        "their cached pages expire on their TTL", sorted(self._pending))

    async def invalidate_reference(self) -> None:
        """Drop cached areas and facilities (after seeding)."""
        await self.redis.delete(AREAS_KEY, FACILITIES_KEY)
