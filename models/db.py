"""Small async helpers over the shared aiomysql pool.

All SQL in 爱家 goes through :class:`Database` (or the :class:`Transaction` it
hands out) with ``%s`` parameters; rows come back as dicts. The pool runs in
autocommit mode so that a plain read always sees committed data; a multi-step
write uses ``async with db.transaction() as tx:`` which commits on success and
rolls back on any exception.
"""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator, Sequence

import aiomysql
import pymysql

from config import Settings

DuplicateKeyError = pymysql.err.IntegrityError
DUPLICATE_ENTRY = 1062


def is_duplicate_key(exc: BaseException) -> bool:
    """True when *exc* is MariaDB's "Duplicate entry" error (1062)."""
    return isinstance(exc, pymysql.err.IntegrityError) and exc.args and exc.args[0] == DUPLICATE_ENTRY


class _Executor:
    """Query helpers shared by :class:`Database` and :class:`Transaction`."""

    async def _run(self, sql: str, args: Sequence[Any] | None, fetch: str):
        raise NotImplementedError

    async def query(self, sql: str, *args: Any) -> list[dict]:
        """All rows of *sql* as dicts."""
        return await self._run(sql, args, "all")

    async def queryone(self, sql: str, *args: Any) -> dict | None:
        """The first row of *sql*, or None when there is none."""
        return await self._run(sql, args, "one")

    async def scalar(self, sql: str, *args: Any) -> Any:
        """The first column of the first row, or None."""
        row = await self._run(sql, args, "one")
        return None if row is None else next(iter(row.values()))

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a write; returns the affected row count."""
        return await self._run(sql, args, "rowcount")

    async def insert(self, sql: str, *args: Any) -> int:
        """Run an INSERT; returns the new AUTO_INCREMENT id."""
        return await self._run(sql, args, "lastrowid")

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run *sql* once per parameter tuple in *rows*; returns the affected row count."""
        return await self._run(sql, rows, "many")

    @staticmethod
    async def _fetch(cur, sql: str, args, fetch: str):
        if fetch == "many":
            await cur.executemany(sql, args)
            return cur.rowcount
        await cur.execute(sql, args or None)
        if fetch == "all":
            return list(await cur.fetchall())
        if fetch == "one":
            return await cur.fetchone()
        if fetch == "lastrowid":
            return cur.lastrowid
        return cur.rowcount


class Transaction(_Executor):
    """One connection inside ``BEGIN … COMMIT``; see :meth:`Database.transaction`."""

    def __init__(self, conn: aiomysql.Connection):
        self.conn = conn

    async def _run(self, sql, args, fetch):
        async with self.conn.cursor(aiomysql.DictCursor) as cur:
            return await self._fetch(cur, sql, args, fetch)


class Database(_Executor):
    """The application's handle on MariaDB: wraps an aiomysql pool."""

    def __init__(self, pool: aiomysql.Pool):
        self.pool = pool

    async def _run(self, sql, args, fetch):
        async with self.pool.acquire() as conn:
            async with conn.cursor(aiomysql.DictCursor) as cur:
                return await self._fetch(cur, sql, args, fetch)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """``async with db.transaction() as tx``: commit on success, roll back on error.

        Any exception inside the block (including a duplicate-key error) rolls the
        whole transaction back and is re-raised.
        """
        async with self.pool.acquire() as conn:
            await conn.begin()
            try:
                yield Transaction(conn)
            except BaseException:
                await conn.rollback()
                raise
            else:
                await conn.commit()

    async def close(self) -> None:
        """Close every connection of the pool and wait for them."""
        self.pool.close()
        await self.pool.wait_closed()


async def create_database(settings: Settings) -> Database:
    """Create the aiomysql pool for *settings* on the running loop (utf8mb4, autocommit)."""
    params = settings.mysql
    pool = await aiomysql.create_pool(
        host=params.host,
        port=params.port,
        user=params.user,
        password=params.password,
        db=params.db,
        minsize=settings.mysql_pool_min,
        maxsize=settings.mysql_pool_max,
        pool_recycle=settings.mysql_pool_recycle,
        charset="utf8mb4",
        autocommit=True,
    )
    return Database(pool)
