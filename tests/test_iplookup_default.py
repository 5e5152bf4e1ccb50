"""The default IP-location provider: HTTPS, and a field map that reads its answers.

The real provider (ipwho.is) cannot be reached from the test machine, so a loopback
server answers in its shape — ``{"success": true, "country", "region", "city"}`` or
``{"success": false, "message"}`` — and the locator reads it with the default map.
"""

from __future__ import annotations

import json
import urllib.parse

import pytest
import tornado.web
from tornado.netutil import bind_sockets
from tornado.httpserver import HTTPServer

from config import DEFAULT_IPLOOKUP_FIELDS, DEFAULT_IPLOOKUP_URL, load_settings
from services.iplocation import FieldMap, IPLocator, ProviderError

ANSWERS = {"202.96.134.133": {"success": True, "ip": "202.96.134.133", "type": "IPv4", "country": "中国",
                              "country_code": "CN", "region": "广东", "city": "深圳"},
           "8.8.4.4": {"success": False, "ip": "8.8.4.4", "message": "Reserved range"}}


class IpwhoisLikeHandler(tornado.web.RequestHandler):
    def get(self, ip: str) -> None:
        self.application.settings["queries"].append(self.request.query)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(ANSWERS.get(ip, {"success": False, "message": "Invalid IP address"}),
                               ensure_ascii=False))


def test_the_default_provider_is_https_and_keyless():
    url = urllib.parse.urlsplit(DEFAULT_IPLOOKUP_URL)
    assert url.scheme == "https" and "{ip}" in DEFAULT_IPLOOKUP_URL
    assert "key" not in urllib.parse.parse_qs(url.query)
    settings = load_settings({"IHOME_ENV": "test"})
    assert settings.iplookup_url == DEFAULT_IPLOOKUP_URL and settings.iplookup_fields == DEFAULT_IPLOOKUP_FIELDS


def test_the_default_field_map_reads_success_and_refuses_failure():
    fields = FieldMap.parse(DEFAULT_IPLOOKUP_FIELDS)
    found = fields.extract(ANSWERS["202.96.134.133"])
    assert (found.country, found.province, found.city) == ("中国", "广东", "深圳")
    with pytest.raises(ProviderError):
        fields.extract(ANSWERS["8.8.4.4"])


@pytest.fixture
def provider(io_loop):
    queries: list[str] = []
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(tornado.web.Application([(r"/([^/?]+)", IpwhoisLikeHandler)], queries=queries))
    server.add_sockets(sockets)
    yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}", queries
    server.stop()
    io_loop.run_sync(server.close_all_connections)


@pytest.mark.gen_test
async def test_the_locator_reads_an_answer_in_the_default_providers_shape(app, provider):
    base, queries = provider
    # The default URL's path and query, on the loopback server instead of the real host.
    template = base + "/{ip}?" + urllib.parse.urlsplit(DEFAULT_IPLOOKUP_URL).query
    locator = IPLocator(app.redis, url_template=template, field_map=DEFAULT_IPLOOKUP_FIELDS,
                        connect_timeout=2, request_timeout=2, max_concurrency=4, cache_ttl=60, failure_ttl=60)
    try:
        found = await locator.locate("202.96.134.133")
        assert (found.country, found.province, found.city, found.source) == ("中国", "广东", "深圳", "provider")
        refused = await locator.locate("8.8.4.4")
        assert refused.source != "provider"  # a failed answer falls back to the offline database
    finally:
        locator.close()
    assert queries == ["lang=zh-CN", "lang=zh-CN"]  # both reached the provider, with the language
