"""Login lockout policy: slow the attacker, not the owner (README "限流 / Rate limits").

Per account: an address that failed for a mobile is refused once the mobile has
login_per_mobile failures; an address that never failed for it still gets its
password checked (one try), up to login_per_mobile_total failures in all.
Per address: exponential back-off past a free allowance, reset for an account
by that account's correct password.

The app runs behind a server made by ``server.create_http_server`` with xheaders
on, so each request names its client address in X-Real-IP. Time is moved by
shifting the recorded attempts into the past (or, for the limiter itself, by a
fake clock) — never by sleeping.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from tornado.netutil import bind_sockets

import server
from config import Limits
from services.ratelimit import RateLimiter, limiter_key
from tests.utils.client import Client, text
from tests.utils.factories import PASSWORD, make_user, next_mobile

WRONG = "Wrong#pass999"
ATTACKER, OWNER_HOME, OTHER_1, OTHER_2, OTHER_3 = (
    "203.0.113.7", "198.51.100.20", "198.51.100.31", "198.51.100.32", "198.51.100.33")


@pytest.fixture
def limits():
    return Limits()


@pytest.fixture
def settings(base_settings, limits):
    return base_settings.replace(xheaders=True, limits=limits)


@pytest.fixture
def proxied(app, io_loop, http_client):
    """A browser factory against an HTTPServer made by server.create_http_server (xheaders on)."""
    sockets = bind_sockets(0, "127.0.0.1")
    http_server = server.create_http_server(app)
    http_server.add_sockets(sockets)
    url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    yield lambda: Client(http_client, url)
    http_server.stop()
    io_loop.run_sync(http_server.close_all_connections)


async def login(client: Client, mobile: str, password: str, ip: str):
    return await client.post("/login", {"mobile": mobile, "password": password}, headers={"X-Real-IP": ip})


def retry_after(response) -> int:
    """The refusal's Retry-After in seconds, after checking it is a styled 429 saying when to retry."""
    assert response.code == 429, (response.code, text(response)[:500])
    assert re.search(r"尝试次数过多，请在 \d+ 分钟后再试", text(response))
    value = int(response.headers["Retry-After"])
    assert value >= 1
    return value


async def age(app, scope: str, subject: str, seconds: float) -> None:
    """Move every attempt recorded for *scope*/*subject* *seconds* into the past."""
    key = limiter_key(scope, subject)
    entries = await app.redis.zrange(key, 0, -1, withscores=True)
    if entries:
        await app.redis.zadd(key, {member: score - seconds * 1000 for member, score in entries})


# -- per account -----------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_attacker_locks_the_mobile_but_the_owner_from_a_clean_address_logs_in(app, proxied):
    owner = await make_user(app)
    attacker = proxied()
    for _ in range(5):
        assert (await login(attacker, owner["mobile"], WRONG, ATTACKER)).code == 400
    assert retry_after(await login(attacker, owner["mobile"], WRONG, ATTACKER)) > 800
    # The attacker's address stays refused, even with the right password…
    assert retry_after(await login(attacker, owner["mobile"], PASSWORD, ATTACKER)) > 800
    # …while the owner, from an address that never failed for this account, gets in.
    home = proxied()
    response = await login(home, owner["mobile"], PASSWORD, OWNER_HOME)
    assert response.code == 302 and response.headers["Location"] == "/"
    # The owner's login did not clear the attacker's failures: still locked for them.
    assert retry_after(await login(attacker, owner["mobile"], WRONG, ATTACKER)) > 800
    events = await app.db.query("SELECT ip, success FROM login_events WHERE user_id = %s ORDER BY id",
                                owner["id"])
    assert [(e["ip"], e["success"]) for e in events] == (
        [(ATTACKER, 0)] * 7 + [(OWNER_HOME, 1)] + [(ATTACKER, 0)])


