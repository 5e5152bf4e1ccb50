"""Where the IP location is used: the home page's city, login_events, /api/v1/location, the
sessions page — and xheaders, which decides whether X-Real-IP is the client address.

The app's locator points at the real loopback provider of tests/iplookup_provider.py.
Requests either go through pytest-tornado's server (client address 127.0.0.1, which is
answered locally as 本机) or through one made by ``server.create_http_server`` with
xheaders on or off, so the public address in X-Real-IP reaches the provider or not.
"""

from __future__ import annotations

import re

import pytest
from tornado.netutil import bind_sockets

import server
from config import Limits
from handlers.houses import match_site_city
from models.areas import city_code
from services.iplocation import Location
from tests.iplookup_provider import ProviderServer
from tests.utils.client import Client, json_body, text
from tests.utils.factories import PASSWORD, make_user

# Public addresses: they only ever travel as text to the loopback provider.
SHENZHEN_IP = "114.114.114.114"
BEIJING_IP = "123.125.71.38"
LHASA_IP = "202.98.224.68"
ANSWERS = {SHENZHEN_IP: ("中国", "广东", "深圳"), BEIJING_IP: ("中国", "北京", ""),
           LHASA_IP: ("中国", "西藏", "拉萨")}


@pytest.fixture
def provider(io_loop):
    running = io_loop.run_sync(ProviderServer(answers=ANSWERS).start)
    yield running
    io_loop.run_sync(running.stop)


@pytest.fixture
def xheaders():
    """Whether the app is configured for a proxy; tests parametrize it."""
    return True


@pytest.fixture
def limits():
    """The rate limits; a test may parametrize it."""
    return Limits()


@pytest.fixture
def settings(base_settings, provider, xheaders, limits):
    # Generous timeouts: on a busy machine a slow loopback answer must not become a fallback.
    return base_settings.replace(iplookup_url=provider.url_template, iplookup_fields=provider.field_map,
                                 iplookup_connect_timeout=10.0, iplookup_request_timeout=10.0,
                                 xheaders=xheaders, limits=limits)


@pytest.fixture
def proxied(app, io_loop, http_client):
    """A Client against an HTTPServer made by server.create_http_server for this app."""
    sockets = bind_sockets(0, "127.0.0.1")
    http_server = server.create_http_server(app)
    http_server.add_sockets(sockets)
    yield Client(http_client, f"http://127.0.0.1:{sockets[0].getsockname()[1]}")
    http_server.stop()
    io_loop.run_sync(http_server.close_all_connections)


async def first_area_of(app, city: str) -> int:
    return await app.db.scalar("SELECT MIN(id) FROM areas WHERE city = %s", city)


# -- xheaders --------------------------------------------------------------------

@pytest.mark.gen_test
@pytest.mark.parametrize("xheaders", [True])
async def test_location_api_with_xheaders_uses_x_real_ip(proxied, app, provider):
    response = await proxied.get("/api/v1/location", headers={"X-Real-IP": SHENZHEN_IP})
    assert response.code == 200 and response.headers["Content-Type"].startswith("application/json")
    assert json_body(response) == {"ip": SHENZHEN_IP, "country": "中国", "province": "广东", "city": "深圳",
                                   "source": "provider", "label": "中国 广东 深圳", "site_city": "深圳市"}
    assert provider.requests == [SHENZHEN_IP]


@pytest.mark.gen_test
@pytest.mark.parametrize("xheaders", [False])
async def test_location_api_without_xheaders_ignores_x_real_ip(proxied, app, provider):
    response = await proxied.get("/api/v1/location", headers={"X-Real-IP": SHENZHEN_IP})
    assert json_body(response) == {"ip": "127.0.0.1", "country": "本机", "province": "", "city": "",
                                   "source": "local", "label": "本机", "site_city": None}
    assert provider.requests == []


@pytest.mark.gen_test(timeout=20)
@pytest.mark.parametrize("xheaders,ip,location", [
    (True, SHENZHEN_IP, "中国 广东 深圳"),
    (False, "127.0.0.1", "本机"),
])
async def test_login_events_take_the_address_from_xheaders(proxied, app, ip, location):
    user = await make_user(app)
    response = await proxied.post("/login", {"mobile": user["mobile"], "password": PASSWORD},
                                  headers={"X-Real-IP": SHENZHEN_IP})
    assert response.code == 302
    event = await app.db.queryone("SELECT * FROM login_events WHERE user_id = %s", user["id"])
    assert (event["ip"], event["location"], event["success"]) == (ip, location, 1)
    session = (await app.sessions.list_for_user(user["id"]))[0]
    assert session.ip == ip


