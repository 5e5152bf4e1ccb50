"""JSON API under /api/v1 for the pages' scripts and other clients.

Every response is a JSON object; errors are ``{"error": {"status": N, "message": "…"}}``
with a 4xx status (see BaseHandler.write_error). Money is in fen.
"""

from __future__ import annotations

from handlers.base import PageError
from handlers.houses import ListingBase, parse_search
from models import houses


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
    """GET /api/v1/houses?<search parameters> → {"total": N, "page": P, "houses": [card]} (prices in fen)."""

    async def get(self) -> None:
        facilities = await self.facility_choices()
        filters, errors = parse_search(self, {f["id"] for f in facilities})
        if errors:
            raise PageError(400, "；".join(f"{k}: {v}" for k, v in errors.items()))
        key = await self.cache.search_key(filters.normalised())

        async def load():
            found, count = await houses.search(self.db, filters)
            return {"rows": found, "total": count}
        result = await self.cache.get_or_load(key, load)
        self.finish({"total": result["total"], "page": filters.page, "houses": result["rows"]})
