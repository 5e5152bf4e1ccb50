"""SQL for bookings: ``orders``, ``booked_nights`` and the guest's review of a stay.

Stays are half-open date ranges ``[check_in, check_out)``; nights = check_out − check_in;
money is fen (the order keeps a snapshot of the nightly price, the price of the nights
and the deposit: services/pricing.py computes the breakdown).

Life cycle (times: models/lifecycle.py — check-in 14:00, check-out 12:00, local)::

    pending ──accept──> accepted ──check-out time passes──> completed ──review (14 days)──> (reviewed)
       │                   │
       │                   ├──cancel (guest, before the free-cancellation deadline)──> cancelled
       │                   └──release (host, before check-in time)──────────────────> cancelled
       ├──reject (host, with a reason)──> rejected
       ├──cancel (guest, any time before check-in)──> cancelled
       └──check-in day ends unanswered──> expired

The two calendar moves are computed on every read (:func:`models.lifecycle.effective_status`)
and written by :func:`models.lifecycle.settle` (a periodic task, and in every write here
before the order is looked at). An order in ``pending``, ``accepted`` or ``completed``
holds one ``booked_nights`` row per night; rejecting, cancelling, releasing and expiring
delete them in the same transaction.

Locking: every write here locks the listing row first (``SELECT … FOR UPDATE`` on
``houses``) and only then the order row, always in that order, so two writers on
the same listing queue up instead of deadlocking, and a booking's overlap check
cannot interleave with another booking, a cancellation or a rejection.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import pymysql

from models import lifecycle, ratings
from models import messages  # each order event writes its system message in the conversation
from models.db import Database, Transaction, is_duplicate_key
from services.pricing import breakdown

STATUSES = ("pending", "accepted", "rejected", "cancelled", "completed", "expired")
STATUS_LABELS = {"pending": "待确认", "accepted": "已接单", "rejected": "已拒绝",
                 "cancelled": "已取消", "completed": "已完成", "expired": "已过期"}
# Which party may do which action; anyone else is refused before the status is looked at.
GUEST_ACTIONS = ("cancel", "review")
LANDLORD_ACTIONS = ("accept", "reject", "release")
DEFAULT_FREE_CANCEL_HOURS = 24  # config.Settings.free_cancel_hours

MAX_NIGHTS = 365  # bounds the booked_nights rows one request may write when max_days is 0
LOCK_ERRORS = (1205, 1213)  # lock wait timeout, deadlock: "try again", never a 500

ORDER_COLUMNS = (
    "o.id, o.guest_id, o.house_id, o.check_in, o.check_out, o.nights, o.guests, o.price_fen, o.amount_fen, "
    "o.deposit_fen, o.status, o.reject_reason, o.created_at, o.updated_at, h.title AS house_title, "
    "h.owner_id, h.address AS house_address, h.neighbourhood AS house_neighbourhood, "
    "h.status AS house_status, a.name AS area_name, a.city AS area_city, "
    "(SELECT storage_key FROM house_images i WHERE i.id = h.cover_image_id) AS cover_key, "
    "g.name AS guest_name, g.mobile AS guest_mobile, l.name AS landlord_name, l.mobile AS landlord_mobile, "
    "r.rating AS review_rating, r.comment AS review_comment, r.created_at AS reviewed_at")
ORDER_FROM = ("FROM orders o JOIN houses h ON h.id = o.house_id JOIN areas a ON a.id = h.area_id "
              "JOIN users g ON g.id = o.guest_id "
              "JOIN users l ON l.id = h.owner_id LEFT JOIN reviews r ON r.order_id = o.id")


class BookingRefused(Exception):
    """A booking that breaks a rule; nothing was written.

    *reason* names the kind of rule, one of :data:`REFUSALS`: ``invalid`` (the dates or the
    number of guests break the listing's or the calendar's rules), ``not_found`` (no such
    listing), ``unavailable`` (the listing is not online), ``own_listing``, ``taken`` (a
    night is booked or blocked already) or ``busy`` (other bookings of the listing hold its
    rows: try again). *message* is a sentence for people; *subject* the part of the booking
    it concerns (``check_in``, ``check_out``, ``dates``, ``guests``) or None. How it is
    answered (status, form field) is the caller's business.
    """

    def __init__(self, reason: str, message: str, subject: str | None = None):
        assert reason in REFUSALS, reason
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.subject = subject


REFUSALS = ("invalid", "not_found", "unavailable", "own_listing", "taken", "busy")


class OrderConflict(Exception):
    """The action does not fit the order's current status; *message* is a sentence for people."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class OrderNotFound(Exception):
    """No order with that id."""


