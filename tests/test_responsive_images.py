"""Responsive listing photos (issue 13): three widths in WebP and JPEG, <picture>/srcset on every page.

The pipeline writes 480, 960 and 1600 px wide files in both formats (never upscaled: a narrower
photo's wider names are hard links to its own size), plus the legacy ``_l``/``_t`` names; no file
stays under a temp name. ``manage.py photos-responsive`` adds the widths to older photos and is
idempotent. Every listing-photo ``<img>`` on every page kind has srcset, sizes, width, height and
decoding; only the first visible one loads eagerly.
"""

from __future__ import annotations

import asyncio
import re
from html.parser import HTMLParser

import pytest
from PIL import Image

from handlers.media import FALLBACK_CACHE_CONTROL, PUBLIC_CACHE_CONTROL
from manage import convert_photos
from models import houses
from services.images import FORMATS, WIDTHS, ImageStore, make_demo_photo
from tests.utils.booking import make_party
from tests.utils.client import admin_client, text
from tests.utils.images import encode, files_under


def save(store: ImageStore, data: bytes):
    return asyncio.run(store.save(data))


def size_of(path) -> tuple[int, int]:
    with Image.open(path) as img:
        return img.size


def variant_paths(store: ImageStore, key: str) -> list:
    return [store.variant_path(key, w, fmt) for w in WIDTHS for fmt in FORMATS]


def drop_variants(store: ImageStore, key: str) -> None:
    """Make *key* look like a photo stored before the widths existed (only _l and _t)."""
    for path in variant_paths(store, key):
        path.unlink()


@pytest.fixture
def store(tmp_path):
    return ImageStore(tmp_path)


# -- the pipeline ------------------------------------------------------------------------


def test_a_photo_gets_six_variant_files_and_no_temp_file(store, tmp_path):
    stored = save(store, make_demo_photo(1, 2400, 1600))
    assert (stored.width, stored.height) == (1600, 1067)
    for width in WIDTHS:
        for fmt, pil_format in (("webp", "WEBP"), ("jpg", "JPEG")):
            with Image.open(store.variant_path(stored.key, width, fmt)) as img:
                assert img.format == pil_format and img.size == (width, round(1067 * width / 1600)), (width, fmt)
                assert not img.info.get("exif")
    names = [p.name for p in files_under(tmp_path)]
    assert len(names) == 8 and not any(n.startswith(".") or ".tmp" in n for n in names)
    # The legacy large name is the widest JPEG itself (a hard link: no second copy).
    assert store.path(stored.key, "l").stat().st_ino == store.variant_path(stored.key, 1600, "jpg").stat().st_ino
    # A landscape photo's 480 px width fits the thumbnail box: the thumbnail is that file too.
    assert store.path(stored.key, "t").samefile(store.variant_path(stored.key, 480, "jpg"))
    # WebP is the lighter format at every width.
    for width in WIDTHS:
        assert (store.variant_path(stored.key, width, "webp").stat().st_size
                < store.variant_path(stored.key, width, "jpg").stat().st_size)


def test_a_narrow_photo_is_never_upscaled(store):
    stored = save(store, make_demo_photo(2, 700, 500))
    assert (stored.width, stored.height) == (700, 500)
    assert size_of(store.variant_path(stored.key, 480, "jpg")) == (480, 343)
    for width in (960, 1600):
        for fmt in FORMATS:
            assert size_of(store.variant_path(stored.key, width, fmt)) == (700, 500)
    # 960 and 1600 are one file under two names; srcset names each real width once.
    assert store.variant_path(stored.key, 960, "webp").samefile(store.variant_path(stored.key, 1600, "webp"))
    srcset = store.srcset(stored.key, "webp", stored.width)
    assert srcset == (f"{store.variant_url(stored.key, 480, 'webp')} 480w, "
                      f"{store.variant_url(stored.key, 960, 'webp')} 700w")


