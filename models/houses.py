"""SQL for listings: ``houses``, ``house_facilities`` and ``house_images``.

Money columns are fen. A listing is public when its status is ``online`` and its
owner's account is active; :data:`models.search.PUBLIC` is that condition for queries that
alias houses as ``h``. The owner's flag is copied onto ``houses.owner_active`` (kept by
the admin disable/enable transaction) so that the public pages' queries read one
table in the order of one index: every index of migration 0017 starts with
(status, owner_active), then the area when there is one, then the sort column.

The public pages' queries (cards, home page, search) are in models/search.py.
"""

from __future__ import annotations

import asyncio
import random
from typing import Awaitable, Callable, TypeVar

import pymysql

from models.db import Database, Transaction
from models.search import CARD_COLUMNS, PUBLIC

# Columns a landlord edits through the form (besides facilities).
EDITABLE = ("title", "description", "price_fen", "area_id", "address", "neighbourhood", "room_count",
            "acreage", "unit", "capacity", "beds", "deposit_fen", "min_days", "max_days")
# Editable columns a caller may leave out of *values*, with the value they then get.
EDITABLE_DEFAULTS = {"neighbourhood": ""}


def _value(values: dict, column: str):
    """*values*[column], or its EDITABLE_DEFAULTS value when left out; KeyError otherwise."""
    if column in values or column not in EDITABLE_DEFAULTS:
        return values[column]
    return EDITABLE_DEFAULTS[column]


async def create(tx: Transaction, owner_id: int, values: dict, facility_ids: list[int],
                 status: str = "online") -> int:
    """Insert a listing with *values* (EDITABLE keys) and its facilities; returns its id."""
    cols = ", ".join(EDITABLE)
    marks = ", ".join(["%s"] * len(EDITABLE))
    house_id = await tx.insert(
        f"INSERT INTO houses (owner_id, status, {cols}) VALUES (%s, %s, {marks})",
        owner_id, status, *[_value(values, c) for c in EDITABLE])
    await set_facilities(tx, house_id, facility_ids)
    return house_id


async def update(tx: Transaction, house_id: int, values: dict, facility_ids: list[int]) -> None:
    """Overwrite the editable columns and the facility set of *house_id*."""
    assignments = ", ".join(f"{c} = %s" for c in EDITABLE)
    await tx.execute(f"UPDATE houses SET {assignments} WHERE id = %s",
                     *[_value(values, c) for c in EDITABLE], house_id)
    await set_facilities(tx, house_id, facility_ids)


async def set_facilities(tx: Transaction, house_id: int, facility_ids: list[int]) -> None:
    """Replace the listing's facility set with *facility_ids* (duplicates ignored)."""
    await tx.execute("DELETE FROM house_facilities WHERE house_id = %s", house_id)
    if facility_ids:
        await tx.executemany("INSERT INTO house_facilities (house_id, facility_id) VALUES (%s, %s)",
                             [(house_id, f) for f in sorted(set(facility_ids))])


async def set_status(db: Database | Transaction, house_id: int, status: str, review_note: str | None = None) -> int:
    """Set a listing's status (and moderation note); returns rows changed."""
    return await db.execute("UPDATE houses SET status = %s, review_note = %s WHERE id = %s",
                            status, review_note, house_id)


async def get(db: Database | Transaction, house_id: int) -> dict | None:
    """One listing with area and owner columns, any status; None when unknown or deleted."""
    return await db.queryone(
        "SELECT h.*, a.name AS area_name, a.city AS city, a.province AS province, "
        "u.name AS owner_name, u.avatar_key AS owner_avatar_key, u.is_active AS owner_active "
        "FROM houses h JOIN areas a ON a.id = h.area_id JOIN users u ON u.id = h.owner_id "
        "WHERE h.id = %s AND h.status <> 'deleted'", house_id)


async def facility_ids(db: Database | Transaction, house_id: int) -> list[int]:
    """The ids of the listing's facilities, ascending."""
    rows = await db.query("SELECT facility_id FROM house_facilities WHERE house_id = %s ORDER BY facility_id",
                          house_id)
    return [r["facility_id"] for r in rows]


async def facilities(db: Database, house_id: int) -> list[dict]:
    """The listing's facilities: [{id, name, icon}]."""
    return await db.query(
        "SELECT f.id, f.name, f.icon FROM house_facilities hf JOIN facilities f ON f.id = hf.facility_id "
        "WHERE hf.house_id = %s ORDER BY f.id", house_id)


async def images(db: Database | Transaction, house_id: int) -> list[dict]:
    """The listing's photos in display order: [{id, storage_key, width, height, position}]."""
    return await db.query(
        "SELECT id, storage_key, width, height, position FROM house_images WHERE house_id = %s "
        "ORDER BY position, id", house_id)


T = TypeVar("T")

LOCK_ERRORS = (1205, 1213)  # lock wait timeout, deadlock: worth another try
PHOTO_LOCK_ATTEMPTS = 3


class ListingBusy(Exception):
    """The listing's row stayed locked (MariaDB 1205 lock wait timeout or 1213
    deadlock) through every attempt: nothing was written; try again later."""


class ListingGone(Exception):
    """The listing does not exist, or was deleted, by the time its row was locked."""