@dataclass(frozen=True)
class Booked:
    """A booking just made: the new order's id, the price of its nights and its deposit (fen)."""

    order_id: int
    nights: int
    amount_fen: int
    deposit_fen: int = 0


def nights_between(check_in: datetime.date, check_out: datetime.date) -> list[datetime.date]:
    """Every night of the half-open stay [check_in, check_out)."""
    return [check_in + datetime.timedelta(days=i) for i in range((check_out - check_in).days)]


def check_dates(check_in: datetime.date, check_out: datetime.date, today: datetime.date) -> None:
    """Raise :class:`BookingRefused` (``invalid``) unless check-in is today or later and check-out after it."""
    if check_in < today:
        raise BookingRefused("invalid", "入住日期不能早于今天", "check_in")
    if check_out <= check_in:
        raise BookingRefused("invalid", "离开日期须晚于入住日期", "check_out")
    if (check_out - check_in).days > MAX_NIGHTS:
        raise BookingRefused("invalid", f"一次最多预订 {MAX_NIGHTS} 晚", "check_out")


def check_length(house: dict, nights: int) -> None:
    """Raise :class:`BookingRefused` (``invalid``) unless *nights* is within the listing's
    min_days / max_days (0 = no limit)."""
    if house["min_days"] and nights < house["min_days"]:
        raise BookingRefused("invalid", f"该房源最少预订 {house['min_days']} 晚，你选了 {nights} 晚", "dates")
    if house["max_days"] and nights > house["max_days"]:
        raise BookingRefused("invalid", f"该房源最多预订 {house['max_days']} 晚，你选了 {nights} 晚", "dates")


def check_guests(house: dict, guests: int) -> None:
    """Raise :class:`BookingRefused` (``invalid``) unless 1 ≤ *guests* ≤ the listing's capacity."""
    if guests < 1:
        raise BookingRefused("invalid", "入住人数至少 1 人", "guests")
    if guests > house["capacity"]:
        raise BookingRefused("invalid", f"该房源最多住 {house['capacity']} 人，你填了 {guests} 人", "guests")


