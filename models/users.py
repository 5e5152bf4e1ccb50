"""SQL for the ``users`` table."""

from __future__ import annotations

from models.db import Database, Transaction, is_duplicate_key

USER_COLUMNS = ("id, mobile, name, password_hash, avatar_key, real_name, id_card, is_admin, "
                "is_active, created_at, updated_at")


class MobileTaken(Exception):
    """The mobile number already has an account."""


async def get_by_id(db: Database | Transaction, user_id: int) -> dict | None:
    """The user row with *user_id*, or None."""
    return await db.queryone(f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", user_id)


async def get_by_mobile(db: Database | Transaction, mobile: str) -> dict | None:
    """The user row with *mobile* (11 digits), or None."""
    return await db.queryone(f"SELECT {USER_COLUMNS} FROM users WHERE mobile = %s", mobile)


async def create(db: Database | Transaction, mobile: str, password_hash: str, *, is_admin: bool = False) -> int:
    """Insert a user named after their mobile; returns the id. Raises :class:`MobileTaken`."""
    try:
        return await db.insert(
            "INSERT INTO users (mobile, name, password_hash, is_admin) VALUES (%s, %s, %s, %s)",
            mobile, mobile, password_hash, int(is_admin))
    except Exception as exc:
        if is_duplicate_key(exc):
            raise MobileTaken(mobile) from exc
        raise
