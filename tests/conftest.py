"""Fixtures: a throw-away MariaDB database and a Redis db for this pytest process.

`make test` starts the local MariaDB and Redis (scripts/services.sh). Each pytest
process creates its own database ``ihome_test_<pid>``, applies the migrations,
seeds the real areas and the facility catalogue, and drops it at the end. Every
test starts from empty user tables and an empty Redis db (IHOME_TEST_REDIS_DB,
default 1). The aiomysql pool and Redis client are built on the test's own loop
(STYLE.md) through the sync ``app`` fixture that pytest-tornado uses.
"""

from __future__ import annotations

import asyncio
import os

import pymysql
import pytest

import server
from config import test_settings
from models.db import create_database
from models.schema import apply_migrations
from models.seed import seed_areas, seed_facilities
from tests.utils.client import Client

REDIS_DB = int(os.environ.get("IHOME_TEST_REDIS_DB", "1"))

# Children first, so foreign keys never stop a delete.
MUTABLE_TABLES = ("admin_actions", "login_events", "reviews", "booked_nights", "orders",
                  "house_images", "house_facilities", "houses", "users")


def pytest_configure(config):
    # No implicit event loops: pytest-tornado gives every test its own loop, and a
    # loop asyncio made on its own would be left unclosed (ResourceWarning).
    asyncio.set_event_loop(None)


def _server_connection(settings):
    p = settings.mysql
    return pymysql.connect(host=p.host, port=p.port, user=p.user, password=p.password, autocommit=True)


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory):
    """Settings pointing at this process's fresh, migrated and seeded test database."""
    settings = test_settings()
    db_name = f"ihome_test_{os.getpid()}"
    conn = _server_connection(settings)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{db_name}`")
        cur.execute(f"CREATE DATABASE `{db_name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    redis_base = settings.redis_url.rsplit("/", 1)[0]
    settings = settings.replace(mysql_url=settings.mysql.url(db_name),
                                redis_url=f"{redis_base}/{REDIS_DB}",
                                media_dir=tmp_path_factory.mktemp("media"))
    apply_migrations(settings.mysql_url)

    async def seed():
        db = await create_database(settings)
        try:
            await seed_areas(db, progress=False)
            await seed_facilities(db)
        finally:
            await db.close()
    # A private loop, not asyncio.run(): that would unset the current loop that
    # pytest-tornado's io_loop fixture may already have installed for this test.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(seed())
    finally:
        loop.close()
    yield settings
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{db_name}`")
    conn.close()


@pytest.fixture
def settings(base_settings):
    """The settings a test's app is built with; override this fixture to change them."""
    return base_settings


async def _reset(app) -> None:
    for table in MUTABLE_TABLES:
        await app.db.execute(f"DELETE FROM {table}")
    await app.redis.flushdb()


@pytest.fixture
def app(io_loop, settings):
    """The real Application on this test's loop, with empty tables and an empty Redis db."""
    application = io_loop.run_sync(lambda: server.build_app(settings))
    io_loop.run_sync(lambda: _reset(application))
    yield application
    io_loop.run_sync(lambda: server.close_app(application))


@pytest.fixture
def client(http_client, base_url):
    """A cookie-keeping browser against the test server."""
    return Client(http_client, base_url)


@pytest.fixture
def new_client(http_client, base_url):
    """Factory for more browsers (a guest and a landlord at once)."""
    return lambda: Client(http_client, base_url)


@pytest.fixture
def login(app):
    """``await login(client, user)``: give *client* a fresh session of *user* without bcrypt."""
    async def do_login(client: Client, user: dict, *, is_admin: bool = False):
        session = await app.sessions.create(user["id"], ip="127.0.0.1", user_agent="ihome-tests",
                                            is_admin=is_admin)
        client.login_as(app, session)
        return session
    return do_login
