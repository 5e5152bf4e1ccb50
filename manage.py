#!/usr/bin/env python
"""Administrative commands of 爱家.

    python manage.py wait-db [--timeout 60]   wait until MariaDB accepts connections
    python manage.py migrate                  apply pending migrations (yoyo), then encrypt
                                              ID-card numbers not under the current data key
    python manage.py seed [--demo | --no-demo] [--scale N]
                                              areas + facilities; demo listings in development
    python manage.py createadmin --mobile M [--password P]
                                              create an admin account, or make an existing one admin
    python manage.py photos-responsive [--quiet]
                                              add the 480/960/1600 px WebP and JPEG widths to listing
                                              photos stored before they existed (idempotent)

Settings come from the environment (``IHOME_…``, see config.py). The Makefile runs
``wait-db``, ``migrate`` and ``seed`` before starting the server.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import pymysql

from config import ConfigError, Settings, load_settings


def cmd_wait_db(args: argparse.Namespace, settings: Settings) -> int:
    """Retry connecting to the database until it answers or ``--timeout`` seconds pass."""
    params = settings.mysql
    deadline = time.monotonic() + args.timeout
    attempts = 0
    while True:
        attempts += 1
        try:
            conn = pymysql.connect(host=params.host, port=params.port, user=params.user,
                                   password=params.password, database=params.db,
                                   connect_timeout=min(5, max(1, int(args.timeout))))
        except pymysql.err.MySQLError as exc:
            if time.monotonic() + args.interval > deadline:
                print(f"wait-db: {params.host}:{params.port}/{params.db} not reachable after "
                      f"{attempts} attempts in {args.timeout:g} s: {exc}", file=sys.stderr)
                return 1
            time.sleep(args.interval)
            continue
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
        finally:
            conn.close()
        print(f"wait-db: {params.host}:{params.port}/{params.db} is up")
        return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Apply every pending migration under migrations/."""
    from models.schema import apply_migrations

    started = time.perf_counter()
    applied = apply_migrations(settings.mysql_url)
    print(f"migrate: {applied} migration(s) applied to {settings.mysql.db} "
          f"in {time.perf_counter() - started:.2f} s")
    return asyncio.run(_encrypt_id_cards(settings, "migrate"))


async def _encrypt_id_cards(settings: Settings, command: str) -> int:
    """The data step after the schema: encrypt plain ID-card numbers, re-encrypt rotated ones.

    Idempotent (encrypted values carry a prefix and key id); exits 1 when a stored
    value does not decrypt with IHOME_DATA_KEY, changing nothing further.
    """
    from models import profile
    from models.db import create_database
    from services.crypto import DataKeyError, FieldCipher

    db = await create_database(settings)
    try:
        changed = await profile.encrypt_id_cards(db, FieldCipher(settings.data_key))
    except DataKeyError as exc:
        print(f"{command}: IHOME_DATA_KEY cannot decrypt a stored ID-card number: {exc}", file=sys.stderr)
        return 1
    finally:
        await db.close()
    if changed:
        print(f"{command}: encrypted {changed} ID-card number(s)")
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    """Seed areas and facilities always; demo listings in development or with --demo."""
    demo = settings.env == "development" if args.demo is None else args.demo
    if args.scale < 0:
        print("seed: --scale takes a number of listings >= 0", file=sys.stderr)
        return 2
    return asyncio.run(_seed(settings, demo=demo, progress=not args.quiet, scale=args.scale))


