"""Ratings on houses (rating_count, rating_sum, rating_avg): kept by the review's transaction,
shown on cards and the listing header (★ 4.3 · 3 条评价), and the rating sort."""

from __future__ import annotations

import datetime
import re

import pytest

from models import ratings
from tests.utils.client import text
from tests.utils.factories import make_house, make_user


async def reviewed(app, house: dict, *scores: int) -> None:
    """Reviews of *house* with *scores*, each on its own finished stay, written as
    models/orders.py review writes them (the review row and ratings.add in one transaction)."""
    guest = await make_user(app)
    check_in = datetime.date.today() - datetime.timedelta(days=30)
    for n, score in enumerate(scores):
        async with app.db.transaction() as tx:
            day = check_in + datetime.timedelta(days=2 * n)
            order_id = await tx.insert(
                "INSERT INTO orders (guest_id, house_id, check_in, check_out, nights, price_fen, amount_fen, status) "
                "VALUES (%s, %s, %s, %s, 1, %s, %s, 'completed')",
                guest["id"], house["id"], day, day + datetime.timedelta(days=1), house["price_fen"],
                house["price_fen"])
            await tx.insert("INSERT INTO reviews (order_id, house_id, author_id, rating, comment) "
                            "VALUES (%s, %s, %s, %s, %s)", order_id, house["id"], guest["id"], score, "好")
            await ratings.add(tx, house["id"], score)


async def columns(app, house_id: int) -> tuple:
    row = await app.db.queryone("SELECT rating_count, rating_sum, rating_avg FROM houses WHERE id = %s", house_id)
    return row["rating_count"], row["rating_sum"], float(row["rating_avg"])


@pytest.mark.gen_test
async def test_add_keeps_count_sum_and_average(app):
    owner = await make_user(app)
    house = await make_house(app, owner)
    assert await columns(app, house["id"]) == (0, 0, 0.0)
    await reviewed(app, house, 5, 4, 4)
    assert await columns(app, house["id"]) == (3, 13, 4.33)
    # The backfill's rule (migration 0041, ratings.recount) gives the same columns.
    await app.db.execute("UPDATE houses SET rating_count = 0, rating_sum = 0, rating_avg = 0 WHERE id = %s",
                         house["id"])
    await ratings.recount(app.db, house["id"])
    assert await columns(app, house["id"]) == (3, 13, 4.33)
    assert ratings.average({"rating_count": 3, "rating_sum": 13}) == 4.3
    assert ratings.average({"rating_count": 4, "rating_sum": 17}) == 4.3  # 4.25: half rounds up, not to even
    assert ratings.average({"rating_count": 0, "rating_sum": 0}) is None


@pytest.mark.gen_test
@pytest.mark.parametrize("score", [0, 6, -1])
async def test_add_refuses_a_rating_outside_1_to_5(app, score):
    owner = await make_user(app)
    house = await make_house(app, owner)
    with pytest.raises(ValueError):
        async with app.db.transaction() as tx:
            await ratings.add(tx, house["id"], score)
    assert await columns(app, house["id"]) == (0, 0, 0.0)


@pytest.mark.gen_test
async def test_cards_and_the_listing_header_show_average_and_count(app, client):
    owner = await make_user(app)
    rated = await make_house(app, owner, title="有评价")
    unrated = await make_house(app, owner, title="没评价")
    await reviewed(app, rated, 5, 4, 4)
    body = text(await client.get("/houses"))
    cards = dict(re.findall(r'data-house-id="(\d+)".*?class="small card-rating">(.*?)</div>', body, re.S))
    assert re.sub(r"<[^>]+>", "", cards[str(rated["id"])]).strip() == "★ 4.3 · 3 条评价"
    assert "暂无评价" in cards[str(unrated["id"])]
    listing = text(await client.get(f"/houses/{rated['id']}"))
    header = re.search(r'class="mb-1 listing-rating">(.*?)</p>', listing, re.S)
    assert header and re.sub(r"<[^>]+>", "", header.group(1)).strip() == "★ 4.3 · 3 条评价"


@pytest.mark.gen_test
async def test_sort_by_rating(app, client):
    owner = await make_user(app)
    none = await make_house(app, owner, title="无评价")
    few = await make_house(app, owner, title="两条4.5")
    many = await make_house(app, owner, title="四条4.5")
    best = await make_house(app, owner, title="一条5分")
    await reviewed(app, few, 5, 4)
    await reviewed(app, many, 5, 4, 5, 4)
    await reviewed(app, best, 5)
    body = text(await client.get("/houses?sort=rating"))
    order = [int(i) for i in re.findall(r'data-house-id="(\d+)"', body)]
    assert order == [best["id"], many["id"], few["id"], none["id"]]
    assert re.search(r'<option value="rating" selected>', body)


@pytest.mark.gen_test
async def test_a_review_through_the_order_page_updates_cards_and_cached_search(app, client, login, new_client):
    owner, guest = await make_user(app), await make_user(app)
    house = await make_house(app, owner)
    check_out = datetime.date.today() - datetime.timedelta(days=1)
    order_id = await app.db.insert(
        "INSERT INTO orders (guest_id, house_id, check_in, check_out, nights, price_fen, amount_fen, status) "
        "VALUES (%s, %s, %s, %s, 2, %s, %s, 'accepted')", guest["id"], house["id"],
        check_out - datetime.timedelta(days=2), check_out, house["price_fen"], 2 * house["price_fen"])
    assert "暂无评价" in text(await client.get("/houses?sort=rating"))  # now cached
    gc = new_client()
    await login(gc, guest)
    response = await gc.post(f"/orders/{order_id}/review", {"rating": "4", "comment": "很干净"})
    assert response.code == 302, text(response)[:500]
    assert await columns(app, house["id"]) == (1, 4, 4.0)
    assert "★</span> 4.0 · 1 条评价" in text(await client.get("/houses?sort=rating"))
