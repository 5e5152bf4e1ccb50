"""Password rules and bcrypt hashing, off the event loop.

bcrypt at cost 12 takes about a quarter of a second of CPU, so both hashing and
checking run in an executor of their own: at most ``cores - 1`` threads (at least
one), so a burst of logins can never take every core from the event loop and the
rest of the site keeps answering. :func:`check_password` with ``None`` for the
hash checks against a dummy hash of the same cost, so an unknown account costs
the same time as a wrong password and timing does not reveal which mobiles are
registered.

The cost comes from configuration (``Settings.bcrypt_rounds``): production refuses
anything below 12 at start-up (config.py); the test suite uses a low cost.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bcrypt

MIN_LENGTH = 8
MAX_LENGTH = 64
# bcrypt reads at most 72 bytes, and bcrypt ≥ 5 raises ValueError beyond that
# instead of truncating: 64 characters of Chinese text are 192 bytes in UTF-8.
MAX_BYTES = 72
DEFAULT_ROUNDS = 12
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


@functools.lru_cache(maxsize=1)
def bcrypt_executor() -> ThreadPoolExecutor:
    """The threads bcrypt runs on: ``cores - 1`` of them (at least 1), made on first use.

    bcrypt releases the GIL, so each thread can take a whole core; leaving one
    core free keeps the event loop answering pages during a burst of logins.
    """
    workers = max(1, (os.cpu_count() or 2) - 1)
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bcrypt")


async def _run(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(bcrypt_executor(), fn, *args)


async def hash_password(password: str, rounds: int = DEFAULT_ROUNDS) -> str:
    """bcrypt hash (cost *rounds*, 4–31, from ``Settings.bcrypt_rounds``) of *password*, off the event loop."""
    salt = bcrypt.gensalt(rounds=rounds)
    hashed = await _run(bcrypt.hashpw, password.encode(), salt)
    return hashed.decode()


@functools.lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> bytes:
    return bcrypt.hashpw(b"not-a-real-password", bcrypt.gensalt(rounds=rounds))


async def check_password(password: str, password_hash: str | None, *, rounds: int = DEFAULT_ROUNDS) -> bool:
    """True when *password* matches *password_hash*; with None, spends the same time and returns False.

    *rounds* is the configured cost, used for the dummy hash so that an unknown
    account takes as long as a known one. A password longer than MAX_BYTES can
    match no stored hash (none could be made from it), so it is checked,
    truncated, against the dummy hash: the same time and False, never bcrypt's
    ValueError.
    """
    encoded = password.encode()
    if password_hash is None or len(encoded) > MAX_BYTES:
        dummy = await _run(_dummy_hash, rounds)
        await _run(bcrypt.checkpw, encoded[:MAX_BYTES], dummy)
        return False
    return await _run(bcrypt.checkpw, encoded, password_hash.encode())
