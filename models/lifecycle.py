"""The calendar side of an order's life: check-in and check-out times, the free-cancellation
deadline, the review window, and the statuses the calendar moves an order into.

Times are the server's local wall-clock time (naive ``datetime``), the clock the booking
form's dates are read on. A stay [check_in, check_out) begins at :data:`CHECK_IN_HOUR` on the
check-in day and ends at :data:`CHECK_OUT_HOUR` on the check-out day.

The calendar moves an order on its own (no one clicks anything)::

    pending  ── check-in day ends, host never answered ─────> expired   (nights freed)
    accepted ── check-out time passes ──────────────────────> completed (counted in order_count)

Both are computed when an order is read (:func:`effective_status`), so a page is right the
moment the time passes, and written by :func:`settle` (a periodic task, and before a booking
or an action on the same listing), so searches and counts catch up. No stay is completed
before its check-out time, however early the task runs. Every function takes ``now``: tests
pass it instead of waiting.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from dataclasses import dataclass

from models import messages
from models.db import Database
from services.background import stop_task

CHECK_IN_HOUR = 14   # guests arrive from 14:00 on the check-in day
CHECK_OUT_HOUR = 12  # and leave by 12:00 on the check-out day
REVIEW_DAYS = 14     # reviews open at check-out time for this many days
SETTLE_BATCH = 500   # listings settled per run of settle(); the next run takes the rest
SETTLE_INTERVAL = 300.0  # seconds between the server's settling runs (Settler)

log = logging.getLogger("ihome.lifecycle")


def check_in_at(check_in: datetime.date) -> datetime.datetime:
    """When a stay beginning on *check_in* begins (CHECK_IN_HOUR, local)."""
    return datetime.datetime.combine(check_in, datetime.time(CHECK_IN_HOUR))


def check_out_at(check_out: datetime.date) -> datetime.datetime:
    """When a stay ending on *check_out* ends (CHECK_OUT_HOUR, local)."""
    return datetime.datetime.combine(check_out, datetime.time(CHECK_OUT_HOUR))


def cancel_deadline(check_in: datetime.date, free_cancel_hours: int) -> datetime.datetime:
    """The last moment (exclusive) a guest may cancel free of charge: *free_cancel_hours*
    before check-in time. From that moment on only the host can release the stay."""
    return check_in_at(check_in) - datetime.timedelta(hours=free_cancel_hours)


@dataclass(frozen=True)
class ReviewWindow:
    """[opens, closes): when the guest may review a stay."""

    opens: datetime.datetime
    closes: datetime.datetime


def review_window(check_out: datetime.date) -> ReviewWindow:
    """Reviews open at check-out time and stay open REVIEW_DAYS days."""
    opens = check_out_at(check_out)
    return ReviewWindow(opens, opens + datetime.timedelta(days=REVIEW_DAYS))


def expired_through(now: datetime.datetime) -> datetime.date:
    """Pending requests whose check_in is on or before this day are expired at *now*.

    A request may be answered until the end of its check-in day, not just until 14:00: a
    same-day booking made in the evening (a late arrival) must not expire the moment it is made.
    """
    return now.date() - datetime.timedelta(days=1)


def completed_through(now: datetime.datetime) -> datetime.date:
    """Accepted stays whose check_out is on or before this day are completed at *now*."""
    return now.date() if now.time() >= datetime.time(CHECK_OUT_HOUR) else now.date() - datetime.timedelta(days=1)


def effective_status(order: dict, now: datetime.datetime) -> str:
    """*order*'s status at *now* (needs status, check_in, check_out): the stored one, or
    ``expired`` / ``completed`` once the calendar has moved it and :func:`settle` has not yet."""
    status = order["status"]
    if status == "pending" and order["check_in"] <= expired_through(now):
        return "expired"
    if status == "accepted" and order["check_out"] <= completed_through(now):
        return "completed"
    return status


def apply(order: dict, now: datetime.datetime) -> dict:
    """*order* with ``status`` replaced by its :func:`effective_status` (in place; returned)."""
    order["status"] = effective_status(order, now)
    return order


async def settle_house(tx, house_id: int, now: datetime.datetime) -> tuple[int, int]:
    """In *tx*, which holds the lock on listing *house_id*: expire its pending requests past
    check-in (deleting their booked nights) and complete its accepted stays past check-out
    (adding them to houses.order_count); each expired request gets its system message in the
    order's conversation. Returns (expired, completed)."""
    stale = await tx.query(
        "SELECT id FROM orders WHERE house_id = %s AND status = 'pending' AND check_in <= %s FOR UPDATE",
        house_id, expired_through(now))
    ids = [r["id"] for r in stale]
    if ids:
        marks = ", ".join(["%s"] * len(ids))
        await tx.execute(f"UPDATE orders SET status = 'expired' WHERE id IN ({marks})", *ids)
        await tx.execute(f"DELETE FROM booked_nights WHERE order_id IN ({marks})", *ids)
        for order_id in ids:  # the guest and the host read in their conversation that it lapsed
            await messages.order_event(tx, order_id, "expired")
    done = await tx.execute(
        "UPDATE orders SET status = 'completed' WHERE house_id = %s AND status = 'accepted' AND check_out <= %s",
        house_id, completed_through(now))
    if done:
        await tx.execute("UPDATE houses SET order_count = order_count + %s WHERE id = %s", done, house_id)
    return len(ids), int(done or 0)


