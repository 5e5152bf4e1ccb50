"""Hosts block nights on their calendar (POST /houses/<id>/calendar/block and /unblock).

A block's nights are booked_nights rows (block_id set), so the same primary key that
refuses a double booking refuses a block and a booking on the same night. Real HTTP
server, real MariaDB, real Redis.
"""

from __future__ import annotations

import asyncio
import collections

import pytest
from tornado.httpclient import AsyncHTTPClient

from tests.utils.client import Client, logged_in, text
from tests.utils.dates import day, iso
from tests.utils.factories import make_house, make_user
from tests.utils.pages import field_error


@pytest.fixture
def host(app, client, login, io_loop):
    """(client, user): a logged-in, verified landlord."""
    return io_loop.run_sync(lambda: logged_in(client, app, login))


async def blocks_of(app, house_id: int) -> list[tuple[str, str]]:
    rows = await app.db.query("SELECT check_in, check_out FROM house_blocks WHERE house_id = %s ORDER BY check_in",
                              house_id)
    return [(r["check_in"].isoformat(), r["check_out"].isoformat()) for r in rows]


async def blocked_nights(app, house_id: int) -> list[str]:
    rows = await app.db.query("SELECT night FROM booked_nights WHERE house_id = %s AND block_id IS NOT NULL "
                              "ORDER BY night", house_id)
    return [r["night"].isoformat() for r in rows]


async def block(client, house_id: int, sd: str, ed: str, action: str = "block"):
    return await client.post(f"/houses/{house_id}/calendar/{action}", {"sd": sd, "ed": ed})


@pytest.mark.gen_test(timeout=30)
async def test_blocked_nights_leave_search_and_refuse_bookings(app, host, new_client, login):
    client, owner = host
    house = await make_house(app, owner, title="可关闭的房源")
    visitor = new_client()
    dated = f"/houses?sd={iso(10)}&ed={iso(12)}"
    assert "可关闭的房源" in text(await visitor.get(dated))  # cached now

    response = await block(client, house["id"], iso(10), iso(13))
    assert response.code == 302 and response.headers["Location"].endswith("/edit#calendar")
    assert await blocks_of(app, house["id"]) == [(iso(10), iso(13))]
    assert await blocked_nights(app, house["id"]) == [iso(10), iso(11), iso(12)]
    # Search's anti-join leaves it out for those dates, keeps it for others.
    assert "可关闭的房源" not in text(await visitor.get(dated))
    assert "可关闭的房源" in text(await visitor.get(f"/houses?sd={iso(13)}&ed={iso(14)}"))
    # The booking is refused (4xx), and writes nothing.
    guest, _ = await logged_in(new_client(), app, login)
    refused = await guest.post(f"/houses/{house['id']}/book", {"sd": iso(12), "ed": iso(14)})
    assert 400 <= refused.code < 500
    assert await app.db.scalar("SELECT COUNT(*) FROM orders") == 0
    assert (await guest.post(f"/houses/{house['id']}/book", {"sd": iso(13), "ed": iso(14)})).code == 302
    # The edit page lists the block and marks its nights on the calendar.
    page = text(await client.get(f"/houses/{house['id']}/edit"))
    assert f'data-sd="{iso(10)}"' in page and f'class="blocked" data-date="{iso(11)}"' in page


@pytest.mark.gen_test(timeout=30)
async def test_a_block_over_booked_nights_is_refused_naming_them(app, host, new_client, login):
    client, owner = host
    house = await make_house(app, owner)
    guest, _ = await logged_in(new_client(), app, login)
    assert (await guest.post(f"/houses/{house['id']}/book", {"sd": iso(5), "ed": iso(7)})).code == 302
    response = await block(client, house["id"], iso(3), iso(9))
    assert response.code == 409
    message = field_error(text(response), "sd")
    assert message and iso(5) in message and iso(6) in message and iso(7) not in message
    assert await blocks_of(app, house["id"]) == []
    # The form keeps what was typed.
    assert f'value="{iso(3)}"' in text(response)


@pytest.mark.gen_test(timeout=30)
async def test_bad_ranges_are_400_next_to_the_field(app, host):
    client, owner = host
    house = await make_house(app, owner)
    cases = [
        ((iso(-1), iso(2)), "sd"),       # starts in the past
        ((iso(5), iso(5)), "ed"),        # no night
        ((iso(5), iso(3)), "ed"),        # backwards
        ((iso(1), iso(400)), "ed"),      # more than 365 nights
        ((iso(800), iso(801)), "ed"),    # too far ahead
        (("2030-02-30", iso(3)), "sd"),  # not a date
        (("", iso(3)), "sd"),            # missing
    ]
    for (sd, ed), field in cases:
        response = await block(client, house["id"], sd, ed)
        assert response.code == 400, (sd, ed)
        assert field_error(text(response), field), (sd, ed, field)
    assert await blocks_of(app, house["id"]) == []


