"""A thin database handle for the read models: SQLite (embedded default) or PostgreSQL.

SQL is written once with ``%s`` placeholders; the SQLite handle rewrites them to ``?``.
Values are always parameters.  Identifiers come only from fixed strings in this package.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, Protocol
from uuid import UUID

import psycopg
from psycopg_pool import ConnectionPool

Dialect = Literal["sqlite", "postgres"]
#: psycopg's ``prepare_threshold`` for statements prepared only when a call asks
#: (``prepare=True``): executions before automatic preparation, never reached.
ONLY_WHEN_ASKED = 2**62


_log = logging.getLogger("creator_ledger.sql")


class _MostRecentFirst(deque[Any]):
    """A pool's idle connections, handed out most recently returned first.

    psycopg_pool keeps its idle connections in a deque, returns them with ``append`` and takes
    them with ``popleft``: the one idle longest, so one thread's commands go round every
    connection of the pool, each on a PostgreSQL backend that was asleep.  Taken from the end
    they were returned to (``pop``), a thread's next command runs on the backend it just used,
    still warm: measured on this machine, an append through the pool cost ~0.9 ms wall and
    ~0.25 ms of client CPU going round six connections, ~0.64 ms and ~0.13 ms on one (the
    difference is the server process being woken and its caches); W2 approvals ran 9-11%
    faster at 1 client and 15-28% at 4 (issue 9).  SQLAlchemy's ``pool_use_lifo`` is the same
    idea.  The pool shrinks (``max_idle``) by ``popleft`` too, now closing the most recently
    used idle connection rather than the oldest: either is idle."""

    def popleft(self) -> Any:
        return self.pop()


def most_recent_first(pool: ConnectionPool[Any]) -> bool:
    """Make ``pool`` hand out its most recently returned idle connection first (see
    :class:`_MostRecentFirst`); whether it could (psycopg_pool's idle connections are a
    private deque: a version that keeps them otherwise is left as it is, and logged)."""
    lock = getattr(pool, "_lock", None)
    idle = getattr(pool, "_pool", None)
    if isinstance(idle, _MostRecentFirst):
        return True  # done already
    if lock is None or type(idle) is not deque:
        _log.warning("psycopg_pool keeps idle connections otherwise: left first-in, first-out")
        return False
    with lock:  # the pool adds and takes connections under this lock
        pool._pool = _MostRecentFirst(pool._pool)
    return True


class Cursor(Protocol):
    """The part of a DB-API cursor the read models use."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...

    @property
    def rowcount(self) -> int: ...


class Database(Protocol):
    dialect: Dialect

    def transaction(self) -> Any:
        """Context manager: a cursor inside one transaction (commit on success)."""
        ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def copy_rows(
        self,
        cur: Cursor,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        types: Sequence[str | int] | None = None,
    ) -> None:
        """Bulk insert (``COPY`` on PostgreSQL: binary when the columns' ``types`` are
        given, and then each value must be of the Python type of its column's)."""
        ...

    def close(self) -> None: ...


# -- SQLite -----------------------------------------------------------------------------------

sqlite3.register_adapter(UUID, str)
sqlite3.register_adapter(date, date.isoformat)
sqlite3.register_adapter(datetime, datetime.isoformat)


class _SqliteCursor:
    def __init__(self, cur: sqlite3.Cursor) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cur.execute(sql.replace("%s", "?"), params)

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> Any:
        return self._cur.executemany(sql.replace("%s", "?"), params)

    def executescript(self, script: str) -> Any:
        return self._cur.executescript(script)

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall()

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount


class SqliteDatabase:
    """One SQLite file (WAL), one connection per thread; or, with :meth:`in_memory`, a database
    in this process's memory shared by its threads (forgotten when it is closed)."""

    dialect: Dialect = "sqlite"

    def __init__(
        self, path: str | Path, *, busy_timeout_s: float = 30.0, uri: bool = False
    ) -> None:
        self.path = str(path)
        self.uri = uri
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        if uri:
            self._conn()  # an in-memory database lives as long as one connection to it

    @classmethod
    def in_memory(cls, name: str) -> SqliteDatabase:
        return cls(f"file:{name}?mode=memory&cache=shared", uri=True)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
                uri=self.uri,
            )
            if not self.uri:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[_SqliteCursor]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield _SqliteCursor(conn.cursor())
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn().execute(sql.replace("%s", "?"), params).fetchall()

    def copy_rows(
        self,
        cur: Cursor,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        types: Sequence[str | int] | None = None,  # noqa: ARG002 (SQLite binds values as they are)
    ) -> None:
        marks = ",".join("?" * len(columns))
        cur.executemany(f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})", rows)

    def executescript(self, script: str) -> None:
        self._conn().executescript(script)

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


# -- PostgreSQL -------------------------------------------------------------------------------


class PostgresDatabase:
    """A psycopg 3 connection pool."""

    dialect: Dialect = "postgres"

    def __init__(
        self,
        conninfo: str,
        *,
        min_size: int = 1,
        max_size: int = 8,
        timeout_s: float = 30.0,
        options: Mapping[str, str] | None = None,
    ) -> None:
        """A pool on ``conninfo``; ``options`` are libpq parameters every connection gets on top
        of the URL's (the ledger's schema as ``options=-c search_path=...``, ``connect_timeout``):
        the read models' SQL names its tables unqualified, so they live in that schema."""
        self.conninfo = conninfo
        # No automatic server-side preparation: the projection's statements read temporary
        # tables whose size changes from batch to batch, and a generic plan made for one batch
        # can be a disaster for the next.  Queries that benefit ask for it (``query``): a
        # threshold never reached, not None (None refuses even ``prepare=True``).
        self.pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout_s,
            open=True,
            # Autocommit: a query is one round trip (no implicit BEGIN, no ROLLBACK when the
            # connection goes back to the pool); ``transaction()`` opens a block explicitly.
            kwargs={"prepare_threshold": ONLY_WHEN_ASKED, "autocommit": True, **(options or {})},
        )
        most_recent_first(self.pool)

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Cursor[tuple[Any, ...]]]:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(sql, params, prepare=True)
            return cur.fetchall()

    def copy_rows(
        self,
        cur: Cursor,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        types: Sequence[str | int] | None = None,
    ) -> None:
        assert isinstance(cur, psycopg.Cursor)
        binary = " (FORMAT BINARY)" if types is not None else ""
        with cur.copy(f"COPY {table} ({','.join(columns)}) FROM STDIN{binary}") as copy:
            if types is not None:
                copy.set_types(list(types))
            for row in rows:
                copy.write_row(row)

    def close(self) -> None:
        self.pool.close()


def empty_temp_table_like(cur: Cursor, table: str) -> str:
    """PostgreSQL: ``batch_<table>``, a temporary table of ``table``'s columns, made on first
    use in the session and emptied; its name."""
    temp = f"batch_{table}"
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {temp} AS SELECT * FROM {table} WITH NO DATA")
    cur.execute(f"TRUNCATE {temp}")
    return temp


def as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
