"""Every POST route of the route table refuses a missing or wrong _xsrf with 403 and writes nothing."""

from __future__ import annotations

import re

import pytest
import tornado.web

import server
from tests.utils.routes import make_world

TABLES = ("users", "houses", "house_images", "house_facilities", "orders", "booked_nights", "reviews",
          "admin_actions")


def post_paths(house_id: int, image_id: int, order_id: int) -> list[str]:
    """A concrete path for every route whose handler accepts POST."""
    paths = []
    for pattern, handler in server.routes():
        if handler.post is tornado.web.RequestHandler.post:
            continue
        path = pattern.replace("(accept|reject|release|cancel|review)", "cancel")
        # A second id (a photo, a calendar feed) takes image_id: the XSRF check answers before any lookup.
        ids = iter((house_id, image_id) if "/images/" in path or "/feeds/" in path
                   else (order_id,) if path.startswith("/orders") else (house_id,))
        path = re.sub(r"\(\[0-9\]\{1,18\}\)", lambda _: str(next(ids)), path)
        paths.append(path)
    return paths


async def snapshot(app) -> dict:
    return {t: await app.db.scalar(f"SELECT COUNT(*) FROM {t}") for t in TABLES} | {
        "statuses": await app.db.query("SELECT id, status, title FROM houses ORDER BY id"),
        "users": await app.db.query("SELECT id, name, is_active, password_hash FROM users ORDER BY id")}


@pytest.mark.gen_test
@pytest.mark.parametrize("xsrf", [False, "2|deadbeef|00000000000000000000000000000000|1700000000"])
async def test_every_post_route_needs_xsrf(app, client, login, xsrf):
    world = await make_world(app)
    admin, house, image_id, order_id = world["admin"], {"id": world["house"]}, world["image"], world["order"]
    await login(client, admin, is_admin=True)
    await client.get("/login")  # a real _xsrf cookie is present: only the form field is missing/wrong
    paths = post_paths(house["id"], image_id, order_id)
    for expected in ("/register", "/login", "/logout", "/houses/new", f"/houses/{house['id']}/book",
                     f"/orders/{order_id}/cancel", "/profile/password", f"/admin/houses/{house['id']}/approve"):
        assert expected in paths
    assert len(paths) >= 20
    before = await snapshot(app)
    for path in paths:
        response = await client.post(path, {"title": "x", "reason": "x", "name": "新名字"}, xsrf=xsrf)
        assert response.code == 403, path
    assert await snapshot(app) == before
