"""Moderation: new and changed listings wait for review; approve, reject, offline; visibility."""

from __future__ import annotations

import asyncio
import re

import pytest

from services import cache as cache_keys
from tests.utils.client import admin_client, json_body, logged_in, text
from tests.utils.factories import house_form, make_house, make_user
from tests.utils.images import jpeg_bytes
from tests.utils.pages import field_errors, house_id_of


async def status_of(app, house_id: int) -> dict:
    return await app.db.queryone("SELECT status, review_note FROM houses WHERE id = %s", house_id)


async def actions(app, house_id: int) -> list[dict]:
    return await app.db.query(
        "SELECT admin_id, action, reason FROM admin_actions WHERE target_type = 'house' AND target_id = %s "
        "ORDER BY id", house_id)


async def public_sees(new_client, house_id: int, title: str) -> dict[str, bool]:
    """Where a logged-out visitor finds the listing: its page, home, search, the JSON API."""
    visitor = new_client()
    return {
        "page": (await visitor.get(f"/houses/{house_id}")).code == 200,
        "home": title in text(await visitor.get("/")),
        "search": title in text(await visitor.get("/houses")),
        "api": any(h["id"] == house_id for h in json_body(await visitor.get("/api/v1/houses"))["houses"]),
    }


NOWHERE = {"page": False, "home": False, "search": False, "api": False}
EVERYWHERE = {"page": True, "home": True, "search": True, "api": True}


@pytest.fixture
def landlord(app, client, login, io_loop):
    """A logged-in landlord: (client, user)."""
    return io_loop.run_sync(lambda: logged_in(client, app, login))


@pytest.mark.gen_test(timeout=30)
async def test_published_listing_waits_for_review_then_approval_publishes_it(app, landlord, new_client, login):
    owner_client, owner = landlord
    # Warm the public caches first, so approval has to invalidate them.
    assert (await public_sees(new_client, 0, "待审新房")) == NOWHERE
    response = await owner_client.post("/houses/new", house_form(title="待审新房"))
    house_id = house_id_of(response)
    assert await status_of(app, house_id) == {"status": "pending", "review_note": None}
    assert await public_sees(new_client, house_id, "待审新房") == NOWHERE
    # The owner sees it, marked as under review.
    own_page = await owner_client.get(f"/houses/{house_id}")
    assert own_page.code == 200 and "待审新房" in text(own_page) and "审核中" in text(own_page)
    assert 'data-status="pending"' in text(await owner_client.get("/my/houses"))

    admin, admin_user = await admin_client(app, new_client, login)
    queue = text(await admin.get("/admin/houses?status=pending"))
    assert f'data-house-id="{house_id}"' in queue and "待审新房" in queue
    approved = await admin.post(f"/admin/houses/{house_id}/approve", {"next": "/admin/houses?status=pending"})
    assert approved.code == 302 and approved.headers["Location"] == "/admin/houses?status=pending"
    assert await status_of(app, house_id) == {"status": "online", "review_note": None}
    assert await actions(app, house_id) == [{"admin_id": admin_user["id"], "action": "approve", "reason": None}]
    assert await public_sees(new_client, house_id, "待审新房") == EVERYWHERE
    assert f'data-house-id="{house_id}"' not in text(await admin.get("/admin/houses?status=pending"))
    assert f'data-house-id="{house_id}"' in text(await admin.get("/admin/houses?status=online"))


@pytest.mark.gen_test(timeout=30)
async def test_reject_needs_a_reason_the_landlord_then_sees(app, landlord, new_client, login):
    owner_client, owner = landlord
    house = await make_house(app, owner, title="有问题的房源", status="pending")
    admin, admin_user = await admin_client(app, new_client, login)
    missing = await admin.post(f"/admin/houses/{house['id']}/reject", {"reason": "  "})
    assert missing.code == 400
    assert "驳回理由" in field_errors(text(missing))["reason"]
    assert await status_of(app, house["id"]) == {"status": "pending", "review_note": None}
    assert await actions(app, house["id"]) == []

    rejected = await admin.post(f"/admin/houses/{house['id']}/reject", {"reason": "照片与描述不符 <b>"})
    assert rejected.code == 302 and rejected.headers["Location"] == f"/admin/houses/{house['id']}"
    assert await status_of(app, house["id"]) == {"status": "rejected", "review_note": "照片与描述不符 <b>"}
    assert await actions(app, house["id"]) == [
        {"admin_id": admin_user["id"], "action": "reject", "reason": "照片与描述不符 <b>"}]
    mine = text(await owner_client.get("/my/houses"))
    assert 'data-status="rejected"' in mine and "审核意见：照片与描述不符 &lt;b&gt;" in mine
    assert await public_sees(new_client, house["id"], "有问题的房源") == NOWHERE
    assert (await owner_client.get(f"/houses/{house['id']}")).code == 200
    # The admin's page of the listing shows the decision and its reason.
    page = text(await admin.get(f"/admin/houses/{house['id']}"))
    assert 'data-action="reject"' in page and "照片与描述不符 &lt;b&gt;" in page and admin_user["name"] in page


