"""JSON API under /api/v1 for the pages' scripts and other clients.

Every response is a JSON object; errors are ``{"error": {"status": N, "message": "…"}}``
with a 4xx status (see BaseHandler.write_error). Money is in fen.
"""

from __future__ import annotations

import datetime
import re

from handlers.base import PageError
from handlers.houses import ListingBase, match_site_city, parse_search
from handlers.display import add_months
from models import houses, orders, ratings, search


class ApiHandler(ListingBase):
    """Base of JSON handlers: no XSRF needed for GET, JSON errors."""

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")


class AreasApiHandler(ApiHandler):
    """GET /api/v1/areas → {"areas": [{id, name, city, province}]} (featured cities and cities with listings)."""

    async def get(self) -> None:
        self.finish({"areas": await self.area_choices()})


class HousesApiHandler(ApiHandler):
    """GET /api/v1/houses?<search parameters> → {"total": N, "total_capped": bool, "page": P, "houses": [card]}.

    The search page's parameters (``area_id`` a district or a whole city's adcode, ``sd``,
    ``ed``, ``guests``, prices, ``facility``, ``sort`` including ``rating``, ``page``). Prices
    are in fen; each card has ``rating_count`` and ``rating_average`` (one decimal, null
    without reviews) and the public ``neighbourhood``, never the street address. The count
    stops at models.search.COUNT_CAP: beyond it ``total`` is COUNT_CAP and ``total_capped``
    is true ("more than N").
    """

    async def get(self) -> None:
        facilities = await self.facility_choices()
        filters, errors = parse_search(self, {f["id"] for f in facilities})
        if errors:
            raise PageError(400, "；".join(f"{k}: {v}" for k, v in errors.items()))
        rows, total = await self.cached_search(filters)
        cards = [{**row, "rating_average": ratings.average(row)} for row in rows]
        self.finish({"total": min(total, search.COUNT_CAP), "total_capped": total > search.COUNT_CAP,
                     "page": filters.page, "houses": cards})


class HouseAvailabilityApiHandler(ApiHandler):
    """GET /api/v1/houses/<id>/availability?month=YYYY-MM → {"house_id", "month", "booked": ["YYYY-MM-DD", …]}.

    The booked nights of a public listing in one month (default: this month); a night
    is booked when a pending, accepted or completed order holds it. 400 for a
    malformed month, 404 for an unknown or non-public listing.
    """

    async def get(self, house_id: str) -> None:
        raw = self.arg("month", 20) or datetime.date.today().strftime("%Y-%m")
        match = re.fullmatch(r"(\d{4})-(\d{2})", raw)
        if not match or not 1 <= int(match.group(2)) <= 12 or not 2000 <= int(match.group(1)) <= 2100:
            raise PageError(400, "month 须为 YYYY-MM，例如 2025-05")
        house = await houses.get(self.db, int(house_id))
        if house is None or house["status"] != "online" or not house["owner_active"]:
            raise PageError(404, "房源不存在或未上线")
        first = datetime.date(int(match.group(1)), int(match.group(2)), 1)
        nights = await orders.booked_nights(self.db, house["id"], first, add_months(first, 1))
        self.finish({"house_id": house["id"], "month": raw, "booked": [n.isoformat() for n in nights]})


class LocationApiHandler(ApiHandler):
    """GET /api/v1/location → the visitor's location from their address (X-Real-IP behind nginx).

    {"ip", "country", "province", "city", "source", "label", "site_city"}: ``source``
    is provider / offline / local / unknown (see services.iplocation); ``site_city``
    is the city as the site's areas name it when the site has areas there, else null.
    """

    async def get(self) -> None:
        ip = self.client_ip
        locator = self.application.locator
        if locator is None:
            raise PageError(503, "定位服务不可用")
        location = await locator.locate(ip)
        self.finish({"ip": ip, "country": location.country, "province": location.province,
                     "city": location.city, "source": location.source, "label": location.label(),
                     "site_city": match_site_city(location, await self.area_choices())})
