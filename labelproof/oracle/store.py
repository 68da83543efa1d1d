"""The oracle's durable state in SQLite: what it saw on chain, what it was given, what it sent.

One database file per oracle instance (``sqlite:///relative/path`` or ``sqlite:////abs/path``),
in WAL mode so the API threads read while the follower and scheduler write, with
``synchronous=FULL`` so a transaction that returned has reached the disk: a reveal receipt handed
to an annotator, or a signed proposal about to be broadcast, survives ``kill -9`` and power loss.

Every write goes through :meth:`Store.write` (``BEGIN IMMEDIATE`` ... ``COMMIT``), so a crash
leaves either all of a step or none of it; every multi-row read goes through :meth:`Store.read`
for one consistent snapshot.

Tables:

* ``meta``: the chain id and escrow the database belongs to (a database is never reused for
  another deployment, since its cursor and tasks would be wrong there).
* ``cursor``: the last block whose events are fully stored.
* ``tasks``, ``attestations``, ``committee_events``: chain events (see follower.py).
* ``specs``, ``reveals``, ``gold``: what requesters and annotators gave the oracle, each
  checked against the chain before it is stored.
* ``task_state``: the oracle's own per-task state: when the reveals were sealed for scoring,
  the last note logged, which round an operator approved for re-proposing after a veto.
* ``reports``: per (task, round) the report bytes, payout tree dump, root, total, report hash
  and the reveals the report was computed from (published for auditors).
* ``proposals``: the per (task, round) state machine ``scored -> sent -> confirmed``
  (or ``reverted``, ``skipped``); ``sent`` holds the signed raw transaction, written *before*
  it is broadcast (see scheduler.py).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = "1"

PROPOSAL_STATES = ("scored", "sent", "confirmed", "reverted", "skipped")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    block INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    task_id INTEGER PRIMARY KEY,
    requester TEXT NOT NULL,
    token TEXT NOT NULL,
    budget TEXT NOT NULL,
    spec_hash TEXT NOT NULL,
    gold_commitment TEXT NOT NULL,
    annotation_deadline INTEGER NOT NULL,
    reveal_deadline INTEGER NOT NULL,
    challenge_period INTEGER NOT NULL,
    claim_period INTEGER NOT NULL,
    oracle_timeout INTEGER NOT NULL,
    block INTEGER
);
CREATE TABLE IF NOT EXISTS attestations (
    task_id INTEGER NOT NULL,
    annotator TEXT NOT NULL,
    version INTEGER NOT NULL,
    root TEXT NOT NULL,
    item_count INTEGER NOT NULL,
    block INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    PRIMARY KEY (task_id, annotator, version)
);
CREATE TABLE IF NOT EXISTS committee_events (
    block INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    task_id INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('pending', 'vetoed', 'finalized')),
    round INTEGER,
    root TEXT,
    total TEXT,
    report_hash TEXT,
    challenge_ends INTEGER,
    PRIMARY KEY (block, log_index)
);
CREATE INDEX IF NOT EXISTS committee_events_task ON committee_events (task_id);
CREATE TABLE IF NOT EXISTS specs (
    task_id INTEGER PRIMARY KEY,
    spec_json TEXT NOT NULL,
    spec_hash TEXT NOT NULL,
    stored_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS reveals (
    task_id INTEGER NOT NULL,
    annotator TEXT NOT NULL,
    version INTEGER NOT NULL,
    root TEXT NOT NULL,
    item_count INTEGER NOT NULL,
    reveal_json TEXT NOT NULL,
    receipt TEXT NOT NULL,
    stored_at REAL NOT NULL,
    PRIMARY KEY (task_id, annotator)
);
CREATE TABLE IF NOT EXISTS gold (
    task_id INTEGER PRIMARY KEY,
    gold_json TEXT NOT NULL,
    salt TEXT NOT NULL,
    stored_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS task_state (
    task_id INTEGER PRIMARY KEY,
    sealed_at REAL,
    note TEXT,
    operator_round INTEGER
);
CREATE TABLE IF NOT EXISTS reports (
    task_id INTEGER NOT NULL,
    round INTEGER NOT NULL,
    report BLOB NOT NULL,
    tree_json TEXT NOT NULL,
    root TEXT NOT NULL,
    total TEXT NOT NULL,
    report_hash TEXT NOT NULL,
    inputs_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (task_id, round)
);
CREATE TABLE IF NOT EXISTS proposals (
    task_id INTEGER NOT NULL,
    round INTEGER NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('scored', 'sent', 'confirmed', 'reverted', 'skipped')),
    root TEXT,
    total TEXT,
    report_hash TEXT,
    nonce INTEGER,
    tx_hash TEXT,
    raw_tx TEXT,
    note TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (task_id, round)
);
"""


