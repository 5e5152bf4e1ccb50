"""日历同步: the listing's calendar as an iCal feed for other platforms, and their feeds imported.

- ``GET /houses/<id>/calendar.ics?token=…``: the export (no login: other platforms fetch it);
  a wrong, old or missing token → 404, as for an unknown listing. ``text/calendar``, never kept
  by shared caches (the token is in the URL).
- ``POST /houses/<id>/calendar/export/reset``: a new token; the old URL stops working.
- ``POST /houses/<id>/calendar/feeds`` (``url``): add an external feed (MAX_FEEDS at most) and
  sync it at once; ``…/feeds/<feed_id>/delete``; ``…/feeds/<feed_id>/sync`` (sync now).

The host only: anyone else gets 404 (a listing's feeds are nobody else's business, not even
their existence). The rules live in models/calendar_sync.py; the fetch in services/safe_fetch.py.
"""

from __future__ import annotations

import datetime
import urllib.parse

import tornado.web

from handlers.base import REDIS_DOWN, BaseHandler, PageError
from handlers.hosting import HouseFormBase
from models import calendar_sync, houses
from services import safe_fetch

EXPORT_SUMMARIES = {"order": "已预订", "block": "不可订"}
# A feed's "sync now" at most once in this many seconds (each is a fetch from someone else's server).
MANUAL_SYNC_SECONDS = 30
MANUAL_SYNC_PREFIX = "calendar-sync:now:"
# A host name a feed URL may have: letters, digits, hyphens and dots (IDNA for others), or an IP literal.
HOST_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-.")


def check_feed_url(raw: str) -> tuple[str | None, str | None]:
    """(the URL to store, None) or (None, the message for the field)."""
    url = raw.strip()
    if not url:
        return None, "请填写日历链接"
    if len(url) > safe_fetch.MAX_URL_CHARS:
        return None, f"链接最长 {safe_fetch.MAX_URL_CHARS} 个字符"
    if url.lower().startswith("webcal://"):  # what other platforms often show: the same feed over https
        url = "https://" + url[len("webcal://"):]
    try:
        parts = safe_fetch.check_url(url)
    except safe_fetch.FetchError:
        return None, "请填写以 http:// 或 https:// 开头的完整链接"
    host = parts.hostname or ""
    if any(ord(c) < 33 for c in url):
        return None, "链接里不能有空格或控制字符"
    if not host.startswith("[") and ":" not in host:
        try:
            ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
        except UnicodeError:
            return None, "链接的主机名无效"
        labels = ascii_host.split(".")
        if not set(ascii_host) <= HOST_CHARS or any(not label or len(label) > 63 for label in labels) \
                or any(label.startswith("-") or label.endswith("-") for label in labels):
            return None, "链接的主机名无效"
    if parts.username or parts.password:
        return None, "链接里不能包含用户名或密码"
    return urllib.parse.urlunsplit(parts._replace(fragment="")), None


class CalendarExportHandler(BaseHandler):
    """GET /houses/<id>/calendar.ics?token=…: the listing's unavailable nights as iCal."""

    async def get(self, house_id: str) -> None:
        house_id = int(house_id)
        token = self.get_query_argument("token", "")
        house = await houses.get(self.db, house_id)
        if house is None or not await calendar_sync.token_matches(self.db, house_id, token):
            raise PageError(404, "日历不存在")
        now = datetime.datetime.now().astimezone()
        origin = self.config.site_origin or f"{self.request.protocol}://{self.request.host}"
        body = await calendar_sync.export_feed(
            self.db, house_id, today=now.date(), now=now, summaries=EXPORT_SUMMARIES,
            uid_domain=urllib.parse.urlsplit(origin).hostname or "ihome", name=f"爱家 #{house_id}")
        self.set_header("Content-Type", "text/calendar; charset=utf-8")
        self.set_header("Content-Disposition", f'inline; filename="ihome-{house_id}.ics"')
        # The token is in the URL: no shared cache may keep (and hand out) the answer.
        self.set_header("Cache-Control", "private, no-store")
        self.set_header("X-Robots-Tag", "noindex")
        self.finish(body)


