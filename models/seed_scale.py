"""A large synthetic data set for benchmarks and query-plan tests: ``manage.py seed --scale N``.

:func:`seed_scale` tops the database up to *N* synthetic listings, owned by
synthetic landlords and booked by synthetic guests:

* listings spread over the real districts of ``areas`` with a skew like a real
  site's: about 60 % in the featured cities (a handful of districts get thousands),
  the rest on a long tail over the whole country; ~95 % online, the rest pending or
  offline; created_at over the last year; 3–8 facilities each; a skewed
  ``order_count`` (the counter of completed stays; the synthetic set has no reviews);
* on average two booked nights per listing in the next 90 days, as pending or
  accepted orders with their ``booked_nights`` rows;
* one landlord per 20 listings (mobile ``170…``), one guest per 10 (mobile ``171…``),
  all with the same unusable password hash (nobody logs in as them).

Idempotent enough to re-run: it counts the listings synthetic landlords already own
and adds only the difference, so ``--scale 100000`` twice leaves 100,000, and
``--scale 200000`` afterwards adds 100,000 more. Rows are written with multi-row
INSERTs, :data:`BATCH` listings (with their facilities, orders and nights) per
transaction, ids assigned explicitly after locking the current maximum, so a failed
batch leaves nothing half written and a re-run continues from the last whole batch.
"""

from __future__ import annotations

import datetime
import itertools
import random
import secrets
from typing import Sequence

import bcrypt
from tqdm import tqdm

from models.areas import FEATURED_CITIES
from models.db import Database, Transaction

BATCH = 2000
OWNER_PREFIX = "170"  # mobile numbers of synthetic landlords: 170 + 8 digits
GUEST_PREFIX = "171"  # … and of synthetic guests
LISTINGS_PER_OWNER = 20
LISTINGS_PER_GUEST = 10
FEATURED_SHARE = 0.6
BOOKING_HORIZON_DAYS = 90

_UNITS = ("一室", "一室一厅", "两室一厅", "三室一厅", "三室两厅", "四室两厅")
_STYLES = ("北欧风", "日式原木", "简约现代", "复古", "轻奢", "田园", "工业风", "中式", "地中海", "森系")
_KINDS = ("精品公寓", "温馨小屋", "大床房", "家庭套房", "景观房", "民宿", "复式", "loft")
_STREETS = ("人民路", "中山路", "解放路", "建设路", "和平路", "新华路", "文化路", "胜利路", "青年路", "长江路")


def _zipf_weights(count: int, exponent: float = 1.1) -> list[float]:
    return [1.0 / (rank ** exponent) for rank in range(1, count + 1)]


def _area_picker(areas: Sequence[dict], rng: random.Random):
    """A function () -> area row, skewed: FEATURED_SHARE on the featured cities' districts
    (Zipf within them), the rest Zipf over all the other districts in shuffled order."""
    featured = [a for a in areas if a["city"] in FEATURED_CITIES]
    others = [a for a in areas if a["city"] not in FEATURED_CITIES]
    rng.shuffle(featured)
    rng.shuffle(others)
    featured_cum = list(itertools.accumulate(_zipf_weights(len(featured))))
    others_cum = list(itertools.accumulate(_zipf_weights(len(others), 0.9)))

    def pick() -> dict:
        if featured and (not others or rng.random() < FEATURED_SHARE):
            return rng.choices(featured, cum_weights=featured_cum)[0]
        return rng.choices(others, cum_weights=others_cum)[0]
    return pick


async def _ensure_users(db: Database, prefix: str, count: int, label: str, password_hash: str) -> list[int]:
    """Ids of *count* synthetic users with mobile *prefix* + 8 digits, creating the missing ones."""
    rows = [(f"{prefix}{i:08d}", f"{label}{prefix}{i:08d}", password_hash) for i in range(count)]
    for start in range(0, len(rows), 5000):
        async with db.transaction() as tx:
            await tx.executemany(
                "INSERT IGNORE INTO users (mobile, name, password_hash) VALUES (%s, %s, %s)",
                rows[start:start + 5000])
    found = await db.query("SELECT id FROM users WHERE mobile LIKE %s ORDER BY id", prefix + "%")
    return [r["id"] for r in found]


async def existing_listings(db: Database) -> int:
    """How many listings synthetic landlords own (any status)."""
    return int(await db.scalar(
        "SELECT COUNT(*) FROM houses h JOIN users u ON u.id = h.owner_id WHERE u.mobile LIKE %s",
        OWNER_PREFIX + "%"))


