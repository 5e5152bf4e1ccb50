"""SQL for bookings: ``orders``, ``booked_nights`` and the review that completes an order.

Stays are half-open date ranges ``[check_in, check_out)``; nights = check_out − check_in;
money is fen (the order keeps a snapshot of the nightly price and the total).

Life cycle::

    pending ──accept──> accepted ──review──> completed
       │                   │
       ├──reject──> rejected (landlord, with a reason)
       └──cancel──> cancelled <──cancel── (accepted, before the check-in day)

An order in ``pending``, ``accepted`` or ``completed`` holds one ``booked_nights`` row
per night; rejecting or cancelling deletes them in the same transaction.

Locking: every write here locks the listing row first (``SELECT … FOR UPDATE`` on
``houses``) and only then the order row, always in that order, so two writers on
the same listing queue up instead of deadlocking, and a booking's overlap check
cannot interleave with another booking, a cancellation or a rejection.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import pymysql

from models import messages  # each order event writes its system message in the conversation
from models.db import Database, Transaction, is_duplicate_key

STATUSES = ("pending", "accepted", "rejected", "cancelled", "completed")
STATUS_LABELS = {"pending": "待确认", "accepted": "已接单", "rejected": "已拒绝",
                 "cancelled": "已取消", "completed": "已完成"}
# Which party may do which action; anyone else is refused before the status is looked at.
GUEST_ACTIONS = ("cancel", "review")
LANDLORD_ACTIONS = ("accept", "reject")

MAX_NIGHTS = 365  # bounds the booked_nights rows one request may write when max_days is 0
LOCK_ERRORS = (1205, 1213)  # lock wait timeout, deadlock: "try again", never a 500

ORDER_COLUMNS = (
    "o.id, o.guest_id, o.house_id, o.check_in, o.check_out, o.nights, o.price_fen, o.amount_fen, "
    "o.status, o.reject_reason, o.created_at, o.updated_at, h.title AS house_title, "
    "h.owner_id, h.address AS house_address, h.status AS house_status, "
    "(SELECT storage_key FROM house_images i WHERE i.id = h.cover_image_id) AS cover_key, "
    "g.name AS guest_name, g.mobile AS guest_mobile, l.name AS landlord_name, "
    "r.rating AS review_rating, r.comment AS review_comment, r.created_at AS reviewed_at")
ORDER_FROM = ("FROM orders o JOIN houses h ON h.id = o.house_id JOIN users g ON g.id = o.guest_id "
              "JOIN users l ON l.id = h.owner_id LEFT JOIN reviews r ON r.order_id = o.id")


class BookingRefused(Exception):
    """A booking that breaks a rule.

    *status* is the HTTP status to answer with (4xx), *message* a Chinese sentence
    for people, *field* the booking-form field it concerns (``sd``, ``ed``,
    ``dates``) or None when it is not about the dates.
    """

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


class OrderConflict(Exception):
    """The action does not fit the order's current status (HTTP 409); *message* is Chinese."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class OrderNotFound(Exception):
    """No order with that id."""


@dataclass(frozen=True)
class Booked:
    """A booking just made: the new order's id and what it costs (fen)."""

    order_id: int
    nights: int
    amount_fen: int


def nights_between(check_in: datetime.date, check_out: datetime.date) -> list[datetime.date]:
    """Every night of the half-open stay [check_in, check_out)."""
    return [check_in + datetime.timedelta(days=i) for i in range((check_out - check_in).days)]


def check_dates(check_in: datetime.date, check_out: datetime.date, today: datetime.date) -> None:
    """Raise :class:`BookingRefused` (400) unless check-in is today or later and check-out after it."""
    if check_in < today:
        raise BookingRefused(400, "入住日期不能早于今天", "sd")
    if check_out <= check_in:
        raise BookingRefused(400, "离开日期须晚于入住日期", "ed")
    if (check_out - check_in).days > MAX_NIGHTS:
        raise BookingRefused(400, f"一次最多预订 {MAX_NIGHTS} 晚", "ed")


def check_length(house: dict, nights: int) -> None:
    """Raise :class:`BookingRefused` (400) unless *nights* is within the listing's
    min_days / max_days (0 = no limit)."""
    if house["min_days"] and nights < house["min_days"]:
        raise BookingRefused(400, f"该房源最少预订 {house['min_days']} 晚，你选了 {nights} 晚", "dates")
    if house["max_days"] and nights > house["max_days"]:
        raise BookingRefused(400, f"该房源最多预订 {house['max_days']} 晚，你选了 {nights} 晚", "dates")


