"""房东主页 GET /users/<id>: who the host is, their public listings, reviews with the average,
the 24-hour response rate, privacy, 404s, caching, and the links from listing pages."""

from __future__ import annotations

import datetime

import pytest

from models import hosts
from tests.utils.client import logged_in, text
from tests.utils.factories import REAL_NAME, VALID_ID_CARD, make_house, make_user


async def add_review(app, house: dict, guest: dict, rating: int, comment: str) -> None:
    """A completed order of *house* by *guest* and its review, with the listing's rating columns."""
    order_id = await app.db.insert(
        "INSERT INTO orders (guest_id, house_id, check_in, check_out, nights, price_fen, amount_fen, status) "
        "VALUES (%s, %s, CURDATE() - INTERVAL 5 DAY, CURDATE() - INTERVAL 3 DAY, 2, 100, 200, 'completed')",
        guest["id"], house["id"])
    await app.db.execute("INSERT INTO reviews (order_id, house_id, author_id, rating, comment) "
                         "VALUES (%s, %s, %s, %s, %s)", order_id, house["id"], guest["id"], rating, comment)
    await app.db.execute("UPDATE houses SET rating_count = rating_count + 1, rating_sum = rating_sum + %s "
                         "WHERE id = %s", rating, house["id"])


@pytest.mark.gen_test
async def test_host_page_shows_the_public_profile_and_nothing_private(app, client):
    host = await make_user(app, name="西湖房东", mobile="13912345678")
    guest = await make_user(app, name="小王")
    online = await make_house(app, host, title="湖景公寓", address="西湖区秘密路 7 号")
    offline = await make_house(app, host, title="下线的房子", status="offline")
    await add_review(app, online, guest, 5, "非常干净")
    await add_review(app, offline, guest, 4, "还不错")
    response = await client.get(f"/users/{host['id']}")
    assert response.code == 200
    page = text(response)
    assert "西湖房东" in page and 'id="verified-badge"' in page and "实名认证" in page
    since = host["created_at"]
    assert f"{since.year} 年 {since.month} 月加入爱家" in page
    assert "湖景公寓" in page and f'data-house-id="{online["id"]}"' in page
    assert f'data-house-id="{offline["id"]}"' not in page  # no card for a listing that is not public
    assert "非常干净" in page and "还不错" in page and "4.5" in page and "2 条评价" in page
    for secret in ("13912345678", VALID_ID_CARD, REAL_NAME, "秘密路"):
        assert secret not in page, secret


@pytest.mark.gen_test
async def test_unknown_and_disabled_users_are_404_and_a_guest_has_a_page(app, client):
    disabled = await make_user(app, active=False)
    plain = await make_user(app, name="只住不租", verified=False)
    assert (await client.get("/users/999999")).code == 404
    assert (await client.get(f"/users/{disabled['id']}")).code == 404
    page = await client.get(f"/users/{plain['id']}")
    assert page.code == 200
    body = text(page)
    assert "只住不租" in body and 'id="no-listings"' in body and 'id="verified-badge"' not in body
    assert "暂无回复率" in body


@pytest.mark.gen_test
async def test_a_default_name_that_is_a_mobile_number_is_masked(app, client):
    host = await make_user(app, name="13800001111")
    page = text(await client.get(f"/users/{host['id']}"))
    assert "138****1111" in page and "13800001111" not in page


async def conversation(app, house: dict, guest: dict, host: dict, messages: list[tuple[str, datetime.datetime]]):
    """A conversation of *guest* about *house* with *messages* [(who: guest|host|system, when)]."""
    cid = await app.db.insert("INSERT INTO conversations (house_id, guest_id, host_id) VALUES (%s, %s, %s)",
                              house["id"], guest["id"], host["id"])
    for who, when in messages:
        sender = {"guest": guest["id"], "host": host["id"], "system": None}[who]
        await app.db.insert(
            "INSERT INTO messages (conversation_id, sender_id, actor_id, kind, body, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)", cid, sender, host["id"] if who == "system" else None,
            "system" if who == "system" else "text", "{}" if who == "system" else "你好", when)
    return cid


@pytest.mark.gen_test
async def test_response_rate_counts_first_questions_answered_within_24_hours(app, client):
    host = await make_user(app)
    house = await make_house(app, host)
    now = datetime.datetime.now().replace(microsecond=0)
    hours = lambda n: datetime.timedelta(hours=n)  # noqa: E731
    guests = [await make_user(app) for _ in range(5)]
    # answered in 2 h (a system message from the host's side before it does not count as a reply)
    await conversation(app, house, guests[0], host, [("guest", now - hours(72)), ("system", now - hours(71)),
                                                     ("host", now - hours(70))])
    # answered after 30 h: counted, not within 24 h
    await conversation(app, house, guests[1], host, [("guest", now - hours(48)), ("host", now - hours(18))])
    # unanswered for 3 days: counted, not answered
    await conversation(app, house, guests[2], host, [("guest", now - hours(72))])
    # asked an hour ago: still undecided, not counted
    await conversation(app, house, guests[3], host, [("guest", now - hours(1))])
    # the host wrote first and the guest never did: no question, not counted
    await conversation(app, house, guests[4], host, [("host", now - hours(50))])
    rate = await hosts.response_rate(app.db, host["id"], now)
    assert rate == {"counted": 3, "answered": 1, "percent": 33}
    page = text(await client.get(f"/users/{host['id']}"))
    assert "24 小时回复率 <strong>33%</strong>" in page
    # Every message read goes through the conversation's index, never the host's whole history.
    plan = await app.db.query("EXPLAIN " + hosts.RATE_SQL, host["id"], hosts.RATE_CONVERSATIONS)
    reads = {(row["table"], row["key"]) for row in plan if row["select_type"] == "DEPENDENT SUBQUERY"}
    assert reads == {("f", "ix_messages_conversation"), ("r", "ix_messages_conversation")}, plan


@pytest.mark.gen_test
async def test_page_is_cached_and_follows_listing_writes(app, client, new_client, login):
    host = await make_user(app)
    house = await make_house(app, host, title="第一套")
    assert "第一套" in text(await client.get(f"/users/{host['id']}"))
    hits = app.cache.page_hits
    assert "第一套" in text(await new_client().get(f"/users/{host['id']}"))
    assert app.cache.page_hits == hits + 1  # the second visitor got the cached page
    # A member sees the same page with their own header.
    member, _ = await logged_in(new_client(), app, login, name="访客甲")
    assert "访客甲" in text(await member.get(f"/users/{host['id']}"))
    # The listing goes offline: the page follows at once.
    await app.db.execute("UPDATE houses SET status = 'offline' WHERE id = %s", house["id"])
    await app.cache.invalidate_house(house["id"])  # what every listing write does after its commit
    assert "第一套" not in text(await new_client().get(f"/users/{host['id']}"))


@pytest.mark.gen_test
async def test_listing_page_and_its_reviews_link_to_the_host(app, client):
    host = await make_user(app, name="链接房东")
    house = await make_house(app, host)
    page = text(await client.get(f"/houses/{house['id']}"))
    assert f'href="/users/{host["id"]}"' in page and f'href="/users/{host["id"]}#reviews"' in page
