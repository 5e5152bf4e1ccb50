"""GET /media/<key[:2]>/<key>_<size>.<ext>: pictures, served only to those who may see them.

Names (services/images.py): ``_l.jpg`` / ``_t.jpg`` (large, thumbnail: avatars and every photo) and a
photo's responsive widths ``_480``, ``_960``, ``_1600`` in ``.webp`` and ``.jpg``. A photo stored
before the widths existed and not converted yet (``manage.py photos-responsive``) has only ``_l`` and
``_t``: a width's URL is then answered with the legacy file (``_t`` for 480, ``_l`` above), with a
short cache lifetime, since the name will hold the real width once converted.

Who may see a picture is decided by the row that uses its key
(models.houses.media_access):

* an avatar: everyone (it is shown next to public listings and reviews);
* a photo of a public listing (online, owner active): everyone;
* a photo of a pending, rejected, offline or deleted listing: its owner (not
  once deleted) and admins; anyone else gets the same 404 as for a key that
  does not exist, so keys of private listings cannot be confirmed;
* a key no row uses (a photo deleted a moment ago, a stray file): nobody.

Public keys are remembered in Redis for :data:`PUBLIC_TTL` seconds, so a page
of thumbnails costs one Redis GET per picture and no SQL; a listing taken
offline stops being served to strangers within that time. Redis down: the
answer comes from MariaDB. The session is loaded only for a picture that is
not public, so public pictures cost no session lookup either.

Sending the bytes: in development and tests the app sends the file itself
(Tornado's StaticFileHandler: ETag, Range, If-None-Match). Behind nginx set
``IHOME_MEDIA_ACCEL_REDIRECT`` (e.g. ``/_media/``): the app then answers with an
empty body and ``X-Accel-Redirect: /_media/3f/3f…_l.jpg``, and nginx sends the
file from an ``internal`` location (deploy/nginx.conf), so the app decides and
nginx does the I/O.
"""

from __future__ import annotations

import logging
import os
import re

import redis.exceptions
import tornado.web

from handlers.base import BaseHandler, PageError
from handlers.security import BAD_PATH_CHARS, SafeStaticFileHandler
from models import houses

log = logging.getLogger("ihome.media")

MEDIA_PATH = re.compile(r"([0-9a-f]{2})/([0-9a-f]{32})_(?:([lt])\.jpg|(480|960|1600)\.(webp|jpg))")
PUBLIC_TTL = 60
"""Seconds a public key is remembered in Redis (how long a listing taken offline may still be served)."""
PUBLIC_CACHE_CONTROL = "public, max-age=31536000, immutable"
"""Browsers and proxies keep a public picture a year without asking again: keys are random and never
reused, and the bytes behind a name never change (a new photo or avatar gets a new key)."""
FALLBACK_CACHE_CONTROL = "public, max-age=600"
"""A width's URL answered with a not-yet-converted photo's legacy file: kept ten minutes only."""
CONTENT_TYPES = {"jpg": "image/jpeg", "webp": "image/webp"}
PRIVATE_CACHE_CONTROL = "private, no-store"


def public_key(key: str) -> str:
    """The Redis key remembering that picture *key* is public."""
    return f"media:public:{key}"


class MediaHandler(BaseHandler, SafeStaticFileHandler):
    """Serves /media/ files after the access check; route kwargs: ``path`` (the media folder)."""

    _public = True

    async def prepare(self) -> None:
        # Deliberately not BaseHandler.prepare(): the session is loaded in get()
        # only when the picture is not public.
        pass

    async def get(self, path: str, include_body: bool = True) -> None:
        if BAD_PATH_CHARS.search(path):
            raise tornado.web.HTTPError(400, "bad character in path")
        match = MEDIA_PATH.fullmatch(path)
        if match is None or match[1] != match[2][:2]:
            raise PageError(404, "图片不存在")
        key = match[2]
        path = self._file_for(path, key, match[4])
        if path is None:
            raise PageError(404, "图片不存在")
        if not await self._known_public(key):
            access = await houses.media_access(self.db, key)
            if access is None:
                raise PageError(404, "图片不存在")
            if access["public"]:
                await self._remember_public(key)
            else:
                await BaseHandler.prepare(self)  # the session: owner or admin?
                if not self._may_see(access):
                    raise PageError(404, "图片不存在")
                self._public = False
        accel = self.application.config.media_accel_redirect
        if accel:
            self.set_header("Cache-Control", self._cache_control())
            self.set_header("X-Accel-Redirect", f"{accel.rstrip('/')}/{path}")
            # nginx keeps this answer's Content-Type (not its own guess from the file name).
            self.set_header("Content-Type", CONTENT_TYPES[path.rsplit(".", 1)[1]])
            self.finish()
            return
        await SafeStaticFileHandler.get(self, path, include_body)

    async def head(self, path: str) -> None:
        await self.get(path, include_body=False)

    _fallback = False  # answering a width's URL with the legacy file

    def _file_for(self, path: str, key: str, width: str | None) -> str | None:
        """The file (relative to the media folder) that answers *path*: itself, or for a width of
        a photo not converted yet its legacy file; None when neither exists. One stat for a
        converted photo (a stat on the event loop costs microseconds, as StaticFileHandler's own)."""
        if width is None:
            return path
        root = self.root  # the route's media folder (StaticFileHandler's path argument)
        if os.path.isfile(os.path.join(root, path)):
            return path
        legacy = f"{key[:2]}/{key}_{'t' if width == '480' else 'l'}.jpg"
        if os.path.isfile(os.path.join(root, legacy)):
            self._fallback = True
            return legacy
        return None

    def _cache_control(self) -> str:
        if not self._public:
            return PRIVATE_CACHE_CONTROL
        return FALLBACK_CACHE_CONTROL if self._fallback else PUBLIC_CACHE_CONTROL

    def _may_see(self, access: dict) -> bool:
        user = self.current_user
        if user is None:
            return False
        if user.is_admin:
            return True
        return user.id == access["owner_id"] and access.get("status") != "deleted"

    async def _known_public(self, key: str) -> bool:
        try:
            return bool(await self.redis.exists(public_key(key)))
        except (redis.exceptions.RedisError, OSError):
            return False  # Redis is an optimisation here: ask MariaDB

    async def _remember_public(self, key: str) -> None:
        try:
            await self.redis.set(public_key(key), "1", ex=PUBLIC_TTL)
        except (redis.exceptions.RedisError, OSError):
            log.debug("could not remember public media key", exc_info=True)

    def compute_etag(self) -> str | None:
        # With X-Accel-Redirect the app sends no file (nginx computes its own ETag).
        if getattr(self, "absolute_path", None) is None:
            return None
        return super().compute_etag()

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", self._cache_control())

    def flush(self, include_footers: bool = False):
        # A public picture is the same bytes for everyone: keep it cacheable even
        # for a logged-in visitor (BaseHandler.flush would add no-store).
        if self._public and self.get_status() < 400:
            return tornado.web.RequestHandler.flush(self, include_footers)
        return super().flush(include_footers)
