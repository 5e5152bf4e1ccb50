"""收藏: saving and removing (idempotent, counted, XSRF, rate limited), the logged-out redirect,
JSON and form answers, 我的收藏 with listings that went offline, and the hearts on pages."""

from __future__ import annotations

import urllib.parse

import pytest

from config import Limits
from models import favourites
from tests.utils.client import json_body, logged_in, text
from tests.utils.factories import make_house, make_user

JSON = {"Accept": "application/json"}


@pytest.fixture
def limits():
    """The rate limits; a test may parametrize it."""
    return Limits()


@pytest.fixture
def settings(base_settings, limits):
    return base_settings.replace(limits=limits)


async def saved_rows(app) -> set[tuple[int, int]]:
    return {(r["user_id"], r["house_id"]) for r in await app.db.query("SELECT user_id, house_id FROM favourites")}


@pytest.mark.gen_test
async def test_save_and_unsave_are_idempotent_and_counted(app, new_client, login):
    host = await make_user(app)
    house = await make_house(app, host)
    hid = house["id"]
    a, alice = await logged_in(new_client(), app, login)
    b, bob = await logged_in(new_client(), app, login)
    for _ in range(2):
        response = await a.post(f"/houses/{hid}/favourite", headers=JSON)
        assert response.code == 200 and json_body(response) == {"saved": True, "count": 1}
    response = await b.post(f"/houses/{hid}/favourite", headers={"X-Requested-With": "XMLHttpRequest"})
    assert json_body(response) == {"saved": True, "count": 2}
    assert response.headers["Cache-Control"] == "no-store"
    assert await saved_rows(app) == {(alice["id"], hid), (bob["id"], hid)}
    state = json_body(await a.get(f"/houses/{hid}/favourite"))
    assert state == {"saved": True, "count": 2}
    for _ in range(2):
        response = await a.post(f"/houses/{hid}/unfavourite", headers=JSON)
        assert json_body(response) == {"saved": False, "count": 1}
    assert await saved_rows(app) == {(bob["id"], hid)}
    assert json_body(await new_client().get(f"/houses/{hid}/favourite")) == {"saved": False, "count": 1}


@pytest.mark.gen_test
async def test_form_posts_go_back_to_a_local_next_only(app, new_client, login):
    house = await make_house(app, await make_user(app))
    hid = house["id"]
    member, _ = await logged_in(new_client(), app, login)
    response = await member.post(f"/houses/{hid}/favourite", {"next": "/houses?sort=new"})
    assert response.code == 302 and response.headers["Location"] == "/houses?sort=new"
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = await member.post(f"/houses/{hid}/unfavourite", {"next": evil})
        assert response.code == 302 and response.headers["Location"] == f"/houses/{hid}", evil
    response = await member.post(f"/houses/{hid}/favourite")
    assert response.headers["Location"] == f"/houses/{hid}"


@pytest.mark.gen_test
async def test_logged_out_is_sent_to_login_with_next(app, client):
    house = await make_house(app, await make_user(app))
    hid = house["id"]
    response = await client.post(f"/houses/{hid}/favourite")
    assert response.code == 302 and response.headers["Location"] == f"/login?next=/houses/{hid}"
    response = await client.post(f"/houses/{hid}/favourite", {"next": "/houses?area_id=110105&sort=new"})
    location = urllib.parse.urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert urllib.parse.parse_qs(location.query)["next"] == ["/houses?area_id=110105&sort=new"]
    response = await client.post(f"/houses/{hid}/favourite", headers=JSON)
    assert response.code == 401 and json_body(response)["login"] == f"/login?next=/houses/{hid}"
    assert await saved_rows(app) == set()


@pytest.mark.gen_test
async def test_xsrf_is_required(app, new_client, login):
    house = await make_house(app, await make_user(app))
    member, _ = await logged_in(new_client(), app, login)
    await member.get("/login")  # the XSRF cookie is there; only the field is missing or wrong
    for path in (f"/houses/{house['id']}/favourite", f"/houses/{house['id']}/unfavourite"):
        assert (await member.post(path, xsrf=False, headers=JSON)).code == 403
        assert (await member.post(path, xsrf="2|00|00|1", headers=JSON)).code == 403
    assert await saved_rows(app) == set()


