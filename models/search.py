"""The public pages' queries: listing cards, the home page's lists and search.

Money columns are fen. :data:`PUBLIC` (listing online and its owner active) is the
condition for queries that alias houses as ``h``; every index of migration 0017 starts
with (status, owner_active), then the area when there is one, then the sort column; 0043
adds the rating sort and the city (houses.city_id, a stored column derived from area_id).

Public pages are read ids first: a query on ``houses`` (with its facility and booked-night
joins) picks the page's ids in index order and stops after the page; a second
query fetches those few cards with their area, owner and cover. Joining areas and
users in the first query let the optimizer start from ``areas`` and sort every match
in a temporary table (about 1 s at 100,000 listings, against about 1 ms this way).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from models.db import Database

PUBLIC = "h.status = 'online' AND h.owner_active = 1"

# A search counts its matches up to this many (500 pages of 12) and then says "more":
# an exact count walks every match, this bounded one at most COUNT_CAP + 1 index entries.
COUNT_CAP = 6000

# No street address (houses.address): cards are public, and the JSON API returns these rows as they are.
CARD_COLUMNS = ("h.id, h.title, h.price_fen, h.neighbourhood, h.room_count, h.capacity, h.order_count, "
                "h.rating_count, h.rating_sum, "
                "h.status, h.created_at, h.area_id, a.name AS area_name, a.city AS city, "
                "u.name AS owner_name, u.avatar_key AS owner_avatar_key, "
                "(SELECT storage_key FROM house_images i WHERE i.id = h.cover_image_id) AS cover_key")

SORTS = {
    "new": "h.created_at DESC, h.id DESC",
    "booking": "h.order_count DESC, h.id DESC",
    "price-inc": "h.price_fen ASC, h.id ASC",
    "price-des": "h.price_fen DESC, h.id DESC",
    # Best average first, more reviews first among equals; listings without reviews (average 0) last.
    "rating": "h.rating_avg DESC, h.rating_count DESC, h.id DESC",
}


@dataclass(frozen=True)
class SearchFilters:
    """Validated search parameters. Prices in fen; dates half-open [check_in, check_out).

    *area_id* is a district's adcode, *city_id* a city's (models.areas.city_code): at most
    one of them is set. *guests*: listings whose capacity is at least that many people.
    """

    area_id: int | None = None
    city_id: int | None = None
    check_in: datetime.date | None = None
    check_out: datetime.date | None = None
    price_min_fen: int | None = None
    price_max_fen: int | None = None
    guests: int | None = None
    facility_ids: tuple[int, ...] = field(default_factory=tuple)
    sort: str = "new"
    page: int = 1
    per_page: int = 12

    def normalised(self) -> str:
        """A canonical string of these filters, used as the cache key."""
        return "|".join(str(v) for v in (
            self.area_id, self.city_id, self.check_in, self.check_out, self.price_min_fen, self.price_max_fen,
            self.guests, ",".join(map(str, sorted(self.facility_ids))), self.sort, self.page,
            self.per_page))


async def cards(db: Database, ids: list[int]) -> list[dict]:
    """Listing cards (CARD_COLUMNS) of *ids*, in the order of *ids*; unknown ids are left out.

    One primary-key lookup per id (plus its area, owner and cover), for a page's worth of ids."""
    if not ids:
        return []
    marks = ", ".join(["%s"] * len(ids))
    rows = await db.query(
        f"SELECT {CARD_COLUMNS} FROM houses h JOIN areas a ON a.id = h.area_id "
        f"JOIN users u ON u.id = h.owner_id WHERE h.id IN ({marks})", *ids)
    by_id = {row["id"]: row for row in rows}
    return [by_id[i] for i in ids if i in by_id]


async def public_cards(db: Database, order: str, limit: int) -> list[dict]:
    """Public listing cards ordered by a SORTS key, at most *limit* (ids first, see the module docstring)."""
    ids = await db.query(public_ids_sql(order), limit)
    return await cards(db, [row["id"] for row in ids])


