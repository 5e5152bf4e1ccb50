"""The listing and its life cycle: ``houses``, ``house_facilities``, ``house_images``,
``house_revisions`` and the host's blocked nights (``house_blocks``).

Money columns are fen; stays and blocks are half-open date ranges ``[check_in, check_out)``.
A listing is public when its status is ``online`` and its owner's account is active;
:data:`models.search.PUBLIC` is that condition for queries that alias houses as ``h``.
The owner's flag is copied onto ``houses.owner_active`` (kept by the admin
disable/enable transaction) so that the public pages' queries read one table in the
order of one index (migration 0017). Those queries are in models/search.py.

Life cycle (``houses.status``)::

    host publishes ──> pending ──approve──> online ──offline──> offline
                        │  ^                  │                   │
                 reject │  │ host edits       │ reject            │ approve
                        v  │ (resubmits)      v                   v
                       rejected <─────────────┘                 online
                        │
                        └──approve──> online
    pending ──offline──> offline            any status ──host deletes──> deleted (soft)

    admin: approve  pending | rejected | offline → online
           reject   pending | online            → rejected (with a note for the host)
           offline  pending | online            → offline  (only an admin brings it back)

Revisions (``house_revisions``, one row per listing at most): an ``online`` listing
never leaves ``online`` because its host edits it. Changes that need review — title,
description, photos added or removed, a new cover — become ONE pending revision
while the approved version stays public; everything else (price, facilities, rooms,
address, …) applies at once::

    (none) ──host edits title/description/photos/cover──> pending ──admin approves──> applied, (none)
                                                            │  ──host withdraws──> (none)
                                                            └──admin rejects (note)──> rejected
    rejected ──host's next save or withdrawal──> pending / (none)

Photos of a revision live in ``house_images`` with a ``stage``: ``added`` (not public
until approved; the file is removed if the revision is withdrawn or rejected) and
``removed`` (still public until approved; its file goes on approval). The proposed
cover is ``house_revisions.cover_image_id``. A revision exists only while the listing
is online: an admin's reject or offline folds a pending revision into the listing
(now hidden, so nothing unreviewed goes public; the next approval reviews it all).
Edits of a listing that is not online apply directly; a rejected listing's edit
resubmits it (→ pending).

Blocked nights: a host's block is a ``house_blocks`` row plus one ``booked_nights``
row per night with ``block_id`` set (``order_id`` NULL), so the primary key
(house_id, night) refuses a block and a booking on the same night, whichever comes
first; search's anti-join and the booking code need no change. Blocking merges with
overlapping or adjacent blocks; unblocking a range removes those nights only,
splitting a block when the range is inside it.
Blocks imported from an external calendar carry ``feed_id`` (models/calendar_sync.py):
the host's blocks never merge with them, a host's block over their nights is refused
like one over guests' nights, and unblocking frees them (the feed's next sync takes
them again while the other platform still lists them).

Locking: every write here runs through :func:`locked_write`, which locks the listing
row (``SELECT … FOR UPDATE``) before anything else, as the booking code does
(models/orders.py), and retries deadlocks and lock timeouts. Errors are neutral
(:class:`ListingError` subclasses); handlers turn them into answers.
"""

from __future__ import annotations

import asyncio
import datetime
import random
from dataclasses import dataclass, field
from typing import Awaitable, Callable, TypeVar

import pymysql

from models import admin as admin_log
from models import lifecycle
from models.db import Database, Transaction, is_duplicate_key
from models.search import CARD_COLUMNS, PUBLIC

STATUSES = ("pending", "online", "rejected", "offline", "deleted")

# action -> (statuses it may start from, status it leads to)
MODERATION: dict[str, tuple[frozenset[str], str]] = {
    "approve": (frozenset({"pending", "rejected", "offline"}), "online"),
    "reject": (frozenset({"pending", "online"}), "rejected"),
    "offline": (frozenset({"pending", "online"}), "offline"),
}

# Columns a landlord edits through the form (besides facilities).
EDITABLE = ("title", "description", "price_fen", "area_id", "address", "neighbourhood", "room_count",
            "acreage", "unit", "capacity", "beds", "deposit_fen", "min_days", "max_days")
# Editable columns a caller may leave out of *values*, with the value they then get.
EDITABLE_DEFAULTS = {"neighbourhood": ""}
# The editable columns whose change to an online listing waits for review (with photos and cover).
REVIEWED = ("title", "description")

MAX_BLOCK_NIGHTS = 365   # one block request writes at most this many booked_nights rows
BLOCK_HORIZON_DAYS = 730  # nights further ahead than this cannot be blocked

T = TypeVar("T")

