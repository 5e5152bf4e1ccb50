"""分享: the listing's QR code (SVG, cached, public listings only) and 添加到日历: the stay's .ics
(guest and host of an accepted order only)."""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET

import icalendar
import pytest

from handlers.sharing import QR_PREFIX
from services.sharing import qr_svg
from tests.utils.booking import make_party
from tests.utils.client import text
from tests.utils.factories import make_house, make_user

ORIGIN = "https://ihome.example"


@pytest.fixture
def settings(base_settings):
    return base_settings.replace(site_origin=ORIGIN)


@pytest.mark.gen_test
async def test_qr_code_encodes_the_listing_url_and_is_cached(app, client):
    house = await make_house(app, await make_user(app))
    response = await client.get(f"/houses/{house['id']}/qr.svg")
    assert response.code == 200
    assert response.headers["Content-Type"] == "image/svg+xml"
    assert response.headers["Cache-Control"] == "public, max-age=86400"
    root = ET.fromstring(response.body)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    # The qrcode library's own output for the same URL: the code encodes exactly that URL.
    assert response.body == qr_svg(f"{ORIGIN}/houses/{house['id']}")
    assert response.body != qr_svg(f"{ORIGIN}/houses/{house['id'] + 1}")
    assert [key async for key in app.redis.scan_iter(match=QR_PREFIX + "*")] != []
    again = await client.get(f"/houses/{house['id']}/qr.svg")
    assert again.body == response.body


@pytest.mark.gen_test
async def test_qr_code_only_for_public_listings(app, client):
    owner = await make_user(app)
    offline = await make_house(app, owner, status="offline")
    pending = await make_house(app, owner, status="pending")
    for house in (offline, pending):
        assert (await client.get(f"/houses/{house['id']}/qr.svg")).code == 404
    assert (await client.get("/houses/999999/qr.svg")).code == 404


@pytest.mark.gen_test
async def test_listing_page_offers_share_with_link_and_qr(app, client):
    house = await make_house(app, await make_user(app))
    page = text(await client.get(f"/houses/{house['id']}"))
    share = page.split('id="share"', 1)[1].split("</details>", 1)[0]
    assert f'value="{ORIGIN}/houses/{house["id"]}"' in share and "readonly" in share
    assert f'src="/houses/{house["id"]}/qr.svg"' in share and "分享" in page


async def accepted_order(app, login, new_client):
    p = await make_party(app, login, new_client, title="海边小屋", address="滨海路 9 号")
    order_id = await p.order(3, 6)
    assert (await p.lc.post(f"/orders/{order_id}/accept")).code == 302
    return p, order_id


def event_of(body: bytes) -> icalendar.Event:
    calendar = icalendar.Calendar.from_ical(body)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    return events[0]


@pytest.mark.gen_test
async def test_stay_ics_for_the_guest_and_the_host(app, login, new_client):
    p, order_id = await accepted_order(app, login, new_client)
    today = datetime.date.today()
    for client, summary in ((p.gc, "入住：海边小屋"), (p.lc, "房客入住：海边小屋")):
        response = await client.get(f"/orders/{order_id}/stay.ics")
        assert response.code == 200
        assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
        disposition = response.headers["Content-Disposition"]
        assert disposition == f'attachment; filename="ihome-stay-{order_id}.ics"' and disposition.isascii()
        event = event_of(response.body)
        assert event.decoded("dtstart") == today + datetime.timedelta(days=3)
        assert event.decoded("dtend") == today + datetime.timedelta(days=6)  # exclusive: the check-out day
        assert not isinstance(event.decoded("dtstart"), datetime.datetime)  # all-day
        assert str(event["uid"]) == f"order-{order_id}@ihome.example"
        assert str(event["summary"]).startswith(summary)
        assert "滨海路 9 号" in str(event["location"])
        assert isinstance(event.decoded("dtstamp"), datetime.datetime)
    # The same stay always has the same UID.
    again = event_of((await p.gc.get(f"/orders/{order_id}/stay.ics")).body)
    assert str(again["uid"]) == f"order-{order_id}@ihome.example"


@pytest.mark.gen_test
async def test_stay_ics_refused_to_others_and_before_acceptance(app, login, new_client):
    p = await make_party(app, login, new_client)
    pending = await p.order(3, 5)
    assert (await p.gc.get(f"/orders/{pending}/stay.ics")).code == 404
    assert (await p.lc.get(f"/orders/{pending}/stay.ics")).code == 404
    assert (await p.lc.post(f"/orders/{pending}/accept")).code == 302
    assert (await p.gc.get(f"/orders/{pending}/stay.ics")).code == 200
    assert (await p.sc.get(f"/orders/{pending}/stay.ics")).code == 404  # a stranger
    assert (await p.gc.get("/orders/999999/stay.ics")).code == 404
    anonymous = await p.anon.get(f"/orders/{pending}/stay.ics")
    assert anonymous.code == 302 and anonymous.headers["Location"].startswith("/login")
    for client in (p.gc, p.lc):  # 添加到日历 on the order page, for both parties
        assert f'href="/orders/{pending}/stay.ics"' in text(await client.get(f"/orders/{pending}"))
