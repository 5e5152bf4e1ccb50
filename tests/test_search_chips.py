"""The search page's active filters as removable chips, the 筛选 sheet's count, and the order of
results and filters (results first, for phones)."""

from __future__ import annotations

import datetime
import html
import re
import urllib.parse

import pytest

from handlers.houses import canonical_search_query, filter_chips, search_url
from models.search import SearchFilters
from tests.utils.client import text
from tests.utils.factories import make_house, make_user

AREAS = [{"id": 440305, "name": "南山区", "city": "深圳市", "province": "广东省"},
         {"id": 110105, "name": "朝阳区", "city": "北京市", "province": "北京市"}]
FACILITIES = [{"id": 1, "name": "无线网络", "icon": "bi-wifi"}, {"id": 3, "name": "空调", "icon": "bi-snow"}]
IN, OUT = datetime.date(2031, 11, 25), datetime.date(2031, 11, 28)


def full() -> SearchFilters:
    return SearchFilters(area_id=440305, check_in=IN, check_out=OUT, guests=2, price_min_fen=10000,
                         price_max_fen=50050, facility_ids=(1, 3), sort="price-inc", page=3)


def test_chips_name_each_filter_and_drop_only_it():
    chips = filter_chips(full(), AREAS, FACILITIES)
    assert [c["label"] for c in chips] == ["南山区", "11月25日–11月28日（3 晚）", "2 人", "¥100 起", "¥500.50 以内",
                                           "无线网络", "空调"]
    rest = "sd=2031-11-25&ed=2031-11-28&guests=2&price_min=100&price_max=500.50&facility=1&facility=3&sort=price-inc"
    assert chips[0]["url"] == "/houses?" + rest
    assert chips[1]["url"] == ("/houses?area_id=440305&guests=2&price_min=100&price_max=500.50&facility=1&facility=3"
                               "&sort=price-inc")
    assert chips[6]["url"] == ("/houses?area_id=440305&sd=2031-11-25&ed=2031-11-28&guests=2&price_min=100"
                               "&price_max=500.50&facility=1&sort=price-inc")
    assert all("page=" not in chip["url"] for chip in chips)  # back to page 1
    # ... in the spelling the page cache accepts for the search without that filter.
    dropped_guests = SearchFilters(area_id=440305, check_in=IN, check_out=OUT, price_min_fen=10000,
                                   price_max_fen=50050, facility_ids=(1, 3), sort="price-inc")
    assert canonical_search_query(chips[2]["url"].partition("?")[2], dropped_guests)


def test_a_city_chip_and_no_chips_without_filters():
    chips = filter_chips(SearchFilters(city_id=440300, sort="booking"), AREAS, FACILITIES)
    assert chips == [{"label": "深圳市（全市）", "url": "/houses?sort=booking"}]
    assert filter_chips(SearchFilters(sort="rating", page=4), AREAS, FACILITIES) == []
    assert search_url(SearchFilters()) == "/houses"


@pytest.mark.gen_test
async def test_search_page_renders_chips_count_and_results_first(app, client):
    owner = await make_user(app)
    await make_house(app, owner, title="筛选测试房", area_id=110105, price_fen=43210, capacity=4, facilities=(1, 3))
    response = await client.get("/houses?area_id=110105&guests=2&price_min=432.10&facility=1")
    body = text(response)
    assert response.code == 200
    labels = [html.unescape(x) for x in re.findall(r'<span class="chip-label">([^<]*)</span>', body)]
    assert labels[1:] == ["2 人", "¥432.10 起", "无线网络"] and len(labels) == 4
    assert re.search(r'id="filter-count">4</span>', body)
    hrefs = [html.unescape(h) for h in re.findall(r'<a class="btn btn-sm btn-outline-secondary filter-chip" href="([^"]+)"', body)]
    assert hrefs[1] == "/houses?area_id=110105&price_min=432.10&facility=1"
    assert 'id="chips-clear" href="/houses"' in body
    # Results before the filter form in the document (the form is the sheet on phones).
    assert body.index('id="results"') < body.index('id="search-form"')
    assert 'class="offcanvas-lg offcanvas-bottom search-filters"' in body
    assert 'href="#search-filters" role="button" data-bs-toggle="offcanvas"' in body

    # A chip's link is a canonical query: the page is cached for anonymous visitors under it.
    query = urllib.parse.urlsplit(hrefs[1]).query
    first = text(await client.get(f"/houses?{query}"))
    await app.db.execute("UPDATE houses SET title = '改过的标题' WHERE title = '筛选测试房'")
    again = text(await client.get(f"/houses?{query}"))
    assert "筛选测试房" in first and again == first


@pytest.mark.gen_test
async def test_search_errors_point_fields_at_their_messages(app, client):
    response = await client.get("/houses?price_min=abc&guests=99")
    body = text(response)
    assert response.code == 400
    for field, message_id in (("price_min", "price_min-error"), ("guests", "guests-error")):
        tag = re.search(rf'<input [^>]*id="{field}"[^>]*>', body).group(0)
        assert 'aria-invalid="true"' in tag and f'aria-describedby="{message_id}"' in tag
    price_max = re.search(r'<input [^>]*id="price_max"[^>]*>', body).group(0)
    assert "aria-invalid" not in price_max
    assert 'id="search-errors"' in body and '<form method="get" action="/houses" class="card card-body shadow-sm w-100" id="search-form" novalidate>' in body
