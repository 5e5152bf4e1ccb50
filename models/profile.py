"""SQL for the profile pages' writes to ``users``: name, avatar, password, real-name data.

ID-card numbers are encrypted at rest (services/crypto.py, bound to the user's id);
the functions that read or write them take the application's ``FieldCipher``.
Nothing looks an account up by its ID card, so no searchable (keyed-hash) copy
is kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from models.db import Database, Transaction, is_duplicate_key
from services.crypto import FieldCipher, is_encrypted

log = logging.getLogger("ihome.models.profile")


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


def id_card_context(user_id: int) -> str:
    """The associated data an ID card is encrypted with: it only decrypts in its own row."""
    return f"users.id_card:{int(user_id)}"


@dataclass(frozen=True)
class Verification:
    """A user's real-name verification: the name and the ID card number, in clear."""

    real_name: str
    id_card: str


async def set_real_name(db: Database | Transaction, user_id: int, real_name: str, id_card: str,
                        cipher: FieldCipher) -> bool:
    """Record the verified *real_name* and *id_card* (encrypted) once; False when already verified.

    The ``id_card IS NULL`` condition makes verification write-once even when two
    requests race: only one of them changes the row.
    """
    changed = await db.execute(
        "UPDATE users SET real_name = %s, id_card = %s WHERE id = %s AND id_card IS NULL",
        real_name, cipher.encrypt(id_card, id_card_context(user_id)), user_id)
    return changed == 1


def _reveal(user_id: int, stored: str, cipher: FieldCipher) -> str:
    if is_encrypted(stored):
        return cipher.decrypt(stored, id_card_context(user_id))
    # A row from before encryption that `manage.py migrate` has not reached yet.
    log.warning("users.id_card of user %s is not encrypted; run `manage.py migrate`", user_id)
    return stored


async def verification(db: Database | Transaction, user_id: int, cipher: FieldCipher) -> Verification | None:
    """*user_id*'s verification with the ID card decrypted, or None when not verified.

    Raises :class:`services.crypto.DataKeyError` when the stored number does not
    decrypt with the configured keys (a wrong IHOME_DATA_KEY).
    """
    row = await db.queryone("SELECT real_name, id_card FROM users WHERE id = %s", user_id)
    if row is None or row["id_card"] is None:
        return None
    return Verification(row["real_name"] or "", _reveal(user_id, row["id_card"], cipher))


async def encrypt_id_cards(db: Database, cipher: FieldCipher, *, batch: int = 500) -> int:
    """Encrypt every ID card not yet under the cipher's current key; returns rows changed.

    Idempotent: plain rows (no ``gcm1.`` prefix) are encrypted, rows under an
    older key (rotation: IHOME_DATA_KEY="new,old") are re-encrypted, rows under
    the current key are left alone. Each row is changed by a compare-and-set
    UPDATE, so it is safe beside a running site. Raises DataKeyError when an
    encrypted row does not decrypt with any configured key — nothing is guessed.
    """
    changed = 0
    last_id = 0
    while True:
        rows = await db.query(
            "SELECT id, id_card FROM users WHERE id > %s AND id_card IS NOT NULL ORDER BY id LIMIT %s",
            last_id, batch)
        if not rows:
            return changed
        for row in rows:
            stored = row["id_card"]
            if cipher.is_current(stored):
                continue
            plain = _reveal(row["id"], stored, cipher) if is_encrypted(stored) else stored
            changed += await db.execute(
                "UPDATE users SET id_card = %s WHERE id = %s AND id_card = %s",
                cipher.encrypt(plain, id_card_context(row["id"])), row["id"], stored)
        last_id = rows[-1]["id"]


async def check_data_key(db: Database | Transaction, cipher: FieldCipher) -> int:
    """Decrypt one stored ID card per configured key id; returns how many were checked.

    Start-up calls this so a wrong IHOME_DATA_KEY stops the server at once
    (:class:`services.crypto.DataKeyError`) instead of failing page by page.
    """
    rows = await db.query(
        "SELECT MIN(id) AS id FROM users WHERE id_card LIKE 'gcm1.%%' "
        "GROUP BY SUBSTRING_INDEX(id_card, '.', 2) LIMIT 20")
    for row in rows:
        stored = await db.scalar("SELECT id_card FROM users WHERE id = %s", row["id"])
        cipher.decrypt(stored, id_card_context(row["id"]))
    return len(rows)

