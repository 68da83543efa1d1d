"""The SQLite plumbing of the services' durable stores (the relayer's, and the oracle's).

One database file per service instance (``sqlite:///relative/path`` or
``sqlite:////absolute/path``), in WAL mode so request threads read while workers write, with
``synchronous=FULL`` so a transaction that returned has reached the disk: an answer handed out,
or a signed transaction about to be broadcast, survives ``kill -9`` and power loss.

:class:`SqliteStore` gives a store its connection per thread, its schema (checked against the
version recorded in its ``meta`` table before anything is created), explicit transactions
(:meth:`~SqliteStore.write`: ``BEGIN IMMEDIATE`` ... ``COMMIT``, all or nothing;
:meth:`~SqliteStore.read`: one snapshot) and a group commit (:meth:`~SqliteStore.group_write`:
one fsync for every job that arrived while the previous commit was on its way to the disk).
A store subclasses it with its schema and its own query class wrapping a connection.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, cast

from labelproof.grouping import GroupWorker

T = TypeVar("T")
TxT = TypeVar("TxT", bound="Queries")

Job = Callable[[Any], Any]


class StoreError(RuntimeError):
    """The database cannot be used (bad URL, another schema)."""


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///relative`` or ``sqlite:////absolute`` URL."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise StoreError(
            f"unsupported database URL {url!r}: expected sqlite:///relative/path or "
            "sqlite:////absolute/path"
        )
    return Path(url[len(prefix) :])


def connect(path: Path) -> sqlite3.Connection:
    """A connection in the services' mode: WAL, synchronous=FULL, foreign keys, rows by name,
    and no implicit transactions (``isolation_level=None``: each store opens its own)."""
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def recorded_schema_version(conn: sqlite3.Connection) -> str | None:
    """The ``schema_version`` in the ``meta`` table, or None for a new database."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if has_meta is None:
        return None
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return None if row is None else str(row[0])


class Queries:
    """A store's queries on one connection, inside one transaction (the base of each store's
    ``Tx``): row helpers and the ``meta`` table every store has."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, args).fetchone()
        return row

    def _all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return list(self.conn.execute(sql, args).fetchall())

    def meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", key)
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


class SqliteStore(Generic[TxT]):
    """Thread-safe access to one database: one SQLite connection per thread.

    A subclass sets :attr:`SCHEMA` (``CREATE ... IF NOT EXISTS`` statements, including a
    ``meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`` table) and :attr:`SCHEMA_VERSION`,
    implements :meth:`_tx` (its :class:`Queries` subclass around a connection) and may word
    :meth:`_version_mismatch` (what to tell the operator about a database of another version).
    """

    SCHEMA: ClassVar[str]
    SCHEMA_VERSION: ClassVar[str]
    # Jobs committed together by :meth:`group_write`, at most.
    GROUP_MAX: ClassVar[int] = 256

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._grouper: GroupWorker[Job, Any] | None = None
        self._grouper_lock = threading.Lock()
        # Called in the committing thread once a group is on disk, before any of its callers
        # is told (a service's crash-test hook: "stored, but nobody answered yet").
        self.on_group_commit: Callable[[], None] | None = None
        conn = self._conn()
        # Check the version before creating anything: another version is refused as it is.
        found = recorded_schema_version(conn)
        if found is not None and found != self.SCHEMA_VERSION:
            raise StoreError(self._version_mismatch(found))
        conn.executescript(self.SCHEMA)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
            (self.SCHEMA_VERSION,),
        )
        conn.execute("COMMIT")

    def _tx(self, conn: sqlite3.Connection) -> TxT:
        raise NotImplementedError

    def _version_mismatch(self, found: str) -> str:
        return (
            f"{self.path}: schema version {found}, this program needs {self.SCHEMA_VERSION}: "
            "use another database"
        )

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[TxT]:
        """A write transaction: all of it commits, or none of it on an exception."""
        conn = self._conn()
        # IMMEDIATE takes the write lock up front, so two writers serialise instead of one
        # failing with SQLITE_BUSY when it upgrades a read transaction.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._tx(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[TxT]:
        """A read transaction: every query inside sees the same snapshot."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield self._tx(conn)
        finally:
            conn.execute("ROLLBACK")

    def group_write(self, job: Callable[[TxT], T]) -> T:
        """Run ``job`` in a write transaction shared with other callers' jobs, and return once
        that transaction has committed (so an answer handed out is on disk, as with
        :meth:`write`). One fsync serves every job that arrived while the previous commit was
        on its way to the disk: under load, many jobs per commit instead of one.

        Each job runs inside its own savepoint: a job that raises is rolled back alone, and
        its exception is raised here, in its caller's thread."""
        return self.group_submit(job).result()

    def group_submit(self, job: Callable[[TxT], T]) -> Future[T]:
        """:meth:`group_write` without waiting: a future of the job's result, set once its
        transaction has committed (``await asyncio.wrap_future(...)`` from an event loop)."""
        grouper = self._grouper
        if grouper is None:
            with self._grouper_lock:
                if self._grouper is None:
                    self._grouper = GroupWorker(
                        f"{type(self).__name__.lower()}-group-commit",
                        self._commit_group,
                        self.GROUP_MAX,
                    )
                grouper = self._grouper
        return cast("Future[T]", grouper.submit(job))

    def _commit_group(self, jobs: list[Job]) -> list[Any]:
        outcomes: list[Any] = []
        with self.write() as tx:
            conn = self._conn()
            for job in jobs:
                conn.execute("SAVEPOINT job")
                try:
                    outcomes.append(job(tx))
                    conn.execute("RELEASE job")
                except Exception as exc:  # the job's own refusal: undo it alone
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcomes.append(exc)
        if self.on_group_commit is not None:
            self.on_group_commit()
        return outcomes

    def close(self) -> None:
        """Close this thread's connection (other threads' close when they end)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