async def _seed(settings: Settings, *, demo: bool, progress: bool, scale: int = 0) -> int:
    from models import seed
    from models.db import create_database

    db = await create_database(settings)
    try:
        started = time.perf_counter()
        areas = await seed.seed_areas(db, progress=progress)
        print(f"seed: {areas} areas in {time.perf_counter() - started:.2f} s")

        started = time.perf_counter()
        facilities = await seed.seed_facilities(db)
        print(f"seed: {facilities} facilities in {time.perf_counter() - started:.2f} s")

        if demo:
            from services.images import ImageStore

            started = time.perf_counter()
            store = ImageStore(settings.media_dir, max_bytes=settings.upload_max_bytes,
                               max_pixels=settings.upload_max_pixels)
            listings = await seed.seed_demo(db, store, progress=progress)
            took = time.perf_counter() - started
            if listings:
                print(f"seed: {listings} demo listings (landlord {seed.DEMO_MOBILE} / "
                      f"{seed.DEMO_PASSWORD}) in {took:.2f} s")
            else:
                print("seed: demo listings already present")
        else:
            print(f"seed: demo listings skipped (IHOME_ENV={settings.env}; --demo adds them)")
        if scale:
            from models.seed_scale import seed_scale

            started = time.perf_counter()
            added = await seed_scale(db, scale, progress=progress)
            print(f"seed: {added} synthetic listings added (target {scale}) "
                  f"in {time.perf_counter() - started:.2f} s")
        await _drop_cached_pages(settings)
    finally:
        await db.close()
    # The demo landlord is inserted with a plain ID card: encrypt it like any old row.
    return await _encrypt_id_cards(settings, "seed")


async def _drop_cached_pages(settings: Settings) -> None:
    """Seeding changes areas, facilities and listings behind the app's back: drop their cache."""
    import redis.asyncio as aioredis

    from services.cache import Cache

    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        cache = Cache(client, settings.cache_ttl)
        await cache.invalidate_reference()
        await cache.invalidate_house(None)
    except (OSError, aioredis.RedisError) as exc:  # Redis down: the cache expires on its own TTL
        print(f"seed: could not reach Redis to drop cached pages ({exc})", file=sys.stderr)
    finally:
        await client.aclose()


def read_new_password(prompt: str = "Password: ") -> str | None:
    """The new password, asked twice on a terminal, or one line of standard input otherwise.

    None when the two entries differ or the input is empty.
    """
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass(prompt)
        if first != getpass.getpass("Password (again): "):
            print("createadmin: the passwords do not match", file=sys.stderr)
            return None
        return first or None
    line = sys.stdin.readline().rstrip("\r\n")
    return line or None


def cmd_createadmin(args: argparse.Namespace, settings: Settings) -> int:
    """Create an admin account for ``--mobile``, or give an existing account admin rights.

    ``--password`` sets the password (for an existing account too, which then loses
    all its sessions); without it a new account's password is prompted for (or read
    from standard input when that is not a terminal), and an existing account keeps
    its password. Exit status 0 on success, 1 on a bad mobile or password.
    """
    from handlers.auth import mobile_problem

    if problem := mobile_problem(args.mobile):
        print(f"createadmin: {problem}", file=sys.stderr)
        return 1
    return asyncio.run(_createadmin(settings, args.mobile, args.password))


async def _createadmin(settings: Settings, mobile: str, password: str | None) -> int:
    import redis.asyncio as aioredis

    from models import admin as admin_model
    from models.db import create_database
    from services.passwords import hash_password, password_problem
    from services.sessions import SessionStore

    db = await create_database(settings)
    try:
        exists = await db.scalar("SELECT id FROM users WHERE mobile = %s", mobile)
        if password is None and exists is None:
            password = read_new_password()
            if password is None:
                print("createadmin: a new account needs a password", file=sys.stderr)
                return 1
        password_hash = None
        if password is not None:
            if problem := password_problem(password):
                print(f"createadmin: {problem}", file=sys.stderr)
                return 1
            password_hash = await hash_password(password, settings.bcrypt_rounds)
        user_id, created = await admin_model.make_admin(db, mobile, password_hash)
        active = await db.scalar("SELECT is_active FROM users WHERE id = %s", user_id)
    finally:
        await db.close()
    if password_hash is not None and not created:
        # A new password ends every old session, as a password change on the site does.
        client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
        try:
            await SessionStore(client, idle_ttl=settings.session_idle_ttl,
                               absolute_ttl=settings.session_absolute_ttl,
                               admin_idle_ttl=settings.admin_session_idle_ttl).revoke_user(user_id)
        except (OSError, aioredis.RedisError) as exc:
            print(f"createadmin: could not revoke the old sessions ({exc})", file=sys.stderr)
        finally:
            await client.aclose()
    what = "created admin account" if created else "granted admin rights to account"
    print(f"createadmin: {what} {mobile} (id {user_id}); log in at /admin/login")
    if not active:
        print("createadmin: note: this account is disabled; enable it in /admin/users first", file=sys.stderr)
    return 0


