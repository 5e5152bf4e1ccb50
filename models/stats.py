"""Figures for the admin dashboard: totals and per-day series.

Days are the database server's calendar days (``CURDATE()``), so the series and
the rows' ``created_at`` (written with ``CURRENT_TIMESTAMP``) agree whatever time
zone the web process runs in. Money is fen.
"""

from __future__ import annotations

import datetime

from models import lifecycle
from models.admin import HOUSE_STATUSES, ORDER_STATUSES
from models.db import Database

# Revenue counts the money of stays that have happened: completed orders only (an accepted
# stay counts from its check-out time, models/lifecycle.py, whether or not the periodic
# settling has written it yet). Accepted orders are promises, and may still be cancelled;
# deposits are refundable holds, never revenue.
REVENUE_STATUSES = ("completed",)
TOP_AREAS = 10

# Orders grouped by their status at a given time: the calendar's moves applied (lifecycle.effective_status).
EFFECTIVE_STATUS_SQL = ("CASE WHEN status = 'pending' AND check_in <= %s THEN 'expired' "
                        "WHEN status = 'accepted' AND check_out <= %s THEN 'completed' ELSE status END")


async def totals(db: Database, now: datetime.datetime | None = None) -> dict:
    """{users, active_users, admins, houses: {status: n}, orders: {status: n}, revenue_fen}.

    houses counts every status but ``deleted``; orders counts each order under its status at
    *now* (default: the local time); revenue_fen is the sum of amount_fen (the nights, not the
    deposit) over orders whose status at *now* is in :data:`REVENUE_STATUSES`.
    """
    now = now or datetime.datetime.now()
    users = await db.queryone(
        "SELECT COUNT(*) AS total, COALESCE(SUM(is_active), 0) AS active, "
        "COALESCE(SUM(is_admin), 0) AS admins FROM users")
    house_rows = await db.query("SELECT status, COUNT(*) AS n FROM houses GROUP BY status")
    order_rows = await db.query(
        f"SELECT {EFFECTIVE_STATUS_SQL} AS status, COUNT(*) AS n, COALESCE(SUM(amount_fen), 0) AS amount "
        "FROM orders GROUP BY 1", lifecycle.expired_through(now), lifecycle.completed_through(now))
    houses = {s: 0 for s in HOUSE_STATUSES}
    houses.update({r["status"]: int(r["n"]) for r in house_rows if r["status"] in houses})
    orders = {s: 0 for s in ORDER_STATUSES}
    orders.update({r["status"]: int(r["n"]) for r in order_rows})
    revenue = sum(int(r["amount"]) for r in order_rows if r["status"] in REVENUE_STATUSES)
    return {"users": int(users["total"]), "active_users": int(users["active"]),
            "admins": int(users["admins"]), "houses": houses, "orders": orders, "revenue_fen": revenue}


async def daily_counts(db: Database, days: int = 30) -> dict:
    """New users, listings and orders per day for the last *days* days, today included.

    {"days": ["YYYY-MM-DD", …oldest first], "users": [n, …], "houses": [n, …],
    "orders": [n, …]}; days without rows count 0. Deleted listings count on the
    day they were published: the series is about activity, not the current stock.
    """
    today = await db.scalar("SELECT CURDATE()")
    first = today - datetime.timedelta(days=days - 1)
    labels = [first + datetime.timedelta(days=i) for i in range(days)]
    series = {}
    for table in ("users", "houses", "orders"):
        rows = await db.query(
            f"SELECT DATE(created_at) AS day, COUNT(*) AS n FROM {table} "
            "WHERE created_at >= %s GROUP BY DATE(created_at)", first)
        by_day = {r["day"]: int(r["n"]) for r in rows}
        series[table] = [by_day.get(day, 0) for day in labels]
    return {"days": [d.isoformat() for d in labels], **series}


async def houses_per_area(db: Database, limit: int = TOP_AREAS) -> list[dict]:
    """The areas with the most listings that are not deleted: [{area_id, label, n}], most first."""
    rows = await db.query(
        "SELECT a.id AS area_id, a.city, a.name, COUNT(*) AS n FROM houses h "
        "JOIN areas a ON a.id = h.area_id WHERE h.status <> 'deleted' "
        "GROUP BY a.id, a.city, a.name ORDER BY n DESC, a.id ASC LIMIT %s", limit)
    return [{"area_id": r["area_id"], "label": f"{r['city']} {r['name']}" if r["city"] != r["name"] else r["name"],
             "n": int(r["n"])} for r in rows]
