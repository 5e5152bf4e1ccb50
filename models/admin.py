"""SQL for the admin area: the ``admin_actions`` log, moderation, users, orders, logins.

Every admin decision is one row of ``admin_actions`` (admin_id, action,
target_type, target_id, reason, created_at), written in the same transaction as
the change it records. Target types are ``house`` and ``user``.

Moderation of listings: the statuses, transitions and revision rules live with the
listing in models/houses.py (``MODERATION``, ``moderate``, ``decide_revision``), which
calls :func:`record_action` inside its own transactions. This module keeps the
admin pages' lists.
"""

from __future__ import annotations

import datetime

from models.db import Database, Transaction
from models.orders import STATUSES as ORDER_STATUSES  # noqa: F401  (the admin pages filter by these)
from models.users import USER_COLUMNS

HOUSE_STATUSES = ("pending", "online", "rejected", "offline")

ACTION_LABELS = {
    "approve": "审核通过",
    "reject": "驳回",
    "offline": "下线",
    "approve_revision": "修改审核通过",
    "reject_revision": "修改驳回",
    "disable": "停用账号",
    "enable": "启用账号",
}


# -- the action log -----------------------------------------------------------

async def record_action(tx: Transaction | Database, admin_id: int, action: str, target_type: str,
                        target_id: int, reason: str | None = None) -> int:
    """Append one admin action; returns its id. *reason* is cut to 255 characters."""
    return await tx.insert(
        "INSERT INTO admin_actions (admin_id, action, target_type, target_id, reason) "
        "VALUES (%s, %s, %s, %s, %s)",
        admin_id, action, target_type, target_id, (reason or None) and reason[:255])


async def actions_for(db: Database, target_type: str, target_id: int, limit: int = 200) -> list[dict]:
    """The actions on one target, newest first: [{id, action, reason, created_at, admin_id, admin_name}]."""
    return await db.query(
        "SELECT a.id, a.action, a.reason, a.created_at, a.admin_id, u.name AS admin_name "
        "FROM admin_actions a LEFT JOIN users u ON u.id = a.admin_id "
        "WHERE a.target_type = %s AND a.target_id = %s ORDER BY a.created_at DESC, a.id DESC LIMIT %s",
        target_type, target_id, limit)


# -- listings -------------------------------------------------------------------

async def get_house(db: Database, house_id: int) -> dict | None:
    """One listing of any status (deleted too) with area, owner and cover; None when unknown."""
    return await db.queryone(
        "SELECT h.*, a.name AS area_name, a.city AS city, a.province AS province, "
        "u.name AS owner_name, u.mobile AS owner_mobile, u.is_active AS owner_active, "
        "(SELECT storage_key FROM house_images i WHERE i.id = h.cover_image_id) AS cover_key "
        "FROM houses h JOIN areas a ON a.id = h.area_id JOIN users u ON u.id = h.owner_id "
        "WHERE h.id = %s", house_id)


async def house_counts(db: Database) -> dict[str, int]:
    """{status: number of listings} for every status in the table's ENUM (0 when none)."""
    rows = await db.query("SELECT status, COUNT(*) AS n FROM houses GROUP BY status")
    counts = {s: 0 for s in (*HOUSE_STATUSES, "deleted")}
    counts.update({r["status"]: int(r["n"]) for r in rows})
    return counts


async def revision_count(db: Database) -> int:
    """How many listings have a revision waiting for review."""
    return int(await db.scalar("SELECT COUNT(*) FROM house_revisions WHERE status = 'pending'"))


async def list_revisions(db: Database, page: int, per_page: int) -> tuple[list[dict], int]:
    """Listings with a pending revision, oldest submission first: (rows of the page, total).

    Rows as :func:`list_houses`, plus revision_title and revision_at (when it was submitted).
    """
    total = await revision_count(db)
    rows = await db.query(
        "SELECT h.id, h.title, h.price_fen, h.status, h.review_note, h.updated_at, h.created_at, "
        "h.owner_id, u.name AS owner_name, u.mobile AS owner_mobile, u.is_active AS owner_active, "
        "a.name AS area_name, a.city AS city, r.title AS revision_title, r.created_at AS revision_at, "
        "(SELECT storage_key FROM house_images i WHERE i.id = h.cover_image_id) AS cover_key "
        "FROM house_revisions r JOIN houses h ON h.id = r.house_id JOIN areas a ON a.id = h.area_id "
        "JOIN users u ON u.id = h.owner_id WHERE r.status = 'pending' "
        "ORDER BY r.created_at ASC, r.house_id ASC LIMIT %s OFFSET %s", per_page, (page - 1) * per_page)
    return rows, total


