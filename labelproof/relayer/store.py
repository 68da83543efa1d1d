"""The relayer's durable state in SQLite: every accepted attestation, every batch, every signed
transaction.

The services' SQLite plumbing (labelproof/sqlite.py, shared with the oracle's store): one
database file per relayer, WAL mode (the HTTP threads read while the batcher writes),
``synchronous=FULL`` (a 202 handed to an annotator, or a signed batch about to be broadcast,
survives ``kill -9`` and power loss), every write in one ``BEGIN IMMEDIATE`` transaction, and
intake's entries stored by group commit (one fsync per group of requests).

Tables:

* ``meta``: schema version, and the chain the database belongs to: chain id, genesis block hash,
  registry address. A database is never used on another chain (see service.py: a reset chain
  makes the relayer stop acting and say so).
* ``entries``: one row per accepted attestation (the EIP-712 digest is the key), with its state
  ``queued -> batched -> sent -> confirmed | failed``. A batch that was abandoned (its nonce went
  to another transaction) or whose block was reorganised away puts its entries back to
  ``queued``. ``gas`` is the entry's share of its batch's gas once mined.
* ``batches``: one row per ``attestBySig`` transaction: ``building -> signed -> sent -> mined``
  (or ``abandoned``, ``reorged``). The nonce, fees and the latest signed raw transaction are
  written before it is broadcast.
* ``batch_txs``: every signed version of a batch (a fee bump signs a new one with the same
  nonce; any of them may be the one mined).
* ``enrollment``: the annotators a task's requester allows to use this relayer (see policy.py).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from labelproof.sqlite import Queries, SqliteStore
from labelproof.sqlite import StoreError as StoreError  # re-exported: callers import it here

SCHEMA_VERSION = "1"

ENTRY_STATES = ("queued", "batched", "sent", "confirmed", "failed")
BATCH_STATES = ("building", "signed", "sent", "mined", "abandoned", "reorged")
OPEN_BATCH_STATES = ("building", "signed", "sent")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    hash TEXT NOT NULL UNIQUE,
    task_id TEXT NOT NULL,
    annotator TEXT NOT NULL,
    root TEXT NOT NULL,
    item_count INTEGER NOT NULL,
    version INTEGER NOT NULL,
    signature TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'batched', 'sent', 'confirmed', 'failed')),
    batch_id INTEGER,
    tx_hash TEXT,
    block INTEGER,
    block_hash TEXT,
    error TEXT,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    gas INTEGER,
    received_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_state ON entries (state, seq);
CREATE INDEX IF NOT EXISTS entries_batch ON entries (batch_id);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL
        CHECK (state IN ('building', 'signed', 'sent', 'mined', 'abandoned', 'reorged')),
    nonce INTEGER,
    gas_limit INTEGER,
    max_fee INTEGER,
    priority_fee INTEGER,
    tx_hash TEXT,
    raw_tx TEXT,
    bumps INTEGER NOT NULL DEFAULT 0,
    broadcasts INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    sent_at REAL,
    gas_used INTEGER,
    block INTEGER,
    block_hash TEXT,
    note TEXT
);
CREATE INDEX IF NOT EXISTS batches_state ON batches (state);
CREATE TABLE IF NOT EXISTS batch_txs (
    tx_hash TEXT PRIMARY KEY,
    batch_id INTEGER NOT NULL REFERENCES batches (id),
    raw_tx TEXT NOT NULL,
    max_fee INTEGER NOT NULL,
    priority_fee INTEGER NOT NULL,
    signed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS enrollment (
    task_id TEXT PRIMARY KEY,
    annotators TEXT NOT NULL,
    signature TEXT NOT NULL,
    stored_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class EntryRow:
    seq: int
    hash: str
    task_id: int
    annotator: str
    root: str
    item_count: int
    version: int
    signature: str
    state: str
    batch_id: int | None
    tx_hash: str | None
    block: int | None
    block_hash: str | None
    error: str | None
    reason: str | None
    attempts: int
    gas: int | None
    received_at: float
    updated_at: float

    @classmethod
    def queued(
        cls,
        seq: int,
        digest: str,
        task_id: int,
        annotator: str,
        root: str,
        item_count: int,
        version: int,
        signature: str,
        now: float,
    ) -> EntryRow:
        """A new entry as intake stores it: queued, in no batch, no attempts yet."""
        return cls(
            seq=seq,
            hash=digest,
            task_id=task_id,
            annotator=annotator,
            root=root,
            item_count=item_count,
            version=version,
            signature=signature,
            state="queued",
            batch_id=None,
            tx_hash=None,
            block=None,
            block_hash=None,
            error=None,
            reason=None,
            attempts=0,
            gas=None,
            received_at=now,
            updated_at=now,
        )

    def as_tuple(self) -> tuple[Any, ...]:
        """The ``SignedAttestation`` struct of ``attestBySig``."""
        sig = bytes.fromhex(self.signature[2:])
        return (
            self.task_id,
            self.annotator,
            bytes.fromhex(self.root[2:]),
            self.item_count,
            self.version,
            sig[64],
            sig[:32],
            sig[32:64],
        )


@dataclass(frozen=True)
class BatchRow:
    id: int
    state: str
    nonce: int | None
    gas_limit: int | None
    max_fee: int | None
    priority_fee: int | None
    tx_hash: str | None
    raw_tx: str | None
    bumps: int
    broadcasts: int
    failures: int
    next_try_at: float
    created_at: float
    sent_at: float | None
    gas_used: int | None
    block: int | None
    block_hash: str | None
    note: str | None


def _entry(row: sqlite3.Row) -> EntryRow:
    data = dict(row)
    data["task_id"] = int(data["task_id"])
    return EntryRow(**data)


def _batch(row: sqlite3.Row) -> BatchRow:
    return BatchRow(**dict(row))


class Tx(Queries):
    """Queries on one connection inside one transaction (see Store.read / Store.write)."""

    # -- entries

    def entry(self, digest: str) -> EntryRow | None:
        row = self._one("SELECT * FROM entries WHERE hash = ?", digest)
        return None if row is None else _entry(row)

    def add_entry(
        self,
        digest: str,
        task_id: int,
        annotator: str,
        root: str,
        item_count: int,
        version: int,
        signature: str,
        now: float,
    ) -> EntryRow | None:
        """Store a new queued entry and return its row; None if this digest is already
        stored (the row is built from what was inserted, not read back: intake's hot path)."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO entries (hash, task_id, annotator, root, item_count, version, "
            "signature, state, received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', "
            "?, ?)",
            (digest, str(task_id), annotator, root, item_count, version, signature, now, now),
        )
        if cur.rowcount != 1:
            return None
        return EntryRow.queued(
            int(cur.lastrowid or 0),
            digest,
            task_id,
            annotator,
            root,
            item_count,
            version,
            signature,
            now,
        )

    def queued(self, limit: int) -> list[EntryRow]:
        rows = self._all("SELECT * FROM entries WHERE state = 'queued' ORDER BY seq LIMIT ?", limit)
        return [_entry(r) for r in rows]

    def queue_head(self) -> tuple[int, float | None]:
        """How many entries are queued and when the oldest arrived (reads the queued rows of
        the state index only, never the whole table)."""
        row = self._one(
            "SELECT COUNT(*) AS n, MIN(received_at) AS t FROM entries WHERE state = 'queued'"
        )
        assert row is not None
        return int(row["n"]), None if row["t"] is None else float(row["t"])

    def batch_entries(self, batch_id: int) -> list[EntryRow]:
        rows = self._all("SELECT * FROM entries WHERE batch_id = ? ORDER BY seq", batch_id)
        return [_entry(r) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self._all("SELECT state, COUNT(*) AS n FROM entries GROUP BY state")
        out = dict.fromkeys(ENTRY_STATES, 0)
        out.update({str(r["state"]): int(r["n"]) for r in rows})
        return out

    def task_charges(self) -> list[tuple[int, int, int]]:
        """Per task: entries not failed (or failed with gas spent), and gas spent so far."""
        rows = self._all(
            "SELECT task_id, SUM(CASE WHEN gas IS NULL AND state != 'failed' THEN 1 ELSE 0 END) "
            "AS pending, SUM(COALESCE(gas, 0)) AS spent FROM entries GROUP BY task_id"
        )
        return [(int(r["task_id"]), int(r["pending"]), int(r["spent"])) for r in rows]

    def set_entry(self, digest: str, now: float, **fields: Any) -> None:
        names = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(
            f"UPDATE entries SET {names}, updated_at = ? WHERE hash = ?",
            (*fields.values(), now, digest),
        )

    def requeue_batch(self, batch_id: int, now: float, error: str | None) -> None:
        """The batch's unsettled entries go back to the queue (their signatures still hold)."""
        self.conn.execute(
            "UPDATE entries SET state = 'queued', batch_id = NULL, tx_hash = NULL, block = NULL, "
            "block_hash = NULL, gas = NULL, error = ?, updated_at = ? WHERE batch_id = ?",
            (error, now, batch_id),
        )

    # -- batches

    def open_batch(self) -> BatchRow | None:
        row = self._one(
            "SELECT * FROM batches WHERE state IN ('building', 'signed', 'sent') "
            "ORDER BY id LIMIT 1"
        )
        return None if row is None else _batch(row)

    def batch(self, batch_id: int) -> BatchRow | None:
        row = self._one("SELECT * FROM batches WHERE id = ?", batch_id)
        return None if row is None else _batch(row)

    def new_batch(self, digests: list[str], now: float) -> int:
        cur = self.conn.execute(
            "INSERT INTO batches (state, created_at) VALUES ('building', ?)", (now,)
        )
        batch_id = int(cur.lastrowid or 0)
        self.conn.executemany(
            "UPDATE entries SET state = 'batched', batch_id = ?, attempts = attempts + 1, "
            "updated_at = ? WHERE hash = ?",
            [(batch_id, now, d) for d in digests],
        )
        return batch_id

    def set_batch(self, batch_id: int, **fields: Any) -> None:
        names = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(f"UPDATE batches SET {names} WHERE id = ?", (*fields.values(), batch_id))

    def add_signed(
        self, batch_id: int, tx_hash: str, raw: str, max_fee: int, priority_fee: int, now: float
    ) -> None:
        self.conn.execute(
            # The same bytes signed again (a batch re-formed after a reorg, same nonce and
            # fees) belong to the newest batch.
            "INSERT INTO batch_txs VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (tx_hash) DO UPDATE SET batch_id = excluded.batch_id",
            (tx_hash, batch_id, raw, max_fee, priority_fee, now),
        )

    def signed_txs(self, batch_id: int) -> list[str]:
        rows = self._all(
            "SELECT tx_hash FROM batch_txs WHERE batch_id = ? ORDER BY signed_at", batch_id
        )
        return [str(r["tx_hash"]) for r in rows]

    def recent_mined(self, since_block: int) -> list[BatchRow]:
        rows = self._all(
            "SELECT * FROM batches WHERE state = 'mined' AND block >= ? ORDER BY block",
            since_block,
        )
        return [_batch(r) for r in rows]

    def batches(self) -> list[BatchRow]:
        return [_batch(r) for r in self._all("SELECT * FROM batches ORDER BY id")]

    # -- enrollment

    def enrollment(self, task_id: int) -> list[str] | None:
        row = self._one("SELECT annotators FROM enrollment WHERE task_id = ?", str(task_id))
        return None if row is None else str(row["annotators"]).split(",")

    def set_enrollment(self, task_id: int, annotators: list[str], signature: str) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO enrollment VALUES (?, ?, ?, ?)",
            (str(task_id), ",".join(annotators), signature, time.time()),
        )


class Store(SqliteStore[Tx]):
    """Thread-safe access to the relayer database: one SQLite connection per thread."""

    SCHEMA = _SCHEMA
    SCHEMA_VERSION = SCHEMA_VERSION
    GROUP_MAX = 512  # intake entries per commit, at most

    def _tx(self, conn: sqlite3.Connection) -> Tx:
        return Tx(conn)

    def entry(self, digest: str) -> EntryRow | None:
        """One entry by its digest, outside any transaction (one statement is its own
        snapshot): intake's duplicate check, without a BEGIN and a ROLLBACK around it."""
        return Tx(self._conn()).entry(digest)

    def _version_mismatch(self, found: str) -> str:
        return (
            f"{self.path}: relayer schema version {found}, this relayer needs "
            f"{SCHEMA_VERSION}: use another database"
        )
