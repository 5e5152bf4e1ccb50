"""Tests of models/seed.py against a real, throw-away MariaDB database.

The module creates ``ihome_test_seed_<pid>``, migrates it, seeds it and drops it at
the end. Async code runs under ``asyncio.run`` inside plain sync tests, with the
pool created and closed inside that loop.
"""

from __future__ import annotations

import asyncio
import os
import re
import warnings
from pathlib import Path

import bcrypt
import pymysql
import pytest

from config import test_settings
from models import seed
from models.db import create_database
from services.images import ImageStore
from tests.utils import testdb

# Its module-scoped database is built once, on one worker (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("seed")


DB_NAME = f"ihome_test_seed_{os.getpid()}"
VENDOR_ICONS_CSS = (Path(__file__).resolve().parent.parent / "static" / "vendor" / "bootstrap-icons"
                    / "font" / "bootstrap-icons.min.css")

# Every district of the six featured cities in cpca's adcode table (the rows that
# are not the "市辖区" placeholder), so a missing one is noticed by name.
FEATURED_DISTRICTS = {
    "北京市": {"东城区", "西城区", "朝阳区", "丰台区", "石景山区", "海淀区", "门头沟区", "房山区",
            "通州区", "顺义区", "昌平区", "大兴区", "怀柔区", "平谷区", "密云区", "延庆区"},
    "上海市": {"黄浦区", "徐汇区", "长宁区", "静安区", "普陀区", "虹口区", "杨浦区", "闵行区",
            "宝山区", "嘉定区", "浦东新区", "金山区", "松江区", "青浦区", "奉贤区", "崇明区"},
    "广州市": {"荔湾区", "越秀区", "海珠区", "天河区", "白云区", "黄埔区", "番禺区", "花都区",
            "南沙区", "从化区", "增城区"},
    "深圳市": {"罗湖区", "福田区", "南山区", "宝安区", "龙岗区", "盐田区"},
    "成都市": {"锦江区", "青羊区", "金牛区", "武侯区", "成华区", "龙泉驿区", "青白江区", "新都区",
            "温江区", "双流区", "金堂县", "郫县", "大邑县", "蒲江县", "新津县", "都江堰市",
            "彭州市", "邛崃市", "崇州市", "简阳市"},
    "杭州市": {"上城区", "下城区", "江干区", "拱墅区", "西湖区", "滨江区", "萧山区", "余杭区",
            "富阳区", "临安市", "桐庐县", "淳安县", "建德市"},
}


def _connect(db: str | None = None):
    params = test_settings().mysql
    return pymysql.connect(host=params.host, port=params.port, user=params.user,
                           password=params.password, database=db, charset="utf8mb4", autocommit=True)


@pytest.fixture(scope="module")
def settings():
    """Settings pointing at a fresh, migrated, unseeded database that is dropped afterwards."""
    base = test_settings(mysql_pool_max=5)
    with warnings.catch_warnings():
        # yoyo's MySQL backend still passes PyMySQL the deprecated db= and passwd= arguments.
        warnings.filterwarnings("ignore", "'(db|passwd)' is deprecated", DeprecationWarning)
        settings = testdb.create(DB_NAME, base=base, seed=False)
    try:
        yield settings
    finally:
        testdb.drop(DB_NAME, base=base)


def run(settings, fn):
    """Run ``await fn(db)`` in a new loop with a pool made (and closed) inside it."""
    async def main():
        db = await create_database(settings)
        try:
            return await fn(db)
        finally:
            await db.close()
    return asyncio.run(main())


def sql(query: str, *args):
    """Rows of *query* (dicts) from the test database, through a plain PyMySQL connection."""
    conn = _connect(DB_NAME)
    try:
        with conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute(query, args or None)
            return list(cur.fetchall())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def seeded(settings):
    """Areas and facilities seeded once; returns what the seeders reported."""
    async def go(db):
        return await seed.seed_areas(db, progress=False), await seed.seed_facilities(db)
    return run(settings, go)


@pytest.fixture(scope="module")
def demo(settings, seeded, tmp_path_factory):
    """The demo listings seeded once into a temporary media directory."""
    media = tmp_path_factory.mktemp("media")
    store = ImageStore(media)
    created = run(settings, lambda db: seed.seed_demo(db, store, progress=False))
    return store, created


