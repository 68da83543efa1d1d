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
* ``block_hashes``: the hashes of the last blocks the cursor stood on, to notice a reorg deeper
  than the confirmations (see follower.py).
* ``tasks``, ``attestations``, ``committee_events``: chain events (see follower.py). A task's
  deadlines move when the requester closes it early (``TaskClosedEarly``).
* ``specs``, ``reveals``, ``gold``: what requesters and annotators gave the oracle, each
  checked against the chain before it is stored.
* ``reveal_parts``: the parts of a reveal sent in parts (each within the body limit), kept
  until the last one arrives and the whole reveal is checked.
* ``task_state``: the oracle's own per-task state: when the reveals were sealed for scoring,
  the last note logged, which round an operator approved for proposing in although the
  scheduler would hold back (see scheduler.py).
* ``reports``: per (task, round) the report bytes, payout tree dump, root, total, report hash,
  and the inputs bundle (exact bytes) with its keccak256, the on-chain ``inputsHash``. A bundle
  the scheduler streamed from the stored reveals is in ``bundle_parts`` instead, in parts of a
  few MB written as they come (its ``reports.bundle`` is empty; a bundle never is).
* ``proposals``: the per (task, round) state machine ``scored -> sent -> confirmed``
  (or ``reverted``, ``skipped``; a reverted vote goes back to ``scored`` a bounded number of
  times); ``sent`` holds the signed raw transaction, written *before* it is broadcast (see
  scheduler.py).
"""

from __future__ import annotations

import hashlib
import io
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from labelproof.sqlite import Queries, SqliteStore
from labelproof.sqlite import StoreError as StoreError  # re-exported: callers import it here

# Bytes per row of a streamed bundle (bundle_parts).
BUNDLE_PART = 4 << 20

SCHEMA_VERSION = "2"

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
CREATE TABLE IF NOT EXISTS block_hashes (
    block INTEGER PRIMARY KEY,
    hash TEXT NOT NULL
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
    block INTEGER,
    rules_id INTEGER NOT NULL DEFAULT 0
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
    kind TEXT NOT NULL
        CHECK (kind IN ('pending', 'vetoed', 'finalized', 'restarted', 'disputed', 'resolved')),
    round INTEGER,
    root TEXT,
    total TEXT,
    report_hash TEXT,
    challenge_ends INTEGER,
    inputs_hash TEXT,
    proposer TEXT,
    dispute_id TEXT,
    verdict INTEGER,
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
CREATE TABLE IF NOT EXISTS reveal_parts (
    task_id INTEGER NOT NULL,
    annotator TEXT NOT NULL,
    part_count INTEGER NOT NULL,
    part_index INTEGER NOT NULL,
    entries TEXT NOT NULL,
    PRIMARY KEY (task_id, annotator, part_index)
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
    bundle BLOB NOT NULL,
    inputs_hash TEXT NOT NULL,
    gold_status TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (task_id, round)
);
CREATE INDEX IF NOT EXISTS reports_inputs_hash ON reports (inputs_hash);
CREATE TABLE IF NOT EXISTS bundle_parts (
    task_id INTEGER NOT NULL,
    round INTEGER NOT NULL,
    part INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (task_id, round, part)
);
CREATE TABLE IF NOT EXISTS proposals (
    task_id INTEGER NOT NULL,
    round INTEGER NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('scored', 'sent', 'confirmed', 'reverted', 'skipped')),
    root TEXT,
    total TEXT,
    report_hash TEXT,
    inputs_hash TEXT,
    nonce INTEGER,
    tx_hash TEXT,
    raw_tx TEXT,
    note TEXT,
    updated_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (task_id, round)
);
"""


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
    rules_id: int = 0  # the committee rule set the task was created under (0: not read yet)

    @property
    def has_gold(self) -> bool:
        return int(self.gold_commitment, 16) != 0

    @property
    def oracle_deadline(self) -> int:
        """Until a proposal has been pending, the last second a first proposal may come."""
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


COMMITTEE_KINDS = ("pending", "vetoed", "finalized", "restarted", "disputed", "resolved")


