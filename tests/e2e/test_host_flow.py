"""A host in a real browser at phone size: edit a live listing (a revision, the page stays
public), add a photo and delete it through the confirmation, block and reopen dates.

No step needs JavaScript of ours beyond the upload form's: the photo confirmation is a
<details> element and the calendar forms are plain forms.
"""

from __future__ import annotations

import datetime

from playwright.sync_api import expect

from tests.e2e.helpers import PASSWORD, login, make_house, make_jpeg, make_verified_user, snapshot

PHONE = {"width": 375, "height": 740}


def test_host_edits_a_live_listing_and_blocks_dates(browser, live_server, db, tmp_path):
    host = make_verified_user(db)
    house_id = make_house(db, host["id"], title="湖边小屋", status="online")
    context = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    try:
        login(page, live_server, host["mobile"], PASSWORD, f"/houses/{house_id}/edit")

        # A new title waits for review; the listing stays public with the old one.
        page.fill("#title", "湖边小屋 · 新装修")
        with page.expect_navigation():
            page.locator("#house-form [type=submit]").click()
        expect(page.locator("#revision")).to_contain_text("修改待审核")
        expect(page.locator("#title")).to_have_value("湖边小屋 · 新装修")
        visitor = browser.new_context(locale="zh-CN").new_page()
        visitor.goto(f"{live_server.url}/houses/{house_id}")
        expect(visitor.locator("h1")).to_contain_text("湖边小屋")
        expect(visitor.locator("h1")).not_to_contain_text("新装修")
        visitor.context.close()

        # A photo: uploaded by the form's script, shown to the host as waiting for review.
        page.set_input_files("#image", str(make_jpeg(tmp_path / "room.jpg", 800, 600)))
        with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/images")):
            page.click("#upload-button")
        page.wait_for_load_state("load")
        photo = page.locator("#photo-list .photo[data-stage=added]")
        expect(photo).to_have_count(1)
        # Deleting asks first: the confirm button appears only after opening the question.
        confirm = photo.locator("button.confirm-delete")
        expect(confirm).to_be_hidden()
        photo.locator("summary").click()
        expect(confirm).to_be_visible()
        with page.expect_navigation():
            confirm.click()
        expect(page.locator("#photo-list .photo")).to_have_count(0)

        # Block two nights from the day after tomorrow, then reopen them.
        start = datetime.date.today() + datetime.timedelta(days=2)
        end = start + datetime.timedelta(days=2)
        page.fill("#block-sd", start.isoformat())
        page.fill("#block-ed", end.isoformat())
        with page.expect_navigation():
            page.locator("#block-form button:not([formaction])").click()
        expect(page.locator("#blocks .block")).to_have_count(1)
        expect(page.locator(f"td.blocked[data-date='{start.isoformat()}']")).to_have_count(1)
        snapshot(page, "host-edit-phone")
        with db.cursor() as cur:
            cur.execute("SELECT COUNT(*) AS n FROM booked_nights WHERE house_id = %s AND block_id IS NOT NULL",
                        (house_id,))
            assert cur.fetchone()["n"] == 2
        with page.expect_navigation():
            page.locator("#blocks .block button").click()
        expect(page.locator("#no-blocks")).to_have_count(1)

        # Withdrawing the revision leaves the listing as it was.
        with page.expect_navigation():
            page.click("#withdraw-revision")

        expect(page.locator("#revision")).to_have_count(0)
        expect(page.locator("#title")).to_have_value("湖边小屋")
        assert js_errors == []
    finally:
        context.close()
