"""External calendar feeds imported as blocks (models/calendar_sync.py, handlers/calendar_sync.py),
fetched from a real HTTP server on loopback (tests/utils/ical_server.py). The feeds' addresses are
private, so these tests allow them (ical_allow_private, as IHOME_ICAL_ALLOW_PRIVATE=1) except where
the refusal is what is tested. Real MariaDB, real Redis.
"""

from __future__ import annotations

import asyncio
import functools
import socket

import pytest
import redis.asyncio as aioredis

from handlers.calendar_sync import MANUAL_SYNC_PREFIX
from models import calendar_sync
from services.safe_fetch import fetch_body
from tests.utils.booking import make_party
from tests.utils.client import text
from tests.utils.dates import day, iso
from tests.utils.ical_server import IcalServer, Resource, ics
from tests.utils.pages import field_error


@pytest.fixture
def settings(base_settings):
    return base_settings.replace(ical_allow_private=True)


@pytest.fixture
def feeds(io_loop):
    server = IcalServer().start()
    yield server
    io_loop.run_sync(server.stop)


async def feed_nights(app, feed_id: int) -> list[str]:
    rows = await app.db.query("SELECT bn.night FROM booked_nights bn JOIN house_blocks hb ON hb.id = bn.block_id "
                              "WHERE hb.feed_id = %s ORDER BY bn.night", feed_id)
    return [r["night"].isoformat() for r in rows]


async def holders(app, house_id: int) -> dict[str, str]:
    """{night: "order" | "host" | "feed"} for every held night of the listing."""
    rows = await app.db.query("SELECT bn.night, bn.order_id, hb.feed_id FROM booked_nights bn "
                              "LEFT JOIN house_blocks hb ON hb.id = bn.block_id WHERE bn.house_id = %s", house_id)
    return {r["night"].isoformat(): "order" if r["order_id"] else "feed" if r["feed_id"] else "host" for r in rows}


async def add_feed(client, house_id: int, url: str):
    return await client.post(f"/houses/{house_id}/calendar/feeds", {"url": url})


async def only_feed(app, house_id: int) -> dict:
    rows = await calendar_sync.feeds(app.db, house_id)
    assert len(rows) == 1
    return rows[0]


async def sync_now(app, client, house_id: int, feed_id: int):
    """POST …/sync, first forgetting the last manual sync (one per MANUAL_SYNC_SECONDS)."""
    await app.redis.delete(f"{MANUAL_SYNC_PREFIX}{feed_id}")
    return await client.post(f"/houses/{house_id}/calendar/feeds/{feed_id}/sync")


def nights(a: int, b: int) -> list[str]:
    return [iso(i) for i in range(a, b)]


@pytest.mark.gen_test(timeout=60)
async def test_import_blocks_nights_and_removal_releases_them(app, feeds, login, new_client):
    p = await make_party(app, login, new_client)
    hid = p.house["id"]
    assert (await p.lc.post(f"/houses/{hid}/calendar/block", {"sd": iso(20), "ed": iso(22)})).code == 302
    url = feeds.serve("/other.ics", Resource(body=ics((day(3), day(6)), (day(10), day(12)), (day(-5), day(-2)))))
    response = await add_feed(p.lc, hid, url)
    assert response.code == 302 and response.headers["Location"].endswith("#calendar-sync")
    feed = await only_feed(app, hid)
    assert feed["last_status"] == "ok" and feed["last_event_count"] == 3 and feed["clashes"] == []
    assert await feed_nights(app, feed["id"]) == nights(3, 6) + nights(10, 12)  # past nights are not imported
    # Guests cannot book them.
    assert 400 <= (await p.book(4, 5)).code < 500
    # The edit page shows the feed and its status.
    page = text(await p.lc.get(f"/houses/{hid}/edit"))
    assert f'data-feed-id="{feed["id"]}"' in page and 'data-status="ok"' in page and url in page

    # The other platform frees 10–12 and adds 14–15: a sync releases and blocks accordingly.
    feeds.serve("/other.ics", Resource(body=ics((day(3), day(6)), (day(14), day(15)))))
    assert (await sync_now(app, p.lc, hid, feed["id"])).code == 302
    assert await feed_nights(app, feed["id"]) == nights(3, 6) + [iso(14)]
    # "Sync now" again at once is not another fetch.
    hits = feeds.hits["/other.ics"]
    assert (await p.lc.post(f"/houses/{hid}/calendar/feeds/{feed['id']}/sync")).code == 302
    assert feeds.hits["/other.ics"] == hits
    assert (await p.book(10, 12)).code == 302  # the released nights can be booked again
    # The host's own block was never touched.
    held = await holders(app, hid)
    assert [n for n, by in held.items() if by == "host"] == nights(20, 22)

    # Deleting the feed releases its nights only.
    assert (await p.lc.post(f"/houses/{hid}/calendar/feeds/{feed['id']}/delete")).code == 302
    held = await holders(app, hid)
    assert sorted(n for n, by in held.items() if by == "feed") == []
    assert sorted(n for n, by in held.items() if by == "host") == nights(20, 22)
    assert sorted(n for n, by in held.items() if by == "order") == nights(10, 12)
    assert await calendar_sync.feeds(app.db, hid) == []


