"""SQL for the profile pages' writes to ``users``: name, avatar, password, real-name data."""

from __future__ import annotations

from models.db import Database, Transaction, is_duplicate_key


class NameTaken(Exception):
    """Another account already uses that name (names are unique, case-insensitively)."""


async def set_name(db: Database | Transaction, user_id: int, name: str) -> None:
    """Rename *user_id*; raises :class:`NameTaken` when the name belongs to someone else."""
    try:
        await db.execute("UPDATE users SET name = %s WHERE id = %s", name, user_id)
    except Exception as exc:
        if is_duplicate_key(exc):
            raise NameTaken(name) from exc
        raise


async def set_avatar(db: Database, user_id: int, key: str | None) -> str | None:
    """Point *user_id*'s avatar at the stored image *key*; returns the previous key (or None).

    Runs in one transaction with a row lock, so two uploads at once each get the
    other's key back exactly once and no stored file is left without a row or
    deleted while still in use.
    """
    async with db.transaction() as tx:
        old = await tx.scalar("SELECT avatar_key FROM users WHERE id = %s FOR UPDATE", user_id)
        await tx.execute("UPDATE users SET avatar_key = %s WHERE id = %s", key, user_id)
    return old


async def set_password_hash(db: Database | Transaction, user_id: int, password_hash: str) -> None:
    """Store a new bcrypt *password_hash* for *user_id*."""
    await db.execute("UPDATE users SET password_hash = %s WHERE id = %s", password_hash, user_id)


async def set_real_name(db: Database | Transaction, user_id: int, real_name: str, id_card: str) -> bool:
    """Record the verified *real_name* and *id_card* once; False when the user was already verified.

    The ``id_card IS NULL`` condition makes verification write-once even when two
    requests race: only one of them changes the row.
    """
    changed = await db.execute(
        "UPDATE users SET real_name = %s, id_card = %s WHERE id = %s AND id_card IS NULL",
        real_name, id_card, user_id)
    return changed == 1

