"""The listing life cycle's writes (models/houses.py) as the host and admin pages answer them."""

from __future__ import annotations

import logging

from handlers.base import BaseHandler, PageError
from models import admin as admin_model
from models import houses

log = logging.getLogger("ihome.listing_writes")

BUSY_MESSAGE = "这套房源正在被同时修改，请稍后再试"

# A listing's status in words, as hosts and admins see it ("revision": a pending revision).
HOUSE_STATUS_LABELS = {"pending": "审核中", "online": "已上线", "rejected": "未通过", "offline": "已下线",
                       "deleted": "已删除", "revision": "修改待审核"}


class ListingWrites(BaseHandler):
    """Mixin of the pages that change a listing: its domain errors as answers, and the
    photo files a committed write let go."""

    async def listing_write(self, call):
        """Await *call* (a models.houses write) and return its result. Its errors become
        PageError: 404 when the listing or the photo is gone; 409 when the listing's row
        stayed locked, there is no revision in the state the action needs, or the
        moderation action does not start from the listing's status."""
        try:
            return await call
        except houses.ListingGone:
            raise PageError(404, "房源不存在") from None
        except houses.PhotoNotFound:
            raise PageError(404, "照片不存在") from None
        except houses.NoRevision:
            raise PageError(409, "这套房源没有待审核的修改") from None
        except houses.ListingBusy:
            log.warning("listing write gave up on lock contention")
            raise PageError(409, BUSY_MESSAGE) from None
        except houses.TransitionRefused as exc:
            raise PageError(409, f"房源当前状态为「{HOUSE_STATUS_LABELS.get(exc.status, exc.status)}」，"
                                 f"不能{admin_model.ACTION_LABELS.get(exc.action, exc.action)}") from None

    async def remove_files(self, keys: list[str]) -> None:
        """Delete the files of *keys* after their rows are gone for good (committed).

        Best effort: the write has happened, so a disk error is logged, never turned into
        an error page; an orphan file is served to no one (no row refers to its key).
        """
        keys = [k for k in keys if k]
        if not keys:
            return
        try:
            await self.images.delete_many(keys)
        except OSError:
            log.exception("could not remove the files of %d photo(s)", len(keys))
