"""Benchmark services.iplocation against a loopback provider that answers in 200 ms.

Prints, in milliseconds: one uncached lookup, 20 distinct uncached lookups through
``locate_many`` (and their ratio to the single one), and the mean of 1000 cached
lookups; then PASS/FAIL against the targets (the 20 in under 1.3 × one lookup,
a cached lookup under 1 ms). It prints figures; it is not a test.

    .venv/bin/python bench/iplookup.py [--redis-url redis://127.0.0.1:6380/7]

The Redis database named by --redis-url is a scratch one: it is flushed before
and after the run (database 0, the application's, is refused).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis.asyncio as aioredis  # noqa: E402

from config import test_settings  # noqa: E402
from services.iplocation import IPLocator  # noqa: E402
from tests.iplookup_provider import ProviderServer  # noqa: E402

DELAY = 0.2
MANY = 20
CACHED_CALLS = 1000


async def bench(redis_url: str, concurrency: int) -> bool:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    provider = ProviderServer(delay=DELAY)
    locator = None
    try:
        await client.flushdb()
        await provider.start()
        settings = test_settings(iplookup_url=provider.url_template,
                                 iplookup_fields=provider.field_map,
                                 iplookup_max_concurrency=concurrency)
        locator = IPLocator.from_settings(settings, client)

        # Warm-up on an address not used below: the first request pays for
        # making the HTTP client and the Redis connection.
        await locator.locate("1.0.0.1")

        singles = []
        for i in range(3):
            started = time.perf_counter()
            location = await locator.locate(f"114.114.200.{i + 1}")
            singles.append(time.perf_counter() - started)
            assert location.source == "provider", location
        single = statistics.median(singles)

        ips = [f"114.114.{i}.1" for i in range(MANY)]
        started = time.perf_counter()
        results = await locator.locate_many(ips)
        many = time.perf_counter() - started
        from_provider = sum(loc.source == "provider" for loc in results.values())

        cached_ip = ips[0]
        started = time.perf_counter()
        for _ in range(CACHED_CALLS):
            await locator.locate(cached_ip)
        cached = (time.perf_counter() - started) / CACHED_CALLS

        ratio = many / single
        many_ok = ratio < 1.3 and from_provider == MANY
        cached_ok = cached < 0.001
        print(f"provider delay            {DELAY * 1000:.0f} ms, max_concurrency {concurrency}")
        print(f"single lookup             {single * 1000:.1f} ms (median of 3: "
              + ", ".join(f"{s * 1000:.1f}" for s in singles) + ")")
        print(f"{MANY} lookups, locate_many  {many * 1000:.1f} ms = {ratio:.2f} × single "
              f"({from_provider}/{MANY} from provider)  "
              f"[{'PASS' if many_ok else 'FAIL'}: target < 1.3 ×]")
        print(f"cached lookup             {cached * 1000:.3f} ms mean over {CACHED_CALLS}  "
              f"[{'PASS' if cached_ok else 'FAIL'}: target < 1 ms]")
        return many_ok and cached_ok
    finally:
        if locator is not None:
            locator.close()
        await provider.stop()
        await client.flushdb()
        await client.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6380/7",
                        help="a scratch Redis database; it is flushed (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=MANY,
                        help="the locator's max_concurrency (default: %(default)s)")
    args = parser.parse_args()
    if urlsplit(args.redis_url).path.strip("/") in ("", "0"):
        parser.error("--redis-url must name a scratch database other than 0; it is flushed")
    ok = asyncio.run(bench(args.redis_url, args.concurrency))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
