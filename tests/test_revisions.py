"""Revisions: editing an online listing never takes it offline (models/houses.py).

Title, description, photos and cover changes wait in ONE pending revision while the
approved version stays public; the host can withdraw it, an admin approves or rejects
it with a reason. Everything on the real stack: HTTP server, MariaDB, Redis.
"""

from __future__ import annotations

import asyncio
import collections

import pytest
from tornado.httpclient import AsyncHTTPClient

from models import houses
from tests.utils.client import Client, admin_client, logged_in, text
from tests.utils.factories import house_form, make_house, make_user
from tests.utils.images import jpeg_bytes
from tests.utils.pages import field_error


@pytest.fixture
def host(app, client, login, io_loop):
    """(client, user): a logged-in, verified landlord."""
    return io_loop.run_sync(lambda: logged_in(client, app, login))


async def edit(client, house_id: int, **changes):
    fields = {"title": "湖景房", "description": "安静", **changes}
    form = list(house_form(**fields).items()) + [("facility", "1")]
    return await client.post(f"/houses/{house_id}/edit", form)


async def upload(client, house_id: int, color=(200, 10, 10)):
    return await client.post(f"/houses/{house_id}/images",
                             files=[("image", "p.jpg", jpeg_bytes(color=color), "image/jpeg")])


async def revision_of(app, house_id: int) -> dict | None:
    return await app.db.queryone("SELECT status, title, description, review_note, cover_image_id "
                                 "FROM house_revisions WHERE house_id = %s", house_id)


async def stages(app, house_id: int) -> dict[int, str]:
    rows = await app.db.query("SELECT id, stage FROM house_images WHERE house_id = %s", house_id)
    return {r["id"]: r["stage"] for r in rows}


async def live_photo(app, house_id: int, key: str) -> int:
    """An approved photo row on the listing (its file is not needed for these checks)."""
    image_id = await app.db.insert("INSERT INTO house_images (house_id, storage_key, width, height, position) "
                                   "VALUES (%s, %s, 10, 10, 0)", house_id, key)
    await app.db.execute("UPDATE houses SET cover_image_id = COALESCE(cover_image_id, %s) WHERE id = %s",
                         image_id, house_id)
    return image_id


@pytest.mark.gen_test(timeout=30)
async def test_a_new_title_waits_while_the_public_page_keeps_the_old_one(app, host, new_client, login):
    client, owner = host
    house = await make_house(app, owner, title="湖景房", description="安静")
    visitor = new_client()
    assert "湖景房" in text(await visitor.get(f"/houses/{house['id']}"))  # cached now

    response = await edit(client, house["id"], title="山景房", description="更安静", price="350")
    assert response.code == 302
    row = await app.db.queryone("SELECT status, title, description, price_fen FROM houses WHERE id = %s",
                                house["id"])
    assert row == {"status": "online", "title": "湖景房", "description": "安静", "price_fen": 35000}
    assert await revision_of(app, house["id"]) == {"status": "pending", "title": "山景房",
                                                   "description": "更安静", "review_note": None,
                                                   "cover_image_id": None}
    public = await visitor.get(f"/houses/{house['id']}")
    assert public.code == 200
    assert "湖景房" in text(public) and "山景房" not in text(public) and 'data-price-fen="35000"' in text(public)
    assert "湖景房" in text(await visitor.get("/houses?area_id=110105"))

    # The host sees the revision on the edit page (their proposal in the form) and in 我的房源.
    page = text(await client.get(f"/houses/{house['id']}/edit"))
    assert "修改待审核" in page and 'value="山景房"' in page and "withdraw-revision" in page
    assert "修改待审核" in text(await client.get("/my/houses"))

    # A second edit updates the same revision: still one per listing.
    assert (await edit(client, house["id"], title="山景大房")).code == 302
    assert await app.db.scalar("SELECT COUNT(*) FROM house_revisions WHERE house_id = %s", house["id"]) == 1
    assert (await revision_of(app, house["id"]))["title"] == "山景大房"

    # The admin sees it side by side and approves: the new text goes public.
    admin, admin_user = await admin_client(app, new_client, login)
    assert str(house["id"]) in text(await admin.get("/admin/houses?status=revision"))
    review = text(await admin.get(f"/admin/houses/{house['id']}"))
    assert 'id="revision-diff"' in review and "山景大房" in review and "湖景房" in review
    assert 'data-field="title"' in review
    assert (await admin.post(f"/admin/houses/{house['id']}/revision/approve", {})).code == 302
    assert await revision_of(app, house["id"]) is None
    row = await app.db.queryone("SELECT status, title FROM houses WHERE id = %s", house["id"])
    assert row == {"status": "online", "title": "山景大房"}
    assert "山景大房" in text(await visitor.get(f"/houses/{house['id']}"))
    logged = await app.db.query("SELECT admin_id, action FROM admin_actions WHERE target_id = %s", house["id"])
    assert logged == [{"admin_id": admin_user["id"], "action": "approve_revision"}]