async def list_houses(db: Database, status: str, page: int, per_page: int) -> tuple[list[dict], int]:
    """Listings with *status* (oldest change first for pending, newest first otherwise).

    Returns (rows of the page, total). Rows: id, title, price_fen, status, review_note,
    updated_at, created_at, owner_id, owner_name, owner_mobile, owner_active, area_name,
    city, cover_key.
    """
    # The review queue is first come, first served; other lists show recent changes first.
    order = "h.updated_at ASC, h.id ASC" if status == "pending" else "h.updated_at DESC, h.id DESC"
    total = await db.scalar("SELECT COUNT(*) FROM houses WHERE status = %s", status)
    rows = await db.query(
        "SELECT h.id, h.title, h.price_fen, h.status, h.review_note, h.updated_at, h.created_at, "
        "h.owner_id, u.name AS owner_name, u.mobile AS owner_mobile, u.is_active AS owner_active, "
        "a.name AS area_name, a.city AS city, "
        "(SELECT storage_key FROM house_images i WHERE i.id = h.cover_image_id) AS cover_key "
        "FROM houses h JOIN areas a ON a.id = h.area_id JOIN users u ON u.id = h.owner_id "
        f"WHERE h.status = %s ORDER BY {order} LIMIT %s OFFSET %s",
        status, per_page, (page - 1) * per_page)
    return rows, int(total)


# -- users ----------------------------------------------------------------------

def _like(text: str) -> str:
    """*text* as a LIKE pattern matching it anywhere, with its own % _ \\ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_users(db: Database, q: str, page: int, per_page: int) -> tuple[list[dict], int]:
    """Users whose mobile or name contains *q* (all users when *q* is empty), newest first.

    Returns (rows of the page, total). Rows: id, mobile, name, real_name, is_admin,
    is_active, created_at, house_count (listings not deleted).
    """
    where, args = "", []
    if q:
        where = "WHERE u.mobile LIKE %s OR u.name LIKE %s"
        args = [_like(q), _like(q)]
    total = await db.scalar(f"SELECT COUNT(*) FROM users u {where}", *args)
    rows = await db.query(
        "SELECT u.id, u.mobile, u.name, u.real_name, u.is_admin, u.is_active, u.created_at, "
        "(SELECT COUNT(*) FROM houses h WHERE h.owner_id = u.id AND h.status <> 'deleted') AS house_count "
        f"FROM users u {where} ORDER BY u.id DESC LIMIT %s OFFSET %s",
        *args, per_page, (page - 1) * per_page)
    return rows, int(total)


async def lock_user(tx: Transaction, user_id: int) -> dict | None:
    """``SELECT … FOR UPDATE`` of one user (id, is_admin, is_active); None when unknown."""
    return await tx.queryone("SELECT id, is_admin, is_active FROM users WHERE id = %s FOR UPDATE", user_id)


async def set_user_active(tx: Transaction, user_id: int, active: bool) -> int:
    """Enable or disable an account and its listings' copy of the flag (``houses.owner_active``,
    which the public queries filter on); returns the user rows changed."""
    changed = await tx.execute("UPDATE users SET is_active = %s WHERE id = %s", int(active), user_id)
    await tx.execute("UPDATE houses SET owner_active = %s WHERE owner_id = %s", int(active), user_id)
    return changed


async def house_ids_of(db: Database | Transaction, owner_id: int) -> list[int]:
    """Ids of the owner's listings that are not deleted."""
    rows = await db.query("SELECT id FROM houses WHERE owner_id = %s AND status <> 'deleted'", owner_id)
    return [r["id"] for r in rows]


async def houses_of(db: Database, owner_id: int) -> list[dict]:
    """The owner's listings (deleted too) for the admin user page: id, title, status, price_fen, updated_at."""
    return await db.query(
        "SELECT id, title, status, price_fen, review_note, updated_at FROM houses WHERE owner_id = %s "
        "ORDER BY id DESC", owner_id)


