"""Tables that become cards on a phone (.table-stack), and headings, on the member and admin pages.

Every <td> of a .table-stack table carries data-label equal to its column's header (the CSS shows it
before the value under 576 px, static/css/site.css); every page has one h1 and no skipped heading level.
"""

from __future__ import annotations

import re

import pytest

from tests.utils.a11y import Element, parse, table_columns
from tests.utils.booking import make_party
from tests.utils.client import admin_client, text
from tests.utils.factories import make_house, make_user
from tests.utils.pages import order_id_of


def stacked_tables(body: str) -> list[Element]:
    return [t for t in parse(body).find_all("table") if "table-stack" in t.classes()]


def assert_labelled(body: str, table_id: str | None = None, *, rows: int = 1) -> None:
    """The table (by id, or the only .table-stack one) has at least *rows* rows, every cell labelled."""
    tables = [t for t in stacked_tables(body) if table_id is None or t.attrs.get("id") == table_id]
    assert len(tables) == 1, (table_id, len(tables))
    headers, cells = table_columns(tables[0])
    assert len(cells) >= rows, (table_id, len(cells))
    assert all(headers), ("every column has a header, if only for screen readers", headers)
    for row in cells:
        assert [td.attrs.get("data-label") for td in row] == headers, (table_id, headers)


def assert_headings(body: str) -> None:
    """One h1; each heading at most one level below the one before it."""
    levels = [int(h) for h in re.findall(r"<h([1-6])[\s>]", body)]
    assert levels.count(1) == 1, levels
    assert levels[0] == 1, levels
    for before, after in zip(levels, levels[1:]):
        assert after <= before + 1, levels


@pytest.mark.gen_test(timeout=30)
async def test_member_tables_and_headings(app, login, new_client):
    p = await make_party(app, login, new_client)
    order_id = order_id_of(await p.book(2, 3))
    await login(p.gc, p.guest)  # a second session, so the sessions table has two rows
    sessions = text(await p.gc.get("/profile/sessions"))
    assert_labelled(sessions, "sessions", rows=2)
    for path in ("/profile", "/profile/auth", "/profile/sessions", "/my/orders", "/my/orders?role=landlord",
                 f"/orders/{order_id}", "/my/houses", "/houses/new", f"/houses/{p.house['id']}/edit"):
        client = p.lc if "role=landlord" in path or "houses" in path else p.gc
        response = await client.get(path)
        assert response.code == 200, path
        assert_headings(text(response))
    for path in ("/login", "/register"):
        assert_headings(text(await p.anon.get(path)))


@pytest.mark.gen_test(timeout=30)
async def test_admin_tables_and_headings(app, login, new_client):
    p = await make_party(app, login, new_client)
    await p.order(2, 3)
    pending = await make_house(app, await make_user(app), status="pending")
    admin, _ = await admin_client(app, new_client, login)
    assert (await admin.post(f"/admin/houses/{pending['id']}/reject", {"reason": "照片不清楚"})).code == 302
    assert (await admin.post(f"/admin/users/{p.stranger['id']}/disable", {"reason": "测试"})).code == 302
    await login(new_client(), p.guest)  # a login row for the admin lists
    await app.db.execute(
        "INSERT INTO login_events (user_id, mobile, ip, success, is_admin_login) VALUES (%s, %s, '10.0.0.1', 1, 0)",
        p.guest["id"], p.guest["mobile"])
    pages = {
        "/admin/houses?status=online": "admin-houses", "/admin/users": "admin-users",
        "/admin/orders": "admin-orders", "/admin/logins": "admin-logins",
    }
    for path, table_id in pages.items():
        body = text(await admin.get(path))
        assert_labelled(body, table_id)
        assert_headings(body)
    house_page = text(await admin.get(f"/admin/houses/{pending['id']}"))
    assert_labelled(house_page)  # the moderation history
    assert_headings(house_page)
    user_page = text(await admin.get(f"/admin/users/{p.guest['id']}"))
    assert_headings(user_page)
    assert_labelled(user_page, None)  # recent logins (no admin action on this user)
    stranger_page = text(await admin.get(f"/admin/users/{p.stranger['id']}"))
    assert len(stacked_tables(stranger_page)) == 1  # its disable is listed; no login of its own
    assert_labelled(stranger_page)


@pytest.mark.gen_test
async def test_the_assertion_catches_a_missing_label():
    good = ('<table class="table-stack"><thead><tr><th>时间</th><th>IP</th></tr></thead>'
            '<tbody><tr><td data-label="时间">1</td><td data-label="IP">2</td></tr></tbody></table>')
    assert_labelled(good)
    with pytest.raises(AssertionError):
        assert_labelled(good.replace(' data-label="IP"', ""))
    with pytest.raises(AssertionError):
        assert_headings("<h1>a</h1><h3>b</h3>")
