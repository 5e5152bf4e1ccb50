"""Small async helpers over the shared aiomysql pool.

All SQL in 爱家 goes through :class:`Database` (or the :class:`Transaction` it
hands out) with ``%s`` parameters; rows come back as dicts. The pool runs in
autocommit mode so that a plain read always sees committed data; a multi-step
write uses ``async with db.transaction() as tx:`` which commits on success and
rolls back on any exception.

Every wait on MariaDB is bounded (aiomysql bounds none of them by itself beyond
the TCP connect):

- taking a connection from the pool, connecting and the login handshake
  included: ``Timeouts.mysql_acquire`` seconds;
- each statement: the server aborts it after ``max_statement_time``
  (``Timeouts.mysql_statement`` for plain queries, set on every new connection;
  ``Timeouts.mysql_tx_statement`` inside transactions, which may wait for row
  locks), and the client gives up one second later by closing the connection —
  that is what catches a server that stalls without answering at all.

A server that cannot be reached, is lost mid-query, or answers too slowly
raises :class:`DatabaseUnavailable` (a neutral error: handlers turn it into a
503 with Retry-After). Lock waits and deadlocks (1205/1213) stay
``pymysql.err.OperationalError``: they are about the request, not the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, AsyncIterator, Sequence

import aiomysql
import pymysql

from config import Settings

log = logging.getLogger("ihome.db")

DUPLICATE_ENTRY = 1062

# Client and server error codes that mean "the database is not answering", as
# opposed to "this statement is wrong or lost a lock race".
UNAVAILABLE_CODES = frozenset({
    1040,  # too many connections
    1053,  # server shutdown in progress
    1927,  # connection was killed
    1969,  # max_statement_time exceeded
    2002, 2003, 2006, 2013, 2055,  # cannot connect / server gone / lost connection
})
# Seconds the client waits past the server's own statement limit before it
# decides the server is stalled: the server's clean error should arrive first.
CLIENT_GRACE = 1.0


class DatabaseUnavailable(Exception):
    """MariaDB could not be reached or did not answer in time; the work was not done
    (or, for a lost COMMIT, its outcome is unknown). Worth retrying later."""


def is_duplicate_key(exc: BaseException) -> bool:
    """True when *exc* is MariaDB's "Duplicate entry" error (1062)."""
    return isinstance(exc, pymysql.err.IntegrityError) and exc.args and exc.args[0] == DUPLICATE_ENTRY


def is_unavailable(exc: BaseException) -> bool:
    """True when *exc* says the server is unreachable or too slow (not a bad statement)."""
    if isinstance(exc, DatabaseUnavailable):
        return True
    if isinstance(exc, pymysql.err.InterfaceError):  # used a connection that was closed under it
        return True
    return (isinstance(exc, pymysql.err.OperationalError) and bool(exc.args)
            and exc.args[0] in UNAVAILABLE_CODES)


@contextlib.contextmanager
def _neutral_errors(what: str):
    """Re-raise connection-level failures as :class:`DatabaseUnavailable`."""
    try:
        yield
    except DatabaseUnavailable:
        raise
    except (pymysql.err.MySQLError, OSError) as exc:
        if isinstance(exc, OSError) or is_unavailable(exc):
            raise DatabaseUnavailable(f"{what}: {exc}") from exc
        raise


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


async def _guarded(conn: aiomysql.Connection, timeout: float | None, work):
    """Await *work* (a coroutine using *conn*), closing *conn* when it takes over *timeout* s.

    Closing the socket makes aiomysql's pending read fail at once ("Lost
    connection", 2013), so the caller gets an error instead of a hang and the
    connection is never reused. This is used rather than ``asyncio.wait_for``
    because cancelling a half-read reply would leave the connection in an
    unknown state, and the cursor's clean-up could block on the stalled server.
    Any other interruption (the request being cancelled) closes it as well.
    """
    timer = None
    if timeout is not None:
        timer = asyncio.get_running_loop().call_later(timeout, conn.close)
    try:
        return await work
    except pymysql.err.MySQLError:
        raise  # aiomysql already closed the connection if the protocol broke
    except BaseException:
        conn.close()
        raise
    finally:
        if timer is not None:
            timer.cancel()


class Transaction(_Executor):
    """One connection inside ``BEGIN … COMMIT``; see :meth:`Database.transaction`."""

    def __init__(self, conn: aiomysql.Connection, timeout: float | None = None, prefix: str = ""):
        self.conn = conn
        self.timeout = timeout
        self.prefix = prefix

    async def _run(self, sql, args, fetch):
        # executemany keeps the plain statement: PyMySQL batches only a bare INSERT … VALUES.
        statement = sql if fetch == "many" else self.prefix + sql

        async def work():
            async with self.conn.cursor(aiomysql.DictCursor) as cur:
                return await self._fetch(cur, statement, args, fetch)
        with _neutral_errors("statement in transaction"):
            return await _guarded(self.conn, self.timeout, work())


