"""Server-side sessions in Redis.

A session is ``session:<token>`` holding JSON, where the token is
``secrets.token_urlsafe(32)`` (256 bits, unguessable). The browser holds the
token in a signed, HttpOnly cookie. Each session has a sliding idle TTL (the
Redis key's expiry, refreshed on every use) and an absolute lifetime counted
from its creation. ``user_sessions:<user_id>`` is a set of the user's tokens so
that all of them can be listed or revoked (password change, account disabled).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass

SESSION_PREFIX = "session:"
USER_INDEX_PREFIX = "user_sessions:"


@dataclass
class Session:
    """One login. Times are Unix seconds."""

    token: str
    user_id: int
    created_at: float
    last_seen: float
    ip: str = ""
    user_agent: str = ""
    is_admin: bool = False

    def to_json(self) -> str:
        """The JSON kept in Redis: every field but the token (which is the key)."""
        data = asdict(self)
        del data["token"]
        return json.dumps(data)


class SessionStore:
    """Create, load, refresh and revoke sessions held in Redis.

    ``idle_ttl`` and ``absolute_ttl`` are seconds; admin sessions use
    ``admin_idle_ttl`` instead of ``idle_ttl``.
    """

    def __init__(self, redis, *, idle_ttl: int, absolute_ttl: int, admin_idle_ttl: int):
        self.redis = redis
        self.idle_ttl = idle_ttl
        self.absolute_ttl = absolute_ttl
        self.admin_idle_ttl = admin_idle_ttl

    def _ttl(self, session: Session, now: float) -> int:
        idle = self.admin_idle_ttl if session.is_admin else self.idle_ttl
        remaining = int(session.created_at + self.absolute_ttl - now)
        return max(1, min(idle, remaining))

    async def create(self, user_id: int, *, ip: str = "", user_agent: str = "",
                     is_admin: bool = False) -> Session:
        """Start a new session for *user_id* with a fresh random token."""
        now = time.time()
        session = Session(secrets.token_urlsafe(32), user_id, now, now, ip, user_agent[:255], is_admin)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(SESSION_PREFIX + session.token, session.to_json(), ex=self._ttl(session, now))
            pipe.sadd(USER_INDEX_PREFIX + str(user_id), session.token)
            pipe.expire(USER_INDEX_PREFIX + str(user_id), self.absolute_ttl)
            await pipe.execute()
        return session

    async def get(self, token: str | None, *, touch: bool = True, ip: str = "") -> Session | None:
        """Load the session for *token*; None when unknown, idle-expired or past its lifetime.

        With *touch*, the idle TTL slides forward and ``last_seen`` (and ip) is updated.
        """
        if not token or len(token) > 100:
            return None
        raw = await self.redis.get(SESSION_PREFIX + token)
        if raw is None:
            return None
        try:
            session = Session(token=token, **json.loads(raw))
        except (TypeError, ValueError):
            await self.redis.delete(SESSION_PREFIX + token)
            return None
        now = time.time()
        if now >= session.created_at + self.absolute_ttl:
            await self.delete(session)
            return None
        if touch and not await self.touch(session, ip=ip, now=now):
            return None  # revoked between the read and the write
        return session

    async def touch(self, session: Session, *, ip: str = "", now: float | None = None) -> bool:
        """Slide *session*'s idle TTL forward and update ``last_seen`` (and *ip* when given).

        Writes only when the key still exists (SET … XX): a session that was
        revoked (logout, password change, account disabled) after it was read
        stays revoked instead of being written back. Returns False in that case.
        """
        now = time.time() if now is None else now
        session.last_seen = now
        if ip:
            session.ip = ip
        return bool(await self.redis.set(SESSION_PREFIX + session.token, session.to_json(),
                                         ex=self._ttl(session, now), xx=True))

    async def delete(self, session: Session) -> None:
        """End one session (logout)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(SESSION_PREFIX + session.token)
            pipe.srem(USER_INDEX_PREFIX + str(session.user_id), session.token)
            await pipe.execute()

    async def list_for_user(self, user_id: int) -> list[Session]:
        """The user's live sessions, most recently seen first; prunes expired tokens from the index."""
        key = USER_INDEX_PREFIX + str(user_id)
        tokens = sorted(await self.redis.smembers(key))
        if not tokens:
            return []
        raws = await self.redis.mget([SESSION_PREFIX + t for t in tokens])
        live, dead = [], []
        for token, raw in zip(tokens, raws):
            if raw is None:
                dead.append(token)
                continue
            try:
                live.append(Session(token=token, **json.loads(raw)))
            except (TypeError, ValueError):  # a corrupt entry is no session: skip it, like get() does
                dead.append(token)
        if dead:
            await self.redis.srem(key, *dead)
        live.sort(key=lambda s: s.last_seen, reverse=True)
        return live

    async def revoke_user(self, user_id: int, *, keep_token: str | None = None) -> int:
        """Delete every session of *user_id* except *keep_token*; returns how many were deleted."""
        key = USER_INDEX_PREFIX + str(user_id)
        tokens = [t for t in await self.redis.smembers(key) if t != keep_token]
        if not tokens:
            return 0
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*[SESSION_PREFIX + t for t in tokens])
            pipe.srem(key, *tokens)
            results = await pipe.execute()
        return int(results[0])
