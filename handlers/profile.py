"""Profile and account security: name, avatar, password, real-name verification, sessions.

Routes (all need a logged-in user):

- ``GET,POST /profile`` (``name``) · ``POST /profile/avatar`` (file ``avatar``) ·
  ``POST /profile/password`` (``old_password``, ``new_password``, optional ``new_password2``)
- ``GET,POST /profile/auth`` (``real_name``, ``id_card``): write-once real-name verification
- ``GET,POST /profile/sessions``: the user's live sessions; POST ``revoke`` = ``others``
  or one row's short id logs those sessions out
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import re
import unicodedata

import tornado.web

from handlers.base import BaseHandler, PageError, safe_next
from handlers.uploads import StreamedUploadHandler, UploadedFile
from models import houses as houses_model
from models import login_events
from models import profile as profile_model
from models import revocations
from models import users as users_model
from services.crypto import DataKeyError
from services.idcard import mask_id_card, normalise_id_card, validate_id_card
from services.images import ImageError
from services.passwords import check_password, hash_password, password_problem
from services.ratelimit import RateLimiter, too_many_message

log = logging.getLogger("ihome.handlers.profile")

NAME_MIN, NAME_MAX = 2, 32
REAL_NAME_MIN, REAL_NAME_MAX = 2, 32
# Separators that appear in names on ID cards: the middle dot of minority and
# transliterated names (阿卜杜勒·艾山), and the look-alikes people type for it.
_NAME_DOTS = "·•・."


def clean_text(value: str) -> str:
    """*value* in Unicode NFC with surrounding spaces removed and inner runs of spaces made one."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", value or "")).strip()


def name_problem(name: str, current_name: str) -> str | None:
    """Why *name* (already :func:`clean_text`-ed) cannot be a display name, or None.

    2–32 characters, no control or invisible formatting characters, and not all
    digits: names are public and an all-digit one reads as a mobile number (an
    unchanged *current_name* from before that rule is left alone).
    """
    if not NAME_MIN <= len(name) <= NAME_MAX:
        return f"名字长度须为 {NAME_MIN}–{NAME_MAX} 个字符"
    if any(unicodedata.category(c)[0] == "C" for c in name):
        return "名字不能包含控制字符或不可见字符"
    if name.isdigit() and name != current_name:
        return "名字不能全是数字，以免与手机号混淆"
    return None


def real_name_problem(real_name: str) -> str | None:
    """Why *real_name* (cleaned) is not a name as written on an ID card, or None."""
    if not REAL_NAME_MIN <= len(real_name) <= REAL_NAME_MAX:
        return f"请输入身份证上的姓名（{REAL_NAME_MIN}–{REAL_NAME_MAX} 个字）"
    if not all(c.isalpha() or c in _NAME_DOTS or c == " " for c in real_name):
        return "姓名只能包含文字、空格和间隔号“·”"
    return None