@dataclass(frozen=True)
class CommitteeEvent:
    """One committee event of a task. ``round`` is the round the event happened in, except for
    ``vetoed`` and ``restarted``, where it is the new round (as the events say), and
    ``resolved``, where it is the round of the dispute that was ruled on."""

    block: int
    log_index: int
    task_id: int
    kind: str  # one of COMMITTEE_KINDS
    round: int | None = None
    root: str | None = None
    total: int | None = None
    report_hash: str | None = None
    challenge_ends: int | None = None
    inputs_hash: str | None = None
    proposer: str | None = None
    dispute_id: int | None = None
    verdict: int | None = None

    @property
    def payout(self) -> tuple[str | None, int | None, str | None, str | None]:
        return (self.root, self.total, self.report_hash, self.inputs_hash)


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
class RevealHead:
    """A stored reveal without its document."""

    annotator: str
    version: int
    root: str
    item_count: int
    receipt: str


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
    # The canonical inputs bundle, exactly as served; None when read with_bundle=False.
    bundle: bytes | None
    inputs_hash: str  # keccak256 of `bundle`: the inputsHash proposed on chain
    gold_status: str  # none | revealed | withheld
    created_at: float

    @property
    def bundle_bytes(self) -> bytes:
        if self.bundle is None:
            raise StoreError(f"the report of task {self.task_id} was read without its bundle")
        return self.bundle

    @property
    def inputs_json(self) -> str:
        return self.bundle_bytes.decode("utf-8")


_REPORT_FIELDS = tuple(f.name for f in fields(ReportRow))


@dataclass(frozen=True)
class ProposalRow:
    task_id: int
    round: int
    state: str
    root: str | None
    total: int | None
    report_hash: str | None
    inputs_hash: str | None
    nonce: int | None
    tx_hash: str | None
    raw_tx: str | None
    note: str | None
    updated_at: float
    attempts: int = 0  # transactions signed for this vote so far (a reverted one is retried)


@dataclass(frozen=True)
class TaskState:
    task_id: int
    sealed_at: float | None
    note: str | None
    operator_round: int | None


