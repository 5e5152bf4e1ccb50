"""Search by a whole city (the area select's 全市 options) as well as by district."""

from __future__ import annotations

import re

import pytest

from models.areas import city_code, is_city_code, tree
from models.seed import area_rows
from tests.utils.client import text
from tests.utils.factories import make_house, make_user


def found(body: str) -> set[int]:
    return {int(i) for i in re.findall(r'data-house-id="(\d+)"', body)}


@pytest.mark.parametrize("area_id,city", [
    (110105, 110000),   # a municipality's district → the municipality
    (500101, 500000),
    (440305, 440300),   # a prefecture's district → the prefecture
    (441900, 441900),   # 东莞市 has no districts: it is its own city
    (429004, 429004),   # 仙桃市, governed by its province: its own city
])
def test_city_code(area_id, city):
    assert city_code(area_id) == city


def test_city_code_matches_the_areas_city_names():
    """Over the whole adcode table: one code per (province, city) of ``areas`` and back —
    the rule migration 0042 stores as houses.city_id."""
    rows = [row._asdict() for row in area_rows()]
    by_code: dict[int, set] = {}
    for row in rows:
        by_code.setdefault(city_code(row["id"]), set()).add((row["province"], row["city"]))
    assert all(len(names) == 1 for names in by_code.values())
    assert len(by_code) == len({(row["province"], row["city"]) for row in rows})
    provinces = tree(rows)
    assert sum(len(p["cities"]) for p in provinces) == len(by_code)
    assert all(is_city_code(c["id"]) or [d["id"] for d in c["districts"]] == [c["id"]]
               for p in provinces for c in p["cities"])


@pytest.mark.gen_test
async def test_the_stored_city_follows_the_same_rule(app):
    owner = await make_user(app)
    for area_id in (110105, 440305, 441900, 429004):
        house = await make_house(app, owner, area_id=area_id)
        assert await app.db.scalar("SELECT city_id FROM houses WHERE id = %s", house["id"]) == city_code(area_id)


@pytest.mark.gen_test
async def test_a_city_finds_all_its_districts(app, client):
    owner = await make_user(app)
    chaoyang = await make_house(app, owner, area_id=110105)
    haidian = await make_house(app, owner, area_id=110108)
    nanshan = await make_house(app, owner, area_id=440305)
    assert found(text(await client.get("/houses?area_id=110000"))) == {chaoyang["id"], haidian["id"]}
    assert found(text(await client.get("/houses?area_id=110105"))) == {chaoyang["id"]}
    assert found(text(await client.get("/houses?area_id=440300"))) == {nanshan["id"]}
    assert found(text(await client.get("/houses?area_id=440300&sort=rating&guests=2"))) == {nanshan["id"]}


@pytest.mark.gen_test
async def test_the_area_select_offers_whole_cities(app, client):
    owner = await make_user(app)
    await make_house(app, owner, area_id=420106)  # 武汉市武昌区: a city with listings, not featured
    body = text(await client.get("/houses?area_id=110000"))
    assert re.search(r'<option value="110000" class="city-option"[^>]*selected>北京市（全市）</option>', body)
    assert '<option value="110105"' in body
    assert '<option value="420100" class="city-option"' in body
    # A city outside the list (a link, an old bookmark) is still shown as chosen.
    assert '<option value="430100"' not in body  # 长沙市: not featured, no listings
    other = text(await client.get("/houses?area_id=430100"))
    assert re.search(r'<option value="430100" class="city-option"[^>]*selected>长沙市（全市）', other)
    home = text(await client.get("/"))
    assert 'class="city-option"' in home and 'id="guests"' in home


@pytest.mark.gen_test
async def test_the_publish_form_offers_districts_only(app, client, login):
    user = await make_user(app)
    await login(client, user)
    form = text(await client.get("/houses/new"))
    assert '<option value="110105"' in form and 'city-option' not in form