async def book(db: Database, guest_id: int, house_id: int, check_in: datetime.date,
               check_out: datetime.date, today: datetime.date, guests: int = 1,
               now: datetime.datetime | None = None) -> Booked:
    """Book *house_id* for *guest_id* and *guests* people over [check_in, check_out) in one transaction.

    Locks the listing row, settles its calendar (expired requests free their nights:
    models/lifecycle.py; *now* defaults to the local time), checks the rules in the
    issue's order (listing exists → online → not the guest's own → dates → length →
    guests within capacity → no overlap with a pending, accepted or completed order),
    inserts the order (status pending, price and deposit snapshots, amount in fen) and
    one ``booked_nights`` row per night. The primary key of ``booked_nights`` is the
    backstop: a duplicate night (another order or a host's block) becomes the same 409
    as an overlap. Raises :class:`BookingRefused`; nothing is written when it does.
    """
    now = now or datetime.datetime.now()
    try:
        async with db.transaction() as tx:
            house = await tx.queryone(
                "SELECT id, owner_id, status, price_fen, deposit_fen, capacity, min_days, max_days FROM houses "
                "WHERE id = %s FOR UPDATE", house_id)
            if house is None or house["status"] == "deleted":
                raise BookingRefused("not_found", "房源不存在")
            owner_active = await tx.scalar("SELECT is_active FROM users WHERE id = %s", house["owner_id"])
            if house["status"] != "online" or not owner_active:
                raise BookingRefused("unavailable", "该房源当前未上线，暂不接受预订")
            if house["owner_id"] == guest_id:
                raise BookingRefused("own_listing", "不能预订自己的房源")
            check_dates(check_in, check_out, today)
            nights = (check_out - check_in).days
            check_length(house, nights)
            check_guests(house, guests)
            await lifecycle.settle_house(tx, house_id, now)
            # A locking read: it sees the latest committed orders, not the snapshot
            # taken when this transaction began.
            clash = await tx.queryone(
                "SELECT id FROM orders WHERE house_id = %s AND status IN ('pending', 'accepted', 'completed') "
                "AND check_in < %s AND check_out > %s LIMIT 1 FOR UPDATE",
                house_id, check_out, check_in)
            if clash is not None:
                raise BookingRefused("taken", "所选日期已被预订，请换个日期", "dates")
            money = breakdown(house["price_fen"], nights, house["deposit_fen"])
            order_id = await tx.insert(
                "INSERT INTO orders (guest_id, house_id, check_in, check_out, nights, guests, price_fen, "
                "amount_fen, deposit_fen) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                guest_id, house_id, check_in, check_out, nights, guests, house["price_fen"],
                money.subtotal_fen, money.deposit_fen)
            await tx.executemany("INSERT INTO booked_nights (house_id, night, order_id) VALUES (%s, %s, %s)",
                                 [(house_id, night, order_id) for night in nights_between(check_in, check_out)])
            await messages.order_event(tx, order_id, "booked")
            return Booked(order_id, nights, money.subtotal_fen, money.deposit_fen)
    except pymysql.err.MySQLError as exc:
        if is_duplicate_key(exc):
            raise BookingRefused("taken", "所选日期已被预订，请换个日期", "dates") from exc
        if exc.args and exc.args[0] in LOCK_ERRORS:
            raise BookingRefused("busy", "该房源正被多人同时预订，请稍后再试", "dates") from exc
        raise


def refusal(order: dict, action: str, now: datetime.datetime,
            free_cancel_hours: int = DEFAULT_FREE_CANCEL_HOURS) -> str | None:
    """Why *action* does not fit *order* at *now* (a Chinese sentence), or None when it does.

    *order* needs ``status``, ``check_in`` and ``check_out`` (its stored status; the calendar's
    moves are applied here), and for ``review`` ``review_rating`` when known. The guest may
    cancel a pending request until check-in, an accepted stay until the free-cancellation
    deadline (*free_cancel_hours* before check-in time); the host may release an accepted
    stay until check-in time. Reviews open at check-out time for REVIEW_DAYS days.
    """
    status = lifecycle.effective_status(order, now)
    label = STATUS_LABELS.get(status, status)
    if action in ("accept", "reject"):
        if status != "pending":
            return f"订单{label}，不能再{'接单' if action == 'accept' else '拒绝'}"
        return None
    if action == "release":
        if status != "accepted":
            return f"订单{label}，不能释放"
        if now >= lifecycle.check_in_at(order["check_in"]):
            return "已到入住时间，不能再释放这次入住"
        return None
    if action == "cancel":
        if status == "pending":
            return None
        if status == "accepted":
            deadline = lifecycle.cancel_deadline(order["check_in"], free_cancel_hours)
            if now < deadline:
                return None
            return (f"免费取消已于 {deadline:%Y-%m-%d %H:%M} 截止，"
                    "现在只有房东可以取消这次入住，请联系房东")
        return f"订单{label}，不能取消"
    if action == "review":
        if order.get("review_rating"):
            return "你已经评价过这次入住"
        if status not in ("accepted", "completed"):
            return f"订单{label}，不能评价"
        window = lifecycle.review_window(order["check_out"])
        if now < window.opens:
            return f"退房后才能评价（{window.opens:%Y-%m-%d %H:%M} 起）"
        if now >= window.closes:
            return f"评价已于 {window.closes:%Y-%m-%d %H:%M} 截止（退房后 {lifecycle.REVIEW_DAYS} 天内可评价）"
        return None
    raise ValueError(f"unknown action {action!r}")


def role_of(order: dict, user_id: int) -> str | None:
    """``"guest"`` or ``"landlord"`` for the parties of *order* (needs guest_id, owner_id), else None."""
    if order["guest_id"] == user_id:
        return "guest"
    if order["owner_id"] == user_id:
        return "landlord"
    return None


