"""Connections: one small interface over aiosqlite and psycopg's pool.

Every other module of the store writes its SQL once, with `?` placeholders and portable SQL
(`ON CONFLICT`, `RETURNING`, window functions), and names the few places where the engines differ
with `tx.dialect`. So one design visibly serves both:

- SQLite (one machine): one connection per process; a write transaction is `BEGIN IMMEDIATE`, which
  takes the database's single write lock up front, so a read-then-write never races.
- PostgreSQL (many machines): a psycopg_pool connection pool; rows a transaction will change are
  locked (`FOR UPDATE`, claims with `SKIP LOCKED`), and `LISTEN/NOTIFY` wakes waiting processes.
  The pool checks each connection before lending it (a server restart or a terminated backend
  costs a reconnect, not an error), and a database that is away raises `StoreUnavailable`.

An outage is logged once: a WARNING when the store first cannot answer, and a line when it answers
again; callers treat `StoreUnavailable` as "try again later" and say nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import aiosqlite

from drawme.models import StoreUnavailable

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
CHANNEL = "drawme"  # LISTEN/NOTIFY channel: "something changed in the job store"
LISTEN_RETRY = 1.0  # seconds before a lost LISTEN connection is opened again
OUTAGE_WAIT = 1.0  # seconds a caller waits for a connection while the database is known to be away


class Dialect(StrEnum):
    SQLITE = "sqlite"
    POSTGRES = "postgres"


class Row:
    """A result row by column name or position (sqlite3.Row's interface, for psycopg too)."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: str | int) -> Any:
        return self._values[self._index[key] if isinstance(key, str) else key]

    def keys(self) -> list[str]:
        return list(self._index)


def _pg_rows(cursor: Any) -> Any:
    """psycopg row factory making `Row`s."""
    index = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: Row(values, index)


class Tx:
    """One transaction. `execute`, `row` and `rows` take `?` placeholders on both engines."""

    def __init__(self, dialect: Dialect, conn: Any) -> None:
        self.dialect = dialect
        self._conn = conn
        self.changed = False  # set by `notify`: wake waiting processes once this commits

    @property
    def for_update(self) -> str:
        """Suffix of a SELECT whose rows this transaction will change. SQLite needs none: BEGIN
        IMMEDIATE already holds the one write lock."""
        return " FOR UPDATE" if self.dialect is Dialect.POSTGRES else ""

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect is Dialect.POSTGRES else sql

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> None:
        if self.dialect is Dialect.POSTGRES:
            await self._conn.execute(self._sql(sql), tuple(args) or None)
        else:
            await (await self._conn.execute(sql, tuple(args))).close()

    async def rows(self, sql: str, args: Iterable[Any] = ()) -> list[Any]:
        if self.dialect is Dialect.POSTGRES:
            async with self._conn.cursor(row_factory=_pg_rows) as cursor:
                await cursor.execute(self._sql(sql), tuple(args) or None)
                return await cursor.fetchall() if cursor.description else []
        async with self._conn.execute(sql, tuple(args)) as cursor:
            return list(await cursor.fetchall())

    async def row(self, sql: str, args: Iterable[Any] = ()) -> Any | None:
        rows = await self.rows(sql, args)
        return rows[0] if rows else None

    async def one(self, sql: str, args: Iterable[Any] = ()) -> Any:
        """The first row of a statement that always returns one (an aggregate, a RETURNING, a row
        this transaction made sure of); LookupError if it returned none."""
        row = await self.row(sql, args)
        if row is None:
            raise LookupError(f"no row from: {sql}")
        return row

    async def value(self, sql: str, args: Iterable[Any] = ()) -> Any:
        row = await self.row(sql, args)
        return None if row is None else row[0]

    async def notify(self) -> None:
        """Tell waiting processes (workers, bots) that jobs changed, once this transaction commits."""
        if self.changed:
            return  # once per transaction is enough
        self.changed = True
        if self.dialect is Dialect.POSTGRES:  # delivered at COMMIT, dropped at ROLLBACK
            await self._conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))


