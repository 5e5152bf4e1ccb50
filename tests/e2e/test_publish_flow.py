"""A new landlord in a real browser: sign up, publish a listing with a photo, find it.

register (image captcha) → logged in → /houses/new (all fields, a district of
北京市, facilities) → the edit page: upload a photo through the XHR upload form
→ the listing on the home page and in the search of its district, price in fen.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from models.profile import id_card_context
from services.crypto import FieldCipher
from tests.e2e.helpers import (PASSWORD, VALID_ID_CARD, approve_house, field_errors, make_jpeg, next_mobile,
                               path_of, register, snapshot)

PRICE_YUAN = "368.5"
PRICE_FEN = 36850
DEPOSIT_FEN = 80000


def complete_verification(page: Page, live_server, db, user_id: int) -> None:
    """Real-name verification through /profile/auth, needed before a landlord may publish.

    The number is stored encrypted: the row holds no plain ID-card number, and it
    decrypts, with the server's own key, to what was typed.
    """
    page.goto(f"{live_server.url}/profile/auth")
    page.fill("input[name=real_name]", "王小明")
    page.fill("input[name=id_card]", VALID_ID_CARD)
    with page.expect_navigation():
        page.locator("form:has(input[name=real_name]) [type=submit]").click()
    assert not page.locator(".invalid-feedback:visible").count(), field_errors(page)
    with db.cursor() as cur:
        cur.execute("SELECT real_name, id_card FROM users WHERE id = %s", (user_id,))
        row = cur.fetchone()
    assert row["real_name"] == "王小明"
    assert VALID_ID_CARD not in row["id_card"]
    cipher = FieldCipher(live_server.data_key)
    assert cipher.decrypt(row["id_card"], id_card_context(user_id)) == VALID_ID_CARD


def test_register_publish_upload_and_find(page: Page, live_server, db, redis_sync, tmp_path):
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    mobile = next_mobile()
    title = f"阳光两居室 近地铁 {mobile[-4:]}"

    # Sign up through the real form; the new account is logged in straight away.
    register(page, live_server, redis_sync, mobile, PASSWORD)
    with db.cursor() as cur:
        cur.execute("SELECT id, name, real_name FROM users WHERE mobile = %s", (mobile,))
        user = cur.fetchone()
    assert user is not None
    # The header names the new account (a random default name, never the mobile).
    expect(page.locator("#user-menu")).to_contain_text(user["name"])
    expect(page.locator("#user-menu")).not_to_contain_text(mobile)

    # A new account is not real-name verified; publishing may ask for it first.
    page.goto(f"{live_server.url}/houses/new")
    if page.locator(".publish-blocker").count():
        expect(page.locator(".publish-blocker a[href='/profile/auth']")).to_have_count(1)
        complete_verification(page, live_server, db, user["id"])
        page.goto(f"{live_server.url}/houses/new")
        expect(page.locator(".publish-blocker")).to_have_count(0)

    # The publish form, every field filled in.
    page.fill("#title", title)
    page.fill("#price", PRICE_YUAN)
    page.fill("#deposit", "800")
    beijing = page.locator("#area_id option[data-city='北京市']")
    assert beijing.count() >= 10  # the capital's districts are offered
    area_id = int(beijing.nth(1).get_attribute("value"))
    area_name = beijing.nth(1).inner_text().strip()
    page.select_option("#area_id", str(area_id))
    page.fill("#address", "建国路 88 号 3 单元 1201")
    page.fill("#room_count", "2")
    page.fill("#acreage", "65")
    page.fill("#unit", "两室一厅")
    page.fill("#capacity", "4")
    page.fill("#beds", "双人床 1.8m×2m")
    page.fill("#min_days", "2")
    page.fill("#max_days", "30")
    page.fill("#description", "朝南采光好，步行五分钟到地铁站。")
    boxes = page.locator("#house-form input[name=facility]")
    assert boxes.count() == 23
    chosen = []
    for i in (0, 2, 5):
        boxes.nth(i).check()
        chosen.append(int(boxes.nth(i).get_attribute("value")))
    with page.expect_navigation():
        page.locator("#house-form [type=submit]").click()
    match = re.fullmatch(r"/houses/(\d+)/edit", path_of(page))
    assert match, f"publish refused ({page.url}): {field_errors(page)}"
    house_id = int(match.group(1))

    with db.cursor() as cur:
        cur.execute("SELECT * FROM houses WHERE id = %s", (house_id,))
        house = cur.fetchone()
        cur.execute("SELECT facility_id FROM house_facilities WHERE house_id = %s ORDER BY facility_id",
                    (house_id,))
        facility_ids = [r["facility_id"] for r in cur.fetchall()]
    assert house["owner_id"] == user["id"]
    assert (house["title"], house["area_id"], house["price_fen"], house["deposit_fen"]) == (
        title, area_id, PRICE_FEN, DEPOSIT_FEN)
    assert (house["room_count"], house["acreage"], house["capacity"], house["min_days"], house["max_days"]) == (
        2, 65, 4, 2, 30)
    assert facility_ids == sorted(chosen)

    # The photo: chosen in the file input (a preview appears), sent by XHR, then the page reloads.
    photo = make_jpeg(tmp_path / "living-room.jpg", 1200, 900)
    expect(page.locator("#photo-list .photo")).to_have_count(0)
    page.set_input_files("#image", str(photo))
    expect(page.locator("#upload-preview img")).to_have_count(1)
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith(f"/houses/{house_id}/images")) as upload:
        page.click("#upload-button")
    # Only the status: upload.js reloads the page at once, and the JSON body goes with it.
    assert upload.value.status == 200, page.locator("#upload-error").inner_text()
    expect(page.locator("#photo-list .photo")).to_have_count(1)  # after upload.js reloaded the page
    thumb = page.locator("#photo-list .photo img")
    expect(thumb).to_have_js_property("complete", True)
    assert thumb.evaluate("img => img.naturalWidth") > 0
    with db.cursor() as cur:
        cur.execute("SELECT id, storage_key, width, height FROM house_images WHERE house_id = %s", (house_id,))
        images = cur.fetchall()
        cur.execute("SELECT status, cover_image_id FROM houses WHERE id = %s", (house_id,))
        house = cur.fetchone()
    assert len(images) == 1 and (images[0]["width"], images[0]["height"]) == (1200, 900)
    assert house["cover_image_id"] == images[0]["id"]
    assert list(live_server.media_dir.rglob(f"{images[0]['storage_key']}*"))

    # Moderation (built alongside) makes new or changed listings 'pending' until an
    # admin approves them. Moderation is not what this test is about, so a pending
    # listing is approved the way the admin's decision ends: status 'online', caches dropped.
    if house["status"] == "pending":
        approve_house(db, house_id)
    else:
        assert house["status"] == "online"

    # The home page's latest listings show it, with its cover photo.
    page.goto(live_server.url + "/")
    card = page.locator("#latest .house-card", has_text=title)
    expect(card).to_have_count(1)
    expect(card).to_have_attribute("data-price-fen", str(PRICE_FEN))
    expect(card).to_contain_text("368.50")
    expect(card.locator("img")).to_have_js_property("complete", True)
    assert card.locator("img").evaluate("img => img.naturalWidth") > 0
    snapshot(page, "home")

    # The search of its district finds it, price in fen.
    page.goto(f"{live_server.url}/houses?area_id={area_id}")
    card = page.locator(f"#results .house-card[data-house-id='{house_id}']")
    expect(card).to_have_count(1)
    expect(card).to_have_attribute("data-price-fen", str(PRICE_FEN))
    expect(card).to_contain_text(title)
    expect(card).to_contain_text(area_name)

    # And its own page.
    page.goto(f"{live_server.url}/houses/{house_id}")
    expect(page.locator("h1")).to_have_text(title)
    expect(page.locator("#house")).to_have_attribute("data-price-fen", str(PRICE_FEN))
    expect(page.locator(".facilities .facility")).to_have_count(len(chosen))
    expect(page.locator("#gallery img")).to_have_count(1)
    snapshot(page, "listing")

    assert js_errors == []