LOCK_ERRORS = (1205, 1213)  # lock wait timeout, deadlock: worth another try
PHOTO_LOCK_ATTEMPTS = 3


# -- errors -------------------------------------------------------------------------

class ListingError(Exception):
    """Base of the listing's domain errors; nothing was written when one is raised."""


class ListingBusy(ListingError):
    """The listing's row stayed locked (MariaDB 1205 lock wait timeout or 1213
    deadlock) through every attempt: nothing was written; try again later."""


class ListingGone(ListingError):
    """The listing does not exist, or was deleted, by the time its row was locked."""


class TransitionRefused(ListingError):
    """The moderation *action* does not start from the listing's current *status*."""

    def __init__(self, action: str, status: str):
        super().__init__(action, status)
        self.action = action
        self.status = status


class NoRevision(ListingError):
    """The listing has no revision in the state the action needs (pending to decide, any to withdraw)."""


class PhotoNotFound(ListingError):
    """The photo is not one of the listing's (or is already marked for removal)."""


class DatesRefused(ListingError):
    """A block or unblock range that breaks a rule; *reason* is one of
    ``past`` (starts before today), ``order`` (check-out not after check-in),
    ``too_long`` (more than MAX_BLOCK_NIGHTS nights), ``too_far`` (past BLOCK_HORIZON_DAYS)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class DatesTaken(ListingError):
    """A block over nights that guests have booked; *nights* are those nights, ascending."""

    def __init__(self, nights: list[datetime.date]):
        super().__init__(nights)
        self.nights = nights


# -- small reads ----------------------------------------------------------------------

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


IMAGE_VIEWS = {
    "public": "('live', 'removed')",  # what everyone sees: the approved photos
    "draft": "('live', 'added')",     # what the listing will show once its revision is approved
    "all": "('live', 'added', 'removed')",
}


async def images(db: Database | Transaction, house_id: int, view: str = "public") -> list[dict]:
    """The listing's photos in display order: [{id, storage_key, width, height, position, stage}].

    *view* is ``public`` (the approved photos: a pending revision's additions are left
    out, its removals still in), ``draft`` (as the pending revision would leave them)
    or ``all``.
    """
    return await db.query(
        "SELECT id, storage_key, width, height, position, stage FROM house_images "
        f"WHERE house_id = %s AND stage IN {IMAGE_VIEWS[view]} ORDER BY position, id", house_id)


async def revision(db: Database | Transaction, house_id: int) -> dict | None:
    """The listing's revision {house_id, status (pending | rejected), title, description,
    cover_image_id, review_note, created_at, updated_at}, or None."""
    return await db.queryone("SELECT * FROM house_revisions WHERE house_id = %s", house_id)


def same_text(value: str | None) -> str:
    """*value* as compared for review: browsers post textarea line breaks as CRLF."""
    return (value or "").replace("\r\n", "\n").strip()


def changed_fields(house: dict, rev: dict) -> list[str]:
    """The REVIEWED columns whose text *rev* changes on *house*."""
    return [c for c in REVIEWED if same_text(rev.get(c)) != same_text(house.get(c))]


async def photo_keys_after(db: Database, after_id: int, limit: int = 500) -> list[dict]:
    """One batch of listing photos in id order, for walking them all with bounded memory:
    [{id, storage_key}] of at most *limit* rows with id > *after_id* (0 to start)."""
    return await db.query("SELECT id, storage_key FROM house_images WHERE id > %s ORDER BY id LIMIT %s",
                          after_id, limit)


async def media_access(db: Database, key: str) -> dict | None:
    """Who may see the picture *key* (32 hex digits): None when no row uses it.

    {kind: "avatar", public: True, owner_id} for a user's avatar (always public);
    {kind: "photo", public: bool, owner_id, status} for a listing photo, public
    when the listing is online, its owner active and the photo approved (a photo
    added by a pending revision is the owner's and the admins' until approval).
    """
    row = await db.queryone(
        f"SELECT h.owner_id, h.status, ({PUBLIC} AND i.stage <> 'added') AS public FROM house_images i "
        "JOIN houses h ON h.id = i.house_id JOIN users u ON u.id = h.owner_id "
        "WHERE i.storage_key = %s LIMIT 1", key)
    if row is not None:
        return {"kind": "photo", "public": bool(row["public"]), "owner_id": row["owner_id"],
                "status": row["status"]}
    owner = await db.scalar("SELECT id FROM users WHERE avatar_key = %s LIMIT 1", key)
    if owner is not None:
        return {"kind": "avatar", "public": True, "owner_id": owner}
    return None


# -- my listings ------------------------------------------------------------------------

OWNER_FILTERS = ("all", "online", "pending", "rejected", "offline")


async def owner_counts(db: Database, owner_id: int) -> dict[str, int]:
    """{filter: number of the owner's listings} for every OWNER_FILTERS entry (``all`` = not deleted)."""
    rows = await db.query("SELECT status, COUNT(*) AS n FROM houses WHERE owner_id = %s AND status <> 'deleted' "
                          "GROUP BY status", owner_id)
    counts = {f: 0 for f in OWNER_FILTERS}
    for row in rows:
        counts[row["status"]] = int(row["n"])
    counts["all"] = sum(int(r["n"]) for r in rows)
    return counts


async def by_owner(db: Database, owner_id: int, status: str = "all", limit: int = 1000,
                   offset: int = 0) -> list[dict]:
    """The owner's listings with *status* (an OWNER_FILTERS entry), newest first.

    Rows: CARD_COLUMNS plus review_note, revision_status (pending | rejected | None)
    and revision_note.
    """
    where, args = "h.status <> 'deleted'", [owner_id]
    if status != "all":
        where, args = "h.status = %s", [owner_id, status]
    return await db.query(
        f"SELECT {CARD_COLUMNS}, h.review_note, r.status AS revision_status, r.review_note AS revision_note "
        "FROM houses h JOIN areas a ON a.id = h.area_id JOIN users u ON u.id = h.owner_id "
        "LEFT JOIN house_revisions r ON r.house_id = h.id "
        f"WHERE h.owner_id = %s AND {where} ORDER BY h.created_at DESC, h.id DESC LIMIT %s OFFSET %s",
        *args, limit, offset)


# -- the locked write -------------------------------------------------------------------

async def locked_write(db: Database, house_id: int,
                       work: Callable[[Transaction, dict], Awaitable[T]],
                       *, attempts: int = PHOTO_LOCK_ATTEMPTS, deleted_ok: bool = False) -> T:
    """Run ``await work(tx, house)`` in one transaction that locks the listing row first.

    Every write to a listing goes through here, so it takes the locks in the order
    the booking code does (models/orders.py): the ``houses`` row (``SELECT … FOR
    UPDATE``) before any ``house_images``, revision or ``booked_nights`` row.
    Without it, an ``INSERT INTO house_images`` takes a shared lock on the listing
    through the foreign key and the following ``UPDATE houses`` needs an exclusive
    one: two uploads at once deadlocked (MariaDB 1213).

    *house* is the locked ``houses`` row (all columns). Raises :class:`ListingGone`
    when the listing is unknown or (unless *deleted_ok*) deleted, and :class:`ListingBusy` when 1205/1213
    persisted through *attempts* transactions (each rolled back, so *work* must only
    write through *tx*); *work*'s own errors pass through (after the rollback).
    """
    for attempt in range(1, attempts + 1):
        try:
            async with db.transaction() as tx:
                house = await tx.queryone("SELECT * FROM houses WHERE id = %s FOR UPDATE", house_id)
                if house is None or (house["status"] == "deleted" and not deleted_ok):
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


photo_write = locked_write  # the name the photo code and its tests know


# -- publish and edit -------------------------------------------------------------------

def _value(values: dict, column: str):
    """*values*[column], or its EDITABLE_DEFAULTS value when left out; KeyError otherwise."""
    if column in values or column not in EDITABLE_DEFAULTS:
        return values[column]
    return EDITABLE_DEFAULTS[column]


async def create(tx: Transaction, owner_id: int, values: dict, facility_ids: list[int],
                 status: str = "online") -> int:
    """Insert a listing with *values* (EDITABLE keys) and its facilities inside *tx*; returns its id.

    The site publishes through :func:`publish`; this is for it, the seed and tests.
    """
    cols = ", ".join(EDITABLE)
    marks = ", ".join(["%s"] * len(EDITABLE))
    house_id = await tx.insert(
        f"INSERT INTO houses (owner_id, status, {cols}) VALUES (%s, %s, {marks})",
        owner_id, status, *[_value(values, c) for c in EDITABLE])
    await set_facilities(tx, house_id, facility_ids)
    return house_id


async def publish(db: Database, owner_id: int, values: dict, facility_ids: list[int]) -> int:
    """A new listing of *owner_id*, ``pending`` until an admin's first approval; returns its id."""
    async with db.transaction() as tx:
        return await create(tx, owner_id, values, facility_ids, status="pending")


async def update(tx: Transaction, house_id: int, values: dict, facility_ids: list[int],
                 columns: tuple[str, ...] = EDITABLE) -> None:
    """Overwrite *columns* (EDITABLE by default) and the facility set of *house_id* inside *tx*."""
    assignments = ", ".join(f"{c} = %s" for c in columns)
    await tx.execute(f"UPDATE houses SET {assignments} WHERE id = %s",
                     *[_value(values, c) for c in columns], house_id)
    await set_facilities(tx, house_id, facility_ids)


async def set_facilities(tx: Transaction, house_id: int, facility_ids: list[int]) -> None:
    """Replace the listing's facility set with *facility_ids* (duplicates ignored)."""
    await tx.execute("DELETE FROM house_facilities WHERE house_id = %s", house_id)
    if facility_ids:
        await tx.executemany("INSERT INTO house_facilities (house_id, facility_id) VALUES (%s, %s)",
                             [(house_id, f) for f in sorted(set(facility_ids))])


@dataclass(frozen=True)
class EditOutcome:
    """What an edit did: *outcome* is ``saved`` (applied; status unchanged), ``resubmitted``
    (a rejected listing went back to pending) or ``revision`` (reviewed changes wait in
    the pending revision; the rest applied); *status* is the listing's status after it."""

    outcome: str
    status: str


async def edit(db: Database, house_id: int, values: dict, facility_ids: list[int]) -> EditOutcome:
    """The owner's edit of *house_id* with *values* (all EDITABLE keys, money in fen).

    Online: the REVIEWED columns go to the pending revision (created, updated, or
    dropped when nothing reviewed differs any more), the others apply at once.
    Rejected: everything applies and the listing goes back to pending. Pending and
    offline: everything applies. The status is decided on the locked row, so an
    approval racing the edit cannot let unreviewed text go online. Raises
    ListingGone / ListingBusy.
    """
    async def work(tx: Transaction, house: dict) -> EditOutcome:
        if house["status"] == "online":
            immediate = tuple(c for c in EDITABLE if c not in REVIEWED)
            await update(tx, house_id, values, facility_ids, immediate)
            await _propose(tx, house, {c: values[c] for c in REVIEWED})
            pending = await _settle_revision(tx, house)
            return EditOutcome("revision" if pending else "saved", "online")
        await update(tx, house_id, values, facility_ids)
        if house["status"] == "rejected":
            await _set_status(tx, house_id, "pending", None)
            return EditOutcome("resubmitted", "pending")
        return EditOutcome("saved", house["status"])
    return await locked_write(db, house_id, work)


async def _set_status(tx: Transaction, house_id: int, status: str, review_note: str | None) -> None:
    await tx.execute("UPDATE houses SET status = %s, review_note = %s WHERE id = %s", status, review_note, house_id)


async def set_status(db: Database | Transaction, house_id: int, status: str, review_note: str | None = None) -> int:
    """Set a listing's status and moderation note directly (seed and tests; the site uses
    :func:`moderate`); returns rows changed."""
    return await db.execute("UPDATE houses SET status = %s, review_note = %s WHERE id = %s",
                            status, review_note, house_id)


# -- revisions ------------------------------------------------------------------------

async def _propose(tx: Transaction, house: dict, texts: dict | None = None) -> dict:
    """Make sure *house* has a pending revision, with *texts* ({title, description}) when
    given; returns the revision row. A rejected revision becomes pending again (its
    note dropped), starting from the approved text when no *texts* are given."""
    rev = await tx.queryone("SELECT * FROM house_revisions WHERE house_id = %s FOR UPDATE", house["id"])
    if texts is None:
        texts = ({"title": rev["title"], "description": rev["description"]}
                 if rev is not None and rev["status"] == "pending"
                 else {"title": house["title"], "description": house["description"]})
    if rev is None:
        await tx.execute("INSERT INTO house_revisions (house_id, title, description) VALUES (%s, %s, %s)",
                         house["id"], texts["title"], texts["description"])
    else:
        await tx.execute(
            # MariaDB assigns left to right, each seeing the ones before: status goes last.
            "UPDATE house_revisions SET cover_image_id = IF(status = 'pending', cover_image_id, NULL), "
            "created_at = IF(status = 'pending', created_at, NOW()), title = %s, description = %s, "
            "review_note = NULL, status = 'pending' WHERE house_id = %s",
            texts["title"], texts["description"], house["id"])
    return await tx.queryone("SELECT * FROM house_revisions WHERE house_id = %s", house["id"])


async def _staged_count(tx: Transaction, house_id: int) -> int:
    return int(await tx.scalar("SELECT COUNT(*) FROM house_images WHERE house_id = %s AND stage <> 'live'",
                               house_id))


async def _settle_revision(tx: Transaction, house: dict) -> bool:
    """Drop *house*'s revision when it changes nothing any more; True when a pending one remains."""
    rev = await tx.queryone("SELECT * FROM house_revisions WHERE house_id = %s", house["id"])
    if rev is None:
        return False
    cover_changes = rev["cover_image_id"] is not None and rev["cover_image_id"] != house["cover_image_id"]
    if changed_fields(house, rev) or cover_changes or await _staged_count(tx, house["id"]):
        return rev["status"] == "pending"
    await tx.execute("DELETE FROM house_revisions WHERE house_id = %s", house["id"])
    return False


async def _revert_photos(tx: Transaction, house_id: int) -> list[str]:
    """Undo a revision's photo changes: 'added' rows go (their keys are returned, for the
    caller to remove the files after commit), 'removed' ones are live again."""
    rows = await tx.query("SELECT storage_key FROM house_images WHERE house_id = %s AND stage = 'added'", house_id)
    await tx.execute("DELETE FROM house_images WHERE house_id = %s AND stage = 'added'", house_id)
    await tx.execute("UPDATE house_images SET stage = 'live' WHERE house_id = %s AND stage = 'removed'", house_id)
    return [r["storage_key"] for r in rows]


async def _apply_revision(tx: Transaction, house: dict, rev: dict) -> list[str]:
    """Make *rev*'s content the listing's and drop it; returns the storage keys of the photos
    it removed (files to delete after commit)."""
    house_id = house["id"]
    rows = await tx.query("SELECT storage_key FROM house_images WHERE house_id = %s AND stage = 'removed'",
                          house_id)
    await tx.execute("DELETE FROM house_images WHERE house_id = %s AND stage = 'removed'", house_id)
    await tx.execute("UPDATE house_images SET stage = 'live' WHERE house_id = %s AND stage = 'added'", house_id)
    await tx.execute("UPDATE houses SET title = %s, description = %s WHERE id = %s",
                     rev["title"], rev["description"], house_id)
    cover = rev["cover_image_id"] or house["cover_image_id"]
    await tx.execute(
        "UPDATE houses SET cover_image_id = COALESCE("
        "(SELECT id FROM house_images WHERE id = %s AND house_id = %s), "
        "(SELECT id FROM house_images WHERE house_id = %s ORDER BY position, id LIMIT 1)) WHERE id = %s",
        cover, house_id, house_id, house_id)
    await tx.execute("DELETE FROM house_revisions WHERE house_id = %s", house_id)
    return [r["storage_key"] for r in rows]


async def withdraw_revision(db: Database, house_id: int) -> list[str]:
    """The host takes back the listing's revision (pending or rejected): its photo changes are
    undone and the row goes. Returns the storage keys of photos it had added (files to remove
    after this returns). Raises NoRevision, ListingGone, ListingBusy."""
    async def work(tx: Transaction, house: dict) -> list[str]:
        if await tx.scalar("SELECT 1 FROM house_revisions WHERE house_id = %s FOR UPDATE", house_id) is None:
            raise NoRevision(house_id)
        keys = await _revert_photos(tx, house_id)
        await tx.execute("DELETE FROM house_revisions WHERE house_id = %s", house_id)
        return keys
    return await locked_write(db, house_id, work)


async def decide_revision(db: Database, house_id: int, admin_id: int, approve: bool,
                          reason: str | None = None) -> list[str]:
    """An admin approves (the revision's text, photos and cover become the public listing) or
    rejects (its photo changes are undone; the row stays ``rejected`` with *reason* for the
    host) the listing's pending revision, logged in ``admin_actions`` as
    ``approve_revision`` / ``reject_revision`` in the same transaction.

    Returns the storage keys of photos to remove from disk after this returns. Raises
    NoRevision (none pending), ListingGone, ListingBusy.
    """
    async def work(tx: Transaction, house: dict) -> list[str]:
        rev = await tx.queryone("SELECT * FROM house_revisions WHERE house_id = %s FOR UPDATE", house_id)
        if rev is None or rev["status"] != "pending":
            raise NoRevision(house_id)
        if approve:
            keys = await _apply_revision(tx, house, rev)
        else:
            keys = await _revert_photos(tx, house_id)
            await tx.execute("UPDATE house_revisions SET status = 'rejected', review_note = %s, "
                             "cover_image_id = NULL WHERE house_id = %s", reason, house_id)
        await admin_log.record_action(tx, admin_id, "approve_revision" if approve else "reject_revision",
                                      "house", house_id, reason)
        return keys
    return await locked_write(db, house_id, work)


# -- moderation -------------------------------------------------------------------------

async def moderate(db: Database, house_id: int, action: str, admin_id: int, reason: str | None = None) -> list[str]:
    """An admin's *action* (a MODERATION key) on the listing, logged in ``admin_actions``.

    ``approve`` clears the note; ``reject`` and ``offline`` keep *reason* as the note the
    host reads, and fold a pending revision into the listing (now hidden from the public)
    so the host's work is kept for the next review. Returns storage keys of photos to
    remove after this returns. Raises TransitionRefused, ListingGone, ListingBusy.
    """
    allowed_from, new_status = MODERATION[action]

    async def work(tx: Transaction, house: dict) -> list[str]:
        if house["status"] not in allowed_from:
            raise TransitionRefused(action, house["status"])
        keys: list[str] = []
        if new_status != "online":
            rev = await tx.queryone("SELECT * FROM house_revisions WHERE house_id = %s FOR UPDATE", house_id)
            if rev is not None and rev["status"] == "pending":
                keys = await _apply_revision(tx, house, rev)
            elif rev is not None:
                await tx.execute("DELETE FROM house_revisions WHERE house_id = %s", house_id)
        await _set_status(tx, house_id, new_status, None if action == "approve" else (reason or None))
        await admin_log.record_action(tx, admin_id, action, "house", house_id, reason)
        return keys
    # A deleted listing is refused by its status (TransitionRefused), like any other.
    return await locked_write(db, house_id, work, deleted_ok=True)


# -- photos -----------------------------------------------------------------------------

@dataclass
class PhotoOutcome:
    """What a photo write did: *outcome* ``saved`` | ``resubmitted`` | ``revision`` (as
    :class:`EditOutcome`); *remove_keys* are files to delete once the write committed."""

    outcome: str
    remove_keys: list[str] = field(default_factory=list)


async def _resubmit_if_rejected(tx: Transaction, house: dict) -> str:
    if house["status"] == "rejected":
        await _set_status(tx, house["id"], "pending", None)
        return "resubmitted"
    return "saved"


async def add_image(tx: Transaction, house_id: int, key: str, width: int, height: int,
                    stage: str = "live") -> int:
    """Append a photo row; a live one becomes the cover when there is none. Returns its id.

    Call inside :func:`locked_write` (the listing row must be locked first).
    """
    position = await tx.scalar("SELECT COALESCE(MAX(position) + 1, 0) FROM house_images WHERE house_id = %s",
                               house_id)
    image_id = await tx.insert(
        "INSERT INTO house_images (house_id, storage_key, width, height, position, stage) "
        "VALUES (%s, %s, %s, %s, %s, %s)", house_id, key, width, height, position, stage)
    if stage == "live":
        await tx.execute("UPDATE houses SET cover_image_id = %s WHERE id = %s AND cover_image_id IS NULL",
                         image_id, house_id)
    return image_id


async def add_photos(db: Database, house_id: int, photos: list[tuple[str, int, int]]) -> PhotoOutcome:
    """Record already stored photos *photos* [(storage key, width, height)] on the listing.

    On an online listing they join its pending revision (not public until approved);
    on a rejected one they resubmit it; otherwise they are live at once.
    Raises ListingGone, ListingBusy.
    """
    async def work(tx: Transaction, house: dict) -> PhotoOutcome:
        online = house["status"] == "online"
        if online:
            await _propose(tx, house)
        for key, width, height in photos:
            await add_image(tx, house_id, key, width, height, "added" if online else "live")
        return PhotoOutcome("revision" if online else await _resubmit_if_rejected(tx, house))
    return await locked_write(db, house_id, work)


async def delete_image(tx: Transaction, house_id: int, image_id: int) -> str | None:
    """Remove a photo row; moves the cover to the next photo. Returns its storage key, or None.

    Call inside :func:`locked_write` (the listing row must be locked first).
    """
    row = await tx.queryone("SELECT storage_key FROM house_images WHERE id = %s AND house_id = %s FOR UPDATE",
                            image_id, house_id)
    if row is None:
        return None
    await tx.execute("DELETE FROM house_images WHERE id = %s", image_id)
    await tx.execute(
        "UPDATE houses SET cover_image_id = (SELECT id FROM house_images WHERE house_id = %s "
        "AND stage <> 'added' ORDER BY position, id LIMIT 1) "
        "WHERE id = %s AND (cover_image_id = %s OR cover_image_id IS NULL)",
        house_id, house_id, image_id)
    return row["storage_key"]


async def remove_photo(db: Database, house_id: int, image_id: int) -> PhotoOutcome:
    """The owner removes photo *image_id*.

    Online listing: an approved photo is marked for removal in the pending revision (still
    public until approved); a photo the revision added goes at once. Otherwise the photo
    goes at once (a rejected listing is resubmitted). Raises PhotoNotFound, ListingGone,
    ListingBusy.
    """
    async def work(tx: Transaction, house: dict) -> PhotoOutcome:
        row = await tx.queryone("SELECT id, storage_key, stage FROM house_images WHERE id = %s AND house_id = %s "
                                "FOR UPDATE", image_id, house_id)
        if row is None or row["stage"] == "removed":
            raise PhotoNotFound(image_id)
        if house["status"] != "online":
            key = await delete_image(tx, house_id, image_id)
            return PhotoOutcome(await _resubmit_if_rejected(tx, house), [key])
        await _propose(tx, house)
        await tx.execute("UPDATE house_revisions SET cover_image_id = NULL WHERE house_id = %s "
                         "AND cover_image_id = %s", house_id, image_id)
        if row["stage"] == "added":
            await tx.execute("DELETE FROM house_images WHERE id = %s", image_id)
            keys = [row["storage_key"]]
        else:
            await tx.execute("UPDATE house_images SET stage = 'removed' WHERE id = %s", image_id)
            keys = []
        pending = await _settle_revision(tx, house)
        return PhotoOutcome("revision" if pending else "saved", keys)
    return await locked_write(db, house_id, work)


async def set_cover(db: Database | Transaction, house_id: int, image_id: int) -> bool:
    """Make *image_id* the cover of *house_id* directly; False when the photo is not the listing's.

    Call inside :func:`locked_write` (the listing row must be locked first); the site
    goes through :func:`choose_cover`, which respects revisions.
    """
    return bool(await db.execute(
        "UPDATE houses SET cover_image_id = %s WHERE id = %s AND "
        "EXISTS (SELECT 1 FROM house_images WHERE id = %s AND house_id = %s AND stage = 'live')",
        image_id, house_id, image_id, house_id))


async def choose_cover(db: Database, house_id: int, image_id: int) -> PhotoOutcome:
    """The owner picks the cover. Online: the choice joins the pending revision (or drops out
    of it when it is the approved cover again); otherwise it applies at once.
    Raises PhotoNotFound, ListingGone, ListingBusy."""
    async def work(tx: Transaction, house: dict) -> PhotoOutcome:
        stage = await tx.scalar("SELECT stage FROM house_images WHERE id = %s AND house_id = %s",
                                image_id, house_id)
        if stage is None or stage == "removed":
            raise PhotoNotFound(image_id)
        if house["status"] != "online":
            await set_cover(tx, house_id, image_id)
            return PhotoOutcome("saved")
        await _propose(tx, house)
        await tx.execute("UPDATE house_revisions SET cover_image_id = %s WHERE house_id = %s",
                         image_id, house_id)
        pending = await _settle_revision(tx, house)
        return PhotoOutcome("revision" if pending else "saved")
    return await locked_write(db, house_id, work)


async def delete_listing(db: Database, house_id: int) -> list[str]:
    """Soft-delete a listing (status 'deleted'), dropping its photo rows (staged ones too), its
    revision and its blocks; returns the photos' storage keys.

    The caller removes the files only after this returns (committed), so a rolled-back
    delete never loses a photo. Bookings keep their rows (they show no cover once the
    photos are gone). Raises ListingGone, ListingBusy.
    """
    async def work(tx: Transaction, house: dict) -> list[str]:
        rows = await tx.query("SELECT storage_key FROM house_images WHERE house_id = %s", house_id)
        await tx.execute("UPDATE houses SET status = 'deleted', cover_image_id = NULL WHERE id = %s", house_id)
        await tx.execute("DELETE FROM house_images WHERE house_id = %s", house_id)
        await tx.execute("DELETE FROM house_revisions WHERE house_id = %s", house_id)
        await tx.execute("DELETE FROM house_blocks WHERE house_id = %s", house_id)  # cascades to their nights
        return [r["storage_key"] for r in rows]
    return await locked_write(db, house_id, work)


# -- blocked nights -----------------------------------------------------------------------

def _nights(check_in: datetime.date, check_out: datetime.date) -> list[datetime.date]:
    return [check_in + datetime.timedelta(days=i) for i in range((check_out - check_in).days)]


def check_block_dates(check_in: datetime.date, check_out: datetime.date, today: datetime.date) -> None:
    """Raise :class:`DatesRefused` unless [check_in, check_out) is a range a host may block."""
    if check_in < today:
        raise DatesRefused("past")
    if check_out <= check_in:
        raise DatesRefused("order")
    if (check_out - check_in).days > MAX_BLOCK_NIGHTS:
        raise DatesRefused("too_long")
    if check_out > today + datetime.timedelta(days=BLOCK_HORIZON_DAYS):
        raise DatesRefused("too_far")


async def insert_block(tx: Transaction, house_id: int, check_in: datetime.date, check_out: datetime.date,
                       feed_id: int | None = None) -> int:
    """Hold the nights check_in..check_out-1 of *house_id* as one block (house_blocks + booked_nights)
    inside *tx*, which must hold the listing's row lock (:func:`locked_write`); returns the block id.
    *feed_id*: the external calendar it was imported from (models/calendar_sync.py), None = the host's.
    Raises the database's duplicate-key error when a night is already held (the caller checked)."""
    block_id = await tx.insert("INSERT INTO house_blocks (house_id, check_in, check_out, feed_id) "
                               "VALUES (%s, %s, %s, %s)", house_id, check_in, check_out, feed_id)
    await tx.executemany("INSERT INTO booked_nights (house_id, night, block_id) VALUES (%s, %s, %s)",
                         [(house_id, night, block_id) for night in _nights(check_in, check_out)])
    return block_id


async def _booked_by_guests(tx: Transaction, house_id: int, check_in: datetime.date,
                            check_out: datetime.date) -> list[datetime.date]:
    # Nights imported from an external calendar (a block with feed_id) are taken like guests' nights.
    rows = await tx.query("SELECT bn.night FROM booked_nights bn LEFT JOIN house_blocks hb ON hb.id = bn.block_id "
                          "WHERE bn.house_id = %s AND bn.night >= %s AND bn.night < %s "
                          "AND (bn.order_id IS NOT NULL OR hb.feed_id IS NOT NULL) ORDER BY bn.night",
                          house_id, check_in, check_out)
    return [r["night"] for r in rows]


async def block(db: Database, house_id: int, check_in: datetime.date, check_out: datetime.date,
                today: datetime.date, now: datetime.datetime | None = None) -> int:
    """Block the nights [check_in, check_out) of *house_id* for its host; returns the block's id.

    Overlapping or adjacent blocks merge into one. Nights booked by guests (any order
    holding booked_nights) refuse the whole range: :class:`DatesTaken` names them. The
    booked_nights primary key decides a race with a booking (the listing lock makes them
    queue; the key is the backstop). The listing's calendar is settled first, as a booking
    does (models/lifecycle.py): requests that expired by *now* (default: the local time) no
    longer hold their nights. Raises DatesRefused, DatesTaken, ListingGone, ListingBusy.
    """
    check_block_dates(check_in, check_out, today)

    async def work(tx: Transaction, house: dict) -> int:
        await lifecycle.settle_house(tx, house_id, now or datetime.datetime.now())
        taken = await _booked_by_guests(tx, house_id, check_in, check_out)
        if taken:
            raise DatesTaken(taken)
        near = await tx.query("SELECT id, check_in, check_out FROM house_blocks WHERE house_id = %s "
                              "AND feed_id IS NULL AND check_in <= %s AND check_out >= %s FOR UPDATE",
                              house_id, check_out, check_in)
        start = min([check_in, *(b["check_in"] for b in near)])
        end = max([check_out, *(b["check_out"] for b in near)])
        if near:
            await tx.executemany("DELETE FROM house_blocks WHERE id = %s", [(b["id"],) for b in near])
        try:
            return await insert_block(tx, house_id, start, end)
        except pymysql.err.MySQLError as exc:
            if is_duplicate_key(exc):  # a guest's night that the check above could not see
                raise DatesTaken(await _booked_by_guests(tx, house_id, check_in, check_out)) from exc
            raise
    return await locked_write(db, house_id, work)


async def unblock(db: Database, house_id: int, check_in: datetime.date, check_out: datetime.date) -> int:
    """Free the host's blocked nights within [check_in, check_out); returns how many were freed.

    A block partly inside the range keeps its nights outside it (split in two when the
    range is in its middle). Raises DatesRefused (``order``), ListingGone, ListingBusy.
    """
    if check_out <= check_in:
        raise DatesRefused("order")

    async def work(tx: Transaction, house: dict) -> int:
        hit = await tx.query("SELECT id, check_in, check_out, feed_id FROM house_blocks WHERE house_id = %s "
                             "AND check_in < %s AND check_out > %s FOR UPDATE", house_id, check_out, check_in)
        freed = 0
        for b in hit:
            await tx.execute("DELETE FROM house_blocks WHERE id = %s", b["id"])  # its nights cascade
            freed += (min(b["check_out"], check_out) - max(b["check_in"], check_in)).days
            if b["check_in"] < check_in:
                await insert_block(tx, house_id, b["check_in"], check_in, b["feed_id"])
            if b["check_out"] > check_out:
                await insert_block(tx, house_id, check_out, b["check_out"], b["feed_id"])
        return freed
    return await locked_write(db, house_id, work)


async def blocks(db: Database, house_id: int, today: datetime.date) -> list[dict]:
    """The listing's blocks that end after *today*, by date: [{id, check_in, check_out, feed_id}]
    (feed_id: the external calendar it was imported from, None for the host's own)."""
    return await db.query("SELECT id, check_in, check_out, feed_id FROM house_blocks WHERE house_id = %s "
                          "AND check_out > %s ORDER BY check_in", house_id, today)
