"""MariaDB stalled or gone: bounded waits, a styled 503 with Retry-After, never a hang or a 500;
and the HTTP server closes idle and slow connections.

Stalls are real: a server that accepts and never answers (tests/utils/outage.py),
a proxy in front of the test MariaDB that stops forwarding, and a real slow query.
No test measures elapsed time: a missing bound would hang until the test's own
timeout, and each assertion names the error that only the bound produces.
"""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from tornado.iostream import IOStream

from config import MySQLParams, Timeouts
from models.db import DatabaseUnavailable, create_database
from tests.utils.client import text
from tests.utils.outage import FaultProxy, SilentServer, serving

SHORT = Timeouts(mysql_connect=0.5, mysql_acquire=0.5, mysql_statement=0.5, mysql_tx_statement=0.5,
                 http_idle=0.3, http_body=0.3)


def pointed_at(settings, port: int, **changes):
    """*settings* with MariaDB at 127.0.0.1:*port* (same user, password and database)."""
    p = settings.mysql
    url = MySQLParams(host="127.0.0.1", port=port, user=p.user, password=p.password, db=p.db).url()
    return settings.replace(mysql_url=url, **changes)


@pytest.mark.gen_test
@pytest.mark.filterwarnings("ignore:Unclosed connection:ResourceWarning")  # the abandoned handshake
async def test_a_silent_database_gives_a_styled_503_not_a_hang(base_settings, http_client):
    silent = await SilentServer.start()
    settings = pointed_at(base_settings, silent.port, mysql_pool_min=0, timeouts=SHORT)
    try:
        async with serving(settings) as (app, base_url):  # minsize 0: no connection at start-up
            for path in ("/", "/houses", "/houses/1", "/api/v1/houses"):
                response = await http_client.fetch(base_url + path, raise_error=False)
                assert response.code == 503, (path, response.code)
                assert response.headers["Retry-After"] == str(settings.timeouts.retry_after)
                if path.startswith("/api/"):
                    assert json.loads(response.body)["error"]["status"] == 503
                else:
                    assert "服务暂时不可用" in text(response)
            assert silent.accepted >= 1  # it really waited on the stalled server
    finally:
        await silent.close()


@pytest.mark.gen_test
async def test_a_database_that_stalls_mid_query_is_cut_off(base_settings):
    proxy = await FaultProxy.start(base_settings.mysql.port)
    db = await create_database(pointed_at(base_settings, proxy.port, mysql_pool_min=1, mysql_pool_max=1,
                                          timeouts=SHORT))
    try:
        assert await db.scalar("SELECT 1") == 1  # the pooled connection works through the proxy
        proxy.stall_when_sent(b"SELECT 2")  # the server never sees it, nobody answers
        with pytest.raises(DatabaseUnavailable, match="Lost connection"):
            await db.scalar("SELECT 2")
        assert proxy.stalls == 1
        # The stalled connection was closed and dropped; the next query gets a fresh one.
        assert await db.scalar("SELECT 3") == 3
    finally:
        await db.close()
        await proxy.close()


@pytest.mark.gen_test
async def test_a_slow_query_is_stopped_by_the_server_limit(base_settings):
    db = await create_database(base_settings.replace(timeouts=SHORT))
    try:
        with pytest.raises(DatabaseUnavailable, match="max_statement_time"):
            await db.scalar("SELECT SLEEP(3)")
        assert await db.scalar("SELECT 3") == 3  # the pool is fine afterwards
        with pytest.raises(DatabaseUnavailable, match="max_statement_time"):
            async with db.transaction() as tx:
                await tx.scalar("SELECT SLEEP(3)")
        assert await db.scalar("SELECT @@max_statement_time") == 0.5
    finally:
        await db.close()


@pytest.mark.gen_test
async def test_transactions_get_their_own_statement_limit(base_settings):
    timeouts = Timeouts(mysql_statement=0.5, mysql_tx_statement=5.0)
    db = await create_database(base_settings.replace(timeouts=timeouts))
    try:
        async with db.transaction() as tx:
            assert await tx.scalar("SELECT SLEEP(0.8)") == 0  # over the page limit, within the transaction's
        with pytest.raises(DatabaseUnavailable):
            await db.scalar("SELECT SLEEP(0.8)")
        assert await db.scalar("SELECT @@max_statement_time") == 0.5  # not changed for the next user
    finally:
        await db.close()


@pytest.mark.gen_test
async def test_the_pool_wait_is_bounded(base_settings):
    db = await create_database(base_settings.replace(mysql_pool_min=1, mysql_pool_max=1, timeouts=SHORT))
    try:
        async with db.transaction():  # holds the only connection
            with pytest.raises(DatabaseUnavailable, match="no database connection"):
                await db.scalar("SELECT 1")
        assert await db.scalar("SELECT 1") == 1
    finally:
        await db.close()


async def _closed_by_server(port: int, first_bytes: bytes) -> bool:
    """Connect, send *first_bytes*, then wait (bounded) for the server to close the connection."""
    stream = await IOStream(socket.socket()).connect(("127.0.0.1", port))
    if first_bytes:
        await stream.write(first_bytes)
    try:
        await asyncio.wait_for(stream.read_until_close(), 20)
        return True
    except asyncio.TimeoutError:
        return False
    finally:
        stream.close()


@pytest.mark.gen_test
async def test_idle_and_slow_connections_are_closed(base_settings):
    async with serving(base_settings.replace(timeouts=SHORT)) as (app, base_url):
        port = int(base_url.rsplit(":", 1)[1])
        assert await _closed_by_server(port, b"")  # connected, never sent anything
        assert await _closed_by_server(port, b"GET / HTTP/1.1\r\nHost: x\r\n")  # slowloris: headers never end
        # A body that never arrives in full.
        assert await _closed_by_server(
            port, b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nmobile=1")


def test_timeouts_come_from_the_environment():
    from config import ConfigError, load_settings

    settings = load_settings({"IHOME_TIMEOUT_MYSQL_STATEMENT": "1.5", "IHOME_TIMEOUT_RETRY_AFTER": "7"})
    assert settings.timeouts.mysql_statement == 1.5
    assert settings.timeouts.retry_after == 7 and isinstance(settings.timeouts.retry_after, int)
    for bad in ("x", "0", "-1", "nan"):
        with pytest.raises(ConfigError, match="IHOME_TIMEOUT_HTTP_IDLE"):
            load_settings({"IHOME_TIMEOUT_HTTP_IDLE": bad})