class Tx(Queries):
    """Queries on one connection inside one transaction (see Store.read / Store.write)."""

    # -- cursor

    def cursor(self) -> int | None:
        row = self._one("SELECT block FROM cursor WHERE id = 1")
        return None if row is None else int(row["block"])

    def set_cursor(self, block: int) -> None:
        self.conn.execute("INSERT OR REPLACE INTO cursor (id, block) VALUES (1, ?)", (block,))

    def block_hashes(self, limit: int) -> list[tuple[int, str]]:
        """The last `limit` (block, hash) pairs the cursor stood on, newest first."""
        rows = self._all("SELECT block, hash FROM block_hashes ORDER BY block DESC LIMIT ?", limit)
        return [(int(r["block"]), str(r["hash"])) for r in rows]

    def add_block_hash(self, block: int, block_hash: str, keep: int) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO block_hashes (block, hash) VALUES (?, ?)", (block, block_hash)
        )
        self.conn.execute(
            "DELETE FROM block_hashes WHERE block NOT IN "
            "(SELECT block FROM block_hashes ORDER BY block DESC LIMIT ?)",
            (keep,),
        )

    def rewind(self, ancestor: int) -> list[int]:
        """A reorg replaced the blocks after `ancestor`: forget the events read from them
        (reveals, specs and gold stay: they are checked against the chain again when scored)
        and move the cursor back. Returns the ids of the tasks still known."""
        for table in ("attestations", "committee_events", "block_hashes"):
            # Table names are the constants above, never input.
            self.conn.execute(f"DELETE FROM {table} WHERE block > ?", (ancestor,))
        self.conn.execute("DELETE FROM tasks WHERE block IS NOT NULL AND block > ?", (ancestor,))
        self.conn.execute("INSERT OR REPLACE INTO cursor (id, block) VALUES (1, ?)", (ancestor,))
        return [int(r["task_id"]) for r in self._all("SELECT task_id FROM tasks")]

    def reset_deadlines(self, task_id: int, annotation_deadline: int, reveal_deadline: int) -> None:
        """The deadlines as the chain has them now (a reorg may have undone an early close)."""
        self.conn.execute(
            "UPDATE tasks SET annotation_deadline = ?, reveal_deadline = ? WHERE task_id = ?",
            (annotation_deadline, reveal_deadline, task_id),
        )

    def recheck_proposals(self) -> int:
        """After a deep reorg, votes this oracle saw mined may be gone: a confirmed vote with
        its signed transaction goes back to ``sent`` (the scheduler looks for its receipt and
        re-broadcasts the same bytes if the chain lost it); one confirmed only by asking the
        chain (no transaction of ours) is forgotten, so the scheduler asks again. Returns how
        many proposals were reopened."""
        cur = self.conn.execute(
            "UPDATE proposals SET state = 'sent', note = 'reorg: re-checking the vote', "
            "updated_at = ? WHERE state = 'confirmed' AND tx_hash IS NOT NULL AND task_id NOT IN "
            "(SELECT task_id FROM committee_events WHERE kind = 'finalized')",
            (time.time(),),
        )
        reopened = int(cur.rowcount)
        cur = self.conn.execute(
            "DELETE FROM proposals WHERE state = 'confirmed' AND tx_hash IS NULL AND task_id "
            "NOT IN (SELECT task_id FROM committee_events WHERE kind = 'finalized')"
        )
        return reopened + int(cur.rowcount)

    # -- chain data

    def task(self, task_id: int) -> TaskRow | None:
        row = self._one("SELECT * FROM tasks WHERE task_id = ?", task_id)
        return None if row is None else _task_row(row)

    def tasks(self) -> list[TaskRow]:
        return [_task_row(r) for r in self._all("SELECT * FROM tasks ORDER BY task_id")]

    def add_task(self, t: TaskRow) -> None:
        # The same parameters arrive from the event and from a direct state read; the event's
        # block number and the rule set id (not in the event) are all a later insert may add.
        # Deadlines move only through close_early: a state read after an early close already
        # has the moved ones, and the creation event, read later, must not move them back.
        self.conn.execute(
            "INSERT INTO tasks (task_id, requester, token, budget, spec_hash, gold_commitment, "
            "annotation_deadline, reveal_deadline, challenge_period, claim_period, "
            "oracle_timeout, block, rules_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (task_id) DO UPDATE SET block = COALESCE(tasks.block, excluded.block), "
            "rules_id = MAX(tasks.rules_id, excluded.rules_id)",
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
                t.rules_id,
            ),
        )

    def close_early(self, task_id: int, annotation_deadline: int, reveal_deadline: int) -> None:
        """The requester closed the task early: both deadlines moved up (never later)."""
        self.conn.execute(
            "UPDATE tasks SET annotation_deadline = MIN(annotation_deadline, ?), "
            "reveal_deadline = MIN(reveal_deadline, ?) WHERE task_id = ?",
            (annotation_deadline, reveal_deadline, task_id),
        )

    def add_attestation(self, a: AttestationRow) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO attestations VALUES (?, ?, ?, ?, ?, ?, ?)",
            (a.task_id, a.annotator, a.version, a.root, a.item_count, a.block, a.log_index),
        )

    def latest_attestation(self, task_id: int, annotator: str) -> AttestationRow | None:
        """The annotator's newest attestation of the task as the follower has stored it (the
        reveal intake's view of its commitment; `annotator` checksummed, as stored)."""
        row = self._one(
            "SELECT * FROM attestations WHERE task_id = ? AND annotator = ? "
            "ORDER BY version DESC LIMIT 1",
            task_id,
            annotator,
        )
        return None if row is None else AttestationRow(**dict(row))

    def attestations(self, task_id: int) -> list[AttestationRow]:
        rows = self._all(
            "SELECT * FROM attestations WHERE task_id = ? ORDER BY annotator, version", task_id
        )
        return [AttestationRow(**dict(r)) for r in rows]

    def add_committee_event(self, e: CommitteeEvent) -> None:
        if e.kind not in COMMITTEE_KINDS:
            raise StoreError(f"unknown committee event kind {e.kind!r}")
        self.conn.execute(
            "INSERT OR IGNORE INTO committee_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                e.inputs_hash,
                e.proposer,
                None if e.dispute_id is None else str(e.dispute_id),
                e.verdict,
            ),
        )

    def committee_events(self, task_id: int) -> list[CommitteeEvent]:
        rows = self._all(
            "SELECT * FROM committee_events WHERE task_id = ? ORDER BY block, log_index", task_id
        )
        out = []
        for r in rows:
            d = dict(r)
            for key in ("total", "dispute_id"):
                d[key] = None if d[key] is None else int(d[key])
            out.append(CommitteeEvent(**d))
        return out

    def ruled_wrong(self, task_id: int) -> set[tuple[Any, ...]]:
        """Payouts (root, total, report_hash, inputs_hash) of the task that an arbitrator
        ruled wrong (PayoutWrong or RefundRequester)."""
        events = self.committee_events(task_id)
        rounds = {e.round for e in events if e.kind == "resolved" and e.verdict in (2, 3)}
        return {e.payout for e in events if e.kind == "pending" and e.round in rounds}

    def round_start(self, task_id: int, round_: int) -> str | None:
        """What started round `round_` of the task, as far as the stored events tell: "vetoed",
        "restarted", "ruling" or "finalized"; None if no stored event explains it yet."""
        for e in reversed(self.committee_events(task_id)):
            if e.kind in ("vetoed", "restarted") and e.round == round_:
                return e.kind
            if e.kind == "resolved" and e.round == round_ - 1 and e.verdict in (2, 3):
                return "ruling"
            if e.kind == "finalized":
                return "finalized"
        return None

    def restarts(self, task_id: int) -> int:
        """How many times anyone restarted a round of the task."""
        return sum(1 for e in self.committee_events(task_id) if e.kind == "restarted")

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

    def revealed_labels(self) -> dict[int, int]:
        """task id -> labels revealed (the size of its scoring)."""
        rows = self._all("SELECT task_id, SUM(item_count) AS n FROM reveals GROUP BY task_id")
        return {int(r["task_id"]): int(r["n"]) for r in rows}

    def reveal_count(self, task_id: int) -> int:
        row = self._one("SELECT COUNT(*) AS n FROM reveals WHERE task_id = ?", task_id)
        return 0 if row is None else int(row["n"])

    def reveals(self, task_id: int) -> list[RevealRow]:
        rows = self._all("SELECT * FROM reveals WHERE task_id = ? ORDER BY annotator", task_id)
        return [RevealRow(**dict(r)) for r in rows]

    def reveal_heads(self, task_id: int) -> list[RevealHead]:
        """The task's reveals without their documents, by annotator (for the scheduler, which
        then streams the documents it needs with reveal_documents)."""
        rows = self._all(
            "SELECT annotator, version, root, item_count, receipt FROM reveals "
            "WHERE task_id = ? ORDER BY annotator",
            task_id,
        )
        return [RevealHead(**dict(r)) for r in rows]

    def reveal_documents(self, task_id: int) -> Iterator[tuple[str, str, bytes]]:
        """(annotator, receipt, document bytes) of the task's reveals by annotator, read one
        row at a time: at 15,000 reveals of 100 labels the documents are 175 MB, which need not
        be in memory at once."""
        cursor = self.conn.execute(
            "SELECT annotator, receipt, CAST(reveal_json AS BLOB) FROM reveals "
            "WHERE task_id = ? ORDER BY annotator",
            (task_id,),
        )
        cursor.row_factory = None  # plain tuples: no sqlite3.Row per document
        for annotator, receipt, document in cursor:
            yield str(annotator), str(receipt), bytes(document)

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

    # -- reveals sent in parts (each within the body limit), until the last part arrives

    def put_part(self, task_id: int, annotator: str, count: int, index: int, entries: str) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO reveal_parts VALUES (?, ?, ?, ?, ?)",
            (task_id, annotator, count, index, entries),
        )

    def part_counts(self, task_id: int, annotator: str) -> set[int]:
        rows = self._all(
            "SELECT DISTINCT part_count FROM reveal_parts WHERE task_id = ? AND annotator = ?",
            task_id,
            annotator,
        )
        return {int(r["part_count"]) for r in rows}

    def part_indexes(self, task_id: int, annotator: str) -> set[int]:
        rows = self._all(
            "SELECT part_index FROM reveal_parts WHERE task_id = ? AND annotator = ?",
            task_id,
            annotator,
        )
        return {int(r["part_index"]) for r in rows}

    def part(self, task_id: int, annotator: str, index: int) -> str:
        row = self._one(
            "SELECT entries FROM reveal_parts WHERE task_id = ? AND annotator = ? "
            "AND part_index = ?",
            task_id,
            annotator,
            index,
        )
        if row is None:
            raise StoreError(f"part {index} of {annotator}'s reveal of task {task_id} is missing")
        return str(row["entries"])

    def clear_parts(self, task_id: int, annotator: str) -> None:
        self.conn.execute(
            "DELETE FROM reveal_parts WHERE task_id = ? AND annotator = ?", (task_id, annotator)
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

    def report(
        self, task_id: int, round_: int | None = None, *, with_bundle: bool = True
    ) -> ReportRow | None:
        """The report of `round_`, or of the latest round scored. ``with_bundle=False`` leaves
        the inputs bundle unread (``bundle`` is None): a large task's bundle is hundreds of
        MB, and a status page needs only the report's small fields."""
        columns = "*" if with_bundle else ", ".join(f for f in _REPORT_FIELDS if f != "bundle")
        if round_ is None:
            row = self._one(
                f"SELECT {columns} FROM reports WHERE task_id = ? ORDER BY round DESC LIMIT 1",
                task_id,
            )
        else:
            row = self._one(
                f"SELECT {columns} FROM reports WHERE task_id = ? AND round = ?", task_id, round_
            )
        if row is None:
            return None
        d = dict(row)
        d["total"] = int(d["total"])
        d["report"] = bytes(d["report"])
        if with_bundle:
            d["bundle"] = bytes(d["bundle"]) or self._streamed_bundle(d["task_id"], d["round"])
        else:
            d["bundle"] = None
        return ReportRow(**d)

    def scored_tasks(self) -> set[int]:
        """The ids of the tasks with at least one report."""
        return {int(r["task_id"]) for r in self._all("SELECT DISTINCT task_id FROM reports")}

    def add_report(
        self, r: ReportRow, bundle: Iterable[bytes] | None = None, bundle_size: int = 0
    ) -> None:
        """Store a report. The bundle is ``r.bundle``, or, given ``bundle``, the pieces it
        yields (``bundle_size`` bytes in all), written as they come into ``bundle_parts``: the
        scheduler streams a large bundle from the stored reveals instead of building it in
        memory. (Not one blob reserved with ``zeroblob`` and filled through incremental blob
        I/O: SQLite writes its zeros first, twice the pages.)"""
        self.conn.execute(
            # REPLACE: a round scored again (after a reorg re-opened its proposal) replaces it.
            "INSERT OR REPLACE INTO reports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.task_id,
                r.round,
                r.report,
                r.tree_json,
                r.root,
                str(r.total),
                r.report_hash,
                b"" if bundle is not None else r.bundle_bytes,
                r.inputs_hash,
                r.gold_status,
                r.created_at,
            ),
        )
        self.conn.execute(
            "DELETE FROM bundle_parts WHERE task_id = ? AND round = ?", (r.task_id, r.round)
        )
        if bundle is None:
            return
        written = 0
        for part, chunk in enumerate(_coalesced(bundle, BUNDLE_PART)):
            written += len(chunk)
            if written > bundle_size:
                raise StoreError(
                    f"task {r.task_id}: the bundle is longer than the {bundle_size} bytes announced"
                )
            self.conn.execute(
                "INSERT INTO bundle_parts VALUES (?, ?, ?, ?)", (r.task_id, r.round, part, chunk)
            )
        if written != bundle_size:
            raise StoreError(
                f"task {r.task_id}: the bundle has {written} bytes, {bundle_size} announced"
            )

    def _streamed_bundle(self, task_id: int, round_: int) -> bytes:
        cursor = self.conn.execute(
            "SELECT data FROM bundle_parts WHERE task_id = ? AND round = ? ORDER BY part",
            (task_id, round_),
        )
        cursor.row_factory = None
        # One part at a time into one growing buffer, whose bytes getvalue() hands over
        # without a copy: the bundle is in memory once, not once as parts and once joined.
        out = io.BytesIO()
        for (data,) in cursor:
            out.write(data)
        if not out.tell():
            raise StoreError(f"the inputs bundle of task {task_id} round {round_} is missing")
        return out.getvalue()

    def bundle(self, inputs_hash: str) -> bytes | None:
        """The inputs bundle whose keccak256 is `inputs_hash` (0x + 64 lowercase hex)."""
        row = self._one(
            "SELECT task_id, round, bundle FROM reports WHERE inputs_hash = ? LIMIT 1",
            inputs_hash.lower(),
        )
        if row is None:
            return None
        bundle = bytes(row["bundle"])
        return bundle or self._streamed_bundle(int(row["task_id"]), int(row["round"]))

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
            "INSERT OR REPLACE INTO proposals VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                p.task_id,
                p.round,
                p.state,
                p.root,
                None if p.total is None else str(p.total),
                p.report_hash,
                p.inputs_hash,
                p.nonce,
                p.tx_hash,
                p.raw_tx,
                p.note,
                p.updated_at,
                p.attempts,
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