class StoreError(RuntimeError):
    """The database cannot be used (bad URL, another deployment's database, ...)."""


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///relative`` or ``sqlite:////absolute`` URL."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise StoreError(
            f"unsupported database URL {url!r}: expected sqlite:///relative/path or "
            "sqlite:////absolute/path"
        )
    return Path(url[len(prefix) :])


@dataclass(frozen=True)
class TaskRow:
    task_id: int
    requester: str
    token: str
    budget: int
    spec_hash: str
    gold_commitment: str
    annotation_deadline: int
    reveal_deadline: int
    challenge_period: int
    claim_period: int
    oracle_timeout: int
    block: int | None = None

    @property
    def has_gold(self) -> bool:
        return int(self.gold_commitment, 16) != 0

    @property
    def oracle_deadline(self) -> int:
        return self.reveal_deadline + self.oracle_timeout


@dataclass(frozen=True)
class AttestationRow:
    task_id: int
    annotator: str
    version: int
    root: str
    item_count: int
    block: int
    log_index: int


@dataclass(frozen=True)
class CommitteeEvent:
    block: int
    log_index: int
    task_id: int
    kind: str  # pending | vetoed | finalized
    round: int | None = None
    root: str | None = None
    total: int | None = None
    report_hash: str | None = None
    challenge_ends: int | None = None


@dataclass(frozen=True)
class RevealRow:
    task_id: int
    annotator: str
    version: int
    root: str
    item_count: int
    reveal_json: str  # the canonical stored reveal; its keccak256 is the receipt
    receipt: str
    stored_at: float


@dataclass(frozen=True)
class GoldRow:
    task_id: int
    gold_json: str  # canonical [[item, label], ...] sorted by item
    salt: str
    stored_at: float


@dataclass(frozen=True)
class ReportRow:
    task_id: int
    round: int
    report: bytes
    tree_json: str
    root: str
    total: int
    report_hash: str
    inputs_json: str
    created_at: float


@dataclass(frozen=True)
class ProposalRow:
    task_id: int
    round: int
    state: str
    root: str | None
    total: int | None
    report_hash: str | None
    nonce: int | None
    tx_hash: str | None
    raw_tx: str | None
    note: str | None
    updated_at: float


@dataclass(frozen=True)
class TaskState:
    task_id: int
    sealed_at: float | None
    note: str | None
    operator_round: int | None