@pytest.mark.gen_test(timeout=30)
async def test_reject_with_a_reason_keeps_the_public_version(app, host, new_client, login):
    client, owner = host
    house = await make_house(app, owner, title="湖景房", description="安静")
    assert (await edit(client, house["id"], title="全城最好的房子")).code == 302
    admin, _ = await admin_client(app, new_client, login)

    # A reason is required.
    refused = await admin.post(f"/admin/houses/{house['id']}/revision/reject", {"reason": ""})
    assert refused.code == 400 and field_error(text(refused), "revision_reason")
    assert (await revision_of(app, house["id"]))["status"] == "pending"

    assert (await admin.post(f"/admin/houses/{house['id']}/revision/reject",
                             {"reason": "标题夸大"})).code == 302
    assert (await revision_of(app, house["id"]))["status"] == "rejected"
    assert (await revision_of(app, house["id"]))["review_note"] == "标题夸大"
    row = await app.db.queryone("SELECT status, title FROM houses WHERE id = %s", house["id"])
    assert row == {"status": "online", "title": "湖景房"}
    assert (await new_client().get(f"/houses/{house['id']}")).code == 200
    # The host reads the reason on the edit page and in 我的房源; the form shows the public text.
    page = text(await client.get(f"/houses/{house['id']}/edit"))
    assert "修改未通过" in page and "标题夸大" in page and 'value="湖景房"' in page
    assert "标题夸大" in text(await client.get("/my/houses"))
    # Nothing pending any more: deciding again is a 409.
    assert (await admin.post(f"/admin/houses/{house['id']}/revision/approve", {})).code == 409
    # The host's next reviewed edit is a fresh pending revision, without the old note.
    assert (await edit(client, house["id"], title="湖景两居")).code == 302
    assert await revision_of(app, house["id"]) == {"status": "pending", "title": "湖景两居", "description": "安静",
                                                   "review_note": None, "cover_image_id": None}


@pytest.mark.gen_test(timeout=30)
async def test_withdraw_drops_the_revision_and_its_new_photos(app, host, new_client):
    client, owner = host
    house = await make_house(app, owner, title="湖景房", description="安静")
    kept = await live_photo(app, house["id"], "a" * 32)
    assert (await edit(client, house["id"], title="山景房")).code == 302
    assert (await upload(client, house["id"])).code == 302
    added = [i for i, s in (await stages(app, house["id"])).items() if s == "added"]
    assert len(added) == 1
    added_key = await app.db.scalar("SELECT storage_key FROM house_images WHERE id = %s", added[0])
    assert app.images.path(added_key).exists()
    # The added photo is the owner's to see until approval, not the public's.
    assert (await new_client().get(app.images.url(added_key, "t"))).code == 404
    assert (await client.get(app.images.url(added_key, "t"))).code == 200

    response = await client.post(f"/houses/{house['id']}/revision/withdraw", {})
    assert response.code == 302
    assert await revision_of(app, house["id"]) is None
    assert await stages(app, house["id"]) == {kept: "live"}
    assert not app.images.path(added_key).exists()
    assert await app.db.scalar("SELECT title FROM houses WHERE id = %s", house["id"]) == "湖景房"
    # Withdrawing again: nothing to withdraw.
    assert (await client.post(f"/houses/{house['id']}/revision/withdraw", {})).code == 409


