"""Races over the real HTTP server and the real MariaDB: never a double booking, never a 500.

The shared AsyncHTTPClient of pytest-tornado sends at most 10 requests at a time,
so these tests use their own client with room for every request at once.
"""

from __future__ import annotations

import asyncio
import collections

import pytest
from tornado.httpclient import AsyncHTTPClient

from tests.utils.client import Client, text
from tests.utils.dates import iso
from tests.utils.factories import make_house, make_user
from tests.utils.pages import order_id_of

GUESTS = 20
@pytest.fixture
def race_http(io_loop, http_server):
    client = AsyncHTTPClient(force_instance=True, max_clients=GUESTS * 2)
    yield client
    client.close()


async def browsers(app, login, race_http, base_url, count: int) -> list[Client]:
    clients = []
    for _ in range(count):
        client = Client(race_http, base_url)
        await login(client, await make_user(app))
        await client.xsrf_token()  # fetched now so the race is only the bookings
        clients.append(client)
    return clients


@pytest.mark.gen_test(timeout=60)
async def test_twenty_guests_overlapping_exactly_one_order(app, login, race_http, base_url):
    landlord = await make_user(app)
    house = await make_house(app, landlord, price_fen=30000)
    guests = await browsers(app, login, race_http, base_url, GUESTS)
    # Ranges [1+k, 4+k) for k in 0..2: every pair overlaps, so at most one can win.
    ranges = [(1 + i % 3, 4 + i % 3) for i in range(GUESTS)]
    responses = await asyncio.gather(*[
        guest.post(f"/houses/{house['id']}/book", {"sd": iso(sd), "ed": iso(ed)})
        for guest, (sd, ed) in zip(guests, ranges)])

    codes = collections.Counter(r.code for r in responses)
    assert codes == {302: 1, 409: GUESTS - 1}, codes
    # Queued on the listing lock, every loser is told the dates are taken (not "try again").
    assert all("所选日期已被预订" in text(r) for r in responses if r.code == 409)
    orders = await app.db.query("SELECT * FROM orders")
    assert len(orders) == 1
    order = orders[0]
    winner = next(i for i, r in enumerate(responses) if r.code == 302)
    assert responses[winner].headers["Location"] == f"/orders/{order['id']}"
    sd, ed = ranges[winner]
    assert (order["check_in"].isoformat(), order["check_out"].isoformat()) == (iso(sd), iso(ed))
    nights = await app.db.query("SELECT night, order_id FROM booked_nights WHERE house_id = %s ORDER BY night",
                                house["id"])
    assert [n["night"].isoformat() for n in nights] == [iso(d) for d in range(sd, ed)]
    assert {n["order_id"] for n in nights} == {order["id"]}


@pytest.mark.gen_test(timeout=60)
async def test_twenty_guests_disjoint_ranges_all_succeed(app, login, race_http, base_url):
    """The listing lock queues bookings; it must not refuse stays that do not overlap."""
    landlord = await make_user(app)
    house = await make_house(app, landlord)
    guests = await browsers(app, login, race_http, base_url, GUESTS)
    responses = await asyncio.gather(*[
        guest.post(f"/houses/{house['id']}/book", {"sd": iso(1 + 2 * i), "ed": iso(3 + 2 * i)})
        for i, guest in enumerate(guests)])
    assert [r.code for r in responses] == [302] * GUESTS
    assert await app.db.scalar("SELECT COUNT(*) FROM orders") == GUESTS
    assert await app.db.scalar("SELECT COUNT(*) FROM booked_nights WHERE house_id = %s", house["id"]) == 2 * GUESTS


@pytest.mark.gen_test(timeout=60)
async def test_cancel_racing_bookings_never_double_books(app, login, race_http, base_url):
    """A guest cancels while others try the same nights: whoever books after the
    cancellation may win, but never two orders hold the same night."""
    landlord = await make_user(app)
    house = await make_house(app, landlord)
    first, *others = await browsers(app, login, race_http, base_url, 11)
    booked = await first.post(f"/houses/{house['id']}/book", {"sd": iso(1), "ed": iso(3)})
    order_id = order_id_of(booked)
    responses = await asyncio.gather(
        first.post(f"/orders/{order_id}/cancel"),
        *[guest.post(f"/houses/{house['id']}/book", {"sd": iso(1), "ed": iso(3)}) for guest in others])
    assert responses[0].code == 302
    codes = collections.Counter(r.code for r in responses[1:])
    assert set(codes) <= {302, 409} and codes[302] <= 1, codes
    holding = await app.db.query("SELECT id FROM orders WHERE status = 'pending'")
    assert len(holding) == codes[302]
    nights = await app.db.query("SELECT order_id FROM booked_nights WHERE house_id = %s", house["id"])
    assert {n["order_id"] for n in nights} == {h["id"] for h in holding}
    assert len(nights) == 2 * len(holding)


@pytest.mark.gen_test(timeout=60)
async def test_double_review_counts_the_stay_once(app, login, race_http, base_url):
    landlord = await make_user(app)
    house = await make_house(app, landlord)
    (guest,) = await browsers(app, login, race_http, base_url, 1)
    landlord_browser = Client(race_http, base_url)
    await login(landlord_browser, landlord)
    booked = await guest.post(f"/houses/{house['id']}/book", {"sd": iso(0), "ed": iso(1)})
    order_id = order_id_of(booked)
    assert (await landlord_browser.post(f"/orders/{order_id}/accept")).code == 302
    # The stay is over (reviews open at check-out): moved into the past through the database.
    await app.db.execute("UPDATE orders SET check_in = check_in - INTERVAL 3 DAY, "
                         "check_out = check_out - INTERVAL 3 DAY WHERE id = %s", order_id)
    responses = await asyncio.gather(*[
        guest.post(f"/orders/{order_id}/review", {"rating": str(1 + i % 5), "comment": f"第 {i} 次"})
        for i in range(5)])
    assert sorted(r.code for r in responses) == [302, 409, 409, 409, 409]
    assert await app.db.scalar("SELECT COUNT(*) FROM reviews") == 1
    assert await app.db.scalar("SELECT order_count FROM houses WHERE id = %s", house["id"]) == 1