def test_a_portrait_photo_keeps_its_shape(store):
    stored = save(store, encode(Image.new("RGB", (1200, 1800), "teal"), "PNG"))
    assert (stored.width, stored.height) == (1067, 1600)
    assert size_of(store.variant_path(stored.key, 480, "webp")) == (480, 720)
    assert size_of(store.variant_path(stored.key, 960, "jpg")) == (960, 1440)
    assert size_of(store.variant_path(stored.key, 1600, "jpg")) == (1067, 1600)
    assert size_of(store.path(stored.key, "t")) == (240, 360)  # the thumbnail box, made from the 480 px width


def test_avatars_keep_two_files(store, tmp_path):
    stored = asyncio.run(store.save(make_demo_photo(3, 800, 800), square=True))
    assert files_under(tmp_path) == sorted([store.path(stored.key, "l"), store.path(stored.key, "t")])


def test_make_variants_converts_an_old_photo_once(store, tmp_path):
    stored = save(store, make_demo_photo(4, 2000, 1500))
    drop_variants(store, stored.key)
    large = store.path(stored.key, "l").read_bytes()
    assert asyncio.run(store.make_variants(stored.key)) is True
    assert all(p.is_file() for p in variant_paths(store, stored.key))
    assert size_of(store.variant_path(stored.key, 960, "webp")) == (960, 720)
    assert store.path(stored.key, "l").read_bytes() == large  # the legacy files are untouched
    assert len(files_under(tmp_path)) == 8  # no temp file left
    before = {p: p.stat().st_mtime_ns for p in variant_paths(store, stored.key)}
    assert asyncio.run(store.make_variants(stored.key)) is False
    assert {p: p.stat().st_mtime_ns for p in variant_paths(store, stored.key)} == before
    # Half done (interrupted): done again in full.
    store.variant_path(stored.key, 480, "jpg").unlink()
    assert asyncio.run(store.make_variants(stored.key)) is True
    assert store.variant_path(stored.key, 480, "jpg").is_file()


def test_make_variants_of_a_missing_photo_raises(store):
    with pytest.raises(FileNotFoundError):
        asyncio.run(store.make_variants("0" * 32))


# -- the conversion command and the media fallback -----------------------------------------


async def photo_on(app, house: dict, seed: int) -> str:
    """A live (public) photo on *house*, as after an approved revision; returns its key."""
    stored = await app.images.save(make_demo_photo(seed, 1200, 800))
    async with app.db.transaction() as tx:
        await tx.scalar("SELECT id FROM houses WHERE id = %s FOR UPDATE", house["id"])
        await houses.add_image(tx, house["id"], stored.key, stored.width, stored.height, "live")
    return stored.key


@pytest.mark.gen_test
async def test_conversion_command_is_idempotent_and_pages_work_before_and_after(app, new_client, login):
    party = await make_party(app, login, new_client)
    old = await photo_on(app, party.house, 11)
    done = await photo_on(app, party.house, 12)
    gone = await photo_on(app, party.house, 13)
    drop_variants(app.images, old)
    for path in app.images.all_paths(gone):
        path.unlink()

    # Before the conversion a width's URL answers with the legacy file, briefly cacheable.
    visitor = party.anon
    url = app.images.variant_url(old, 480, "webp")
    before = await visitor.get(url)
    assert before.code == 200 and before.headers["Content-Type"] == "image/jpeg"
    assert before.body == app.images.path(old, "t").read_bytes()
    assert before.headers["Cache-Control"] == FALLBACK_CACHE_CONTROL
    large = await visitor.get(app.images.variant_url(old, 1600, "jpg"))
    assert large.body == app.images.path(old, "l").read_bytes()
    assert (await visitor.get(app.images.variant_url(gone, 960, "webp"))).code == 404

    counts = await convert_photos(app.db, app.images, batch=2)
    assert counts == {"converted": 1, "done": 1, "missing": 1, "broken": 0}
    assert done and all(p.is_file() for p in variant_paths(app.images, old))
    after = await visitor.get(url)
    assert after.code == 200 and after.headers["Content-Type"] == "image/webp"
    assert after.body == app.images.variant_path(old, 480, "webp").read_bytes()
    assert after.headers["Cache-Control"] == PUBLIC_CACHE_CONTROL

    again = await convert_photos(app.db, app.images)
    assert again == {"converted": 0, "done": 2, "missing": 1, "broken": 0}


