"""收藏 (favourites): the heart on listing cards and the listing page, and 我的收藏.

- ``POST /houses/<id>/favourite`` and ``POST /houses/<id>/unfavourite`` (XSRF; idempotent). A
  fetch/XHR request (``Accept: application/json`` or ``X-Requested-With``) gets
  ``{"saved": bool, "count": n}``; a form gets a redirect back to ``next`` (a local path, else
  the listing). A visitor without a session is sent to ``/login?next=…`` (JSON: 401 with
  ``{"login": url}``). Only a public listing can be newly saved (404); removing always works.
  Saves are rate limited per member (``IHOME_LIMIT_FAVOURITE_PER_MINUTE``).
- ``GET /houses/<id>/favourite`` → ``{"saved", "count"}`` for the listing page's script
  (a public listing only; ``saved`` is false for visitors).
- ``GET /my/favourites/ids?ids=1,2,3`` → ``{"ids": [saved ones]}``: one query for a page's cards.
  Home, search and listing pages are cached as an anonymous visitor sees them and shared with
  members (handlers/base.py), so a member's pressed hearts are marked by static/js/favourites.js.
- ``GET /my/favourites?page=N``: the member's saved listings, newest first; listings that are no
  longer public are greyed out and keep a remove button.
"""

from __future__ import annotations

import logging
import urllib.parse

import tornado.web

from handlers.base import REDIS_DOWN, BaseHandler, PageError, page_number, safe_next, small_int
from models import favourites
from services.ratelimit import RateLimiter

log = logging.getLogger("ihome.favourites")

PER_PAGE = 20
MAX_PAGE = 50  # MAX_PER_USER / PER_PAGE
NOT_SAVEABLE = "房源不存在或未上线，无法收藏"
TOO_MANY = f"最多收藏 {favourites.MAX_PER_USER} 个房源，请先取消一些"
TOO_FAST = "操作太频繁，请稍后再试"
LIMIT_WINDOW = 60  # seconds (the limit is per minute)


class FavouriteBase(BaseHandler):
    """Shared: JSON or redirect answers, the login redirect, the rate limit."""

    def wants_json(self) -> bool:
        """True for a fetch/XHR request (it asked for JSON or says it is an XMLHttpRequest)."""
        headers = self.request.headers
        return ("application/json" in headers.get("Accept", "")
                or headers.get("X-Requested-With", "").lower() == "xmlhttprequest")

    def answer(self, status: int, body: dict) -> None:
        """Finish with *body* as JSON and *status* (never cached: it is per member)."""
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish(body)

    def back_to(self, house_id: int) -> str:
        """Where a form goes back to: the ``next`` field when it is a local path, else the listing."""
        return safe_next(self.get_argument("next", None), f"/houses/{house_id}")

    def refuse(self, status: int, message: str) -> None:
        """A refusal as JSON ({"error": message}) or as the error page (headers already set,
        such as Retry-After, are kept: this renders rather than raising)."""
        if self.wants_json():
            self.answer(status, {"error": message})
            return
        self.set_status(status)
        self.render("error.html", status_code=status, message=message)

    async def allowed(self, user_id: int) -> bool:
        """Reserve one save for *user_id* under the per-minute limit (Retry-After set when refused).
        Redis failing lets the save through: it is harmless and bounded by MAX_PER_USER."""
        limit = self.config.limits.favourite_per_minute
        try:
            attempt = await RateLimiter(self.redis).acquire("favourite:user", str(user_id), limit, LIMIT_WINDOW)
        except REDIS_DOWN as exc:
            log.info("favourite limit not checked (Redis away): %s", exc)
            return True
        if not attempt.allowed:
            self.set_header("Retry-After", str(attempt.retry_after))
        return attempt.allowed


class FavouriteHandler(FavouriteBase):
    """GET (state) and POST (save) /houses/<id>/favourite."""

    save = True

    async def get(self, house_id: str) -> None:
        house_id = int(house_id)
        user = self.current_user
        result = await favourites.state(self.db, user.id if user else None, house_id)
        if not result["saved"] and not await favourites.is_public(self.db, house_id):
            self.answer(404, {"error": NOT_SAVEABLE})
            return
        self.answer(200, result)

    async def post(self, house_id: str) -> None:
        house_id = int(house_id)
        user = self.current_user
        if user is None:
            login = "/login?next=" + urllib.parse.quote(self.back_to(house_id), safe="/")
            if self.wants_json():
                if self.session_unavailable:
                    raise PageError(503, "服务暂时不可用，请稍后再试")
                self.answer(401, {"error": "请先登录", "login": login})
                return
            self.redirect(login)
            return
        if self.save:
            if not await self.allowed(user.id):
                self.refuse(429, TOO_FAST)
                return
            try:
                count = await favourites.save(self.db, user.id, house_id)
            except favourites.NotSaveable:
                self.refuse(404, NOT_SAVEABLE)
                return
            except favourites.TooMany:
                self.refuse(409, TOO_MANY)
                return
        else:
            count = await favourites.remove(self.db, user.id, house_id)
        if self.wants_json():
            self.answer(200, {"saved": self.save, "count": count})
            return
        self.redirect(self.back_to(house_id))


class UnfavouriteHandler(FavouriteHandler):
    """POST /houses/<id>/unfavourite: remove it from 收藏 (always allowed, idempotent)."""

    save = False
    get = tornado.web.RequestHandler.get  # no state here: GET is the favourite URL's


class FavouriteIdsHandler(FavouriteBase):
    """GET /my/favourites/ids?ids=1,2,3 → {"ids": [the ones the member saved]} (at most
    favourites.MAX_IDS looked at; junk ids ignored; a visitor gets an empty list)."""

    user_snapshot_ok = True  # read-only, per member: the session's snapshot is enough

    async def get(self) -> None:
        user = self.current_user
        wanted = [small_int(part) for part in self.arg("ids", 2000).split(",")[:favourites.MAX_IDS]]
        ids = [i for i in wanted if i is not None]
        saved = await favourites.saved_among(self.db, user.id, ids) if user and ids else set()
        self.answer(200, {"ids": sorted(saved)})


class MyFavouritesHandler(FavouriteBase):
    """GET /my/favourites?page=N: the member's saved listings, newest saved first."""

    @tornado.web.authenticated
    async def get(self) -> None:
        page = page_number(self.arg("page", 10), MAX_PAGE)
        rows, total = await favourites.page(self.db, self.current_user.id, PER_PAGE, (page - 1) * PER_PAGE)
        pages = max(1, -(-total // PER_PAGE))
        if page > pages:  # past the end (the last one was just removed): show the last page
            page = pages
            rows, total = await favourites.page(self.db, self.current_user.id, PER_PAGE, (page - 1) * PER_PAGE)
        self.render("favourites/my.html", rows=rows, total=total, page=page, pages=pages,
                    here=f"/my/favourites?page={page}" if page > 1 else "/my/favourites")