async def book(db: Database, guest_id: int, house_id: int, check_in: datetime.date,
               check_out: datetime.date, today: datetime.date) -> Booked:
    """Book *house_id* for *guest_id* over [check_in, check_out) in one transaction.

    Locks the listing row, checks the rules in the issue's order (listing exists →
    online → not the guest's own → dates → length → no overlap with a pending,
    accepted or completed order), inserts the order (status pending, price snapshot,
    amount in fen) and one ``booked_nights`` row per night. The primary key of
    ``booked_nights`` is the backstop: a duplicate night becomes the same 409 as an
    overlap. Raises :class:`BookingRefused`; nothing is written when it does.
    """
    try:
        async with db.transaction() as tx:
            house = await tx.queryone(
                "SELECT id, owner_id, status, price_fen, min_days, max_days FROM houses "
                "WHERE id = %s FOR UPDATE", house_id)
            if house is None or house["status"] == "deleted":
                raise BookingRefused(404, "房源不存在")
            owner_active = await tx.scalar("SELECT is_active FROM users WHERE id = %s", house["owner_id"])
            if house["status"] != "online" or not owner_active:
                raise BookingRefused(409, "该房源当前未上线，暂不接受预订")
            if house["owner_id"] == guest_id:
                raise BookingRefused(403, "不能预订自己的房源")
            check_dates(check_in, check_out, today)
            nights = (check_out - check_in).days
            check_length(house, nights)
            # A locking read: it sees the latest committed orders, not the snapshot
            # taken when this transaction began.
            clash = await tx.queryone(
                "SELECT id FROM orders WHERE house_id = %s AND status IN ('pending', 'accepted', 'completed') "
                "AND check_in < %s AND check_out > %s LIMIT 1 FOR UPDATE",
                house_id, check_out, check_in)
            if clash is not None:
                raise BookingRefused(409, "所选日期已被预订，请换个日期", "dates")
            amount = nights * house["price_fen"]
            order_id = await tx.insert(
                "INSERT INTO orders (guest_id, house_id, check_in, check_out, nights, price_fen, amount_fen) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                guest_id, house_id, check_in, check_out, nights, house["price_fen"], amount)
            await tx.executemany("INSERT INTO booked_nights (house_id, night, order_id) VALUES (%s, %s, %s)",
                                 [(house_id, night, order_id) for night in nights_between(check_in, check_out)])
            await messages.order_event(tx, order_id, "booked")
            return Booked(order_id, nights, amount)
    except pymysql.err.MySQLError as exc:
        if is_duplicate_key(exc):
            raise BookingRefused(409, "所选日期已被预订，请换个日期", "dates") from exc
        if exc.args and exc.args[0] in LOCK_ERRORS:
            raise BookingRefused(409, "该房源正被多人同时预订，请稍后再试", "dates") from exc
        raise


def refusal(order: dict, action: str, today: datetime.date) -> str | None:
    """Why *action* does not fit *order*'s current status (a Chinese sentence), or None when it does.

    *order* needs ``status`` and ``check_in``. Reviews are allowed once the stay has
    begun (check-in day or later), so a guest can review without waiting for check-out.
    """
    status = order["status"]
    label = STATUS_LABELS.get(status, status)
    if action in ("accept", "reject"):
        if status != "pending":
            return f"订单{label}，不能再{'接单' if action == 'accept' else '拒绝'}"
        if action == "accept" and order["check_in"] < today:
            return "入住日期已过，不能再接单"
        return None
    if action == "cancel":
        if status == "pending":
            return None
        if status == "accepted":
            return None if today < order["check_in"] else "已到入住日期，不能再取消已接单的订单"
        return f"订单{label}，不能取消"
    if action == "review":
        if status == "completed":
            return "你已经评价过这次入住"
        if status != "accepted":
            return f"订单{label}，不能评价"
        if today < order["check_in"]:
            return "入住之后才能评价"
        return None
    raise ValueError(f"unknown action {action!r}")


def role_of(order: dict, user_id: int) -> str | None:
    """``"guest"`` or ``"landlord"`` for the parties of *order* (needs guest_id, owner_id), else None."""
    if order["guest_id"] == user_id:
        return "guest"
    if order["owner_id"] == user_id:
        return "landlord"
    return None


def allowed_actions(order: dict, user_id: int, today: datetime.date) -> list[str]:
    """The actions *user_id* may take on *order* now (for showing buttons)."""
    role = role_of(order, user_id)
    if role is None:
        return []
    actions = GUEST_ACTIONS if role == "guest" else LANDLORD_ACTIONS
    return [a for a in actions if refusal(order, a, today) is None]


async def _lock(tx: Transaction, order_id: int, action: str, today: datetime.date) -> dict:
    """Lock the order's listing, then the order; return the order row.

    Raises :class:`OrderNotFound`, or :class:`OrderConflict` when *action* no longer fits.
    """
    house_id = await tx.scalar("SELECT house_id FROM orders WHERE id = %s", order_id)
    if house_id is None:
        raise OrderNotFound(order_id)
    await tx.queryone("SELECT id FROM houses WHERE id = %s FOR UPDATE", house_id)
    order = await tx.queryone("SELECT * FROM orders WHERE id = %s FOR UPDATE", order_id)
    reason = refusal(order, action, today)
    if reason:
        raise OrderConflict(reason)
    return order


async def _set_status(tx: Transaction, order_id: int, status: str, reason: str | None = None) -> None:
    await tx.execute("UPDATE orders SET status = %s, reject_reason = %s WHERE id = %s", status, reason, order_id)


async def accept(db: Database, order_id: int, today: datetime.date) -> dict:
    """pending → accepted. Returns the order row as it was. Raises OrderNotFound / OrderConflict."""
    async with db.transaction() as tx:
        order = await _lock(tx, order_id, "accept", today)
        await _set_status(tx, order_id, "accepted")
        await messages.order_event(tx, order_id, "accepted")
    return order


async def reject(db: Database, order_id: int, reason: str, today: datetime.date) -> dict:
    """pending → rejected with the landlord's *reason*; frees the nights. Returns the order row."""
    async with db.transaction() as tx:
        order = await _lock(tx, order_id, "reject", today)
        await _set_status(tx, order_id, "rejected", reason)
        await messages.order_event(tx, order_id, "rejected")
        await tx.execute("DELETE FROM booked_nights WHERE order_id = %s", order_id)
    return order


async def cancel(db: Database, order_id: int, today: datetime.date) -> dict:
    """pending, or accepted before the check-in day → cancelled; frees the nights. Returns the order row."""
    async with db.transaction() as tx:
        order = await _lock(tx, order_id, "cancel", today)
        await _set_status(tx, order_id, "cancelled")
        await messages.order_event(tx, order_id, "cancelled", "guest")
        await tx.execute("DELETE FROM booked_nights WHERE order_id = %s", order_id)
    return order


async def review(db: Database, order_id: int, rating: int, comment: str, today: datetime.date) -> dict:
    """accepted (stay begun) → completed: stores the review (*rating* 1–5, *comment*) and counts
    the stay in the listing's ``order_count``, in one transaction. Returns the order row."""
    try:
        async with db.transaction() as tx:
            order = await _lock(tx, order_id, "review", today)
            await tx.insert(
                "INSERT INTO reviews (order_id, house_id, author_id, rating, comment) VALUES (%s, %s, %s, %s, %s)",
                order_id, order["house_id"], order["guest_id"], rating, comment)
            await _set_status(tx, order_id, "completed")
            await messages.order_event(tx, order_id, "reviewed")
            await tx.execute("UPDATE houses SET order_count = order_count + 1 WHERE id = %s", order["house_id"])
    except pymysql.err.MySQLError as exc:
        # reviews.order_id is UNIQUE: the status check above makes this unreachable
        # short of a manual edit, and it still must not be a 500.
        if is_duplicate_key(exc):
            raise OrderConflict("你已经评价过这次入住") from exc
        raise
    return order


async def get(db: Database, order_id: int) -> dict | None:
    """One order with its listing (title, owner_id, cover_key), the two parties' names and its
    review (review_rating / review_comment, NULL until reviewed); None when unknown."""
    return await db.queryone(f"SELECT {ORDER_COLUMNS} {ORDER_FROM} WHERE o.id = %s", order_id)


async def for_user(db: Database, user_id: int, role: str, limit: int, offset: int = 0) -> tuple[list[dict], int]:
    """The orders where *user_id* is the guest (*role* ``"guest"``) or the landlord
    (``"landlord"``), newest first: (rows of ORDER_COLUMNS, total count)."""
    column = "o.guest_id" if role == "guest" else "h.owner_id"
    total = await db.scalar(f"SELECT COUNT(*) FROM orders o JOIN houses h ON h.id = o.house_id "
                            f"WHERE {column} = %s", user_id)
    rows = await db.query(f"SELECT {ORDER_COLUMNS} {ORDER_FROM} WHERE {column} = %s "
                          "ORDER BY o.created_at DESC, o.id DESC LIMIT %s OFFSET %s", user_id, limit, offset)
    return rows, int(total)


async def booked_nights(db: Database, house_id: int, start: datetime.date, end: datetime.date) -> list[datetime.date]:
    """The booked nights of *house_id* in [start, end), ascending."""
    rows = await db.query("SELECT night FROM booked_nights WHERE house_id = %s AND night >= %s AND night < %s "
                          "ORDER BY night", house_id, start, end)
    return [r["night"] for r in rows]
