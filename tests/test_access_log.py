"""The per-request log line: every request in development and tests, only errors in
production (nginx keeps the access log there; the line cost 6 % of a cached page)."""

from __future__ import annotations

import logging

import pytest


def access_lines(caplog) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "tornado.access"]


@pytest.mark.gen_test
async def test_successful_requests_are_logged_only_when_asked(app, client, caplog):
    caplog.set_level(logging.INFO, logger="tornado.access")
    assert app.log_all_requests is True  # the test settings are not production
    assert (await client.get("/houses")).code == 200
    assert [level for level, line in access_lines(caplog) if "/houses" in line] == [logging.INFO]
    caplog.clear()
    app.log_all_requests = False
    assert (await client.get("/houses")).code == 200
    assert (await client.get("/no-such-page")).code == 404
    assert [(level, "/no-such-page" in line) for level, line in access_lines(caplog)] == [(logging.WARNING, True)]
