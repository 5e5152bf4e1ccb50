"""Messaging pages and model: 联系房东, the inbox, a thread, the form without JavaScript,
unread counts, strangers, escaping, and the system messages of order events."""

from __future__ import annotations

import datetime
import json
import re

import pytest

from models import messages
from models import orders as orders_model
from tests.utils.client import logged_in, text
from tests.utils.factories import make_house, make_user


@pytest.fixture
def people(app, io_loop, new_client, login):
    """guest and host (clients and users) and the host's online listing."""
    async def build():
        guest_client, guest = await logged_in(new_client(), app, login)
        host_client, host = await logged_in(new_client(), app, login, name="房东老王")
        house = await make_house(app, host, title="西湖边小院")
        return {"guest_client": guest_client, "guest": guest, "host_client": host_client, "host": host,
                "house": house}
    return io_loop.run_sync(build)


async def contact(client, house_id: int) -> int:
    response = await client.post(f"/houses/{house_id}/contact")
    assert response.code == 302, text(response)
    match = re.fullmatch(r"/messages/(\d+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


@pytest.mark.gen_test
async def test_listing_page_offers_contact_and_opens_one_conversation(app, client, people):
    house_id = people["house"]["id"]
    anonymous = await client.get(f"/houses/{house_id}")
    assert f'href="/login?next=/houses/{house_id}"' in text(anonymous) and "联系房东" in text(anonymous)
    page = await people["guest_client"].get(f"/houses/{house_id}")
    assert f'action="/houses/{house_id}/contact"' in text(page)
    own = await people["host_client"].get(f"/houses/{house_id}")
    assert f'action="/houses/{house_id}/contact"' not in text(own)
    first = await contact(people["guest_client"], house_id)
    assert await contact(people["guest_client"], house_id) == first
    row = await app.db.queryone("SELECT * FROM conversations WHERE id = %s", first)
    assert (row["house_id"], row["guest_id"], row["host_id"]) == (house_id, people["guest"]["id"],
                                                                  people["host"]["id"])


@pytest.mark.gen_test
async def test_contact_refusals(app, client, people):
    house_id = people["house"]["id"]
    await client.get("/login")
    anonymous = await client.post(f"/houses/{house_id}/contact")
    assert anonymous.code == 302 and anonymous.headers["Location"] == f"/login?next=/houses/{house_id}"
    assert (await people["host_client"].post(f"/houses/{house_id}/contact")).code == 403
    assert (await people["guest_client"].post("/houses/999999/contact")).code == 404
    offline = await make_house(app, people["host"], status="offline")
    assert (await people["guest_client"].post(f"/houses/{offline['id']}/contact")).code == 404
    assert await app.db.scalar("SELECT COUNT(*) FROM conversations") == 0


@pytest.mark.gen_test
async def test_form_post_thread_inbox_and_unread_without_javascript(app, people):
    guest_client, host_client = people["guest_client"], people["host_client"]
    conversation_id = await contact(guest_client, people["house"]["id"])
    sent = await guest_client.post(f"/messages/{conversation_id}", {"body": "  有停车位吗？<script>x</script>  "})
    assert sent.code == 302 and sent.headers["Location"].startswith(f"/messages/{conversation_id}#m")
    stored = await app.db.queryone("SELECT * FROM messages")
    assert stored["body"] == "有停车位吗？<script>x</script>" and stored["sender_id"] == people["guest"]["id"]
    assert await messages.unread_total(app.db, people["host"]["id"]) == 1
    assert await messages.unread_total(app.db, people["guest"]["id"]) == 0
    inbox = text(await host_client.get("/messages"))
    assert "西湖边小院" in inbox and "有停车位吗？&lt;script&gt;" in inbox and "<script>x" not in inbox
    assert 'data-count="1"' in inbox
    thread = await host_client.get(f"/messages/{conversation_id}")
    assert thread.code == 200
    body = text(thread)
    assert "有停车位吗？&lt;script&gt;x&lt;/script&gt;" in body and "<script>x" not in body
    assert 'id="message-form"' in body and 'name="_xsrf"' in body and "西湖边小院" in body
    # Opening the thread read it.
    assert await messages.unread_total(app.db, people["host"]["id"]) == 0
    assert 'data-count="0"' in text(await host_client.get("/messages"))
    reply = await host_client.post(f"/messages/{conversation_id}", {"body": "有的，免费"})
    assert reply.code == 302
    assert await messages.unread_total(app.db, people["guest"]["id"]) == 1
    guest_inbox = text(await guest_client.get("/messages"))
    assert "房东老王" in guest_inbox and "有的，免费" in guest_inbox


@pytest.mark.gen_test
async def test_bad_bodies_are_refused_next_to_the_field(app, people):
    conversation_id = await contact(people["guest_client"], people["house"]["id"])
    empty = await people["guest_client"].post(f"/messages/{conversation_id}", {"body": "   "})
    assert empty.code == 400 and "消息不能为空" in text(empty)
    long = await people["guest_client"].post(f"/messages/{conversation_id}", {"body": "字" * 2001})
    assert long.code == 400 and "最多 2000 个字" in text(long) and "字" * 2001 in text(long)
    assert await app.db.scalar("SELECT COUNT(*) FROM messages") == 0


@pytest.mark.gen_test
async def test_strangers_and_admins_get_404_everywhere(app, people, new_client, login):
    conversation_id = await contact(people["guest_client"], people["house"]["id"])
    await messages.send(app.db, conversation_id, people["guest"]["id"], "私密问题")
    stranger, _ = await logged_in(new_client(), app, login)
    admin = new_client()
    await login(admin, await make_user(app, admin=True), is_admin=True)
    for client in (stranger, admin):
        assert (await client.get(f"/messages/{conversation_id}")).code == 404
        assert (await client.post(f"/messages/{conversation_id}", {"body": "我也来"})).code == 404
        assert "私密问题" not in text(await client.get("/messages"))
    assert (await people["guest_client"].get("/messages/999999")).code == 404
    anonymous = new_client()
    assert (await anonymous.get(f"/messages/{conversation_id}")).code == 302
    assert (await anonymous.get("/messages")).code == 302
    assert await app.db.scalar("SELECT COUNT(*) FROM messages") == 1
    with pytest.raises(messages.ConversationNotFound):
        await messages.mark_read(app.db, conversation_id, (await make_user(app))["id"])


@pytest.mark.gen_test
async def test_thread_pages_back_to_earlier_messages(app, people):
    conversation_id = await messages.open_conversation(app.db, people["house"]["id"], people["guest"]["id"])
    for i in range(55):
        await messages.send(app.db, conversation_id, people["guest"]["id"], f"消息{i:02d}")
    page = text(await people["host_client"].get(f"/messages/{conversation_id}"))
    assert "消息54" in page and "消息05" in page and "消息04" not in page
    earlier = re.search(r'href="(/messages/\d+\?before=\d+)"', page)
    assert earlier
    older = text(await people["host_client"].get(earlier.group(1).replace("&amp;", "&")))
    assert "消息00" in older and "消息04" in older and "消息05" not in older


@pytest.mark.gen_test
async def test_mark_read_counts_what_is_left(app, people):
    conversation_id = await messages.open_conversation(app.db, people["house"]["id"], people["guest"]["id"])
    ids = [(await messages.send(app.db, conversation_id, people["guest"]["id"], f"m{i}"))[1]["id"] for i in range(3)]
    host_id = people["host"]["id"]
    assert await messages.unread_total(app.db, host_id) == 3
    assert await messages.mark_read(app.db, conversation_id, host_id, ids[0]) == 2
    assert await messages.mark_read(app.db, conversation_id, host_id, 0) == 2  # never backwards
    assert await messages.mark_read(app.db, conversation_id, host_id, 10 ** 12) == 0  # clamped to the last
    assert await messages.unread_total(app.db, host_id) == 0


def system_events(rows) -> list[dict]:
    return [json.loads(r["body"]) for r in rows if r["kind"] == "system"]


async def book(client, house_id: int, check_in: datetime.date, nights: int) -> int:
    response = await client.post(f"/houses/{house_id}/book", {
        "sd": check_in.isoformat(), "ed": (check_in + datetime.timedelta(days=nights)).isoformat(), "guests": "1"})
    assert response.code == 302, text(response)
    return int(response.headers["Location"].rsplit("/", 1)[1])


@pytest.mark.gen_test
async def test_every_order_event_writes_its_system_message(app, people):
    guest, host, house = people["guest"], people["host"], people["house"]
    guest_client, host_client = people["guest_client"], people["host_client"]
    check_in = datetime.date.today() + datetime.timedelta(days=20)
    first = await book(guest_client, house["id"], check_in, 3)
    conv = await app.db.queryone("SELECT * FROM conversations WHERE house_id = %s AND guest_id = %s",
                                 house["id"], guest["id"])
    assert conv is not None and conv["host_id"] == host["id"]
    assert (await host_client.post(f"/orders/{first}/reject", {"reason": "那几天装修"})).code == 302
    second = await book(guest_client, house["id"], check_in, 1)
    assert (await host_client.post(f"/orders/{second}/accept")).code == 302
    assert (await guest_client.post(f"/orders/{second}/cancel")).code == 302
    rows = await app.db.query("SELECT * FROM messages WHERE conversation_id = %s ORDER BY id", conv["id"])
    events = system_events(rows)
    assert [e["event"] for e in events] == ["booked", "rejected", "booked", "accepted", "cancelled"]
    amount = await app.db.scalar("SELECT amount_fen FROM orders WHERE id = %s", first)
    assert events[0] == {"event": "booked", "order_id": first, "by": "guest", "check_in": check_in.isoformat(),
                         "check_out": (check_in + datetime.timedelta(days=3)).isoformat(),
                         "nights": 3, "amount_fen": amount}
    assert events[1]["reason"] == "那几天装修" and events[1]["by"] == "host"
    assert events[4]["by"] == "guest"
    assert all(r["sender_id"] is None for r in rows)
    # Whoever acts has read the thread up to their own event; the other side's events count for them:
    # the host acted last with the acceptance, after which only the guest's cancellation came.
    assert await messages.unread_total(app.db, host["id"]) == 1
    assert await messages.unread_total(app.db, guest["id"]) == 0
    # The thread shows them in words.
    page = text(await host_client.get(f"/messages/{conv['id']}"))
    assert "房客申请预订" in page and "房东已拒绝，原因：那几天装修" in page and "房客已取消订单" in page


@pytest.mark.gen_test
async def test_a_refused_booking_writes_no_message(app, people):
    today = datetime.date.today()
    with pytest.raises(orders_model.BookingRefused):
        await orders_model.book(app.db, people["host"]["id"], people["house"]["id"],
                                today + datetime.timedelta(days=5), today + datetime.timedelta(days=6), today)
    assert await app.db.scalar("SELECT COUNT(*) FROM messages") == 0
    assert await app.db.scalar("SELECT COUNT(*) FROM conversations") == 0


@pytest.mark.gen_test
async def test_badge_and_script_are_in_every_members_header(app, client, people):
    page = text(await people["guest_client"].get("/"))
    assert 'id="unread-badge"' in page and "js/messages.js" in page
    assert "js/messages.js" not in text(await client.get("/"))


@pytest.mark.gen_test
async def test_inbox_is_newest_first_and_paged(app, people):
    host = people["host"]
    guests = [await make_user(app) for _ in range(22)]
    conversation_ids = []
    for i, guest in enumerate(guests):
        house = people["house"] if i == 0 else await make_house(app, host, title=f"房源{i:02d}")
        conversation_id = await messages.open_conversation(app.db, house["id"], guest["id"])
        await messages.send(app.db, conversation_id, guest["id"], f"来自房客{i:02d}")
        conversation_ids.append(conversation_id)
    await messages.send(app.db, conversation_ids[0], host["id"], "房东先回第一位")  # moves it to the top
    rows, total = await messages.inbox(app.db, host["id"], limit=20)
    assert total == 22 and len(rows) == 20
    assert [r["id"] for r in rows] == [conversation_ids[0]] + conversation_ids[:0:-1][:19]
    rest, _ = await messages.inbox(app.db, host["id"], limit=20, offset=20)
    assert [r["id"] for r in rest] == conversation_ids[2:0:-1]
    assert rows[0]["unread"] == 0 and rows[1]["unread"] == 1
    page2 = text(await people["host_client"].get("/messages?page=2"))
    assert "来自房客01" in page2 and "来自房客21" not in page2
    guest_rows, guest_total = await messages.inbox(app.db, guests[0]["id"], limit=20)
    assert guest_total == 1 and guest_rows[0]["other_id"] == host["id"]
