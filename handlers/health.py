"""GET /healthz: can this process reach MariaDB and Redis right now?

For load balancers and supervisors. Both checks run at once, each bounded by
``Timeouts.healthz`` seconds, so the answer comes within about that time even
when a server stalls:

- 200 ``{"mysql": "ok", "redis": "ok"}``
- 503 ``{"mysql": "ok", "redis": "unavailable"}`` (or ``"timeout"``), with Retry-After.

It needs no session and sets no cookie, and says nothing about the servers
beyond ok / unavailable / timeout.
"""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from handlers.base import BaseHandler
from models.db import DatabaseUnavailable

log = logging.getLogger("ihome.health")


class HealthHandler(BaseHandler):
    """GET /healthz (see the module docstring)."""

    async def prepare(self) -> None:
        # No session: a health probe must not depend on Redis to be answered, nor slide a session.
        self.application.request_started()
        self._counted = True

    def check_xsrf_cookie(self) -> None:  # GET only; nothing to protect
        pass

    async def get(self) -> None:
        limit = self.config.timeouts.healthz
        mysql, redis = await asyncio.gather(
            self._check("mysql", self.db.ping(limit), limit),
            self._check("redis", self.redis.ping(), limit))
        result = {"mysql": mysql, "redis": redis}
        healthy = mysql == "ok" and redis == "ok"
        if not healthy:
            self.set_status(503)
            self.set_header("Retry-After", str(self.config.timeouts.retry_after))
        self.set_header("Cache-Control", "no-store")
        self.finish(result)

    @staticmethod
    async def _check(name: str, work, limit: float) -> str:
        """"ok", "timeout" or "unavailable" for the awaitable *work*, within *limit* seconds."""
        try:
            await asyncio.wait_for(work, limit)
            return "ok"
        except asyncio.TimeoutError:
            log.warning("healthz: %s did not answer within %.1f s", name, limit)
            return "timeout"
        except (DatabaseUnavailable, RedisError, OSError) as exc:
            log.warning("healthz: %s unavailable: %s", name, exc)
            return "unavailable"