class FeedBase(HouseFormBase):
    """The host's feed actions: the listing of the current user or 404, feed errors as answers."""

    typed_url = ""

    async def host_house(self, house_id: str) -> dict:
        """The current user's listing; 404 for an unknown, deleted or someone else's listing."""
        house = await houses.get(self.db, int(house_id))
        if house is None or house["owner_id"] != self.current_user.id:
            raise PageError(404, "房源不存在")
        return house

    async def calendar_sync_panel(self, house: dict) -> dict:
        panel = await super().calendar_sync_panel(house)
        panel["url"] = self.typed_url
        return panel

    async def refuse_feed(self, house: dict, status: int, message: str) -> None:
        """The edit page again with *message* next to the feed URL field."""
        await self.render_house_form(status, await self.saved_form(house), {"feed_url": message}, house)

    async def run_sync(self, house: dict, row: dict) -> calendar_sync.SyncResult:
        """Sync one feed now (bounded by the fetch's timeouts), refreshing the listing's pages."""
        result = await self.listing_write(calendar_sync.sync_feed(self.db, row, self.application.fetch_feed))
        if result.changed:
            await self.cache.invalidate_house(house["id"])
        return result

    def flash_result(self, result: calendar_sync.SyncResult) -> None:
        if result.status != "ok":
            self.flash("同步失败，原因见下方日历同步的状态；已导入的日期保持不变", "warning")
        elif result.clashes:
            self.flash(f"已同步；{len(result.clashes)} 晚与本站已有的预订或关闭日期冲突，详见下方", "warning")
        else:
            self.flash(f"已同步：新关闭 {result.added} 晚，重新开放 {result.released} 晚")


class ExportResetHandler(FeedBase):
    """POST /houses/<id>/calendar/export/reset: a new export link; the old one answers 404."""

    @tornado.web.authenticated
    async def post(self, house_id: str) -> None:
        house = await self.host_house(house_id)
        await calendar_sync.reset_token(self.db, house["id"])
        self.flash("已生成新的日历链接，旧链接已失效；请在其他平台更新链接")
        self.redirect(f"/houses/{house['id']}/edit#calendar-sync")


class FeedAddHandler(FeedBase):
    """POST /houses/<id>/calendar/feeds (``url``): add an external feed and sync it."""

    @tornado.web.authenticated
    async def post(self, house_id: str) -> None:
        house = await self.host_house(house_id)
        self.typed_url = self.arg("url", safe_fetch.MAX_URL_CHARS + 100)
        url, message = check_feed_url(self.typed_url)
        if message:
            await self.refuse_feed(house, 400, message)
            return
        try:
            feed_id = await self.listing_write(calendar_sync.add_feed(self.db, house["id"], url))
        except calendar_sync.TooManyFeeds:
            await self.refuse_feed(house, 409, f"每套房源最多导入 {calendar_sync.MAX_FEEDS} 个外部日历，请先删除一个")
            return
        except calendar_sync.DuplicateFeed:
            await self.refuse_feed(house, 409, "这个日历已经导入过了")
            return
        row = {"id": feed_id, "house_id": house["id"], "url": url}
        try:
            result = await self.run_sync(house, row)
        except (calendar_sync.FeedNotFound, houses.ListingGone):
            raise PageError(404, "房源不存在") from None
        self.flash_result(result)
        self.redirect(f"/houses/{house['id']}/edit#calendar-sync")


class FeedDeleteHandler(FeedBase):
    """POST /houses/<id>/calendar/feeds/<feed_id>/delete: remove a feed and release its nights."""

    @tornado.web.authenticated
    async def post(self, house_id: str, feed_id: str) -> None:
        house = await self.host_house(house_id)
        try:
            released = await self.listing_write(calendar_sync.delete_feed(self.db, house["id"], int(feed_id)))
        except calendar_sync.FeedNotFound:
            raise PageError(404, "日历不存在") from None
        await self.cache.invalidate_house(house["id"])
        self.flash(f"已删除外部日历，重新开放 {released} 晚")
        self.redirect(f"/houses/{house['id']}/edit#calendar-sync")


class FeedSyncHandler(FeedBase):
    """POST /houses/<id>/calendar/feeds/<feed_id>/sync: sync one feed now (once per
    MANUAL_SYNC_SECONDS; with Redis down, without that limit)."""

    async def claim(self, feed_id: int) -> bool:
        try:
            return bool(await self.redis.set(f"{MANUAL_SYNC_PREFIX}{feed_id}", "1", nx=True, ex=MANUAL_SYNC_SECONDS))
        except REDIS_DOWN:
            return True

    @tornado.web.authenticated
    async def post(self, house_id: str, feed_id: str) -> None:
        house = await self.host_house(house_id)
        row = await calendar_sync.feed(self.db, house["id"], int(feed_id))
        if row is None:
            raise PageError(404, "日历不存在")
        if not await self.claim(row["id"]):
            self.flash(f"这个日历刚刚同步过，请 {MANUAL_SYNC_SECONDS} 秒后再试", "info")
            self.redirect(f"/houses/{house['id']}/edit#calendar-sync")
            return
        try:
            result = await self.run_sync(house, row)
        except (calendar_sync.FeedNotFound, houses.ListingGone):
            raise PageError(404, "日历不存在") from None
        self.flash_result(result)
        self.redirect(f"/houses/{house['id']}/edit#calendar-sync")
