"""Query plans of the public pages on a large database: no full scan, no filesort.

A module-scoped throw-away database is bulk-loaded with SCALE synthetic listings
(models/seed_scale.py; ~20 s here), analysed, and then every page query of the home
page and the search — page ids and the capped count, for each filter and sort the
indexes are meant for — is EXPLAINed. The plans must read ``houses`` through an index
(never ``type: ALL`` on a real table) and, for the ordered page queries, in index
order (no "Using filesort" / "Using temporary"). The results are also checked
against the plain query (joins, exact count) that the indexes replaced.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import os

import pytest

from config import test_settings
from models import areas as areas_model
from models.db import create_database
from models import search
from models.search import COUNT_CAP, SORTS, SearchFilters
from models.seed_scale import seed_scale
from tests.utils import testdb

# Its module-scoped database is built once, on one worker (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("search_plans")


SCALE = 20_000
TODAY = datetime.date.today()
CHECK_IN = TODAY + datetime.timedelta(days=10)


def _run(coro_factory):
    """Run an async function on a private loop in a thread (pytest-tornado's loop stays untouched)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(coro_factory())).result()


@pytest.fixture(scope="module")
def big_db():
    """(settings, facts) of a throw-away database holding SCALE synthetic listings.

    facts: {"popular_area": the district with the most listings}."""
    name = f"ihome_test_plans_{os.getpid()}"
    with testdb.throwaway_database(name, base=test_settings()) as settings:
        async def load():
            db = await create_database(settings)
            try:
                await seed_scale(db, SCALE, progress=False, today=TODAY)
                for table in ("houses", "house_facilities", "booked_nights", "orders", "users", "areas"):
                    await db.query(f"ANALYZE TABLE {table}")
                popular = await db.scalar(
                    "SELECT area_id FROM houses GROUP BY area_id ORDER BY COUNT(*) DESC LIMIT 1")
                # Ratings as reviews would leave them (the synthetic set has none): 0–8 reviews each.
                await db.execute(
                    "UPDATE houses SET rating_count = id % 9, rating_sum = (id % 9) * (1 + id % 5), "
                    "rating_avg = IF(id % 9 = 0, 0, 1 + id % 5)")
                await db.query("ANALYZE TABLE houses")
                city = await db.queryone(
                    "SELECT h.city_id, MIN(a.city) AS name FROM houses h JOIN areas a ON a.id = h.area_id "
                    "GROUP BY h.city_id ORDER BY COUNT(*) DESC LIMIT 1")
                return {"popular_area": popular, "popular_city": city["city_id"], "popular_city_name": city["name"]}
            finally:
                await db.close()
        yield settings, _run(load)


def _with_db(settings, work):
    async def go():
        db = await create_database(settings)
        try:
            return await work(db)
        finally:
            await db.close()
    return _run(go)


def _filters(case: str, popular_area: int, popular_city: int = 0) -> SearchFilters:
    stay = dict(check_in=CHECK_IN, check_out=CHECK_IN + datetime.timedelta(days=2))
    return {
        "all-new": SearchFilters(),
        "all-new-page-200": SearchFilters(page=200),
        "all-booking": SearchFilters(sort="booking"),
        "all-price-inc": SearchFilters(sort="price-inc"),
        "price-range-price-des": SearchFilters(price_min_fen=30000, price_max_fen=60000, sort="price-des"),
        "area-new": SearchFilters(area_id=popular_area),
        "area-booking": SearchFilters(area_id=popular_area, sort="booking"),
        "area-price-inc": SearchFilters(area_id=popular_area, sort="price-inc"),
        "dates": SearchFilters(**stay),
        "dates-area": SearchFilters(area_id=popular_area, **stay),
        "facility": SearchFilters(facility_ids=(3,)),
        "facilities-price-des": SearchFilters(facility_ids=(3, 15), sort="price-des"),
        "guests-booking": SearchFilters(guests=4, sort="booking"),
        "all-rating": SearchFilters(sort="rating"),
        "all-rating-page-50": SearchFilters(sort="rating", page=50),
        "area-rating": SearchFilters(area_id=popular_area, sort="rating"),
        "city-new": SearchFilters(city_id=popular_city),
        "city-booking": SearchFilters(city_id=popular_city, sort="booking"),
        "city-price-inc": SearchFilters(city_id=popular_city, sort="price-inc"),
        "city-rating": SearchFilters(city_id=popular_city, sort="rating"),
        "city-dates-guests": SearchFilters(city_id=popular_city, guests=2, **stay),
    }[case]


CASES = ("all-new", "all-new-page-200", "all-booking", "all-price-inc", "price-range-price-des", "area-new",
         "area-booking", "area-price-inc", "dates", "dates-area", "facility", "facilities-price-des",
         "guests-booking", "all-rating", "all-rating-page-50", "area-rating", "city-new", "city-booking",
         "city-price-inc", "city-rating", "city-dates-guests")
REAL_TABLES = {"houses", "areas", "users", "house_facilities", "booked_nights", "orders"}


def _explain(settings, sql: str, args: list) -> list[dict]:
    return _with_db(settings, lambda db: db.query("EXPLAIN " + sql, *args))


def _full_scans(plan: list[dict]) -> list[dict]:
    """Plan rows reading a whole real table (derived tables of a few rows are not)."""
    return [row for row in plan if row["type"] == "ALL" and not str(row["table"]).startswith("<")]


def _sorts(plan: list[dict]) -> list[dict]:
    return [row for row in plan if any(word in (row["Extra"] or "") for word in ("filesort", "temporary"))]


def _page_sql(f: SearchFilters) -> tuple[str, list]:
    base, args = search.search_sql(f)
    return f"SELECT h.id {base} ORDER BY {SORTS[f.sort]} LIMIT %s OFFSET %s", [
        *args, f.per_page, (f.page - 1) * f.per_page]


def _count_sql(f: SearchFilters) -> tuple[str, list]:
    base, args = search.search_sql(f, ordered=False)
    return f"SELECT COUNT(*) FROM (SELECT 1 {base} LIMIT %s) capped", [*args, COUNT_CAP + 1]


@pytest.mark.parametrize("case", CASES)
def test_search_page_reads_houses_in_index_order(big_db, case):
    settings, facts = big_db
    plan = _explain(settings, *_page_sql(_filters(case, facts["popular_area"], facts["popular_city"])))
    assert plan[0]["table"] == "h", plan  # houses first: the page is read in the sort's index order
    assert plan[0]["key"], plan
    assert _full_scans(plan) == [], plan
    assert _sorts(plan) == [], plan


@pytest.mark.parametrize("case", CASES)
def test_search_count_uses_indexes(big_db, case):
    settings, facts = big_db
    plan = _explain(settings, *_count_sql(_filters(case, facts["popular_area"], facts["popular_city"])))
    assert _full_scans(plan) == [], plan
    assert _sorts(plan) == [], plan


@pytest.mark.parametrize("order", ["booking", "new"])
def test_home_queries_read_an_index_in_order(big_db, order):
    settings, _ = big_db
    plan = _explain(settings, search.public_ids_sql(order), [12])
    assert len(plan) == 1 and plan[0]["key"], plan
    assert _full_scans(plan) == [] and _sorts(plan) == [], plan


def test_cards_are_primary_key_lookups(big_db):
    settings, _ = big_db
    ids = _with_db(settings, lambda db: db.query(search.public_ids_sql("new"), 12))
    marks = ", ".join(["%s"] * len(ids))
    plan = _explain(settings, f"SELECT {search.CARD_COLUMNS} FROM houses h JOIN areas a ON a.id = h.area_id "
                              f"JOIN users u ON u.id = h.owner_id WHERE h.id IN ({marks})", [r["id"] for r in ids])
    assert _full_scans(plan) == [], plan
    assert all(row["rows"] is None or int(row["rows"]) <= 12 for row in plan), plan


def test_area_list_never_scans_houses_or_areas(big_db):
    settings, _ = big_db
    plan = _explain(settings, areas_model.FEATURED_AREAS_SQL,
                    [*areas_model.FEATURED_CITIES, areas_model.OTHER_AREAS_LIMIT])
    assert _full_scans(plan) == [], plan
    listed = {a["id"] for a in _with_db(settings, areas_model.featured_areas)}
    featured = _with_db(settings, lambda db: db.query(
        f"SELECT id FROM areas WHERE city IN ({', '.join(['%s'] * len(areas_model.FEATURED_CITIES))})",
        *areas_model.FEATURED_CITIES))
    busiest = _with_db(settings, lambda db: db.query(
        "SELECT area_id FROM houses WHERE status = 'online' GROUP BY area_id ORDER BY COUNT(*) DESC, area_id "
        "LIMIT %s", areas_model.OTHER_AREAS_LIMIT))
    districts_with_listings = _with_db(settings, lambda db: db.scalar(
        "SELECT COUNT(DISTINCT area_id) FROM houses WHERE status = 'online'"))
    assert districts_with_listings > len(featured) + areas_model.OTHER_AREAS_LIMIT  # the cap matters here
    assert listed == {r["id"] for r in featured} | {r["area_id"] for r in busiest}


def _plain_query(f: SearchFilters, city_name: str | None = None) -> tuple[str, list]:
    """The query the indexes replaced: joins, EXISTS lookups, no cap (a reference for results).
    A city is its districts by name in ``areas`` (not houses.city_id)."""
    where, args = ["h.status = 'online'", "u.is_active = 1"], []
    if f.area_id is not None:
        where.append("h.area_id = %s")
        args.append(f.area_id)
    if f.city_id is not None:
        where.append("h.area_id IN (SELECT id FROM areas WHERE city = %s)")
        args.append(city_name)
    if f.price_min_fen is not None:
        where.append("h.price_fen >= %s")
        args.append(f.price_min_fen)
    if f.price_max_fen is not None:
        where.append("h.price_fen <= %s")
        args.append(f.price_max_fen)
    if f.guests is not None:
        where.append("h.capacity >= %s")
        args.append(f.guests)
    for fid in f.facility_ids:
        where.append("EXISTS (SELECT 1 FROM house_facilities x WHERE x.house_id = h.id AND x.facility_id = %s)")
        args.append(fid)
    if f.check_in:
        nights = (f.check_out - f.check_in).days
        where.append("NOT EXISTS (SELECT 1 FROM booked_nights b WHERE b.house_id = h.id "
                     "AND b.night >= %s AND b.night < %s) AND h.min_days <= %s AND (h.max_days = 0 OR h.max_days >= %s)")
        args += [f.check_in, f.check_out, nights, nights]
    return ("FROM houses h JOIN users u ON u.id = h.owner_id WHERE " + " AND ".join(where)), args


@pytest.mark.parametrize("case", ["all-new-page-200", "area-price-inc", "dates-area", "facilities-price-des",
                                  "guests-booking", "all-rating-page-50", "area-rating", "city-new",
                                  "city-rating", "city-dates-guests"])
def test_results_match_the_plain_query(big_db, case):
    settings, facts = big_db
    f = _filters(case, facts["popular_area"], facts["popular_city"])
    base, args = _plain_query(f, facts["popular_city_name"])

    async def both(db):
        rows, total = await search.search(db, f)
        plain_ids = await db.query(f"SELECT h.id {base} ORDER BY {SORTS[f.sort]} LIMIT %s OFFSET %s",
                                   *args, f.per_page, (f.page - 1) * f.per_page)
        plain_total = await db.scalar(f"SELECT COUNT(*) {base}", *args)
        return [r["id"] for r in rows], total, [r["id"] for r in plain_ids], plain_total
    ids, total, plain_ids, plain_total = _with_db(settings, both)
    assert ids == plain_ids
    assert len(ids) == f.per_page
    assert total == min(plain_total, COUNT_CAP + 1)