def _coalesced(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The pieces joined into chunks of about `size` bytes: one row per chunk rather than per
    reveal document."""
    buffer: list[bytes] = []
    held = 0
    for piece in pieces:
        buffer.append(piece)
        held += len(piece)
        if held >= size:
            yield b"".join(buffer)
            buffer, held = [], 0
    if buffer:
        yield b"".join(buffer)


def _task_row(row: sqlite3.Row) -> TaskRow:
    d = dict(row)
    d["budget"] = int(d["budget"])
    return TaskRow(**d)


def _proposal_row(row: sqlite3.Row) -> ProposalRow:
    d = dict(row)
    d["total"] = None if d["total"] is None else int(d["total"])
    return ProposalRow(**d)


class Store(SqliteStore[Tx]):
    """Thread-safe access to the oracle database: one SQLite connection per thread, explicit
    transactions and a group commit (labelproof/sqlite.py)."""

    SCHEMA = _SCHEMA
    SCHEMA_VERSION = SCHEMA_VERSION

    def _tx(self, conn: sqlite3.Connection) -> Tx:
        return Tx(conn)

    def _version_mismatch(self, found: str) -> str:
        return (
            f"{self.path}: schema version {found}, this oracle needs {SCHEMA_VERSION} "
            "(a database of the v1 contracts cannot serve v2 ones): use another data directory"
        )

    def bind(
        self,
        chain_id: int,
        escrow: str,
        genesis_hash: str | None = None,
        anchor: str | None = None,
    ) -> str | None:
        """Tie the database to one deployment on one chain: its id, genesis block hash and the
        hash of an anchor block (``"<number>:<hash>"``, the oracle's start block).

        Returns None when the database is this chain's (or new), else what differs: the chain
        was reset or the RPC serves another chain. The caller then stops acting on the stored
        state, or archives it (:meth:`archive`). Another escrow on the same chain is a
        configuration mistake: StoreError.
        """
        found = {"chain_id": str(chain_id), "genesis_hash": genesis_hash, "anchor": anchor}
        with self.write() as tx:
            known = {key: tx.meta(key) for key in found}
            escrow_known = tx.meta("escrow")
            if escrow_known is None and known["chain_id"] is None:
                tx.set_meta("escrow", escrow)
            for key, value in found.items():
                # A database from before a key was recorded adopts this chain's value.
                if known[key] is None and value is not None:
                    tx.set_meta(key, value)
                    known[key] = value
            differs = [k for k, v in found.items() if v is not None and known[k] != v]
            if differs:
                return (
                    f"{self.path} belongs to chain {known['chain_id']} (genesis "
                    f"{known['genesis_hash']}, block {known['anchor']}), the RPC serves chain "
                    f"{chain_id} (genesis {genesis_hash}, block {anchor})"
                )
            if escrow_known is not None and escrow_known != escrow:
                raise StoreError(
                    f"{self.path} belongs to escrow {escrow_known} on chain {chain_id}, not "
                    f"{escrow}: use another data directory"
                )
            return None

    def identity(self) -> tuple[str | None, str | None, str | None]:
        """(chain id, genesis hash, anchor) the database was bound to."""
        with self.read() as tx:
            return tx.meta("chain_id"), tx.meta("genesis_hash"), tx.meta("anchor")

    def archive(self) -> Path:
        """Move the database (and its WAL files) to ``archive/`` next to it; returns the new
        path of the main file. The store must not be used afterwards."""
        chain_id, genesis, _ = self.identity()
        self.close()
        folder = self.path.parent / "archive"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        tag = f"chain{chain_id}-{(genesis or '0x')[2:10] or 'unknown'}-{stamp}"
        target = folder / f"{self.path.stem}-{tag}{self.path.suffix}"
        n = 1
        while target.exists():
            target = folder / f"{self.path.stem}-{tag}-{n}{self.path.suffix}"
            n += 1
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                side.rename(target.with_name(target.name + suffix))
        self.path.rename(target)
        return target
