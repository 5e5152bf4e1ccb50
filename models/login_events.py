"""SQL for ``login_events``: one row per login attempt, for the user and the admins' audit."""

from __future__ import annotations

from models.db import Database, Transaction

EVENT_COLUMNS = "id, user_id, mobile, ip, location, user_agent, success, is_admin_login, created_at"


async def record(db: Database | Transaction, *, user_id: int | None, mobile: str | None, ip: str,
                 location: str | None, user_agent: str, success: bool, is_admin_login: bool = False) -> int:
    """Insert one attempt; returns its id.

    *user_id* is None when the mobile matched no account; *mobile* is None when
    what was typed was not a mobile number. Texts are cut to their column sizes.
    """
    return await db.insert(
        "INSERT INTO login_events (user_id, mobile, ip, location, user_agent, success, is_admin_login) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        user_id, mobile[:11] if mobile else None, (ip or "")[:45],
        location[:128] if location else None, (user_agent or "")[:255], int(success), int(is_admin_login))


async def for_user(db: Database | Transaction, user_id: int, limit: int = 10) -> list[dict]:
    """The latest *limit* attempts on *user_id*'s account, newest first."""
    return await db.query(
        f"SELECT {EVENT_COLUMNS} FROM login_events WHERE user_id = %s ORDER BY created_at DESC, id DESC "
        "LIMIT %s", user_id, int(limit))
