"""我的房源 (GET /my/houses): 20 a page, status filters, revisions marked; the public
neighbourhood field of the listing form."""

from __future__ import annotations

import re

import pytest

from tests.utils.client import logged_in, text
from tests.utils.factories import house_form, make_house
from tests.utils.pages import field_error


@pytest.fixture
def host(app, client, login, io_loop):
    """(client, user): a logged-in, verified landlord."""
    return io_loop.run_sync(lambda: logged_in(client, app, login))


def listed(body: str) -> list[int]:
    return [int(i) for i in re.findall(r'class="list-group-item[^"]*my-house" data-house-id="(\d+)"', body)]


@pytest.mark.gen_test(timeout=60)
async def test_pages_of_twenty_newest_first(app, host, new_client, login):
    client, owner = host
    ids = [(await make_house(app, owner, title=f"房源{i}"))["id"] for i in range(25)]
    await app.db.execute("UPDATE houses SET created_at = NOW() - INTERVAL (1000 - id) MINUTE")  # newer ids newer
    newest_first = sorted(ids, reverse=True)
    first = text(await client.get("/my/houses"))
    assert listed(first) == newest_first[:20]
    assert "第 1 / 2 页" in first and 'href="/my/houses?page=2"' in first
    second = text(await client.get("/my/houses?page=2"))
    assert listed(second) == newest_first[20:]
    # Past the last page: the last page; junk: the first.
    assert listed(text(await client.get("/my/houses?page=99"))) == newest_first[20:]
    assert listed(text(await client.get("/my/houses?page=abc"))) == newest_first[:20]
    # Someone else's listings never show.
    other, other_user = await logged_in(new_client(), app, login)
    assert listed(text(await other.get("/my/houses"))) == []


@pytest.mark.gen_test(timeout=30)
async def test_status_filters_with_counts(app, host):
    client, owner = host
    made = {}
    for status, n in (("online", 3), ("pending", 2), ("rejected", 1), ("offline", 1)):
        made[status] = {(await make_house(app, owner, status=status))["id"] for _ in range(n)}
    deleted = await make_house(app, owner, status="deleted")
    everything = set().union(*made.values())
    page = text(await client.get("/my/houses"))
    assert set(listed(page)) == everything and deleted["id"] not in listed(page)
    for status, expected in made.items():
        body = text(await client.get(f"/my/houses?status={status}"))
        assert set(listed(body)) == expected, status
        assert f'data-count="{status}">{len(expected)}<' in body
    assert 'data-count="all">7<' in page
    empty = await client.get("/my/houses?status=offline&page=2")
    assert set(listed(text(empty))) == made["offline"]  # page clamps to the last one
    assert (await client.get("/my/houses?status=deleted")).code == 400
    assert (await client.get("/my/houses?status=bogus")).code == 400


@pytest.mark.gen_test(timeout=30)
async def test_an_empty_filter_says_so(app, host):
    client, owner = host
    await make_house(app, owner, status="online")
    body = text(await client.get("/my/houses?status=rejected"))
    assert listed(body) == [] and 'id="no-houses"' in body


@pytest.mark.gen_test(timeout=30)
async def test_pending_revision_is_marked(app, host):
    client, owner = host
    house = await make_house(app, owner, title="湖景房")
    plain = await make_house(app, owner, title="山景房")
    form = list(house_form(title="湖景大房", description="安静整洁").items()) + [("facility", "1")]
    assert (await client.post(f"/houses/{house['id']}/edit", form)).code == 302
    body = text(await client.get("/my/houses?status=online"))
    assert set(listed(body)) == {house["id"], plain["id"]}  # still online, with its revision
    row = body[body.index(f'data-house-id="{house["id"]}"'):]
    row = row[:row.index("编辑</a>")]
    assert "修改待审核" in row and "湖景房" in row
    other = body[body.index(f'data-house-id="{plain["id"]}"'):]
    assert "修改待审核" not in other[:other.index("编辑</a>")]


@pytest.mark.gen_test(timeout=30)
async def test_neighbourhood_is_public_and_optional(app, host):
    client, owner = host
    page = text(await client.get("/houses/new"))
    assert "位置描述（公开）" in page and 'name="neighbourhood"' in page
    response = await client.post("/houses/new", house_form(title="有位置的房源", neighbourhood="  望京SOHO附近 "))
    assert response.code == 302
    row = await app.db.queryone("SELECT neighbourhood FROM houses WHERE title = '有位置的房源'")
    assert row == {"neighbourhood": "望京SOHO附近"}
    assert (await client.post("/houses/new", house_form(title="没写位置的房源"))).code == 302
    assert await app.db.scalar("SELECT neighbourhood FROM houses WHERE title = '没写位置的房源'") == ""
    too_long = await client.post("/houses/new", house_form(title="太长", neighbourhood="很" * 65))
    assert too_long.code == 400 and field_error(text(too_long), "neighbourhood")
    # Editing keeps it in the form.
    house_id = await app.db.scalar("SELECT id FROM houses WHERE title = '有位置的房源'")
    assert 'value="望京SOHO附近"' in text(await client.get(f"/houses/{house_id}/edit"))
