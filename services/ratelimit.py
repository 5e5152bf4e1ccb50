"""Attempt limits in Redis, shared by every process behind nginx.

Each limited thing is a *scope* (``login:mobile``, ``login:ip``, ``register:ip``,
``captcha:ip``, …) and a *subject* (the mobile number, the client address). Its
recent attempts are a sorted set ``ratelimit:<scope>:<subject>`` whose scores are
the attempts' times in milliseconds, so the window slides: an attempt counts for
exactly ``window`` seconds after it was made.

Two kinds of limit read that set (each one Lua script, so the check and the
reservation are atomic and a burst of parallel requests cannot all pass the
check before any of them is counted):

* :meth:`RateLimiter.acquire` — a hard limit: at most ``limit`` attempts per
  window. An attempt may carry a *tag* (for ``login:mobile`` the client address)
  and a larger ``clean_limit`` for tags that have no attempt in the window yet:
  that is how the owner, from an address that never failed for the account, still
  gets in while an attacker keeps the account's counter full.
* :meth:`RateLimiter.backoff` — exponential back-off instead of a wall: the first
  ``allowance`` attempts in the window are free; past them, attempt
  ``allowance + k`` (k = 1, 2, …) must come at least ``base × 2^(k-1)`` seconds
  (at most ``cap``) after the previous one. As old attempts slide out of the
  window the wait shrinks again.

Both *reserve* an attempt before the work it guards is done. The caller can then
give the reservation back (:meth:`RateLimiter.refund`, e.g. a correct password is
not a failed attempt), forget the attempts of one tag (:meth:`RateLimiter.forgive`,
the owner's own typos once the right password came) or clear the subject
(:meth:`RateLimiter.reset`). A refused attempt is not recorded, so hammering a
closed door does not keep it closed longer.

A limit (or allowance) of 0 or less switches that limit off (``IHOME_LIMIT_…=0``).
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass

KEY_PREFIX = "ratelimit:"
# A subject or tag is a mobile number, an IP address or an id; anything longer is
# cut so a key's (and a member's) size stays bounded whatever a client sends.
MAX_SUBJECT = 64
# Separates a member's unique part from its tag: "<ms>:<random>|<tag>".
TAG_SEPARATOR = "|"

# KEYS[1] the set; ARGV: now_ms, window_ms, member, limit, tag, clean_limit.
# Returns {allowed 0/1, count after, limit applied, ms until one more fits}.
_ACQUIRE = """
local key = KEYS[1]
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local limit, tag, clean_limit = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count >= limit and tag ~= '' and clean_limit > limit then
  local suffix = '|' .. tag
  local seen = false
  for _, m in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    if string.sub(m, -string.len(suffix)) == suffix then seen = true break end
  end
  if not seen then limit = clean_limit end
end
if count < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, window)
  return {1, count + 1, limit, 0}
end
local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
local wait = window
if oldest[2] then wait = tonumber(oldest[2]) + window - now end
return {0, count, limit, wait}
"""

# KEYS[1] the set; ARGV: now_ms, window_ms, member, allowance, base_ms, cap_ms.
# Returns {allowed 0/1, count after, ms until one more fits}.
_BACKOFF = """
local key = KEYS[1]
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local allowance, base, cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count >= allowance then
  local wait = base * (2 ^ (count - allowance))
  if wait > cap then wait = cap end
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] then
    local ready = tonumber(last[2]) + wait
    if now < ready then return {0, count, ready - now} end
  end
end
redis.call('ZADD', key, now, ARGV[3])
redis.call('PEXPIRE', key, window)
return {1, count + 1, 0}
"""

# KEYS[1] the set; ARGV[1] the tag. Removes the members carrying that tag; returns how many.
_FORGIVE = """
local suffix = '|' .. ARGV[1]
local gone = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(m, -string.len(suffix)) == suffix then
    redis.call('ZREM', KEYS[1], m)
    gone = gone + 1
  end
end
return gone
"""


@dataclass(frozen=True)
class Attempt:
    """The answer of :meth:`RateLimiter.acquire` or :meth:`RateLimiter.backoff`.

    ``allowed`` says whether the attempt may go ahead; when it may not,
    ``retry_after`` is the whole number of seconds (≥ 1) until it would be.
    ``count`` is how many attempts the window holds, this one included when it
    was allowed; ``limit`` the limit (or allowance) that applied. ``key`` and
    ``member`` identify the reservation for :meth:`RateLimiter.refund`
    (``member`` is None when nothing was recorded).
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
    """The Chinese message of a refused *attempt*: "尝试次数过多，请在 N 分钟后再试".

    Rounded up to whole minutes: waiting that long certainly works, and the exact
    number of seconds is in the Retry-After header.
    """
    return f"尝试次数过多，请在 {attempt.retry_minutes} 分钟后再试"


