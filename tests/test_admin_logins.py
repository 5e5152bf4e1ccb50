"""The login audit page: rows without a location are resolved in parallel through the IP locator.

The locator talks to a real HTTP provider on loopback (tests/iplookup_provider.py).
In the parallel test it holds the requests until all of them are in flight, so
resolving the addresses one after another would run into the lookup timeout.
"""

from __future__ import annotations

import re

import pytest

from tests.iplookup_provider import ProviderServer
from tests.utils.client import admin_client, text
from tests.utils.factories import make_user

PUBLIC_IPS = {"114.114.114.114": ("中国", "江苏", "南京"), "8.8.8.8": ("美国", "加利福尼亚", "山景城"),
              "1.2.4.8": ("中国", "北京", "北京")}


@pytest.fixture
def provider(io_loop):
    server = ProviderServer(answers=PUBLIC_IPS)
    io_loop.run_sync(server.start)
    yield server
    io_loop.run_sync(server.stop)


@pytest.fixture
def settings(base_settings, provider):
    return base_settings.replace(iplookup_url=provider.url_template, iplookup_fields=provider.field_map,
                                 iplookup_connect_timeout=10.0, iplookup_request_timeout=10.0)


async def add_event(app, *, ip: str, user: dict | None = None, mobile: str | None = None, success: bool = True,
                    location: str | None = None, minutes_ago: int = 0) -> int:
    return await app.db.insert(
        "INSERT INTO login_events (user_id, mobile, ip, location, user_agent, success, created_at) "
        "VALUES (%s, %s, %s, %s, 'Mozilla/5.0 test', %s, NOW() - INTERVAL %s MINUTE)",
        user["id"] if user else None, mobile or (user["mobile"] if user else None), ip, location,
        int(success), minutes_ago)


async def locations(app) -> dict[str, str | None]:
    rows = await app.db.query("SELECT ip, location FROM login_events")
    return {r["ip"]: r["location"] for r in rows}


@pytest.mark.gen_test(timeout=30)
async def test_logins_resolves_missing_locations_in_parallel(app, provider, new_client, login):
    user = await make_user(app, name="常用户")
    for minutes, ip in enumerate(PUBLIC_IPS):
        await add_event(app, ip=ip, user=user, minutes_ago=minutes)
    await add_event(app, ip="114.114.114.114", user=user, success=False, minutes_ago=10)  # same address again
    await add_event(app, ip="127.0.0.1", mobile="13000000000", success=False, minutes_ago=11)
    await add_event(app, ip="192.168.1.20", user=user, minutes_ago=12)
    await add_event(app, ip="203.0.113.9", user=user, location="早已解析", minutes_ago=13)
    admin, _ = await admin_client(app, new_client, login)

    # Three public addresses, each asked once, all at the same time: the provider answers
    # none until all three are in flight, so lookups one after another would time out
    # and show only the offline country.
    provider.group = 3
    page = await admin.get("/admin/logins")
    body = text(page)
    assert page.code == 200
    assert sorted(provider.requests) == sorted(PUBLIC_IPS)
    assert provider.max_in_flight == 3
    for expected in ("中国 江苏 南京", "美国 加利福尼亚 山景城", "中国 北京", "本机", "局域网", "早已解析"):
        assert expected in body, expected
    assert "常用户" in body and "无此账号" in body
    # The answers are written back, so the next visit asks nobody.
    assert await locations(app) == {"114.114.114.114": "中国 江苏 南京", "8.8.8.8": "美国 加利福尼亚 山景城",
                                    "1.2.4.8": "中国 北京", "127.0.0.1": "本机", "192.168.1.20": "局域网",
                                    "203.0.113.9": "早已解析"}
    assert await app.db.scalar("SELECT COUNT(*) FROM login_events WHERE location IS NULL") == 0
    provider.reset_counts()
    again = await admin.get("/admin/logins")
    assert again.code == 200 and "中国 江苏 南京" in text(again) and provider.requests == []


@pytest.mark.gen_test(timeout=30)
async def test_offline_fallback_is_shown_but_not_stored(app, provider, new_client, login):
    provider.mode = "error"  # the provider fails: the packaged country table answers
    await add_event(app, ip="8.8.8.8", mobile="13000000001", success=False)
    admin, _ = await admin_client(app, new_client, login)
    page = await admin.get("/admin/logins")
    assert page.code == 200 and "美国" in text(page)
    assert provider.requests == ["8.8.8.8"]
    # Stored only when the provider answers, so a passing outage does not stick to the row.
    assert await locations(app) == {"8.8.8.8": None}


@pytest.mark.gen_test(timeout=30)
async def test_logins_newest_first_and_paged(app, provider, new_client, login):
    user = await make_user(app)
    ids = [await add_event(app, ip="127.0.0.1", user=user, location="本机", minutes_ago=m) for m in range(60)]
    admin, _ = await admin_client(app, new_client, login)
    first = text(await admin.get("/admin/logins"))
    second = text(await admin.get("/admin/logins?page=2"))
    shown = [int(i) for i in re.findall(r'data-event-id="(\d+)"', first)]
    assert shown == ids[:50]  # ids[0] is the newest (0 minutes ago)
    assert [int(i) for i in re.findall(r'data-event-id="(\d+)"', second)] == ids[50:]
    assert provider.requests == []


@pytest.mark.gen_test(timeout=30)
async def test_real_logins_appear_on_the_audit_page(app, provider, new_client, login):
    admin_user = await make_user(app, admin=True, name="审计管理员")
    browser = new_client()
    ok = await browser.post("/admin/login", {"mobile": admin_user["mobile"], "password": "Test#pass2024"})
    assert ok.code == 302
    bad = await new_client().post("/login", {"mobile": admin_user["mobile"], "password": "Wrong#pass2024"})
    assert bad.code == 400
    body = text(await browser.get("/admin/logins"))
    assert body.count('class="login-event"') == 2
    assert 'data-success="1"' in body and 'data-success="0"' in body and "管理后台" in body


@pytest.mark.gen_test
async def test_unicode_digit_page_is_the_first_page(app, provider, new_client, login):
    user = await make_user(app)
    event_id = await add_event(app, ip="127.0.0.1", user=user, location="本机")
    admin, _ = await admin_client(app, new_client, login)
    page = await admin.get("/admin/logins?page=%C2%B2")
    assert page.code == 200 and f'data-event-id="{event_id}"' in text(page)