class Tx:
    """Queries on one connection inside one transaction (see Store.read / Store.write)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, args).fetchone()
        return row

    def _all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return list(self.conn.execute(sql, args).fetchall())

    # -- meta and cursor

    def meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", key)
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def cursor(self) -> int | None:
        row = self._one("SELECT block FROM cursor WHERE id = 1")
        return None if row is None else int(row["block"])

    def set_cursor(self, block: int) -> None:
        self.conn.execute("INSERT OR REPLACE INTO cursor (id, block) VALUES (1, ?)", (block,))

    # -- chain data

    def task(self, task_id: int) -> TaskRow | None:
        row = self._one("SELECT * FROM tasks WHERE task_id = ?", task_id)
        return None if row is None else _task_row(row)

    def tasks(self) -> list[TaskRow]:
        return [_task_row(r) for r in self._all("SELECT * FROM tasks ORDER BY task_id")]

    def add_task(self, t: TaskRow) -> None:
        # The same immutable parameters arrive from the event and from a direct state read; the
        # event's block number is the only thing a later insert may add.
        self.conn.execute(
            "INSERT INTO tasks (task_id, requester, token, budget, spec_hash, gold_commitment, "
            "annotation_deadline, reveal_deadline, challenge_period, claim_period, "
            "oracle_timeout, block) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (task_id) DO UPDATE SET block = COALESCE(tasks.block, excluded.block)",
            (
                t.task_id,
                t.requester,
                t.token,
                str(t.budget),
                t.spec_hash,
                t.gold_commitment,
                t.annotation_deadline,
                t.reveal_deadline,
                t.challenge_period,
                t.claim_period,
                t.oracle_timeout,
                t.block,
            ),
        )

    def add_attestation(self, a: AttestationRow) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO attestations VALUES (?, ?, ?, ?, ?, ?, ?)",
            (a.task_id, a.annotator, a.version, a.root, a.item_count, a.block, a.log_index),
        )

    def attestations(self, task_id: int) -> list[AttestationRow]:
        rows = self._all(
            "SELECT * FROM attestations WHERE task_id = ? ORDER BY annotator, version", task_id
        )
        return [AttestationRow(**dict(r)) for r in rows]

    def add_committee_event(self, e: CommitteeEvent) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO committee_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                e.block,
                e.log_index,
                e.task_id,
                e.kind,
                e.round,
                e.root,
                None if e.total is None else str(e.total),
                e.report_hash,
                e.challenge_ends,
            ),
        )

    def committee_events(self, task_id: int) -> list[CommitteeEvent]:
        rows = self._all(
            "SELECT * FROM committee_events WHERE task_id = ? ORDER BY block, log_index", task_id
        )
        out = []
        for r in rows:
            d = dict(r)
            d["total"] = None if d["total"] is None else int(d["total"])
            out.append(CommitteeEvent(**d))
        return out

    def finalized(self, task_id: int) -> bool:
        row = self._one(
            "SELECT 1 FROM committee_events WHERE task_id = ? AND kind = 'finalized'", task_id
        )
        return row is not None

    # -- inputs given to the oracle

    def spec(self, task_id: int) -> tuple[str, str] | None:
        row = self._one("SELECT spec_json, spec_hash FROM specs WHERE task_id = ?", task_id)
        return None if row is None else (str(row["spec_json"]), str(row["spec_hash"]))

    def add_spec(self, task_id: int, spec_json: str, spec_hash: str) -> None:
        self.conn.execute(
            "INSERT INTO specs VALUES (?, ?, ?, ?)", (task_id, spec_json, spec_hash, time.time())
        )

    def reveal(self, task_id: int, annotator: str) -> RevealRow | None:
        row = self._one(
            "SELECT * FROM reveals WHERE task_id = ? AND annotator = ?", task_id, annotator
        )
        return None if row is None else RevealRow(**dict(row))

    def reveals(self, task_id: int) -> list[RevealRow]:
        rows = self._all("SELECT * FROM reveals WHERE task_id = ? ORDER BY annotator", task_id)
        return [RevealRow(**dict(r)) for r in rows]

    def put_reveal(self, r: RevealRow) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO reveals VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.task_id,
                r.annotator,
                r.version,
                r.root,
                r.item_count,
                r.reveal_json,
                r.receipt,
                r.stored_at,
            ),
        )

    def gold(self, task_id: int) -> GoldRow | None:
        row = self._one("SELECT * FROM gold WHERE task_id = ?", task_id)
        return None if row is None else GoldRow(**dict(row))

    def add_gold(self, g: GoldRow) -> None:
        self.conn.execute(
            "INSERT INTO gold VALUES (?, ?, ?, ?)", (g.task_id, g.gold_json, g.salt, g.stored_at)
        )

    # -- the oracle's own state

    def state(self, task_id: int) -> TaskState:
        row = self._one("SELECT * FROM task_state WHERE task_id = ?", task_id)
        if row is None:
            return TaskState(task_id, None, None, None)
        return TaskState(**dict(row))

    def _ensure_state(self, task_id: int) -> None:
        self.conn.execute("INSERT OR IGNORE INTO task_state (task_id) VALUES (?)", (task_id,))

    def seal(self, task_id: int) -> None:
        """No more reveals for this task: the scheduler is about to read them for scoring."""
        self._ensure_state(task_id)
        self.conn.execute(
            "UPDATE task_state SET sealed_at = COALESCE(sealed_at, ?) WHERE task_id = ?",
            (time.time(), task_id),
        )

    def set_note(self, task_id: int, note: str | None) -> None:
        self._ensure_state(task_id)
        self.conn.execute("UPDATE task_state SET note = ? WHERE task_id = ?", (note, task_id))

    def approve_round(self, task_id: int, round_: int) -> None:
        self._ensure_state(task_id)
        self.conn.execute(
            "UPDATE task_state SET operator_round = ? WHERE task_id = ?", (round_, task_id)
        )

    def report(self, task_id: int, round_: int | None = None) -> ReportRow | None:
        """The report of `round_`, or of the latest round scored."""
        if round_ is None:
            row = self._one(
                "SELECT * FROM reports WHERE task_id = ? ORDER BY round DESC LIMIT 1", task_id
            )
        else:
            row = self._one(
                "SELECT * FROM reports WHERE task_id = ? AND round = ?", task_id, round_
            )
        if row is None:
            return None
        d = dict(row)
        d["total"] = int(d["total"])
        d["report"] = bytes(d["report"])
        return ReportRow(**d)

    def add_report(self, r: ReportRow) -> None:
        self.conn.execute(
            "INSERT INTO reports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.task_id,
                r.round,
                r.report,
                r.tree_json,
                r.root,
                str(r.total),
                r.report_hash,
                r.inputs_json,
                r.created_at,
            ),
        )

    def proposal(self, task_id: int, round_: int) -> ProposalRow | None:
        row = self._one("SELECT * FROM proposals WHERE task_id = ? AND round = ?", task_id, round_)
        return None if row is None else _proposal_row(row)

    def proposals(self, task_id: int | None = None) -> list[ProposalRow]:
        if task_id is None:
            rows = self._all("SELECT * FROM proposals ORDER BY task_id, round")
        else:
            rows = self._all("SELECT * FROM proposals WHERE task_id = ? ORDER BY round", task_id)
        return [_proposal_row(r) for r in rows]

    def put_proposal(self, p: ProposalRow) -> None:
        if p.state not in PROPOSAL_STATES:
            raise StoreError(f"unknown proposal state {p.state!r}")
        self.conn.execute(
            "INSERT OR REPLACE INTO proposals VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                p.task_id,
                p.round,
                p.state,
                p.root,
                None if p.total is None else str(p.total),
                p.report_hash,
                p.nonce,
                p.tx_hash,
                p.raw_tx,
                p.note,
                p.updated_at,
            ),
        )

    def inputs_fingerprint(self) -> str:
        """sha256 over every row of what requesters and annotators gave the oracle.

        Lets tests (and operators) show that a rejected request changed nothing.
        """
        h = hashlib.sha256()
        for table, order in (
            ("specs", "task_id"),
            ("reveals", "task_id, annotator"),
            ("gold", "task_id"),
        ):
            h.update(table.encode())
            # Table and column names are the constants above, never input.
            for row in self._all(f"SELECT * FROM {table} ORDER BY {order}"):
                h.update(repr(tuple(row)).encode())
        return h.hexdigest()


def _task_row(row: sqlite3.Row) -> TaskRow:
    d = dict(row)
    d["budget"] = int(d["budget"])
    return TaskRow(**d)


def _proposal_row(row: sqlite3.Row) -> ProposalRow:
    d = dict(row)
    d["total"] = None if d["total"] is None else int(d["total"])
    return ProposalRow(**d)


class Store:
    """Thread-safe access to the oracle database: one SQLite connection per thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        conn = self._conn()
        conn.executescript(_SCHEMA)
        with self.write() as tx:
            found = tx.meta("schema_version")
            if found is None:
                tx.set_meta("schema_version", SCHEMA_VERSION)
            elif found != SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: schema version {found}, this oracle needs {SCHEMA_VERSION}"
                )

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: transactions are opened explicitly below, never implicitly.
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction: all of it commits, or none of it on an exception."""
        conn = self._conn()
        # IMMEDIATE takes the write lock up front, so two writers serialise instead of one
        # failing with SQLITE_BUSY when it upgrades a read transaction.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield Tx(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read transaction: every query inside sees the same snapshot."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield Tx(conn)
        finally:
            conn.execute("ROLLBACK")

    def bind(self, chain_id: int, escrow: str) -> None:
        """Tie the database to one deployment, or refuse one made for another."""
        with self.write() as tx:
            known = (tx.meta("chain_id"), tx.meta("escrow"))
            if known == (None, None):
                tx.set_meta("chain_id", str(chain_id))
                tx.set_meta("escrow", escrow)
            elif known != (str(chain_id), escrow):
                raise StoreError(
                    f"{self.path} belongs to escrow {known[1]} on chain {known[0]}, not "
                    f"{escrow} on chain {chain_id}: use another data directory"
                )

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
