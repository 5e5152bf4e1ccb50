"""The rendered-page cache: anonymous public pages served as one Redis look-up.

What is kept is the HTML an anonymous visitor gets; it is served unchanged to the
next anonymous visitors, and to logged-in ones with their own header spliced in.
Pages are invalidated by the data cache's generations (a listing write, a booking
with dates). Nothing personal is ever kept: no page rendered for a logged-in
visitor, with a flash, or that set a cookie.
"""

from __future__ import annotations

import json
import re

import pytest
import tornado.web

from handlers.base import FLASH_COOKIE
from handlers.houses import canonical_search_query, parse_search
from models import search as search_model
from tests.utils.client import logged_in, text
from tests.utils.dates import iso
from tests.utils.factories import house_form, make_house, make_user

PUBLIC_PAGES = ("/", "/houses", "/houses?area_id=110105&sort=price-inc")


def without_token(body: str) -> str:
    return re.sub(r'name="_xsrf" value="[^"]*"', 'name="_xsrf"', body)


async def page_keys(app) -> list[str]:
    return sorted(await app.redis.keys("cache:page:*"))


async def fetch_twice(app, client, path: str):
    """(first, second response, hits the second one added)."""
    first = await client.get(path)
    hits = app.cache.page_hits
    second = await client.get(path)
    return first, second, app.cache.page_hits - hits


@pytest.mark.gen_test
async def test_a_cached_page_is_the_same_page(app, client):
    owner = await make_user(app)
    house = await make_house(app, owner, title="缓存里的房源")
    for path in PUBLIC_PAGES + (f"/houses/{house['id']}",):
        first, second, hits = await fetch_twice(app, client, path)
        assert (first.code, second.code, hits) == (200, 200, 1), path
        assert second.body == first.body and "缓存里的房源" in text(second)
        assert second.headers["Content-Type"] == "text/html; charset=UTF-8"
        # The site's headers are set as for any page; no cookie is handed out.
        assert second.headers["Content-Security-Policy"] and second.headers["X-Frame-Options"] == "DENY"
        assert "Set-Cookie" not in first.headers and "Set-Cookie" not in second.headers
        assert "no-store" not in second.headers.get("Cache-Control", "")
    assert len(await page_keys(app)) == 4
    head = await client.fetch("HEAD", "/")
    assert head.code == 200 and not head.body


@pytest.mark.gen_test
async def test_anonymous_listing_page_carries_no_xsrf_token(app, client, new_client, login):
    owner = await make_user(app)
    house = await make_house(app, owner)
    page = await client.get(f"/houses/{house['id']}")
    assert page.code == 200 and 'name="_xsrf"' not in text(page) and "Set-Cookie" not in page.headers
    assert 'id="login-to-book"' in text(page)
    guest, _ = await logged_in(new_client(), app, login)
    own = text(await guest.get(f"/houses/{house['id']}"))
    assert 'name="_xsrf"' in own and 'id="book-btn"' in own


@pytest.mark.gen_test
async def test_a_listing_edit_makes_every_page_fresh(app, client, new_client, login):
    owner_client, owner = await logged_in(new_client(), app, login)
    house = await make_house(app, owner, title="阳光两居室", description="近地铁", price_fen=28800)
    paths = ("/", "/houses?area_id=110105", f"/houses/{house['id']}")
    for path in paths:
        assert "288" in text(await client.get(path))
    kept = await page_keys(app)
    assert len(kept) == 3
    # Same title and description: the listing stays online with its new price.
    response = await owner_client.post(f"/houses/{house['id']}/edit",
                                       list(house_form(price="399").items()) + [("facility", "1")])
    assert response.code == 302
    hits = app.cache.page_hits
    for path in paths:
        body = text(await client.get(path))
        assert "399" in body, path
    assert app.cache.page_hits == hits  # rendered anew, not served from the old keys
    # Kept again under the new search generation; the old ones are unreachable and expire.
    assert len(set(await page_keys(app)) - set(kept)) == 3


@pytest.mark.gen_test
async def test_a_booking_with_dates_refreshes_the_calendar_and_dated_searches(app, client, new_client, login):
    owner = await make_user(app)
    house = await make_house(app, owner)
    dated = f"/houses?sd={iso(3)}&ed={iso(5)}"
    undated = "/houses?area_id=110105"
    listing = f"/houses/{house['id']}"
    assert f'data-date="{iso(3)}"' in text(await client.get(listing))
    assert f"data-house-id=\"{house['id']}\"" in text(await client.get(dated))
    await client.get(undated)
    before = await page_keys(app)
    guest, _ = await logged_in(new_client(), app, login)
    assert (await guest.post(f"/houses/{house['id']}/book", {"sd": iso(3), "ed": iso(5)})).code == 302
    hits = app.cache.page_hits
    page = text(await client.get(listing))
    assert re.search(rf'class="booked" data-date="{iso(3)}"', page)
    assert f"data-house-id=\"{house['id']}\"" not in text(await client.get(dated))
    assert app.cache.page_hits == hits  # both rendered anew
    await client.get(undated)
    assert app.cache.page_hits == hits + 1  # a search without dates is still the cached page
    new = set(await page_keys(app)) - set(before)
    assert len(new) == 2 and not any("area_id" in k for k in new)


