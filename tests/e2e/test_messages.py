"""Messaging in a real browser, two people at once: the guest asks a question from the listing
page (联系房东), the host — already on the inbox in a browser of their own — sees the badge move
and, in the thread, the question appear without reloading, and answers; the guest sees the
answer arrive live. Chromium enforces the Content-Security-Policy (the socket is allowed)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.helpers import PASSWORD, login, make_house, make_verified_user, path_of, snapshot


def test_guest_asks_host_answers_live(page: Page, browser, live_server, db):
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    page.on("console", lambda msg: js_errors.append(msg.text) if msg.type == "error" else None)
    host = make_verified_user(db, name="房东小周")
    guest = make_verified_user(db, name="提问的小林")
    house_id = make_house(db, host["id"], title="海边的房子")

    # The host waits on the inbox, in a browser of their own.
    host_context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    try:
        host_page = host_context.new_page()
        host_page.on("pageerror", lambda exc: js_errors.append(str(exc)))
        login(host_page, live_server, host["mobile"], PASSWORD, next_path="/messages")
        expect(host_page.locator("#no-messages")).to_be_visible()
        expect(host_page.locator("#unread-badge")).to_be_hidden()

        # The guest opens the conversation from the listing page and asks.
        login(page, live_server, guest["mobile"], PASSWORD, next_path=f"/houses/{house_id}")
        with page.expect_navigation():
            page.locator("button.contact-host").click()
        match = re.fullmatch(r"/messages/(\d+)", path_of(page))
        assert match, page.url
        expect(page.locator("#connection-state")).to_be_hidden()
        page.wait_for_function("document.documentElement.classList.contains('ihome-reconnecting') === false")
        page.fill("#message-body", "你好！请问<b>停车</b>免费吗？")
        page.locator("#message-body").press("Enter")
        mine = page.locator("#thread .message.mine")
        expect(mine).to_have_count(1)
        expect(mine.locator(".bubble")).to_have_text("你好！请问<b>停车</b>免费吗？")  # text, never markup
        expect(mine).to_have_attribute("id", re.compile(r"m\d+"))  # confirmed by the server
        snapshot(page, "messages-1-guest-asks")

        # The host's header badge moved without a reload; the thread shows the question.
        expect(host_page.locator("#unread-badge")).to_have_text("1")
        host_page.goto(f"{live_server.url}/messages/{match.group(1)}")
        theirs = host_page.locator("#thread .message.theirs .bubble")
        expect(theirs).to_have_text("你好！请问<b>停车</b>免费吗？")
        expect(host_page.locator("#unread-badge")).to_be_hidden()  # reading marked it read
        host_page.fill("#message-body", "免费的，\n车位在楼下")
        host_page.locator("#send-button").click()
        expect(host_page.locator("#thread .message.mine .bubble")).to_have_text("免费的，\n车位在楼下")
        snapshot(host_page, "messages-2-host-answers")

        # The guest, still on the thread, sees the answer arrive.
        expect(page.locator("#thread .message.theirs .bubble")).to_have_text("免费的，\n车位在楼下")
        snapshot(page, "messages-3-guest-reads")
    finally:
        host_context.close()
    assert not [e for e in js_errors if "Content Security Policy" in e or "Refused" in e], js_errors
    assert not [e for e in js_errors if "WebSocket" not in e], js_errors
