"""BaseHandler: what every page shares — the session, the user, errors, messages.

The user is loaded in :meth:`BaseHandler.prepare` (``get_current_user`` cannot be
a coroutine). Handlers reach shared things (database, Redis, cache, sessions,
image store, IP locator) through ``self.application``.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from typing import Any

import tornado.web

from models import users
from services.house_form import fen_to_yuan
from services.sessions import Session

log = logging.getLogger("ihome.handlers")

SESSION_COOKIE = "ihome_session"
FLASH_COOKIE = "ihome_flash"


class PageError(tornado.web.HTTPError):
    """An HTTP error whose *message* (Chinese, for people) is shown on the error page."""

    def __init__(self, status_code: int, message: str):
        super().__init__(status_code, log_message=message)
        self.message = message


def safe_next(value: str | None, default: str = "/") -> str:
    """*value* when it is a local path ("/…" but not "//…" or "/\\…"), else *default*."""
    if not value or not value.startswith("/") or value.startswith("//") or value.startswith("/\\"):
        return default
    if urllib.parse.urlsplit(value).netloc or any(c in value for c in "\r\n"):
        return default
    return value


def small_int(raw: str | None, digits: int = 18) -> int | None:
    """*raw* as a non-negative int when it is 1–*digits* ASCII digits, else None.

    ``str.isdigit`` is not enough before ``int()``: it accepts "²" and other
    digit-like characters that ``int()`` refuses (a ValueError, so a 500), and
    a long digit string passes it but is refused past 4300 digits as well.
    """
    if not raw or len(raw) > digits or not raw.isascii() or not raw.isdigit():
        return None
    return int(raw)


def page_number(raw: str | None, max_page: int) -> int:
    """A 1-based page number from a query value: junk and 0 give 1, anything past *max_page* gives *max_page*."""
    value = small_int(raw, 10)
    return min(value, max_page) if value else 1


class BaseHandler(tornado.web.RequestHandler):
    """Base of every page and API handler."""

    current_session: Session | None = None
    _user: dict | None = None

    # -- shared things -------------------------------------------------------
    @property
    def db(self):
        return self.application.db

    @property
    def redis(self):
        return self.application.redis

    @property
    def config(self):
        """The process's :class:`config.Settings` (``self.settings`` is Tornado's dict)."""
        return self.application.config

    @property
    def cache(self):
        return self.application.cache

    @property
    def sessions(self):
        return self.application.sessions

    @property
    def images(self):
        return self.application.images

    @property
    def client_ip(self) -> str:
        """The client's address (from X-Real-IP behind nginx when xheaders is on)."""
        return self.request.remote_ip or ""

    # -- request life cycle --------------------------------------------------
    async def prepare(self) -> None:
        self.application.request_started()
        self._counted = True
        raw = self.get_signed_cookie(SESSION_COOKIE, max_age_days=31)
        if raw is None:
            return
        session = await self.sessions.get(raw.decode(), ip=self.client_ip)
        if session is None:
            return
        user = await users.get_by_id(self.db, session.user_id)
        if user is None or not user["is_active"]:
            await self.sessions.delete(session)
            self.clear_cookie(SESSION_COOKIE)
            return
        self.current_session = session
        self._user = user

    def on_finish(self) -> None:
        # prepare() may never have run (e.g. a failed XSRF check comes first).
        if getattr(self, "_counted", False):
            self.application.request_finished()

    def get_current_user(self) -> dict | None:
        return self._user

    # -- sessions ------------------------------------------------------------
    async def start_session(self, user: dict, *, is_admin: bool = False) -> Session:
        """Log *user* in with a brand-new token (the old session, if any, is deleted)."""
        if self.current_session is not None:
            await self.sessions.delete(self.current_session)
        session = await self.sessions.create(
            user["id"], ip=self.client_ip, user_agent=self.request.headers.get("User-Agent", ""),
            is_admin=is_admin)
        self.set_session_cookie(session)
        self.current_session = session
        self._user = user
        return session

    def set_session_cookie(self, session: Session) -> None:
        """Point the signed, HttpOnly, SameSite=Lax cookie at *session* (Secure over HTTPS).

        An admin session's cookie lasts for the browser session; others 30 days
        (Redis decides when the session itself ends).
        """
        self.set_signed_cookie(
            SESSION_COOKIE, session.token, expires_days=None if session.is_admin else 30,
            httponly=True, samesite="Lax", secure=self.request.protocol == "https", path="/")

    async def end_session(self) -> None:
        """Log out: delete the session in Redis and the cookie."""
        if self.current_session is not None:
            await self.sessions.delete(self.current_session)
        self.current_session = None
        self._user = None
        self.clear_cookie(SESSION_COOKIE, path="/")

    # -- messages, arguments, rendering -------------------------------------
    def flash(self, message: str, category: str = "success") -> None:
        """Show *message* once on the next rendered page (category: success, info, warning, danger)."""
        self.set_signed_cookie(FLASH_COOKIE, json.dumps([category, message]), expires_days=None,
                               httponly=True, samesite="Lax", secure=self.request.protocol == "https")

    def _pop_flash(self) -> list[tuple[str, str]]:
        raw = self.get_signed_cookie(FLASH_COOKIE, max_age_days=1)
        if raw is None:
            return []
        self.clear_cookie(FLASH_COOKIE)
        try:
            category, message = json.loads(raw)
            return [(str(category), str(message))]
        except (ValueError, TypeError):
            return []

    def arg(self, name: str, max_length: int = 4000) -> str:
        """One form or query field, stripped; "" when absent; cut to *max_length* characters."""
        return (self.get_argument(name, "") or "")[:max_length]

    def args(self, name: str) -> list[str]:
        """All values of a repeatable field, stripped, at most 100."""
        return self.get_arguments(name)[:100]

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace.update(
            flashes=self._pop_flash(),
            yuan=fen_to_yuan,
            media_url=self.images.url,
            errors={},
            form={},
            current_path=self.request.path,
        )
        return namespace

    def render_form(self, template: str, status: int, errors: dict[str, str], **kwargs: Any) -> None:
        """Render *template* again with per-field *errors* and a 4xx *status*."""
        self.set_status(status)
        self.render(template, errors=errors, **kwargs)

    def redirect_next(self, default: str = "/") -> None:
        """Redirect to the ``next`` argument when it is a local path (:func:`safe_next`), else *default*."""
        self.redirect(safe_next(self.get_argument("next", None), default))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = None
        exc_info = kwargs.get("exc_info")
        if exc_info and isinstance(exc_info[1], PageError):
            message = exc_info[1].message
        if self.request.path.startswith("/api/"):
            self.finish({"error": {"status": status_code, "message": message or self._reason}})
            return
        try:
            self.render("error.html", status_code=status_code, message=message)
        except Exception:  # the error page itself must never fail
            log.exception("error page failed")
            self.finish(f"<h1>{status_code}</h1>")


class NotFoundHandler(BaseHandler):
    """The styled 404 for every unknown path."""

    async def prepare(self) -> None:
        await super().prepare()
        raise PageError(404, "页面不存在")
