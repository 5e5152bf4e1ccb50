"""The guest's booking flow: the number of guests, the listing page pre-filled from the search's
sd/ed/guests (cached only under the canonical query), "登录后预订" keeping them in ``next``, the
street address only for guests with an accepted stay, and the host's contact after acceptance."""

from __future__ import annotations

import urllib.parse

import pytest

from tests.utils.booking import make_party
from tests.utils.client import text
from tests.utils.dates import iso
from tests.utils.pages import field_error

ADDRESS = "朝阳区保密路 88 号 3 单元 501"
NEIGHBOURHOOD = "望京SOHO附近"


@pytest.fixture
def party(app, login, new_client):
    return lambda **overrides: make_party(app, login, new_client, address=ADDRESS, **overrides)


async def set_neighbourhood(app, house_id: int) -> None:
    await app.db.execute("UPDATE houses SET neighbourhood = %s WHERE id = %s", NEIGHBOURHOOD, house_id)
    await app.cache.invalidate_house(house_id)


# --------------------------------------------------------------------------- guests


@pytest.mark.gen_test
@pytest.mark.parametrize("guests,message", [
    ("0", "入住人数至少 1 人"),
    ("4", "该房源最多住 3 人，你填了 4 人"),
    ("two", "入住人数须为整数"),
    ("-1", "入住人数须为整数"),
    ("99999", "入住人数须为整数"),
])
async def test_guests_outside_one_to_capacity_is_a_400_next_to_the_field(app, party, guests, message):
    p = await party(capacity=3)
    response = await p.book(1, 2, guests)
    assert response.code == 400
    body = text(response)
    assert field_error(body, "guests") == message
    assert 'name="guests" min="1" max="3"' in body and f'value="{guests}"' in body  # kept as typed
    assert await app.db.scalar("SELECT COUNT(*) FROM orders") == 0


@pytest.mark.gen_test
async def test_guests_are_stored_on_the_order_and_shown(app, party):
    p = await party(capacity=3)
    full = await p.order(1, 2, 3)
    assert await app.db.scalar("SELECT guests FROM orders WHERE id = %s", full) == 3
    assert '<dd class="col-8 col-md-9 order-guests">3 人</dd>' in text(await p.gc.get(f"/orders/{full}"))
    assert "1 晚，3 人" in text(await p.gc.get("/my/orders?role=guest"))
    # Left out, it is one guest.
    response = await p.gc.post(f"/houses/{p.house['id']}/book", {"sd": iso(3), "ed": iso(4)})
    assert response.code == 302
    assert await app.db.scalar("SELECT guests FROM orders ORDER BY id DESC LIMIT 1") == 1


# --------------------------------------------------------------------------- carried through


@pytest.mark.gen_test
async def test_listing_prefilled_from_the_query_and_login_keeps_it(app, party):
    p = await party(capacity=4)
    path = f"/houses/{p.house['id']}?sd={iso(3)}&ed={iso(5)}&guests=2"
    body = text(await p.anon.get(path))
    assert f'id="sd" name="sd" min="{iso(0)}" value="{iso(3)}"' in body
    assert f'id="ed" name="ed" min="{iso(0)}" value="{iso(5)}"' in body
    assert 'name="guests" min="1" max="4" step="1" value="2"' in body
    next_value = urllib.parse.quote(path, safe="/")
    assert f'id="login-to-book" href="/login?next={next_value}">登录后预订' in body
    # What the browser sends back decodes to the same listing with the same dates.
    link = body.split('id="login-to-book" href="')[1].split('"')[0]
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["next"] == [path]
    # A logged-in guest gets the same form, ready to submit.
    member = text(await p.gc.get(path))
    assert f'value="{iso(3)}"' in member and 'id="book-btn"' in member


@pytest.mark.gen_test
async def test_bad_query_values_are_dropped_not_refused(app, party):
    p = await party()
    for query in (f"sd={iso(-2)}&ed={iso(1)}", f"sd={iso(3)}&ed={iso(2)}", "sd=junk&ed=2030-01-01", "guests=abc",
                  "guests=0"):
        response = await p.anon.get(f"/houses/{p.house['id']}?{query}")
        body = text(response)
        assert response.code == 200, query
        assert 'id="sd" name="sd" min="' in body and f'value="{iso(-2)}"' not in body
        assert 'name="guests" min="1" max="3" step="1" value="1"' in body


@pytest.mark.gen_test
async def test_prefilled_page_cached_only_under_its_canonical_query(app, party):
    p = await party()
    canonical = f"/houses/{p.house['id']}?sd={iso(3)}&ed={iso(5)}&guests=2"
    first = text(await p.anon.get(canonical))
    hits = app.cache.page_hits
    assert text(await p.anon.get(canonical)) == first
    assert app.cache.page_hits == hits + 1
    # Another spelling of the same values is rendered each time (never a cache entry of its own).
    other = f"/houses/{p.house['id']}?guests=2&sd={iso(3)}&ed={iso(5)}"
    for _ in range(2):
        assert f'value="{iso(3)}"' in text(await p.anon.get(other))
    assert app.cache.page_hits == hits + 1
    # The plain page is its own entry, without the dates.
    plain = text(await p.anon.get(f"/houses/{p.house['id']}"))
    assert f'value="{iso(3)}"' not in plain


# --------------------------------------------------------------------------- address and contact


@pytest.mark.gen_test
async def test_street_address_only_for_guests_with_an_accepted_stay(app, party):
    p = await party()
    await set_neighbourhood(app, p.house["id"])
    listing = f"/houses/{p.house['id']}"
    anonymous = text(await p.anon.get(listing))
    assert ADDRESS not in anonymous and NEIGHBOURHOOD in anonymous and 'id="address-hidden"' in anonymous
    order_id = await p.order(2, 4)
    # Pending: the guest sees the district and the neighbourhood, not the street.
    assert ADDRESS not in text(await p.gc.get(listing))
    pending_order = text(await p.gc.get(f"/orders/{order_id}"))
    assert ADDRESS not in pending_order and NEIGHBOURHOOD in pending_order and "房东接单后显示详细地址" in pending_order
    assert ADDRESS in text(await p.lc.get(listing))  # the owner sees their own
    assert (await p.lc.post(f"/orders/{order_id}/accept")).code == 302
    assert ADDRESS in text(await p.gc.get(listing))
    assert ADDRESS in text(await p.gc.get(f"/orders/{order_id}"))
    # Everyone else still does not, and the shared cached page never holds it.
    assert ADDRESS not in text(await p.sc.get(listing))
    for _ in range(2):
        assert ADDRESS not in text(await p.anon.get(listing))
    pages = await app.redis.keys("cache:page:*")
    assert any(f"/houses/{p.house['id']}" in key for key in pages), pages  # the listing page is cached
    for key in pages:
        assert ADDRESS not in (await app.redis.get(key) or ""), key


@pytest.mark.gen_test
async def test_host_contact_on_the_order_after_acceptance(app, party):
    p = await party()
    order_id = await p.order(2, 3)
    mobile = p.landlord["mobile"]
    assert mobile not in text(await p.gc.get(f"/orders/{order_id}"))
    await p.lc.post(f"/orders/{order_id}/accept")
    page = text(await p.gc.get(f"/orders/{order_id}"))
    assert f'<a class="host-mobile" href="tel:{mobile}">{mobile}</a>' in page
    assert p.landlord["name"] in page
    # A rejected or cancelled request never showed it.
    other = await p.order(5, 6)
    await p.lc.post(f"/orders/{other}/reject", {"reason": "不方便"})
    assert mobile not in text(await p.gc.get(f"/orders/{other}"))
