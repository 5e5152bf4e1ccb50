"""Cache stampede: one rebuild per key at a time, stale copies served meanwhile, jittered
lifetimes, and a booking invalidates only the searches with dates.

Several :class:`Cache` objects on the same Redis stand for several app processes (each
has its own in-process single flight; only the Redis lock is shared between them).
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from services.cache import DATED_SEARCH_GENERATION_KEY, HOME_KEY, SEARCH_GENERATION_KEY, Cache, _STAMP
from tests.utils.client import text
from tests.utils.factories import make_house, make_user


class SlowLoader:
    """A loader that counts its runs and answers only when released."""

    def __init__(self, value):
        self.value = value
        self.calls = 0
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self):
        self.calls += 1
        self.started.set()
        await self.release.wait()
        return self.value


async def _all_waiting(caches: list[Cache], key: str, readers: int) -> None:
    """Let every reader reach its wait (in-process flight or Redis poll) before the loader answers."""
    for _ in range(200):
        await asyncio.sleep(0.01)
        if await caches[0].redis.exists(f"lock:{key}"):
            break
    for _ in range(5):  # a few more turns of the loop so the followers reach their wait
        await asyncio.sleep(0.02)


@pytest.mark.gen_test
async def test_concurrent_misses_in_several_processes_cause_one_rebuild(app):
    caches = [Cache(app.redis, 600, lock_wait=30.0) for _ in range(3)]
    loader = SlowLoader({"top": [1, 2, 3]})
    readers = [asyncio.ensure_future(caches[i % 3].get_or_load(HOME_KEY, loader)) for i in range(30)]
    await loader.started.wait()
    await _all_waiting(caches, HOME_KEY, len(readers))
    loader.release.set()
    results = await asyncio.gather(*readers)
    assert loader.calls == 1
    assert sum(c.rebuilds[HOME_KEY] for c in caches) == 1
    assert all(r == {"top": [1, 2, 3]} for r in results)
    assert not await app.redis.exists(f"lock:{HOME_KEY}")  # released by its holder


@pytest.mark.gen_test
async def test_concurrent_home_requests_rebuild_once(app, new_client):
    landlord = await make_user(app)
    await make_house(app, landlord)
    clients = [new_client() for _ in range(12)]
    responses = await asyncio.gather(*(c.get("/") for c in clients))
    assert all(r.code == 200 for r in responses), [text(r)[:300] for r in responses if r.code != 200]
    assert app.cache.rebuilds[HOME_KEY] == 1
    await asyncio.gather(*(c.get("/") for c in clients))
    assert app.cache.rebuilds[HOME_KEY] == 1  # then hits only


@pytest.mark.gen_test
async def test_stale_copy_served_while_one_request_rebuilds(app):
    cache = Cache(app.redis, 600)
    other = Cache(app.redis, 600)  # another process
    # A value whose freshness ended a second ago, still in Redis for its grace period.
    await app.redis.set(HOME_KEY, f"{_STAMP}{time.time() - 1:.3f}:" + json.dumps({"v": "old"}), ex=60)
    loader = SlowLoader({"v": "new"})
    rebuilding = asyncio.ensure_future(cache.get_or_load(HOME_KEY, loader))
    await loader.started.wait()
    # While the rebuild runs, the other process answers at once with the stale copy.
    assert await other.get_or_load(HOME_KEY, SlowLoader({"v": "never"})) == {"v": "old"}
    assert other.rebuilds[HOME_KEY] == 0
    loader.release.set()
    assert await rebuilding == {"v": "new"}
    assert await other.get_or_load(HOME_KEY, SlowLoader({"v": "never"})) == {"v": "new"}


@pytest.mark.gen_test
async def test_lifetimes_are_jittered_and_stale_copies_expire(app):
    cache = Cache(app.redis, 1000, jitter=0.2, stale_grace=60)
    fresh_until = set()
    for i in range(20):
        key = f"cache:test:{i}"
        await cache.get_or_load(key, lambda: _value(i))
        raw = await app.redis.get(key)
        fresh_until.add(round(float(raw[len(_STAMP):].split(":", 1)[0]) - time.time()))
        ttl = await app.redis.ttl(key)
        assert 800 + 60 - 2 <= ttl <= 1000 + 60
    assert len(fresh_until) > 1  # not all the same lifetime
    assert all(790 <= f <= 1000 for f in fresh_until)


async def _value(i):
    return {"i": i}


@pytest.mark.gen_test
async def test_a_rebuilder_that_never_answers_does_not_block_readers(app):
    cache = Cache(app.redis, 600, lock_wait=0.2)
    await app.redis.set(f"lock:{HOME_KEY}", "someone-else", px=60_000)  # a process that died mid-rebuild
    assert await cache.get_or_load(HOME_KEY, lambda: _value(7)) == {"i": 7}
    assert cache.rebuilds[HOME_KEY] == 1


@pytest.mark.gen_test
async def test_availability_invalidation_keeps_undated_searches_and_home(app):
    cache = Cache(app.redis, 600)
    undated = await cache.search_key("undated")
    dated = await cache.search_key("dated", dated=True)
    await cache.invalidate_availability(1)
    assert await cache.search_key("undated") == undated  # cached undated searches stay valid
    assert await cache.search_key("dated", dated=True) != dated
    assert int(await app.redis.get(DATED_SEARCH_GENERATION_KEY)) == 1
    # A listing change still makes every search fresh, dated ones included.
    dated = await cache.search_key("dated", dated=True)
    await cache.invalidate_house(1)
    assert await cache.search_key("undated") != undated
    assert await cache.search_key("dated", dated=True) != dated
    assert int(await app.redis.get(SEARCH_GENERATION_KEY)) == 1