@pytest.mark.gen_test(timeout=60)
async def test_a_clash_with_a_booking_is_reported_and_the_booking_untouched(app, feeds, login, new_client):
    p = await make_party(app, login, new_client)
    hid = p.house["id"]
    order_id = await p.order(5, 7)
    assert (await p.lc.post(f"/houses/{hid}/calendar/block", {"sd": iso(9), "ed": iso(10)})).code == 302
    url = feeds.serve("/c.ics", Resource(body=ics((day(4), day(11)))))
    assert (await add_feed(p.lc, hid, url)).code == 302
    feed = await only_feed(app, hid)
    assert feed["last_status"] == "ok"
    assert feed["clashes"] == [{"night": iso(5), "by": "order"}, {"night": iso(6), "by": "order"},
                               {"night": iso(9), "by": "host"}]
    assert await feed_nights(app, feed["id"]) == [iso(4), iso(7), iso(8), iso(10)]
    rows = await app.db.query("SELECT night FROM booked_nights WHERE order_id = %s ORDER BY night", order_id)
    assert [r["night"].isoformat() for r in rows] == nights(5, 7)
    assert await app.db.scalar("SELECT status FROM orders WHERE id = %s", order_id) == "pending"
    page = text(await p.lc.get(f"/houses/{hid}/edit"))
    for night in (iso(5), iso(6), iso(9)):
        assert f'data-night="{night}"' in page
    # A second feed holding the same nights reports them as held by the first one.
    second = feeds.serve("/d.ics", Resource(body=ics((day(4), day(5)))))
    assert (await add_feed(p.lc, hid, second)).code == 302
    rows = await calendar_sync.feeds(app.db, hid)
    assert rows[1]["clashes"] == [{"night": iso(4), "by": "feed"}]
    # The host cannot block imported nights by hand either (they are taken), nor merge into them.
    refused = await p.lc.post(f"/houses/{hid}/calendar/block", {"sd": iso(7), "ed": iso(8)})
    assert refused.code == 409


