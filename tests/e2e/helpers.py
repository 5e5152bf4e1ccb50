"""Helpers for the browser tests: go through real forms, or arrange rows directly.

The form helpers (:func:`register`, :func:`login`) drive the real pages in a
Playwright page. The data helpers (:func:`make_verified_user`, :func:`make_house`,
:func:`approve_house`) write to the live server's database through the ``db``
fixture (a pymysql connection, autocommit, DictCursor) and keep the server's
Redis cache honest: a row changed behind the server's back would otherwise stay
invisible on the cached home and search pages.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import bcrypt
import redis
from playwright.sync_api import Page, expect

VALID_ID_CARD = "11010519491231002X"
PASSWORD = "E2e#pass2024"

# Set by the live_server fixture, so data helpers can drop the server's cached pages.
_redis_url: str | None = None

_mobiles = itertools.count(int(f"137{os.getpid() % 10000:04d}0000"))


def configure(redis_url: str | None) -> None:
    """Remember the live server's Redis URL (called by the ``live_server`` fixture)."""
    global _redis_url
    _redis_url = redis_url


def next_mobile() -> str:
    """A mobile number not used before in this pytest process (11 digits, 137…)."""
    return str(next(_mobiles))


def path_of(page: Page) -> str:
    """The path of the page's current URL ("/houses/3/edit")."""
    return urlsplit(page.url).path


def field_errors(page: Page) -> list[str]:
    """The visible per-field and form error messages of the current page."""
    return [t.strip() for t in page.locator(".invalid-feedback, .alert-danger").all_inner_texts() if t.strip()]


# -- going through the real forms ---------------------------------------------

def register(page: Page, live_server, redis_sync: redis.Redis, mobile: str, password: str,
             name: str | None = None) -> None:
    """Sign up through /register (mobile, display name — *name* or one made from the mobile —,
    password twice, image captcha); the page ends logged in.

    The captcha answer is read from Redis (``captcha:<captcha_id>``) once the
    captcha image has loaded, because drawing the image is what stores the answer.
    Raises AssertionError with the form's messages when the sign-up is refused.
    """
    page.goto(f"{live_server.url}/register")
    page.wait_for_function(
        "() => { const img = document.getElementById('captcha-img');"
        " return img && img.complete && img.naturalWidth > 0; }")
    captcha_id = page.locator("#register-form input[name=captcha_id]").input_value()
    answer = redis_sync.get(f"captcha:{captcha_id}")
    assert answer, f"no captcha answer in Redis for {captcha_id!r}"
    page.fill("#mobile", mobile)
    page.fill("#name", name or f"住客{mobile[-6:]}")
    page.fill("#password", password)
    page.fill("#password2", password)
    page.fill("#captcha", answer)
    with page.expect_navigation():
        page.locator("#register-form [type=submit]").click()
    assert path_of(page) != "/register", f"sign-up refused: {field_errors(page)}"
    expect(page.locator("#user-menu")).to_have_count(1)


def login(page: Page, live_server, mobile: str, password: str, next_path: str | None = None) -> None:
    """Log in through /login; the page ends logged in (on *next_path* when given).

    Raises AssertionError with the form's messages when the login is refused.
    """
    url = f"{live_server.url}/login"
    if next_path:
        url += f"?next={next_path}"
    page.goto(url)
    page.fill("#mobile", mobile)
    page.fill("#password", password)
    with page.expect_navigation():
        page.locator("#login-form [type=submit]").click()
    assert path_of(page) != "/login", f"login refused: {field_errors(page)}"
    expect(page.locator("#user-menu")).to_have_count(1)


# -- arranging data directly ----------------------------------------------------

