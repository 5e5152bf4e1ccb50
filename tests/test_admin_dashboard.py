"""The admin dashboard's figures and charts against known data; the orders list and its filters."""

from __future__ import annotations

import datetime
import json
import re

import pytest

from tests.utils.client import admin_client, text
from tests.utils.factories import make_house, make_user

CHART_DATA_RE = re.compile(r'<script type="application/json" id="chart-data">(.*?)</script>', re.S)


async def make_order(app, guest: dict, house: dict, *, status: str, amount_fen: int, days_ago: int = 0,
                     nights: int = 2) -> int:
    """Insert an order row placed *days_ago* days ago (the booking code is not needed for these figures)."""
    check_in = datetime.date(2030, 1, 1) + datetime.timedelta(days=days_ago * 3)
    return await app.db.insert(
        "INSERT INTO orders (guest_id, house_id, check_in, check_out, nights, price_fen, amount_fen, status, "
        "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, NOW() - INTERVAL %s DAY)",
        guest["id"], house["id"], check_in, check_in + datetime.timedelta(days=nights), nights,
        amount_fen // nights, amount_fen, status, days_ago)


async def backdate(app, table: str, row_id: int, days: int) -> None:
    await app.db.execute(f"UPDATE {table} SET created_at = NOW() - INTERVAL %s DAY WHERE id = %s", days, row_id)


def chart_data(body: str) -> dict:
    return json.loads(CHART_DATA_RE.search(body).group(1))


@pytest.fixture
def known_data(app, io_loop):
    """Users, listings and orders with known statuses, areas, amounts and days."""
    async def build():
        guest = await make_user(app, name="房客")
        owner = await make_user(app, name="房东")
        disabled = await make_user(app, name="停用用户", active=False)
        await backdate(app, "users", disabled["id"], 5)
        await backdate(app, "users", owner["id"], 40)  # outside the 30-day window
        houses = {
            "a": await make_house(app, owner, title="朝阳一", area_id=110105),
            "b": await make_house(app, owner, title="朝阳二", area_id=110105, status="pending"),
            "c": await make_house(app, owner, title="朝阳三", area_id=110105, status="rejected"),
            "d": await make_house(app, owner, title="南山一", area_id=440305, status="offline"),
            "e": await make_house(app, owner, title="南山二", area_id=440305),
            "gone": await make_house(app, owner, title="西湖已删", area_id=330106, status="deleted"),
        }
        await backdate(app, "houses", houses["e"]["id"], 3)
        await make_order(app, guest, houses["a"], status="completed", amount_fen=30000, days_ago=0)
        await make_order(app, guest, houses["a"], status="completed", amount_fen=45050, days_ago=3)
        await make_order(app, guest, houses["e"], status="accepted", amount_fen=99900, days_ago=3)
        await make_order(app, guest, houses["e"], status="pending", amount_fen=20000, days_ago=10)
        await make_order(app, guest, houses["a"], status="cancelled", amount_fen=50000, days_ago=45)
        return {"guest": guest, "owner": owner, "houses": houses}
    return io_loop.run_sync(build)


@pytest.mark.gen_test(timeout=30)
async def test_dashboard_totals(app, known_data, new_client, login):
    admin, _ = await admin_client(app, new_client, login)
    response = await admin.get("/admin")
    body = text(response)
    assert response.code == 200

    def figure(attr: str, key: str) -> str:
        return re.search(rf'{attr}="{key}">([^<]+)<', body).group(1)

    # 4 users: guest, owner, the disabled one and the admin.
    assert figure("data-total", "users") == "4"
    assert figure("data-total", "active_users") == "3"
    assert figure("data-total", "admins") == "1"
    # Listings by status; the deleted one is not counted.
    assert figure("data-total", "houses") == "5"
    assert {s: figure("data-house-status", s) for s in ("pending", "online", "rejected", "offline")} == {
        "pending": "1", "online": "2", "rejected": "1", "offline": "1"}
    assert figure("data-total", "orders") == "5"
    assert {s: figure("data-order-status", s) for s in ("pending", "accepted", "rejected", "cancelled", "completed")} == {
        "pending": "1", "accepted": "1", "rejected": "0", "cancelled": "1", "completed": "2"}
    # Revenue: completed orders only, in yuan (300.00 + 450.50).
    assert figure("data-total", "revenue") == "¥750.50"
    assert "已完成订单收入" in body


@pytest.mark.gen_test(timeout=30)
async def test_dashboard_chart_data(app, known_data, new_client, login):
    admin, admin_user = await admin_client(app, new_client, login)
    body = text(await admin.get("/admin"))
    assert "vendor/chart.js/chart.umd.min.js" in body and "js/admin-charts.js" in body
    charts = chart_data(body)

    today = await app.db.scalar("SELECT CURDATE()")
    daily = charts["daily"]
    assert len(daily["days"]) == 30
    assert daily["days"][-1] == today.isoformat()
    assert daily["days"][0] == (today - datetime.timedelta(days=29)).isoformat()

    def on(series: str, days_ago: int) -> int:
        return daily[series][29 - days_ago]

    # Users: guest + admin today, the disabled one 5 days ago; the owner (40 days ago) is outside.
    assert on("users", 0) == 2 and on("users", 5) == 1 and sum(daily["users"]) == 3
    # Listings: all six were published today except "e", 3 days ago (deleted ones count: activity).
    assert on("houses", 0) == 5 and on("houses", 3) == 1 and sum(daily["houses"]) == 6
    # Orders: today 1, 3 days ago 2, 10 days ago 1; the one 45 days ago is outside.
    assert on("orders", 0) == 1 and on("orders", 3) == 2 and on("orders", 10) == 1
    assert sum(daily["orders"]) == 4

    # Listings per area, most first, deleted ones left out.
    assert charts["areas"] == {"labels": ["北京市 朝阳区", "深圳市 南山区"], "counts": [3, 2]}
    assert charts["orders"]["statuses"] == ["pending", "accepted", "rejected", "cancelled", "completed", "expired"]
    assert charts["orders"]["counts"] == [1, 1, 0, 1, 2, 0]
    assert charts["orders"]["labels"][-2:] == ["已完成", "已过期"]


@pytest.mark.gen_test
async def test_dashboard_chart_json_cannot_break_out_of_its_script(app, new_client, login):
    # Area names come from the reference table, but the JSON block must be safe whatever it holds.
    await app.db.execute("INSERT INTO areas (id, name, city, province) VALUES (990001, %s, %s, '测试省')",
                         "</script><i>x</i>&", "<!--")
    try:
        owner = await make_user(app)
        await make_house(app, owner, area_id=990001)
        admin, _ = await admin_client(app, new_client, login)
        body = text(await admin.get("/admin"))
        block = CHART_DATA_RE.search(body).group(1)
        assert "<" not in block and ">" not in block and "&" not in block
        assert chart_data(body)["areas"]["labels"] == ["<!-- </script><i>x</i>&"]
    finally:  # areas are seeded once per run, not reset between tests
        await app.db.execute("DELETE FROM house_facilities")
        await app.db.execute("DELETE FROM houses")
        await app.db.execute("DELETE FROM areas WHERE id = 990001")


@pytest.mark.gen_test
async def test_dashboard_when_empty(app, new_client, login):
    admin, _ = await admin_client(app, new_client, login)
    body = text(await admin.get("/admin"))
    charts = chart_data(body)
    assert sum(charts["daily"]["houses"]) == 0 and charts["areas"] == {"labels": [], "counts": []}
    assert 'data-total="revenue">¥0<' in body


# -- orders ----------------------------------------------------------------------

def order_ids(body: str) -> list[int]:
    return [int(i) for i in re.findall(r'class="admin-order" data-order-id="(\d+)"', body)]


@pytest.mark.gen_test(timeout=30)
async def test_orders_filters(app, known_data, new_client, login):
    admin, _ = await admin_client(app, new_client, login)
    everything = await app.db.query("SELECT id, status, created_at, amount_fen FROM orders ORDER BY id")
    all_page = text(await admin.get("/admin/orders"))
    assert sorted(order_ids(all_page)) == [o["id"] for o in everything]
    assert 'id="order-total">5<' in all_page and 'id="order-amount">2449.50<' in all_page
    assert "房客" in all_page and "朝阳一" in all_page

    completed = text(await admin.get("/admin/orders?status=completed"))
    assert sorted(order_ids(completed)) == [o["id"] for o in everything if o["status"] == "completed"]
    assert 'id="order-amount">750.50<' in completed

    today = await app.db.scalar("SELECT CURDATE()")
    three_ago = (today - datetime.timedelta(days=3)).isoformat()
    only_that_day = text(await admin.get(f"/admin/orders?from={three_ago}&to={three_ago}"))
    expected = [o["id"] for o in everything if o["created_at"].date().isoformat() == three_ago]
    assert len(expected) == 2 and sorted(order_ids(only_that_day)) == expected
    since = text(await admin.get(f"/admin/orders?from={three_ago}"))
    assert len(order_ids(since)) == 3
    until = text(await admin.get(f"/admin/orders?to={(today - datetime.timedelta(days=4)).isoformat()}"))
    assert len(order_ids(until)) == 2  # 10 and 45 days ago
    combined = text(await admin.get(f"/admin/orders?status=accepted&from={three_ago}&to={today.isoformat()}"))
    assert len(order_ids(combined)) == 1
    assert "没有符合条件的订单" in text(await admin.get("/admin/orders?status=rejected"))


@pytest.mark.gen_test
@pytest.mark.parametrize("query,field", [
    ("status=bogus", "status"),
    ("from=2024-13-01", "from"),
    ("to=yesterday", "to"),
    ("from=2024-05-02&to=2024-05-01", "to"),
])
async def test_orders_bad_filters_are_400_with_message(app, new_client, login, query, field):
    admin, _ = await admin_client(app, new_client, login)
    response = await admin.get(f"/admin/orders?{query}")
    assert response.code == 400 and f'data-field="{field}"' in text(response)


@pytest.mark.gen_test
async def test_orders_paging(app, new_client, login):
    guest = await make_user(app)
    house = await make_house(app, await make_user(app))
    for i in range(23):
        await make_order(app, guest, house, status="pending", amount_fen=10000, days_ago=i % 5)
    admin, _ = await admin_client(app, new_client, login)
    first = text(await admin.get("/admin/orders?status=pending"))
    second = text(await admin.get("/admin/orders?status=pending&page=2"))
    assert len(order_ids(first)) == 20 and len(order_ids(second)) == 3
    assert not set(order_ids(first)) & set(order_ids(second))
    assert 'href="/admin/orders?status=pending&amp;page=2"' in first