@pytest.mark.gen_test(timeout=30)
async def test_photo_changes_stay_private_until_approved(app, host, new_client, login):
    client, owner = host
    house = await make_house(app, owner, title="湖景房", description="安静")
    old = await live_photo(app, house["id"], "b" * 32)
    assert (await upload(client, house["id"])).code == 302
    new = next(i for i, s in (await stages(app, house["id"])).items() if s == "added")
    new_key = await app.db.scalar("SELECT storage_key FROM house_images WHERE id = %s", new)
    # Removing the approved photo and choosing the new one as cover join the same revision.
    assert (await client.post(f"/houses/{house['id']}/images/{new}/cover", {})).code == 302
    assert (await client.post(f"/houses/{house['id']}/images/{old}/delete", {})).code == 302
    assert await stages(app, house["id"]) == {old: "removed", new: "added"}
    assert (await revision_of(app, house["id"]))["cover_image_id"] == new
    row = await app.db.queryone("SELECT status, cover_image_id FROM houses WHERE id = %s", house["id"])
    assert row == {"status": "online", "cover_image_id": old}
    public = text(await new_client().get(f"/houses/{house['id']}"))
    assert "b" * 32 in public and new_key not in public  # the public gallery is the approved one
    assert [i["id"] for i in await houses.images(app.db, house["id"])] == [old]
    assert [i["id"] for i in await houses.images(app.db, house["id"], "draft")] == [new]

    admin, _ = await admin_client(app, new_client, login)
    review = text(await admin.get(f"/admin/houses/{house['id']}"))
    assert 'data-field="photos"' in review and 'data-field="cover"' in review and new_key in review
    assert (await admin.post(f"/admin/houses/{house['id']}/revision/approve", {})).code == 302
    assert await stages(app, house["id"]) == {new: "live"}
    assert await app.db.scalar("SELECT cover_image_id FROM houses WHERE id = %s", house["id"]) == new
    assert (await new_client().get(app.images.url(new_key, "t"))).code == 200


@pytest.mark.gen_test(timeout=30)
async def test_undoing_every_change_drops_the_revision(app, host):
    client, owner = host
    house = await make_house(app, owner, title="湖景房", description="安静")
    assert (await edit(client, house["id"], title="山景房")).code == 302
    assert await revision_of(app, house["id"]) is not None
    assert (await edit(client, house["id"])).code == 302  # back to the approved text
    assert await revision_of(app, house["id"]) is None
    # A photo added and deleted again leaves nothing to review either.
    assert (await upload(client, house["id"])).code == 302
    added = next(iter(await stages(app, house["id"])))
    assert (await client.post(f"/houses/{house['id']}/images/{added}/delete", {})).code == 302
    assert await stages(app, house["id"]) == {} and await revision_of(app, house["id"]) is None


@pytest.mark.gen_test(timeout=30)
async def test_a_new_listing_still_waits_for_its_first_approval(app, host, new_client):
    client, owner = host
    response = await client.post("/houses/new", house_form(title="全新房源"))
    assert response.code == 302
    house_id = int(response.headers["Location"].split("/")[2])
    assert await app.db.scalar("SELECT status FROM houses WHERE id = %s", house_id) == "pending"
    assert (await new_client().get(f"/houses/{house_id}")).code == 404
    # Edits of a listing that was never approved apply directly: no revision.
    assert (await client.post(f"/houses/{house_id}/edit", house_form(title="全新房源二"))).code == 302
    assert await revision_of(app, house_id) is None
    assert await app.db.scalar("SELECT title FROM houses WHERE id = %s", house_id) == "全新房源二"


@pytest.mark.gen_test(timeout=30)
async def test_taking_a_listing_offline_folds_its_revision_in(app, host, new_client, login):
    client, owner = host
    house = await make_house(app, owner, title="湖景房", description="安静")
    assert (await edit(client, house["id"], title="山景房")).code == 302
    admin, _ = await admin_client(app, new_client, login)
    assert (await admin.post(f"/admin/houses/{house['id']}/offline", {"reason": "暂停"})).code == 302
    # Hidden now, so the host's proposal becomes the listing's text for the next review.
    assert await revision_of(app, house["id"]) is None
    row = await app.db.queryone("SELECT status, title FROM houses WHERE id = %s", house["id"])
    assert row == {"status": "offline", "title": "山景房"}
    assert (await new_client().get(f"/houses/{house['id']}")).code == 404


