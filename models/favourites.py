"""SQL for 收藏 (favourites): the listings a member saved (table ``favourites``, migration 0070).

A row is (user_id, house_id, created_at); saving twice or removing twice changes nothing
(both are idempotent). Only a public listing (online, owner active: :data:`models.search.PUBLIC`)
can be newly saved; removing always works, whatever became of the listing, so a member can
clear out listings that went offline or were deleted.

How many members saved a listing is a COUNT on ``ix_favourites_house`` rather than a counter
column on ``houses``: a save then never writes (and locks) the listing's row, which every
booking locks first, and never touches the cached listing data or the search generation.
Counting one listing's savers is one index range read.
"""

from __future__ import annotations

from models.db import Database
from models.search import CARD_COLUMNS, PUBLIC

MAX_PER_USER = 1000  # listings one member may keep saved (bounds their page and the count query)
MAX_IDS = 100  # ids one :func:`saved_among` call looks up at most


class FavouriteError(Exception):
    """Base of the neutral errors here; nothing was written when one is raised."""


class NotSaveable(FavouriteError):
    """The listing is unknown, deleted or not public: it cannot be newly saved."""


class TooMany(FavouriteError):
    """The member already keeps MAX_PER_USER listings saved."""


async def is_public(db: Database, house_id: int) -> bool:
    """True when *house_id* is public (online, owner active): it can be saved and shared."""
    return bool(await db.scalar(f"SELECT 1 FROM houses h WHERE h.id = %s AND {PUBLIC}", house_id))


async def save(db: Database, user_id: int, house_id: int) -> int:
    """Save *house_id* for *user_id* (no error when already saved); returns the listing's count of savers.

    Raises :class:`NotSaveable` for a listing that is not public and :class:`TooMany` past
    MAX_PER_USER. The check and the insert are one transaction; the foreign key's shared lock
    on the listing row is the only lock taken on it (nothing updates ``houses`` here).
    """
    async with db.transaction() as tx:
        public = await tx.scalar(f"SELECT 1 FROM houses h WHERE h.id = %s AND {PUBLIC}", house_id)
        if not public:
            raise NotSaveable(house_id)
        already = await tx.scalar("SELECT 1 FROM favourites WHERE user_id = %s AND house_id = %s",
                                  user_id, house_id)
        if not already:
            kept = await tx.scalar("SELECT COUNT(*) FROM favourites WHERE user_id = %s", user_id)
            if int(kept) >= MAX_PER_USER:
                raise TooMany(user_id)
            await tx.execute("INSERT IGNORE INTO favourites (user_id, house_id) VALUES (%s, %s)",
                             user_id, house_id)
    return await count(db, house_id)


async def remove(db: Database, user_id: int, house_id: int) -> int:
    """Remove *house_id* from *user_id*'s favourites (no error when it was not saved);
    returns the listing's count of savers afterwards."""
    await db.execute("DELETE FROM favourites WHERE user_id = %s AND house_id = %s", user_id, house_id)
    return await count(db, house_id)


async def count(db: Database, house_id: int) -> int:
    """How many members saved *house_id* (one range read of ix_favourites_house)."""
    return int(await db.scalar("SELECT COUNT(*) FROM favourites WHERE house_id = %s", house_id))


async def state(db: Database, user_id: int | None, house_id: int) -> dict:
    """{"saved": bool, "count": int} of *house_id* for *user_id* (None: a visitor, never saved)."""
    saved = False
    if user_id is not None:
        saved = bool(await db.scalar("SELECT 1 FROM favourites WHERE user_id = %s AND house_id = %s",
                                     user_id, house_id))
    return {"saved": saved, "count": await count(db, house_id)}


async def saved_among(db: Database, user_id: int, house_ids: list[int]) -> set[int]:
    """Which of *house_ids* (at most MAX_IDS are looked at) *user_id* saved: one primary-key query
    for a page's cards, however many there are."""
    ids = sorted(set(house_ids))[:MAX_IDS]
    if not ids:
        return set()
    marks = ", ".join(["%s"] * len(ids))
    rows = await db.query(f"SELECT house_id FROM favourites WHERE user_id = %s AND house_id IN ({marks})",
                          user_id, *ids)
    return {int(row["house_id"]) for row in rows}


async def page(db: Database, user_id: int, limit: int, offset: int = 0) -> tuple[list[dict], int]:
    """*user_id*'s saved listings, newest saved first: (rows, total).

    Each row is a listing card (models.search.CARD_COLUMNS, no street address) plus
    ``saved_at`` and ``public`` (1 when the listing is online and its owner active, else 0:
    the page greys those out). Listings of any status are included, deleted ones too.
    """
    total = int(await db.scalar("SELECT COUNT(*) FROM favourites WHERE user_id = %s", user_id))
    if not total or offset >= total:
        return [], total
    rows = await db.query(
        f"SELECT {CARD_COLUMNS}, f.created_at AS saved_at, ({PUBLIC}) AS public "
        "FROM favourites f JOIN houses h ON h.id = f.house_id JOIN areas a ON a.id = h.area_id "
        "JOIN users u ON u.id = h.owner_id WHERE f.user_id = %s "
        "ORDER BY f.created_at DESC, f.house_id DESC LIMIT %s OFFSET %s", user_id, limit, offset)
    for row in rows:
        row["public"] = bool(row["public"])
    return rows, total