@pytest.mark.gen_test
async def test_only_public_listings_are_newly_saved_but_removal_always_works(app, new_client, login):
    host = await make_user(app)
    online = await make_house(app, host)
    offline = await make_house(app, host, status="offline")
    member, user = await logged_in(new_client(), app, login)
    response = await member.post(f"/houses/{offline['id']}/favourite", headers=JSON)
    assert response.code == 404 and "error" in json_body(response)
    assert (await member.post(f"/houses/{offline['id']}/favourite")).code == 404
    assert (await member.post("/houses/999999/favourite", headers=JSON)).code == 404
    assert (await member.get(f"/houses/{offline['id']}/favourite")).code == 404
    assert json_body(await member.post(f"/houses/{online['id']}/favourite", headers=JSON))["count"] == 1
    await app.db.execute("UPDATE houses SET status = 'offline' WHERE id = %s", online["id"])
    # Their own saved listing's state stays readable, and it can be removed.
    assert json_body(await member.get(f"/houses/{online['id']}/favourite")) == {"saved": True, "count": 1}
    response = await member.post(f"/houses/{online['id']}/unfavourite", headers=JSON)
    assert json_body(response) == {"saved": False, "count": 0}
    assert await saved_rows(app) == set()


@pytest.mark.gen_test
async def test_my_favourites_pages_newest_first_greys_out_and_removes(app, new_client, login):
    host = await make_user(app)
    first = await make_house(app, host, title="先收藏的房源")
    second = await make_house(app, host, title="后收藏的房源")
    member, user = await logged_in(new_client(), app, login)
    for house in (first, second):
        assert (await member.post(f"/houses/{house['id']}/favourite", headers=JSON)).code == 200
    await app.db.execute("UPDATE favourites SET created_at = created_at - INTERVAL 1 DAY WHERE house_id = %s",
                         first["id"])
    await app.db.execute("UPDATE houses SET status = 'deleted' WHERE id = %s", first["id"])
    page = text(await member.get("/my/favourites"))
    assert page.index("后收藏的房源") < page.index("先收藏的房源")
    gone = page.split(f'data-house-id="{first["id"]}"', 1)[0].rsplit("<div", 1)[1]
    assert "favourite-gone" in gone
    assert f'href="/houses/{first["id"]}"' not in page and f'href="/houses/{second["id"]}"' in page
    assert "已下线" in page and page.count('action="/houses/') == 2
    response = await member.post(f"/houses/{first['id']}/unfavourite", {"next": "/my/favourites"})
    assert response.code == 302 and response.headers["Location"] == "/my/favourites"
    page = text(await member.get("/my/favourites"))
    assert "先收藏的房源" not in page and "后收藏的房源" in page
    # A page past the end (after removing the last one there) shows the last page, not "no favourites".
    page = text(await member.get("/my/favourites?page=7"))
    assert "后收藏的房源" in page and 'id="no-favourites"' not in page
    anonymous = await new_client().get("/my/favourites")
    assert anonymous.code == 302 and anonymous.headers["Location"].startswith("/login")


@pytest.mark.gen_test
async def test_the_member_saved_ids_of_a_page_are_one_query(app, new_client, login, monkeypatch):
    host = await make_user(app)
    houses = [await make_house(app, host, title=f"房源{i}") for i in range(5)]
    member, user = await logged_in(new_client(), app, login)
    for house in houses[1:4:2]:
        await member.post(f"/houses/{house['id']}/favourite", headers=JSON)
    ids = ",".join(str(h["id"]) for h in houses) + ",junk,,999999"
    calls = []
    original = app.db.query

    async def counted(sql, *args):
        calls.append(sql)
        return await original(sql, *args)

    monkeypatch.setattr(app.db, "query", counted)
    response = await member.get(f"/my/favourites/ids?ids={ids}")
    assert json_body(response) == {"ids": sorted([houses[1]["id"], houses[3]["id"]])}
    assert sum("favourites" in sql for sql in calls) == 1, calls
    plan = await original("EXPLAIN SELECT house_id FROM favourites WHERE user_id = %s AND house_id IN (%s, %s)",
                          user["id"], houses[1]["id"], houses[3]["id"])
    assert plan[0]["key"] in ("PRIMARY", "ix_favourites_user_new"), plan  # a range of the member's rows
    # A visitor is told nothing and costs no query.
    calls.clear()
    assert json_body(await new_client().get(f"/my/favourites/ids?ids={ids}")) == {"ids": []}
    assert not any("favourites" in sql for sql in calls)


