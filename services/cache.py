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
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Awaitable, Callable

AREAS_KEY = "cache:areas"
FACILITIES_KEY = "cache:facilities"
HOME_KEY = "cache:home"
SEARCH_GENERATION_KEY = "cache:gen:search"


def house_key(house_id: int) -> str:
    """The cache key of one listing page's data: ``cache:house:<id>``."""
    return f"cache:house:{int(house_id)}"


def _default(value: Any) -> str:
    # dates, datetimes and Decimals from MariaDB rows
    return str(value) if not hasattr(value, "isoformat") else value.isoformat()


class Cache:
    """JSON values in Redis with a TTL in seconds."""

    def __init__(self, redis, ttl: int):
        self.redis = redis
        self.ttl = ttl

    async def get_or_load(self, key: str, loader: Callable[[], Awaitable[Any]], ttl: int | None = None) -> Any:
        """The value at *key*; on a miss, ``await loader()`` and store its JSON for *ttl* seconds."""
        raw = await self.redis.get(key)
        if raw is not None:
            return json.loads(raw)
        value = await loader()
        # Round-trip through JSON so a miss returns exactly what a hit would.
        encoded = json.dumps(value, default=_default, ensure_ascii=False)
        await self.redis.set(key, encoded, ex=ttl or self.ttl)
        return json.loads(encoded)

    async def search_key(self, normalised: str) -> str:
        """The current key for a search with the *normalised* parameter string."""
        generation = await self.redis.get(SEARCH_GENERATION_KEY) or "0"
        digest = hashlib.sha1(normalised.encode()).hexdigest()
        return f"cache:search:{generation}:{digest}"

    async def invalidate_house(self, house_id: int | None = None) -> None:
        """Make everything a listing change affects fresh: its page, home, all searches,
        and the area choices (they include every city that has an online listing)."""
        await self.invalidate_houses([] if house_id is None else [house_id])

    async def invalidate_houses(self, house_ids: list[int]) -> None:
        """:meth:`invalidate_house` for several listings at once (an owner's name, avatar or
        account status shows on all of theirs), in one round trip."""
        async with self.redis.pipeline(transaction=True) as pipe:
            if house_ids:
                pipe.delete(*[house_key(i) for i in house_ids])
            pipe.delete(HOME_KEY, AREAS_KEY)
            pipe.incr(SEARCH_GENERATION_KEY)
            await pipe.execute()

    async def invalidate_reference(self) -> None:
        """Drop cached areas and facilities (after seeding)."""
        await self.redis.delete(AREAS_KEY, FACILITIES_KEY)
