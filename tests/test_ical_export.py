"""A listing's calendar exported as an iCal feed (GET /houses/<id>/calendar.ics?token=…) and
imported back by the importer. Real HTTP server, real MariaDB, real Redis.
"""

from __future__ import annotations

import re

import icalendar
import pytest

from models import calendar_sync
from services import ical
from tests.utils.booking import make_party
from tests.utils.client import text
from tests.utils.dates import day, iso


@pytest.fixture
def settings(base_settings):
    # The round trip imports this server's own export, on 127.0.0.1 (as IHOME_ICAL_ALLOW_PRIVATE=1).
    return base_settings.replace(ical_allow_private=True)


def export_path(page: str) -> str:
    """The export URL's path and query as the edit page shows it."""
    match = re.search(r'id="export-url" readonly value="https?://[^/"]+(/houses/\d+/calendar\.ics\?token=[^"]+)"', page)
    assert match, page[:2000]
    return match.group(1).replace("&amp;", "&")


def events_of(body: bytes) -> list[tuple[str, str, str]]:
    cal = icalendar.Calendar.from_ical(body)
    return sorted((e.get("dtstart").dt.isoformat(), e.get("dtend").dt.isoformat(), str(e.get("summary")))
                  for e in cal.walk("VEVENT"))


@pytest.mark.gen_test(timeout=60)
async def test_the_feed_lists_booked_and_blocked_nights_for_the_token_only(app, login, new_client):
    p = await make_party(app, login, new_client)
    hid = p.house["id"]
    await p.order(5, 7)
    assert (await p.lc.post(f"/houses/{hid}/calendar/block", {"sd": iso(7), "ed": iso(9)})).code == 302
    assert (await p.lc.post(f"/houses/{hid}/calendar/block", {"sd": iso(12), "ed": iso(13)})).code == 302
    path = export_path(text(await p.lc.get(f"/houses/{hid}/edit")))
    response = await p.anon.get(path)  # other platforms fetch it without a session
    assert response.code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert "no-store" in response.headers["Cache-Control"] and "public" not in response.headers["Cache-Control"]
    assert events_of(response.body) == [(iso(5), iso(7), "已预订"), (iso(7), iso(9), "不可订"),
                                        (iso(12), iso(13), "不可订")]
    body = response.body.decode()
    assert p.guest["name"] not in body and p.guest["mobile"] not in body  # no guest data
    uids = re.findall(r"UID:(\S+)", body)
    assert len(set(uids)) == 3
    # The same feed again: the same UIDs (other platforms update instead of duplicating).
    assert re.findall(r"UID:(\S+)", (await p.anon.get(path)).body.decode()) == uids

    token = path.split("token=")[1]
    for wrong in (f"/houses/{hid}/calendar.ics", f"/houses/{hid}/calendar.ics?token=",
                  f"/houses/{hid}/calendar.ics?token={token[:-1]}x", f"/houses/{hid}/calendar.ics?token={'a' * 500}",
                  f"/houses/{hid + 999}/calendar.ics?token={token}"):
        assert (await p.anon.get(wrong)).code == 404, wrong
    # Another listing's token does not open this one.
    other = await make_party(app, login, new_client)
    other_path = export_path(text(await other.lc.get(f"/houses/{other.house['id']}/edit")))
    assert (await p.anon.get(f"/houses/{hid}/calendar.ics?token={other_path.split('token=')[1]}")).code == 404


@pytest.mark.gen_test(timeout=60)
async def test_resetting_the_link_retires_the_old_one(app, login, new_client):
    p = await make_party(app, login, new_client)
    hid = p.house["id"]
    old = export_path(text(await p.lc.get(f"/houses/{hid}/edit")))
    assert export_path(text(await p.lc.get(f"/houses/{hid}/edit"))) == old  # stable until reset
    assert (await p.sc.post(f"/houses/{hid}/calendar/export/reset")).code == 404  # not the host
    assert (await p.anon.get(old)).code == 200
    response = await p.lc.post(f"/houses/{hid}/calendar/export/reset")
    assert response.code == 302 and response.headers["Location"].endswith("#calendar-sync")
    new = export_path(text(await p.lc.get(f"/houses/{hid}/edit")))
    assert new != old
    assert (await p.anon.get(old)).code == 404
    assert (await p.anon.get(new)).code == 200