@pytest.mark.gen_test(timeout=30)
async def test_offline_takes_an_online_listing_down_and_drops_its_cached_page(app, landlord, new_client, login):
    _, owner = landlord
    house = await make_house(app, owner, title="要下线的房源")
    assert await public_sees(new_client, house["id"], "要下线的房源") == EVERYWHERE
    assert await app.redis.exists(cache_keys.house_key(house["id"]), cache_keys.HOME_KEY) == 2
    admin, _ = await admin_client(app, new_client, login)
    response = await admin.post(f"/admin/houses/{house['id']}/offline", {"reason": "房东要求暂停"})
    assert response.code == 302
    assert await status_of(app, house["id"]) == {"status": "offline", "review_note": "房东要求暂停"}
    assert await public_sees(new_client, house["id"], "要下线的房源") == NOWHERE
    # Approving brings it back and clears the note.
    assert (await admin.post(f"/admin/houses/{house['id']}/approve", {})).code == 302
    assert await status_of(app, house["id"]) == {"status": "online", "review_note": None}
    assert await public_sees(new_client, house["id"], "要下线的房源") == EVERYWHERE
    assert [a["action"] for a in await actions(app, house["id"])] == ["offline", "approve"]


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("start,action,allowed,end", [
    ("pending", "approve", True, "online"),
    ("pending", "reject", True, "rejected"),
    ("pending", "offline", True, "offline"),
    ("online", "approve", False, "online"),
    ("online", "reject", True, "rejected"),
    ("online", "offline", True, "offline"),
    ("rejected", "approve", True, "online"),
    ("rejected", "reject", False, "rejected"),
    ("rejected", "offline", False, "rejected"),
    ("offline", "approve", True, "online"),
    ("offline", "reject", False, "offline"),
    ("offline", "offline", False, "offline"),
])
async def test_transitions(app, new_client, login, start, action, allowed, end):
    owner = await make_user(app)
    house = await make_house(app, owner, status=start)
    admin, _ = await admin_client(app, new_client, login)
    response = await admin.post(f"/admin/houses/{house['id']}/{action}", {"reason": "理由"})
    assert response.code == (302 if allowed else 409)
    if not allowed:
        assert "不能" in text(response)
    assert (await status_of(app, house["id"]))["status"] == end
    assert len(await actions(app, house["id"])) == (1 if allowed else 0)


@pytest.mark.gen_test
async def test_deleted_or_unknown_listing_cannot_be_moderated(app, new_client, login):
    owner = await make_user(app)
    deleted = await make_house(app, owner, status="deleted")
    admin, _ = await admin_client(app, new_client, login)
    assert (await admin.post(f"/admin/houses/{deleted['id']}/approve", {})).code == 409
    assert (await admin.post("/admin/houses/999999/approve", {})).code == 404
    assert (await admin.get("/admin/houses/999999")).code == 404
    page = await admin.get(f"/admin/houses/{deleted['id']}")
    assert page.code == 200 and "房东已删除该房源" in text(page)
    assert await app.db.scalar("SELECT COUNT(*) FROM admin_actions") == 0


@pytest.mark.gen_test
async def test_house_list_filters_by_status(app, new_client, login):
    owner = await make_user(app)
    made = {s: await make_house(app, owner, title=f"{s}房源", status=s)
            for s in ("pending", "online", "rejected", "offline", "deleted")}
    admin, _ = await admin_client(app, new_client, login)
    for status in ("pending", "online", "rejected", "offline"):
        page = text(await admin.get(f"/admin/houses?status={status}"))
        listed = set(int(i) for i in re.findall(r'class="admin-house" data-house-id="(\d+)"', page))
        assert listed == {made[status]["id"]}, status
        assert f'data-count="{status}">1<' in page
    default = text(await admin.get("/admin/houses"))
    assert re.findall(r'class="admin-house" data-house-id="(\d+)"', default) == [str(made["pending"]["id"])]
    assert (await admin.get("/admin/houses?status=deleted")).code == 400
    assert (await admin.get("/admin/houses?status=bogus")).code == 400


