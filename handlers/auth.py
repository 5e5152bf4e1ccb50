"""Sign-up with an image captcha, login and logout."""

from __future__ import annotations

import re

from handlers.base import BaseHandler, PageError, safe_next
from handlers.profile import clean_text, name_problem
from models import login_events, users
from services.captcha import new_captcha_id, valid_captcha_id
from services.passwords import check_password, hash_password, password_problem
from services.ratelimit import Attempt, RateLimiter, too_many_message

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
BAD_CREDENTIALS = "手机号或密码错误"
NAME_TAKEN = "这个名字已被其他用户使用"


def mobile_problem(mobile: str) -> str | None:
    """Why *mobile* is not an 11-digit mainland mobile number, or None."""
    return None if MOBILE_RE.match(mobile) else "请输入 11 位中国大陆手机号"


def refuse_too_many(handler: BaseHandler, attempt: Attempt) -> None:
    """Answer 429 with a Retry-After header and the styled page saying when to retry."""
    handler.set_status(429)
    handler.set_header("Retry-After", str(attempt.retry_after))
    handler.render("error.html", status_code=429, message=too_many_message(attempt))


class RegisterHandler(BaseHandler):
    """GET shows the sign-up form; POST creates the account and logs it in.

    The display name (``name``) is chosen here, under the profile page's rules
    (handlers/profile.py name_problem), so reviews and listings show it from the start.
    """

    def show(self, status: int = 200, errors: dict | None = None) -> None:
        self.set_status(status)
        self.render("auth/register.html", errors=errors or {},
                    form={"mobile": self.arg("mobile", 11), "name": clean_text(self.arg("name", 200))},
                    captcha_id=new_captcha_id(),
                    next=safe_next(self.get_argument("next", None)))

    async def get(self) -> None:
        if self.current_user:
            self.redirect("/")
            return
        self.show()

    async def post(self) -> None:
        # Counted per address before anything else: every sign-up attempt (a
        # captcha guess included) uses up one of the IP's register_per_ip.
        limits = self.config.limits
        attempt = await RateLimiter(self.redis).acquire(
            "register:ip", self.client_ip, limits.register_per_ip, limits.register_window)
        if not attempt.allowed:
            refuse_too_many(self, attempt)
            return
        mobile = self.arg("mobile", 20)
        password = self.get_argument("password", "", strip=False)[:200]
        password2 = self.get_argument("password2", "", strip=False)[:200]
        captcha_id = self.arg("captcha_id", 64)
        name = clean_text(self.arg("name", 200))
        errors: dict[str, str] = {}
        if problem := name_problem(name, ""):
            errors["name"] = problem
        if problem := mobile_problem(mobile):
            errors["mobile"] = problem
        if problem := password_problem(password):
            errors["password"] = problem
        elif password2 != password:
            errors["password2"] = "两次输入的密码不一致"
        # The answer is consumed on every attempt, right or wrong: no replay.
        if not valid_captcha_id(captcha_id) or not await self.application.captcha.check(
                captcha_id, self.arg("captcha", 10)):
            errors["captcha"] = "图片验证码错误或已过期，请重新输入"
        # Whether the mobile or the name is taken is only told past the captcha; both at once.
        if not errors:
            if await users.id_of_mobile(self.db, mobile) is not None:
                errors["mobile"] = "该手机号已注册，请直接登录"
            if await users.name_taken(self.db, name):
                errors["name"] = NAME_TAKEN
        if errors:
            self.show(400, errors)
            return
        password_hash = await hash_password(password, self.config.bcrypt_rounds)
        try:
            user_id = await users.create(self.db, mobile, password_hash, name=name)
        except users.MobileTaken:  # a concurrent sign-up with the same mobile won
            self.show(400, {"mobile": "该手机号已注册，请直接登录"})
            return
        except users.NameTaken:  # a concurrent sign-up or rename took the name
            self.show(400, {"name": NAME_TAKEN})
            return
        await self.start_session(await users.get_current(self.db, user_id))
        self.flash("注册成功，欢迎来到爱家！")
        self.redirect_next("/")


class CaptchaHandler(BaseHandler):
    """GET /captcha/<captcha_id>.png: a fresh captcha image for that id."""

    async def get(self, captcha_id: str) -> None:
        limits = self.config.limits
        attempt = await RateLimiter(self.redis).acquire(
            "captcha:ip", self.client_ip, limits.captcha_per_ip, limits.captcha_window)
        if not attempt.allowed:
            refuse_too_many(self, attempt)
            return
        try:
            png = await self.application.captcha.image(captcha_id)
        except ValueError:
            raise PageError(404, "验证码不存在")
        self.set_header("Content-Type", "image/png")
        self.set_header("Cache-Control", "no-store")
        self.finish(png)