@pytest.mark.gen_test(timeout=90)
async def test_failures_are_reported_and_block_nothing_new_nor_release(app, feeds, login, new_client):
    p = await make_party(app, login, new_client)
    hid = p.house["id"]
    url = feeds.serve("/f.ics", Resource(body=ics((day(3), day(5)))))
    assert (await add_feed(p.lc, hid, url)).code == 302
    feed = await only_feed(app, hid)
    assert await feed_nights(app, feed["id"]) == nights(3, 5)
    gate = asyncio.Event()
    app.fetch_feed = functools.partial(fetch_body, allow_private=True, connect_timeout=0.5, request_timeout=0.5)
    cases = [
        (Resource(body=b"", gate=gate), "timeout"),
        (Resource(size=2 * 1024 * 1024), "too_large"),
        (Resource(body=b"<html>not a calendar</html>"), "garbage"),
        (Resource(body=b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:zzz\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"), "garbage"),
        (Resource(status=404, body=b"gone"), "status:404"),
    ]
    for resource, error in cases:
        feeds.serve("/f.ics", resource)
        response = await sync_now(app, p.lc, hid, feed["id"])
        assert response.code == 302, error
        row = await calendar_sync.feed(app.db, hid, feed["id"])
        assert (row["last_status"], row["last_error"]) == ("error", error)
        assert await feed_nights(app, feed["id"]) == nights(3, 5), error  # kept as they were
        assert 'data-status="error"' in text(await p.lc.get(f"/houses/{hid}/edit"))
    gate.set()
    # A feed that lists too many events is refused whole, nothing released either.
    many = ics(*[(day(30), day(31))] * 5001)
    feeds.serve("/f.ics", Resource(body=many))
    await sync_now(app, p.lc, hid, feed["id"])
    row = await calendar_sync.feed(app.db, hid, feed["id"])
    assert (row["last_status"], row["last_error"]) == ("error", "too_many_events")
    assert await feed_nights(app, feed["id"]) == nights(3, 5)
    # A new feed that fails at once blocks nothing.
    assert (await add_feed(p.lc, hid, feeds.url("/nothing-here.ics"))).code == 302
    rows = await calendar_sync.feeds(app.db, hid)
    assert rows[1]["last_status"] == "error" and await feed_nights(app, rows[1]["id"]) == []


@pytest.mark.gen_test(timeout=60)
async def test_private_addresses_are_refused_unless_allowed(app, feeds, login, new_client):
    p = await make_party(app, login, new_client)
    hid = p.house["id"]
    app.fetch_feed = functools.partial(fetch_body, allow_private=False, connect_timeout=2, request_timeout=2)
    feeds.serve("/p.ics", Resource(body=ics((day(3), day(5)))))
    for i, url in enumerate((feeds.url("/p.ics"), feeds.url("/p.ics", "localhost"), "http://10.0.0.1/p.ics")):
        assert (await add_feed(p.lc, hid, url)).code == 302
    rows = await calendar_sync.feeds(app.db, hid)
    assert [(r["last_status"], r["last_error"]) for r in rows] == [("error", "refused")] * 3
    assert feeds.hits["/p.ics"] == 0
    assert await app.db.scalar("SELECT COUNT(*) FROM booked_nights WHERE house_id = %s", hid) == 0


@pytest.mark.gen_test(timeout=60)
async def test_three_feeds_at_most_and_urls_are_checked(app, feeds, login, new_client):
    p = await make_party(app, login, new_client)
    hid = p.house["id"]
    for raw, message_has in (("ftp://example.com/a.ics", "http"), ("not a url", "http"), ("", "请填写"),
                             ("http://exa mple.com/a.ics", ""), ("http://bad_host!.com/a.ics", "主机名"),
                             ("https://user:pw@example.com/a.ics", "用户名"), ("https://e.com/" + "a" * 1000, "1000")):
        response = await add_feed(p.lc, hid, raw)
        assert response.code == 400, raw
        message = field_error(text(response), "feed_url")
        assert message and message_has in message, (raw, message)
    for i in range(3):
        feeds.serve(f"/{i}.ics", Resource(body=ics((day(3 + i * 2), day(4 + i * 2)))))
        assert (await add_feed(p.lc, hid, feeds.url(f"/{i}.ics"))).code == 302
    assert (await add_feed(p.lc, hid, feeds.url("/0.ics"))).code == 409  # the same again
    response = await add_feed(p.lc, hid, feeds.url("/another.ics"))
    assert response.code == 409
    assert "最多" in field_error(text(response), "feed_url")
    assert feeds.url("/another.ics") in text(response)  # the field keeps what was typed
    assert len(await calendar_sync.feeds(app.db, hid)) == 3


@pytest.mark.gen_test(timeout=60)
async def test_only_the_host_manages_feeds(app, feeds, login, new_client):
    p = await make_party(app, login, new_client)
    hid = p.house["id"]
    url = feeds.serve("/h.ics", Resource(body=ics((day(3), day(5)))))
    assert (await add_feed(p.lc, hid, url)).code == 302
    feed = await only_feed(app, hid)
    for client in (p.sc, p.gc):
        assert (await add_feed(client, hid, url + "?x")).code == 404
        for action in ("sync", "delete"):
            assert (await client.post(f"/houses/{hid}/calendar/feeds/{feed['id']}/{action}")).code == 404
        assert (await client.post(f"/houses/{hid}/calendar/export/reset")).code == 404
    anonymous = await p.anon.post(f"/houses/{hid}/calendar/feeds", {"url": url + "?y"})
    assert anonymous.code == 403  # tornado.web.authenticated refuses a POST without a session
    # A feed of another listing is not found through this one.
    other = await make_party(app, login, new_client)
    assert (await other.lc.post(f"/houses/{other.house['id']}/calendar/feeds/{feed['id']}/delete")).code == 404
    assert len(await calendar_sync.feeds(app.db, hid)) == 1 and feeds.hits["/h.ics"] == 1


def syncer(app, redis=None, **kw) -> calendar_sync.CalendarSyncer:
    changed: list[list[int]] = []

    async def on_changed(ids):
        changed.append(ids)
    s = calendar_sync.CalendarSyncer(app.db, redis or app.redis, app.fetch_feed, on_changed, interval=1800, **kw)
    s.changed = changed
    return s


@pytest.mark.gen_test(timeout=60)
async def test_one_run_at_a_time_across_processes(app, feeds, login, new_client):
    p = await make_party(app, login, new_client)
    hid = p.house["id"]
    gate = asyncio.Event()
    slow = Resource(body=ics((day(3), day(5))), gate=gate)
    feeds.serve("/g.ics", slow)
    await calendar_sync.add_feed(app.db, hid, feeds.url("/g.ics"))
    first, second = syncer(app), syncer(app)  # two processes' syncers
    running = asyncio.get_running_loop().create_task(first.run_once())
    await slow.arrived.wait()  # the first run holds the lock and is fetching
    assert await second.run_once() == {"skipped": True}
    gate.set()
    result = await running
    assert result == {"feeds": 1, "ok": 1, "errors": 0, "house_ids": [hid]}
    assert (first.runs_done, second.runs_done) == (1, 0)
    assert feeds.hits["/g.ics"] == 1 and first.changed == [[hid]]
    # The lock is free again; a feed synced moments ago is not due for this interval.
    again = await second.run_once()
    assert again == {"feeds": 0, "ok": 0, "errors": 0, "house_ids": []} and feeds.hits["/g.ics"] == 1


@pytest.mark.gen_test(timeout=60)
async def test_a_redis_or_database_outage_skips_the_run(app, feeds, login, new_client):
    with socket.socket() as s:  # a port nobody listens on: Redis "down"
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = aioredis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        broken = syncer(app, redis=down)
        assert await broken.run_once() is None and broken.runs == 1 and broken.runs_done == 0
    finally:
        await down.aclose()

    class FailingDb:  # MariaDB failing mid-run: every query raises, the run is skipped
        async def query(self, *args, **kwargs):
            raise ConnectionError("MariaDB down")
    failing = syncer(app)
    failing.db = FailingDb()
    assert await failing.run_once() is None and failing.runs == 1
    # … and the lock was released: the next run proceeds.
    assert (await syncer(app).run_once())["feeds"] == 0


@pytest.mark.gen_test(timeout=60)
async def test_the_periodic_task_starts_and_stops_cleanly(app, feeds, login, new_client):
    p = await make_party(app, login, new_client)
    feeds.serve("/t.ics", Resource(body=ics((day(3), day(4)))))
    await calendar_sync.add_feed(app.db, p.house["id"], feeds.url("/t.ics"))
    ticking = calendar_sync.CalendarSyncer(app.db, app.redis, app.fetch_feed, app.cache.invalidate_houses,
                                           interval=0.05, jitter=0.1)
    ticking.start()
    try:
        for _ in range(400):
            if ticking.runs_done:
                break
            await asyncio.sleep(0.05)
    finally:
        await ticking.stop()
    assert ticking.runs_done >= 1 and feeds.hits["/t.ics"] >= 1
    runs = ticking.runs
    await asyncio.sleep(0.2)
    assert ticking.runs == runs  # stopped: no more ticks


def test_the_two_settings():
    from config import ConfigError, load_settings
    settings = load_settings({"IHOME_ENV": "test"})
    assert (settings.ical_sync_minutes, settings.ical_allow_private) == (30.0, False)
    settings = load_settings({"IHOME_ENV": "test", "IHOME_ICAL_SYNC_MINUTES": "5", "IHOME_ICAL_ALLOW_PRIVATE": "1"})
    assert (settings.ical_sync_minutes, settings.ical_allow_private) == (5.0, True)
    for bad in ("0", "abc", "2000"):
        with pytest.raises(ConfigError):
            load_settings({"IHOME_ENV": "test", "IHOME_ICAL_SYNC_MINUTES": bad})
