"""Applying the SQL migrations under ``migrations/`` with yoyo-migrations."""

from __future__ import annotations

import warnings
from pathlib import Path

from yoyo import get_backend, read_migrations

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def apply_migrations(mysql_url: str) -> int:
    """Apply every pending migration to the database at *mysql_url* (mysql://…).

    Synchronous (yoyo uses PyMySQL); holds yoyo's lock so two processes cannot
    migrate at once. Returns how many migrations were applied.
    """
    with warnings.catch_warnings():
        # yoyo 9 still passes PyMySQL the deprecated ``db=`` and ``passwd=`` keywords
        # (on every connection it opens, not only the first).
        warnings.filterwarnings("ignore", "'(db|passwd)' is deprecated", DeprecationWarning)
        backend = get_backend(mysql_url)
        try:
            migrations = read_migrations(str(MIGRATIONS_DIR))
            with backend.lock():
                pending = backend.to_apply(migrations)
                backend.apply_migrations(pending)
                return len(pending)
        finally:
            backend.connection.close()
