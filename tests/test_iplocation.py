"""services.iplocation against a real loopback provider and the test Redis database.

Each test is a plain function that runs its own coroutine with ``asyncio.run``
through the ``run`` fixture: the provider server, the Redis client and the
locator are made on that loop and closed before it ends, so nothing leaks across
tests. Redis is the database conftest chose for this pytest process.

Nothing here measures elapsed time: parallelism is proven by the provider's
``group`` (requests held until a whole group is in flight) and its
``max_in_flight``, a timeout by the provider seeing the client give up.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
import redis.asyncio as aioredis

from config import test_settings
from services.iplocation import (FieldMap, IPLocator, Location, ProviderError,
                                 offline_location)
from tests.iplookup_provider import ProviderServer

# Public addresses: they only ever travel as text to the loopback provider.
CN_IP = "114.114.114.114"   # the offline table says CN
US_IP = "8.8.8.8"           # the offline table says US


# Only a guard against a hang: a scenario that works finishes in well under a second.
SCENARIO_LIMIT = 60


@pytest.fixture
def run(base_settings):
    """``run(scenario, timeout=…, max_concurrency=…, **provider options)``: run
    ``await scenario(locator, provider, redis)`` on a fresh loop, then clean up."""
    return lambda scenario, **options: run_scenario(base_settings.redis_url, scenario, **options)


def run_scenario(redis_url: str, scenario, *, timeout: float = 5.0, max_concurrency: int = 20,
                 **provider_options):
    # *timeout* (seconds) is generous by default: a busy machine must not turn a slow
    # loopback answer into an offline fallback. Tests about timeouts pass their own.
    async def main():
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        provider = ProviderServer(**provider_options)
        locator = None
        try:
            await client.flushdb()
            await provider.start()
            locator = IPLocator(
                client,
                url_template=provider.url_template,
                field_map=provider.field_map,
                connect_timeout=timeout,
                request_timeout=timeout,
                max_concurrency=max_concurrency,
                cache_ttl=7 * 24 * 3600,
                failure_ttl=60,
            )
            return await asyncio.wait_for(scenario(locator, provider, client), SCENARIO_LIMIT)
        finally:
            if locator is not None:
                locator.close()
            await provider.stop()
            await client.flushdb()
            await client.aclose()

    return asyncio.run(main())


def test_provider_success_maps_fields(run):
    async def scenario(locator, provider, redis):
        provider.answers[CN_IP] = ("中国", "江苏", "南京")
        location = await locator.locate(CN_IP)
        assert location == Location("中国", "江苏", "南京", "provider")
        assert location.label() == "中国 江苏 南京"
        assert provider.requests == [CN_IP]

    run(scenario)


def test_provider_nested_fields_and_numeric_check(run):
    async def scenario(locator, provider, redis):
        location = await locator.locate(US_IP)
        assert location == Location("中国", "广东", "深圳", "provider")

    run(scenario, shape="nested")


def test_ipv6_address_reaches_provider(run):
    async def scenario(locator, provider, redis):
        location = await locator.locate("2400:3200:0::1")
        assert location.source == "provider"
        assert provider.requests == ["2400:3200::1"]  # normalised spelling

    run(scenario)


@pytest.mark.parametrize("mode", ["error", "malformed", "fail"])
def test_provider_failure_falls_back_offline(mode, run):
    async def scenario(locator, provider, redis):
        cn, us = await locator.locate(CN_IP), await locator.locate(US_IP)
        assert cn == Location("中国", "", "", "offline")
        assert us == Location("美国", "", "", "offline")
        assert cn.label() == "中国"
        assert len(provider.requests) == 2

    run(scenario, mode=mode)


def test_timeout_falls_back_offline(run):
    async def scenario(locator, provider, redis):
        location = await locator.locate(CN_IP)
        assert location == Location("中国", "", "", "offline")
        # The provider saw the request and never answered it (its delay is an hour):
        # the answer above came from the locator's own timeout, which closed the request.
        assert provider.requests == [CN_IP] and provider.answered == []
        await provider.wait_abandoned(1)
        assert provider.abandoned == [CN_IP]
        assert 0 < await redis.ttl(f"ip:{CN_IP}") <= locator.failure_ttl

    run(scenario, timeout=1.0, delay=3600)


def test_connection_refused_falls_back_offline(run):
    # A bound socket that never listens: connecting to its port is refused, and
    # nothing else can take the port while the test runs.
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]

    async def scenario(locator, provider, redis):
        locator.url_template = f"http://127.0.0.1:{port}/json/{{ip}}"
        assert await locator.locate(US_IP) == Location("美国", "", "", "offline")
        assert provider.requests == []

    try:
        run(scenario)
    finally:
        closed.close()


@pytest.mark.parametrize("ip, expected", [
    ("127.0.0.1", "本机"),
    ("::1", "本机"),
    ("10.1.2.3", "局域网"),
    ("192.168.1.10", "局域网"),
    ("172.16.5.4", "局域网"),
    ("100.64.0.1", "局域网"),
    ("169.254.1.1", "局域网"),
    ("fe80::1", "局域网"),
    ("fd00::1", "局域网"),
    ("::ffff:192.168.0.1", "局域网"),
    ("0.0.0.0", "局域网"),
    ("240.0.0.1", "局域网"),
])
def test_private_addresses_answered_locally(ip, expected, run):
    async def scenario(locator, provider, redis):
        location = await locator.locate(ip)
        assert location.source == "local"
        assert location.label() == expected
        assert provider.requests == []
        assert await redis.dbsize() == 0

    run(scenario)


@pytest.mark.parametrize("ip", ["", "localhost", "1.2.3.999", "1.2.3", "::g", " ", "8.8.8.8/24"])
def test_invalid_strings_are_unknown_without_lookup(ip, run):
    async def scenario(locator, provider, redis):
        location = await locator.locate(ip)
        assert location == Location("", "", "", "unknown")
        assert location.label() == "未知"
        assert provider.requests == []

    run(scenario)


def test_cache_hit_makes_no_second_request(run):
    async def scenario(locator, provider, redis):
        first = await locator.locate(CN_IP)
        second = await locator.locate(CN_IP)
        assert first == second == Location("中国", "广东", "深圳", "provider")
        assert provider.requests == [CN_IP]
        ttl = await redis.ttl(f"ip:{CN_IP}")
        assert locator.failure_ttl < ttl <= locator.cache_ttl == 7 * 24 * 3600  # the long TTL

    run(scenario)


def test_failure_cached_briefly(run):
    async def scenario(locator, provider, redis):
        assert (await locator.locate(CN_IP)).source == "offline"
        provider.mode = "ok"  # the provider comes back within failure_ttl…
        assert (await locator.locate(CN_IP)).source == "offline"
        assert provider.requests == [CN_IP]  # …but is not asked again yet
        ttl = await redis.ttl(f"ip:{CN_IP}")
        assert 0 < ttl <= 60
        await redis.delete(f"ip:{CN_IP}")  # as if failure_ttl had passed
        assert (await locator.locate(CN_IP)).source == "provider"
        assert provider.requests == [CN_IP, CN_IP]

    run(scenario, mode="error")


def test_corrupt_cache_entry_is_looked_up_again(run):
    async def scenario(locator, provider, redis):
        await redis.set(f"ip:{CN_IP}", "{not json")
        assert (await locator.locate(CN_IP)).source == "provider"
        assert provider.requests == [CN_IP]

    run(scenario)


def test_locate_many_runs_in_parallel(run):
    ips = [f"114.114.{i}.1" for i in range(20)]

    async def scenario(locator, provider, redis):
        results = await locator.locate_many(ips + ips[:5])  # duplicates are looked up once
        assert list(results) == ips
        # The provider answers only once all 20 requests are in flight together: lookups
        # made one after another would each time out and fall back to the offline table.
        assert all(loc.source == "provider" for loc in results.values())
        assert sorted(provider.requests) == sorted(ips)
        assert provider.max_in_flight == 20

    run(scenario, timeout=10, group=20)


def test_locate_many_mixes_local_invalid_and_remote(run):
    async def scenario(locator, provider, redis):
        results = await locator.locate_many(["10.0.0.1", "nope", CN_IP, "127.0.0.1"])
        assert [loc.label() for loc in results.values()] == ["局域网", "未知", "中国 广东 深圳", "本机"]
        assert provider.requests == [CN_IP]

    run(scenario)


def test_concurrency_limit(run):
    ips = [f"114.114.{i}.2" for i in range(20)]

    async def scenario(locator, provider, redis):
        results = await locator.locate_many(ips)
        # Answered in groups of 5: each group is all in flight at once, and never more.
        assert all(loc.source == "provider" for loc in results.values())
        assert sorted(provider.requests) == sorted(ips)
        assert provider.max_in_flight == 5

    run(scenario, timeout=10, group=5, max_concurrency=5)


def test_from_settings_reads_iplookup_fields():
    settings = test_settings(iplookup_url="http://127.0.0.1:1/geo?ip={ip}",
                             iplookup_fields="country=data.c,code=code:0",
                             iplookup_request_timeout=0.7, iplookup_max_concurrency=3)
    locator = IPLocator.from_settings(settings, redis=None)
    assert locator.url_template == "http://127.0.0.1:1/geo?ip={ip}"
    assert locator.request_timeout == 0.7
    assert locator.connect_timeout == settings.iplookup_connect_timeout
    assert locator.max_concurrency == 3
    assert locator.cache_ttl == 7 * 24 * 3600
    assert locator.failure_ttl == 60
    assert locator.field_map.extract({"code": 0, "data": {"c": "日本"}}) == Location("日本", "", "", "provider")


def test_url_template_without_placeholder_is_refused():
    with pytest.raises(ValueError):
        IPLocator.from_settings(test_settings(iplookup_url="http://127.0.0.1:1/json"), redis=None)


@pytest.mark.parametrize("text", ["", "country", "country=", "colour=shade", "status=status:ok", "city=a..b"])
def test_bad_field_maps_are_refused(text):
    with pytest.raises(ValueError):
        FieldMap.parse(text)


def test_field_map_checks():
    fields = FieldMap.parse("country=country,province=regionName,city=city,status=status:success")
    with pytest.raises(ProviderError):
        fields.extract({"status": "fail", "country": "中国"})
    with pytest.raises(ProviderError):
        fields.extract({"country": "中国"})  # the checked field is missing
    with pytest.raises(ProviderError):
        fields.extract({"status": "success"})  # nothing to show
    with pytest.raises(ProviderError):
        fields.extract(["not", "an", "object"])
    assert fields.extract({"status": "success", "country": "中国"}) == Location("中国", "", "", "provider")


def test_offline_table():
    assert offline_location(CN_IP) == Location("中国", "", "", "offline")
    assert offline_location(US_IP).label() == "美国"


def test_labels():
    assert Location("中国", "北京", "北京", "provider").label() == "中国 北京"
    assert Location("中国", "广东", "深圳", "provider").label() == "中国 广东 深圳"
    assert Location("FR", "", "", "offline").label() == "FR"
    assert Location("", "", "", "unknown").label() == "未知"


def test_locate_many_reads_and_fills_the_cache(run):
    async def scenario(locator, provider, redis):
        await locator.locate(CN_IP)
        results = await locator.locate_many([CN_IP, US_IP, "2400:3200::1", "2400:3200:0::1"])
        assert all(loc.source == "provider" for loc in results.values())
        assert len(results) == 4
        # CN_IP came from the cache; the two spellings of one IPv6 address made one request
        # (the two lookups run concurrently, so they may reach the provider in either order).
        assert provider.requests[0] == CN_IP
        assert sorted(provider.requests[1:]) == sorted([US_IP, "2400:3200::1"])
        assert await redis.exists(f"ip:{US_IP}", "ip:2400:3200::1") == 2
        await locator.locate_many([US_IP, "2400:3200::1"])
        assert len(provider.requests) == 3

    run(scenario)


def test_redis_down_still_answers(run):
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]

    async def scenario(locator, provider, redis):
        dead = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0", decode_responses=True,
                                       socket_connect_timeout=0.2)
        locator.redis = dead
        try:
            assert (await locator.locate(CN_IP)).source == "provider"
            results = await locator.locate_many([US_IP, "10.0.0.1"])
            assert [loc.source for loc in results.values()] == ["provider", "local"]
        finally:
            await dead.aclose()

    try:
        run(scenario)
    finally:
        closed.close()
