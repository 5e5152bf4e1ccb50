"""Throw-away databases: the one routine the tests, the browser tests and the benchmarks share.

A throw-away MariaDB database is created on the server that ``test_settings()``
points at (the local one ``scripts/services.sh`` starts), migrated with the
project's own migrations, seeded with the real areas and the facility catalogue,
and dropped at the end. Its name always starts with ``ihome_test`` (the only
databases the local ``ihome`` user may create). A Redis database number is
chosen per process so that parallel runs never flush each other's data.

    with throwaway_database("ihome_test_bench_42") as settings:
        ...   # settings.mysql_url points at the new database

Seeding runs on a private event loop in a thread of its own, so this works from
plain code, from inside pytest-tornado (whose loop it must not disturb) and
after Playwright's sync API has claimed the calling thread's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
from typing import Iterator

import pymysql
import redis

from config import Settings, test_settings
from models.db import create_database
from models.schema import apply_migrations
from models.seed import seed_areas, seed_facilities

# The first Redis database the test suite uses (IHOME_TEST_REDIS_DB); the local Redis has 32.
DEFAULT_REDIS_DB = 1
_NAME_RE = re.compile(r"^ihome_test[A-Za-z0-9_]{0,54}$")


def worker_index() -> int:
    """0 for a plain pytest process, N for pytest-xdist's worker ``gwN``."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def redis_db_number(default: int = DEFAULT_REDIS_DB) -> int:
    """This process's Redis database: IHOME_TEST_REDIS_DB (else *default*) plus the xdist worker index."""
    return int(os.environ.get("IHOME_TEST_REDIS_DB", str(default))) + worker_index()


def redis_url_for(settings: Settings, db_number: int) -> str:
    """*settings*' Redis URL with its database number replaced by *db_number*."""
    return f"{settings.redis_url.rsplit('/', 1)[0]}/{db_number}"


def flush_redis(url: str) -> None:
    """Empty the one Redis database at *url* (never the whole server)."""
    with redis.Redis.from_url(url) as client:
        client.flushdb()


def _server_connection(settings: Settings) -> pymysql.Connection:
    p = settings.mysql
    return pymysql.connect(host=p.host, port=p.port, user=p.user, password=p.password, autocommit=True,
                           connect_timeout=10)


def _run_private_loop(coro_factory) -> None:
    # A thread of its own: the caller's thread may own a running or current loop
    # (pytest-tornado's io_loop, Playwright's sync API) that must stay untouched.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(coro_factory())).result()


def create(name: str, *, base: Settings | None = None, seed: bool = True) -> Settings:
    """Create (replacing any leftover of the same name), migrate and seed database *name*.

    Returns *base* (default ``test_settings()``) pointed at it. Raises ValueError
    for a name outside ``ihome_test…`` and pymysql / yoyo errors when the server
    refuses.
    """
    if not _NAME_RE.match(name):
        raise ValueError(f"throw-away database names start with ihome_test, got {name!r}")
    base = base or test_settings()
    conn = _server_connection(base)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        conn.close()
    settings = base.replace(mysql_url=base.mysql.url(name))
    apply_migrations(settings.mysql_url)
    if seed:
        async def run_seed():
            db = await create_database(settings)
            try:
                await seed_areas(db, progress=False)
                await seed_facilities(db)
            finally:
                await db.close()
        _run_private_loop(run_seed)
    return settings


def drop(name: str, *, base: Settings | None = None) -> None:
    """Drop database *name* when it exists (a throw-away name only)."""
    if not _NAME_RE.match(name):
        raise ValueError(f"throw-away database names start with ihome_test, got {name!r}")
    conn = _server_connection(base or test_settings())
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


@contextlib.contextmanager
def throwaway_database(name: str, *, base: Settings | None = None, redis_db: int | None = None,
                       seed: bool = True) -> Iterator[Settings]:
    """:func:`create` database *name*, yield its settings, then :func:`drop` it.

    With *redis_db*, the yielded settings use that Redis database, emptied
    before and after.
    """
    settings = create(name, base=base, seed=seed)
    if redis_db is not None:
        settings = settings.replace(redis_url=redis_url_for(settings, redis_db))
        flush_redis(settings.redis_url)
    try:
        yield settings
    finally:
        try:
            if redis_db is not None:
                flush_redis(settings.redis_url)
        finally:
            drop(name, base=base)
