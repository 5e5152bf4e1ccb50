"""Password rules and bcrypt hashing, off the event loop.

bcrypt at cost 12 takes about a quarter of a second of CPU, so both hashing and
checking run in the default executor. :func:`check_password` with ``None`` for
the hash checks against a dummy hash, so an unknown account costs the same time
as a wrong password and timing does not reveal which mobiles are registered.
"""

from __future__ import annotations

import asyncio
import functools
import re
from pathlib import Path

import bcrypt

MIN_LENGTH = 8
MAX_LENGTH = 64
# bcrypt reads at most 72 bytes, and bcrypt ≥ 5 raises ValueError beyond that
# instead of truncating: 64 characters of Chinese text are 192 bytes in UTF-8.
MAX_BYTES = 72
_COMMON_FILE = Path(__file__).resolve().parent / "data" / "common_passwords.txt"


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of frequently leaked passwords, lower-cased."""
    lines = _COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def password_problem(password: str) -> str | None:
    """Why *password* is not acceptable (a Chinese message), or None when it is.

    Rules: 8–64 characters and at most 72 bytes in UTF-8 (bcrypt's limit); at
    least two of the classes letters, digits, symbols (so not all one class);
    not in the list of common passwords.
    """
    if len(password) < MIN_LENGTH or len(password) > MAX_LENGTH:
        return f"密码长度须为 {MIN_LENGTH}–{MAX_LENGTH} 个字符"
    if len(password.encode()) > MAX_BYTES:
        return f"密码太长：最多 {MAX_BYTES} 个字节（一个汉字占 3 个字节）"
    classes = sum(bool(re.search(p, password)) for p in (r"[A-Za-z]", r"[0-9]", r"[^A-Za-z0-9]"))
    if classes < 2:
        return "密码不能只由一类字符组成，请混合字母、数字或符号"
    if password.lower() in common_passwords():
        return "这个密码太常见，容易被猜到，请换一个"
    return None


async def hash_password(password: str, rounds: int = 12) -> str:
    """bcrypt hash (cost *rounds*, at least 12) of *password*, computed in an executor."""
    salt = bcrypt.gensalt(rounds=max(12, rounds))
    loop = asyncio.get_running_loop()
    hashed = await loop.run_in_executor(None, bcrypt.hashpw, password.encode(), salt)
    return hashed.decode()


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> bytes:
    return bcrypt.hashpw(b"not-a-real-password", bcrypt.gensalt(rounds=12))


async def check_password(password: str, password_hash: str | None) -> bool:
    """True when *password* matches *password_hash*; with None, spends the same time and returns False.

    A password longer than MAX_BYTES can match no stored hash (none could be
    made from it), so it is checked, truncated, against the dummy hash: the
    same time and False, never bcrypt's ValueError.
    """
    loop = asyncio.get_running_loop()
    encoded = password.encode()
    if password_hash is None or len(encoded) > MAX_BYTES:
        dummy = await loop.run_in_executor(None, _dummy_hash)
        await loop.run_in_executor(None, bcrypt.checkpw, encoded[:MAX_BYTES], dummy)
        return False
    return await loop.run_in_executor(None, bcrypt.checkpw, encoded, password_hash.encode())