@pytest.mark.gen_test(timeout=60)
async def test_a_clean_address_gets_one_try_at_a_locked_account(app, proxied):
    owner = await make_user(app)
    attacker, other = proxied(), proxied()
    for _ in range(5):
        await login(attacker, owner["mobile"], WRONG, ATTACKER)
    assert (await login(other, owner["mobile"], WRONG, OTHER_1)).code == 400
    # Now this address has failed for the account too: refused, the right password included.
    retry_after(await login(other, owner["mobile"], WRONG, OTHER_1))
    retry_after(await login(other, owner["mobile"], PASSWORD, OTHER_1))
    assert await RateLimiter(app.redis).peek("login:mobile", owner["mobile"], 900) == 6


@pytest.mark.gen_test(timeout=60)
async def test_parallel_guesses_from_a_clean_address_get_one_try(app, proxied):
    owner = await make_user(app)
    attacker = proxied()
    for _ in range(5):
        await login(attacker, owner["mobile"], WRONG, ATTACKER)
    clients = [proxied() for _ in range(6)]
    for c in clients:
        await c.xsrf_token()
    responses = await asyncio.gather(*(login(c, owner["mobile"], WRONG, OTHER_1) for c in clients))
    assert sorted(r.code for r in responses) == [400] + [429] * 5
    assert all(int(r.headers["Retry-After"]) >= 1 for r in responses if r.code == 429)


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("limits", [Limits(login_per_mobile=2, login_per_mobile_total=4)])
async def test_the_account_takes_at_most_login_per_mobile_total_failures(app, proxied):
    owner = await make_user(app)
    c = proxied()
    for ip in (ATTACKER, ATTACKER, OTHER_1, OTHER_2):
        assert (await login(c, owner["mobile"], WRONG, ip)).code == 400
    # The budget is spent: a fresh address is refused too, until failures slide out.
    assert retry_after(await login(c, owner["mobile"], PASSWORD, OTHER_3)) > 800
    await age(app, "login:mobile", owner["mobile"], 901)
    assert (await login(c, owner["mobile"], PASSWORD, OTHER_3)).code == 302


@pytest.mark.gen_test(timeout=60)
async def test_the_owners_own_typos_are_forgiven_by_the_right_password(app, proxied):
    owner = await make_user(app)
    attacker, home = proxied(), proxied()
    for _ in range(2):
        await login(attacker, owner["mobile"], WRONG, ATTACKER)
    for _ in range(2):
        assert (await login(home, owner["mobile"], WRONG, OWNER_HOME)).code == 400
    assert (await login(home, owner["mobile"], PASSWORD, OWNER_HOME)).code == 302
    limiter = RateLimiter(app.redis)
    # The owner's two failures went; the attacker's two stay.
    assert await limiter.peek("login:mobile", owner["mobile"], 900) == 2
    assert await limiter.peek("login:ip", OWNER_HOME, 900) == 0
    assert await limiter.peek("login:ip", ATTACKER, 900) == 2


# -- per address: back-off ---------------------------------------------------------