@pytest.mark.gen_test
async def test_hearts_on_cached_pages_are_the_same_for_everyone(app, new_client, login):
    house = await make_house(app, await make_user(app), title="心形房源")
    hid = house["id"]
    member, _ = await logged_in(new_client(), app, login)
    await member.post(f"/houses/{hid}/favourite", headers=JSON)
    for path in ("/", "/houses"):
        anonymous = text(await new_client().get(path))
        mine = text(await member.get(path))
        for page in (anonymous, mine):
            heart = page.split(f'data-fav-house="{hid}"', 1)[1].split("</form>", 1)[0]
            assert 'aria-pressed="false"' in heart and "_xsrf" not in heart, path
        assert 'action="/login"' in anonymous
    # The listing page: a visitor's heart goes to login; a member's (never cached) posts with XSRF.
    anonymous = text(await new_client().get(f"/houses/{hid}"))
    heart = anonymous.split('id="listing-actions"', 1)[1].split("</form>", 1)[0]
    assert 'action="/login"' in heart and "_xsrf" not in heart
    mine = text(await member.get(f"/houses/{hid}"))
    heart = mine.split('id="listing-actions"', 1)[1].split("</form>", 1)[0]
    assert f'action="/houses/{hid}/' in heart and 'name="_xsrf"' in heart
    # The heart is outside the members' shared sections cache (calendar and reviews).
    sections = mine.split('class="listing-sections"', 1)[1]
    assert "fav-form" not in sections
    assert 'href="/my/favourites"' in mine and 'href="/my/favourites"' not in anonymous


@pytest.mark.gen_test
async def test_the_listing_page_says_how_many_saved_it_without_javascript(app, new_client, login):
    house = await make_house(app, await make_user(app))
    hid = house["id"]
    member, _ = await logged_in(new_client(), app, login)
    other, _ = await logged_in(new_client(), app, login)
    await member.post(f"/houses/{hid}/favourite", headers=JSON)
    await other.post(f"/houses/{hid}/favourite", headers=JSON)

    def shown(page: str) -> tuple[str, str]:
        actions = page.split('id="listing-actions"', 1)[1].split("</details>", 1)[0]
        count = actions.split('class="small text-muted fav-count-text', 1)[1].split("</span> 人收藏", 1)[0]
        return count, actions

    count, actions = shown(text(await member.get(f"/houses/{hid}")))
    assert " hidden" not in count.split(">", 1)[0] and count.endswith(">2")
    assert 'aria-pressed="true"' in actions and f'action="/houses/{hid}/unfavourite"' in actions
    count, actions = shown(text(await new_client().get(f"/houses/{hid}")))  # a visitor: the count too
    assert " hidden" not in count.split(">", 1)[0] and count.endswith(">2")
    assert 'aria-pressed="false"' in actions


@pytest.mark.gen_test
@pytest.mark.parametrize("limits", [Limits(favourite_per_minute=2)])
async def test_saves_are_rate_limited(app, new_client, login):
    host = await make_user(app)
    houses = [await make_house(app, host) for _ in range(3)]
    member, _ = await logged_in(new_client(), app, login)
    codes = [(await member.post(f"/houses/{h['id']}/favourite", headers=JSON)).code for h in houses]
    assert codes == [200, 200, 429]
    refused = await member.post(f"/houses/{houses[2]['id']}/favourite")
    assert refused.code == 429 and int(refused.headers["Retry-After"]) >= 1
    # Removing is not limited.
    assert (await member.post(f"/houses/{houses[0]['id']}/unfavourite", headers=JSON)).code == 200


@pytest.mark.gen_test
async def test_a_member_keeps_at_most_max_per_user(app, new_client, login, monkeypatch):
    monkeypatch.setattr(favourites, "MAX_PER_USER", 1)
    host = await make_user(app)
    one, two = await make_house(app, host), await make_house(app, host)
    member, _ = await logged_in(new_client(), app, login)
    assert (await member.post(f"/houses/{one['id']}/favourite", headers=JSON)).code == 200
    assert (await member.post(f"/houses/{two['id']}/favourite", headers=JSON)).code == 409
    assert (await member.post(f"/houses/{one['id']}/favourite", headers=JSON)).code == 200  # already saved


@pytest.mark.gen_test
async def test_rows_go_with_a_listing_removed_for_good(app, new_client, login):
    house = await make_house(app, await make_user(app))
    member, user = await logged_in(new_client(), app, login)
    await member.post(f"/houses/{house['id']}/favourite", headers=JSON)
    async with app.db.transaction() as tx:
        await tx.execute("DELETE FROM house_facilities WHERE house_id = %s", house["id"])
        await tx.execute("DELETE FROM houses WHERE id = %s", house["id"])
    assert await saved_rows(app) == set()
