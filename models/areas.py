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


MUNICIPALITY_PREFIXES = (11, 12, 31, 50)


def city_code(area_id: int) -> int:
    """The adcode of the city a district (*area_id*, a 6-digit adcode) belongs to.

    The four municipalities are their province (110105 → 110000); a county-level city
    governed by its province is its own city (429004 仙桃市 → 429004); any other district
    belongs to its prefecture (440305 → 440300, and 441900 东莞市 → itself). Migration 0042
    stores the same rule as ``houses.city_id``; over cpca's table it gives one code per
    (province, city) pair of ``areas``.
    """
    if area_id // 10000 in MUNICIPALITY_PREFIXES:
        return area_id // 10000 * 10000
    if area_id // 100 % 100 == 90:
        return area_id
    return area_id // 100 * 100


def is_city_code(code: int) -> bool:
    """True when *code* names a whole city (a prefecture's XXXX00 or a municipality's XX0000)."""
    return code % 100 == 0


def tree(areas: list[dict]) -> list[dict]:
    """*areas* ({id, name, city, province} rows, grouped by city) as a province → city → district
    tree for select boxes: [{province, cities: [{id (the city's adcode), name, districts: [rows]}]}],
    provinces and cities in their first appearance's order."""
    provinces: dict[str, dict] = {}
    cities: dict[int, dict] = {}
    for area in areas:
        code = city_code(int(area["id"]))
        city = cities.get(code)
        if city is None:
            province = provinces.setdefault(area["province"], {"province": area["province"], "cities": []})
            city = cities[code] = {"id": code, "name": area["city"], "districts": []}
            province["cities"].append(city)
        city["districts"].append(area)
    return list(provinces.values())


async def city_area(db: Database, code: int) -> dict | None:
    """One district (a row of ``areas``) of the city with adcode *code*, or None when no such city:
    enough for a select box to show that city. An index range read on the primary key."""
    low, high = (code, code + 9999) if code // 10000 in MUNICIPALITY_PREFIXES else (code, code + 99)
    for row in await db.query("SELECT id, name, city, province FROM areas WHERE id BETWEEN %s AND %s "
                              "ORDER BY id LIMIT 3", low, high):
        if city_code(int(row["id"])) == code:
            return row
    return None


async def get_area(db: Database, area_id: int) -> dict | None:
    """The area with adcode *area_id*, or None."""
    return await db.queryone("SELECT id, name, city, province FROM areas WHERE id = %s", area_id)


async def all_facilities(db: Database) -> list[dict]:
    """The facility catalogue: [{id, name, icon}] by id."""
    return await db.query("SELECT id, name, icon FROM facilities ORDER BY id")
