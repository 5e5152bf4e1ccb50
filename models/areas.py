"""SQL for reference data: ``areas`` (adcodes) and ``facilities``."""

from __future__ import annotations

from models.db import Database

# The cities the site features on its home page and search box, in display order.
FEATURED_CITIES = ("北京市", "上海市", "广州市", "深圳市", "成都市", "杭州市")


# Districts outside the featured cities that the select boxes list: the ones with the most
# public listings. Listing every district that has one put ~2,800 options (a 230 KB page,
# most of its rendering time) on every page at 100,000 listings.
OTHER_AREAS_LIMIT = 120

FEATURED_AREAS_SQL = (
    f"SELECT a.id, a.name, a.city, a.province FROM areas a WHERE a.city IN ({', '.join(['%s'] * len(FEATURED_CITIES))}) "
    "UNION "
    "SELECT a.id, a.name, a.city, a.province FROM "
    "(SELECT h.area_id, COUNT(*) AS listings FROM houses h WHERE h.status = 'online' AND h.owner_active = 1 "
    "GROUP BY h.area_id ORDER BY listings DESC, h.area_id LIMIT %s) busiest "
    "STRAIGHT_JOIN areas a ON a.id = busiest.area_id")


async def featured_areas(db: Database) -> list[dict]:
    """Districts of the featured cities plus the OTHER_AREAS_LIMIT districts with the most
    public listings: what the area select boxes offer.

    Rows: {id, name, city, province}, grouped by city in FEATURED_CITIES order first.
    Both halves are index reads: ix_areas_city for the featured cities, and one pass over
    houses' ix_houses_pub_area_new (counted in index order, no scan of the table) for
    the busiest districts; callers cache the result (it changes only when listings go
    on or off line). Raises DatabaseUnavailable like every query.
    """
    rows = await db.query(FEATURED_AREAS_SQL, *FEATURED_CITIES, OTHER_AREAS_LIMIT)
    order = {city: i for i, city in enumerate(FEATURED_CITIES)}
    rows.sort(key=lambda r: (order.get(r["city"], len(order)), r["city"], r["id"]))
    return rows


async def get_area(db: Database, area_id: int) -> dict | None:
    """The area with adcode *area_id*, or None."""
    return await db.queryone("SELECT id, name, city, province FROM areas WHERE id = %s", area_id)


async def all_facilities(db: Database) -> list[dict]:
    """The facility catalogue: [{id, name, icon}] by id."""
    return await db.query("SELECT id, name, icon FROM facilities ORDER BY id")