def session_id(token: str) -> str:
    """A short, stable, non-reversible id of a session token, for pages and forms."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


_OS_PATTERNS = (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("HarmonyOS", "鸿蒙"),
                ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))
# Order matters: Edge and WeChat also say Chrome and Safari, Chrome also says Safari.
_BROWSER_PATTERNS = (("MicroMessenger", "微信"), ("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
                     ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"),
                     ("curl/", "curl"), ("python", "Python"))


def describe_user_agent(user_agent: str) -> str:
    """A short device description such as "Chrome · Windows" from a User-Agent header."""
    ua = user_agent or ""
    browser = next((label for pattern, label in _BROWSER_PATTERNS if pattern in ua), None)
    system = next((label for pattern, label in _OS_PATTERNS if pattern in ua), None)
    parts = [p for p in (browser, system) if p]
    if parts:
        return " · ".join(parts)
    return ua[:60] or "未知设备"


def format_time(unix_seconds: float) -> str:
    """Local time of *unix_seconds* as "YYYY-MM-DD HH:MM"."""
    return datetime.datetime.fromtimestamp(unix_seconds).strftime("%Y-%m-%d %H:%M")


class ProfileBase(BaseHandler):
    """Shared rendering and cache upkeep of the profile pages."""

    async def render_profile(self, status: int = 200, errors: dict | None = None,
                             form: dict | None = None) -> None:
        """The profile page (name, avatar, password) with per-field *errors* and a *status*."""
        user = self.current_user
        self.set_status(status)
        self.render("profile/index.html", user=user, errors=errors or {},
                    form=form or {"name": user.name})

    async def refresh_listings(self) -> None:
        """Drop the cached pages of the user's listings: they show the host's name and avatar."""
        await self.cache.invalidate_houses(
            [house["id"] for house in await houses_model.by_owner(self.db, self.current_user.id)])


class ProfileHandler(ProfileBase):
    """GET,POST /profile: see the profile, change the display name."""

    @tornado.web.authenticated
    async def get(self) -> None:
        await self.render_profile()

    @tornado.web.authenticated
    async def post(self) -> None:
        user = self.current_user
        name = clean_text(self.arg("name", 200))
        if problem := name_problem(name, user.name):
            await self.render_profile(400, {"name": problem}, {"name": name})
            return
        if name != user.name:
            try:
                await profile_model.set_name(self.db, user.id, name)
            except profile_model.NameTaken:
                await self.render_profile(400, {"name": "这个名字已被其他用户使用"}, {"name": name})
                return
            await self.refresh_listings()
        self.flash("名字已保存")
        self.redirect("/profile")


class AvatarHandler(StreamedUploadHandler, ProfileBase):
    """POST /profile/avatar: upload a new avatar (file ``avatar``), cropped square.

    Streamed (handlers/uploads.py): the session and XSRF token are checked before
    the body is read; one file within the image store's byte limit, decoded
    under the avatar's (small) decoded-bytes limit.
    """

    upload_field = "avatar"
    max_files = 1

    async def refuse_upload(self, message: str, status: int = 400) -> None:
        await self.render_profile(status, {"avatar": message})

    async def handle_upload(self, files: list[UploadedFile]) -> None:
        if not files or not files[0].size:
            await self.render_profile(400, {"avatar": "请选择一张图片"})
            return
        try:
            stored = await self.images.save(files[0].path, square=True)
        except ImageError as exc:
            await self.render_profile(400, {"avatar": str(exc)})
            return
        try:
            old_key = await profile_model.set_avatar(self.db, self.current_user.id, stored.key)
        except BaseException:
            await self.images.delete(stored.key)  # no file without its row
            raise
        # The row points at the new picture for good before the old files go;
        # from here on the avatar has changed, so a disk error is only logged.
        if old_key and old_key != stored.key:
            try:
                await self.images.delete(old_key)
            except (OSError, ValueError):
                log.exception("could not remove the old avatar's files")
        await self.refresh_listings()
        self.flash("头像已更新")
        self.redirect("/profile")


class PasswordHandler(ProfileBase):
    """POST /profile/password: change the password; every other session is logged out.

    Wrong current passwords are throttled per account like logins
    (login_per_mobile attempts per login_window), so a borrowed session cannot
    be used to guess the password.
    """

    @tornado.web.authenticated
    async def post(self) -> None:
        user = self.current_user
        old = self.get_argument("old_password", "", strip=False)[:200]
        new = self.get_argument("new_password", "", strip=False)[:200]
        confirm = self.get_argument("new_password2", None, strip=False)
        errors: dict[str, str] = {}
        if not old:
            errors["old_password"] = "请输入当前密码"
        if problem := password_problem(new):
            errors["new_password"] = problem
        elif confirm is not None and confirm[:200] != new:
            errors["new_password2"] = "两次输入的新密码不一致"
        elif new == old:
            errors["new_password"] = "新密码不能与当前密码相同"
        if errors:
            await self.render_profile(400, errors)
            return
        limits = self.config.limits
        limiter = RateLimiter(self.redis)
        attempt = await limiter.acquire("password:user", str(user.id), limits.login_per_mobile,
                                        limits.login_window)
        if not attempt.allowed:
            self.set_header("Retry-After", str(attempt.retry_after))
            await self.render_profile(429, {"old_password": too_many_message(attempt)})
            return
        # The one place besides login that reads the hash, and only for this check.
        current_hash = await users_model.password_hash_of(self.db, user.id)
        if not await check_password(old, current_hash, rounds=self.config.bcrypt_rounds):
            await self.render_profile(400, {"old_password": "当前密码不正确"})
            return
        await limiter.reset("password:user", str(user.id))
        password_hash = await hash_password(new, self.config.bcrypt_rounds)
        async with self.db.transaction() as tx:
            await profile_model.set_password_hash(tx, user.id, password_hash)
            # Durable with the new password: a Redis restored from an old snapshot
            # cannot bring the sessions ended below back.
            await revocations.revoke_all_sessions(tx, user.id)
        # Whoever else holds a session (maybe whoever knew the old password) is
        # out; this browser continues under a brand-new token.
        was_admin = bool(self.current_session and self.current_session.is_admin)
        await self.sessions.revoke_user(user.id, after_commit=True)
        await self.start_session(user, is_admin=was_admin, after_commit=True)
        self.flash("密码已修改，其他设备上的登录已全部退出")
        self.redirect("/profile")


class RealNameHandler(ProfileBase):
    """GET,POST /profile/auth: verify the real name and ID card number, once and for good.

    The number is stored encrypted (models/profile.py); this page decrypts it
    only to show its mask. When it does not decrypt (a wrong IHOME_DATA_KEY;
    the server also refuses to start then) the error is logged and the page
    still says the account is verified, without the number.
    """

    async def show(self, status: int = 200, errors: dict | None = None, form: dict | None = None) -> None:
        user = self.current_user
        real_name = masked = None
        if user.verified:
            try:
                found = await profile_model.verification(self.db, user.id, self.application.cipher)
            except DataKeyError:
                log.exception("the ID card of user %s does not decrypt", user.id)
                found, masked = None, "（无法显示）"
            if found is not None:
                real_name, masked = found.real_name, mask_id_card(found.id_card)
        self.set_status(status)
        self.render("profile/auth.html", user=user, errors=errors or {}, form=form or {},
                    verified=user.verified, real_name=real_name, masked_id_card=masked,
                    next=safe_next(self.get_argument("next", None), ""))

    @tornado.web.authenticated
    async def get(self) -> None:
        await self.show()

    @tornado.web.authenticated
    async def post(self) -> None:
        user = self.current_user
        if user.verified:
            await self.show(409, {"form": "实名认证已完成，认证信息不能修改"})
            return
        real_name = clean_text(self.arg("real_name", 100))
        id_card = normalise_id_card(self.arg("id_card", 40))
        errors: dict[str, str] = {}
        if problem := real_name_problem(real_name):
            errors["real_name"] = problem
        if problem := validate_id_card(id_card):
            errors["id_card"] = problem
        if errors:
            await self.show(400, errors, {"real_name": real_name, "id_card": id_card})
            return
        if not await profile_model.set_real_name(self.db, user.id, real_name, id_card,
                                                 self.application.cipher):
            # Another request verified this account in the meantime.
            await self.show(409, {"form": "实名认证已完成，认证信息不能修改"})
            return
        self.flash("实名认证成功")
        self.redirect(safe_next(self.get_argument("next", None), "/profile/auth"))


class SessionsHandler(ProfileBase):
    """GET /profile/sessions: live sessions with device, IP, location, last seen; recent logins.

    POST ``revoke=others`` logs out every session but this one; ``revoke=<id>``
    logs out the one session with that short id.
    """

    @tornado.web.authenticated
    async def get(self) -> None:
        user = self.current_user
        sessions = await self.sessions.list_for_user(user.id)
        events = await login_events.for_user(self.db, user.id, 10)
        locator = self.application.locator
        ips = {s.ip for s in sessions if s.ip}
        # One parallel round of lookups for all the addresses on the page.
        located = await locator.locate_many(ips) if locator is not None and ips else {}
        current = self.current_session.token if self.current_session else None
        rows = [{
            "id": session_id(s.token),
            "current": s.token == current,
            "device": describe_user_agent(s.user_agent),
            "user_agent": s.user_agent,
            "ip": s.ip,
            "location": located[s.ip].label() if s.ip in located else "未知",
            "last_seen": format_time(s.last_seen),
            "created_at": format_time(s.created_at),
            "is_admin": s.is_admin,
        } for s in sessions]
        rows.sort(key=lambda r: not r["current"])  # this browser first, then most recent
        self.render("profile/sessions.html", rows=rows, events=events, describe=describe_user_agent)

    @tornado.web.authenticated
    async def post(self) -> None:
        user = self.current_user
        target = self.arg("revoke", 40)
        current = self.current_session.token if self.current_session else None
        if target == "others":
            count = await self.sessions.revoke_user(user.id, keep_token=current)
            self.flash(f"已退出其他 {count} 个登录" if count else "没有其他设备登录", "info")
            self.redirect("/profile/sessions")
            return
        for session in await self.sessions.list_for_user(user.id):
            if session_id(session.token) == target:
                if session.token == current:
                    raise PageError(400, "要退出当前设备，请使用“退出登录”")
                await self.sessions.delete(session)
                self.flash("已退出该设备上的登录", "info")
                self.redirect("/profile/sessions")
                return
        raise PageError(404, "该登录已失效或不存在")
