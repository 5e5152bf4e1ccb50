"""Fixtures: a throw-away MariaDB database and a Redis db for this pytest process.

`make test` starts the local MariaDB and Redis (scripts/services.sh). Each pytest
process (each pytest-xdist worker) creates its own database ``ihome_test_<pid>``
through tests/utils/testdb.py — migrated, seeded with the real areas and the
facility catalogue — and drops it at the end. Every test starts from empty user
tables and an empty Redis db: IHOME_TEST_REDIS_DB (default 1) plus the xdist
worker index, so parallel workers never flush each other's keys.

The aiomysql pool and Redis client are built on the test's own loop through the
sync ``app`` fixture that pytest-tornado uses: a pool made on another loop fails
with "attached to a different loop", an unclosed one warns.
"""

from __future__ import annotations

import asyncio
import os

import pytest

import server
from config import test_settings
from tests.utils import testdb
from tests.utils.client import Client

# Seeded once per process and never written by tests; every other table is emptied before each test.
STATIC_TABLES = {"areas", "facilities"}


# pytest-tornado's timeout only stops a hung test; its 5 s default fails slow but correct
# tests on a CPU-starved machine. (Not in pytest.ini: the browser tests run without the plugin.)
HANG_GUARD_SECONDS = 60.0


def pytest_configure(config):
    # No implicit event loops: pytest-tornado gives every test its own loop, and a
    # loop asyncio made on its own would be left unclosed (ResourceWarning).
    asyncio.set_event_loop(None)
    if getattr(config.option, "async_test_timeout", None) == 5 and "ASYNC_TEST_TIMEOUT" not in os.environ:
        config.option.async_test_timeout = HANG_GUARD_SECONDS


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Modules marked ``xdist_group`` (they build a stack or a big database once) go first.

    A stable sort after pytest-randomly's shuffle: the order stays random within each
    half. On two workers, a module that costs half a minute started last would leave
    one worker idle that long (see :func:`pytest_xdist_make_scheduler`).
    """
    items.sort(key=lambda item: item.get_closest_marker("xdist_group") is None)


@pytest.hookimpl(optionalhook=True)  # unknown when run with -p no:xdist
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup``: every module runs whole on one worker, in collection order.

    pytest-xdist 3.8 tags grouped tests by rewriting ``item._nodeid``, which pytest 9
    no longer reads, so its own loadgroup spread a group's tests over both workers
    and each built the module's database or stack again. A module is the unit here
    (its module-scoped fixtures are built once per run), and units are handed out in
    collection order — the marked, slow modules first — instead of by test count.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.rfind("@") > nodeid.rfind("]"):  # a group tag, should xdist's suffix work again
                return nodeid.rsplit("@", 1)[1]
            return nodeid.split("::", 1)[0]

    config.option.loadscopereorder = False  # keep the slow-first collection order
    return ModuleScheduling(config, log)


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory):
    """Settings pointing at this process's fresh, migrated and seeded test database and Redis db."""
    db_name = f"ihome_test_{os.getpid()}"
    base = test_settings(media_dir=tmp_path_factory.mktemp("media"))
    with testdb.throwaway_database(db_name, base=base, redis_db=testdb.redis_db_number()) as settings:
        yield settings


@pytest.fixture
def settings(base_settings):
    """The settings a test's app is built with; override this fixture to change them."""
    return base_settings


_mutable_tables: list[str] = []  # this process's database, read once (the schema doesn't change mid-run)


async def _reset(app) -> None:
    """Empty every table a test can write (whatever migrations added) and this process's Redis db.

    One round trip finds the tables that have rows; only those are emptied (a test
    writes a handful of the ~20 tables), so the reset costs a few milliseconds.
    """
    if not _mutable_tables:
        rows = await app.db.query(
            "SELECT table_name AS name FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'")
        _mutable_tables.extend(sorted(r["name"] for r in rows if r["name"] not in STATIC_TABLES
                                      and not r["name"].startswith(("_yoyo", "yoyo"))))
    probe = ", ".join(f"EXISTS(SELECT 1 FROM `{t}`) AS `{t}`" for t in _mutable_tables)
    filled = [t for t, has_rows in (await app.db.queryone(f"SELECT {probe}")).items() if has_rows]
    if filled:
        async with app.db.transaction() as tx:  # one connection, so the session variable applies
            await tx.execute("SET FOREIGN_KEY_CHECKS = 0")
            try:
                for table in filled:
                    await tx.execute(f"DELETE FROM `{table}`")
            finally:
                await tx.execute("SET FOREIGN_KEY_CHECKS = 1")
    await app.redis.flushdb()


@pytest.fixture
def app(io_loop, settings):
    """The real Application on this test's loop, with empty tables and an empty Redis db."""
    application = io_loop.run_sync(lambda: server.build_app(settings))
    io_loop.run_sync(lambda: _reset(application))
    yield application
    io_loop.run_sync(lambda: server.close_app(application))


@pytest.fixture
def http_server(io_loop, _unused_port, app):
    """The app behind the HTTPServer production uses (server.create_http_server): the same
    64 KB body limit outside the upload routes and the same connection timeouts."""
    http = server.create_http_server(app)
    http.add_socket(_unused_port[0])
    yield http
    http.stop()
    io_loop.run_sync(http.close_all_connections)


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
