"""Search with dates (``sd``/``ed``), sort ``booking``, and the cache: every booking,
cancellation, rejection, review and listing edit makes cached searches and listing
pages fresh at once."""

from __future__ import annotations

import re

import pytest

from tests.utils.client import json_body, text
from tests.utils.dates import day, iso
from tests.utils.factories import house_form, make_house, make_user
from tests.utils.pages import field_error, order_id_of

def found(response) -> list[int]:
    """Listing ids on a search results page, in order."""
    assert response.code == 200, text(response)[:1500]
    return [int(i) for i in re.findall(r'class="card house-card[^"]*" data-house-id="(\d+)"', text(response))]


@pytest.fixture
def world(app, login, new_client):
    """``await world()``: two landlords' listings A and B, a guest and the landlord logged in."""
    async def make():
        landlord, guest = await make_user(app), await make_user(app)
        a = await make_house(app, landlord, title="甲房源")
        b = await make_house(app, landlord, title="乙房源")
        lc, gc, anon = new_client(), new_client(), new_client()
        await login(lc, landlord)
        await login(gc, guest)

        async def book(house, sd, ed):
            return order_id_of(await gc.post(f"/houses/{house['id']}/book", {"sd": iso(sd), "ed": iso(ed)}))
        return a, b, lc, gc, anon, book
    return make


async def search_keys(app) -> list[str]:
    return await app.redis.keys("cache:search:*")


@pytest.mark.gen_test
async def test_dates_show_only_listings_free_every_night(app, world):
    a, b, lc, gc, anon, book = await world()
    await book(a, 2, 4)  # A is taken the nights of day 2 and day 3
    cases = {
        (2, 3): [b["id"]],
        (1, 3): [b["id"]],
        (3, 6): [b["id"]],
        (0, 2): [b["id"], a["id"]],  # ends as A's stay begins
        (4, 6): [b["id"], a["id"]],  # begins as A's stay ends
    }
    for (sd, ed), expected in cases.items():
        assert found(await anon.get(f"/houses?sd={iso(sd)}&ed={iso(ed)}")) == expected, (sd, ed)
    assert found(await anon.get("/houses")) == [b["id"], a["id"]]  # no dates: everything


@pytest.mark.gen_test
async def test_dates_respect_min_and_max_days(app, world):
    a, b, lc, gc, anon, book = await world()
    await app.db.execute("UPDATE houses SET min_days = 3 WHERE id = %s", a["id"])
    await app.db.execute("UPDATE houses SET max_days = 2 WHERE id = %s", b["id"])
    assert found(await anon.get(f"/houses?sd={iso(1)}&ed={iso(3)}")) == [b["id"]]
    assert found(await anon.get(f"/houses?sd={iso(1)}&ed={iso(4)}")) == [a["id"]]


@pytest.mark.gen_test
async def test_rejected_and_cancelled_orders_do_not_block_search(app, world):
    a, b, lc, gc, anon, book = await world()
    rejected = await book(a, 1, 3)
    cancelled = await book(b, 1, 3)
    assert (await lc.post(f"/orders/{rejected}/reject", {"reason": "装修"})).code == 302
    assert (await gc.post(f"/orders/{cancelled}/cancel")).code == 302
    assert found(await anon.get(f"/houses?sd={iso(1)}&ed={iso(3)}")) == [b["id"], a["id"]]


@pytest.mark.gen_test
@pytest.mark.parametrize("query,message", [
    ("sd={d2}&ed={d1}", "离开日期须晚于入住日期"),
    ("sd={d1}&ed={d1}", "离开日期须晚于入住日期"),
    ("sd={past}&ed={d1}", "入住日期不能早于今天"),
    ("sd=2030-02-30&ed=2030-03-02", "请输入入住和离开日期（YYYY-MM-DD）"),
    ("sd={d1}", "请输入入住和离开日期（YYYY-MM-DD）"),
    ("ed={d1}", "请输入入住和离开日期（YYYY-MM-DD）"),
    ("sd=%E4%B8%AD&ed=%00", "请输入入住和离开日期（YYYY-MM-DD）"),
])
async def test_invalid_or_reversed_dates_get_a_message(app, world, query, message):
    a, b, lc, gc, anon, book = await world()
    query = query.format(d1=iso(1), d2=iso(2), past=iso(-1))
    page = await anon.get(f"/houses?{query}")
    assert page.code == 400
    assert field_error(text(page), "dates") == message
    api = await anon.get(f"/api/v1/houses?{query}")
    assert api.code == 400 and message in json_body(api)["error"]["message"]


@pytest.mark.gen_test
async def test_api_search_with_dates(app, world):
    a, b, lc, gc, anon, book = await world()
    await book(b, 1, 2)
    result = json_body(await anon.get(f"/api/v1/houses?sd={iso(1)}&ed={iso(2)}"))
    assert result["total"] == 1 and [h["id"] for h in result["houses"]] == [a["id"]]


