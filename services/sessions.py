"""Server-side sessions in Redis.

A session is ``session:<token>`` holding JSON, where the token is
``secrets.token_urlsafe(32)`` (256 bits, unguessable). The browser holds the
token in a signed, HttpOnly cookie. Each session has a sliding idle TTL (the
Redis key's expiry, refreshed when it is used ``touch_interval`` seconds or more
after the last refresh — not on every request, which would be a Redis write per
page) and an absolute lifetime counted from its creation.

The session also keeps a snapshot of the fields pages show about its user
(``Session.user``: models.users.CurrentUser as a dict), so that a logged-in page
costs no MariaDB query. The snapshot is dropped on load (the caller reloads and
:meth:`SessionStore.remember_user` stores it again) when it is older than
``user_reload`` seconds, or when ``user_rev:<user_id>`` moved since it was taken:
:meth:`SessionStore.user_changed` bumps that counter around every write a user
makes (handlers/base.py), so a change of name, avatar or verification shows on
the next page in all of the user's sessions. It is read in the same round trip as
the session (a script). Revoking a session deletes its snapshot with it. ``user_sessions:<user_id>`` is a set of the user's tokens so
that all of them can be listed or revoked (password change, account disabled).

Revocations are durable. Redis may come back from an older snapshot (or AOF)
holding sessions that were logged out since, so every deletion is also
recorded by a *revocations* log kept in MariaDB (see models/revocations.py),
and a session is checked against that log whenever the Redis server it is read
from is not the one it was last checked on. Each session remembers the Redis
``run_id`` (a random id that changes at every server start) of its last check;
``run_id`` is read in the same round trip as the session. So the log costs no
database query per request: one per session after each Redis restart, plus a
row per revoked session. What it does not cover: a revocation whose MariaDB
write failed (logged) while Redis later restarts from a snapshot older than it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Protocol

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.background import stop_task

# Redis failures that a revocation survives by replaying its Redis half later.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)

log = logging.getLogger("ihome.sessions")

SESSION_PREFIX = "session:"
USER_INDEX_PREFIX = "user_sessions:"
USER_REV_PREFIX = "user_rev:"
# One round trip: the session's JSON, its user's snapshot counter and the server's
# run_id (KEYS[1] the session key; ARGV[1] the counter prefix). A corrupt JSON gives no counter.
# Riders (see SessionStore.get): ARGV[2], when not empty, a prefix whose key for the session's
# user is read too; KEYS[2..] more keys read. They come back as the 4th and 5th elements.
_LOAD = """
local run_id = string.match(redis.call('info', 'server'), 'run_id:(%w+)') or ''
local raw = redis.call('get', KEYS[1])
if not raw then return {false, false, run_id, false, {}} end
local ok, data = pcall(cjson.decode, raw)
local rev, mine = false, false
if ok and type(data) == 'table' and type(data['user_id']) == 'number' then
  local uid = string.format('%d', data['user_id'])
  rev = redis.call('get', ARGV[1] .. uid)
  if ARGV[2] ~= '' then mine = redis.call('get', ARGV[2] .. uid) end
