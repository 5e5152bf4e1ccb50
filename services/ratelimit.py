"""Sliding-window rate limits in Redis, shared by every process behind nginx.

Each limited thing is a *scope* (``login:mobile``, ``login:ip``, ``register:ip``,
``captcha:ip``, …) and a *subject* (the mobile number, the client address). Its
recent attempts are a sorted set ``ratelimit:<scope>:<subject>`` whose scores are
the attempts' times in milliseconds, so the window slides: an attempt counts for
exactly ``window`` seconds after it was made.

:meth:`RateLimiter.acquire` *reserves* an attempt before the work it guards is
done. Reserving first (rather than counting failures afterwards) means a burst
of parallel requests cannot all pass the check before any of them is counted:
at most ``limit`` of them get through. The caller can then give the reservation
back (:meth:`RateLimiter.refund`, e.g. a correct password is not a failed
attempt) or clear the subject (:meth:`RateLimiter.reset`, a successful login
resets the account's counter). A refused attempt is not recorded, so hammering
a closed door does not keep it closed longer.

A limit of 0 or less switches that limit off (``IHOME_LIMIT_…=0``).
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass

KEY_PREFIX = "ratelimit:"
# A subject is a mobile number, an IP address or an id; anything longer is cut
# so a key's size stays bounded whatever a client sends.
MAX_SUBJECT = 64


@dataclass(frozen=True)
class Attempt:
    """The answer of :meth:`RateLimiter.acquire`.

    ``allowed`` says whether the attempt may go ahead; when it may not,
    ``retry_after`` is the whole number of seconds (≥ 1) until it would be.
    ``count`` is how many attempts the window holds, this one included when it
    was allowed. ``key`` and ``member`` identify the reservation for
    :meth:`RateLimiter.refund` (``member`` is None when nothing was recorded).
    """

    allowed: bool
    retry_after: int
    count: int
    limit: int
    key: str
    member: str | None = None

    @property
    def retry_minutes(self) -> int:
        """``retry_after`` rounded up to whole minutes (at least 1), for messages."""
        return max(1, math.ceil(self.retry_after / 60))


def too_many_message(attempt: Attempt) -> str:
    """The Chinese message of a refused *attempt*: "尝试次数过多，请在 N 分钟后再试"."""
    return f"尝试次数过多，请在 {attempt.retry_minutes} 分钟后再试"


def limiter_key(scope: str, subject: str) -> str:
    """The Redis key of *scope* and *subject*."""
    return f"{KEY_PREFIX}{scope}:{str(subject)[:MAX_SUBJECT]}"


class RateLimiter:
    """Sliding-window attempt counters; *redis* is a ``redis.asyncio.Redis`` (str responses)."""

    def __init__(self, redis):
        self.redis = redis

    async def acquire(self, scope: str, subject: str, limit: int, window: int) -> Attempt:
        """Reserve one attempt of *subject* in *scope*: at most *limit* per *window* seconds.

        Returns an :class:`Attempt`; when ``allowed`` is False nothing was recorded.
        A *limit* of 0 or less always allows and records nothing.
        """
        key = limiter_key(scope, subject)
        if limit <= 0 or window <= 0:
            return Attempt(True, 0, 0, limit, key, None)
        now_ms = int(time.time() * 1000)
        window_ms = window * 1000
        member = f"{now_ms}:{secrets.token_hex(6)}"
        # One MULTI/EXEC: drop what slid out of the window, add this attempt, count.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now_ms - window_ms)
            pipe.zadd(key, {member: now_ms})
            pipe.zcard(key)
            pipe.pexpire(key, window_ms)
            _, _, count, _ = await pipe.execute()
        if count <= limit:
            return Attempt(True, 0, count, limit, key, member)
        # Over the limit: take this attempt back out. A concurrent request that
        # counted in the meantime saw one too many and was refused as well,
        # which errs on the safe side.
        await self.redis.zrem(key, member)
        count -= 1
        return Attempt(False, await self._retry_after(key, count, limit, now_ms, window_ms),
                       count, limit, key, None)

    async def _retry_after(self, key: str, count: int, limit: int, now_ms: int, window_ms: int) -> int:
        """Seconds until enough of the window's attempts expire for one more to fit."""
        # With *count* attempts held, count - limit + 1 must expire; the last of
        # those is the one at that index in time order.
        index = max(0, count - limit)
        oldest = await self.redis.zrange(key, index, index, withscores=True)
        if not oldest:
            return 1
        expires_ms = oldest[0][1] + window_ms - now_ms
        return max(1, math.ceil(expires_ms / 1000))

    async def peek(self, scope: str, subject: str, window: int) -> int:
        """How many attempts of *subject* in *scope* the last *window* seconds hold."""
        key = limiter_key(scope, subject)
        now_ms = int(time.time() * 1000)
        return await self.redis.zcount(key, now_ms - window * 1000 + 1, "+inf")

    async def refund(self, attempt: Attempt) -> None:
        """Give an allowed attempt back, as if it had never been made."""
        if attempt.member is not None:
            await self.redis.zrem(attempt.key, attempt.member)

    async def reset(self, scope: str, subject: str) -> None:
        """Forget every attempt of *subject* in *scope*."""
        await self.redis.delete(limiter_key(scope, subject))