def _clip(value: str) -> str:
    return str(value)[:MAX_SUBJECT].replace(TAG_SEPARATOR, "_")


def limiter_key(scope: str, subject: str) -> str:
    """The Redis key of *scope* and *subject*."""
    return f"{KEY_PREFIX}{scope}:{str(subject)[:MAX_SUBJECT]}"


def _seconds(ms: float) -> int:
    return max(1, math.ceil(ms / 1000))


class RateLimiter:
    """Attempt counters over sorted sets; *redis* is a ``redis.asyncio.Redis`` (str responses).

    *clock* returns the current time in seconds (``time.time``); tests pass their own.
    """

    def __init__(self, redis, clock=time.time):
        self.redis = redis
        self.clock = clock

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    @staticmethod
    def _member(now_ms: int, tag: str | None) -> str:
        member = f"{now_ms}:{secrets.token_hex(6)}"
        return member + TAG_SEPARATOR + _clip(tag) if tag else member

    async def acquire(self, scope: str, subject: str, limit: int, window: int, *,
                      tag: str | None = None, clean_limit: int | None = None) -> Attempt:
        """Reserve one attempt of *subject* in *scope*: at most *limit* per *window* seconds.

        With a *tag* (e.g. the client address) and a *clean_limit* above *limit*,
        an attempt whose tag has no attempt in the window yet may go on up to
        *clean_limit* attempts in all. Returns an :class:`Attempt`; when
        ``allowed`` is False nothing was recorded. A *limit* of 0 or less always
        allows and records nothing.
        """
        key = limiter_key(scope, subject)
        if limit <= 0 or window <= 0:
            return Attempt(True, 0, 0, limit, key, None)
        now_ms = self._now_ms()
        member = self._member(now_ms, tag)
        allowed, count, applied, wait_ms = await self.redis.eval(
            _ACQUIRE, 1, key, now_ms, window * 1000, member, limit, _clip(tag) if tag else "",
            clean_limit if clean_limit is not None else limit)
        if allowed:
            return Attempt(True, 0, int(count), int(applied), key, member)
        return Attempt(False, _seconds(wait_ms), int(count), int(applied), key, None)

    async def backoff(self, scope: str, subject: str, allowance: int, window: int, base: float,
                      cap: float, *, tag: str | None = None) -> Attempt:
        """Reserve one attempt of *subject* in *scope* under exponential back-off.

        The first *allowance* attempts within *window* seconds are free; each one
        past them must wait ``base × 2^(k-1)`` seconds (k = how far past, capped
        at *cap* seconds) after the latest recorded attempt. *tag* marks the
        attempt for :meth:`forgive`. An *allowance* of 0 or less switches it off.
        """
        key = limiter_key(scope, subject)
        if allowance <= 0 or window <= 0:
            return Attempt(True, 0, 0, allowance, key, None)
        now_ms = self._now_ms()
        member = self._member(now_ms, tag)
        allowed, count, wait_ms = await self.redis.eval(
            _BACKOFF, 1, key, now_ms, window * 1000, member, allowance, int(base * 1000), int(cap * 1000))
        if allowed:
            return Attempt(True, 0, int(count), allowance, key, member)
        return Attempt(False, _seconds(wait_ms), int(count), allowance, key, None)

    async def peek(self, scope: str, subject: str, window: int) -> int:
        """How many attempts of *subject* in *scope* the last *window* seconds hold."""
        key = limiter_key(scope, subject)
        now_ms = self._now_ms()
        return await self.redis.zcount(key, now_ms - window * 1000 + 1, "+inf")

    async def refund(self, attempt: Attempt) -> None:
        """Give an allowed attempt back, as if it had never been made."""
        if attempt.member is not None:
            await self.redis.zrem(attempt.key, attempt.member)

    async def forgive(self, scope: str, subject: str, tag: str) -> int:
        """Forget the attempts of *subject* in *scope* that carry *tag*; returns how many went."""
        return int(await self.redis.eval(_FORGIVE, 1, limiter_key(scope, subject), _clip(tag)))

    async def reset(self, scope: str, subject: str) -> None:
        """Forget every attempt of *subject* in *scope*."""
        await self.redis.delete(limiter_key(scope, subject))
