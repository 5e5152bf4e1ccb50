"""SQL for the ``users`` table."""

from __future__ import annotations

import secrets

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


def default_name() -> str:
    """A random display name such as "用户3f9a2c" — never the mobile, which pages show publicly."""
    return "用户" + secrets.token_hex(3)


async def create(db: Database | Transaction, mobile: str, password_hash: str, *, is_admin: bool = False) -> int:
    """Insert a user with a random default name; returns the id. Raises :class:`MobileTaken`."""
    for _ in range(5):
        try:
            return await db.insert(
                "INSERT INTO users (mobile, name, password_hash, is_admin) VALUES (%s, %s, %s, %s)",
                mobile, default_name(), password_hash, int(is_admin))
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            if "uq_users_mobile" in str(exc):
                raise MobileTaken(mobile) from exc
            # else the random name collided (1 in 16 million): draw another
    raise RuntimeError("could not find a free default user name")