class Database:
    """What the store needs from an engine: transactions, reads, change notifications, a lock."""

    dialect: Dialect

    def __init__(self) -> None:
        self._changed = asyncio.Event()
        self._down_since: float | None = None  # monotonic time of the first failure of an outage

    def _unavailable(self, error: BaseException) -> StoreUnavailable:
        """The store cannot answer: WARNING once per outage. Returns the error to raise."""
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("the job store is unavailable (%s); trying again until it is back", error)
        return StoreUnavailable(str(error) or type(error).__name__)

    def _available(self) -> None:
        if self._down_since is not None:
            log.info("the job store is back after %.0f s", time.monotonic() - self._down_since)
            self._down_since = None

    def transaction(self, write: bool = True) -> contextlib.AbstractAsyncContextManager[Tx]:
        raise NotImplementedError

    async def rows(self, sql: str, args: Iterable[Any] = ()) -> list[Any]:
        async with self.transaction(write=False) as tx:
            return await tx.rows(sql, args)

    def migration_lock(self) -> contextlib.AbstractAsyncContextManager[Tx]:
        raise NotImplementedError

    def _signal(self) -> None:
        self._changed.set()

    async def wait_for_change(self, timeout: float) -> bool:
        """Wait until a change is signalled (or `timeout` passes). True when one was. A change that
        came since the last call returns at once, so a caller that looked and then waits misses none."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        self._changed.clear()
        return True

    async def close(self) -> None:
        raise NotImplementedError


# --- SQLite --------------------------------------------------------------------------------------


async def _set_wal(db: aiosqlite.Connection, deadline: float) -> None:
    """Switch to WAL, retrying while another process holds a lock: changing the journal mode does
    not wait on busy_timeout, so several processes opening a fresh file at once would die here."""
    while True:
        try:
            async with db.execute("PRAGMA journal_mode") as cursor:
                mode = await cursor.fetchone()
                if mode is not None and mode[0].lower() == "wal":
                    return  # set once, it stays in the file
            await db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            if time.monotonic() > deadline:
                raise StoreUnavailable(str(error)) from error
            await asyncio.sleep(random.uniform(0.01, 0.05))


class SqliteDatabase(Database):
    dialect = Dialect.SQLITE

    def __init__(self, db: aiosqlite.Connection) -> None:
        super().__init__()
        self._db = db
        # One connection, many coroutines (the worker's heartbeat and progress tasks): a transaction
        # must not interleave with another coroutine's statements on the same connection.
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, path: Path) -> SqliteDatabase:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        db.row_factory = sqlite3.Row
        try:
            await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await _set_wal(db, time.monotonic() + BUSY_TIMEOUT_MS / 1000)
            await db.execute("PRAGMA synchronous = NORMAL")  # durable across app crashes in WAL mode
            await db.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            await db.close()
            raise
        return cls(db)

    @contextlib.asynccontextmanager
    async def transaction(self, write: bool = True) -> AsyncIterator[Tx]:
        """BEGIN IMMEDIATE takes the write lock up front; read snapshots (write=False) are DEFERRED
        and do not block writers (WAL)."""
        tx = Tx(Dialect.SQLITE, self._db)
        async with self._lock:
            try:  # sqlite3's "database is locked" and I/O errors: the backend-neutral StoreUnavailable
                await self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")
                try:
                    yield tx
                except BaseException:
                    await self._db.execute("ROLLBACK")
                    raise
                await self._db.execute("COMMIT")
            except sqlite3.OperationalError as error:
                raise self._unavailable(error) from error
        self._available()
        if tx.changed:  # SQLite has no LISTEN: only this process's waiters learn it at once
            self._signal()

    def migration_lock(self) -> contextlib.AbstractAsyncContextManager[Tx]:
        return self.transaction()  # BEGIN IMMEDIATE: one process migrates, the others wait

    async def backup(self, dest: Path) -> None:
        """SQLite's online backup into `dest` (a consistent copy while others write)."""
        async with self._lock:
            target = await aiosqlite.connect(dest)
            try:
                await self._db.backup(target)
            finally:
                await target.close()

    async def close(self) -> None:
        await self._db.close()


# --- PostgreSQL ----------------------------------------------------------------------------------

MIGRATION_LOCK = 0x64726177  # pg_advisory_lock key of schema migrations ("draw")


class PostgresDatabase(Database):
    dialect = Dialect.POSTGRES

    def __init__(self, url: str, pool: Any) -> None:
        super().__init__()
        self._url = url
        self._pool = pool
        self._listener: asyncio.Task | None = None

    @classmethod
    async def connect(cls, url: str, pool_size: int) -> PostgresDatabase:
        import psycopg_pool  # only PostgreSQL deployments need the driver loaded

        pool = psycopg_pool.AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max(1, pool_size),
            kwargs={"autocommit": True},  # transactions are explicit: `transaction()` below
            open=False,
            timeout=BUSY_TIMEOUT_MS / 1000,
            # A connection the server dropped (a restart, pg_terminate_backend) is replaced before
            # use instead of failing the transaction that gets it.
            check=psycopg_pool.AsyncConnectionPool.check_connection,
        )
        try:
            await pool.open(wait=True, timeout=BUSY_TIMEOUT_MS / 1000)
        except Exception as error:
            await pool.close()
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {error}") from error
        return cls(url, pool)

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        import psycopg
        import psycopg_pool

        # During an outage, fail fast instead of waiting the pool's full timeout for each caller.
        timeout = OUTAGE_WAIT if self._down_since is not None else None
        try:
            async with self._pool.connection(timeout=timeout) as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout) as error:
            raise self._unavailable(error) from error
        self._available()

    @contextlib.asynccontextmanager
    async def transaction(self, write: bool = True) -> AsyncIterator[Tx]:
        """READ COMMITTED with row locks for writes; a REPEATABLE READ snapshot for reads."""
        async with self._connection() as conn, conn.transaction():
            if not write:
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            tx = Tx(Dialect.POSTGRES, conn)
            yield tx
        if tx.changed:
            self._signal()  # this process's own waiters need not wait for the round trip

    @contextlib.asynccontextmanager
    async def migration_lock(self) -> AsyncIterator[Tx]:
        """A transaction holding an advisory lock: one process migrates, the others wait for it."""
        async with self.transaction() as tx:
            await tx.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            yield tx

    async def wait_for_change(self, timeout: float) -> bool:
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen())
        return await super().wait_for_change(timeout)

    async def _listen(self) -> None:
        """Keep one connection LISTENing; every NOTIFY on CHANNEL signals the waiters. Reconnects."""
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._signal()  # anything may have changed while we were not listening
                    async for _ in conn.notifies():
                        self._signal()
            except asyncio.CancelledError:
                raise
            except psycopg.OperationalError as error:  # the fallback is polling meanwhile
                log.debug("LISTEN connection lost (%s); retrying in %.0f s", error, LISTEN_RETRY)
            except Exception:
                log.warning("LISTEN connection failed; retrying in %.0f s", LISTEN_RETRY, exc_info=True)
            await asyncio.sleep(LISTEN_RETRY)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        await self._pool.close()