@pytest.mark.gen_test(timeout=30)
async def test_owner_edits_keep_an_online_listing_online(app, landlord):
    client, owner = landlord
    cases = [
        # (start status, form changes, status after the edit, a pending revision afterwards)
        ("online", {"title": "新的标题"}, "online", True),
        ("online", {"description": "全新的描述"}, "online", True),
        ("online", {"price": "999"}, "online", False),     # price alone needs no review
        ("rejected", {"price": "999"}, "pending", False),  # any edit resubmits a rejected listing
        ("pending", {"title": "新的标题"}, "pending", False),
        ("offline", {"title": "新的标题"}, "offline", False),  # only an admin takes it back online
    ]
    for start, changes, expected, revised in cases:
        house = await make_house(app, owner, status=start, title="阳光两居室", description="近地铁")
        if start == "rejected":
            await app.db.execute("UPDATE houses SET review_note = '旧意见' WHERE id = %s", house["id"])
        form = list(house_form(**changes).items()) + [("facility", "1"), ("facility", "3")]
        response = await client.post(f"/houses/{house['id']}/edit", form)
        assert response.code == 302, (start, changes)
        assert (await status_of(app, house["id"]))["status"] == expected, (start, changes)
        revision = await app.db.queryone("SELECT status FROM house_revisions WHERE house_id = %s", house["id"])
        assert (revision == {"status": "pending"}) is revised, (start, changes)
        row = await app.db.queryone("SELECT title, price_fen FROM houses WHERE id = %s", house["id"])
        # Reviewed text waits in the revision; everything else applies at once.
        assert row["title"] == ("阳光两居室" if revised or "title" not in changes else "新的标题"), (start, changes)
        assert row["price_fen"] == (99900 if "price" in changes else 28800), (start, changes)


@pytest.mark.gen_test(timeout=30)
async def test_unchanged_description_with_browser_line_breaks_is_not_a_change(app, landlord):
    client, owner = landlord
    house = await make_house(app, owner, title="阳光两居室", description="第一段\n\n第二段")
    form = house_form(description="第一段\r\n\r\n第二段", price="300")
    assert (await client.post(f"/houses/{house['id']}/edit", form)).code == 302
    assert (await status_of(app, house["id"]))["status"] == "online"


@pytest.mark.gen_test(timeout=30)
async def test_photo_changes_of_an_online_listing_wait_in_a_revision(app, landlord, new_client):
    client, owner = landlord
    house = await make_house(app, owner, title="换照片的房源")
    upload = await client.post(f"/houses/{house['id']}/images", files=[("image", "a.jpg", jpeg_bytes(), "image/jpeg")])
    assert upload.code == 302
    assert (await status_of(app, house["id"]))["status"] == "online"
    assert await public_sees(new_client, house["id"], "换照片的房源") == EVERYWHERE
    assert await app.db.scalar("SELECT stage FROM house_images WHERE house_id = %s", house["id"]) == "added"
    assert await app.db.scalar("SELECT status FROM house_revisions WHERE house_id = %s", house["id"]) == "pending"

    # Deleting an approved photo of an online listing marks it; it stays public until approval.
    await app.db.execute("UPDATE house_images SET stage = 'live' WHERE house_id = %s", house["id"])
    await app.db.execute("DELETE FROM house_revisions WHERE house_id = %s", house["id"])
    image_id = await app.db.scalar("SELECT id FROM house_images WHERE house_id = %s", house["id"])
    assert (await client.post(f"/houses/{house['id']}/images/{image_id}/delete", {})).code == 302
    assert (await status_of(app, house["id"]))["status"] == "online"
    assert await app.db.scalar("SELECT stage FROM house_images WHERE id = %s", image_id) == "removed"

    # An offline listing stays offline when its photos change, and they apply at once.
    await app.db.execute("DELETE FROM house_revisions WHERE house_id = %s", house["id"])
    await app.db.execute("UPDATE houses SET status = 'offline' WHERE id = %s", house["id"])
    upload = await client.post(f"/houses/{house['id']}/images", files=[("image", "b.jpg", jpeg_bytes(), "image/jpeg")])
    assert upload.code == 302
    assert (await status_of(app, house["id"]))["status"] == "offline"
    assert await app.db.scalar("SELECT COUNT(*) FROM house_images WHERE house_id = %s AND stage = 'added'",
                               house["id"]) == 0


