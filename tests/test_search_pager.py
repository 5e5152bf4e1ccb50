"""The search pager: previous/next and a window of pages, never a link per page; a count
capped at search.COUNT_CAP shows as "N+"."""

from __future__ import annotations

import re

import pytest

from handlers.houses import page_window
from models import search as search_model
from tests.utils.client import text
from tests.utils.factories import make_house, make_user


@pytest.mark.parametrize("page, pages, expected", [
    (1, 1, [1]),
    (1, 3, [1, 2, 3]),
    (6, 40, [1, None, 4, 5, 6, 7, 8, None, 40]),
    (4, 40, [1, 2, 3, 4, 5, 6, None, 40]),  # a gap of one page shows the page, not "…"
    (40, 40, [1, None, 38, 39, 40]),
    (250, 500, [1, None, 248, 249, 250, 251, 252, None, 500]),
])
def test_page_window(page, pages, expected):
    assert page_window(page, pages) == expected


def test_page_window_is_bounded_whatever_the_page_count():
    assert max(len(page_window(p, 500)) for p in range(1, 501)) <= 9


def pager(body: str) -> list[str]:
    """The pager's entries as shown: link texts, the current page in brackets, … for gaps."""
    nav = re.search(r'<ul class="pagination[^"]*" id="pager">(.*?)</ul>', body, re.S)
    assert nav, "no pager"
    entries = []
    for item in re.findall(r'<li class="page-item([^"]*)"[^>]*>(.*?)</li>', nav.group(1), re.S):
        classes, inner = item
        label = re.sub(r"<[^>]+>", "", inner).strip()
        entries.append(f"[{label}]" if "active" in classes else label)
    return entries


@pytest.fixture
def many(app):
    async def make(count: int):
        landlord = await make_user(app)
        for i in range(count):
            await make_house(app, landlord, title=f"房源{i}")
    return make


@pytest.mark.gen_test
async def test_pager_shows_a_window_and_keeps_the_filters(app, client, many):
    await many(12 * 9 + 1)  # 10 pages
    response = await client.get("/houses?sort=price-inc&page=5")
    body = text(response)
    assert pager(body) == ["上一页", "1", "2", "3", "4", "[5]", "6", "7", "…", "10", "下一页"]
    links = re.findall(r'href="(/houses\?[^"]*)"', re.search(r'id="pager">(.*?)</ul>', body, re.S).group(1))
    assert all("sort=price-inc" in link for link in links)
    assert 'rel="prev" href="/houses?sort=price-inc&amp;page=4"' in body
    assert 'rel="next" href="/houses?sort=price-inc&amp;page=6"' in body
    last = text(await client.get("/houses?page=10"))
    assert pager(last)[-2:] == ["[10]", "下一页"] and 'rel="next"' not in last


@pytest.mark.gen_test
async def test_count_beyond_the_cap_shows_plus(app, client, many, monkeypatch):
    monkeypatch.setattr(search_model, "COUNT_CAP", 24)  # the real cap is 6,000 listings
    await many(30)
    body = text(await client.get("/houses"))
    assert re.search(r'<span id="result-total">24</span>\+ 套房源', body)
    assert pager(body) == ["上一页", "[1]", "2", "下一页"]
    few = text(await client.get("/houses?price_max=1"))
    assert "+ 套房源" not in few


@pytest.mark.gen_test
async def test_a_district_outside_the_select_list_stays_selected(app, client):
    landlord = await make_user(app)
    await make_house(app, landlord, area_id=110105)
    outside = await app.db.scalar("SELECT id FROM areas WHERE city = '拉萨市' ORDER BY id LIMIT 1")
    body = text(await client.get(f"/houses?area_id={outside}"))
    assert re.search(rf'<option value="{outside}"[^>]*selected', body)
    assert 'value="110105"' in body