@pytest.mark.gen_test(timeout=20)
@pytest.mark.parametrize("xheaders,limits", [(True, Limits(login_per_ip=2))])
async def test_login_throttle_counts_the_real_client_address(proxied, app):
    """Behind nginx, one client's failures do not lock out everyone else behind the proxy."""
    for mobile in ("13700000001", "13700000002"):
        assert (await proxied.post("/login", {"mobile": mobile, "password": "Wrong#pass999"},
                                   headers={"X-Real-IP": SHENZHEN_IP})).code == 400
    refused = await proxied.post("/login", {"mobile": "13700000003", "password": "Wrong#pass999"},
                                 headers={"X-Real-IP": SHENZHEN_IP})
    assert refused.code == 429
    other = await proxied.post("/login", {"mobile": "13700000003", "password": "Wrong#pass999"},
                               headers={"X-Real-IP": BEIJING_IP})
    assert other.code == 400


# -- the home page -------------------------------------------------------------

@pytest.mark.gen_test
async def test_home_page_shows_city_and_preselects_the_whole_city(proxied, app):
    page = await proxied.get("/", headers={"X-Real-IP": SHENZHEN_IP})
    body = text(page)
    assert page.code == 200 and "您所在的城市：深圳市" in body
    area_id = await first_area_of(app, "深圳市")
    selected = re.findall(r'<option value="(\d+)"[^>]*\bselected\b', body)
    assert selected == [str(city_code(area_id))] == ["440300"]  # the city's 全市 option


@pytest.mark.gen_test
async def test_municipality_from_the_province_field(proxied, app):
    body = text(await proxied.get("/", headers={"X-Real-IP": BEIJING_IP}))
    assert "您所在的城市：北京市" in body
    assert re.findall(r'<option value="(\d+)"[^>]*\bselected\b', body) == [
        str(city_code(await first_area_of(app, "北京市")))] == ["110000"]


@pytest.mark.gen_test
async def test_city_the_site_has_no_areas_for_is_shown_without_preselection(proxied, app):
    body = text(await proxied.get("/", headers={"X-Real-IP": LHASA_IP}))
    assert "您所在的城市：拉萨" in body
    assert not re.search(r'<option value="\d+"[^>]*\bselected\b', body)


@pytest.mark.gen_test
async def test_local_address_gives_no_city(client, app, provider):
    body = text(await client.get("/"))
    assert "您所在的城市" not in body
    assert not re.search(r'<option value="\d+"[^>]*\bselected\b', body)
    assert provider.requests == []


@pytest.mark.gen_test
async def test_provider_down_gives_no_city(proxied, app, provider):
    provider.mode = "error"  # the offline table only knows the country
    page = await proxied.get("/", headers={"X-Real-IP": SHENZHEN_IP})
    assert page.code == 200 and "您所在的城市" not in text(page)


def test_match_site_city_normalises_names():
    areas = [{"city": "深圳市"}, {"city": "北京市"}, {"city": "恩施土家族苗族自治州"}, {"city": "吉林市"}]
    assert match_site_city(Location("中国", "广东", "深圳", "provider"), areas) == "深圳市"
    assert match_site_city(Location("中国", "广东省", "深圳市", "provider"), areas) == "深圳市"
    assert match_site_city(Location("中国", "北京市", "", "provider"), areas) == "北京市"
    assert match_site_city(Location("中国", "湖北", "恩施", "provider"), areas) == "恩施土家族苗族自治州"
    assert match_site_city(Location("中国", "吉林", "", "provider"), areas) is None  # a province, not the city
    assert match_site_city(Location("中国", "", "", "offline"), areas) is None
    assert match_site_city(Location("本机", "", "", "local"), areas) is None


# -- the sessions page ---------------------------------------------------------

@pytest.mark.gen_test
async def test_sessions_page_locates_every_session_in_one_round(client, app, login, provider):
    user = await make_user(app)
    await login(client, user)
    await app.sessions.create(user["id"], ip=SHENZHEN_IP, user_agent="Mozilla/5.0 (Windows NT 10.0) Chrome/124.0")
    await app.sessions.create(user["id"], ip=LHASA_IP, user_agent="Mozilla/5.0 (Android 14) Firefox/125.0")
    # The provider answers only once both lookups are in flight together: one after the
    # other, the first would wait out its timeout and the page would show the country only.
    provider.group = 2
    body = text(await client.get("/profile/sessions"))
    assert "中国 广东 深圳" in body and "中国 西藏 拉萨" in body and "本机" in body
    assert sorted(provider.requests) == sorted([SHENZHEN_IP, LHASA_IP])
    assert provider.max_in_flight == 2
