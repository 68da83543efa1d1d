"""Scores tasks once their reveal window closes and proposes the payout, exactly once.

For every task the follower knows, once the chain's clock passes its reveal deadline and this
oracle has no proposal in the committee's current round:

1. **seal** the task's reveals (a write transaction; the API refuses reveals for a sealed task
   in its own write transaction, so a reveal is either in the scored set or got an error,
   never a receipt and then silently left out);
2. keep only reveals whose (root, item count) is the annotator's *current* attestation on chain
   (``isAttested``, read at one pinned block; attestations are frozen since the annotation
   deadline, so every oracle reads the same answer);
3. score them with the spec's method and parameters and the gold set (required, and checked
   against the commitment, whenever the on-chain gold commitment is non-zero), build the payout
   tree over the positive payouts and the report (records.report_envelope); store report, tree
   and the proposal row in state ``scored``, in one transaction;
4. **send**: build ``committee.propose`` with an explicit nonce, gas and gas price, sign it,
   store the raw signed transaction and its hash in state ``sent`` and commit, and only then
   broadcast it; then wait for the receipt and move to ``confirmed`` (or ``reverted``).

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

One signed transaction is in flight at a time (the scheduler resolves every ``sent`` row before
signing a new one), so nonces never collide.

Nothing to pay: when no reveal matches its final attestation, or scoring pays nobody, nothing
is proposed (the committee refuses an empty root); the task notes why, and the requester takes
the whole budget back after the oracle deadline (TaskEscrow's OracleTimeout refund).

Vetoes: a guardian's veto starts a new round. The oracle does **not** propose again on its own
in any round after the first: the inputs are sealed, so it would only compute the payout that
was just vetoed. It logs the veto, notes "waiting for an operator" on the task, and proposes in
round N only after an operator approves that round (``python -m labelproof.oracle repropose``),
scoring afresh from what is then in its database.

Test hook: ``LABELPROOF_ORACLE_CRASH_AT`` (comma-separated: ``after_score``, ``after_sign``,
``after_broadcast``) makes the process SIGKILL itself at that point, to test the recovery above.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from dataclasses import dataclass, replace
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound
from web3.types import Nonce, TxParams, Wei

from labelproof.merkle import payout_tree
from labelproof.oracle.onchain import STATUS_FUNDED, OracleChain
from labelproof.oracle.records import document_labels, report_envelope
from labelproof.oracle.store import GoldRow, ProposalRow, ReportRow, RevealRow, Store, TaskRow
from labelproof.scoring import AnswerSet, GoldSet, Method, score
from labelproof.spec import TaskSpec, canonical_json

log = logging.getLogger("labelproof.oracle.scheduler")

CRASH_ENV = "LABELPROOF_ORACLE_CRASH_AT"
CRASH_POINTS = ("after_score", "after_sign", "after_broadcast")


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
    inputs_json: str


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
    """Report, tree and root from the valid reveals: a pure function of its arguments."""
    reveals = sorted(reveals, key=lambda r: r.annotator)
    rows = [
        (item, r.annotator, label)
        for r in reveals
        for item, label, _ in document_labels(r.reveal_json)
    ]
    if not rows:
        raise NothingToPay("no reveal matches its annotator's final attestation")
    gold_rows: list[list[str]] = json.loads(gold.gold_json) if gold is not None else []
    result = score(
        AnswerSet.from_rows(rows, source=f"task {task.task_id} reveals"),
        GoldSet.from_mapping(dict(gold_rows), source=f"task {task.task_id} gold") if gold else None,
        method=cast(Method, spec.scoring.method_code),
        budget=task.budget,
        min_quality=spec.scoring.min_quality,
        gold_weight=spec.scoring.gold_weight,
    )
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
        receipts=[r.receipt for r in reveals],
        excluded=sorted(excluded),
        root=tree.root,
        total=total,
        accounts=len(payouts),
        scoring=result.report,
    )
    inputs = {
        "spec": spec.to_dict(),
        "reveals": [json.loads(r.reveal_json) for r in reveals],
        "excluded": sorted(excluded),
        "gold": None if gold is None else {"gold": gold_rows, "salt": gold.salt},
    }
    return Computed(
        report=report,
        report_hash="0x" + bytes(keccak(report)).hex(),
        tree_json=json.dumps(tree.dump()),
        root=tree.root,
        total=total,
        inputs_json=canonical_json(inputs).decode("utf-8"),
    )


class Scheduler:
    def __init__(
        self,
        chain: OracleChain,
        store: Store,
        account: LocalAccount,
        *,
        receipt_timeout: float = 30.0,
    ) -> None:
        self.chain = chain
        self.store = store
        self.account = account
        self.address = account.address
        self.receipt_timeout = receipt_timeout
        self._notes: dict[int, str] = {}
        # (task, round) whose scoring failed or paid nobody. The reveals are sealed by then, so
        # scoring again would give the same answer: not retried until a restart (an operator
        # who fixed something restarts the oracle).
        self._given_up: set[tuple[int, int]] = set()

    # -- the loop body

    def tick(self) -> None:
        with self.store.read() as tx:
            tasks = tx.tasks()
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

    def _task(self, task: TaskRow, now: int) -> None:
        tid = task.task_id
        with self.store.read() as tx:
            if tx.finalized(tid):
                return
            state = tx.state(tid)
            spec_row = tx.spec(tid)
            gold = tx.gold(tid)
        if now <= task.reveal_deadline or now > task.oracle_deadline:
            return  # too early to propose, or too late for any proposal to be accepted
        if self.chain.status(tid) != STATUS_FUNDED:
            self._note(tid, "task is no longer open for a payout (final, cancelled or expired)")
            return
        pending = self.chain.pending(tid)
        rnd = pending.round
        with self.store.read() as tx:
            row = tx.proposal(tid, rnd)
        if row is not None:
            if row.state == "scored":
                self._send(task, row)
            return  # sent rows were resolved in tick(); the rest are final for the round
        if rnd > 0 and state.operator_round != rnd:
            self._note(
                tid,
                f"vetoed: the committee is in round {rnd}; waiting for an operator to approve "
                f"re-proposing (python -m labelproof.oracle repropose --task {tid})",
                logging.WARNING,
            )
            return
        if self.chain.has_voted(tid, self.address):
            self._put(tid, rnd, "confirmed", note="this oracle's vote is already on chain")
            return
        if pending.is_pending:
            self._put(tid, rnd, "skipped", note="the committee agreed without this oracle")
            return
        if now + task.challenge_period > task.oracle_deadline:
            self._note(tid, "too late to propose: the challenge window would pass the deadline")
            return
        if spec_row is None:
            self._note(tid, "waiting for the requester to register the spec")
            return
        if task.has_gold and gold is None:
            self._note(tid, "waiting for the requester to reveal the gold set")
            return
        if (tid, rnd) in self._given_up:
            return
        spec = TaskSpec.from_json(spec_row[0])
        try:
            computed = self._score(task, spec, gold)
        except NothingToPay as exc:
            self._given_up.add((tid, rnd))
            self._note(tid, f"nothing to propose: {exc}", logging.WARNING)
            return
        except ValueError as exc:  # ScoringInputError and friends: bad inputs, not a bug
            self._given_up.add((tid, rnd))
            self._note(tid, f"scoring failed: {exc}", logging.ERROR)
            return
        scored = ProposalRow(
            task_id=tid,
            round=rnd,
            state="scored",
            root=computed.root,
            total=computed.total,
            report_hash=computed.report_hash,
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
                    inputs_json=computed.inputs_json,
                    created_at=time.time(),
                )
            )
            tx.put_proposal(scored)
            tx.set_note(tid, f"scored round {rnd}: root {computed.root}")
        log.info(
            "task %d round %d: scored, root %s total %d report %s",
            tid,
            rnd,
            computed.root,
            computed.total,
            computed.report_hash,
        )
        crash_point("after_score")
        self._send(task, scored)

    def _score(self, task: TaskRow, spec: TaskSpec, gold: GoldRow | None) -> Computed:
        tid = task.task_id
        with self.store.write() as tx:
            tx.seal(tid)
        # Sealed and committed: no reveal can be added from here on, so this read is final.
        with self.store.read() as tx:
            reveals = tx.reveals(tid)
        block, _ = self.chain.head()
        valid: list[RevealRow] = []
        excluded: list[str] = []
        for r in reveals:
            root = bytes.fromhex(r.root[2:])
            if self.chain.is_attested(tid, r.annotator, root, r.item_count, block):
                valid.append(r)
            else:
                excluded.append(r.annotator)
        if excluded:
            log.warning(
                "task %d: %d reveal(s) do not match the final attestation and are left out: %s",
                tid,
                len(excluded),
                ", ".join(excluded),
            )
        return compute_payout(
            chain_id=self.chain.chain_id,
            escrow=self.chain.escrow.address,
            task=task,
            spec=spec,
            reveals=valid,
            excluded=excluded,
            gold=gold,
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
                    nonce=getattr(old, "nonce", None),
                    tx_hash=getattr(old, "tx_hash", None),
                    raw_tx=getattr(old, "raw_tx", None),
                    note=note,
                    updated_at=time.time(),
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
        if pending.is_pending:
            self._put(tid, rnd, "skipped", note="the committee agreed without this oracle")
            return
        assert row.root is not None and row.total is not None and row.report_hash is not None
        w3 = self.chain.w3
        fn = self.chain.committee.functions.propose(
            tid, HexBytes(row.root), row.total, HexBytes(row.report_hash)
        )
        try:
            gas = int(fn.estimate_gas({"from": self.address}) * 1.2) + 10_000
        except Exception as exc:  # a revert now: the round's state changed under us
            self._put(tid, rnd, "skipped", note=f"propose would revert: {_reason(exc)}")
            return
        nonce = int(w3.eth.get_transaction_count(self.address, "pending"))
        params: TxParams = {
            "from": self.address,
            "nonce": Nonce(nonce),
            "gas": gas,
            "gasPrice": Wei(int(w3.eth.gas_price)),
            "chainId": self.chain.chain_id,
        }
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
            nonce=nonce,
            tx_hash=tx_hash,
            raw_tx=raw,
            note="signed; broadcast pending",
            updated_at=time.time(),
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
        try:
            self.chain.w3.eth.send_raw_transaction(HexBytes(row.raw_tx))
            log.info("task %d round %d: proposal sent in %s", row.task_id, row.round, row.tx_hash)
        except Exception as exc:  # "already known", "nonce too low": _resolve sorts it out
            log.warning(
                "task %d round %d: broadcast of %s: %s",
                row.task_id,
                row.round,
                row.tx_hash,
                _reason(exc),
            )

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
            w3.eth.get_transaction(HexBytes(row.tx_hash))
            return  # the node has it and will mine it; check again next tick
        except TransactionNotFound:
            pass
        if self.chain.pending(tid).round != rnd:
            # A veto ended the round. Re-broadcasting would cast this vote in the new round,
            # which only an operator may decide. The next transaction signed reuses the nonce,
            # which retires this one for good.
            self._put(
                tid, rnd, "skipped", note="round ended before the proposal was mined", base=row
            )
            return
        log.warning("task %d round %d: re-broadcasting the stored signed proposal", tid, rnd)
        self._broadcast(row)

    def _settle(self, row: ProposalRow, receipt: Any) -> None:
        if int(receipt["status"]) == 1:
            note = f"mined in block {int(receipt['blockNumber'])}"
            self._put(row.task_id, row.round, "confirmed", note=note, base=row)
        else:
            note = f"reverted in block {int(receipt['blockNumber'])}; not retried this round"
            self._put(row.task_id, row.round, "reverted", note=note, base=row)


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
