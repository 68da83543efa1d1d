"""Scores tasks once their reveal window closes and proposes the payout, exactly once per round.

For every task the follower knows, once the chain's clock passes its reveal deadline (as moved
by an early close) and this oracle has no proposal in the committee's current round:

1. wait for the spec and, when the task commits to a gold set, for the gold set until the
   **gold deadline** (reveal deadline + ``gold_grace``, at most half the oracle timeout; see
   records.gold_deadline). After it, the task is scored *without* gold, and the bundle and the
   report say so (gold status ``withheld``): withholding the gold set cannot stop the payout,
   so the requester cannot abort a task for free by keeping it back.
2. **seal** the task's reveals (a write transaction; the API refuses reveals, and a gold set it
   does not already hold, for a sealed task in its own write transaction, so a submission is
   either in the scored set or got an error, never a receipt and then silently left out);
   reveals and gold are read after the seal, so what is scored is final;
3. keep only reveals whose (root, item count) is the annotator's *current* attestation on chain
   (the latest ``Attested`` event of each annotator up to one pinned block, read in one log
   scan: what ``isAttested`` says there; attestations are frozen since the annotation
   deadline, so every oracle reads the same answer);
4. score them with the spec's method and parameters (and the gold set when revealed), build the
   payout tree over the positive payouts, the inputs bundle (records.bundle_ends around the
   stored reveal documents) and the report (records.report_envelope); store report, tree,
   bundle and the proposal row in state ``scored``, in one transaction. From then on the API
   serves the bundle, so it is published before the proposal that carries its hash is sent.
   At 1.5M labels the reveal documents are 175 MB: they are streamed from the database, each
   one through the bundle's keccak256 (on a background thread) and Arrow's JSON reader
   (reveal_columns: no Python object per label) and dropped; the bundle is then written to
   the database in parts straight from the sealed reveals again, never built whole in
   memory. Automatic garbage collection pauses meanwhile (the scoring makes millions of
   short-lived objects and no cycles worth chasing: a quarter of its CPU time went to it);
5. **send**: build ``committee.propose(taskId, root, total, reportHash, inputsHash)`` with an
   explicit nonce, gas and gas price, sign it, store the raw signed transaction and its hash in
   state ``sent`` and commit, and only then broadcast it; then wait for the receipt and move to
   ``confirmed`` (or ``reverted``).

Exactly once, whatever point a crash (or ``kill -9``) hits:

* before ``scored`` commits: nothing was sent; the restart scores again from the same sealed
  reveals and gets the same bytes.
* ``scored`` but not ``sent``: before signing, the scheduler asks the chain
  (``hasVoted(taskId, oracle)``) and signs only if this oracle has not voted in the round.
* ``sent``: the restart never signs anything new for that round. It looks for the receipt of
  the stored hash; without one it asks ``hasVoted``; if the node does not know the transaction
  it re-broadcasts *the same signed bytes* (same nonce, same hash: it can be mined at most
  once). Only if the account's nonce has moved past the stored transaction's nonce without
  that transaction being mined (the key was used elsewhere) is the stored transaction dead
  for good, and only then is a new one signed.
* the contract is the last line of defence: a second vote in a round reverts (AlreadyVoted).

One signed proposal is in flight at a time (the scheduler resolves every ``sent`` row before
signing a new one), so nonces never collide.

Priority: the tasks due in a tick are scored smallest first (by labels revealed), so a small
task never waits behind a large one that fell due at the same time.

Deadlines: a *first* proposal must become pending by the oracle deadline (reveal deadline +
oracle timeout), or the requester takes the budget back; once one has been pending there is no
deadline any more, and the oracle proposes in every new round however late.

Rounds: a new round starts when the guardian vetoes the pending proposal, when an arbitrator
rules it wrong (PayoutWrong), or when a round is restarted. The oracle votes again in every new
round, scoring afresh from its sealed inputs (so a guardian alone cannot block a payout), with
one exception: a payout that an arbitrator ruled wrong is not proposed again on the oracle's
own (it would only lose the committee's bond again); the oracle notes "waiting for an operator"
and proposes it in round N only if an operator approves that round (``python -m
labelproof.oracle repropose --task T --round N``) — typically after fixing what made it wrong.
Before voting in round N > 0 the oracle waits until its follower has stored the event that
started round N, so it knows what an arbitrator ruled.

Split votes: when every live oracle of the task's rule set has voted in the round, this one
included, and no payout reached the threshold, the oracle calls ``committee.restartRound`` (anyone
may) and votes again in the new round. It does so at most ``max_auto_restarts`` times per task
(restarts by anyone count), so oracles that keep disagreeing do not burn gas forever; past that
an operator approves the round to restart once more. With fewer live oracles than the
threshold, nothing is restarted: only a bonded proposal can settle the task.

Nothing to pay: when no reveal matches its final attestation, or scoring pays nobody, nothing
is proposed (the committee refuses an empty root); the task notes why, and the requester takes
the whole budget back after the oracle deadline (TaskEscrow's OracleTimeout refund).

Test hook: ``LABELPROOF_ORACLE_CRASH_AT`` (comma-separated: ``after_score``, ``after_sign``,
``after_broadcast``) makes the process SIGKILL itself at that point, to test the recovery above.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, cast

from Crypto.Hash import keccak as crypto_keccak
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound
from web3.types import Nonce, TxParams

from labelproof.merkle import payout_tree
from labelproof.oracle.onchain import STATUS_FUNDED, OracleChain, PayoutWindow
from labelproof.oracle.records import (
    DEFAULT_GOLD_GRACE,
    GOLD_NONE,
    GOLD_REVEALED,
    GOLD_WITHHELD,
    bundle_ends,
    bundle_pieces,
    gold_deadline,
    report_envelope,
    task_facts,
)
from labelproof.oracle.reveal_columns import Documents, RevealColumns
from labelproof.oracle.store import (
    GoldRow,
    ProposalRow,
    ReportRow,
    RevealRow,
    Store,
    StoreError,
    TaskRow,
    TaskState,
    Tx,
)
from labelproof.scoring import SCORING_VERSION, GoldSet, Method, score
from labelproof.sending import bumped_fees, fee_fields, process_options
from labelproof.settlement import Proposal
from labelproof.spec import TaskSpec

log = logging.getLogger("labelproof.oracle.scheduler")

CRASH_ENV = "LABELPROOF_ORACLE_CRASH_AT"
CRASH_POINTS = ("after_score", "after_sign", "after_broadcast")
MAX_AUTO_RESTARTS = 3
# A vote signed for a round goes out at most this many times if it reverts (for instance out
# of gas, or a race the pre-checks did not see); each retry first re-checks the round.
MAX_SEND_ATTEMPTS = 3
# The vote that reaches the threshold also writes the pending proposal, which an estimate made
# before another oracle's vote was mined does not include: send with room for it.
PROPOSE_GAS_HEADROOM = 200_000


def crash_point(name: str) -> None:
    """Die like `kill -9` here if the test hook names this point."""
    wanted = {p.strip() for p in os.environ.get(CRASH_ENV, "").split(",") if p.strip()}
    if name in wanted:
        log.warning("crash hook %s: SIGKILL", name)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)


class NothingToPay(Exception):
    """Scoring ran (or could not run) and no annotator is owed anything: nothing to propose."""


@dataclass(frozen=True)
class Computed:
    report: bytes
    report_hash: str
    tree_json: str
    root: str
    total: int
    # The canonical inputs bundle, when the caller kept it (compute_payout does; the scheduler
    # writes it from the database instead: see Scheduler._store_scored).
    bundle: bytes | None
    inputs_hash: str  # keccak256 of the bundle
    gold_status: str  # records.GOLD_NONE | GOLD_REVEALED | GOLD_WITHHELD
    bundle_size: int = 0  # bytes of the bundle
    bundle_ends: tuple[bytes, bytes] = (b"", b"")  # records.bundle_ends: around the reveals

    @property
    def inputs_json(self) -> str:
        assert self.bundle is not None, "the bundle was not kept"
        return self.bundle.decode("utf-8")

    @property
    def payout(self) -> tuple[str, int, str, str]:
        """What the committee votes on: (root, total, reportHash, inputsHash)."""
        return (self.root, self.total, self.report_hash, self.inputs_hash)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Automatic garbage collection off for the block (as it was before, after it). Scoring
    1.5M labels makes millions of short-lived objects (tuples, floats, dicts of the report)
    and no reference cycles worth chasing, yet each full collection walks every object of
    the process: about a quarter of the scoring's CPU time went to them."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def compute_payout(
    *,
    chain_id: int,
    escrow: str,
    task: TaskRow,
    spec: TaskSpec,
    reveals: list[RevealRow],
    excluded: list[str],
    gold: GoldRow | None,
) -> Computed:
    """Report, tree, root and inputs bundle from the valid reveals: a pure function of its
    arguments. A task that commits to a gold set but is given none is scored without gold and
    marked ``withheld`` (the scheduler calls it so only after the gold deadline)."""
    reveals = sorted(reveals, key=lambda r: r.annotator)
    documents = [(r.annotator, r.reveal_json.encode("utf-8")) for r in reveals]
    with gc_paused():
        return score_documents(
            chain_id=chain_id,
            escrow=escrow,
            task=task,
            spec=spec,
            documents=documents,
            again=lambda: documents,
            receipts=[r.receipt for r in reveals],
            excluded=excluded,
            gold=gold,
            keep_bundle=True,
        )


def score_documents(
    *,
    chain_id: int,
    escrow: str,
    task: TaskRow,
    spec: TaskSpec,
    documents: Iterable[tuple[str, bytes]],
    again: Documents,
    receipts: list[str],
    excluded: list[str],
    gold: GoldRow | None,
    keep_bundle: bool,
) -> Computed:
    """compute_payout over (annotator, stored reveal document) pairs sorted by annotator, read
    once as they come (``again`` gives them once more, only for inputs the columnar reader
    leaves to the exact one; see reveal_columns). Each document goes through the bundle's
    keccak256 and the columnar reader and is dropped, so the scheduler streams 1.5M labels
    from the database holding one batch of documents (8 MB) and the parsed columns (about 20
    bytes a label), not 175 MB of documents; with ``keep_bundle`` the bundle bytes are kept.
    ``receipts`` are the documents' receipts, in the same order."""
    if gold is not None:
        gold_status = GOLD_REVEALED
    else:
        gold_status = GOLD_WITHHELD if task.has_gold else GOLD_NONE
    gold_rows: list[list[str]] = json.loads(gold.gold_json) if gold is not None else []
    facts = task_facts(
        chain_id=chain_id,
        escrow=escrow,
        task_id=task.task_id,
        spec_hash=task.spec_hash,
        gold_commitment=task.gold_commitment,
        budget=task.budget,
    )
    head, tail = bundle_ends(
        task=facts,
        scoring_version=SCORING_VERSION,
        spec=spec.to_dict(),
        excluded=excluded,
        gold_status=gold_status,
        gold_rows=gold_rows if gold is not None else None,
        gold_salt=gold.salt if gold is not None else None,
    )
    size = 0
    kept: list[bytes] = []
    columns = RevealColumns(f"task {task.task_id} reveals")
    with BackgroundKeccak() as hasher:  # settlement.inputs_hash, as the pieces come
        for piece in bundle_pieces(head, tail, _read_as_they_pass(columns, documents)):
            hasher.update(piece)
            size += len(piece)
            if keep_bundle:
                kept.append(piece)
        bundle_hash = "0x" + hasher.hexdigest()
    answers = columns.answers(again)
    del columns
    if answers is None:
        raise NothingToPay("no reveal matches its annotator's final attestation")
    result = score(
        answers,
        GoldSet.from_mapping(dict(gold_rows), source=f"task {task.task_id} gold") if gold else None,
        method=cast(Method, spec.scoring.method_code),
        budget=task.budget,
        min_quality=spec.scoring.min_quality,
        gold_weight=spec.scoring.gold_weight,
    )
    del answers
    payouts = {w: a for w, a in result.payouts.items() if a > 0}
    if not payouts:
        raise NothingToPay("scoring paid nobody (no annotator above the minimum quality)")
    tree = payout_tree(payouts)
    total = sum(payouts.values())
    report = report_envelope(
        chain_id=chain_id,
        escrow=escrow,
        task_id=task.task_id,
        spec_hash=task.spec_hash,
        gold_commitment=task.gold_commitment,
        budget=task.budget,
        receipts=receipts,
        excluded=sorted(excluded),
        root=tree.root,
        total=total,
        accounts=len(payouts),
        scoring=result.report,
        inputs_hash=bundle_hash,
        gold_status=gold_status,
    )
    bundle = b"".join(kept) if keep_bundle else None
    return Computed(
        report=report,
        report_hash="0x" + bytes(keccak(report)).hex(),
        tree_json=json.dumps(tree.dump()),
        root=tree.root,
        total=total,
        bundle=bundle,
        inputs_hash=bundle_hash,
        gold_status=gold_status,
        bundle_size=size,
        bundle_ends=(head, tail),
    )