def cmd_photos_responsive(args: argparse.Namespace, settings: Settings) -> int:
    """Give every listing photo its responsive widths; safe to interrupt and run again."""
    try:
        return asyncio.run(_photos_responsive(settings, progress=not args.quiet))
    except KeyboardInterrupt:
        # Every file is written under a temp name and renamed: nothing half-done stays visible.
        print("photos-responsive: interrupted; run it again to continue", file=sys.stderr)
        return 130


async def _photos_responsive(settings: Settings, *, progress: bool) -> int:
    from models.db import create_database
    from services.images import ImageStore

    db = await create_database(settings)
    try:
        store = ImageStore(settings.media_dir, max_bytes=settings.upload_max_bytes,
                           max_pixels=settings.upload_max_pixels, max_decodes=1)
        started = time.perf_counter()
        counts = await convert_photos(db, store, progress=progress)
    finally:
        await db.close()
    print(f"photos-responsive: {counts['converted']} converted, {counts['done']} already done, "
          f"{counts['missing']} without a file, {counts['broken']} unreadable "
          f"in {time.perf_counter() - started:.2f} s")
    return 1 if counts["broken"] else 0


async def convert_photos(db, store, *, progress: bool = False, batch: int = 500) -> dict[str, int]:
    """Adds the responsive widths (services/images.py ImageStore.make_variants) to every listing
    photo that lacks them, one photo at a time, reading the rows *batch* at a time (memory stays
    bounded whatever the number of photos).

    Returns counts {converted, done (had every width), missing (no large file on disk),
    broken (the large file does not decode)}. Running it again converts nothing twice.
    """
    from tqdm import tqdm

    from models import houses
    from services.images import ImageError

    counts = {"converted": 0, "done": 0, "missing": 0, "broken": 0}
    total = int(await db.scalar("SELECT COUNT(*) FROM house_images"))
    after = 0
    with tqdm(total=total, desc="photos", unit="photo", disable=None if progress else True) as bar:
        while rows := await houses.photo_keys_after(db, after, batch):
            for row in rows:
                try:
                    counts["converted" if await store.make_variants(row["storage_key"]) else "done"] += 1
                except FileNotFoundError:
                    counts["missing"] += 1
                except (ImageError, ValueError):
                    counts["broken"] += 1
                    print(f"photos-responsive: photo {row['id']} ({row['storage_key']}) does not decode",
                          file=sys.stderr)
                bar.update(1)
            after = rows[-1]["id"]
    return counts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="manage.py", description="爱家 administrative commands")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("wait-db", help="wait until MariaDB accepts connections")
    p.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds (default 60)")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between attempts (default 0.5)")
    p.set_defaults(func=cmd_wait_db)

    p = sub.add_parser("migrate", help="apply pending database migrations")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("seed", help="seed areas, facilities and (in development) demo listings")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--demo", dest="demo", action="store_true", default=None,
                       help="add the demo landlord and listings whatever IHOME_ENV says")
    group.add_argument("--no-demo", dest="demo", action="store_false",
                       help="skip the demo listings even in development")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--scale", type=int, default=0, metavar="N",
                   help="also bulk-load synthetic listings (with landlords, guests, orders and booked "
                        "nights) until there are N of them; re-running adds only the difference")
    p.set_defaults(func=cmd_seed)

    p = sub.add_parser("createadmin", help="create an admin account or make an existing one admin")
    p.add_argument("--mobile", required=True, help="the account's 11-digit mobile number")
    p.add_argument("--password", default=None,
                   help="set this password (prompted for a new account when left out)")
    p.set_defaults(func=cmd_createadmin)

    p = sub.add_parser("photos-responsive",
                       help="add the responsive widths (480/960/1600 px, WebP and JPEG) to older listing photos")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_photos_responsive)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return args.func(args, settings)


if __name__ == "__main__":
    sys.exit(main())