@pytest.mark.gen_test
async def test_sort_booking_follows_completed_stays(app, world, login, new_client):
    a, b, lc, gc, anon, book = await world()
    c_landlord = await make_user(app)
    c = await make_house(app, c_landlord, title="丙房源")
    cc = new_client()
    await login(cc, c_landlord)
    # Completed stays: A twice, C once; B only has a pending order, which does not count.
    for house, landlord, offset in [(a, lc, 0), (a, lc, 1), (c, cc, 0)]:
        order_id = await book(house, offset, offset + 1)
        assert (await landlord.post(f"/orders/{order_id}/accept")).code == 302
        # The stay is over: the calendar completes it (order_count), and the review window opens.
        await app.db.execute("UPDATE orders SET check_in = %s, check_out = %s WHERE id = %s", day(-3), day(-1), order_id)
        assert (await gc.post(f"/orders/{order_id}/review", {"rating": "5", "comment": "好"})).code == 302
    await book(b, 5, 6)
    counts = {r["id"]: r["order_count"] for r in await app.db.query("SELECT id, order_count FROM houses")}
    assert counts == {a["id"]: 2, b["id"]: 0, c["id"]: 1}
    assert found(await anon.get("/houses?sort=booking")) == [a["id"], c["id"], b["id"]]
    assert found(await anon.get(f"/houses?sort=booking&sd={iso(5)}&ed={iso(6)}")) == [a["id"], c["id"]]


# --------------------------------------------------------------------------- cache freshness


@pytest.mark.gen_test
async def test_search_is_really_served_from_cache(app, world):
    """The baseline for the tests below: a write that does not invalidate stays invisible."""
    a, b, lc, gc, anon, book = await world()
    query = f"/houses?sd={iso(1)}&ed={iso(3)}"
    assert found(await anon.get(query)) == [b["id"], a["id"]]
    assert len(await search_keys(app)) == 1
    # Booked behind the application's back: the cached answer still offers A.
    async with app.db.transaction() as tx:
        order_id = await tx.insert(
            "INSERT INTO orders (guest_id, house_id, check_in, check_out, nights, price_fen, amount_fen) "
            "SELECT id, %s, %s, %s, 2, 100, 200 FROM users LIMIT 1", a["id"], iso(1), iso(3))
        await tx.executemany("INSERT INTO booked_nights (house_id, night, order_id) VALUES (%s, %s, %s)",
                             [(a["id"], iso(1), order_id), (a["id"], iso(2), order_id)])
    assert found(await anon.get(query)) == [b["id"], a["id"]]


@pytest.mark.gen_test
async def test_booking_makes_cached_search_fresh(app, world):
    a, b, lc, gc, anon, book = await world()
    query = f"/houses?sd={iso(1)}&ed={iso(3)}"
    assert found(await anon.get(query)) == [b["id"], a["id"]]
    assert await search_keys(app)
    await book(a, 2, 4)
    assert found(await anon.get(query)) == [b["id"]]
    # The listing page's calendar shows the new nights at once too.
    page = text(await anon.get(f"/houses/{a['id']}"))
    assert f'class="booked" data-date="{iso(2)}"' in page and f'class="booked" data-date="{iso(3)}"' in page


@pytest.mark.gen_test
async def test_cancellation_makes_cached_search_fresh(app, world):
    a, b, lc, gc, anon, book = await world()
    order_id = await book(a, 1, 3)
    query = f"/houses?sd={iso(1)}&ed={iso(3)}"
    assert found(await anon.get(query)) == [b["id"]]
    assert await search_keys(app)
    assert (await gc.post(f"/orders/{order_id}/cancel")).code == 302
    assert found(await anon.get(query)) == [b["id"], a["id"]]
    assert 'class="booked"' not in text(await anon.get(f"/houses/{a['id']}"))


@pytest.mark.gen_test
async def test_rejection_makes_cached_search_fresh(app, world):
    a, b, lc, gc, anon, book = await world()
    order_id = await book(a, 1, 3)
    query = f"/houses?sd={iso(1)}&ed={iso(3)}"
    assert found(await anon.get(query)) == [b["id"]]
    assert await search_keys(app)
    assert (await lc.post(f"/orders/{order_id}/reject", {"reason": "不接待"})).code == 302
    assert found(await anon.get(query)) == [b["id"], a["id"]]


@pytest.mark.gen_test
async def test_review_makes_cached_search_and_listing_fresh(app, world):
    a, b, lc, gc, anon, book = await world()
    order_id = await book(a, 0, 1)
    assert (await lc.post(f"/orders/{order_id}/accept")).code == 302
    assert found(await anon.get("/houses?sort=booking")) == [b["id"], a["id"]]  # tie: newest id first
    listing = text(await anon.get(f"/houses/{a['id']}"))
    assert 'id="no-reviews"' in listing
    assert await search_keys(app) and await app.redis.exists(f"cache:house:{a['id']}")
    await app.db.execute("UPDATE orders SET check_in = %s, check_out = %s WHERE id = %s", day(-3), day(-1), order_id)
    assert (await gc.post(f"/orders/{order_id}/review", {"rating": "5", "comment": "住得很舒服"})).code == 302
    assert found(await anon.get("/houses?sort=booking")) == [a["id"], b["id"]]
    page = await anon.get("/houses?sort=booking")
    assert "1 次入住" in text(page)
    listing = text(await anon.get(f"/houses/{a['id']}"))
    assert "住得很舒服" in listing and '<span id="rating-average">5.0</span>' in listing


@pytest.mark.gen_test
async def test_listing_edit_makes_cached_search_fresh(app, world):
    a, b, lc, gc, anon, book = await world()
    query = f"/houses?sd={iso(1)}&ed={iso(3)}&price_max=300"
    assert found(await anon.get(query)) == [b["id"], a["id"]]
    assert await search_keys(app)
    # Same title and description, so the listing stays online; only the price moves.
    edited = await lc.post(f"/houses/{a['id']}/edit",
                           house_form(title="甲房源", description="安静整洁", price="388"))
    assert edited.code == 302
    assert found(await anon.get(query)) == [b["id"]]
    assert 'data-price-fen="38800"' in text(await anon.get(f"/houses/{a['id']}"))