def public_ids_sql(order: str) -> str:
    """The home page's ids query: public listings by a SORTS key, one ``%s`` for the limit."""
    return f"SELECT h.id FROM houses h WHERE {PUBLIC} ORDER BY {SORTS[order]} LIMIT %s"


def search_sql(f: SearchFilters, *, ordered: bool = True) -> tuple[str, list]:
    """(``FROM houses h … WHERE …`` clause, its arguments) selecting the public listings matching *f*.

    Facilities are joins on house_facilities' primary key (house_id, facility_id):
    one row per listing, so no DISTINCT. With *ordered* (a page), the joins are
    STRAIGHT_JOINs so ``houses`` is read first, in the index order of the sort, and the
    read stops after the page; otherwise (the count) the optimizer may start from
    ix_hf_facility (facility_id, house_id) when that is cheaper. Dates are an
    anti-join on booked_nights (MariaDB materialises the booked ids of the range from
    ix_bn_night (night, house_id), or probes the primary key per listing).
    """
    joins = []
    where = [PUBLIC]
    args: list = []
    join = "STRAIGHT_JOIN" if ordered else "JOIN"
    for n, facility_id in enumerate(f.facility_ids):
        joins.append(f" {join} house_facilities hf{n} ON hf{n}.house_id = h.id AND hf{n}.facility_id = %s")
        args.append(facility_id)
    if f.area_id is not None:
        where.append("h.area_id = %s")
        args.append(f.area_id)
    if f.city_id is not None:
        where.append("h.city_id = %s")
        args.append(f.city_id)
    if f.price_min_fen is not None:
        where.append("h.price_fen >= %s")
        args.append(f.price_min_fen)
    if f.price_max_fen is not None:
        where.append("h.price_fen <= %s")
        args.append(f.price_max_fen)
    if f.guests is not None:
        where.append("h.capacity >= %s")
        args.append(f.guests)
    if f.check_in and f.check_out:
        where.append("NOT EXISTS (SELECT 1 FROM booked_nights bn WHERE bn.house_id = h.id "
                     "AND bn.night >= %s AND bn.night < %s)")
        args += [f.check_in, f.check_out]
        nights = (f.check_out - f.check_in).days
        where.append("h.min_days <= %s AND (h.max_days = 0 OR h.max_days >= %s)")
        args += [nights, nights]
    return "FROM houses h" + "".join(joins) + " WHERE " + " AND ".join(where), args


async def search_ids(db: Database, f: SearchFilters) -> list[int]:
    """Ids of the requested page of public listings matching *f*, in *f.sort* order."""
    base, args = search_sql(f)
    rows = await db.query(f"SELECT h.id {base} ORDER BY {SORTS[f.sort]} LIMIT %s OFFSET %s",
                          *args, f.per_page, (f.page - 1) * f.per_page)
    return [row["id"] for row in rows]


async def search_count(db: Database, f: SearchFilters) -> int:
    """How many public listings match *f*, counted up to COUNT_CAP + 1 (a result above
    COUNT_CAP means "more than COUNT_CAP")."""
    base, args = search_sql(f, ordered=False)
    return int(await db.scalar(f"SELECT COUNT(*) FROM (SELECT 1 {base} LIMIT %s) capped",
                               *args, COUNT_CAP + 1))


async def search(db: Database, f: SearchFilters) -> tuple[list[dict], int]:
    """Public listings matching *f*: (cards of the requested page, count).

    The count is exact up to COUNT_CAP; above it, it is COUNT_CAP + 1 ("more").
    With dates, only listings with no booked night in [check_in, check_out) match.
    """
    ids = await search_ids(db, f)
    if f.page == 1 and len(ids) < f.per_page:
        total = len(ids)  # the first page holds every match: no count query needed
    else:
        total = await search_count(db, f)
    return await cards(db, ids), total