async def _next_id(tx: Transaction, table: str) -> int:
    # Locks the end of the primary key until the batch commits: the ids below are ours.
    return int(await tx.scalar(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table} FOR UPDATE"))


async def seed_scale(db: Database, target: int, *, progress: bool = True, seed: int = 20240601,
                     today: datetime.date | None = None) -> int:
    """Top the database up to *target* synthetic listings; returns how many were added.

    Needs the areas and facilities seeded first (raises RuntimeError otherwise).
    *seed* makes the data reproducible for a given starting state; *today* anchors
    the booked nights (default: the current date). Progress is a tqdm bar on a
    terminal when *progress* is true.
    """
    if target < 0:
        raise ValueError("target must be >= 0")
    have = await existing_listings(db)
    missing = target - have
    if missing <= 0:
        return 0
    areas = await db.query("SELECT id, name, city FROM areas")
    facility_ids = [r["id"] for r in await db.query("SELECT id FROM facilities ORDER BY id")]
    if not areas or not facility_ids:
        raise RuntimeError("seed areas and facilities before --scale")
    rng = random.Random(seed + have)
    today = today or datetime.date.today()
    # One unusable hash for every synthetic account (a random secret nobody keeps), made once.
    password_hash = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=4)).decode()
    owners = await _ensure_users(db, OWNER_PREFIX, max(1, -(-target // LISTINGS_PER_OWNER)), "房东", password_hash)
    guests = await _ensure_users(db, GUEST_PREFIX, max(1, -(-target // LISTINGS_PER_GUEST)), "租客", password_hash)
    pick_area = _area_picker(areas, rng)
    now = datetime.datetime.now().replace(microsecond=0)

    added = 0
    with tqdm(total=missing, desc="scale listings", unit="listing", disable=None if progress else True) as bar:
        while added < missing:
            size = min(BATCH, missing - added)
            async with db.transaction() as tx:
                await _write_batch(tx, size, rng, pick_area, facility_ids, owners, guests, today, now)
            added += size
            bar.update(size)
    return added


async def _write_batch(tx: Transaction, size: int, rng: random.Random, pick_area, facility_ids: list[int],
                       owners: list[int], guests: list[int], today: datetime.date,
                       now: datetime.datetime) -> None:
    """Insert *size* listings with their facilities, orders and booked nights (one transaction)."""
    first_house = await _next_id(tx, "houses")
    first_order = await _next_id(tx, "orders")
    houses, facilities, orders, nights = [], [], [], []
    order_id = first_order
    for house_id in range(first_house, first_house + size):
        area = pick_area()
        room_count = rng.randint(1, 4)
        price_fen = int(min(5000, max(80, rng.lognormvariate(5.9, 0.5)))) * 100
        status = rng.choices(("online", "pending", "offline"), weights=(95, 3, 2))[0]
        created = now - datetime.timedelta(minutes=rng.randint(0, 365 * 24 * 60))
        order_count = int(rng.paretovariate(1.5)) - 1
        houses.append((
            house_id, rng.choice(owners), area["id"],
            f"{area['name']} · {rng.choice(_STYLES)}{rng.choice(_KINDS)}"[:64], price_fen,
            f"{area['name']}{rng.choice(_STREETS)}{rng.randint(1, 999)}号",
            room_count, rng.randint(20, 60) * room_count, _UNITS[min(room_count + 1, len(_UNITS) - 1)],
            rng.randint(room_count, room_count * 2 + 1), f"1.8米双人床{room_count}张",
            rng.choice((0, 200, 500)) * 100, rng.choice((1, 1, 1, 2)), rng.choice((0, 0, 30)),
            min(order_count, 5000), status, created, created))
        for fid in sorted(rng.sample(facility_ids, rng.randint(3, min(8, len(facility_ids))))):
            facilities.append((house_id, fid))
        # 0–2 stays of 1–3 nights in the next BOOKING_HORIZON_DAYS: two booked nights on average.
        start = today + datetime.timedelta(days=rng.randint(1, BOOKING_HORIZON_DAYS // 2))
        for _ in range(rng.choice((0, 1, 2))):
            stay = rng.randint(1, 3)
            check_out = start + datetime.timedelta(days=stay)
            orders.append((order_id, rng.choice(guests), house_id, start, check_out, stay, price_fen,
                           stay * price_fen, rng.choice(("pending", "accepted")), now, now))
            nights.extend((house_id, start + datetime.timedelta(days=d), order_id) for d in range(stay))
            order_id += 1
            start = check_out + datetime.timedelta(days=rng.randint(0, 20))
    await tx.executemany(
        "INSERT INTO houses (id, owner_id, area_id, title, price_fen, address, room_count, acreage, unit, "
        "capacity, beds, deposit_fen, min_days, max_days, order_count, status, created_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", houses)
    await tx.executemany("INSERT INTO house_facilities (house_id, facility_id) VALUES (%s, %s)", facilities)
    if orders:
        await tx.executemany(
            "INSERT INTO orders (id, guest_id, house_id, check_in, check_out, nights, price_fen, amount_fen, "
            "status, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", orders)
        await tx.executemany("INSERT INTO booked_nights (house_id, night, order_id) VALUES (%s, %s, %s)", nights)