@pytest.mark.gen_test
async def test_no_page_rendered_for_a_member_is_kept(app, client, new_client, login):
    member, user = await logged_in(new_client(), app, login)
    for path in PUBLIC_PAGES:
        assert user["name"] in text(await member.get(path))
    # What a member's visit keeps is the page as anonymous visitors get it: nothing of theirs.
    kept = [await app.redis.get(key) for key in await page_keys(app)]
    assert len(kept) == len(PUBLIC_PAGES)
    for html in kept:
        assert user["name"] not in html and 'name="_xsrf"' not in html and 'href="/login"' in html
    # The member gets the cached page with their own header…
    for path in PUBLIC_PAGES:
        first, second, hits = await fetch_twice(app, member, path)
        # The spliced page is the page as rendered for them (the XSRF token is masked anew each time).
        assert hits == 1 and without_token(text(second)) == without_token(text(first))
        body = text(second)
        assert user["name"] in body and 'action="/logout"' in body and 'name="_xsrf"' in body
        assert 'href="/login"' not in body and 'href="/my/houses"' in body
        assert "no-store" in second.headers["Cache-Control"]
    # …and anonymous visitors never see it.
    for path in PUBLIC_PAGES:
        anonymous = text(await client.get(path))
        assert user["name"] not in anonymous and 'href="/login"' in anonymous and 'name="_xsrf"' not in anonymous
    # The spliced page is exactly the page rendered for the member without the cache.
    spliced = {path: without_token(text(await member.get(path))) for path in PUBLIC_PAGES}
    app.cache._failed("test", RuntimeError("cache paused by the test"))
    hits = app.cache.page_hits
    for path in PUBLIC_PAGES:
        assert without_token(text(await member.get(path))) == spliced[path], path
    assert app.cache.page_hits == hits


def with_flash(app, client, message: str) -> None:
    """Give *client* the signed one-time flash cookie a redirect would have left."""
    value = tornado.web.create_signed_value(app.config.cookie_secret, FLASH_COOKIE,
                                            json.dumps(["info", message]))
    client.cookies[FLASH_COOKIE] = value.decode()


@pytest.mark.gen_test
async def test_a_page_with_a_flash_is_neither_kept_nor_served_from_cache(app, client, new_client):
    await client.get("/houses")
    assert [k.rsplit(":", 1)[1] for k in await page_keys(app)] == ["/houses?"]
    visitor = new_client()
    hits = app.cache.page_hits
    for path in ("/houses", "/"):
        with_flash(app, visitor, f"一次性消息 {path}")
        page = await visitor.get(path)
        assert page.code == 200 and f"一次性消息 {path}" in text(page)
        assert FLASH_COOKIE not in visitor.cookies  # shown once, then cleared
    assert app.cache.page_hits == hits  # the cached /houses was not used
    assert [k.rsplit(":", 1)[1] for k in await page_keys(app)] == ["/houses?"]  # nor / stored
    assert "一次性消息" not in text(await client.get("/houses"))


@pytest.mark.gen_test
async def test_redis_paused_renders_as_usual(app, client):
    app.cache._failed("test", RuntimeError("paused by the test"))  # as after a Redis error
    page = await client.get("/")
    assert page.code == 200 and "最新房源" in text(page)
    assert await page_keys(app) == []


@pytest.mark.parametrize("query,cacheable", [
    ("", True),
    ("sort=new", True),
    ("area_id=110105&sd=&ed=&guests=&price_min=100&price_max=&facility=1&facility=3&sort=price-inc", True),
    ("area_id=440300&guests=2&sort=rating", True),    # a whole city, guests, the rating sort
    ("guests=02", False),                   # spelled differently from what the page writes back
    ("capacity=2", False),                  # the old name of guests: served, never cached
    ("area_id=110105&page=2", True),
    ("sort=new&area_id=110105", False),     # not in the form's order
    ("price_min=100.0", False),            # spelled differently from what the page writes back
    ("facility=3&facility=1", False),       # facilities not ascending
    ("facility=1&facility=1", False),       # twice
    ("utm_source=x", False),                # unknown parameter: would be echoed in pager links
    ("page=9999", False),                   # clamped to the last page
    ("sort=bogus", False),
    ("area_id=110105&area_id=110106", False),
])
def test_only_canonical_search_queries_name_a_cached_page(query, cacheable):
    class Args:  # parse_search reads arguments through the handler's arg/args
        def __init__(self, q):
            import urllib.parse
            self.values = urllib.parse.parse_qs(q, keep_blank_values=True)

        def arg(self, name, max_length=4000):
            return (self.values.get(name) or [""])[0].strip()[:max_length]

        def args(self, name):
            return [v.strip() for v in self.values.get(name, [])][:100]

    filters, errors = parse_search(Args(query), {1, 2, 3})
    assert not errors
    assert isinstance(filters, search_model.SearchFilters)
    assert canonical_search_query(query, filters) is cacheable


@pytest.mark.gen_test
async def test_a_members_listing_view_reuses_the_calendar_and_reviews_until_a_booking(app, new_client, login):
    owner = await make_user(app)
    house = await make_house(app, owner)
    listing = f"/houses/{house['id']}"
    member, _ = await logged_in(new_client(), app, login)
    first = text(await member.get(listing))
    assert f'data-date="{iso(3)}"' in first and not re.search(rf'class="booked" data-date="{iso(3)}"', first)
    # The second view takes the calendar and reviews from the cache (the rest is the member's own).
    hits = app.cache.page_hits
    second = text(await member.get(listing))
    assert app.cache.page_hits == hits + 1
    calendar = re.compile(r'<section[^>]*id="availability".*?</section>', re.S)
    assert calendar.search(second).group(0) == calendar.search(first).group(0)
    # A booking moves the availability generation: the member's next view is exact at once.
    guest, _ = await logged_in(new_client(), app, login)
    assert (await guest.post(f"/houses/{house['id']}/book", {"sd": iso(3), "ed": iso(5)})).code == 302
    after = text(await member.get(listing))
    assert re.search(rf'class="booked" data-date="{iso(3)}"', after)
