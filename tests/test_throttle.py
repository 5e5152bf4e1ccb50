"""Login throttling, sign-up and captcha rate limits, login_events, and the limit settings.

Everything runs against the real Redis (limits) and MariaDB (login_events). The
per-mobile login limit keeps its default (5 per 15 minutes); the per-address
limits are set low in this module's ``settings`` so the tests stay quick.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path

import pytest

from config import ConfigError, Limits, load_settings
from handlers.base import SESSION_COOKIE
from services.ratelimit import RateLimiter, limiter_key
from tests.utils.client import text
from tests.utils.factories import PASSWORD, make_user, next_mobile

ROOT = Path(__file__).resolve().parent.parent
WRONG = "Wrong#pass999"
IP_LIMIT = 12  # above the 5 + 5 failures of one test, below the default 20 to keep tests quick


@pytest.fixture
def settings(base_settings):
    return base_settings.replace(limits=Limits(login_per_ip=IP_LIMIT, register_per_ip=3, captcha_per_ip=4))


async def login(client, mobile: str, password: str):
    return await client.post("/login", {"mobile": mobile, "password": password})


async def age_attempts(app, key: str, seconds: float) -> None:
    """Move every attempt recorded under *key* *seconds* into the past (as if time passed)."""
    entries = await app.redis.zrange(key, 0, -1, withscores=True)
    await app.redis.zadd(key, {member: score - seconds * 1000 for member, score in entries})


def assert_throttled(response, window: int = 900):
    assert response.code == 429
    body = text(response)
    assert re.search(r"尝试次数过多，请在 \d+ 分钟后再试", body), body[:1500]
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= window
    return retry_after


# -- defaults and configuration ------------------------------------------------

def test_default_limits_match_the_issue():
    limits = Limits()
    assert (limits.login_per_mobile, limits.login_per_ip, limits.login_window) == (5, 20, 900)


def test_limits_are_overridable_from_the_environment():
    settings = load_settings({"IHOME_ENV": "test", "IHOME_LIMIT_LOGIN_PER_MOBILE": "3",
                              "IHOME_LIMIT_CAPTCHA_WINDOW": "30"})
    assert settings.limits.login_per_mobile == 3 and settings.limits.captcha_window == 30
    assert settings.limits.login_per_ip == 20
    with pytest.raises(ConfigError):
        load_settings({"IHOME_ENV": "test", "IHOME_LIMIT_LOGIN_PER_IP": "many"})


def test_readme_lists_every_limit():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## 限流 / Rate limits", 1)[1]
    for f in dataclasses.fields(Limits):
        name = f"IHOME_LIMIT_{f.name.upper()}"
        assert re.search(rf"`{name}` \| {f.default} \|", section), name


# -- the limiter itself --------------------------------------------------------

@pytest.mark.gen_test
async def test_limiter_window_refund_reset_and_off(app):
    limiter = RateLimiter(app.redis)
    first = await limiter.acquire("t", "x", 2, 60)
    second = await limiter.acquire("t", "x", 2, 60)
    third = await limiter.acquire("t", "x", 2, 60)
    assert first.allowed and second.allowed and (first.count, second.count) == (1, 2)
    assert not third.allowed and third.count == 2 and 58 <= third.retry_after <= 60
    assert await limiter.peek("t", "x", 60) == 2  # the refused attempt was not recorded
    await limiter.refund(second)
    assert (await limiter.acquire("t", "x", 2, 60)).allowed
    await limiter.reset("t", "x")
    assert await app.redis.exists(limiter_key("t", "x")) == 0
    # The window slides: once the oldest attempt is older than the window, one more fits.
    await limiter.acquire("t", "y", 1, 60)
    assert not (await limiter.acquire("t", "y", 1, 60)).allowed
    await age_attempts(app, limiter_key("t", "y"), 61)
    assert (await limiter.acquire("t", "y", 1, 60)).allowed
    # 0 switches a limit off and records nothing.
    assert all([(await limiter.acquire("t", "z", 0, 60)).allowed for _ in range(5)])
    assert await app.redis.exists(limiter_key("t", "z")) == 0
    assert 0 < await app.redis.pttl(limiter_key("t", "y")) <= 60_000


# -- login ---------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_five_failures_for_a_mobile_then_429(client, app):
    user = await make_user(app)
    for _ in range(5):
        response = await login(client, user["mobile"], WRONG)
        assert response.code == 400 and "手机号或密码错误" in text(response)
    refused = await login(client, user["mobile"], WRONG)
    retry_after = assert_throttled(refused)
    assert "15 分钟后再试" in text(refused) and retry_after > 890
    # Even the right password waits now, and the form is shown again with the message.
    right = await login(client, user["mobile"], PASSWORD)
    assert_throttled(right)
    assert 'id="login-form"' in text(right) and SESSION_COOKIE not in client.cookies
    # Another account from the same address is not affected by this mobile's counter.
    other = await make_user(app)
    assert (await login(client, other["mobile"], PASSWORD)).code == 302
    # Every attempt was recorded, the refused ones as failures.
    events = await app.db.query("SELECT success FROM login_events WHERE user_id = %s ORDER BY id", user["id"])
    assert [e["success"] for e in events] == [0] * 7


@pytest.mark.gen_test(timeout=30)
async def test_throttle_lifts_when_the_window_has_passed(client, app):
    user = await make_user(app)
    for _ in range(5):
        assert (await login(client, user["mobile"], WRONG)).code == 400
    assert_throttled(await login(client, user["mobile"], PASSWORD))
    await age_attempts(app, limiter_key("login:mobile", user["mobile"]), 901)
    assert (await login(client, user["mobile"], PASSWORD)).code == 302


@pytest.mark.gen_test(timeout=30)
async def test_success_resets_the_account_counter(client, app):
    user = await make_user(app)
    for _ in range(4):
        assert (await login(client, user["mobile"], WRONG)).code == 400
    assert (await login(client, user["mobile"], PASSWORD)).code == 302
    assert await app.redis.exists(limiter_key("login:mobile", user["mobile"])) == 0
    for _ in range(5):  # a fresh allowance of five
        assert (await login(client, user["mobile"], WRONG)).code == 400
    assert_throttled(await login(client, user["mobile"], WRONG))


@pytest.mark.gen_test(timeout=30)
async def test_failures_from_one_address_then_429(client, app):
    # Different (unknown) mobiles, so only the per-address limit can trigger.
    for _ in range(IP_LIMIT):
        assert (await login(client, next_mobile(), WRONG)).code == 400
    assert_throttled(await login(client, next_mobile(), WRONG))
    user = await make_user(app)
    assert_throttled(await login(client, user["mobile"], PASSWORD))
    assert await app.db.scalar("SELECT COUNT(*) FROM login_events WHERE ip = '127.0.0.1'") == IP_LIMIT + 2


@pytest.mark.gen_test(timeout=30)
async def test_successful_logins_do_not_use_up_the_address_limit(client, app):
    user = await make_user(app)
    for _ in range(IP_LIMIT + 2):
        assert (await login(client, user["mobile"], PASSWORD)).code == 302
    assert await RateLimiter(app.redis).peek("login:ip", "127.0.0.1", 900) == 0


@pytest.mark.gen_test(timeout=30)
async def test_parallel_guesses_cannot_outrun_the_limit(new_client, app):
    user = await make_user(app)
    clients = [new_client() for _ in range(10)]
    for c in clients:
        await c.xsrf_token()
    responses = await asyncio.gather(*(login(c, user["mobile"], WRONG) for c in clients))
    codes = sorted(r.code for r in responses)
    assert codes == [400] * 5 + [429] * 5


@pytest.mark.gen_test(timeout=30)
async def test_login_events_record_every_attempt(client, app):
    user = await make_user(app)
    await login(client, user["mobile"], WRONG)
    await login(client, user["mobile"], PASSWORD)
    unknown = next_mobile()
    await login(client, unknown, PASSWORD)
    await login(client, "not-a-mobile", PASSWORD)
    rows = await app.db.query("SELECT * FROM login_events ORDER BY id")
    assert [(r["user_id"], r["mobile"], r["success"]) for r in rows] == [
        (user["id"], user["mobile"], 0), (user["id"], user["mobile"], 1), (None, unknown, 0), (None, None, 0)]
    for row in rows:
        assert row["ip"] == "127.0.0.1" and row["location"] == "本机"
        assert row["user_agent"] == "ihome-tests" and row["is_admin_login"] == 0


@pytest.mark.gen_test(timeout=30)
async def test_disabled_account_login_is_recorded_as_failure(client, app):
    user = await make_user(app, active=False)
    assert (await login(client, user["mobile"], PASSWORD)).code == 403
    assert await app.db.scalar("SELECT success FROM login_events WHERE user_id = %s", user["id"]) == 0


# -- sign-up and captcha -------------------------------------------------------

@pytest.mark.gen_test
async def test_register_is_limited_per_address(client, app):
    for _ in range(3):
        response = await client.post("/register", {"mobile": next_mobile(), "password": "x",
                                                   "password2": "x", "captcha_id": "", "captcha": ""})
        assert response.code == 400
    refused = await client.post("/register", {"mobile": next_mobile(), "password": "Good#pass123",
                                              "password2": "Good#pass123", "captcha_id": "", "captcha": ""})
    assert assert_throttled(refused, 3600) > 3500
    assert await app.db.scalar("SELECT COUNT(*) FROM users") == 0


@pytest.mark.gen_test
async def test_captcha_is_limited_per_address(client, app):
    for i in range(4):
        image = await client.get(f"/captcha/abcdefghijklmnop{i:02d}.png")
        assert image.code == 200 and image.body.startswith(b"\x89PNG")
    refused = await client.get("/captcha/abcdefghijklmnop99.png")
    assert assert_throttled(refused, 600) > 500
    assert await app.redis.get("captcha:abcdefghijklmnop99") is None


# -- changing the password from the profile ------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_wrong_current_password_is_throttled_per_account(client, app, login):
    user = await make_user(app)
    await login(client, user)
    form = {"old_password": WRONG, "new_password": "Brand#new2025", "new_password2": "Brand#new2025"}
    for _ in range(5):
        response = await client.post("/profile/password", form)
        assert response.code == 400 and "当前密码不正确" in text(response)
    refused = await client.post("/profile/password", {**form, "old_password": PASSWORD})
    assert refused.code == 429 and "分钟后再试" in text(refused)
    assert await app.db.scalar("SELECT password_hash FROM users WHERE id = %s", user["id"]) == user["password_hash"]