@functools.lru_cache(maxsize=8)
def password_hash(password: str) -> str:
    """A real bcrypt hash of *password* at the cost the browser tests' server uses (4), computed once."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def make_verified_user(db, mobile: str | None = None, password: str = PASSWORD, *,
                       is_admin: bool = False, name: str | None = None) -> dict:
    """Insert a real-name verified user (so they may publish); returns the users row.

    *mobile* defaults to a fresh number; the name defaults to the mobile. Names are unique
    (uq_users_name) and the browser tests share one database: give each test its own names.
    """
    mobile = mobile or next_mobile()
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO users (mobile, name, password_hash, real_name, id_card, is_admin) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (mobile, name or mobile, password_hash(password), "测试房东", VALID_ID_CARD, int(is_admin)))
        cur.execute("SELECT * FROM users WHERE id = %s", (cur.lastrowid,))
        return cur.fetchone()


HOUSE_DEFAULTS = dict(title="测试房源", description="安静整洁，近地铁", price_fen=28800, area_id=110105,
                      address="朝阳区测试路 1 号", room_count=2, acreage=60, unit="两室一厅", capacity=3,
                      beds="双人床 1.8m", deposit_fen=50000, min_days=1, max_days=0)


def make_house(db, owner_id: int, *, status: str = "online", facilities=(1, 3), **overrides) -> int:
    """Insert a listing of *owner_id* (HOUSE_DEFAULTS, money in fen) with *facilities*; returns its id.

    Drops the server's cached home and search pages so the listing shows at once.
    """
    values = {**HOUSE_DEFAULTS, **overrides}
    cols = list(values)
    with db.cursor() as cur:
        cur.execute(
            f"INSERT INTO houses (owner_id, status, {', '.join(cols)}) "
            f"VALUES (%s, %s, {', '.join(['%s'] * len(cols))})",
            (owner_id, status, *[values[c] for c in cols]))
        house_id = cur.lastrowid
        if facilities:
            cur.executemany("INSERT INTO house_facilities (house_id, facility_id) VALUES (%s, %s)",
                            [(house_id, f) for f in facilities])
    invalidate_house_cache(house_id)
    return house_id


def approve_house(db, house_id: int) -> None:
    """Put listing *house_id* online, as an admin's approval would, and drop the cached pages.

    Tests use it where moderation (new listings start 'pending') is not what they test.
    """
    with db.cursor() as cur:
        cur.execute("UPDATE houses SET status = 'online' WHERE id = %s", (house_id,))
        assert cur.rowcount in (0, 1)
        cur.execute("SELECT status FROM houses WHERE id = %s", (house_id,))
        row = cur.fetchone()
    assert row and row["status"] == "online", f"house {house_id} not found"
    invalidate_house_cache(house_id)


def invalidate_house_cache(house_id: int | None = None) -> None:
    """What services.cache.Cache.invalidate_house does, synchronously: listing page, home, searches."""
    if _redis_url is None:
        return
    client = redis.Redis.from_url(_redis_url, decode_responses=True)
    try:
        with client.pipeline(transaction=True) as pipe:
            if house_id is not None:
                pipe.delete(f"cache:house:{int(house_id)}")
            pipe.delete("cache:home")
            pipe.incr("cache:gen:search")
            pipe.execute()
    finally:
        client.close()


# -- files and pictures ---------------------------------------------------------

def make_jpeg(path: Path, width: int = 1024, height: int = 768, seed: int | None = None) -> Path:
    """Write a real photo-like JPEG (sky, ground, a house) of *width* x *height* to *path*."""
    from PIL import Image, ImageDraw

    seed = secrets.randbelow(1000) if seed is None else seed
    img = Image.new("RGB", (width, height), (120 + seed % 60, 170, 230))
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, height * 2 // 3, width, height], fill=(90, 150, 70))
    left, right = width // 4, width * 3 // 4
    top, base = height // 3, height * 5 // 6
    draw.rectangle([left, top, right, base], fill=(230, 210, 170))
    draw.polygon([(left - 40, top), (width // 2, height // 8), (right + 40, top)], fill=(170, 60, 50))
    draw.rectangle([width // 2 - 40, base - 140, width // 2 + 40, base], fill=(110, 70, 40))
    img.save(path, "JPEG", quality=90)
    return path


def snapshot(page: Page, name: str) -> Path | None:
    """Save a full-page screenshot as <name>.png into $IHOME_E2E_SCREENSHOTS when that is set."""
    folder = os.environ.get("IHOME_E2E_SCREENSHOTS")
    if not folder:
        return None
    path = Path(folder) / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path