BACKOFF = Limits(login_per_ip=2, login_ip_backoff=100, login_ip_backoff_cap=400, login_per_mobile=50,
                 login_per_mobile_total=50, login_window=3600)


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("limits", [BACKOFF])
async def test_address_back_off_doubles_is_capped_and_resets_on_success(app, proxied):
    owner = await make_user(app)
    c = proxied()
    for _ in range(2):  # the free allowance
        assert (await login(c, owner["mobile"], WRONG, ATTACKER)).code == 400
    waits = []
    for expected in (100, 200, 400, 400):  # doubling, then the cap
        wait = retry_after(await login(c, owner["mobile"], WRONG, ATTACKER))
        assert expected / 2 < wait <= expected
        waits.append(wait)
        # Half the wait later: still refused; a refused attempt does not extend it.
        await age(app, "login:ip", ATTACKER, expected / 2)
        assert retry_after(await login(c, owner["mobile"], WRONG, ATTACKER)) <= expected / 2
        await age(app, "login:ip", ATTACKER, expected / 2 + 1)
        assert (await login(c, owner["mobile"], WRONG, ATTACKER)).code == 400
    assert waits[0] < waits[1] < waits[2]
    # Another address is not slowed down by this one.
    assert (await login(proxied(), next_mobile(), WRONG, OTHER_1)).code == 400
    # The right password (once the wait is over) forgives this address's failures for this
    # account: the free allowance is back.
    await age(app, "login:ip", ATTACKER, 401)
    assert (await login(c, owner["mobile"], PASSWORD, ATTACKER)).code == 302
    c2 = proxied()
    for _ in range(2):
        assert (await login(c2, owner["mobile"], WRONG, ATTACKER)).code == 400
    assert 50 < retry_after(await login(c2, owner["mobile"], WRONG, ATTACKER)) <= 100


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("limits", [BACKOFF])
async def test_logging_in_to_ones_own_account_does_not_wash_away_guesses_at_others(app, proxied):
    mine = await make_user(app)
    c = proxied()
    for _ in range(2):
        assert (await login(c, next_mobile(), WRONG, ATTACKER)).code == 400
    retry_after(await login(c, next_mobile(), WRONG, ATTACKER))
    await age(app, "login:ip", ATTACKER, 101)
    assert (await login(c, mine["mobile"], PASSWORD, ATTACKER)).code == 302
    # The two guesses at other accounts still count: the next failure waits again.
    assert (await login(proxied(), next_mobile(), WRONG, ATTACKER)).code == 400
    assert 100 < retry_after(await login(proxied(), next_mobile(), WRONG, ATTACKER)) <= 200


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("limits", [BACKOFF])
async def test_parallel_failures_past_the_allowance_cannot_outrun_the_back_off(app, proxied):
    clients = [proxied() for _ in range(8)]
    for c in clients:
        await c.xsrf_token()
    responses = await asyncio.gather(*(login(c, next_mobile(), WRONG, ATTACKER) for c in clients))
    # The two free ones; the third would have to come 100 s after the second.
    assert sorted(r.code for r in responses) == [400] * 2 + [429] * 6


# -- the limiter itself, on a fake clock -----------------------------------------------

class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.gen_test
async def test_backoff_waits_exactly_on_a_fake_clock(app):
    clock = FakeClock()
    limiter = RateLimiter(app.redis, clock=clock)

    async def attempt(tag="m"):
        return await limiter.backoff("t:ip", "a", 1, 600, 10, 35, tag=tag)

    assert (await attempt()).allowed
    refused = await attempt()
    assert not refused.allowed and refused.retry_after == 10
    clock.now += 9.5
    assert (await attempt()).retry_after == 1  # 0.5 s left, rounded up
    clock.now += 0.5
    assert (await attempt()).allowed
    assert (await attempt()).retry_after == 20
    clock.now += 20
    assert (await attempt("other")).allowed
    assert (await attempt()).retry_after == 35  # 40 capped at 35
    # Forgiving one tag takes only its attempts away.
    assert await limiter.forgive("t:ip", "a", "m") == 2
    assert await limiter.peek("t:ip", "a", 600) == 1
    # Attempts slide out of the window and the wait shrinks with them.
    clock.now += 601
    assert (await attempt()).allowed
    # An allowance of 0 switches the back-off off and records nothing.
    assert all([(await limiter.backoff("t:ip", "b", 0, 600, 10, 35)).allowed for _ in range(3)])
    assert await app.redis.exists(limiter_key("t:ip", "b")) == 0


@pytest.mark.gen_test
async def test_clean_limit_applies_only_to_tags_without_attempts(app):
    clock = FakeClock()
    limiter = RateLimiter(app.redis, clock=clock)

    async def attempt(tag):
        return await limiter.acquire("t:m", "x", 2, 600, tag=tag, clean_limit=3)

    assert (await attempt("a")).allowed and (await attempt("a")).allowed
    refused = await attempt("a")
    assert not refused.allowed and refused.limit == 2 and refused.retry_after == 600
    assert (await attempt("b")).allowed  # a clean tag, and the clean limit not reached
    assert not (await attempt("b")).allowed  # no longer clean
    assert not (await attempt("c")).allowed  # clean, but the clean limit of 3 is spent
    clock.now += 601
    assert (await attempt("a")).allowed