def allowed_actions(order: dict, user_id: int, now: datetime.datetime,
                    free_cancel_hours: int = DEFAULT_FREE_CANCEL_HOURS) -> list[str]:
    """The actions *user_id* may take on *order* at *now* (for showing buttons)."""
    role = role_of(order, user_id)
    if role is None:
        return []
    actions = GUEST_ACTIONS if role == "guest" else LANDLORD_ACTIONS
    return [a for a in actions if refusal(order, a, now, free_cancel_hours) is None]


async def _lock(tx: Transaction, order_id: int, action: str, now: datetime.datetime,
                free_cancel_hours: int = DEFAULT_FREE_CANCEL_HOURS) -> dict:
    """Lock the order's listing, settle its calendar, then lock the order; return the order row.

    Raises :class:`OrderNotFound`, or :class:`OrderConflict` when *action* no longer fits.
    """
    house_id = await tx.scalar("SELECT house_id FROM orders WHERE id = %s", order_id)
    if house_id is None:
        raise OrderNotFound(order_id)
    await tx.queryone("SELECT id FROM houses WHERE id = %s FOR UPDATE", house_id)
    await lifecycle.settle_house(tx, house_id, now)
    order = await tx.queryone("SELECT * FROM orders WHERE id = %s FOR UPDATE", order_id)
    order["review_rating"] = await tx.scalar("SELECT rating FROM reviews WHERE order_id = %s", order_id)
    reason = refusal(order, action, now, free_cancel_hours)
    if reason:
        raise OrderConflict(reason)
    return order


async def _set_status(tx: Transaction, order_id: int, status: str, reason: str | None = None) -> None:
    await tx.execute("UPDATE orders SET status = %s, reject_reason = %s WHERE id = %s", status, reason, order_id)


async def accept(db: Database, order_id: int, now: datetime.datetime) -> dict:
    """pending (until the end of the check-in day) → accepted. Returns the order row as it was.
    Raises OrderNotFound / OrderConflict."""
    async with db.transaction() as tx:
        order = await _lock(tx, order_id, "accept", now)
        await _set_status(tx, order_id, "accepted")
        await messages.order_event(tx, order_id, "accepted")
    return order


async def reject(db: Database, order_id: int, reason: str, now: datetime.datetime) -> dict:
    """pending → rejected with the landlord's *reason*; frees the nights. Returns the order row."""
    async with db.transaction() as tx:
        order = await _lock(tx, order_id, "reject", now)
        await _set_status(tx, order_id, "rejected", reason)
        await messages.order_event(tx, order_id, "rejected")
        await tx.execute("DELETE FROM booked_nights WHERE order_id = %s", order_id)
    return order


async def cancel(db: Database, order_id: int, now: datetime.datetime,
                 free_cancel_hours: int = DEFAULT_FREE_CANCEL_HOURS) -> dict:
    """The guest's cancellation: pending, or accepted before the free-cancellation deadline
    → cancelled; frees the nights. Returns the order row. Raises OrderNotFound / OrderConflict."""
    async with db.transaction() as tx:
        order = await _lock(tx, order_id, "cancel", now, free_cancel_hours)
        await _set_status(tx, order_id, "cancelled")
        await messages.order_event(tx, order_id, "cancelled", "guest")
        await tx.execute("DELETE FROM booked_nights WHERE order_id = %s", order_id)
    return order


async def release(db: Database, order_id: int, now: datetime.datetime) -> dict:
    """The host's cancellation of an accepted stay before check-in time (also after the guest's
    free-cancellation deadline) → cancelled; frees the nights. Returns the order row."""
    async with db.transaction() as tx:
        order = await _lock(tx, order_id, "release", now)
        await _set_status(tx, order_id, "cancelled")
        await messages.order_event(tx, order_id, "cancelled", "host")
        await tx.execute("DELETE FROM booked_nights WHERE order_id = %s", order_id)
    return order


