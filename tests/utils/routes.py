"""Walking the route table: a concrete path for every GET route, and the rows those paths point at.

Route-walk tests (security headers, page skeletons, translations) take ``server.routes()``
itself, so a new page is checked without anyone remembering to add it to a list.
"""

from __future__ import annotations

import re

import tornado.web
import tornado.websocket

import server
from tests.utils.factories import make_house, make_user

ID_RE = re.compile(r"\(\[0-9\]\{1,18\}\)")
# Routes whose GET needs a concrete value in the path other than an id.
OTHER_GROUPS = {r"/captcha/([A-Za-z0-9_-]{1,64})\.png": "/captcha/abcdefgh.png"}


def get_paths(ids: dict[str, int], *, websockets: bool = True) -> list[str]:
    """A concrete path for every route of server.routes() whose handler has GET.

    *ids*: house, image, order, user, conversation — the rows the paths point at (see
    :func:`make_world`). *websockets*: include the WebSocket route (a plain GET of it is a 400).
    """
    paths = []
    for pattern, handler in server.routes():
        if handler.get is tornado.web.RequestHandler.get:
            continue
        if not websockets and issubclass(handler, tornado.websocket.WebSocketHandler):
            continue
        if pattern in OTHER_GROUPS:
            paths.append(OTHER_GROUPS[pattern])
            continue
        assert "(" not in ID_RE.sub("", pattern), f"add a value for {pattern} to OTHER_GROUPS"
        if pattern.startswith("/orders"):
            values = iter([ids["order"]])
        elif pattern.startswith(("/admin/users", "/users/")):
            values = iter([ids["user"]])
        elif pattern.startswith("/messages/"):
            values = iter([ids["conversation"]])
        else:
            values = iter([ids["house"], ids["image"]])
        paths.append(ID_RE.sub(lambda _: str(next(values)), pattern))
    return paths


async def make_world(app) -> dict:
    """An admin who owns an online listing with a photo; a guest with a pending order of it and a
    conversation about it. Returns {admin, guest (user dicts), house, image, order, conversation,
    user (the admin's id)}."""
    from models import messages

    admin = await make_user(app, admin=True)
    guest = await make_user(app)
    house = await make_house(app, admin)
    image_id = await app.db.insert("INSERT INTO house_images (house_id, storage_key, width, height) "
                                   "VALUES (%s, %s, 10, 10)", house["id"], "d" * 32)
    order_id = await app.db.insert(
        "INSERT INTO orders (guest_id, house_id, check_in, check_out, nights, price_fen, amount_fen) "
        "VALUES (%s, %s, CURDATE() + INTERVAL 1 DAY, CURDATE() + INTERVAL 2 DAY, 1, 100, 100)",
        guest["id"], house["id"])
    conversation = await messages.open_conversation(app.db, house["id"], guest["id"])
    return {"admin": admin, "guest": guest, "house": house["id"], "image": image_id, "order": order_id,
            "user": admin["id"], "conversation": conversation}