class BackgroundKeccak:
    """keccak256 of the pieces given, computed on another thread as they come.

    pycryptodome's keccak (about twice as fast as pysha3's on 175 MB) runs through ctypes,
    which releases the GIL, so the hashing overlaps the SQLite reads and Arrow's parsing of
    the same documents (both of which release it too) instead of adding to them. Pieces go
    over in batches of about 1 MB, at most 16 batches ahead: a few MB held, whatever the
    bundle's size."""

    BATCH = 1 << 20

    def __init__(self, first: bytes = b"") -> None:
        self._hasher = crypto_keccak.new(digest_bits=256)
        self._queue: queue.Queue[list[bytes] | None] = queue.Queue(maxsize=16)
        self._batch: list[bytes] = [first]
        self._held = len(first)
        self._digest: str | None = None
        self._thread = threading.Thread(target=self._run, name="bundle-keccak", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            for piece in batch:
                self._hasher.update(piece)

    def update(self, piece: bytes) -> None:
        self._batch.append(piece)
        self._held += len(piece)
        if self._held >= self.BATCH:
            self._queue.put(self._batch)
            self._batch, self._held = [], 0

    def _close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(self._batch)
            self._batch = []
            self._queue.put(None)
            self._thread.join()

    def hexdigest(self) -> str:
        if self._digest is None:
            self._close()
            self._digest = str(self._hasher.hexdigest())
        return self._digest

    def __enter__(self) -> BackgroundKeccak:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()  # also when the caller failed half-way: the thread ends


@dataclass(frozen=True)
class Scored:
    """What the scheduler scored: the payout, and which stored reveals (annotator -> receipt)
    it scored, to write the bundle from."""

    computed: Computed
    included: dict[str, str]


def _read_as_they_pass(
    columns: RevealColumns, documents: Iterable[tuple[str, bytes]]
) -> Iterator[bytes]:
    """The documents, each given to the columnar reader as it passes."""
    for annotator, document in documents:
        columns.add(annotator, document)
        yield document


def _included_documents(
    tx: Tx, task_id: int, included: dict[str, str]
) -> Iterator[tuple[str, bytes]]:
    """The stored documents of the included reveals, by annotator, streamed from the
    database. The reveals are sealed: a receipt that changed since it was read is a bug."""
    for annotator, receipt, document in tx.reveal_documents(task_id):
        wanted = included.get(annotator)
        if wanted is None:
            continue
        if wanted != receipt:
            raise StoreError(f"task {task_id}: the sealed reveal of {annotator} changed")
        yield annotator, document


def _popcount(x: int) -> int:
    return bin(x).count("1")


class Scheduler:
    def __init__(
        self,
        chain: OracleChain,
        store: Store,
        account: LocalAccount,
        *,
        receipt_timeout: float = 30.0,
        gold_grace: int = DEFAULT_GOLD_GRACE,
        max_auto_restarts: int = MAX_AUTO_RESTARTS,
        first_block: int = 0,
    ) -> None:
        self.chain = chain
        # Where to look for a task's attestations when its creation block is not known.
        self.first_block = first_block
        self.store = store
        self.account = account
        self.address = account.address
        self.receipt_timeout = receipt_timeout
        self.gold_grace = gold_grace
        self.max_auto_restarts = max_auto_restarts
        self._notes: dict[int, str] = {}
        # (task, round, operator-approved round) whose scoring failed, paid nobody or gave a
        # payout an arbitrator ruled wrong. The reveals are sealed by then, so scoring again
        # would give the same answer: not retried until a restart or an operator's approval.
        self._given_up: set[tuple[int, int, int | None]] = set()

    def forget(self) -> None:
        """After a reorg: decisions taken on the old blocks are taken again."""
        self._given_up.clear()
        self._notes.clear()

    # -- the loop body

    def tick(self) -> None:
        with self.store.read() as tx:
            # Smallest first (labels revealed): a small task due at the same time as a big one
            # is scored and proposed before it, not after.
            sizes = tx.revealed_labels()
            tasks = sorted(tx.tasks(), key=lambda t: (sizes.get(t.task_id, 0), t.task_id))
            in_flight = [p for p in tx.proposals() if p.state == "sent"]
        for p in in_flight:
            self._resolve(p)
        with self.store.read() as tx:
            if any(p.state == "sent" for p in tx.proposals()):
                return  # one signed transaction in flight at a time: nonces never collide
        _, now = self.chain.head()
        for task in tasks:
            self._task(task, now)

    def _note(self, task_id: int, note: str, level: int = logging.INFO) -> None:
        """Record why a task waits; logged once per change, not once per tick."""
        if self._notes.get(task_id) == note:
            return
        self._notes[task_id] = note
        log.log(level, "task %d: %s", task_id, note)
        with self.store.write() as tx:
            tx.set_note(task_id, note)

    def gold_deadline(self, window: PayoutWindow) -> int:
        return gold_deadline(window.reveal_deadline, window.oracle_timeout, self.gold_grace)

    def _task(self, task: TaskRow, now: int) -> None:
        tid = task.task_id
        if now <= task.reveal_deadline:
            return  # too early (an early close only moves the stored deadline up)
        with self.store.read() as tx:
            if tx.finalized(tid):
                return
            state = tx.state(tid)
            spec_row = tx.spec(tid)
            gold = tx.gold(tid)
        window = self.chain.payout_window(tid)
        if window.status != STATUS_FUNDED:
            self._note(tid, "task is no longer open for a payout (final, cancelled or expired)")
            return
        if now <= window.reveal_deadline:
            return
        pending = self.chain.pending(tid)
        rnd = pending.round
        with self.store.read() as tx:
            row = tx.proposal(tid, rnd)
            started_by = tx.round_start(tid, rnd) if rnd > 0 else "creation"
            ruled_wrong = tx.ruled_wrong(tid)
            restarts = tx.restarts(tid)
        if row is not None:
            if row.state == "scored":
                self._send(task, row)
            elif row.state == "confirmed":
                self._maybe_restart(task, window, pending, state, restarts)
            return  # sent rows were resolved in tick(); the rest are final for the round
        if not pending.ever_pending and now > window.oracle_deadline:
            self._note(
                tid,
                f"too late to propose: no proposal became pending by the oracle deadline "
                f"{window.oracle_deadline}",
            )
            return
        if self.chain.has_voted(tid, self.address):
            self._put(tid, rnd, "confirmed", note="this oracle's vote is already on chain")
            return
        if pending.challenge_ends != 0:
            note = (
                "the proposal of this round is under dispute"
                if pending.disputed
                else "the committee agreed without this oracle"
            )
            self._put(tid, rnd, "skipped", note=note)
            return
        if not self.chain.is_live_oracle(window.rules_id, self.address):
            self._note(
                tid,
                f"{self.address} is not a live oracle of rule set {window.rules_id} (not a "
                "member, or revoked): this oracle does not propose for the task",
                logging.WARNING,
            )
            return
        if started_by is None:
            # The chain is in round N but the follower has not stored what ended round N-1
            # (confirmations): wait, so that a payout ruled wrong is known before voting.
            self._note(
                tid, f"round {rnd}: waiting for the follower to see how round {rnd - 1} ended"
            )
            return
        if spec_row is None:
            self._note(tid, "waiting for the requester to register the spec")
            return
        if task.has_gold and gold is None:
            deadline = self.gold_deadline(window)
            if now <= deadline:
                self._note(
                    tid,
                    f"waiting for the requester to reveal the gold set (until {deadline}; then "
                    "the task is scored without gold)",
                )
                return
        key = (tid, rnd, state.operator_round)
        if key in self._given_up:
            return
        try:
            with gc_paused():
                scored_ = self._score(task)
        except NothingToPay as exc:
            self._given_up.add(key)
            self._note(tid, f"nothing to propose: {exc}", logging.WARNING)
            return
        except ValueError as exc:  # ScoringInputError and friends: bad inputs, not a bug
            self._given_up.add(key)
            self._note(tid, f"scoring failed: {exc}", logging.ERROR)
            return
        computed = scored_.computed
        if computed.payout in ruled_wrong and state.operator_round != rnd:
            self._given_up.add(key)
            self._note(
                tid,
                f"round {rnd}: an arbitrator ruled this oracle's payout (root {computed.root}) "
                "wrong in an earlier round and scoring gives it again; waiting for an operator "
                f"(python -m labelproof.oracle repropose --task {tid} --round {rnd})",
                logging.WARNING,
            )
            return
        self._store_scored(task, rnd, scored_)
        crash_point("after_score")
        with self.store.read() as tx:
            scored = tx.proposal(tid, rnd)
        assert scored is not None
        self._send(task, scored)

    def _store_scored(self, task: TaskRow, rnd: int, scored_: Scored) -> None:
        """Report, tree, bundle and the `scored` row in one transaction: from its commit on,
        the API serves the bundle whose hash the proposal will carry. The bundle is written
        into its blob straight from the sealed reveals, as it was hashed, never built whole
        in memory."""
        tid = task.task_id
        computed = scored_.computed
        scored = ProposalRow(
            task_id=tid,
            round=rnd,
            state="scored",
            root=computed.root,
            total=computed.total,
            report_hash=computed.report_hash,
            inputs_hash=computed.inputs_hash,
            nonce=None,
            tx_hash=None,
            raw_tx=None,
            note=None,
            updated_at=time.time(),
        )
        with self.store.write() as tx:
            tx.add_report(
                ReportRow(
                    task_id=tid,
                    round=rnd,
                    report=computed.report,
                    tree_json=computed.tree_json,
                    root=computed.root,
                    total=computed.total,
                    report_hash=computed.report_hash,
                    bundle=b"",
                    inputs_hash=computed.inputs_hash,
                    gold_status=computed.gold_status,
                    created_at=time.time(),
                ),
                bundle=bundle_pieces(
                    *computed.bundle_ends,
                    (d for _, d in _included_documents(tx, tid, scored_.included)),
                ),
                bundle_size=computed.bundle_size,
            )
            tx.put_proposal(scored)
            tx.set_note(tid, f"scored round {rnd}: root {computed.root}")
        self._notes.pop(tid, None)
        log.info(
            "task %d round %d: scored, root %s total %d report %s inputs %s (gold %s)",
            tid,
            rnd,
            computed.root,
            computed.total,
            computed.report_hash,
            computed.inputs_hash,
            computed.gold_status,
        )

    def _score(self, task: TaskRow) -> Scored:
        tid = task.task_id
        with self.store.write() as tx:
            tx.seal(tid)
        # Sealed and committed: no reveal (nor a gold set not yet held) can be added from here
        # on, so this read is final.
        with self.store.read() as tx:
            heads = tx.reveal_heads(tid)
            gold = tx.gold(tid)
            spec_row = tx.spec(tid)
        assert spec_row is not None
        spec = TaskSpec.from_json(spec_row[0])
        block, _ = self.chain.head()
        # Every annotator's current commitment from one scan of the task's Attested events up
        # to the pinned block (the latest version per annotator is its commitment), instead
        # of one isAttested call per annotator.
        first = task.block if task.block is not None else self.first_block
        current = self.chain.current_attestations(tid, first, block)
        included: dict[str, str] = {}  # annotator -> receipt of the reveal scored
        excluded: list[str] = []
        for r in heads:
            if current.get(r.annotator.lower()) == (r.root, r.item_count):
                included[r.annotator] = r.receipt
            else:
                excluded.append(r.annotator)
        if excluded:
            log.warning(
                "task %d: %d reveal(s) do not match the final attestation and are left out: %s",
                tid,
                len(excluded),
                ", ".join(excluded),
            )
        if task.has_gold and gold is None:
            log.warning("task %d: the gold set was withheld; scoring without gold", tid)
        with self.store.read() as tx:

            def documents() -> Iterator[tuple[str, bytes]]:
                return _included_documents(tx, tid, included)

            computed = score_documents(
                chain_id=self.chain.chain_id,
                escrow=self.chain.escrow.address,
                task=task,
                spec=spec,
                documents=documents(),
                again=documents,
                receipts=list(included.values()),
                excluded=excluded,
                gold=gold,
                keep_bundle=False,
            )
        return Scored(computed, included)

    # -- split votes

    def _maybe_restart(
        self,
        task: TaskRow,
        window: PayoutWindow,
        pending: Proposal,
        state: TaskState,
        restarts: int,
    ) -> None:
        """This oracle voted in the round and nothing is pending: if every live oracle has
        voted too, no payout can reach the threshold any more, so start a new round."""
        tid, rnd = task.task_id, pending.round
        if pending.challenge_ends != 0:
            return  # pending or disputed: the round goes on
        rules = self.chain.rules(window.rules_id)
        if _popcount(pending.voters) < rules.threshold:
            return  # cheap: fewer votes than the threshold, so some live oracle has not voted
        live = self.chain.live_mask(window.rules_id)
        if _popcount(live) < rules.threshold:
            self._note(
                tid,
                f"only {_popcount(live)} live oracles for a threshold of {rules.threshold}: the "
                "committee cannot agree; a bonded proposal (proposeBonded) must settle the task",
                logging.WARNING,
            )
            return
        if pending.voters & live != live:
            return  # a live oracle has not voted yet: its vote may still reach the threshold
        if restarts >= self.max_auto_restarts and state.operator_round != rnd:
            self._note(
                tid,
                f"round {rnd}: the oracles split again after {restarts} restarts; waiting for "
                f"an operator (python -m labelproof.oracle repropose --task {tid} --round {rnd})",
                logging.WARNING,
            )
            return
        self._restart(tid, rnd)

    def _restart(self, tid: int, rnd: int) -> None:
        w3 = self.chain.w3
        fn = self.chain.committee.functions.restartRound(tid)
        try:
            gas = int(fn.estimate_gas({"from": self.address}) * 1.2) + 10_000
        except Exception as exc:  # someone else restarted it, or a vote came in
            log.info("task %d round %d: restartRound would revert: %s", tid, rnd, _reason(exc))
            return
        params = cast(
            TxParams,
            {
                "from": self.address,
                "nonce": Nonce(int(w3.eth.get_transaction_count(self.address, "pending"))),
                "gas": gas,
                "chainId": self.chain.chain_id,
                "type": 2,
                **fee_fields(w3, process_options()),  # EIP-1559, within --max-fee
            },
        )
        signed = self.account.sign_transaction(fn.build_transaction(params))  # type: ignore[arg-type]
        # Not stored first, unlike a vote: a restart sent twice only reverts the second time
        # (RoundCanProceed), and the chain's round number says whether it happened.
        self._broadcast_raw(tid, rnd, "restartRound", bytes(signed.raw_transaction))
        tx_hash = "0x" + bytes(signed.hash).hex()
        deadline = time.monotonic() + self.receipt_timeout
        receipt = self._receipt(tx_hash)
        while receipt is None and time.monotonic() < deadline:
            time.sleep(0.2)
            receipt = self._receipt(tx_hash)
        if receipt is not None and int(receipt["status"]) == 1:
            self._note(tid, f"split vote in round {rnd}: restarted the round ({tx_hash})")
        else:
            log.warning(
                "task %d round %d: restartRound %s not mined or reverted", tid, rnd, tx_hash
            )

    # -- sending

    def _put(self, task_id: int, rnd: int, state: str, *, note: str, base: Any = None) -> None:
        with self.store.write() as tx:
            old = base or tx.proposal(task_id, rnd)
            tx.put_proposal(
                ProposalRow(
                    task_id=task_id,
                    round=rnd,
                    state=state,
                    root=getattr(old, "root", None),
                    total=getattr(old, "total", None),
                    report_hash=getattr(old, "report_hash", None),
                    inputs_hash=getattr(old, "inputs_hash", None),
                    nonce=getattr(old, "nonce", None),
                    tx_hash=getattr(old, "tx_hash", None),
                    raw_tx=getattr(old, "raw_tx", None),
                    note=note,
                    updated_at=time.time(),
                    attempts=getattr(old, "attempts", 0),
                )
            )
        log.info("task %d round %d: %s (%s)", task_id, rnd, state, note)

    def _send(self, task: TaskRow, row: ProposalRow) -> None:
        tid, rnd = task.task_id, row.round
        # Ask the chain before signing: a vote that exists must not be sent again, whatever
        # the database says.
        if self.chain.has_voted(tid, self.address):
            self._put(tid, rnd, "confirmed", note="this oracle's vote is already on chain")
            return
        pending = self.chain.pending(tid)
        if pending.round != rnd:
            self._put(tid, rnd, "skipped", note=f"round {rnd} ended before this oracle voted")
            return
        if pending.challenge_ends != 0:
            self._put(tid, rnd, "skipped", note="the committee agreed without this oracle")
            return
        assert row.root is not None and row.total is not None and row.report_hash is not None
        assert row.inputs_hash is not None
        w3 = self.chain.w3
        fn = self.chain.committee.functions.propose(
            tid,
            HexBytes(row.root),
            row.total,
            HexBytes(row.report_hash),
            HexBytes(row.inputs_hash),
        )
        try:
            gas = int(fn.estimate_gas({"from": self.address}) * 1.2) + PROPOSE_GAS_HEADROOM
        except Exception as exc:  # a revert now: the round's state changed under us
            self._put(tid, rnd, "skipped", note=f"propose would revert: {_reason(exc)}")
            return
        nonce = int(w3.eth.get_transaction_count(self.address, "pending"))
        params = cast(
            TxParams,
            {
                "from": self.address,
                "nonce": Nonce(nonce),
                "gas": gas,
                "chainId": self.chain.chain_id,
                "type": 2,
                **fee_fields(w3, process_options()),  # EIP-1559, within --max-fee
            },
        )
        tx = fn.build_transaction(params)
        signed = self.account.sign_transaction(tx)  # type: ignore[arg-type]
        raw = "0x" + bytes(signed.raw_transaction).hex()
        tx_hash = "0x" + bytes(signed.hash).hex()
        sent = ProposalRow(
            task_id=tid,
            round=rnd,
            state="sent",
            root=row.root,
            total=row.total,
            report_hash=row.report_hash,
            inputs_hash=row.inputs_hash,
            nonce=nonce,
            tx_hash=tx_hash,
            raw_tx=raw,
            note="signed; broadcast pending",
            updated_at=time.time(),
            attempts=row.attempts + 1,
        )
        # Persisted before the broadcast: after a crash the restart finds this exact
        # transaction and re-checks it instead of signing a second vote.
        with self.store.write() as wtx:
            wtx.put_proposal(sent)
        crash_point("after_sign")
        self._broadcast(sent)
        crash_point("after_broadcast")
        self._resolve(sent, wait=self.receipt_timeout)

    def _broadcast(self, row: ProposalRow) -> None:
        assert row.raw_tx is not None
        self._broadcast_raw(row.task_id, row.round, "proposal", bytes(HexBytes(row.raw_tx)))

    def _broadcast_raw(self, tid: int, rnd: int, what: str, raw: bytes) -> None:
        tx_hash = "0x" + bytes(keccak(raw)).hex()
        try:
            self.chain.w3.eth.send_raw_transaction(raw)
            log.info("task %d round %d: %s sent in %s", tid, rnd, what, tx_hash)
        except Exception as exc:  # "already known", "nonce too low": _resolve sorts it out
            log.warning("task %d round %d: broadcast of %s: %s", tid, rnd, tx_hash, _reason(exc))

    def _receipt(self, tx_hash: str) -> Any:
        try:
            return self.chain.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None

    def _resolve(self, row: ProposalRow, wait: float = 0.0) -> None:
        """Settle a `sent` proposal from what the chain says about its transaction."""
        assert row.tx_hash is not None and row.nonce is not None
        tid, rnd = row.task_id, row.round
        deadline = time.monotonic() + wait
        receipt = self._receipt(row.tx_hash)
        while receipt is None and time.monotonic() < deadline:
            time.sleep(0.2)
            receipt = self._receipt(row.tx_hash)
        if receipt is not None:
            self._settle(row, receipt)
            return
        if self.chain.has_voted(tid, self.address) and self.chain.pending(tid).round == rnd:
            self._put(tid, rnd, "confirmed", note="vote on chain; receipt not found", base=row)
            return
        w3 = self.chain.w3
        if int(w3.eth.get_transaction_count(self.address, "latest")) > row.nonce:
            # The nonce is spent. Either by this transaction (a receipt appears now) or by
            # another one from the same key, in which case this one can never be mined.
            receipt = self._receipt(row.tx_hash)
            if receipt is not None:
                self._settle(row, receipt)
                return
            self._put(
                tid,
                rnd,
                "scored",
                note=f"nonce {row.nonce} was used by another transaction; signing again",
                base=replace(row, nonce=None, tx_hash=None, raw_tx=None),
            )
            return
        try:
            pending_tx = w3.eth.get_transaction(HexBytes(row.tx_hash))
        except TransactionNotFound:
            pending_tx = None
        if pending_tx is not None:
            # The node has it. Left pending past the bump interval (--timeout / 4), it is
            # replaced at the same nonce with fees 12.5 % higher, within --max-fee.
            if time.time() - row.updated_at >= process_options().bump_interval():
                self._replace(row, pending_tx)
            return
        if self.chain.pending(tid).round != rnd:
            # A veto, ruling or restart ended the round. Re-broadcasting would cast this vote in
            # the new round, where the oracle scores and signs afresh instead. The next
            # transaction signed reuses the nonce, which retires this one for good.
            self._put(
                tid, rnd, "skipped", note="round ended before the proposal was mined", base=row
            )
            return
        log.warning("task %d round %d: re-broadcasting the stored signed proposal", tid, rnd)
        self._broadcast(row)

    def _replace(self, row: ProposalRow, pending_tx: Any) -> None:
        """Sign the stored vote again at its nonce with higher fees, stored before the
        broadcast like the first one. Whichever of the two is mined settles the vote; the
        other can then never be mined (its nonce is spent)."""
        assert row.nonce is not None
        if "maxFeePerGas" not in pending_tx:
            return  # a legacy transaction from an older oracle: left to be mined as it is
        old = {
            "maxFeePerGas": int(pending_tx["maxFeePerGas"]),
            "maxPriorityFeePerGas": int(pending_tx["maxPriorityFeePerGas"]),
        }
        fees = bumped_fees(old, self.chain.w3, process_options())
        if fees is None:
            log.warning(
                "task %d round %d: proposal %s is stuck and --max-fee leaves no room to raise "
                "its fee",
                row.task_id,
                row.round,
                row.tx_hash,
            )
            self._put(row.task_id, row.round, "sent", note="stuck at --max-fee", base=row)
            return
        tx = {
            "type": 2,
            "chainId": self.chain.chain_id,
            "nonce": row.nonce,
            "to": pending_tx["to"],
            "data": HexBytes(pending_tx["input"]),
            "value": 0,
            "gas": int(pending_tx["gas"]),
            **fees,
        }
        signed = self.account.sign_transaction(tx)
        replacement = replace(
            row,
            tx_hash="0x" + bytes(signed.hash).hex(),
            raw_tx="0x" + bytes(signed.raw_transaction).hex(),
        )
        self._put(
            row.task_id,
            row.round,
            "sent",
            note=f"replaced stuck {row.tx_hash} at nonce {row.nonce} with higher fees",
            base=replacement,
        )
        self._broadcast(replacement)

    def _settle(self, row: ProposalRow, receipt: Any) -> None:
        if int(receipt["status"]) == 1:
            note = f"mined in block {int(receipt['blockNumber'])}"
            self._put(row.task_id, row.round, "confirmed", note=note, base=row)
        elif row.attempts < MAX_SEND_ATTEMPTS:
            # Back to `scored`: the next tick re-checks the round (voted? pending?) and the
            # estimate before signing again, so a vote that can no longer count is not resent.
            note = (
                f"reverted in block {int(receipt['blockNumber'])} (attempt {row.attempts} of "
                f"{MAX_SEND_ATTEMPTS}); checking the round and sending again"
            )
            retry = replace(row, nonce=None, tx_hash=None, raw_tx=None)
            self._put(row.task_id, row.round, "scored", note=note, base=retry)
        else:
            note = (
                f"reverted in block {int(receipt['blockNumber'])} after {row.attempts} "
                "attempts; not retried this round"
            )
            self._put(row.task_id, row.round, "reverted", note=note, base=row)


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
