"""Read-through JSON cache in Redis for what many visitors see alike.

What is cached is mostly data (lists of dicts); rendered HTML only as an anonymous
visitor sees a public page (no name, no XSRF token, no flash: see "Rendered pages"
below and handlers/base.py). Keys:

- ``cache:areas``, ``cache:facilities`` — reference data;
- ``cache:home`` — the home page's listings;
- ``cache:house:<id>`` — one listing page's data;
- ``cache:search:<generation>:<normalised parameters>`` — search results. Every
  write that may change any search result bumps ``cache:gen:search`` so all old
  result keys are unreachable at once (they expire on their TTL). Searches with
  dates also carry ``cache:gen:search:dates``: a booking, cancel or reject changes
  only which listings are free on which nights — not a listing's card, price,
  order count, area or status — so it bumps that generation alone
  (:meth:`Cache.invalidate_availability`) and every search without dates, the home
  page, the area list and the listing page stay cached.

Rebuilds are single-flight (the stampede a fixed expiry caused at 100,000 listings):
within a process concurrent readers of one key share one load; across processes a
short Redis lock (``lock:<key>``, ``SET NX PX``) lets one request rebuild while the
others serve the previous value when there is one (a value stays servable for
``stale_grace`` seconds past its freshness) or poll briefly for the new one.
Lifetimes are jittered (``jitter``: up to that fraction shorter) so entries made
together do not expire together. ``Cache.rebuilds`` counts loader runs per key.

Keys are built only from validated, normalised parameters, so their number is
bounded by the parameter space, not by what clients send.

Rendered pages (:meth:`Cache.page_lookup` / :meth:`Cache.page_store`): the HTML of a
public page as an anonymous visitor sees it, under
``cache:page:<search generation>[.<dated generation>]:<day>:<name>``. The same
generation keys as the data make old pages unreachable (a listing write bumps the
search generation; a booking the dated one, which listing pages and dated searches
include); the day keeps "today" in calendars and date pickers right; a short TTL
(``page_ttl``) bounds what no generation covers (the home page's booking ranking).
A lookup is one round trip (a script reads the generations and the page). A page found is
also remembered in the process for ``page_local`` seconds (1 s): a page in demand is then read
from Redis once a second per process instead of once per request (a Redis round trip was a
fifth of a cached page's time). This process forgets them all at once when it invalidates
anything; another process's write reaches this process's copies within ``page_local``.

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
import collections
import hashlib
import json
import logging
import random
import secrets
import time
from typing import Any, Awaitable, Callable

from redis.exceptions import RedisError

from services.background import stop_task

log = logging.getLogger("ihome.cache")

AREAS_KEY = "cache:areas"
FACILITIES_KEY = "cache:facilities"
HOME_KEY = "cache:home"
SEARCH_GENERATION_KEY = "cache:gen:search"
DATED_SEARCH_GENERATION_KEY = "cache:gen:search:dates"
# A header figure per user (handlers/base.py: the host's pending booking requests), kept as
# "<label>|<figure>" under this prefix + the user id, the label naming what it was read under.
PENDING_PREFIX = "cache:pending:"
# A stored value is "<STAMP><fresh until, Unix seconds>:<JSON>"; anything else is plain JSON (older entries).
_STAMP = "~v1:"
# Compare-and-delete: a rebuilder releases the lock only if it still holds it.
_UNLOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
MAX_PENDING = 1000
# One round trip for a page: the generations, then the page under the key they give.
# KEYS: search generation, dated generation; ARGV: name (day included), "1" when dated.
_PAGE_LOOKUP = """
local generation = redis.call('get', KEYS[1]) or '0'
if ARGV[2] == '1' then generation = generation .. '.' .. (redis.call('get', KEYS[2]) or '0') end
local key = 'cache:page:' .. generation .. ':' .. ARGV[1]
return {key, redis.call('get', key)}
"""
PAGE_MAX_CHARS = 2_000_000  # a page bigger than this is not worth a Redis value
PAGE_LOCAL_MAX_CHARS = 32_000_000  # pages remembered in one process at most (characters, all together)
# Keys whose contents depend on listings (reference data does not).
_LISTING_PREFIXES = ("cache:house:", "cache:search:", HOME_KEY, AREAS_KEY)


def house_key(house_id: int) -> str:
    """The cache key of one listing page's data: ``cache:house:<id>``."""
    return f"cache:house:{int(house_id)}"


def _default(value: Any) -> str:
    # dates, datetimes and Decimals from MariaDB rows
    return str(value) if not hasattr(value, "isoformat") else value.isoformat()


def _unwrap(raw: str) -> tuple[float | None, str]:
    """(fresh until in Unix seconds or None, JSON text) of a stored value."""
    if raw.startswith(_STAMP):
        stamp, _, encoded = raw[len(_STAMP):].partition(":")
        try:
            return float(stamp), encoded
        except ValueError:
            return 0.0, encoded
    return None, raw


