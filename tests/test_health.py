"""GET /healthz: 200 when MariaDB and Redis answer, 503 naming what failed, bounded when one stalls."""

from __future__ import annotations

import json

import pytest

from config import MySQLParams, Timeouts
from tests.utils.outage import SilentServer, free_port, serving


@pytest.mark.gen_test
async def test_healthy(app, client):
    response = await client.get("/healthz")
    assert response.code == 200
    assert json.loads(response.body) == {"mysql": "ok", "redis": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


@pytest.mark.gen_test
async def test_redis_refusing_connections(base_settings, http_client):
    settings = base_settings.replace(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with serving(settings) as (app, base_url):
        response = await http_client.fetch(base_url + "/healthz", raise_error=False)
    assert response.code == 503
    assert json.loads(response.body) == {"mysql": "ok", "redis": "unavailable"}
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.gen_test
@pytest.mark.filterwarnings("ignore:Unclosed connection:ResourceWarning")  # the abandoned handshake
async def test_both_stalled_answers_within_the_check_limit(base_settings, http_client):
    silent_mysql, silent_redis = await SilentServer.start(), await SilentServer.start()
    p = base_settings.mysql
    settings = base_settings.replace(
        mysql_url=MySQLParams("127.0.0.1", silent_mysql.port, p.user, p.password, p.db).url(),
        mysql_pool_min=0, redis_url=f"redis://127.0.0.1:{silent_redis.port}/0",
        # Every other limit far above the check's: only the check's own bound can answer.
        timeouts=Timeouts(healthz=0.3, mysql_acquire=30, mysql_connect=30, redis_connect=30, redis_socket=30,
                          redis_pool=30))
    try:
        async with serving(settings) as (app, base_url):
            response = await http_client.fetch(base_url + "/healthz", raise_error=False, request_timeout=20)
        assert response.code == 503
        assert json.loads(response.body) == {"mysql": "timeout", "redis": "timeout"}
        assert silent_mysql.accepted >= 1 and silent_redis.accepted >= 1
    finally:
        await silent_mysql.close()
        await silent_redis.close()