async def review(db: Database, order_id: int, rating: int, comment: str, now: datetime.datetime) -> dict:
    """Store the guest's review (*rating* 1–5, *comment*) of a stay that has ended, within its
    review window (models/lifecycle.py), in one transaction. The stay itself was completed (and
    counted in the listing's ``order_count``) by the calendar. Returns the order row."""
    try:
        async with db.transaction() as tx:
            order = await _lock(tx, order_id, "review", now)
            await tx.insert(
                "INSERT INTO reviews (order_id, house_id, author_id, rating, comment) VALUES (%s, %s, %s, %s, %s)",
                order_id, order["house_id"], order["guest_id"], rating, comment)
            await ratings.add(tx, order["house_id"], rating)  # the card's ★ and the rating sort
            await messages.order_event(tx, order_id, "reviewed")
    except pymysql.err.MySQLError as exc:
        # reviews.order_id is UNIQUE: the status check above makes this unreachable
        # short of a manual edit, and it still must not be a 500.
        if is_duplicate_key(exc):
            raise OrderConflict("你已经评价过这次入住") from exc
        raise
    return order


async def get(db: Database, order_id: int, now: datetime.datetime | None = None) -> dict | None:
    """One order with its listing (title, owner_id, address, neighbourhood, area, cover_key), the
    two parties' names and mobiles and its review (review_rating / review_comment, NULL until
    reviewed); ``status`` is the status at *now* (default: the local time); None when unknown."""
    row = await db.queryone(f"SELECT {ORDER_COLUMNS} {ORDER_FROM} WHERE o.id = %s", order_id)
    return row and lifecycle.apply(row, now or datetime.datetime.now())


async def for_user(db: Database, user_id: int, role: str, limit: int, offset: int = 0,
                   now: datetime.datetime | None = None) -> tuple[list[dict], int]:
    """The orders where *user_id* is the guest (*role* ``"guest"``) or the landlord
    (``"landlord"``), newest first: (rows of ORDER_COLUMNS with the status at *now*, total count)."""
    column = "o.guest_id" if role == "guest" else "h.owner_id"
    total = await db.scalar(f"SELECT COUNT(*) FROM orders o JOIN houses h ON h.id = o.house_id "
                            f"WHERE {column} = %s", user_id)
    rows = await db.query(f"SELECT {ORDER_COLUMNS} {ORDER_FROM} WHERE {column} = %s "
                          "ORDER BY o.created_at DESC, o.id DESC LIMIT %s OFFSET %s", user_id, limit, offset)
    now = now or datetime.datetime.now()
    return [lifecycle.apply(row, now) for row in rows], int(total)


async def pending_count(db: Database, owner_id: int, now: datetime.datetime | None = None) -> int:
    """How many booking requests on *owner_id*'s listings wait for an answer at *now*
    (pending, check-in day not yet over). One indexed COUNT: ix_houses_owner, then
    ix_orders_house_status_in per listing."""
    return int(await db.scalar(
        "SELECT COUNT(*) FROM houses h JOIN orders o ON o.house_id = h.id "
        "WHERE h.owner_id = %s AND o.status = 'pending' AND o.check_in > %s",
        owner_id, lifecycle.expired_through(now or datetime.datetime.now())))


async def has_stay(db: Database, guest_id: int, house_id: int) -> bool:
    """True when *guest_id* has an accepted (or completed) order for *house_id*: such a guest
    may see the listing's street address."""
    return bool(await db.scalar(
        "SELECT 1 FROM orders WHERE house_id = %s AND guest_id = %s AND status IN ('accepted', 'completed') "
        "LIMIT 1", house_id, guest_id))


async def booked_nights(db: Database, house_id: int, start: datetime.date, end: datetime.date,
                        now: datetime.datetime | None = None) -> list[datetime.date]:
    """The unavailable nights of *house_id* in [start, end), ascending: booked by an order or
    blocked by the host, leaving out the nights of requests that expired at *now* (default: the
    local time) and wait for :func:`models.lifecycle.settle` to delete them."""
    rows = await db.query(
        "SELECT bn.night FROM booked_nights bn LEFT JOIN orders o ON o.id = bn.order_id "
        "WHERE bn.house_id = %s AND bn.night >= %s AND bn.night < %s "
        "AND NOT (o.id IS NOT NULL AND o.status = 'pending' AND o.check_in <= %s) ORDER BY bn.night",
        house_id, start, end, lifecycle.expired_through(now or datetime.datetime.now()))
    return [r["night"] for r in rows]