@pytest.mark.gen_test(timeout=60)
async def test_the_export_round_trips_through_the_importer(app, login, new_client, base_url):
    a = await make_party(app, login, new_client)
    await a.order(3, 5)
    await a.order(8, 9)
    assert (await a.lc.post(f"/houses/{a.house['id']}/calendar/block", {"sd": iso(5), "ed": iso(7)})).code == 302
    assert (await a.lc.post(f"/houses/{a.house['id']}/calendar/block", {"sd": iso(40), "ed": iso(45)})).code == 302
    exported = base_url + export_path(text(await a.lc.get(f"/houses/{a.house['id']}/edit")))
    b = await make_party(app, login, new_client)
    assert (await b.lc.post(f"/houses/{b.house['id']}/calendar/feeds", {"url": exported})).code == 302
    feeds = await calendar_sync.feeds(app.db, b.house["id"])
    assert feeds[0]["last_status"] == "ok", feeds
    a_nights = await app.db.query("SELECT night FROM booked_nights WHERE house_id = %s AND night >= CURDATE() "
                                  "ORDER BY night", a.house["id"])
    b_nights = await app.db.query("SELECT night FROM booked_nights WHERE house_id = %s ORDER BY night",
                                  b.house["id"])
    assert [r["night"] for r in b_nights] == [r["night"] for r in a_nights]
    assert len(a_nights) == 2 + 1 + 2 + 5


def test_parser_rules():
    today = day(0)
    body = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
            b"BEGIN:VEVENT\r\nUID:a\r\nDTSTART;VALUE=DATE:%s\r\nDTEND;VALUE=DATE:%s\r\nEND:VEVENT\r\n"
            b"BEGIN:VEVENT\r\nUID:b\r\nDTSTART:%sT150000Z\r\nDURATION:P2D\r\nEND:VEVENT\r\n"
            b"BEGIN:VEVENT\r\nUID:c\r\nDTSTART;VALUE=DATE:%s\r\nEND:VEVENT\r\n"
            b"BEGIN:VEVENT\r\nUID:d\r\nSTATUS:CANCELLED\r\nDTSTART;VALUE=DATE:%s\r\nDTEND;VALUE=DATE:%s\r\nEND:VEVENT\r\n"
            b"BEGIN:VEVENT\r\nUID:e\r\nDTSTART;VALUE=DATE:%s\r\nDTEND;VALUE=DATE:%s\r\nEND:VEVENT\r\n"
            b"END:VCALENDAR\r\n") % (
        day(2).strftime("%Y%m%d").encode(), day(4).strftime("%Y%m%d").encode(),
        day(10).strftime("%Y%m%d").encode(), day(20).strftime("%Y%m%d").encode(),
        day(30).strftime("%Y%m%d").encode(), day(32).strftime("%Y%m%d").encode(),
        day(-400).strftime("%Y%m%d").encode(), day(4000).strftime("%Y%m%d").encode())
    found = ical.feed_nights(body, today)
    assert found.events == 5
    expected = {day(2), day(3), day(10), day(11), day(20)} | {day(i) for i in range(0, ical.HORIZON_DAYS)}
    assert found.nights == expected  # the ten-year event is clamped to the window: 365 nights, not 4400
    for garbage in (b"", b"hello", b"<html></html>", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR"):
        with pytest.raises(ical.FeedInvalid):
            ical.feed_nights(garbage, today)
    assert ical.runs([day(3), day(1), day(2), day(5)]) == [(day(1), day(4)), (day(5), day(6))]
