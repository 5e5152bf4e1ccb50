"""Bounded bodies and bounded decodes (issue 9, item 1 and 2).

The server here is the production one (server.create_http_server): every route
refuses a body over 64 KB before reading it; the upload routes read theirs only
after the session, XSRF and ownership checks, streamed to disk. Decodes are
bounded by a decoded-bytes limit (far smaller for avatars) checked from the
header, and by a per-process semaphore.
"""

from __future__ import annotations

import asyncio
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image, ImageFile

import server
from handlers.uploads import SMALL_BODY_BYTES
from services import images as images_module
from services.images import ImageError, ImageStore
from tests.utils.client import encode_multipart, json_body, logged_in, text
from tests.utils.factories import make_house, make_user
from tests.utils.images import encode, jpeg_bytes, media_files, png_bytes, zero_png
from tests.utils.pages import field_error

SIXTY_MB = 60 * 1024 * 1024


@pytest.fixture
def owner_client(app, client, login, io_loop):
    """(client, user): a logged-in, verified landlord."""
    return io_loop.run_sync(lambda: logged_in(client, app, login))


def cookie_header(client) -> str:
    return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


async def raw_post(port: int, path: str, headers: dict[str, str], body_prefix: bytes = b"") -> tuple[int, bytes]:
    """Send a POST's headers and only *body_prefix* of its body, then read the answer to EOF.

    An answer proves the server decided without waiting for the declared body.
    Returns (status, whole raw response).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(head.encode("latin-1") + body_prefix)
        await writer.drain()
        # A guard against a hang (the test fails), not a measurement.
        raw = await asyncio.wait_for(reader.read(), 20)
    finally:
        writer.close()
    match = re.match(rb"HTTP/1\.1 (\d{3})", raw)
    assert match, raw[:200]
    return int(match[1]), raw


# -- every route: 64 KB -----------------------------------------------------------

@pytest.mark.gen_test
async def test_form_route_refuses_big_body_before_reading_it(app, http_server, http_port):
    status, raw = await raw_post(http_port, "/login", {
        "Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(SIXTY_MB)}, b"mobile=1")
    assert status == 400  # Tornado's answer to a Content-Length over max_body_size
    assert await app.db.scalar("SELECT COUNT(*) FROM login_events") == 0


@pytest.mark.gen_test
async def test_form_route_accepts_a_body_under_the_limit(client):
    body = b"mobile=13800000000&password=x&pad=" + b"a" * (SMALL_BODY_BYTES - 100)
    response = await client.fetch("POST", "/login", body=body + b"&_xsrf=" + (await client.xsrf_token()).encode(),
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    # The login form's own answer to an unknown mobile (a page), not a body refusal (no page).
    assert response.code == 400 and 'name="mobile"' in text(response)


# -- upload routes: checks before the body ------------------------------------------

@pytest.mark.gen_test
async def test_anonymous_upload_is_refused_before_the_body(app, client, http_port):
    owner = await make_user(app)
    house = await make_house(app, owner)
    token = await client.xsrf_token()
    for path in (f"/houses/{house['id']}/images", "/profile/avatar"):
        status, _ = await raw_post(http_port, path, {
            "Content-Type": "multipart/form-data; boundary=xyz", "Content-Length": str(SIXTY_MB),
            "Cookie": cookie_header(client), "X-XSRFToken": token}, b"--xyz\r\n")
        assert status == 403, path
    incoming = app.config.media_dir / ".incoming"
    assert not incoming.exists() or list(incoming.iterdir()) == []


@pytest.mark.gen_test
async def test_someone_elses_listing_is_refused_before_the_body(app, owner_client, http_port):
    client, _ = owner_client
    other = await make_user(app)
    house = await make_house(app, other)
    token = await client.xsrf_token()
    status, _ = await raw_post(http_port, f"/houses/{house['id']}/images", {
        "Content-Type": "multipart/form-data; boundary=xyz", "Content-Length": str(SIXTY_MB),
        "Cookie": cookie_header(client), "X-XSRFToken": token}, b"--xyz\r\n")
    assert status == 403
    token = await client.xsrf_token()
    status, _ = await raw_post(http_port, "/houses/999999999/images", {
        "Content-Type": "multipart/form-data; boundary=xyz", "Content-Length": "1000",
        "Cookie": cookie_header(client), "X-XSRFToken": token})
    assert status == 404


@pytest.mark.gen_test
async def test_wrong_xsrf_header_is_refused_before_the_body(app, owner_client, http_port):
    client, user = owner_client
    house = await make_house(app, user)
    await client.xsrf_token()
    status, _ = await raw_post(http_port, f"/houses/{house['id']}/images", {
        "Content-Type": "multipart/form-data; boundary=xyz", "Content-Length": str(SIXTY_MB),
        "Cookie": cookie_header(client), "X-XSRFToken": "2|deadbeef|00000000000000000000000000000000|1700000000"},
        b"--xyz\r\n")
    assert status == 403


@pytest.mark.gen_test
async def test_declared_size_over_the_upload_cap_gets_413_at_once(app, owner_client, http_port):
    client, user = owner_client
    house = await make_house(app, user)
    token = await client.xsrf_token()
    cap = server.hosting.HouseImagesHandler.max_files * app.images.max_bytes
    status, raw = await raw_post(http_port, f"/houses/{house['id']}/images", {
        "Content-Type": "multipart/form-data; boundary=xyz", "Content-Length": str(cap + 1024 * 1024),
        "Cookie": cookie_header(client), "X-XSRFToken": token}, b"--xyz\r\n")
    assert status == 413
    assert "上传内容过大" in raw.decode("utf-8", "replace")
    status, _ = await raw_post(http_port, "/profile/avatar", {
        "Content-Type": "multipart/form-data; boundary=xyz", "Content-Length": str(SIXTY_MB),
        "Cookie": cookie_header(client), "X-XSRFToken": token}, b"--xyz\r\n")
    assert status == 413


@pytest.mark.gen_test
async def test_file_before_the_xsrf_field_is_refused_and_nothing_stored(app, owner_client):
    client, user = owner_client
    house = await make_house(app, user)
    token = await client.xsrf_token()
    before = media_files(app)
    # The token only after the file: the file part is refused before a byte of it is stored.
    body, ctype = encode_multipart([], [("image", "a.jpg", jpeg_bytes(), "image/jpeg")])
    body = body.replace(b"--\r\n", b"") + f'\r\nContent-Disposition: form-data; name="_xsrf"\r\n\r\n{token}\r\n'.encode()
    boundary = ctype.split("boundary=")[1]
    body += f"--{boundary}--\r\n".encode()
    response = await client.fetch("POST", f"/houses/{house['id']}/images", body=body,
                                  headers={"Content-Type": ctype})
    assert response.code == 403
    assert await app.db.scalar("SELECT COUNT(*) FROM house_images") == 0
    assert media_files(app) == before


@pytest.mark.gen_test
async def test_no_js_form_with_xsrf_field_first_still_works(app, owner_client):
    client, user = owner_client
    house = await make_house(app, user)
    # Client.post puts the _xsrf field first, as xsrf_form_html() does in the form.
    response = await client.post(f"/houses/{house['id']}/images", files=[
        ("image", "a.jpg", jpeg_bytes(), "image/jpeg"), ("image", "b.png", png_bytes(), "image/png")])
    assert response.code == 302
    assert await app.db.scalar("SELECT COUNT(*) FROM house_images WHERE house_id = %s", house["id"]) == 2
    assert list((app.config.media_dir / ".incoming").iterdir()) == []  # the temp files are gone


@pytest.mark.gen_test
async def test_script_upload_with_header_token_answers_json(app, owner_client):
    client, user = owner_client
    house = await make_house(app, user)
    token = await client.xsrf_token()
    # As upload.js sends it: the token in X-XSRFToken (and, from FormData, in the body too).
    body, ctype = encode_multipart([("_xsrf", token)], [("image", "a.jpg", jpeg_bytes(), "image/jpeg")])
    ok = await client.fetch("POST", f"/houses/{house['id']}/images", body=body, headers={
        "Content-Type": ctype, "X-XSRFToken": token, "Accept": "application/json"})
    assert ok.code == 200 and json_body(ok) == {"ok": True, "count": 1}


@pytest.mark.gen_test
async def test_too_many_files_in_one_upload(app, owner_client):
    client, user = owner_client
    house = await make_house(app, user)
    n = server.hosting.HouseImagesHandler.max_files + 1
    response = await client.post(f"/houses/{house['id']}/images",
                                 files=[("image", f"{i}.jpg", jpeg_bytes((64, 64)), "image/jpeg") for i in range(n)],
                                 headers={"Accept": "application/json"})
    assert response.code == 400 and f"最多上传 {n - 1}" in json_body(response)["error"]
    assert await app.db.scalar("SELECT COUNT(*) FROM house_images") == 0


@pytest.mark.gen_test
async def test_truncated_multipart_is_refused(app, owner_client):
    client, user = owner_client
    house = await make_house(app, user)
    body, ctype = encode_multipart([("_xsrf", await client.xsrf_token())],
                                   [("image", "a.jpg", jpeg_bytes(), "image/jpeg")])
    response = await client.fetch("POST", f"/houses/{house['id']}/images", body=body[:-40],
                                  headers={"Content-Type": ctype})
    assert response.code == 400 and "不完整" in text(response)
    assert await app.db.scalar("SELECT COUNT(*) FROM house_images") == 0


# -- decodes -------------------------------------------------------------------------

@pytest.fixture
def pixel_loads(monkeypatch):
    """Every ImageFile.load() (pixel decoding) in this process, as the image sizes."""
    loads: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def counting_load(self):
        loads.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    return loads


@pytest.mark.gen_test
async def test_bomb_avatar_is_refused_from_its_header(app, owner_client, pixel_loads):
    client, user = owner_client
    bomb = zero_png(6300, 6300)
    assert len(bomb) < 200_000  # about 40 KB once... a small file, a 119 MB picture
    response = await client.post("/profile/avatar", files=[("avatar", "bomb.png", bomb, "image/png")])
    assert response.code == 400
    assert "尺寸过大" in (field_error(text(response), "avatar") or "")
    assert pixel_loads == []  # refused before a pixel was decoded
    assert (await app.db.queryone("SELECT avatar_key FROM users WHERE id = %s", user["id"]))["avatar_key"] is None


def test_decoded_bytes_limits(tmp_path, pixel_loads):
    store = ImageStore(tmp_path)
    big_png = zero_png(5000, 5000)  # 25 M px, under the pixel limit; 75 MB as RGB
    with pytest.raises(ImageError, match="尺寸过大"):
        asyncio.run(store.save(big_png))
    medium_png = zero_png(3200, 2800)  # 26.9 MB as RGB: a listing photo, not an avatar
    with pytest.raises(ImageError, match="尺寸过大"):
        asyncio.run(store.save(medium_png, square=True))
    assert pixel_loads == []
    assert asyncio.run(store.save(medium_png)).width == 1600
    # A big JPEG is measured after draft(): 6400x4800 decodes at half size (23 MB).
    photo = encode(Image.new("RGB", (6400, 4800), (90, 120, 200)), "JPEG")
    stored = asyncio.run(store.save(photo))
    assert (stored.width, stored.height) == (1600, 1200)
    assert (3200, 2400) in pixel_loads and (6400, 4800) not in pixel_loads


def test_save_reads_a_file_path(tmp_path):
    source = tmp_path / "upload.bin"
    source.write_bytes(jpeg_bytes((900, 600)))
    store = ImageStore(tmp_path / "media")
    stored = asyncio.run(store.save(source))
    assert (stored.width, stored.height) == (900, 600) and store.path(stored.key).exists()
    source.write_bytes(b"\0" * (store.max_bytes + 1))
    with pytest.raises(ImageError, match="10 MB"):
        asyncio.run(store.save(source))


def test_at_most_max_decodes_at_once(tmp_path, monkeypatch):
    # The first two decodes must meet at the barrier (so two do run at once); a
    # third never joins them (max_decoding_seen). The timeout only guards a hang.
    barrier = threading.Barrier(2, timeout=30)
    calls = []
    lock = threading.Lock()
    real = ImageStore._prepare_image

    def meeting(self, source, square):
        with lock:
            calls.append(1)
            first_two = len(calls) <= 2
        if first_two:
            barrier.wait()
        return real(self, source, square)

    monkeypatch.setattr(ImageStore, "_prepare_image", meeting)
    blobs = [jpeg_bytes((200, 150), (i * 20, 0, 0)) for i in range(8)]

    async def many(store):
        return await asyncio.gather(*(store.save(b) for b in blobs))

    with ThreadPoolExecutor(max_workers=8) as pool:
        store = ImageStore(tmp_path, executor=pool, max_decodes=2)
        stored = asyncio.run(many(store))
    assert len({s.key for s in stored}) == 8 and len(calls) == 8
    assert store.max_decoding_seen == 2


def test_default_decode_slots_are_the_cpu_count(tmp_path):
    import os
    assert ImageStore(tmp_path).max_decodes == (os.cpu_count() or 1)
    assert images_module.AVATAR_MAX_DECODED_BYTES * 2 < images_module.PHOTO_MAX_DECODED_BYTES


@pytest.mark.gen_test
async def test_client_gone_mid_upload_leaves_no_temp_file(app, owner_client, http_port):
    client, user = owner_client
    house = await make_house(app, user)
    token = await client.xsrf_token()
    incoming = app.config.media_dir / ".incoming"
    head = (f"--xyz\r\nContent-Disposition: form-data; name=\"_xsrf\"\r\n\r\n{token}\r\n"
            "--xyz\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + jpeg_bytes()[:2000]
    reader, writer = await asyncio.open_connection("127.0.0.1", http_port)
    writer.write((f"POST /houses/{house['id']}/images HTTP/1.1\r\nHost: x\r\nCookie: {cookie_header(client)}\r\n"
                  f"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: {5 * 1024 * 1024}\r\n\r\n"
                  ).encode() + head)
    await writer.drain()
    for _ in range(500):  # the part's temp file appears once the server has read it (bounded wait)
        if incoming.is_dir() and any(incoming.iterdir()):
            break
        await asyncio.sleep(0.01)
    assert any(incoming.iterdir())
    writer.close()
    for _ in range(500):  # ... and goes when the server sees the connection close
        if not any(incoming.iterdir()):
            break
        await asyncio.sleep(0.01)
    assert list(incoming.iterdir()) == []
    assert await app.db.scalar("SELECT COUNT(*) FROM house_images") == 0
