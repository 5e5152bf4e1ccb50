"""The durable record of ended sessions (tables ``revoked_sessions`` and ``users.sessions_revoked_after``).

Live sessions are kept in Redis (services/sessions.py). Redis can come back from
an older snapshot, so every revocation is also written here, and a session read
from a Redis server it was not checked on is checked against this record:

- one session (logout, "log out that device"): its token's SHA-256 in
  ``revoked_sessions`` until the session would have expired anyway;
- every session of a user (password change, account disabled):
  ``users.sessions_revoked_after`` = now, written in the same transaction as the
  change itself by :func:`revoke_all_sessions`; sessions created before it are refused.

Times are Unix seconds (floats, as sessions record them).
"""

from __future__ import annotations

import hashlib
import time
from typing import Protocol

from models.db import Database, Transaction

# At most this many expired rows are purged per recorded revocation, so a purge
# never makes a logout slow; the index on expires_at keeps it cheap.
PURGE_BATCH = 200


class _SessionLike(Protocol):
    token: str
    user_id: int
    created_at: float


def token_hash(token: str) -> str:
    """SHA-256 of *token* in hex; ``UNHEX()`` of it is the 32-byte key of ``revoked_sessions``.

    (Hex rather than bytes parameters: aiomysql 0.3.2 fails to escape bytes with PyMySQL 1.2.)"""
    return hashlib.sha256(token.encode()).hexdigest()


async def revoke_all_sessions(tx: Transaction | Database, user_id: int, at: float | None = None) -> float:
    """Refuse every session of *user_id* created before *at* (default: now); returns *at*.

    Call it inside the transaction of the change that causes it (a new password,
    a disabled account), so the change and the revocation commit together.
    Never moves the mark backwards.
    """
    at = time.time() if at is None else at
    await tx.execute(
        "UPDATE users SET sessions_revoked_after = GREATEST(COALESCE(sessions_revoked_after, 0), %s) "
        "WHERE id = %s", at, user_id)
    return at


class RevocationLog:
    """services.sessions.RevocationLog over MariaDB; *db* is a models.db.Database."""

    def __init__(self, db: Database):
        self.db = db

    async def record(self, revoked: list[_SessionLike], *, absolute_ttl: int) -> None:
        """Record *revoked* sessions, each until created_at + *absolute_ttl* (seconds).

        One statement for all of them (a duplicate keeps the later expiry), then
        a bounded purge of rows that expired. Raises models.db errors.
        """
        if not revoked:
            return
        rows = [(token_hash(s.token), s.user_id, int(s.created_at + absolute_ttl) + 1) for s in revoked]
        placeholders = ", ".join(["(UNHEX(%s), %s, FROM_UNIXTIME(%s))"] * len(rows))
        await self.db.execute(
            f"INSERT INTO revoked_sessions (token_hash, user_id, expires_at) VALUES {placeholders} "
            "ON DUPLICATE KEY UPDATE expires_at = GREATEST(expires_at, VALUES(expires_at))",
            *[value for row in rows for value in row])
        await self.db.execute(
            f"DELETE FROM revoked_sessions WHERE expires_at < NOW() LIMIT {PURGE_BATCH}")

    async def allows(self, session: _SessionLike) -> bool:
        """False when *session* was revoked, its user revoked all sessions since it
        was created, or the user no longer exists. One query on two primary keys."""
        row = await self.db.queryone(
            "SELECT u.sessions_revoked_after AS revoked_after, "
            "EXISTS(SELECT 1 FROM revoked_sessions r WHERE r.token_hash = UNHEX(%s)) AS revoked "
            "FROM users u WHERE u.id = %s",
            token_hash(session.token), session.user_id)
        if row is None or row["revoked"]:
            return False
        after = row["revoked_after"]
        return after is None or session.created_at >= after