# -- areas ----------------------------------------------------------------------

def test_areas_cover_the_whole_country(seeded):
    areas, _ = seeded
    rows = sql("SELECT COUNT(*) AS n, COUNT(DISTINCT province) AS provinces FROM areas")[0]
    assert areas == rows["n"] > 2800
    # 31 mainland provincial divisions; HK, Macau and Taiwan have no districts in cpca.
    assert rows["provinces"] == 31
    assert sql("SELECT COUNT(*) AS n FROM areas WHERE name IN ('市辖区', '县') OR city IN ('市辖区', '县')")[0]["n"] == 0
    assert sql("SELECT COUNT(*) AS n FROM areas WHERE id < 110000 OR id > 999999")[0]["n"] == 0


@pytest.mark.parametrize("area_id, name, city, province", [
    (110105, "朝阳区", "北京市", "北京市"),
    (310115, "浦东新区", "上海市", "上海市"),
    (120101, "和平区", "天津市", "天津市"),
    (500233, "忠县", "重庆市", "重庆市"),
    (440106, "天河区", "广州市", "广东省"),
    (440305, "南山区", "深圳市", "广东省"),
    (510104, "锦江区", "成都市", "四川省"),
    (330106, "西湖区", "杭州市", "浙江省"),
    (429004, "仙桃市", "仙桃市", "湖北省"),  # a county-level city governed by its province
    (441900, "东莞市", "东莞市", "广东省"),  # a city without districts is its own area
])
def test_area_names(seeded, area_id, name, city, province):
    assert sql("SELECT name, city, province FROM areas WHERE id = %s", area_id) == [
        {"name": name, "city": city, "province": province}]


def test_every_district_of_the_featured_cities(seeded):
    assert set(FEATURED_DISTRICTS) == set(seed.FEATURED_CITIES)
    for city, districts in FEATURED_DISTRICTS.items():
        rows = sql("SELECT name, province FROM areas WHERE city = %s", city)
        assert {r["name"] for r in rows} >= districts, city
        assert len({r["province"] for r in rows}) == 1, city


def test_seed_areas_is_idempotent(settings, seeded):
    before = sql("SELECT id, name, city, province FROM areas ORDER BY id")
    again = run(settings, lambda db: seed.seed_areas(db, progress=False))
    after = sql("SELECT id, name, city, province FROM areas ORDER BY id")
    assert again == seeded[0] == len(after)
    assert after == before
    assert sql("SELECT COUNT(*) AS n FROM (SELECT name, city FROM areas GROUP BY name, city "
               "HAVING COUNT(*) > 1) d")[0]["n"] == 0


def test_seed_areas_repairs_a_changed_row(settings, seeded):
    sql("UPDATE areas SET name = '改过的名字' WHERE id = 440305")
    run(settings, lambda db: seed.seed_areas(db, progress=False))
    assert sql("SELECT name FROM areas WHERE id = 440305") == [{"name": "南山区"}]


# -- facilities -----------------------------------------------------------------

def test_facilities_in_catalogue_order(settings, seeded):
    expected = ["无线网络", "热水淋浴", "空调", "暖气", "允许吸烟", "饮水设备", "牙具", "香皂", "拖鞋",
                "手纸", "毛巾", "沐浴露", "冰箱", "洗衣机", "电梯", "允许做饭", "允许带宠物", "允许聚会",
                "门禁系统", "停车位", "有线网络", "电视", "浴缸"]
    assert seeded[1] == 23
    assert run(settings, seed.seed_facilities) == 23
    rows = sql("SELECT id, name, icon FROM facilities ORDER BY id")
    assert [(r["id"], r["name"]) for r in rows] == list(enumerate(expected, start=1))
    assert [r["icon"] for r in rows] == [f.icon for f in seed.FACILITIES]


def test_facility_icons_exist_in_vendored_bootstrap_icons():
    css = VENDOR_ICONS_CSS.read_text(encoding="utf-8")
    defined = set(re.findall(r"\.(bi-[a-z0-9-]+)::before", css))
    icons = [f.icon for f in seed.FACILITIES]
    assert len(set(icons)) == len(icons)
    assert [icon for icon in icons if icon not in defined] == []


# -- demo listings --------------------------------------------------------------