@pytest.mark.gen_test(timeout=30)
async def test_photo_delete_asks_for_confirmation(app, host):
    client, owner = host
    house = await make_house(app, owner, status="pending")
    assert (await upload(client, house["id"])).code == 302
    image_id = next(iter(await stages(app, house["id"])))
    page = text(await client.get(f"/houses/{house['id']}/edit"))
    action = f'action="/houses/{house["id"]}/images/{image_id}/delete"'
    # The delete form sits inside a closed <details>: the first click only opens the question.
    start = page.index('<details class="photo-delete">')
    end = page.index("</details>", start)
    assert action in page[start:end] and "确定删除这张照片吗" in page[start:end]
    assert page.count(action) == 1
    assert "<script>" not in page  # no inline script (CSP): the confirmation works without JS
    assert (await client.post(f"/houses/{house['id']}/images/{image_id}/delete", {})).code == 302
    assert await stages(app, house["id"]) == {}


@pytest.mark.gen_test(timeout=30)
async def test_only_the_owner_and_admins_act_on_a_revision(app, host, new_client, login):
    client, owner = host
    house = await make_house(app, owner, title="湖景房")
    assert (await edit(client, house["id"], title="山景房")).code == 302
    stranger, _ = await logged_in(new_client(), app, login)
    assert (await stranger.post(f"/houses/{house['id']}/revision/withdraw", {})).code == 403
    assert (await stranger.post(f"/admin/houses/{house['id']}/revision/approve", {})).code == 403
    assert (await revision_of(app, house["id"]))["status"] == "pending"


@pytest.fixture
def wide_http(io_loop, http_server):
    client = AsyncHTTPClient(force_instance=True, max_clients=30)
    yield client
    client.close()


@pytest.mark.gen_test(timeout=120)
async def test_concurrent_photo_changes_of_an_online_listing_share_one_revision(app, login, wide_http, base_url):
    """Uploads, removals and cover choices at once on a live listing: never a 500, one
    revision at most, and the public gallery is the approved one throughout."""
    owner = await make_user(app)
    house = await make_house(app, owner, title="湖景房")
    approved = [await live_photo(app, house["id"], f"{i:x}" * 32) for i in range(3)]

    async def act(i: int) -> tuple[str, int]:
        c = Client(wide_http, base_url)
        await login(c, owner)
        if i % 3 == 0:
            return "upload", (await upload(c, house["id"], color=(i * 8, 20, 20))).code
        if i % 3 == 1:
            return "delete", (await c.post(f"/houses/{house['id']}/images/{approved[1 + i % 2]}/delete", {})).code
        return "cover", (await c.post(f"/houses/{house['id']}/images/{approved[0]}/cover", {})).code

    results = await asyncio.gather(*(act(i) for i in range(15)))
    codes = collections.Counter(code for _, code in results)
    assert codes[500] == 0, codes
    assert set(codes) <= {302, 404, 409}, codes  # 404: a photo already marked by a twin
    assert await app.db.scalar("SELECT COUNT(*) FROM house_revisions WHERE house_id = %s", house["id"]) <= 1
    row = await app.db.queryone("SELECT status, cover_image_id FROM houses WHERE id = %s", house["id"])
    assert row == {"status": "online", "cover_image_id": approved[0]}
    assert [i["id"] for i in await houses.images(app.db, house["id"])] == approved  # public: unchanged
    uploaded = sum(1 for kind, code in results if kind == "upload" and code == 302)
    added = await app.db.query("SELECT storage_key FROM house_images WHERE house_id = %s AND stage = 'added'",
                               house["id"])
    assert len(added) == uploaded
    assert all(app.images.path(r["storage_key"]).exists() for r in added)
    deleted = sum(1 for kind, code in results if kind == "delete" and code == 302)
    removed = await app.db.scalar("SELECT COUNT(*) FROM house_images WHERE house_id = %s AND stage = 'removed'",
                                  house["id"])
    assert removed == deleted  # each photo marked once; a twin asking again gets 404