async def photo_write(db: Database, house_id: int,
                      work: Callable[[Transaction, dict], Awaitable[T]],
                      *, attempts: int = PHOTO_LOCK_ATTEMPTS) -> T:
    """Run ``await work(tx, house)`` in one transaction that locks the listing row first.

    Every write that touches a listing's photos goes through here, so it takes
    the locks in the order the booking code does (models/orders.py): the
    ``houses`` row (``SELECT … FOR UPDATE``) before any ``house_images`` row.
    Without it, an ``INSERT INTO house_images`` takes a shared lock on the
    listing through the foreign key and the following ``UPDATE houses`` needs
    an exclusive one: two uploads at once deadlocked (MariaDB 1213).

    *house* is {id, owner_id, status, cover_image_id} as locked. Raises
    :class:`ListingGone` when the listing is unknown or deleted, and
    :class:`ListingBusy` when 1205/1213 persisted through *attempts*
    transactions (each rolled back, so *work* must only write through *tx*).
    """
    for attempt in range(1, attempts + 1):
        try:
            async with db.transaction() as tx:
                house = await tx.queryone(
                    "SELECT id, owner_id, status, cover_image_id FROM houses WHERE id = %s FOR UPDATE", house_id)
                if house is None or house["status"] == "deleted":
                    raise ListingGone(house_id)
                return await work(tx, house)
        except pymysql.err.MySQLError as exc:
            if not (exc.args and exc.args[0] in LOCK_ERRORS):
                raise
            if attempt == attempts:
                raise ListingBusy(house_id) from exc
            # Back off a little, with jitter, so the retries do not collide again.
            await asyncio.sleep(random.uniform(0.02, 0.1) * attempt)
    raise AssertionError("unreachable")


async def add_image(tx: Transaction, house_id: int, key: str, width: int, height: int) -> int:
    """Append a photo row (and make it the cover when there is none); returns its id.

    Call inside :func:`photo_write` (the listing row must be locked first).
    """
    position = await tx.scalar("SELECT COALESCE(MAX(position) + 1, 0) FROM house_images WHERE house_id = %s",
                               house_id)
    image_id = await tx.insert(
        "INSERT INTO house_images (house_id, storage_key, width, height, position) VALUES (%s, %s, %s, %s, %s)",
        house_id, key, width, height, position)
    await tx.execute("UPDATE houses SET cover_image_id = %s WHERE id = %s AND cover_image_id IS NULL",
                     image_id, house_id)
    return image_id


async def delete_image(tx: Transaction, house_id: int, image_id: int) -> str | None:
    """Remove a photo row; moves the cover to the next photo. Returns its storage key, or None.

    Call inside :func:`photo_write` (the listing row must be locked first).
    """
    row = await tx.queryone("SELECT storage_key FROM house_images WHERE id = %s AND house_id = %s FOR UPDATE",
                            image_id, house_id)
    if row is None:
        return None
    await tx.execute("DELETE FROM house_images WHERE id = %s", image_id)
    await tx.execute(
        "UPDATE houses SET cover_image_id = (SELECT id FROM house_images WHERE house_id = %s "
        "ORDER BY position, id LIMIT 1) WHERE id = %s AND (cover_image_id = %s OR cover_image_id IS NULL)",
        house_id, house_id, image_id)
    return row["storage_key"]


async def set_cover(db: Database | Transaction, house_id: int, image_id: int) -> bool:
    """Make *image_id* the cover of *house_id*; False when the photo is not the listing's.

    Call inside :func:`photo_write` (the listing row must be locked first).
    """
    return bool(await db.execute(
        "UPDATE houses SET cover_image_id = %s WHERE id = %s AND "
        "EXISTS (SELECT 1 FROM house_images WHERE id = %s AND house_id = %s)",
        image_id, house_id, image_id, house_id))


async def delete_listing(tx: Transaction, house_id: int) -> list[str]:
    """Soft-delete a listing (status 'deleted') and drop its photo rows; returns their storage keys.

    Call inside :func:`photo_write`. The caller removes the files only after
    the transaction has committed, so a rolled-back delete never loses a photo.
    Bookings keep their rows (they show no cover once the photos are gone).
    """
    rows = await tx.query("SELECT storage_key FROM house_images WHERE house_id = %s", house_id)
    await tx.execute("UPDATE houses SET status = 'deleted', cover_image_id = NULL WHERE id = %s", house_id)
    await tx.execute("DELETE FROM house_images WHERE house_id = %s", house_id)
    return [r["storage_key"] for r in rows]


async def media_access(db: Database, key: str) -> dict | None:
    """Who may see the picture *key* (32 hex digits): None when no row uses it.

    {kind: "avatar", public: True, owner_id} for a user's avatar (always public);
    {kind: "photo", public: bool, owner_id, status} for a listing photo, public
    when the listing is online and its owner active.
    """
    row = await db.queryone(
        f"SELECT h.owner_id, h.status, ({PUBLIC}) AS public FROM house_images i "
        "JOIN houses h ON h.id = i.house_id JOIN users u ON u.id = h.owner_id "
        "WHERE i.storage_key = %s LIMIT 1", key)
    if row is not None:
        return {"kind": "photo", "public": bool(row["public"]), "owner_id": row["owner_id"],
                "status": row["status"]}
    owner = await db.scalar("SELECT id FROM users WHERE avatar_key = %s LIMIT 1", key)
    if owner is not None:
        return {"kind": "avatar", "public": True, "owner_id": owner}
    return None


async def by_owner(db: Database, owner_id: int) -> list[dict]:
    """All of an owner's listings (any status but deleted), newest first."""
    return await db.query(
        f"SELECT {CARD_COLUMNS}, h.review_note FROM houses h JOIN areas a ON a.id = h.area_id "
        "JOIN users u ON u.id = h.owner_id WHERE h.owner_id = %s AND h.status <> 'deleted' "
        "ORDER BY h.created_at DESC, h.id DESC", owner_id)
