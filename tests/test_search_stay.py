"""Search with guests and dates: cards carry the stay to the listing and show its total; the
pager keeps every filter; the sort applies on change; an empty result offers to clear filters."""

from __future__ import annotations

import re

import pytest

from tests.utils.client import text
from tests.utils.dates import iso
from tests.utils.factories import make_house, make_user


def card_links(body: str) -> dict[int, str]:
    """{house id: the card title's href}."""
    return {int(i): href for href, i in
            re.findall(r'text-decoration-none" href="(/houses/(\d+)[^"]*)"', body)}


def pager_links(body: str) -> dict[str, str]:
    nav = re.search(r'id="pager">(.*?)</ul>', body, re.S)
    assert nav, "no pager"
    return {label: href.replace("&amp;", "&")
            for href, label in re.findall(r'<a class="page-link"[^>]*href="([^"]+)">([^<]+)</a>', nav.group(1))}


@pytest.mark.gen_test
async def test_guests_keep_only_listings_for_that_many(app, client):
    owner = await make_user(app)
    small = await make_house(app, owner, title="两人间", capacity=2)
    big = await make_house(app, owner, title="六人间", capacity=6)
    assert set(card_links(text(await client.get("/houses?guests=3")))) == {big["id"]}
    assert set(card_links(text(await client.get("/houses?guests=2")))) == {small["id"], big["id"]}
    page = text(await client.get("/houses?guests=3"))
    assert 'id="guests"' in page and 'value="3"' in page.split('id="guests"', 1)[1][:200]


@pytest.mark.gen_test
async def test_dated_cards_link_with_the_stay_and_show_its_total(app, client):
    owner = await make_user(app)
    house = await make_house(app, owner, price_fen=52800)
    body = text(await client.get(f"/houses?sd={iso(2)}&ed={iso(5)}&guests=2"))
    assert card_links(body)[house["id"]] == f"/houses/{house['id']}?sd={iso(2)}&amp;ed={iso(5)}&amp;guests=2"
    assert re.search(r'class="small text-muted stay-total">3 晚 共 ¥1,584</span>', body)
    assert "¥528<small" in body  # the nightly price stays next to it
    # Without a stay the card links to the bare listing and shows no total.
    plain = text(await client.get("/houses"))
    assert card_links(plain)[house["id"]] == f"/houses/{house['id']}"
    assert "stay-total" not in plain
    # Guests alone are carried too (no total without dates).
    only_guests = text(await client.get("/houses?guests=2"))
    assert card_links(only_guests)[house["id"]] == f"/houses/{house['id']}?guests=2"
    assert "stay-total" not in only_guests


@pytest.mark.gen_test
async def test_the_card_link_opens_the_listing_with_the_stay(app, client):
    owner = await make_user(app)
    house = await make_house(app, owner)
    body = text(await client.get(f"/houses?sd={iso(2)}&ed={iso(4)}&guests=2"))
    href = card_links(body)[house["id"]].replace("&amp;", "&")
    listing = await client.get(href)
    assert listing.code == 200
    assert f'data-house-id="{house["id"]}"' in text(listing)


@pytest.mark.gen_test
async def test_prev_and_next_keep_every_filter(app, client):
    owner = await make_user(app)
    for i in range(13):
        await make_house(app, owner, title=f"房源{i}", capacity=4, area_id=110105 if i % 2 else 110108)
    query = f"area_id=110000&sd={iso(3)}&ed={iso(5)}&guests=2&price_max=500&facility=1&sort=rating"
    first = text(await client.get(f"/houses?{query}"))
    assert len(card_links(first)) == 12
    following = pager_links(first)["下一页"]
    assert "上一页" not in pager_links(first)
    second = text(await client.get(following))
    assert len(card_links(second)) == 1
    back = pager_links(second)["上一页"]
    for link in (following, back):
        for part in query.split("&"):
            assert part in link, (part, link)
    assert set(card_links(text(await client.get(back)))) == set(card_links(first))


@pytest.mark.gen_test
async def test_the_sort_applies_on_change_and_the_button_stays(client):
    body = text(await client.get("/houses"))
    assert re.search(r'<select[^>]*id="sort"[^>]*data-autosubmit', body)
    assert '<option value="rating"' in body
    assert re.search(r'<button class="btn btn-brand w-100" type="submit">', body)  # works without JS
    assert re.search(r'<script src="/static/js/search\.js\?v=[^"]+" defer></script>', body)
    script = await client.get("/static/js/search.js")
    assert script.code == 200 and b"data-autosubmit" in script.body and b"requestSubmit" in script.body


@pytest.mark.gen_test
async def test_an_empty_result_offers_to_clear_the_filters(app, client):
    owner = await make_user(app)
    await make_house(app, owner, price_fen=28800)
    body = text(await client.get(f"/houses?sd={iso(2)}&ed={iso(4)}&guests=2&price_max=100"))
    assert 'id="no-results"' in body
    assert f'id="clear-filters" href="/houses?sd={iso(2)}&amp;ed={iso(4)}&amp;guests=2"' in body
    assert 'id="show-all" href="/houses">清除所有条件' in body
    kept = text(await client.get(f"/houses?sd={iso(2)}&ed={iso(4)}&guests=2"))
    assert 'id="no-results"' not in kept  # the kept stay alone finds the listing
    # Without a stay to keep, one link clears everything.
    bare = text(await client.get("/houses?price_max=100"))
    assert 'id="clear-filters"' not in bare and 'id="show-all" href="/houses">清除所有条件' in bare
