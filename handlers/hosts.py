"""``GET /users/<id>``: a member's public page (房东主页) — display name, avatar, 实名认证 badge,
member since, their public listings, the reviews those listings received, and how often they
answer a guest's first message within 24 hours. Never a mobile number, real name, ID card or
street address. 404 for unknown and disabled accounts; a member without listings has a page too.

Cached as an anonymous visitor sees it (BaseHandler.cached_page), under the search generation:
every listing write, review, host rename or new avatar, and account disable/enable moves it
(services/cache.py), so those show at once. What moves no generation — the response rate (new
messages) and the verification badge — is at most the page cache's TTL (``page_ttl``) old.
"""

from __future__ import annotations

import datetime

from handlers.base import BaseHandler, PageError
from handlers.display import public_name
from models import hosts


class HostPageHandler(BaseHandler):
    """GET /users/<id>: the member's public page."""

    user_snapshot_ok = True

    async def get(self, user_id: str) -> None:
        user_id = int(user_id)
        if await self.cached_page(f"/users/{user_id}"):
            return
        person = await hosts.profile(self.db, user_id)
        if person is None:
            raise PageError(404, "用户不存在")
        await self.render_page(
            "hosts/profile.html", person=person, display_name=public_name(person["name"]),
            listings=await hosts.listings(self.db, user_id),
            summary=await hosts.review_summary(self.db, user_id),
            reviews=await hosts.recent_reviews(self.db, user_id),
            rate=await hosts.response_rate(self.db, user_id, datetime.datetime.now()),
            public_name=public_name)
