"""Throw-away databases: the one routine the tests, the browser tests and the benchmarks share.

A throw-away MariaDB database is created on the server that ``test_settings()``
points at (the local one ``scripts/services.sh`` starts), migrated with the
project's own migrations, seeded with the real areas and the facility catalogue,
and dropped at the end. Its name always starts with ``ihome_test`` (the only
databases the local ``ihome`` user may create). A Redis database number is
chosen per process so that parallel runs never flush each other's data.

    with throwaway_database("ihome_test_bench_42") as settings:
        ...   # settings.mysql_url points at the new database

Running 35 migrations costs 2–6 s a database (a connection and DDL each), and a
test run makes seven or more of these databases, so the migrations run once into a
template database ``ihome_test_tpl_<fingerprint of migrations/>`` that stays on the
server; every throw-away database is then a copy of it (its ``SHOW CREATE TABLE``
statements, plus the rows of yoyo's bookkeeping tables and, when seeded, of the
areas and facilities). A changed or added migration changes the fingerprint, so the
next run builds a new template. A template holding views, triggers or routines is
not copied: such databases are migrated one by one as before.

Seeding runs on a private event loop in a thread of its own, so this works from
plain code, from inside pytest-tornado (whose loop it must not disturb) and
after Playwright's sync API has claimed the calling thread's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import os
import re
import time
from typing import Iterator

import pymysql
import redis

from config import Settings, test_settings
from models.db import create_database
from models.schema import MIGRATIONS_DIR, apply_migrations
from models.seed import seed_areas, seed_facilities

# The first Redis database the test suite uses (IHOME_TEST_REDIS_DB); the local Redis has 32.
DEFAULT_REDIS_DB = 1
_NAME_RE = re.compile(r"^ihome_test[A-Za-z0-9_]{0,54}$")

TEMPLATE_PREFIX = "ihome_test_tpl_"
_READY_TABLE = "_template_ready"  # written last into a template: its migrations and seed completed
_TEMPLATE_WAIT_SECONDS = 300  # another process building the same template holds its lock this long at most
_STALE_TEMPLATE_SECONDS = 3600  # templates of other migration sets older than this are dropped
_AUTO_INCREMENT_RE = re.compile(r" AUTO_INCREMENT=\d+")


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
    template = _template(base)
    conn = _server_connection(base)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            if template is not None:
                _copy_database(cur, template, name, with_rows=seed)
                return base.replace(mysql_url=base.mysql.url(name))
    finally:
        conn.close()
    settings = base.replace(mysql_url=base.mysql.url(name))
    _migrate_and_seed(settings, seed=seed)
    return settings


def _migrate_and_seed(settings: Settings, *, seed: bool) -> None:
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


def migrations_fingerprint() -> str:
    """16 hex digits naming the exact set of files under migrations/ (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in MIGRATIONS_DIR.iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _template(base: Settings) -> str | None:
    """The name of the migrated and seeded template for this migration set, built when
    missing; None when it cannot be copied table by table (views, triggers, routines).

    Processes starting at once wait on a server lock named after the template, so it
    is built once; a template whose build was cut off (no ready table) is rebuilt.
    """
    name = TEMPLATE_PREFIX + migrations_fingerprint()
    conn = _server_connection(base)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, %s)", (name, _TEMPLATE_WAIT_SECONDS))
            if cur.fetchone()[0] != 1:
                raise TimeoutError(f"waited {_TEMPLATE_WAIT_SECONDS} s for another process to build {name}")
            try:
                cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s "
                            "AND table_name = %s", (name, _READY_TABLE))
                if not cur.fetchone()[0]:
                    cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                    cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                    _migrate_and_seed(base.replace(mysql_url=base.mysql.url(name)), seed=True)
                    cur.execute(f"CREATE TABLE `{name}`.`{_READY_TABLE}` (copyable TINYINT NOT NULL)")
                    cur.execute(f"INSERT INTO `{name}`.`{_READY_TABLE}` VALUES (%s)", (int(_copyable(cur, name)),))
                    _drop_stale_templates(cur, keep=name)
                cur.execute(f"SELECT copyable FROM `{name}`.`{_READY_TABLE}`")
                return name if cur.fetchone()[0] else None
            finally:
                cur.execute("SELECT RELEASE_LOCK(%s)", (name,))
    finally:
        conn.close()


def _copyable(cur, schema: str) -> bool:
    """True when *schema* holds nothing but tables (what :func:`_copy_database` copies)."""
    cur.execute(
        "SELECT (SELECT COUNT(*) FROM information_schema.views WHERE table_schema = %s)"
        " + (SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = %s)"
        " + (SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = %s)"
        " + (SELECT COUNT(*) FROM information_schema.events WHERE event_schema = %s)",
        (schema, schema, schema, schema))
    return cur.fetchone()[0] == 0


def _drop_stale_templates(cur, *, keep: str) -> None:
    # Another migration set's template is dropped only when old: a run still copying
    # from it (someone editing a migration meanwhile) must not lose it under its feet.
    cur.execute("SELECT table_schema, MAX(create_time) FROM information_schema.tables "
                "WHERE table_schema LIKE %s AND table_schema <> %s GROUP BY table_schema",
                (TEMPLATE_PREFIX.replace("_", "\\_") + "%", keep))
    now = time.time()
    for schema, created in cur.fetchall():
        if created is None or now - created.timestamp() > _STALE_TEMPLATE_SECONDS:
            cur.execute(f"DROP DATABASE IF EXISTS `{schema}`")


def _copy_database(cur, template: str, name: str, *, with_rows: bool) -> None:
    """Create every table of *template* in the empty database *name*, then copy the rows
    of yoyo's tables (and, *with_rows*, of every table): a fresh migrate (and seed)."""
    cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                "AND table_type = 'BASE TABLE' AND table_name <> %s ORDER BY table_name",
                (template, _READY_TABLE))
    tables = [row[0] for row in cur.fetchall()]
    cur.execute(f"USE `{name}`")
    cur.execute("SET SESSION foreign_key_checks = 0")  # tables come in name order, not dependency order
    try:
        for table in tables:
            cur.execute(f"SHOW CREATE TABLE `{template}`.`{table}`")
            # Counters start afresh, as after the migrations; copied rows move them on.
            cur.execute(_AUTO_INCREMENT_RE.sub("", cur.fetchone()[1], count=1))
        for table in tables:
            if not (with_rows or table.startswith(("_yoyo", "yoyo"))):
                continue
            cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                        "AND table_name = %s AND is_generated = 'NEVER' ORDER BY ordinal_position",
                        (template, table))
            columns = ", ".join(f"`{row[0]}`" for row in cur.fetchall())
            cur.execute(f"INSERT INTO `{table}` ({columns}) SELECT {columns} FROM `{template}`.`{table}`")
    finally:
        cur.execute("SET SESSION foreign_key_checks = 1")


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