@pytest.mark.gen_test(timeout=30)
async def test_blocks_merge_and_unblock_splits(app, host):
    client, owner = host
    house = await make_house(app, owner)
    assert (await block(client, house["id"], iso(2), iso(5))).code == 302
    assert (await block(client, house["id"], iso(5), iso(7))).code == 302   # touching: merged
    assert (await block(client, house["id"], iso(3), iso(4))).code == 302   # inside: merged
    assert await blocks_of(app, house["id"]) == [(iso(2), iso(7))]
    # Unblocking the middle splits the block; its nights are free again.
    assert (await block(client, house["id"], iso(4), iso(5), "unblock")).code == 302
    assert await blocks_of(app, house["id"]) == [(iso(2), iso(4)), (iso(5), iso(7))]
    assert await blocked_nights(app, house["id"]) == [iso(2), iso(3), iso(5), iso(6)]
    # Unblocking a range that covers one block and part of the other.
    assert (await block(client, house["id"], iso(1), iso(6), "unblock")).code == 302
    assert await blocks_of(app, house["id"]) == [(iso(6), iso(7))]
    # Nothing blocked there: still a redirect, nothing changes.
    assert (await block(client, house["id"], iso(20), iso(22), "unblock")).code == 302
    assert await blocked_nights(app, house["id"]) == [iso(6)]
    # The list's own "reopen" form removes the whole block.
    assert (await block(client, house["id"], iso(6), iso(7), "unblock")).code == 302
    assert await blocks_of(app, house["id"]) == [] and await blocked_nights(app, house["id"]) == []


@pytest.mark.gen_test(timeout=30)
async def test_only_the_owner_blocks(app, host, new_client, login):
    client, owner = host
    house = await make_house(app, owner)
    stranger, _ = await logged_in(new_client(), app, login)
    for action in ("block", "unblock"):
        assert (await block(stranger, house["id"], iso(2), iso(3), action)).code == 403
        assert (await new_client().post(f"/houses/{house['id']}/calendar/{action}",
                                        {"sd": iso(2), "ed": iso(3)})).code == 403
        assert (await block(client, 999999, iso(2), iso(3), action)).code == 404
    assert await blocks_of(app, house["id"]) == []
    # Without the XSRF token nothing happens either.
    no_token = await client.post(f"/houses/{house['id']}/calendar/block", {"sd": iso(2), "ed": iso(3)}, xsrf=False)
    assert no_token.code == 403 and await blocks_of(app, house["id"]) == []


@pytest.mark.gen_test(timeout=30)
async def test_order_deletes_never_touch_block_rows(app, host, new_client, login):
    """Cancelling an order deletes its own nights (by order_id), never the host's blocked ones."""
    client, owner = host
    house = await make_house(app, owner)
    assert (await block(client, house["id"], iso(8), iso(10))).code == 302
    guest, _ = await logged_in(new_client(), app, login)
    booked = await guest.post(f"/houses/{house['id']}/book", {"sd": iso(6), "ed": iso(8)})
    order_id = int(booked.headers["Location"].rsplit("/", 1)[1])
    assert (await guest.post(f"/orders/{order_id}/cancel", {})).code == 302
    assert await app.db.scalar("SELECT COUNT(*) FROM booked_nights WHERE order_id IS NOT NULL") == 0
    assert await blocked_nights(app, house["id"]) == [iso(8), iso(9)]


@pytest.mark.gen_test(timeout=30)
async def test_nights_of_an_expired_request_can_be_blocked(app, host, new_client):
    """A request nobody answered before check-in has expired: its nights are free to block."""
    client, owner = host
    house = await make_house(app, owner)
    guest = await make_user(app)
    order_id = await app.db.insert(
        "INSERT INTO orders (guest_id, house_id, check_in, check_out, nights, price_fen, amount_fen) "
        "VALUES (%s, %s, %s, %s, 4, 100, 400)", guest["id"], house["id"], day(-1), day(3))
    await app.db.executemany("INSERT INTO booked_nights (house_id, night, order_id) VALUES (%s, %s, %s)",
                             [(house["id"], day(i), order_id) for i in range(-1, 3)])
    assert (await block(client, house["id"], iso(0), iso(2))).code == 302
    assert await app.db.scalar("SELECT status FROM orders WHERE id = %s", order_id) == "expired"
    assert await blocked_nights(app, house["id"]) == [iso(0), iso(1)]


@pytest.fixture
def race_http(io_loop, http_server):
    client = AsyncHTTPClient(force_instance=True, max_clients=20)
    yield client
    client.close()


@pytest.mark.gen_test(timeout=90)
async def test_a_block_and_a_racing_booking_exactly_one_wins(app, login, race_http, base_url):
    """The host blocks and a guest books the same night at the same moment, many times over:
    each time exactly one of them holds the night, never both, never a 500."""
    owner = await make_user(app)
    host_client = Client(race_http, base_url)
    await login(host_client, owner)
    await host_client.xsrf_token()
    guest_client = Client(race_http, base_url)
    await login(guest_client, await make_user(app))
    await guest_client.xsrf_token()
    outcomes = collections.Counter()
    for round_ in range(8):
        house = await make_house(app, owner, title=f"竞争房源{round_}")
        night = iso(3 + round_)
        next_night = day(4 + round_).isoformat()
        blocked, booked = await asyncio.gather(
            host_client.post(f"/houses/{house['id']}/calendar/block", {"sd": night, "ed": next_night}),
            guest_client.post(f"/houses/{house['id']}/book", {"sd": night, "ed": next_night}))
        codes = (blocked.code, booked.code)
        assert 500 not in codes, codes
        holders = await app.db.query("SELECT order_id, block_id FROM booked_nights WHERE house_id = %s", house["id"])
        assert len(holders) == 1, (codes, holders)  # exactly one holds the night
        if holders[0]["block_id"] is not None:
            assert blocked.code == 302 and 400 <= booked.code < 500, codes
            assert await app.db.scalar("SELECT COUNT(*) FROM orders WHERE house_id = %s", house["id"]) == 0
            outcomes["block"] += 1
        else:
            assert booked.code == 302 and blocked.code == 409, codes
            assert await blocks_of(app, house["id"]) == []
            outcomes["booking"] += 1
    assert sum(outcomes.values()) == 8
