"""BaseHandler: what every page shares — the session, the user, errors, messages.

The user is loaded in :meth:`BaseHandler.prepare` (``get_current_user`` cannot be
a coroutine), from the snapshot kept with the session in Redis (services/sessions.py)
and from MariaDB only when that snapshot is missing, old or outdated by a write.
Handlers reach shared things (database, Redis, cache, sessions, image store, IP
locator) through ``self.application``.

Public pages can be served from the rendered-page cache (:meth:`BaseHandler.cached_page`):
the HTML an anonymous visitor gets is kept in Redis and served as it is to the next
anonymous visitors; a logged-in visitor gets the same HTML with the header's two
user-dependent parts (between the ``<!--ihome:…-->`` markers of base.html) rendered
for them and spliced in. Only GET/HEAD answers with status 200 are kept, rendered for
a request without a session or flash cookie, that set no cookie and showed no flash.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import json
import logging
import time
import urllib.parse
from typing import Any

import tornado.locale
import tornado.web
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError as RedisReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from handlers.security import BAD_PATH_CHARS, apply_cache_policy, apply_security_headers
from models import orders, users
from models.db import is_unavailable as database_unavailable
from services import i18n
from services.house_form import fen_to_yuan
from services.cache import DATED_SEARCH_GENERATION_KEY, PENDING_PREFIX, SEARCH_GENERATION_KEY
from services.sessions import Session

log = logging.getLogger("ihome.handlers")

SESSION_COOKIE = "ihome_session"
FLASH_COOKIE = "ihome_flash"
UNAVAILABLE_MESSAGE = "服务暂时不可用，请稍后再试"
XSRF_EXPIRED_TITLE = "这个页面已过期，请刷新后重试"  # the error page's h1 for a refused (stale or missing) form token
# Redis errors that mean "Redis is down, stalled or read-only", not "bad command".
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, RedisReadOnlyError)
# The header parts that depend on the visitor, as base.html marks them, in page order.
USER_PARTS = (("<!--ihome:nav-->", "<!--/ihome:nav-->"), ("<!--ihome:account-->", "<!--/ihome:account-->"))
USER_PARTS_BYTES = tuple((start.encode(), end.encode()) for start, end in USER_PARTS)
USER_PARTS_SPLIT = "<!--ihome:split-->"  # between the two in modules/nav_parts.html
# Read with the session on pages (BaseHandler.load_pending_requests): the cached count and its label's parts.
PENDING_RIDERS = {"user_prefix": PENDING_PREFIX, "keys": (SEARCH_GENERATION_KEY, DATED_SEARCH_GENERATION_KEY)}
PENDING_TTL = 60  # seconds a cached count is trusted at most (what no label covers)
XSRF_SLOT = "<!--ihome:xsrf-->"  # where a memoised header part takes this request's XSRF field
USER_PARTS_MEMO = 4096  # header parts memoised per process (see BaseHandler.user_parts)


def dependency_down(exc: BaseException | None) -> bool:
    """True when *exc* says MariaDB or Redis is unreachable or too slow (answer 503, not 500)."""
    return exc is not None and (isinstance(exc, REDIS_DOWN) or database_unavailable(exc))


class PageError(tornado.web.HTTPError):
    """An HTTP error whose *message* (Chinese, for people) is shown on the error page."""

    def __init__(self, status_code: int, message: str):
        super().__init__(status_code, log_message=message)
        self.message = message


def safe_next(value: str | None, default: str = "/") -> str:
    """*value* when it is a local path ("/…" but not "//…"), else *default*.

    Any control character (``\\x00``–``\\x1f``, ``\\x7f``) or backslash anywhere refuses
    the value: browsers drop tabs and newlines and read ``\\`` as ``/`` (so
    ``/\\evil.example`` or ``/\\t/evil.example`` would leave the site), and a
    vertical tab or form feed in a ``Location`` header made Tornado raise (a 500).
    """
    if not value or not value.startswith("/") or value.startswith("//") or BAD_PATH_CHARS.search(value):
        return default
    if urllib.parse.urlsplit(value).netloc:
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


# The UTF-8 body and ETag of cached pages the cache module hands out (the same str object
# for page_local seconds): id(html) -> (html, body, etag); the object is kept, so an id is
# never reused while its entry lives. Emptied past ENCODED_PAGES entries.
_encoded_pages: dict[int, tuple[str, bytes, str]] = {}
ENCODED_PAGES = 256


def encoded_page(html: str) -> tuple[bytes, str]:
    """(UTF-8 bytes, ETag as Tornado computes it) of a cached page, made once per page object."""
    entry = _encoded_pages.get(id(html))
    if entry is None or entry[0] is not html:
        body = html.encode()
        entry = (html, body, '"%s"' % hashlib.sha1(body).hexdigest())
        if len(_encoded_pages) >= ENCODED_PAGES:
            _encoded_pages.clear()
        _encoded_pages[id(html)] = entry
    return entry[1], entry[2]


class BaseHandler(tornado.web.RequestHandler):
    """Base of every page and API handler."""

    current_session: Session | None = None
    # True when the request carried a session cookie but the session could not be
    # loaded (Redis or MariaDB down): the visitor is served as anonymous where a
    # page allows it, and gets a 503 (not a login form) where it needs the session.
    session_unavailable = False
    _user: users.CurrentUser | None = None
    # True on the hot public pages: their GET/HEAD may take the user from the session's
    # snapshot. Everywhere else (writes, private pages, forms, admin) the user is read from
    # MariaDB, so permissions and verification are decided on current data.
    user_snapshot_ok = False
    # Set by cached_page on a miss: render_page keeps the page's HTML under it when it may.
    _page_key: str | None = None
    _flashed = False  # a flash was rendered into this response
    _xsrf_refused = False  # write_error: this 403 is Tornado's XSRF check (an expired form, in plain words)
    # The header's "待处理 N" (booking requests waiting for this host), read in prepare for
    # GET/HEAD of pages; None when not read (no user, not a page, database failing).
    pending_requests: int | None = None
    # Paths that never render the header: no count for them.
    NO_HEADER_PREFIXES = ("/api/", "/media/", "/static/", "/ws", "/health")

    # -- headers, cookies and HEAD (handlers/security.py) ---------------------
    def clear(self) -> None:
        # Every response starts here, error pages included (send_error clears the headers);
        # after set_default_headers, so a subclass's defaults cannot drop these.
        super().clear()
        apply_security_headers(self)

    def flush(self, include_footers: bool = False):
        # The last moment before the headers go out: the cookies this response sets are known.
        if not self._headers_written:
            apply_cache_policy(self, SESSION_COOKIE)
        return super().flush(include_footers)

    def set_cookie(self, name: str, value: str | bytes, *args: Any, **kwargs: Any) -> None:
        """Tornado's set_cookie, always ``Secure`` when the request came over HTTPS.

        Covers the session, flash and XSRF cookies alike (the XSRF cookie's
        arguments are fixed in the Application settings and cannot depend on
        the request). Behind nginx ``request.protocol`` comes from
        X-Forwarded-Proto / X-Scheme, which Tornado trusts only with xheaders.
        """
        if self.request.protocol == "https":
            kwargs["secure"] = True
        super().set_cookie(name, value, *args, **kwargs)

    async def head(self, *args: Any, **kwargs: Any) -> None:
        """HEAD on every page that has GET: the GET runs, Tornado sends its headers and no body."""
        if type(self).get is tornado.web.RequestHandler.get:
            raise tornado.web.HTTPError(405)
        result = self.get(*args, **kwargs)
        if result is not None:
            await result

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
        # A page's header shows the host's pending requests: their cached count rides along.
        counted = self.request.method in ("GET", "HEAD") and not self.request.path.startswith(self.NO_HEADER_PREFIXES)
        try:
            session = await self.sessions.get(raw.decode(), ip=self.client_ip,
                                              **(PENDING_RIDERS if counted else {}))
        except Exception as exc:
            if not dependency_down(exc):
                raise
            log.warning("session not loaded, serving %s as anonymous: %s", self.request.path, exc)
            self.session_unavailable = True
            return
        if session is None:
            return
        user = None
        if session.user is not None and self.user_snapshot_ok and self.request.method in ("GET", "HEAD"):
            try:
                user = users.CurrentUser(**session.user)
            except TypeError:  # a snapshot of another shape (an older release): reload it
                user = None
        if user is None:
            user = await users.get_current(self.db, session.user_id)
            if user is not None and user.is_active and dataclasses.asdict(user) != session.user:
                try:
                    await self.sessions.remember_user(session, dataclasses.asdict(user), ip=self.client_ip)
                except REDIS_DOWN as exc:  # the snapshot is an optimisation: next time, then
                    log.warning("user snapshot not kept: %s", exc)
        if user is None or not user.is_active:
            await self.sessions.delete(session)
            self.clear_cookie(SESSION_COOKIE)
            return
        self.current_session = session
        self._user = user
        if counted:
            await self.load_pending_requests()
        if self.request.method not in ("GET", "HEAD", "OPTIONS"):
            # A write may change what pages show about the user (name, avatar, verification):
            # every session of theirs reloads the snapshot on its next request. (A page of
            # theirs loaded while this write runs may keep the old values: for user_reload
            # seconds at most.)
            await self.user_changed()

    async def load_pending_requests(self) -> None:
        """Read the header's count of booking requests waiting for the current user (as a host):
        one indexed COUNT (models.orders.pending_count). A failing database leaves it unread
        (no badge) rather than failing a page that may not need the database at all.

        The count is kept in Redis (``cache:pending:<user id>``, PENDING_TTL seconds) and read
        with the session (its riders), so a page costs no query while nothing changed. It is
        labelled with what moves when it may change — the search generations (a booking, cancel,
        reject or release moves the dated one; see services/cache.py), the user's own snapshot
        counter (a host's accept is their write: prepare marks them changed) and the day
        (requests expire past check-in) — and used only while the label still matches."""
        session = self.current_session
        label = "|".join([*(v or "0" for v in session.rider_keys), session.user_rev or "0",
                          time.strftime("%Y-%m-%d")])
        cached = (session.rider_user or "").rpartition("|")
        if cached[0] == label and cached[2].isdigit() and len(session.rider_keys) == 2 and not self.cache.degraded:
            self.pending_requests = int(cached[2])
            return
        try:
            self.pending_requests = await orders.pending_count(self.db, self._user.id)
        except Exception as exc:
            if not dependency_down(exc):
                raise
            log.warning("pending requests of %s not counted: %s", self._user.id, exc)
            return
        if not self.cache.degraded:
            try:
                await self.redis.set(PENDING_PREFIX + str(self._user.id), f"{label}|{self.pending_requests}",
                                     ex=PENDING_TTL)
            except REDIS_DOWN as exc:  # an optimisation: counted again next time
                log.warning("pending requests of %s not kept: %s", self._user.id, exc)

    async def user_changed(self) -> None:
        """Tell every session of the current user to reload its user snapshot (no error if Redis fails)."""
        if self._user is None:
            return
        try:
            await self.sessions.user_changed(self._user.id)
        except REDIS_DOWN as exc:
            log.warning("user snapshot of %s not marked outdated: %s", self._user.id, exc)

    def on_finish(self) -> None:
        # prepare() may never have run (e.g. a failed XSRF check comes first).
        if getattr(self, "_counted", False):
            self.application.request_finished()

    # -- the rendered-page cache (services/cache.py, "Rendered pages") ---------
    async def cached_page(self, name: str, *, dated: bool = False, anonymous_only: bool = False) -> bool:
        """Answer from the page cache when possible; True when the response has been sent.

        *name* is the page's path plus its validated, normalised parameters (it must
        determine the anonymous page completely); *dated* when the page shows
        availability. *anonymous_only* for pages whose content (not just the header)
        depends on the visitor. On a miss the page is rendered as usual and, when it
        qualifies (see the module docstring), kept for the next visitor. A flash to show,
        a stale session cookie being cleared, or Redis failing: rendered as usual.
        """
        if (self.request.method not in ("GET", "HEAD") or self.session_unavailable
                or self.get_cookie(FLASH_COOKIE) is not None):
            return False
        user = self._user
        if user is None and self.get_cookie(SESSION_COOKIE) is not None:
            return False  # an unknown or revoked session: its cookie is being cleared
        if user is not None and anonymous_only:
            return False
        code = self.locale.code  # chosen now, before render_page hides the user
        if code != i18n.DEFAULT:
            name = f"{name}#{code}"  # one cached page per language
        key, html = await self.cache.page_lookup(name, dated=dated)
        if key is None:
            return False
        if html is None:
            self._page_key = key  # render_page renders it as an anonymous visitor sees it
            return False
        body: str | bytes | None = html
        if user is not None:
            body = self.splice_user_parts(html)
            if body is None:
                return False
        else:
            body, self._page_etag = encoded_page(html)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(body)
        return True

    _page_etag: str | None = None  # set for a cached anonymous page (see encoded_page)

    def compute_etag(self) -> str | None:
        # Tornado hashes the whole body of every response; a cached page's hash is known, and a
        # response to a request with a session cookie is no-store (apply_cache_policy): never
        # kept, so never revalidated — an ETag would be hashed for nothing.
        if self._page_etag is not None:
            return self._page_etag
        if self.get_cookie(SESSION_COOKIE) is not None and not isinstance(self, tornado.web.StaticFileHandler):
            return None  # (files keep theirs: media.py, and its cache headers are its own)
        return super().compute_etag()

    def user_parts(self) -> tuple[str, str]:
        """(nav links, account menu): the header's two user-dependent parts for this request.

        Rendering them was a tenth of a logged-in cached page's time, so they are memoised in
        the process under everything they are made of — the user's page fields (a frozen
        CurrentUser), the header counts read in prepare, and the path (the active link) —
        with the XSRF form field left as a slot that gets this request's freshly masked token
        (:meth:`xsrf_form_html`), so no response shares another's token. A new input (a
        rename, a new count) is a new entry: nothing to invalidate. Bounded: the memo is
        emptied when it reaches USER_PARTS_MEMO entries."""
        memo = self.application.__dict__.setdefault("_user_parts_memo", {})
        key = (self._user, self.pending_requests, self.request.path, self.locale.code)
        parts = memo.get(key)
        if parts is None:
            self.xsrf_form_html = lambda: XSRF_SLOT  # shadows the method for this one render
            try:
                html = self.render_string("modules/nav_parts.html").decode()
            finally:
                del self.xsrf_form_html
            links, _, account = html.partition(USER_PARTS_SPLIT)
            parts = (links, account)
            if len(memo) >= USER_PARTS_MEMO:
                memo.clear()
            memo[key] = parts
        if XSRF_SLOT in parts[0] or XSRF_SLOT in parts[1]:
            field = self.xsrf_form_html()
            parts = (parts[0].replace(XSRF_SLOT, field), parts[1].replace(XSRF_SLOT, field))
        return parts

    def splice_user_parts(self, html: str | bytes) -> bytes | None:
        """*html* (a cached anonymous page, as text or UTF-8) with the header's user parts
        rendered for the current visitor (:meth:`user_parts`), as the UTF-8 body to send;
        None when the markers are not there (then render as usual). Spliced as bytes: a
        cached page's UTF-8 form is made once (:func:`encoded_page`), the parts are small."""
        body = html if isinstance(html, bytes) else encoded_page(html)[0]
        pieces, position = [], 0
        for (start, end), inner in zip(USER_PARTS_BYTES, self.user_parts()):
            begin = body.find(start, position)
            stop = body.find(end, begin + len(start)) if begin >= 0 else -1
            if stop < 0:
                return None
            pieces += [body[position:begin + len(start)], inner.encode()]
            position = stop
        pieces.append(body[position:])
        return b"".join(pieces)

    async def render_page(self, template_name: str, **kwargs: Any) -> None:
        """:meth:`render`, keeping the HTML in the page cache first when :meth:`cached_page`
        missed and the response qualifies (status 200, no flash shown, no cookie set).

        For a logged-in visitor the page is rendered as an anonymous visitor sees it
        (that is what is kept), then their header parts are spliced in, as on a hit:
        a site visited mostly by members keeps its pages cached too."""
        key, self._page_key = self._page_key, None
        if key is None:
            self.render(template_name, **kwargs)
            return
        user = self._user
        self._held = []
        self._user = self.current_user = None  # current_user: Tornado memoises it
        try:
            self.render(template_name, **kwargs)  # its finish() is held: see finish
        finally:
            held, self._held = self._held, None
            self._user = self.current_user = user
        html = held[0].decode() if held and isinstance(held[0], bytes) else None
        if html is not None and self.get_status() == 200 and not self._flashed \
                and not getattr(self, "_new_cookie", None):
            await self.cache.page_store(key, html)
        body: str | bytes | None = html
        if html is not None and user is not None:
            body = self.splice_user_parts(html.encode())
            if body is None:  # no markers in this page: render it for the visitor after all
                self.render(template_name, **kwargs)
                return
        self.finish(body)

    _held: list | None = None  # while render_page renders: the page render() finished with

    def finish(self, chunk: str | bytes | dict | None = None):
        if self._held is not None:
            self._held.append(chunk)
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        return super().finish(chunk)

    def get_user_locale(self) -> tornado.locale.Locale:
        """The request's language (services/i18n.negotiate): the user's saved choice, the
        ``locale`` cookie, Accept-Language, then zh_CN — among the configured ``locales``.
        Tornado memoises it per request (``self.locale``) and gives templates its ``_``."""
        saved = self._user.locale if self._user is not None else None
        code = i18n.negotiate(saved, self.get_cookie(i18n.COOKIE), self.request.headers.get("Accept-Language"),
                              offered=self.config.locales)
        return tornado.locale.get(code)

    def get_current_user(self) -> users.CurrentUser | None:
        """The logged-in user (loaded in prepare) as a narrow :class:`models.users.CurrentUser`, or None."""
        return self._user

    def get_login_url(self) -> str:
        # @authenticated sends a visitor without a user to the login form; when the
        # session exists but could not be loaded, a login form would not help.
        if self.session_unavailable:
            raise PageError(503, UNAVAILABLE_MESSAGE)
        return super().get_login_url()

    def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
        # The same for handlers that send the visitor to a login page themselves.
        if self.session_unavailable and urllib.parse.urlsplit(url).path in ("/login", "/admin/login"):
            raise PageError(503, UNAVAILABLE_MESSAGE)
        super().redirect(url, permanent, status)

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """As Tornado's, but a dependency outage is a 503 with Retry-After, never a 500, and
        a request refused for want of a user whose session could not be loaded is a 503 too."""
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else None
        if dependency_down(exc) or (
                status_code in (401, 403) and self.session_unavailable and self._user is None):
            status_code = 503
        super().send_error(status_code, **kwargs)

    def log_exception(self, typ, value, tb) -> None:
        if dependency_down(value):  # expected during an outage: one line, no traceback
            log.warning("503 for %s %s: %s: %s", self.request.method, self.request.path,
                        typ.__name__, value)
            return
        super().log_exception(typ, value, tb)

    # -- sessions ------------------------------------------------------------
    async def start_session(self, user: users.CurrentUser, *, is_admin: bool = False,
                            after_commit: bool = False) -> Session | None:
        """Log *user* in with a brand-new token (the old session, if any, is deleted).

        With *after_commit* (a write that needs the new session has committed,
        e.g. a password change), Redis failing does not fail the request: the
        visitor is logged out instead (cookie cleared) and None is returned.
        """
        if self.current_session is not None:
            await self.sessions.delete(self.current_session)
        try:
            session = await self.sessions.create(
                user.id, ip=self.client_ip, user_agent=self.request.headers.get("User-Agent", ""),
                is_admin=is_admin, user=dataclasses.asdict(user))
        except REDIS_DOWN as exc:
            if not after_commit:
                raise
            log.warning("no new session for user %s after a committed change: %s", user.id, exc)
            self.current_session = None
            self._user = None
            self.clear_cookie(SESSION_COOKIE, path="/")
            return None
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
        """Log out: record the revocation (MariaDB), delete the session in Redis and the cookie.

        Raises a 503 when the session could not be loaded (Redis down): the cookie
        is kept so that the visitor can log out once Redis is back."""
        if self.session_unavailable:
            raise PageError(503, UNAVAILABLE_MESSAGE)
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
            self._flashed = True
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
            pending_requests=self.pending_requests,
            html_lang=i18n.html_lang(self.locale.code),
            # Money (fen) and dates in the page's language: money(128800) → ¥1,288, day(date[, width]).
            money=functools.partial(i18n.money, code=self.locale.code),
            day=functools.partial(i18n.day, code=self.locale.code),
            place=functools.partial(i18n.place, code=self.locale.code),  # 朝阳区 (Chaoyang) in English
            languages={code: i18n.LANGUAGES[code] for code in self.config.locales},
        )
        return namespace

    def redirect_next(self, default: str = "/") -> None:
        """Redirect to the ``next`` argument when it is a local path (:func:`safe_next`), else *default*."""
        self.redirect(safe_next(self.get_argument("next", None), default))

    def error_details(self, status_code: int, message: str | None) -> dict[str, Any]:
        """What templates/error.html shows for *status_code*, in plain words.

        Returns ``title`` (the page's h1), ``text`` (the sentence under it, or None),
        ``retry`` (where the 重试 link goes: the same URL for a GET/HEAD, the referring
        page of this site — the form — for other methods, else "/") and ``retry_after``
        (seconds from this answer's Retry-After header, or None). *message* is the
        handler's own sentence (PageError), shown as the text when given.
        """
        retry_after = small_int(str(self._headers.get("Retry-After", "")), 6)
        if status_code == 403 and self._xsrf_refused:
            title, text = XSRF_EXPIRED_TITLE, "为了安全，表单打开太久后会失效。刷新页面，再提交一次即可。"
        elif status_code == 404:
            title, text = "找不到这个页面", message or "页面不存在，可能已被删除或地址有误"
        elif status_code == 429:
            wait = (f"请在 {retry_after} 秒后再试" if retry_after and retry_after < 120
                    else f"请在 {-(-retry_after // 60)} 分钟后再试" if retry_after else "请稍后再试")
            title, text = "操作太频繁了", message or wait
        elif status_code >= 500:
            title = "服务暂时不可用"
            text = "服务器开小差了，请稍后再试" if status_code == 500 else (
                f"请在 {retry_after} 秒后重试" if retry_after and message in (None, UNAVAILABLE_MESSAGE) else message)
        else:
            title = {403: "没有权限访问这个页面", 405: "不支持这种请求方式"}.get(status_code, "请求有误")
            text = message
        if self.request.method in ("GET", "HEAD"):
            retry = self.request.uri if safe_next(self.request.uri, "") else "/"
        else:
            referer = urllib.parse.urlsplit(self.request.headers.get("Referer", "")[:2000])
            same_site = not referer.netloc or referer.netloc == self.request.host
            retry = safe_next(urllib.parse.urlunsplit(("", "", referer.path, referer.query, "")), "/") if same_site else "/"
        return {"title": title, "text": text, "retry": retry, "retry_after": retry_after}

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = None
        exc_info = kwargs.get("exc_info")
        if exc_info and isinstance(exc_info[1], PageError):
            message = exc_info[1].message
        # Tornado's check_xsrf_cookie raises HTTPError(403, "'_xsrf' argument missing from POST" /
        # "XSRF cookie does not match POST argument" / …): a form kept open too long, not a lack of rights.
        elif (exc_info and status_code == 403 and isinstance(exc_info[1], tornado.web.HTTPError)
              and "xsrf" in (exc_info[1].log_message or "").lower()):
            self._xsrf_refused = True
        if status_code == 503:
            self.set_header("Retry-After", str(self.config.timeouts.retry_after))
            message = message or UNAVAILABLE_MESSAGE
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