# -- markup on every page kind -------------------------------------------------------------


class Images(HTMLParser):
    """Collects every <img> (attributes) and whether it sits in a <picture> with a WebP <source>."""

    def __init__(self):
        super().__init__()
        self.imgs: list[dict] = []
        self._picture: list[dict] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "picture":
            self._picture = []
        elif tag == "source" and self._picture is not None:
            self._picture.append(attrs)
        elif tag == "img":
            attrs["_sources"] = list(self._picture or [])
            self.imgs.append(attrs)

    def handle_endtag(self, tag):
        if tag == "picture":
            self._picture = None


def photo_imgs(body: str, key: str) -> list[dict]:
    parser = Images()
    parser.feed(body)
    return [img for img in parser.imgs
            if key in (img.get("src") or "") or key in (img.get("srcset") or "")]


def assert_responsive(img: dict, where: str) -> None:
    for attr in ("srcset", "sizes", "width", "height"):
        assert img.get(attr), (where, attr, img)
    assert img["decoding"] == "async", where
    assert int(img["width"]) > 0 and int(img["height"]) > 0, where
    widths = re.findall(r" (\d+)w", img["srcset"])
    assert widths and all(".jpg " in part for part in img["srcset"].split(", ")), where
    (source,) = img["_sources"]
    assert source["type"] == "image/webp" and ".webp 480w" in source["srcset"] and source["sizes"] == img["sizes"]
    assert img.get("loading") == "lazy" or img.get("fetchpriority") == "high", where


@pytest.mark.gen_test(timeout=60)
async def test_every_listing_photo_img_is_responsive(app, new_client, login):
    party = await make_party(app, login, new_client, title="响应式照片房源")
    house = party.house
    first = await photo_on(app, house, 21)
    second = await photo_on(app, house, 22)
    order_id = await party.order(3, 5)
    conversation = await app.db.scalar("SELECT id FROM conversations ORDER BY id DESC LIMIT 1")
    admin, _ = await admin_client(app, new_client, login)

    pages = [
        (party.anon, "/", first),
        (party.anon, "/houses", first),
        (party.anon, f"/houses/{house['id']}", first),
        (party.lc, "/my/houses", first),
        (party.lc, f"/houses/{house['id']}/edit", second),
        (party.gc, "/my/orders", first),
        (party.gc, f"/orders/{order_id}", first),
        (party.gc, "/messages", first),
        (admin, "/admin/houses?status=online", first),
        (admin, f"/admin/houses/{house['id']}", second),
    ]
    if conversation:
        pages.append((party.gc, f"/messages/{conversation}", first))
    for client, path, key in pages:
        response = await client.get(path)
        assert response.code == 200, path
        imgs = photo_imgs(text(response), key)
        assert imgs, f"{path}: no picture of the listing"
        for img in imgs:
            assert_responsive(img, path)

    # The listing page: the first slide loads at once, the others lazily; alt names the photo.
    body = text(await party.anon.get(f"/houses/{house['id']}"))
    slides = photo_imgs(body, first) + photo_imgs(body, second)
    assert slides[0].get("fetchpriority") == "high" and "loading" not in slides[0]
    assert slides[1]["loading"] == "lazy"
    assert slides[0]["width"] == "1200" and slides[0]["height"] == "800"  # the stored size
    assert "响应式照片房源" in slides[0]["alt"]
    # Cards: the photo is decoration next to the title link (alt="", the link hidden from readers).
    search = text(await party.anon.get("/houses"))
    card = photo_imgs(search, first)[0]
    assert card["alt"] == "" and card.get("fetchpriority") == "high"  # the first row
    assert 'aria-hidden="true" tabindex="-1"' in search
    assert '<h2 class="card-title' in search  # search passes its heading level (under its h1)