class Database(_Executor):
    """The application's handle on MariaDB: wraps an aiomysql pool.

    *acquire_timeout* bounds the wait for a pooled connection (connecting
    included); *statement_timeout* and *tx_statement_timeout* are the server's
    ``max_statement_time`` outside and inside transactions (seconds; None = no
    limit, for command-line tools).
    """

    def __init__(self, pool: aiomysql.Pool, *, acquire_timeout: float | None = None,
                 statement_timeout: float | None = None, tx_statement_timeout: float | None = None):
        self.pool = pool
        self.acquire_timeout = acquire_timeout
        self.statement_timeout = statement_timeout
        self.tx_statement_timeout = tx_statement_timeout

    @staticmethod
    def _client_limit(server_limit: float | None) -> float | None:
        return None if server_limit is None else server_limit + CLIENT_GRACE

    @contextlib.asynccontextmanager
    async def _connection(self, timeout: float | None = None) -> AsyncIterator[aiomysql.Connection]:
        """A pooled connection within *timeout* (default acquire_timeout) seconds, given back after."""
        limit = self.acquire_timeout if timeout is None else timeout
        with _neutral_errors("connecting"):
            try:
                # wait_for is safe here: nothing has been sent on a connection yet.
                conn = await asyncio.wait_for(self.pool.acquire(), limit)
            except asyncio.TimeoutError:
                raise DatabaseUnavailable(f"no database connection within {limit} s") from None
        try:
            yield conn
        finally:
            self.pool.release(conn)

    async def _run(self, sql, args, fetch, *, timeout: float | None = None):
        async with self._connection(timeout) as conn:
            async def work():
                async with conn.cursor(aiomysql.DictCursor) as cur:
                    return await self._fetch(cur, sql, args, fetch)
            with _neutral_errors("query"):
                limit = self._client_limit(self.statement_timeout) if timeout is None else timeout
                return await _guarded(conn, limit, work())

    async def ping(self, timeout: float) -> None:
        """Run ``SELECT 1`` within *timeout* seconds overall; raises :class:`DatabaseUnavailable`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._connection(timeout) as conn:
            async def work():
                async with conn.cursor() as cur:
                    await cur.execute("SELECT 1")
                    await cur.fetchone()
            with _neutral_errors("ping"):
                await _guarded(conn, max(0.01, deadline - loop.time()), work())

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """``async with db.transaction() as tx``: commit on success, roll back on error.

        Any exception inside the block (including a duplicate-key error) rolls the
        whole transaction back and is re-raised. Statements inside may run for
        ``tx_statement_timeout`` seconds (they can wait for row locks).
        """
        async with self._connection() as conn:
            limit = self._client_limit(self.tx_statement_timeout)
            with _neutral_errors("begin"):
                await _guarded(conn, limit, conn.begin())
            try:
                yield Transaction(conn, limit, self._tx_prefix())
            except BaseException:
                await self._rollback(conn)
                raise
            else:
                with _neutral_errors("commit"):
                    await _guarded(conn, limit, conn.commit())

    def _tx_prefix(self) -> str:
        """``SET STATEMENT … FOR`` giving one statement the transaction limit, without a
        round trip and without changing the connection for its next user."""
        if not self.tx_statement_timeout or self.tx_statement_timeout == self.statement_timeout:
            return ""
        return f"SET STATEMENT max_statement_time = {float(self.tx_statement_timeout)} FOR "

    async def _rollback(self, conn: aiomysql.Connection) -> None:
        """Roll back; a connection that cannot is closed (the server rolls back for it)."""
        if conn.closed:
            return
        try:
            await _guarded(conn, self._client_limit(self.tx_statement_timeout), conn.rollback())
        except Exception:
            log.warning("rollback failed; closing the connection", exc_info=True)
            conn.close()

    async def close(self) -> None:
        """Close every connection of the pool and wait for them."""
        self.pool.close()
        await self.pool.wait_closed()


async def create_database(settings: Settings, *, bounded: bool = True) -> Database:
    """Create the aiomysql pool for *settings* on the running loop (utf8mb4, autocommit).

    With *bounded* (the web server), the timeouts of ``settings.timeouts`` apply
    (see the module docstring); command-line tools such as seeding pass False.
    Raises :class:`DatabaseUnavailable` when the first connections cannot be made.
    """
    params = settings.mysql
    t = settings.timeouts
    statement = t.mysql_statement if bounded else None
    with _neutral_errors("creating the pool"):
        create = aiomysql.create_pool(
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
            connect_timeout=t.mysql_connect,
            # Every new connection starts with the page-query limit.
            init_command=f"SET SESSION max_statement_time = {float(statement)}" if statement else None,
        )
        try:
            pool = await asyncio.wait_for(create, t.mysql_acquire) if bounded else await create
        except asyncio.TimeoutError:
            raise DatabaseUnavailable("MariaDB did not answer while the pool was created") from None
    if not bounded:
        return Database(pool)
    return Database(pool, acquire_timeout=t.mysql_acquire, statement_timeout=statement,
                    tx_statement_timeout=t.mysql_tx_statement)