end
local others = {}
for i = 2, #KEYS do others[i - 1] = redis.call('get', KEYS[i]) end
return {raw, rev, run_id, mine, others}
"""


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
    # run_id of the Redis server on which this session was last checked against
    # the revocation log ("" = never: checked at next load).
    checked_on: str = ""
    # The user's page fields (CurrentUser as a dict) or None (load them); when they were
    # taken (Unix seconds) and the value of user_rev:<user_id> then (None: never bumped).
    user: dict | None = None
    user_at: float = 0.0
    user_rev: str | None = None
    # Not stored: what SessionStore.get read along with the session (its riders): the value of
    # the user's key under the asked prefix (or None), and the other keys' values, in order.
    rider_user: str | None = None
    rider_keys: tuple = ()

    def to_json(self) -> str:
        """The JSON kept in Redis: every field but the token (which is the key) and the riders."""
        data = asdict(self)
        for name in ("token", "rider_user", "rider_keys"):
            del data[name]
        return json.dumps(data)


class RevocationLog(Protocol):
    """Where revocations are kept durably (models.revocations.RevocationLog implements it)."""

    async def record(self, revoked: list["Session"], *, absolute_ttl: int) -> None:
        """Remember that *revoked* sessions ended (each until it would have expired anyway)."""

    async def allows(self, session: "Session") -> bool:
        """False when *session* was revoked (alone, or with all of its user's sessions)."""


class SessionStore:
    """Create, load, refresh and revoke sessions held in Redis.

    ``idle_ttl`` and ``absolute_ttl`` are seconds; admin sessions use
    ``admin_idle_ttl`` instead of ``idle_ttl``. *revocations* (a
    :class:`RevocationLog`, optional) makes revocations durable; without it
    they live in Redis only. Redis errors propagate (``redis.exceptions``);
    so do the revocation log's when a session has to be checked against it.
    """

    def __init__(self, redis, *, idle_ttl: int, absolute_ttl: int, admin_idle_ttl: int,
                 revocations: RevocationLog | None = None, touch_interval: float | None = None,
                 user_reload: float = 60.0):
        self.redis = redis
        self.idle_ttl = idle_ttl
        self.absolute_ttl = absolute_ttl
        self.admin_idle_ttl = admin_idle_ttl
        # Seconds between idle-TTL refreshes of one session (default: a tenth of the shorter
        # idle TTL, at most a minute), and the longest a user snapshot is trusted (seconds).
        self.touch_interval = (min(60.0, min(idle_ttl, admin_idle_ttl) / 10)
                               if touch_interval is None else touch_interval)
        self.user_reload = user_reload
        self._load_script = redis.register_script(_LOAD)
        self.touches = 0  # session writes by get()/touch() (tests count them)
        self.revocations = revocations
        self.checks = 0  # sessions checked against the revocation log (tests count them)
        self.retry_interval = 1.0
        # Revocations recorded in MariaDB whose Redis half failed: replayed in the
        # background until Redis takes them (see _pend).
        self._pending_tokens: dict[str, int] = {}  # token -> user_id
        self._pending_users: dict[int, tuple[float, str | None]] = {}  # user_id -> (before, keep_token)
        self._replayer: asyncio.Task | None = None

    def _ttl(self, session: Session, now: float) -> int:
        idle = self.admin_idle_ttl if session.is_admin else self.idle_ttl
        remaining = int(session.created_at + self.absolute_ttl - now)
        return max(1, min(idle, remaining))

    async def create(self, user_id: int, *, ip: str = "", user_agent: str = "",
                     is_admin: bool = False, user: dict | None = None) -> Session:
        """Start a new session for *user_id* with a fresh random token; *user* is the
        snapshot of the user's page fields to keep with it (None: loaded on first use)."""
        now = time.time()
        session = Session(secrets.token_urlsafe(32), user_id, now, now, ip, user_agent[:255], is_admin)
        # A brand-new token cannot be in the revocation log: it counts as checked
        # on the server that stores it.
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.info("server")
            pipe.get(USER_REV_PREFIX + str(user_id))
            info, rev = await pipe.execute()
        session.checked_on = info.get("run_id", "")
        if user is not None:
            session.user, session.user_at, session.user_rev = dict(user), now, rev
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(SESSION_PREFIX + session.token, session.to_json(), ex=self._ttl(session, now))
            pipe.sadd(USER_INDEX_PREFIX + str(user_id), session.token)
            pipe.expire(USER_INDEX_PREFIX + str(user_id), self.absolute_ttl)
            await pipe.execute()
        return session

    async def _run_id(self) -> str:
        return (await self.redis.info("server")).get("run_id", "")

    async def _load(self, token: str, user_prefix: str = "", keys: tuple[str, ...] = ()) -> tuple:
        """(the session's JSON or None, its user's user_rev counter or None, the Redis
        server's run_id, the user's key under *user_prefix* or None, the values of *keys*),
        in one round trip."""
        raw, rev, run_id, mine, others = await self._load_script(
            keys=[SESSION_PREFIX + token, *keys], args=[USER_REV_PREFIX, user_prefix])
        return raw, rev, run_id, mine or None, tuple(v or None for v in others)

    async def _still_allowed(self, session: Session, run_id: str) -> bool:
        """Check *session* against the revocation log unless it was checked on this Redis
        server already; marks it checked (the next write stores that)."""
        if self.revocations is None or session.checked_on == run_id:
            return True
        self.checks += 1
        if not await self.revocations.allows(session):
            log.info("session of user %s was revoked; refusing it after a Redis restart", session.user_id)
            await self._forget([session])
            return False
        session.checked_on = run_id
        return True

    async def get(self, token: str | None, *, touch: bool = True, ip: str = "",
                  user_prefix: str = "", keys: tuple[str, ...] = ()) -> Session | None:
        """Load the session for *token*; None when unknown, idle-expired or past its lifetime.

        With *touch*, the idle TTL slides forward and ``last_seen`` (and ip) is updated
        when ``touch_interval`` seconds have passed since the last time. ``user`` is None
        when the snapshot must be reloaded (see the module docstring).

        Riders, read in the same round trip (a page's per-user figures cached in Redis):
        *user_prefix* + the session's user id → ``rider_user``; *keys* → ``rider_keys``
        (values or None, in order). Stored with nothing: the caller decides what they mean.
        """
        if not token or len(token) > 100:
            return None
        raw, rev, run_id, mine, others = await self._load(token, user_prefix, keys)
        if raw is None:
            return None
        try:
            session = Session(token=token, **json.loads(raw))
        except (TypeError, ValueError):
            await self.redis.delete(SESSION_PREFIX + token)
            return None
        session.rider_user, session.rider_keys = mine, others
        now = time.time()
        if now >= session.created_at + self.absolute_ttl:
            await self._forget([session])
            return None
        if session.user is not None and (session.user_rev != rev or now - session.user_at >= self.user_reload
                                         or now < session.user_at):
            session.user = None  # changed since, or too old to trust: the caller reloads it
        session.user_rev = rev
        was_checked_on = session.checked_on
        if not await self._still_allowed(session, run_id):
            return None
        due = now - session.last_seen >= self.touch_interval or now < session.last_seen
        if session.checked_on != was_checked_on:
            touch = due = True  # store the check, or every request would repeat it
        if touch and due and not await self.touch(session, ip=ip, now=now):
            return None  # revoked between the read and the write
        return session

    async def remember_user(self, session: Session, user: dict, *, ip: str = "") -> bool:
        """Keep *user* (the page fields of the session's user, freshly read) with *session*;
        also refreshes the idle TTL like :meth:`touch`. False when the session was revoked
        meanwhile (nothing is written then)."""
        session.user, session.user_at = dict(user), time.time()
        return await self.touch(session, ip=ip, now=session.user_at)

    async def user_changed(self, user_id: int) -> None:
        """Make every session of *user_id* reload its user snapshot on its next use
        (call around any write that may change what pages show about the user)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(USER_REV_PREFIX + str(user_id))
            pipe.expire(USER_REV_PREFIX + str(user_id), self.absolute_ttl)
            await pipe.execute()

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
        self.touches += 1
        return bool(await self.redis.set(SESSION_PREFIX + session.token, session.to_json(),
                                         ex=self._ttl(session, now), xx=True))

    async def delete(self, session: Session) -> None:
        """End one session (logout): recorded in the revocation log, then deleted in Redis.

        When the record was written but Redis fails, the deletion is replayed in the
        background instead of raising; when neither works, the Redis error is raised.
        """
        recorded = await self._record([session])
        try:
            await self._forget([session])
        except REDIS_DOWN as exc:
            if not recorded:
                raise
            log.warning("session deletion pending until Redis answers: %s", exc)
            self._pending_tokens[session.token] = session.user_id
            self._pend()

    async def _record(self, sessions: list[Session]) -> bool:
        """Record *sessions* as revoked; False when that failed (logged, not raised: the
        logout still happens in Redis, and only a later restore from an old snapshot
        could bring such a session back) or there is no log."""
        if self.revocations is None or not sessions:
            return False
        try:
            await self.revocations.record(sessions, absolute_ttl=self.absolute_ttl)
            return True
        except Exception:
            log.exception("could not record %d revoked session(s) durably", len(sessions))
            return False

    def _pend(self) -> None:
        if self._replayer is None or self._replayer.done():
            self._replayer = asyncio.get_running_loop().create_task(self._replay())

    @property
    def pending(self) -> bool:
        """True while revocations wait for Redis to take their Redis half."""
        return bool(self._pending_tokens or self._pending_users)

    async def _replay(self) -> None:
        """Retry pending deletions every retry_interval seconds until Redis takes them."""
        while self.pending:
            await asyncio.sleep(self.retry_interval)
            try:
                for token, user_id in list(self._pending_tokens.items()):
                    await self._forget([Session(token, user_id, 0.0, 0.0)])
                    del self._pending_tokens[token]
                for user_id, (before, keep) in list(self._pending_users.items()):
                    await self._revoke_user_now(user_id, keep, before)
                    del self._pending_users[user_id]
            except REDIS_DOWN as exc:
                log.info("session revocations still pending: %s", exc)
                continue
            log.info("pending session revocations replayed")

    async def close(self) -> None:
        """Stop the background replay (at shutdown); what is left is logged (MariaDB has it)."""
        await stop_task(self._replayer)
        if self.pending:
            log.warning("shutting down with %d session(s) and %d user(s) still to revoke in Redis",
                        len(self._pending_tokens), len(self._pending_users))

    async def _forget(self, sessions: list[Session]) -> None:
        """Delete *sessions* in Redis (keys and index entries), in one round trip."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for session in sessions:
                pipe.delete(SESSION_PREFIX + session.token)
                pipe.srem(USER_INDEX_PREFIX + str(session.user_id), session.token)
            await pipe.execute()

    async def _sessions_of(self, user_id: int) -> tuple[list[Session], list[str], str]:
        """(sessions, tokens whose entry is gone or corrupt, run_id) of the user's index."""
        key = USER_INDEX_PREFIX + str(user_id)
        tokens = sorted(await self.redis.smembers(key))
        if not tokens:
            return [], [], ""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.mget([SESSION_PREFIX + t for t in tokens])
            pipe.info("server")
            raws, info = await pipe.execute()
        live, dead = [], []
        for token, raw in zip(tokens, raws):
            if raw is None:
                dead.append(token)
                continue
            try:
                live.append(Session(token=token, **json.loads(raw)))
            except (TypeError, ValueError):  # a corrupt entry is no session: skip it, like get() does
                dead.append(token)
        return live, dead, info.get("run_id", "")

    async def list_for_user(self, user_id: int) -> list[Session]:
        """The user's live sessions, most recently seen first; prunes expired tokens from the
        index, and revoked sessions a restored Redis brought back."""
        live, dead, run_id = await self._sessions_of(user_id)
        if dead:
            await self.redis.srem(USER_INDEX_PREFIX + str(user_id), *dead)
        allowed = []
        for session in live:  # nearly always no check at all: see _still_allowed
            checked_on = session.checked_on
            if await self._still_allowed(session, run_id):
                allowed.append(session)
                if session.checked_on != checked_on:
                    await self.touch(session)
        allowed.sort(key=lambda s: s.last_seen, reverse=True)
        return allowed

    async def revoke_user(self, user_id: int, *, keep_token: str | None = None,
                          after_commit: bool = False) -> int:
        """Delete every session of *user_id* except *keep_token*; returns how many were deleted.

        Each one is recorded in the revocation log first. Revoking *all* of a
        user's sessions should also be recorded in the same transaction as the
        write that causes it (models.revocations.revoke_all_sessions); then pass
        *after_commit*: a Redis failure is replayed in the background (and 0
        returned) instead of turning that committed write into an error.
        """
        before = time.time()
        try:
            return await self._revoke_user_now(user_id, keep_token, before)
        except REDIS_DOWN as exc:
            if not after_commit:
                raise
            log.warning("revoking the sessions of user %s pending until Redis answers: %s", user_id, exc)
            self._pending_users[user_id] = (before, keep_token)
            self._pend()
            return 0

    async def _revoke_user_now(self, user_id: int, keep_token: str | None, before: float) -> int:
        live, dead, _ = await self._sessions_of(user_id)
        now = time.time()
        # An index entry without its session still names a token: record it too.
        # Sessions created after *before* (a replay running late) are not this revocation's.
        revoked = [s for s in live if s.token != keep_token and s.created_at < before] + [
            Session(token, user_id, now, now) for token in dead if token != keep_token]
        if not revoked:
            return 0
        await self._record(revoked)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*[SESSION_PREFIX + s.token for s in revoked])
            pipe.srem(USER_INDEX_PREFIX + str(user_id), *[s.token for s in revoked])
            results = await pipe.execute()
        return int(results[0])
