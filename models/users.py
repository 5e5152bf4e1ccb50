"""SQL for the ``users`` table, and the narrow view of the logged-in user.

Pages see the logged-in user as a :class:`CurrentUser`: a small frozen record
without the password hash or the ID card number. Those two are read only where
they are needed — :func:`get_login` (the password check at login) and
:func:`password_hash_of` (the password change); the ID card through
models/profile.py where the verification is shown.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from models.db import Database, Transaction, is_duplicate_key
from models.profile import NameTaken  # noqa: F401  (raised by create, as by the profile's rename)

# Columns safe to show to admins: no password hash, no ID card number.
USER_COLUMNS = "id, mobile, name, avatar_key, real_name, is_admin, is_active, created_at, updated_at"
# What every page needs about the logged-in user (see CurrentUser).
CURRENT_USER_COLUMNS = ("id, name, mobile, avatar_key, is_admin, is_active, "
                        "(id_card IS NOT NULL) AS verified, locale")


class MobileTaken(Exception):
    """The mobile number already has an account."""


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """The logged-in user as handlers and templates see it (``self.current_user``).

    ``verified`` is True once the real-name verification is done (publishing
    needs it); the name and number themselves stay in the database.
    """

    id: int
    name: str
    mobile: str
    avatar_key: str | None
    is_admin: bool
    is_active: bool
    verified: bool
    locale: str | None = None  # the saved language (services/i18n.py), None: not chosen

    @classmethod
    def from_row(cls, row: dict) -> "CurrentUser":
        """Build from a row holding at least :data:`CURRENT_USER_COLUMNS` (other keys are ignored)."""
        return cls(id=int(row["id"]), name=row["name"], mobile=row["mobile"], avatar_key=row["avatar_key"],
                   is_admin=bool(row["is_admin"]), is_active=bool(row["is_active"]),
                   verified=bool(row["verified"]), locale=row.get("locale"))


async def get_current(db: Database | Transaction, user_id: int) -> CurrentUser | None:
    """The :class:`CurrentUser` with *user_id*, or None when there is no such account."""
    row = await db.queryone(f"SELECT {CURRENT_USER_COLUMNS} FROM users WHERE id = %s", user_id)
    return CurrentUser.from_row(row) if row else None


async def get_login(db: Database | Transaction, mobile: str) -> tuple[CurrentUser, str] | None:
    """(the user, their bcrypt password hash) for *mobile* (11 digits), or None when unknown.

    The one read of a password hash at login; nothing else keeps the hash.
    """
    row = await db.queryone(f"SELECT {CURRENT_USER_COLUMNS}, password_hash FROM users WHERE mobile = %s",
                            mobile)
    return (CurrentUser.from_row(row), row["password_hash"]) if row else None


async def password_hash_of(db: Database | Transaction, user_id: int) -> str | None:
    """The bcrypt password hash of *user_id* (for the password change), or None."""
    return await db.scalar("SELECT password_hash FROM users WHERE id = %s", user_id)


async def id_of_mobile(db: Database | Transaction, mobile: str) -> int | None:
    """The id of the account with *mobile*, or None."""
    return await db.scalar("SELECT id FROM users WHERE mobile = %s", mobile)


async def name_taken(db: Database | Transaction, name: str) -> bool:
    """True when an account already uses the display name *name* (compared as the unique key
    compares it: case-insensitively). One read of uq_users_name."""
    return await db.scalar("SELECT id FROM users WHERE name = %s", name) is not None


def default_name() -> str:
    """A random display name such as "用户3f9a2c" — never the mobile, which pages show publicly."""
    return "用户" + secrets.token_hex(3)


async def set_locale(db: Database | Transaction, user_id: int, code: str) -> None:
    """Save the language *user_id* chose (a code of services.i18n.LANGUAGES, checked by the caller)."""
    await db.execute("UPDATE users SET locale = %s WHERE id = %s", code, user_id)


async def create(db: Database | Transaction, mobile: str, password_hash: str, *, is_admin: bool = False,
                 name: str | None = None) -> int:
    """Insert a user; returns the id. *name* is the display name chosen at sign-up (checked by
    the caller), else a random default one. Raises :class:`MobileTaken`, or :class:`NameTaken`
    when the chosen *name* belongs to another account (names are unique, case-insensitively)."""
    for _ in range(5):
        try:
            return await db.insert(
                "INSERT INTO users (mobile, name, password_hash, is_admin) VALUES (%s, %s, %s, %s)",
                mobile, name or default_name(), password_hash, int(is_admin))
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            if "uq_users_mobile" in str(exc):
                raise MobileTaken(mobile) from exc
            if name:
                raise NameTaken(name) from exc
            # else the random name collided (1 in 16 million): draw another
    raise RuntimeError("could not find a free default user name")