async def get_user(db: Database, user_id: int) -> dict | None:
    """The user row (without password hash) plus order and login counts; None when unknown."""
    columns = ", ".join(f"u.{c.strip()}" for c in USER_COLUMNS.split(",") if c.strip() != "password_hash")
    return await db.queryone(
        f"SELECT {columns}, "
        "(SELECT COUNT(*) FROM orders o WHERE o.guest_id = u.id) AS order_count "
        "FROM users u WHERE u.id = %s", user_id)


async def make_admin(db: Database, mobile: str, password_hash: str | None) -> tuple[int, bool]:
    """Give *mobile*'s account admin rights, creating it when missing.

    With *password_hash* the password is (re)set as well; a new account needs one
    (ValueError otherwise). Returns (user id, True when the account was created).
    """
    from models import users

    async with db.transaction() as tx:
        row = await tx.queryone("SELECT id FROM users WHERE mobile = %s FOR UPDATE", mobile)
        if row is not None:
            if password_hash is None:
                await tx.execute("UPDATE users SET is_admin = 1 WHERE id = %s", row["id"])
            else:
                await tx.execute("UPDATE users SET is_admin = 1, password_hash = %s WHERE id = %s",
                                 password_hash, row["id"])
            return row["id"], False
        if password_hash is None:
            raise ValueError("a new admin account needs a password")
        return await users.create(tx, mobile, password_hash, is_admin=True), True


# -- orders ---------------------------------------------------------------------

async def list_orders(db: Database, *, status: str | None, date_from: datetime.date | None,
                      date_to: datetime.date | None, page: int, per_page: int) -> tuple[list[dict], int, int]:
    """Orders filtered by *status* and by the day they were placed (*date_from*..*date_to*, inclusive).

    Returns (rows of the page, total count, total amount in fen). Rows: the order
    columns plus guest_name, guest_mobile, house_title; newest first.
    """
    where, args = [], []
    if status:
        where.append("o.status = %s")
        args.append(status)
    if date_from:
        where.append("o.created_at >= %s")
        args.append(date_from)
    if date_to:
        where.append("o.created_at < %s")
        args.append(date_to + datetime.timedelta(days=1))
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    totals = await db.queryone(
        f"SELECT COUNT(*) AS n, COALESCE(SUM(o.amount_fen), 0) AS amount FROM orders o {clause}", *args)
    rows = await db.query(
        "SELECT o.id, o.guest_id, o.house_id, o.check_in, o.check_out, o.nights, o.price_fen, "
        "o.amount_fen, o.status, o.reject_reason, o.created_at, g.name AS guest_name, "
        "g.mobile AS guest_mobile, h.title AS house_title "
        "FROM orders o JOIN users g ON g.id = o.guest_id JOIN houses h ON h.id = o.house_id "
        f"{clause} ORDER BY o.created_at DESC, o.id DESC LIMIT %s OFFSET %s",
        *args, per_page, (page - 1) * per_page)
    return rows, int(totals["n"]), int(totals["amount"])


# -- login audit ----------------------------------------------------------------

async def recent_logins(db: Database, page: int, per_page: int, *, user_id: int | None = None) -> tuple[list[dict], int]:
    """Login attempts, newest first (optionally of one user): (rows of the page, total).

    Rows: id, user_id, mobile, ip, location (None until resolved), user_agent,
    success, is_admin_login, created_at, user_name.
    """
    where, args = "", []
    if user_id is not None:
        where, args = "WHERE e.user_id = %s", [user_id]
    total = await db.scalar(f"SELECT COUNT(*) FROM login_events e {where}", *args)
    rows = await db.query(
        "SELECT e.id, e.user_id, e.mobile, e.ip, e.location, e.user_agent, e.success, "
        "e.is_admin_login, e.created_at, u.name AS user_name "
        f"FROM login_events e LEFT JOIN users u ON u.id = e.user_id {where} "
        "ORDER BY e.created_at DESC, e.id DESC LIMIT %s OFFSET %s", *args, per_page, (page - 1) * per_page)
    return rows, int(total)


async def store_login_locations(db: Database, locations: dict[str, str]) -> int:
    """Fill in ``location`` of the login rows from *locations* ({ip: label}) that have none yet."""
    if not locations:
        return 0
    return await db.executemany(
        "UPDATE login_events SET location = %s WHERE ip = %s AND location IS NULL",
        [(label[:128], ip) for ip, label in locations.items()])