class LoginHandler(BaseHandler):
    """GET shows the login form; POST checks the password and starts a new session.

    The admin login page subclasses this and sets ``admin_login = True``; both
    go through :meth:`authenticate`, the one place that checks credentials,
    throttles and records attempts.
    """

    template = "auth/login.html"
    # True on the admin login page: recorded as login_events.is_admin_login.
    admin_login = False

    def show(self, status: int = 200, errors: dict | None = None) -> None:
        self.set_status(status)
        self.render(self.template, errors=errors or {}, form={"mobile": self.arg("mobile", 11)},
                    next=safe_next(self.get_argument("next", None)))

    async def get(self) -> None:
        self.show()

    async def authenticate(self) -> users.CurrentUser | None:
        """The user whose mobile and password were posted, or None (after showing the form).

        Throttled in Redis (config.Limits, policy in README.md "限流 / Rate limits"):

        * per address, exponential back-off: login_per_ip failures per
          login_window are free, each further one must wait twice as long after
          the previous one (login_ip_backoff seconds first, login_ip_backoff_cap
          at most);
        * per account: once the mobile has login_per_mobile failures in the
          window, addresses that have failed for it are refused, while an address
          that has not still has its password checked, up to
          login_per_mobile_total failures in all — an attacker cannot lock the
          owner out from elsewhere.

        A refusal is a 429 with Retry-After. A correct password gives its
        reservations back and forgets this address's failures for this account.
        Every attempt, refused or not, is recorded in login_events.
        """
        mobile = self.arg("mobile", 20)
        password = self.get_argument("password", "", strip=False)[:200]
        errors: dict[str, str] = {}
        if problem := mobile_problem(mobile):
            errors["mobile"] = problem
        if not password:
            errors["password"] = "请输入密码"
        if errors:
            # Nothing that could match an account was tried, so nothing is counted. Both
            # fields are named at once; a wrong pair is only ever "手机号或密码错误".
            await self.record_login(None, None if "mobile" in errors else mobile, False)
            self.show(400, errors)
            return None
        limits = self.config.limits
        limiter = RateLimiter(self.redis)
        ip = self.client_ip
        # Reserve the attempt before bcrypt runs, so parallel guesses cannot all
        # slip past the check before the first failure is counted. Each counter's
        # entries carry the other subject as their tag: the address's record which
        # mobile failed, the mobile's record from which address.
        refused = by_mobile = None
        by_ip = await limiter.backoff("login:ip", ip, limits.login_per_ip, limits.login_window,
                                      limits.login_ip_backoff, limits.login_ip_backoff_cap, tag=mobile)
        if not by_ip.allowed:
            refused = by_ip
        else:
            by_mobile = await limiter.acquire("login:mobile", mobile, limits.login_per_mobile,
                                              limits.login_window, tag=ip,
                                              clean_limit=limits.login_per_mobile_total)
            if not by_mobile.allowed:
                await limiter.refund(by_ip)  # no password was tried
                refused = by_mobile
        if refused is not None:
            await self.record_login(await users.id_of_mobile(self.db, mobile), mobile, False)
            self.set_header("Retry-After", str(refused.retry_after))
            self.show(429, {"form": too_many_message(refused)})
            return None
        found = await users.get_login(self.db, mobile)
        user, password_hash = found if found else (None, None)
        # Check against a dummy hash when the mobile is unknown: same time, same message.
        ok = await check_password(password, password_hash, rounds=self.config.bcrypt_rounds)
        if not ok:
            await self.record_login(user.id if user else None, mobile, False)
            self.show(400, {"form": BAD_CREDENTIALS})
            return None
        # The right password is not a failed attempt, and this address's earlier
        # failures for this account were the owner's own typos: forgiving the tag
        # removes both (this attempt's reservations carry the same tags). Failures
        # from other addresses, and this address's failures on other accounts, stay.
        await limiter.forgive("login:mobile", mobile, ip)
        await limiter.forgive("login:ip", ip, mobile)
        refusal = self.refusal(user)
        if refusal is not None:
            # The right password but this page will not let the account in: a failed login.
            await self.record_login(user.id, mobile, False)
            self.show(403, {"form": refusal})
            return None
        await self.record_login(user.id, mobile, True)
        return user

    def refusal(self, user: users.CurrentUser) -> str | None:
        """Why *user*, whose password was right, may not log in here (a message), or None."""
        if not user.is_active:
            return "该账号已被管理员停用，如有疑问请联系客服"
        return None

    async def record_login(self, user_id: int | None, mobile: str | None, success: bool) -> None:
        """Write one login_events row for this request, with the client address's location."""
        locator = self.application.locator
        location = (await locator.locate(self.client_ip)).label() if locator is not None else None
        await login_events.record(
            self.db, user_id=user_id, mobile=mobile, ip=self.client_ip,
            location=location, user_agent=self.request.headers.get("User-Agent", ""), success=success,
            is_admin_login=self.admin_login)

    async def post(self) -> None:
        user = await self.authenticate()
        if user is None:
            return
        await self.start_session(user)
        self.flash("登录成功")
        self.redirect_next("/")


class LogoutHandler(BaseHandler):
    """POST /logout: end the session."""

    async def post(self) -> None:
        await self.end_session()
        self.flash("已退出登录", "info")
        self.redirect("/")
