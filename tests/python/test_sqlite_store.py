"""labelproof/sqlite.py, the services' shared SQLite plumbing: schema versions, transactions,
and the group commit (jobs in one transaction, each in its own savepoint)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from labelproof.sqlite import Queries, SqliteStore, StoreError, sqlite_path


class Tx(Queries):
    def add(self, name: str) -> int:
        return int(
            self.conn.execute("INSERT INTO things (name) VALUES (?)", (name,)).lastrowid or 0
        )

    def names(self) -> list[str]:
        return [str(r["name"]) for r in self.conn.execute("SELECT name FROM things ORDER BY id")]


class Things(SqliteStore[Tx]):
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS things (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    """
    SCHEMA_VERSION = "3"
    GROUP_MAX = 4

    def _tx(self, conn: sqlite3.Connection) -> Tx:
        return Tx(conn)


def _committed(path: Path) -> list[str]:
    """What another connection sees: only committed rows."""
    with sqlite3.connect(path) as conn:
        return [str(r[0]) for r in conn.execute("SELECT name FROM things ORDER BY id")]


def test_urls_modes_and_schema_versions(tmp_path: Path) -> None:
    for url in ("postgres://x", "sqlite:///", "things.db"):
        with pytest.raises(StoreError, match="unsupported database URL"):
            sqlite_path(url)
    url = f"sqlite:///{tmp_path / 'sub' / 'things.db'}"
    store = Things(url)
    conn = store._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with store.read() as tx:
        assert tx.meta("schema_version") == "3"
    store.close()
    Things(url).close()  # the same version opens again

    class Newer(Things):
        SCHEMA_VERSION = "4"

    with pytest.raises(StoreError, match="schema version 3, this program needs 4"):
        Newer(url)
    assert "things" in {
        r[0]
        for r in sqlite3.connect(tmp_path / "sub" / "things.db").execute(
            "SELECT name FROM sqlite_master"
        )
    }


def test_write_is_all_or_nothing_and_read_is_one_snapshot(tmp_path: Path) -> None:
    store = Things(f"sqlite:///{tmp_path / 't.db'}")
    with store.write() as tx:
        tx.add("a")
    with pytest.raises(sqlite3.IntegrityError), store.write() as tx:
        tx.add("b")
        tx.add("a")
    with store.read() as tx:
        assert tx.names() == ["a"]
        other = threading.Thread(target=lambda: store.group_write(lambda t: t.add("c")))
        other.start()
        other.join()
        assert tx.names() == ["a"]  # the snapshot does not move
    with store.read() as tx:
        assert tx.names() == ["a", "c"]


def test_group_write_commits_jobs_together_and_refuses_one_alone(tmp_path: Path) -> None:
    store = Things(f"sqlite:///{tmp_path / 'g.db'}")
    commits: list[list[str]] = []
    store.on_group_commit = lambda: commits.append(_committed(tmp_path / "g.db"))
    started, gate = threading.Event(), threading.Event()
    first = store.group_submit(lambda tx: (started.set(), gate.wait(10), tx.add("first"))[2])
    assert started.wait(10)  # the first group is under way: the next jobs queue behind it
    futures = [store.group_submit(lambda tx, n=n: tx.add(n)) for n in ("x", "y", "first", "z")]
    gate.set()
    assert first.result(10) == 1
    assert [f.exception(10) is None for f in futures] == [True, True, False, True]
    assert isinstance(futures[2].exception(), sqlite3.IntegrityError)
    # the duplicate was rolled back alone; the others of its group were stored
    assert store.group_write(lambda tx: tx.names()) == ["first", "x", "y", "z"]
    # the hook ran after each commit, when the group was already visible to other readers
    assert commits[0] == ["first"] and commits[1] == ["first", "x", "y", "z"]
    assert len(commits) == 3
