"""``manage.py seed --scale N``: the synthetic data set for benchmarks and plan tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pymysql
import pytest

from config import test_settings
from models.areas import FEATURED_CITIES
from models.seed_scale import LISTINGS_PER_GUEST, LISTINGS_PER_OWNER
from tests.utils import testdb

# Its module-scoped database is built once, on one worker (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("scale_seed")


ROOT = Path(__file__).resolve().parent.parent
N = 600


@pytest.fixture(scope="module")
def scale_db():
    name = f"ihome_test_scale_{os.getpid()}"
    base = test_settings()
    with testdb.throwaway_database(name, base=base, redis_db=testdb.redis_db_number()) as settings:
        yield settings


def seed(settings, n: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "IHOME_MYSQL_URL": settings.mysql_url, "IHOME_REDIS_URL": settings.redis_url,
           "IHOME_ENV": "development"}
    return subprocess.run([sys.executable, "manage.py", "seed", "--no-demo", "--quiet", "--scale", str(n)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def rows(settings, sql: str, *args) -> list[dict]:
    p = settings.mysql
    conn = pymysql.connect(host=p.host, port=p.port, user=p.user, password=p.password, database=p.db,
                           cursorclass=pymysql.cursors.DictCursor)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args or None)
            return list(cur.fetchall())
    finally:
        conn.close()


def scalar(settings, sql: str, *args):
    return next(iter(rows(settings, sql, *args)[0].values()))


def test_scale_seed_loads_a_consistent_skewed_data_set_and_tops_up(scale_db):
    first = seed(scale_db, N)
    assert first.returncode == 0, first.stderr
    assert f"{N} synthetic listings added" in first.stdout
    assert scalar(scale_db, "SELECT COUNT(*) FROM houses") == N
    assert scalar(scale_db, "SELECT COUNT(*) FROM users WHERE mobile LIKE %s", "170%") == N // LISTINGS_PER_OWNER
    assert scalar(scale_db, "SELECT COUNT(*) FROM users WHERE mobile LIKE %s", "171%") == N // LISTINGS_PER_GUEST

    # About two booked nights per listing, each night belonging to an order of that listing
    # whose stay covers it, and every order's nights all booked.
    nights = scalar(scale_db, "SELECT COUNT(*) FROM booked_nights")
    assert 1.5 * N <= nights <= 2.5 * N
    assert scalar(scale_db, "SELECT COUNT(*) FROM booked_nights b JOIN orders o ON o.id = b.order_id "
                            "WHERE o.house_id = b.house_id AND b.night >= o.check_in AND b.night < o.check_out") == nights
    assert scalar(scale_db, "SELECT COALESCE(SUM(nights), 0) FROM orders") == nights
    assert scalar(scale_db, "SELECT COUNT(*) FROM orders WHERE amount_fen <> nights * price_fen") == 0

    # Facilities: 3–8 each.
    counts = rows(scale_db, "SELECT COUNT(*) AS n FROM house_facilities GROUP BY house_id")
    assert len(counts) == N and all(3 <= r["n"] <= 8 for r in counts)

    # Skewed over real districts: most listings in the featured cities, the top district far
    # above the average district.
    marks = ", ".join(["%s"] * len(FEATURED_CITIES))
    featured = scalar(scale_db, f"SELECT COUNT(*) FROM houses h JOIN areas a ON a.id = h.area_id "
                                f"WHERE a.city IN ({marks})", *FEATURED_CITIES)
    assert 0.45 * N <= featured <= 0.75 * N
    per_area = [r["n"] for r in rows(scale_db, "SELECT COUNT(*) AS n FROM houses GROUP BY area_id ORDER BY n DESC")]
    assert per_area[0] >= 5 * (N / len(per_area))
    assert scalar(scale_db, "SELECT COUNT(*) FROM houses WHERE status = 'online'") >= 0.85 * N

    # Re-running with the same N adds nothing; a larger N adds the difference.
    again = seed(scale_db, N)
    assert again.returncode == 0, again.stderr
    assert "0 synthetic listings added" in again.stdout
    assert scalar(scale_db, "SELECT COUNT(*) FROM houses") == N
    more = seed(scale_db, N + 50)
    assert more.returncode == 0, more.stderr
    assert scalar(scale_db, "SELECT COUNT(*) FROM houses") == N + 50


def test_scale_refuses_a_negative_count(scale_db):
    refused = seed(scale_db, -1)
    assert refused.returncode == 2
    assert "--scale" in refused.stderr
