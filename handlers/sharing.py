"""Sharing: a listing's QR code and a stay's calendar file.

- ``GET /houses/<id>/qr.svg``: the QR code of the listing's absolute URL (IHOME_SITE_ORIGIN, or
  the request's own scheme and host when that is not set), ``image/svg+xml``, for public
  listings only (404 otherwise). Made once per URL (~8 ms, in an executor) and kept in Redis
  (``cache:qr:<sha1 of the URL>``, QR_TTL) and in this process (QR_MEMO entries); a long
  Cache-Control lets browsers keep it (``public`` only with IHOME_SITE_ORIGIN: without it the
  URL comes from the Host header, which a shared cache must not keep for others).
- ``GET /orders/<id>/stay.ics``: the stay as one all-day event (check-in to check-out, DTEND the
  check-out day, exclusive), for the order's guest or host and only once it is accepted
  (or completed); 404 for anyone else and for other statuses. The street address is in it:
  both parties may see it by then.
"""

from __future__ import annotations

import collections
import datetime
import hashlib
import logging
import re
import urllib.parse

import tornado.ioloop
import tornado.web

from handlers.base import REDIS_DOWN, BaseHandler, PageError
from handlers.display import public_name
from models import favourites, lifecycle, orders
from services.sharing import qr_svg, stay_calendar

log = logging.getLogger("ihome.sharing")

QR_TTL = 7 * 24 * 3600  # seconds a QR code stays in Redis (a listing's URL never changes)
QR_MAX_AGE = 24 * 3600  # seconds browsers may keep it
QR_MEMO = 256  # QR codes this process keeps (LRU)
QR_PREFIX = "cache:qr:"
CALENDAR_STATUSES = ("accepted", "completed")
# A Host header worth putting in a link: a name or IPv4 address, or a bracketed IPv6 one, and a port.
HOST_RE = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")


class SiteLinks(BaseHandler):
    """The site's absolute origin for links that leave the page (QR codes, calendar files)."""

    def site_origin(self) -> str:
        """IHOME_SITE_ORIGIN, else ``<scheme>://<Host header>``; 400 for a Host header that is no host."""
        if self.config.site_origin:
            return self.config.site_origin
        host = self.request.host or ""
        if not HOST_RE.fullmatch(host):
            raise PageError(400, "请求的主机名无效")
        return f"{self.request.protocol}://{host}"


class QrCodeHandler(SiteLinks):
    """GET /houses/<id>/qr.svg: the listing URL's QR code (SVG)."""

    user_snapshot_ok = True

    async def get(self, house_id: str) -> None:
        house_id = int(house_id)
        if not await favourites.is_public(self.db, house_id):
            raise PageError(404, "房源不存在或未上线")
        svg = await self.qr_for(f"{self.site_origin()}/houses/{house_id}")
        self.set_header("Content-Type", "image/svg+xml")
        scope = "public" if self.config.site_origin else "private"
        self.set_header("Cache-Control", f"{scope}, max-age={QR_MAX_AGE}")
        self.finish(svg)

    async def qr_for(self, url: str) -> str:
        """The SVG of *url*: from this process's memo, else Redis, else made in an executor and kept
        in both (Redis failing only costs the rendering)."""
        memo: collections.OrderedDict = self.application.__dict__.setdefault("_qr_memo", collections.OrderedDict())
        svg = memo.get(url)
        if svg is not None:
            memo.move_to_end(url)
            return svg
        key = QR_PREFIX + hashlib.sha1(url.encode()).hexdigest()
        try:
            svg = await self.redis.get(key)
        except REDIS_DOWN as exc:
            log.info("QR code not read from Redis: %s", exc)
        if svg is None:
            svg = (await tornado.ioloop.IOLoop.current().run_in_executor(None, qr_svg, url)).decode()
            try:
                await self.redis.set(key, svg, ex=QR_TTL)
            except REDIS_DOWN as exc:
                log.info("QR code not kept in Redis: %s", exc)
        memo[url] = svg
        if len(memo) > QR_MEMO:
            memo.popitem(last=False)
        return svg


class StayCalendarHandler(SiteLinks):
    """GET /orders/<id>/stay.ics: the stay as a calendar file, to the order's guest and host."""

    @tornado.web.authenticated
    async def get(self, order_id: str) -> None:
        order = await orders.get(self.db, int(order_id))
        role = order and orders.role_of(order, self.current_user.id)
        if not role or order["status"] not in CALENDAR_STATUSES:
            raise PageError(404, "订单不存在或尚未被房东接受")
        origin = self.site_origin()
        if role == "guest":
            summary = f"入住：{order['house_title']}"
        else:
            summary = f"房客入住：{order['house_title']}（{public_name(order['guest_name'])}）"
        description = (f"爱家订单 #{order['id']}：{order['nights']} 晚，{order['guests']} 人。"
                       f"{lifecycle.CHECK_IN_HOUR}:00 后入住，{lifecycle.CHECK_OUT_HOUR}:00 前退房。")
        body = stay_calendar(
            uid=f"order-{order['id']}@{urllib.parse.urlsplit(origin).hostname}", summary=summary,
            check_in=order["check_in"], check_out=order["check_out"],
            stamp=datetime.datetime.now(datetime.timezone.utc), location=order["house_address"],
            description=description, url=f"{origin}/orders/{order['id']}")
        self.set_header("Content-Type", "text/calendar; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="ihome-stay-{order["id"]}.ics"')
        self.finish(body)
