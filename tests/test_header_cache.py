"""What a logged-in page's header costs: the host's pending-request count read with the session
(kept in Redis under a label of what moves when it may change) and the header's user parts
memoised per process with a fresh XSRF token each time (handlers/base.py)."""

from __future__ import annotations

import re

import pytest

from handlers.base import PENDING_TTL
from services.cache import PENDING_PREFIX
from services.sessions import Session
from tests.utils.booking import make_party
from tests.utils.client import text


def badge(page) -> str | None:
    found = re.search(r'id="pending-count">(\d+)<', text(page))
    return found.group(1) if found else None


@pytest.mark.gen_test
async def test_the_pending_count_is_kept_and_follows_every_order_event(app, login, new_client):
    p = await make_party(app, login, new_client)
    first, second, third = await p.order(1, 2), await p.order(3, 4), await p.order(5, 6)
    assert badge(await p.lc.get("/")) == "3"
    key = PENDING_PREFIX + str(p.landlord["id"])
    assert (await app.redis.get(key)).endswith("|3") and 0 < await app.redis.ttl(key) <= PENDING_TTL
    # Kept: a change made behind the application's back (no order event) is not seen…
    await app.db.execute("UPDATE orders SET status = 'rejected' WHERE id = %s", first)
    assert badge(await p.lc.get("/houses")) == "3"
    # …while every order event is: the guest cancels (the dated search generation moves),
    assert (await p.gc.post(f"/orders/{second}/cancel")).code == 302
    assert badge(await p.lc.get("/")) == "1"
    # a new booking,
    fourth = await p.order(7, 8)
    assert badge(await p.lc.get("/")) == "2"
    # the host's own answers (their write marks their sessions changed).
    assert (await p.lc.post(f"/orders/{third}/accept")).code == 302
    assert badge(await p.lc.get("/")) == "1"
    assert (await p.lc.post(f"/orders/{fourth}/reject", {"reason": "满了"})).code == 302
    assert badge(await p.lc.get("/")) is None
    assert (await app.redis.get(key)).endswith("|0")


@pytest.mark.gen_test
async def test_a_label_from_another_day_or_a_degraded_cache_is_not_trusted(app, login, new_client):
    p = await make_party(app, login, new_client)
    await p.order(1, 2)
    assert badge(await p.lc.get("/")) == "1"
    key = PENDING_PREFIX + str(p.landlord["id"])
    label, _, _ = (await app.redis.get(key)).rpartition("|")
    # The same label on another day (requests expire by the calendar), with a wrong figure.
    await app.redis.set(key, label[:-len("YYYY-MM-DD")] + "2000-01-01|7")
    assert badge(await p.lc.get("/")) == "1"
    await app.redis.set(key, f"{label}|7")  # the right label: trusted (that is the point of it)
    assert badge(await p.lc.get("/")) == "7"
    app.cache._pending_global = True  # an invalidation this process could not deliver yet
    try:
        assert badge(await p.lc.get("/")) == "1"
    finally:
        app.cache._pending_global = False


@pytest.mark.gen_test
async def test_riders_are_read_with_the_session_and_never_stored(app, login, new_client):
    p = await make_party(app, login, new_client)
    session = next(iter(await app.sessions.list_for_user(p.landlord["id"])))
    await app.redis.set(PENDING_PREFIX + str(p.landlord["id"]), "x|4")
    await app.redis.set("test:rider", "r")
    loaded = await app.sessions.get(session.token, user_prefix=PENDING_PREFIX, keys=("test:rider", "test:none"))
    assert (loaded.rider_user, loaded.rider_keys) == ("x|4", ("r", None))
    plain = await app.sessions.get(session.token)
    assert (plain.rider_user, plain.rider_keys) == (None, ())
    assert "rider" not in loaded.to_json() and Session(**{**loaded.__dict__}).to_json() == loaded.to_json()


@pytest.mark.gen_test
async def test_memoised_header_parts_carry_a_fresh_xsrf_token_each_time(app, login, new_client):
    p = await make_party(app, login, new_client)
    await p.lc.get("/")  # the page is kept; the next ones are spliced with the memoised parts
    tokens = set()
    for _ in range(3):
        page = text(await p.lc.get("/"))
        assert p.landlord["name"] in page and "<!--ihome:xsrf-->" not in page
        tokens.update(re.findall(r'name="_xsrf" value="([^"]+)"', page))
    assert len(tokens) == 3  # masked anew for every response, never shared
    member_page = await p.lc.get("/")
    assert "no-store" in member_page.headers["Cache-Control"] and "Etag" not in member_page.headers
    assert app._user_parts_memo  # served from the memo
    # Another user's header is their own.
    page = text(await p.gc.get("/"))
    assert p.guest["name"] in page and p.landlord["name"] not in page
