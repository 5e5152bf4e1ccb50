"""Cache headers on each kind of answer (issue 13): pages are never kept long, versioned static
files and public pictures are kept a year, private pictures never; the favicon and touch icon.
"""

from __future__ import annotations

import io
import re

import pytest
import tornado.web
from PIL import Image

from handlers.media import FALLBACK_CACHE_CONTROL, PUBLIC_CACHE_CONTROL
from models import houses
from services.images import make_demo_photo
from tests.utils.client import logged_in, text
from tests.utils.factories import make_house, make_user


def max_age(response) -> int:
    match = re.search(r"max-age=(\d+)", response.headers.get("Cache-Control", ""))
    return int(match[1]) if match else 0


async def live_photo(app, house: dict) -> str:
    stored = await app.images.save(make_demo_photo(7, 1000, 700))
    async with app.db.transaction() as tx:
        await tx.scalar("SELECT id FROM houses WHERE id = %s FOR UPDATE", house["id"])
        await houses.add_image(tx, house["id"], stored.key, stored.width, stored.height, "live")
    return stored.key


@pytest.mark.gen_test
async def test_pages_are_not_kept_long(app, client, new_client, login):
    owner = await make_user(app)
    house = await make_house(app, owner)
    for path in ("/", "/houses", f"/houses/{house['id']}", "/login"):
        response = await new_client().get(path)
        assert response.code == 200, path
        assert max_age(response) == 0 and "immutable" not in response.headers.get("Cache-Control", ""), path
    member, _ = await logged_in(client, app, login)
    for path in ("/", f"/houses/{house['id']}", "/my/orders"):
        response = await member.get(path)
        assert response.code == 200 and "no-store" in response.headers["Cache-Control"], path


@pytest.mark.gen_test
async def test_versioned_static_files_are_kept_long_and_plain_ones_are_not(app, client):
    for name in ("css/site.css", "js/booking.js", "vendor/bootstrap/css/bootstrap.min.css", "favicon.svg"):
        url = tornado.web.StaticFileHandler.make_static_url(app.settings, name)
        assert "?v=" in url
        response = await client.get(url)
        assert response.code == 200, name
        assert max_age(response) >= 365 * 86400, name
    plain = await client.get("/static/css/site.css")
    assert plain.code == 200 and max_age(plain) == 0


@pytest.mark.gen_test
async def test_public_pictures_are_immutable_and_private_ones_never_kept(app, client, new_client, login):
    owner_client, owner = await logged_in(client, app, login)
    public = await make_house(app, owner)
    private = await make_house(app, owner, status="offline")
    public_key = await live_photo(app, public)
    private_key = await live_photo(app, private)
    visitor = new_client()
    for url in (app.images.variant_url(public_key, 480, "webp"), app.images.variant_url(public_key, 1600, "jpg"),
                app.images.url(public_key, "t")):
        response = await visitor.get(url)
        assert response.code == 200 and response.headers["Cache-Control"] == PUBLIC_CACHE_CONTROL, url
        # Also for a logged-in visitor: the same bytes for everyone.
        mine = await owner_client.get(url)
        assert mine.code == 200 and mine.headers["Cache-Control"] == PUBLIC_CACHE_CONTROL, url
    webp = await visitor.get(app.images.variant_url(public_key, 960, "webp"))
    assert webp.headers["Content-Type"] == "image/webp" and "Content-Encoding" not in webp.headers
    private_url = app.images.variant_url(private_key, 960, "webp")
    assert (await visitor.get(private_url)).code == 404
    mine = await owner_client.get(private_url)
    assert mine.code == 200 and "no-store" in mine.headers["Cache-Control"] and "public" not in mine.headers["Cache-Control"]
    # A photo not converted yet: its width's URL gets the legacy file, kept briefly only.
    for path in app.images.all_paths(public_key)[2:]:
        path.unlink()
    fallback = await new_client().get(app.images.variant_url(public_key, 960, "webp"))
    assert fallback.code == 200 and fallback.headers["Cache-Control"] == FALLBACK_CACHE_CONTROL


@pytest.mark.gen_test
async def test_favicon_and_touch_icon(app, client):
    ico = await client.get("/favicon.ico")
    assert ico.code == 200 and ico.headers["Content-Type"] in ("image/vnd.microsoft.icon", "image/x-icon")
    # Tornado's static_path setting routes /favicon.ico to static/favicon.ico (no version in the
    # URL, so no long lifetime: revalidated by its ETag).
    assert ico.headers["Etag"]
    again = await client.get("/favicon.ico", headers={"If-None-Match": ico.headers["Etag"]})
    assert again.code == 304
    with Image.open(io.BytesIO(ico.body)) as img:
        assert img.format == "ICO"
    svg = await client.get(tornado.web.StaticFileHandler.make_static_url(app.settings, "favicon.svg"))
    assert svg.code == 200 and svg.headers["Content-Type"] == "image/svg+xml" and b"<svg" in svg.body
    touch = await client.get(tornado.web.StaticFileHandler.make_static_url(app.settings, "apple-touch-icon.png"))
    with Image.open(io.BytesIO(touch.body)) as img:
        assert (img.format, img.size) == ("PNG", (180, 180))



@pytest.mark.gen_test
async def test_pages_link_the_icons(app, client):
    page = text(await client.get("/login"))
    assert re.search(r'<link rel="icon" href="/static/favicon\.svg\?v=\w+" type="image/svg\+xml">', page)
    assert re.search(r'<link rel="apple-touch-icon" href="/static/apple-touch-icon\.png\?v=\w+">', page)
