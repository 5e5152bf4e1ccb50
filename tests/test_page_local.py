"""Cached pages remembered in the process for page_local seconds (services/cache.py): a page in
demand costs one Redis read per second per process; this process's own invalidations forget
them at once, another process's are seen once page_local has passed."""

from __future__ import annotations

import pytest

from services import cache as cache_module
from services.cache import Cache


def expire_copies(cache: Cache) -> None:
    """As if page_local seconds had passed (no sleeping in tests)."""
    cache._pages = {local: (0.0, key, html) for local, (_, key, html) in cache._pages.items()}


async def kept(cache: Cache, name: str, html: str, *, dated: bool = False) -> None:
    key, found = await cache.page_lookup(name, dated=dated)
    assert found is None
    await cache.page_store(key, html)


@pytest.mark.gen_test
async def test_a_page_found_is_served_from_the_process_then_from_redis_again(app):
    cache, other_process = Cache(app.redis, ttl=60), Cache(app.redis, ttl=60)
    await kept(cache, "/x", "<p>one</p>")
    key, html = await cache.page_lookup("/x")  # from Redis, now remembered
    assert html == "<p>one</p>" and cache.page_hits == 1
    await app.redis.set(key, "<p>changed in Redis</p>")
    assert (await cache.page_lookup("/x")) == (key, "<p>one</p>")  # no Redis read
    assert cache.page_hits == 2
    await other_process.invalidate_house(1)
    assert (await cache.page_lookup("/x"))[1] == "<p>one</p>"  # not seen yet…
    expire_copies(cache)
    new_key, html = await cache.page_lookup("/x")  # …but once page_local has passed
    assert html is None and new_key != key


@pytest.mark.gen_test
async def test_this_process_invalidating_forgets_its_copies_at_once(app):
    cache = Cache(app.redis, ttl=60)
    await kept(cache, "/houses/1", "<p>free</p>", dated=True)
    await kept(cache, "/houses?", "<p>list</p>")
    assert (await cache.page_lookup("/houses/1", dated=True))[1] == "<p>free</p>"
    assert (await cache.page_lookup("/houses?"))[1] == "<p>list</p>"
    await cache.invalidate_availability(1)  # a booking: dated pages only
    assert (await cache.page_lookup("/houses/1", dated=True))[1] is None
    assert (await cache.page_lookup("/houses?"))[1] == "<p>list</p>"  # from Redis again
    await cache.invalidate_house(1)
    assert (await cache.page_lookup("/houses?"))[1] is None


@pytest.mark.gen_test
async def test_copies_are_bounded_and_off_when_degraded_or_disabled(app, monkeypatch):
    monkeypatch.setattr(cache_module, "PAGE_LOCAL_MAX_CHARS", 25)
    cache = Cache(app.redis, ttl=60)
    for name in ("/a", "/b", "/c"):
        await kept(cache, name, "x" * 10)
        await cache.page_lookup(name)
        assert cache._pages_chars <= 25
    assert len(cache._pages) <= 2
    cache._pending_global = True  # an invalidation not delivered yet: Redis and copies both skipped
    assert await cache.page_lookup("/c") == (None, None)
    cache._pending_global = False
    off = Cache(app.redis, ttl=60, page_local=0)
    await off.page_lookup("/a")
    assert off._pages == {}


@pytest.mark.gen_test
async def test_a_cached_page_keeps_tornados_etag_and_answers_304(app, client):
    rendered = await client.get("/houses")
    from_redis, from_process = await client.get("/houses"), await client.get("/houses")
    assert rendered.body == from_redis.body == from_process.body
    assert rendered.headers["Etag"] == from_redis.headers["Etag"] == from_process.headers["Etag"]
    again = await client.get("/houses", headers={"If-None-Match": rendered.headers["Etag"]})
    assert again.code == 304 and not again.body