async def settle(db: Database, now: datetime.datetime, limit: int = SETTLE_BATCH) -> dict:
    """Write the calendar's transitions for up to *limit* listings: one short transaction per
    listing, each locking the listing row first (the order module's lock order).

    Returns {"houses": n, "expired": n, "completed": n, "house_ids": [...]} — the ids whose
    availability or stay count changed, for the caller to refresh caches.
    """
    rows = await db.query(
        "(SELECT house_id FROM orders WHERE status = 'pending' AND check_in <= %s) UNION "
        "(SELECT house_id FROM orders WHERE status = 'accepted' AND check_out <= %s) LIMIT %s",
        expired_through(now), completed_through(now), limit)
    totals = {"houses": 0, "expired": 0, "completed": 0, "house_ids": []}
    for row in rows:
        async with db.transaction() as tx:
            await tx.queryone("SELECT id FROM houses WHERE id = %s FOR UPDATE", row["house_id"])
            expired, completed = await settle_house(tx, row["house_id"], now)
        totals["houses"] += 1
        totals["expired"] += expired
        totals["completed"] += completed
        totals["house_ids"].append(row["house_id"])
    if rows:
        log.info("settled %(houses)d listing(s): %(expired)d expired, %(completed)d completed", totals)
    return totals


class Settler:
    """Runs :func:`settle` every *interval* seconds in this process (server.py starts it), so
    searches, counts and the home page's ranking catch up with the calendar without a request.

    *on_settled* is awaited with the ids of the listings that changed (the page and search
    caches refresh them). Idempotent and lock-ordered like every order write, so several
    processes may run it at once. Never raises: a failing database is logged and retried at
    the next tick.
    """

    def __init__(self, db: Database, on_settled, interval: float = SETTLE_INTERVAL, clock=datetime.datetime.now):
        self.db = db
        self.on_settled = on_settled
        self.interval = interval
        self.clock = clock
        self.runs = 0  # completed runs, for tests and logs
        self._task = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)

    async def run_once(self) -> dict | None:
        """One settling pass; the totals, or None when it failed (logged)."""
        try:
            result = await settle(self.db, self.clock())
            if result["house_ids"]:
                await self.on_settled(result["house_ids"])
            return result
        except Exception:  # the task must outlive a failing database or cache
            log.exception("settling orders failed; retrying in %.0f s", self.interval)
            return None
        finally:
            self.runs += 1

    async def _loop(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self.interval)