class Cache:
    """JSON values in Redis with a TTL in seconds.

    *pause* is how long (seconds) reads skip Redis after it failed;
    *retry_interval* how often pending invalidations are replayed;
    *fallback_ttl* the TTL left to every listing page when too many invalidations were pending.
    """

    def __init__(self, redis, ttl: int, *, pause: float = 2.0, retry_interval: float = 1.0,
                 fallback_ttl: int = 30, stale_grace: int = 60, jitter: float = 0.15,
                 lock_ms: int = 5000, lock_wait: float = 2.0, poll_interval: float = 0.02,
                 page_ttl: int = 60, page_local: float = 1.0):
        self.redis = redis
        self.ttl = ttl
        self.page_ttl = max(1, min(page_ttl, ttl))  # a page is never kept longer than its data
        # Pages found in Redis, remembered here for page_local seconds (see the module docstring):
        # (name, dated, day) -> (until, monotonic s; key; HTML), and their size in characters.
        self.page_local = page_local
        self._pages: dict[tuple, tuple[float, str, str]] = {}
        self._pages_chars = 0
        self._page_script = redis.register_script(_PAGE_LOOKUP)
        # Reference data memoised in this process: key -> (valid until, monotonic s; value).
        self._local: dict[str, tuple[float, Any]] = {}
        self.page_hits = 0  # pages served from Redis (tests and logs)
        # Single flight (see the module docstring): seconds a value may be served stale while one
        # request rebuilds it; the fraction lifetimes are shortened by at random; how long the
        # rebuild lock lives (ms); how long a reader without a stale copy waits for the
        # rebuilder (s) before loading itself; how often it looks (s).
        self.stale_grace = stale_grace
        self.jitter = jitter
        self.lock_ms = lock_ms
        self.lock_wait = lock_wait
        self.poll_interval = poll_interval
        self.rebuilds: collections.Counter[str] = collections.Counter()  # loader runs by key
        self._flights: dict[str, asyncio.Future] = {}
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
        """The value at *key*; on a miss, ``await loader()`` and store its JSON, fresh for
        *ttl* seconds (default ``self.ttl``, jittered) and servable stale ``stale_grace`` more.

        One rebuild at a time per key (see the module docstring). A *key* of None, Redis
        failing, or (for listing data) an invalidation of this process still pending:
        the loader answers and nothing is stored.
        """
        listing = key is not None and key.startswith(_LISTING_PREFIXES)
        if key is None or not self._available() or (listing and self.degraded):
            return json.loads(await self._load(key, loader))
        flight = self._flights.get(key)
        if flight is not None:  # another request of this process is already on it
            try:
                return json.loads(await asyncio.shield(flight))
            except Exception:
                pass  # its load failed: try for ourselves
        flight = asyncio.get_running_loop().create_future()
        flight.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved, no warning
        self._flights[key] = flight
        try:
            encoded = await self._fetch(key, loader, ttl or self.ttl)
        except BaseException as exc:
            flight.set_exception(exc if isinstance(exc, Exception) else RuntimeError("load interrupted"))
            raise
        else:
            flight.set_result(encoded)
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]
        return json.loads(encoded)

    async def get_reference(self, key: str, loader: Callable[[], Awaitable[Any]], local_ttl: float = 60.0) -> Any:
        """:meth:`get_or_load` for reference data that only seeding changes (the facility
        catalogue), memoised in this process for *local_ttl* seconds on top: no Redis round
        trip per request. :meth:`invalidate_reference` clears this process's memo at once;
        other processes see a change within *local_ttl*. Callers must not modify the value."""
        memo = self._local.get(key)
        if memo is not None and time.monotonic() < memo[0]:
            return memo[1]
        value = await self.get_or_load(key, loader)
        self._local[key] = (time.monotonic() + local_ttl, value)
        return value

    async def _load(self, key: str | None, loader: Callable[[], Awaitable[Any]]) -> str:
        """Run *loader* (counted in ``rebuilds``); its value as JSON text, as a hit would return it."""
        self.rebuilds[key or ""] += 1
        return json.dumps(await loader(), default=_default, ensure_ascii=False)

    async def _fetch(self, key: str, loader: Callable[[], Awaitable[Any]], ttl: int) -> str:
        """The JSON text at *key*, rebuilt by at most one request across processes."""
        stale = None
        try:
            raw = await self.redis.get(key)
        except RedisError as exc:
            self._failed("read", exc)
            return await self._load(key, loader)
        if raw is not None:
            fresh_until, encoded = _unwrap(raw)
            if fresh_until is None or time.time() < fresh_until:
                return encoded
            stale = encoded
        token = secrets.token_hex(8)
        try:
            locked = await self.redis.set(f"lock:{key}", token, nx=True, px=self.lock_ms)
            if not locked:
                if stale is not None:
                    return stale  # someone is rebuilding it; the previous value will do meanwhile
                found = await self._await_rebuild(key)
                if found is not None:
                    return found
                # The rebuilder is slow or gone: load, and store it too (still correct data).
        except RedisError as exc:
            self._failed("lock", exc)
            return stale if stale is not None else await self._load(key, loader)
        try:
            encoded = await self._load(key, loader)
            await self._store(key, encoded, ttl)
        finally:
            if locked:
                try:
                    await self.redis.eval(_UNLOCK, 1, f"lock:{key}", token)
                except RedisError:
                    pass  # it expires after lock_ms anyway
        return encoded

    async def _await_rebuild(self, key: str) -> str | None:
        """Poll *key* for up to lock_wait seconds; its JSON text, or None when nothing came."""
        deadline = time.monotonic() + self.lock_wait
        while time.monotonic() < deadline:
            await asyncio.sleep(self.poll_interval)
            raw = await self.redis.get(key)
            if raw is not None:
                return _unwrap(raw)[1]
        return None

    async def _store(self, key: str, encoded: str, ttl: int) -> None:
        fresh = max(1.0, ttl * (1 - random.uniform(0, self.jitter)))
        try:
            await self.redis.set(key, f"{_STAMP}{time.time() + fresh:.3f}:{encoded}",
                                 ex=int(fresh) + self.stale_grace)
        except RedisError as exc:
            self._failed("write", exc)

    async def search_key(self, normalised: str, *, dated: bool = False) -> str | None:
        """The current key for a search with the *normalised* parameter string; *dated*
        when it filters by dates (its key then also follows the availability generation).
        None when Redis cannot say the current generations (then nothing is cached)."""
        if not self._available() or self.degraded:
            return None
        try:
            if dated:
                generation, dates = await self.redis.mget(SEARCH_GENERATION_KEY, DATED_SEARCH_GENERATION_KEY)
                generation = f"{generation or 0}.{dates or 0}"
            else:
                generation = await self.redis.get(SEARCH_GENERATION_KEY) or "0"
        except RedisError as exc:
            self._failed("read", exc)
            return None
        digest = hashlib.sha1(normalised.encode()).hexdigest()
        return f"cache:search:{generation}:{digest}"

    # -- rendered pages ------------------------------------------------------
    async def page_lookup(self, name: str, *, dated: bool = False) -> tuple[str | None, str | None]:
        """(key, HTML) of the cached page *name* (a path plus validated, normalised
        parameters) under the current generations — with *dated*, the availability one
        too — and today's date. HTML is None on a miss; key is None when nothing may be
        cached now (Redis failing or paused, invalidations pending): render as usual."""
        if not self._available() or self.degraded:
            return None, None
        day = time.strftime('%Y-%m-%d')
        local = (name, dated, day)
        remembered = self._pages.get(local)
        if remembered is not None and time.monotonic() < remembered[0]:
            self.page_hits += 1
            return remembered[1], remembered[2]
        try:
            key, html = await self._page_script(
                keys=[SEARCH_GENERATION_KEY, DATED_SEARCH_GENERATION_KEY],
                args=[f"{day}:{name}", "1" if dated else "0"])
        except RedisError as exc:
            self._failed("page read", exc)
            return None, None
        if html is not None:
            self.page_hits += 1
            self._remember_page(local, key, html)
        return key, html

    def _remember_page(self, local: tuple, key: str, html: str) -> None:
        if self.page_local <= 0 or self.degraded:
            return
        if self._pages_chars + len(html) > PAGE_LOCAL_MAX_CHARS:
            self.forget_pages()
        old = self._pages.pop(local, None)
        if old is not None:
            self._pages_chars -= len(old[2])
        self._pages[local] = (time.monotonic() + self.page_local, key, html)
        self._pages_chars += len(html)

    def forget_pages(self) -> None:
        """Drop the pages this process remembers (any invalidation does, before writing Redis)."""
        self._pages.clear()
        self._pages_chars = 0

    async def page_store(self, key: str, html: str) -> None:
        """Keep *html* under *key* (from :meth:`page_lookup`) for ``page_ttl`` seconds.
        Never raises for a Redis failure; pages over PAGE_MAX_CHARS are not kept."""
        if len(html) > PAGE_MAX_CHARS or self.degraded:
            return
        try:
            await self.redis.set(key, html, ex=self.page_ttl)
        except RedisError as exc:
            self._failed("page write", exc)

    async def invalidate_availability(self, house_id: int) -> None:
        """After a booking, cancel or reject of *house_id*: only searches with dates can
        change (its nights), so only their generation moves; the listing's page, home,
        areas and searches without dates stay. Never raises for a Redis failure: falls
        back to the full :meth:`invalidate_house` (retried and replayed)."""
        self.forget_pages()
        try:
            await self.redis.incr(DATED_SEARCH_GENERATION_KEY)
        except RedisError as exc:
            log.warning("availability invalidation of listing %s failed: %s", house_id, exc)
            await self.invalidate_house(house_id)

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
        self.forget_pages()
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
        self.forget_pages()  # also when a replay lands: copies taken meanwhile were of old pages
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
        await stop_task(self._replayer)
        if self.degraded:
            log.warning("shutting down with cache invalidations pending for listings %s; "
                        "their cached pages expire on their TTL", sorted(self._pending))

    async def invalidate_reference(self) -> None:
        """Drop cached areas and facilities (after seeding)."""
        self._local.clear()
        self.forget_pages()
        await self.redis.delete(AREAS_KEY, FACILITIES_KEY)