def test_demo_listings(demo):
    store, created = demo
    assert created == len(seed.DEMO_LISTINGS) == 42
    owner = sql("SELECT id, name, password_hash, real_name, id_card FROM users WHERE mobile = %s",
                seed.DEMO_MOBILE)
    assert len(owner) == 1 and owner[0]["name"] == "演示房东"
    assert owner[0]["password_hash"].startswith("$2b$12$")
    assert owner[0]["real_name"] == "张演示"
    houses = sql("SELECT h.*, a.city FROM houses h JOIN areas a ON a.id = h.area_id "
                 "WHERE h.owner_id = %s", owner[0]["id"])
    assert len(houses) == 42
    assert {h["status"] for h in houses} == {"online"}
    by_city = {}
    for h in houses:
        by_city[h["city"]] = by_city.get(h["city"], 0) + 1
    assert set(by_city) == set(seed.FEATURED_CITIES)
    assert min(by_city.values()) >= 5
    for h in houses:
        # Prices are fen: 188–1288 yuan a night, whole yuan.
        assert 18800 <= h["price_fen"] <= 128800 and h["price_fen"] % 100 == 0, h["title"]
        assert h["deposit_fen"] % 100 == 0
        assert h["min_days"] == 1 and h["max_days"] in (0, 30)
        assert h["capacity"] >= 1 and h["room_count"] >= 1 and h["acreage"] > 0
        assert h["title"] and h["address"] and h["unit"] and h["beds"] and len(h["description"]) > 40
    assert len({h["title"] for h in houses}) == 42


def test_demo_facilities_and_dates(demo):
    counts = sql("SELECT h.id, COUNT(hf.facility_id) AS n FROM houses h "
                 "LEFT JOIN house_facilities hf ON hf.house_id = h.id GROUP BY h.id")
    assert len(counts) == 42 and all(3 <= r["n"] <= 8 for r in counts)
    span = sql("SELECT MIN(created_at) AS oldest, MAX(created_at) AS newest, NOW() AS now, "
               "COUNT(DISTINCT DATE(created_at)) AS days FROM houses")[0]
    assert (span["now"] - span["oldest"]).days in (58, 59)
    assert (span["now"] - span["newest"]).days <= 1
    assert span["days"] >= 30


def test_demo_photos_exist_and_cover_is_first(demo):
    store, _ = demo
    houses = sql("SELECT id, cover_image_id FROM houses")
    images = sql("SELECT id, house_id, storage_key, width, height, position FROM house_images "
                 "ORDER BY house_id, position")
    assert len(images) == 42 * 3
    by_house = {}
    for image in images:
        by_house.setdefault(image["house_id"], []).append(image)
        assert store.path(image["storage_key"], "l").is_file()
        assert store.path(image["storage_key"], "t").is_file()
        assert all(path.is_file() for path in store.all_paths(image["storage_key"]))  # every width, both formats
        assert (image["width"], image["height"]) == (1200, 800)
    for house in houses:
        gallery = by_house[house["id"]]
        assert [i["position"] for i in gallery] == [0, 1, 2]
        assert house["cover_image_id"] == gallery[0]["id"]
    assert len({i["storage_key"] for i in images}) == 42 * 3


def test_seed_demo_twice_adds_nothing(settings, demo):
    store, _ = demo
    files_before = sorted(p.name for p in store.media_dir.rglob("*.jpg"))
    assert run(settings, lambda db: seed.seed_demo(db, store, progress=False)) == 0
    assert sql("SELECT COUNT(*) AS n FROM houses")[0]["n"] == 42
    assert sql("SELECT COUNT(*) AS n FROM house_images")[0]["n"] == 42 * 3
    assert sql("SELECT COUNT(*) AS n FROM users WHERE mobile = %s", seed.DEMO_MOBILE)[0]["n"] == 1
    assert sorted(p.name for p in store.media_dir.rglob("*.jpg")) == files_before


def test_demo_password_and_identity(demo):
    rows = sql("SELECT password_hash, id_card FROM users WHERE mobile = %s", seed.DEMO_MOBILE)
    assert bcrypt.checkpw(seed.DEMO_PASSWORD.encode(), rows[0]["password_hash"].encode())
    card = rows[0]["id_card"]
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    assert "10X98765432"[sum(int(d) * w for d, w in zip(card[:17], weights)) % 11] == card[17]