@pytest.mark.gen_test(timeout=30)
async def test_hidden_listings_are_visible_to_their_owner_only(app, new_client, login):
    owner = await make_user(app)
    stranger = await make_user(app)
    owner_client, stranger_client = new_client(), new_client()
    await login(owner_client, owner)
    await login(stranger_client, stranger)
    for status in ("pending", "rejected", "offline"):
        house = await make_house(app, owner, title=f"隐藏的{status}房源", status=status)
        assert await public_sees(new_client, house["id"], house["title"]) == NOWHERE, status
        assert (await stranger_client.get(f"/houses/{house['id']}")).code == 404, status
        assert house["title"] not in text(await stranger_client.get("/houses")), status
        assert (await owner_client.get(f"/houses/{house['id']}")).code == 200, status
        assert house["title"] in text(await owner_client.get("/my/houses")), status


# -- an edit racing an approval -----------------------------------------------------

# A statement of another connection of this test database that takes a lock on a listing row.
# Without the PROCESS privilege information_schema.INNODB_TRX is closed to the test account,
# but PROCESSLIST shows the account's own connections: while our transaction holds the row,
# such a statement that is still running can only be waiting for that lock.
LOCKING_HOUSE_STATEMENTS = (
    "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
    "WHERE DB = DATABASE() AND ID <> CONNECTION_ID() AND COMMAND = 'Query' AND INFO LIKE %s "
    "AND (INFO LIKE %s OR INFO LIKE %s OR INFO LIKE %s)")


async def wait_for_lock_waiter(app, polls: int = 2000) -> bool:
    """True once another connection waits on a locked listing row; False after *polls* × 10 ms."""
    for _ in range(polls):
        if await app.db.scalar(LOCKING_HOUSE_STATEMENTS, "%houses%", "%FOR UPDATE%", "UPDATE %",
                               "%LOCK IN SHARE MODE%"):
            return True
        await asyncio.sleep(0.01)
    return False


@pytest.mark.gen_test(timeout=60)
async def test_an_edit_racing_an_approval_waits_in_a_revision(client, app, login):
    owner = await make_user(app)
    house = await make_house(app, owner, status="pending", title="原来的标题")
    await login(client, owner)
    # An admin's approval holds the row lock while the owner's edit arrives.
    async with app.db.transaction() as admin_tx:
        await admin_tx.queryone("SELECT id FROM houses WHERE id = %s FOR UPDATE", house["id"])
        await admin_tx.execute("UPDATE houses SET status = 'online' WHERE id = %s", house["id"])
        edit = asyncio.ensure_future(client.post(f"/houses/{house['id']}/edit",
                                                 house_form(title="未经审核的新标题")))
        # The edit has read the row (still pending) and now waits for the lock.
        assert await wait_for_lock_waiter(app), "the edit never waited for the listing's lock"
        assert not edit.done()
    response = await edit
    assert response.code == 302
    # The edit saw the approved (online) row once it got the lock: its title waits for review.
    row = await app.db.queryone("SELECT title, status FROM houses WHERE id = %s", house["id"])
    assert row["title"] == "原来的标题" and row["status"] == "online"
    assert await app.db.scalar("SELECT title FROM house_revisions WHERE house_id = %s", house["id"]) == "未经审核的新标题"


# -- odd ids and page numbers ---------------------------------------------------------

@pytest.mark.gen_test
async def test_huge_listing_ids_are_404_for_an_admin(app, new_client, login):
    huge = "999999999999999999"  # 18 digits: the most the routes accept
    admin, _ = await admin_client(app, new_client, login)
    assert (await admin.get(f"/admin/houses/{huge}")).code == 404
    for action in ("approve", "reject", "offline"):
        assert (await admin.post(f"/admin/houses/{huge}/{action}", {"reason": "理由"})).code == 404, action
    assert await app.db.scalar("SELECT COUNT(*) FROM admin_actions") == 0


@pytest.mark.gen_test
async def test_unicode_digit_page_of_the_house_list_is_the_first_page(app, new_client, login):
    admin, _ = await admin_client(app, new_client, login)
    assert (await admin.get("/admin/houses?page=%C2%B2")).code == 200
