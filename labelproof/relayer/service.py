"""The relayer: accepted attestations kept in SQLite, sent in ``attestBySig`` batches by a
persisted transaction manager, watched until mined and for as long as a reorg could undo them.

Stages of an entry, each committed before the next begins (``kill -9`` anywhere loses nothing):

1. **intake**: the signature recovers, the policy allows it (policy.py); the entry is stored
   ``queued`` before the 202 goes out.
2. **batching**: up to ``batch_size`` queued entries become one ``building`` batch.
3. **signed**: nonce, gas, EIP-1559 fees and the signed raw transaction are stored (``signed``)
   before the broadcast.
4. **broadcast**: the raw transaction is sent (``sent``); a restart rebroadcasts it (the same
   bytes: the node answers "already known" or takes it again).
5. **mined**: the receipt's ``Attested`` / ``AttestationSkipped`` events settle every entry.

One batch is in flight at a time, so its nonce is the account's next one. A batch whose
transaction vanished from the mempool is broadcast again; one pending longer than
``stuck_after`` is signed again with the same nonce and fees raised by 12.5 % (up to
``max_fee_cap``); one whose nonce went to a transaction the relayer did not sign is abandoned and
its entries queued again. RPC failures are classified (rpc.py): a transient one is retried with
a persisted backoff and never fails an entry.

Chain identity: the database records chain id, genesis block hash and registry. A node that now
serves another chain (a reset local chain, a wrong URL) makes the relayer stop: no intake (503),
no batches, statuses reported ``stale`` (never ``confirmed``), ``/health`` down with the reason.
``--archive-stale-state`` moves the old database aside and starts fresh.

Reorgs: a mined batch's block hash is checked while it is less than ``reorg_depth`` blocks deep;
if its block changed and its transaction is no longer in the chain, its entries are queued again.

Test hook: ``LABELPROOF_RELAY_CRASH_AT`` (comma-separated: ``after_intake``, ``after_batch``,
``after_sign``, ``after_broadcast``, ``after_mined``) makes the process SIGKILL itself there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import BlockNotFound, TransactionNotFound

from labelproof.client import Chain, error_name
from labelproof.relayer import rpc
from labelproof.relayer.intake import AttestationIn, Checked, RelayError, check_signature
from labelproof.relayer.intake import domain_separator as make_domain_separator
from labelproof.relayer.policy import (
    GAS_PER_ENTRY,
    RateLimits,
    enrollment_message,
    enrollment_signer,
)
from labelproof.relayer.reads import ChainFacts, ChainReads, Unreadable
from labelproof.relayer.store import BatchRow, EntryRow, Store, StoreError, Tx
from labelproof.relayer.wire import Receipt, attest_by_sig_calldata, batch_outcomes
from labelproof.settlement import task_dict

log = logging.getLogger("labelproof.relay")

CRASH_ENV = "LABELPROOF_RELAY_CRASH_AT"
CRASH_POINTS = ("after_intake", "after_batch", "after_sign", "after_broadcast", "after_mined")
MAX_ATTEMPTS = 3  # batches an entry may be in whose whole transaction reverted
GWEI = 10**9


def crash_point(name: str) -> None:
    """Die like `kill -9` here if the test hook names this point."""
    wanted = {p.strip() for p in os.environ.get(CRASH_ENV, "").split(",") if p.strip()}
    if name in wanted:
        log.warning("crash hook %s: SIGKILL", name)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class RelayConfig:
    batch_size: int = 50
    max_wait: float = 5.0  # seconds the oldest queued entry waits for a fuller batch
    stuck_after: float = 60.0  # seconds a sent batch waits before its fee is raised
    min_priority_fee: int = GWEI  # wei per gas
    max_fee_cap: int | None = None  # wei per gas; no bump goes above it
    rate_per_address: float = 30.0  # attestations per minute per annotator
    rate_per_task: float = 6_000.0  # attestations per minute per task
    task_gas_budget: int = 200_000_000  # gas per task (about 5,000 attestations)
    enrollment: str = "open"  # open | required
    reorg_depth: int = 64  # blocks during which a mined batch is re-checked
    poll_interval: float = 1.0  # seconds between chain-identity / head polls
    down_after: float = 10.0  # seconds without a node answer before /health says down


@dataclass
class ChainIdentity:
    chain_id: int
    genesis: str
    registry: str


@dataclass
class Health:
    """What /health reports, refreshed by the watcher thread; never read from the node."""

    head: int | None = None
    head_time: int | None = None
    last_ok: float | None = None
    rpc_error: str | None = None
    balance: int | None = None
    stale: str | None = None  # why this database's state does not belong to the node's chain
    batch_note: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    worker_alive_at: float = field(default_factory=time.monotonic)


def live_identity(chain: Chain) -> ChainIdentity:
    genesis = chain.w3.eth.get_block(0)["hash"]
    return ChainIdentity(
        int(chain.w3.eth.chain_id), HexBytes(genesis).to_0x_hex(), chain.deployment.registry
    )


def archive_database(store_path: Path) -> Path:
    """Move the database (and its WAL files) aside; the relayer then starts fresh."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = store_path.with_name(f"{store_path.name}.stale-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(store_path) + suffix)
        if src.exists():
            shutil.move(src, Path(str(target) + suffix))
    return target


class Relay:
    """Intake, policy, the persisted batch sender and the chain watcher (thread-safe)."""

    def __init__(
        self,
        chain: Chain,
        account: LocalAccount,
        store: Store,
        config: RelayConfig | None = None,
        *,
        archive_stale_state: bool = False,
    ) -> None:
        self.chain = chain
        self.w3 = chain.w3
        self.account = account
        self.address = to_checksum_address(account.address)
        self.config = config or RelayConfig()
        self.store = store
        self.health = Health()
        self.wake = threading.Event()
        self.lock = threading.Lock()
        # Held while a batch takes, signs and broadcasts its nonce; other senders from this
        # account (labelproof.relayer.sponsor) hold it too, so none takes a batch's nonce.
        self.nonce_lock = threading.RLock()
        self.separator = make_domain_separator(chain.chain_id, chain.deployment.registry)
        self.by_address = RateLimits(self.config.rate_per_address)
        self.by_task = RateLimits(self.config.rate_per_task)
        self._charged: dict[int, int] = {}
        self._last_reorg_check = 0.0
        provider: Any = chain.w3.provider
        # Plain JSON-RPC for the hot reads (intake's facts, the batch's receipt).
        self.raw = rpc.RawRpc(
            str(provider.endpoint_uri), float(provider.get_request_kwargs().get("timeout", 10))
        )
        self.chain_reads = ChainReads(self.raw, chain.deployment.registry)
        self.identity = live_identity(chain)
        self._bind(archive_stale_state)
        # Intake's entries are stored by the store's group commit: one fsync per group of
        # requests (synchronous=FULL stays on), each request answered once its own is stored.
        self.store.on_group_commit = lambda: crash_point("after_intake")
        self._load_charges()
        self._refresh_counts()

    # -- chain identity

    def _bind(self, archive: bool) -> None:
        live = self.identity
        with self.store.read() as tx:
            known = (tx.meta("chain_id"), tx.meta("genesis"), tx.meta("registry"))
        if known == (None, None, None):
            with self.store.write() as tx:
                tx.set_meta("chain_id", str(live.chain_id))
                tx.set_meta("genesis", live.genesis)
                tx.set_meta("registry", live.registry)
            return
        reason = self._mismatch(known, live)
        if reason is None:
            return
        if not archive:
            self.health.stale = reason
            log.error("%s", reason)
            return
        path = self.store.path
        self.store.close()
        target = archive_database(path)
        log.warning("%s: archived the old database as %s, starting fresh", reason, target)
        self.store = Store(self.store.url)
        with self.store.write() as tx:
            tx.set_meta("chain_id", str(live.chain_id))
            tx.set_meta("genesis", live.genesis)
            tx.set_meta("registry", live.registry)

    def _mismatch(self, known: tuple[str | None, ...], live: ChainIdentity) -> str | None:
        chain_id, genesis, registry = known
        if (chain_id, genesis, registry) == (str(live.chain_id), live.genesis, live.registry):
            return None
        return (
            f"the database {self.store.path} belongs to chain {chain_id} (genesis {genesis}, "
            f"registry {registry}), but the node now serves chain {live.chain_id} (genesis "
            f"{live.genesis}, registry {live.registry}): a reset or different chain. Its "
            "attestations are not acted on; restart with --archive-stale-state to move the old "
            "database aside and start fresh"
        )

    @property
    def stale(self) -> str | None:
        return self.health.stale

    # -- intake

    def submit(self, body: AttestationIn) -> tuple[int, dict[str, Any]]:
        """Intake from a thread: (status, answer) or RelayError. See :meth:`submit_async`."""
        checked = self._screen(body)
        if isinstance(checked, EntryRow):
            return 200, self.describe(checked)
        try:
            facts = self.chain_reads.facts(checked.task_id, checked.annotator).result()
        except Exception as exc:
            raise self._node_error("reading the registry", exc) from None
        return self._answer(self._store_entry(checked, facts).result())

    async def submit_async(self, body: AttestationIn) -> tuple[int, dict[str, Any]]:
        """Intake on the event loop (the HTTP hot path): the signature and policy checks run
        here (tens of µs), the chain reads and the durable write in their group threads, with
        no worker thread held per request. Answers 202 once the entry is committed, 200 for
        an attestation already stored, or raises RelayError."""
        checked = self._screen(body)
        if isinstance(checked, EntryRow):
            return 200, self.describe(checked)
        try:
            facts = await asyncio.wrap_future(
                self.chain_reads.facts(checked.task_id, checked.annotator)
            )
        except Exception as exc:
            raise self._node_error("reading the registry", exc) from None
        return self._answer(await asyncio.wrap_future(self._store_entry(checked, facts)))

    def _screen(self, body: AttestationIn) -> Checked | EntryRow:
        """The checks that need no node: the attestation's signature, whether it is already
        stored (then its row), and enrollment."""
        self._refuse_if_stale()
        checked = check_signature(body, self.separator)
        known = self.store.entry(checked.digest)
        if known is not None:
            return known
        self._check_policy(checked)
        return checked

    def _store_entry(self, c: Checked, facts: ChainFacts) -> Future[tuple[bool, EntryRow]]:
        """Judge ``c`` on the chain's facts, reserve its gas and rate-limit tokens, and hand it
        to the group commit. The reservation is given back when the write fails or finds the
        attestation already stored (whoever waits, and even if nobody does any more)."""
        self._check_chain(c, facts)
        with self.lock:
            charged = self._charged.get(c.task_id, 0)
            if charged + GAS_PER_ENTRY > self.config.task_gas_budget:
                raise RelayError(
                    403,
                    f"task {c.task_id}'s gas budget at this relayer is spent ({charged:,} "
                    f"of {self.config.task_gas_budget:,} gas used or reserved): attest directly",
                )
            self._rate_limit(c)
            # Taken before the write, so that however many requests are in flight at once
            # none passes a limit; given back below if the entry is not added.
            self._charged[c.task_id] = charged + GAS_PER_ENTRY
            self.by_address.take(c.annotator)
            self.by_task.take(c.task_id)
        future = self.store.group_submit(lambda tx: _add_entry(tx, c))
        future.add_done_callback(lambda done: self._written(c, done))
        return future

    def _written(self, c: Checked, done: Future[tuple[bool, EntryRow]]) -> None:
        added = not done.cancelled() and done.exception() is None and done.result()[0]
        with self.lock:
            if not added:
                self._charged[c.task_id] = self._charged.get(c.task_id, 0) - GAS_PER_ENTRY
                self.by_address.refund(c.annotator)
                self.by_task.refund(c.task_id)
                return
            self.health.counts["queued"] = self.health.counts.get("queued", 0) + 1
            queued = self.health.counts["queued"]
        if queued >= self.config.batch_size:
            self.wake.set()

    def _answer(self, written: tuple[bool, EntryRow]) -> tuple[int, dict[str, Any]]:
        added, stored = written
        if not added:
            return 200, self.describe(stored)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "queued %s (task %d, %s, v%d)",
                stored.hash,
                stored.task_id,
                stored.annotator,
                stored.version,
            )
        return 202, self.describe(stored)

    def _refuse_if_stale(self) -> None:
        if self.stale:
            raise RelayError(503, self.stale, retry_after=60)

    def _rate_limit(self, c: Checked) -> None:
        wait = max(self.by_address.retry_after(c.annotator), 0.0)
        if wait > 0:
            raise RelayError(
                429,
                f"{c.annotator} sent more than {self.config.rate_per_address:g} attestations a "
                "minute to this relayer",
                retry_after=wait,
            )
        wait = self.by_task.retry_after(c.task_id)
        if wait > 0:
            raise RelayError(
                429,
                f"task {c.task_id} got more than {self.config.rate_per_task:g} attestations a "
                "minute at this relayer",
                retry_after=wait,
            )

    def _rpc(self, what: str, call: Callable[[], Any]) -> Any:
        """A node call at intake: a transient failure is a 503 with Retry-After."""
        try:
            return call()
        except Exception as exc:
            raise self._node_error(what, exc) from None

    @staticmethod
    def _node_error(what: str, exc: Exception) -> RelayError:
        if isinstance(exc, Unreadable):
            return RelayError(503, f"the node gave an unreadable answer ({what}: {exc})", 5)
        if rpc.classify(exc) == "transient":
            return RelayError(
                503,
                f"the relayer cannot reach its node ({what}: {rpc_reason(exc)}); try again",
                retry_after=5,
            )
        return RelayError(503, f"the node refused {what}: {rpc_reason(exc)}", retry_after=30)

    def _requester(self, task_id: int) -> str | None:
        """The task's requester, or None if the escrow has no such task."""
        raw = self._rpc(
            f"reading task {task_id}", lambda: self.chain.escrow.functions.task(task_id).call()
        )
        task = task_dict(raw)
        if int(task["status"]) == 0:
            return None
        return str(to_checksum_address(task["requester"]))

    def _check_policy(self, c: Checked) -> None:
        if c.task_id >= 2**64:
            raise RelayError(404, f"task {c.task_id} does not exist (task ids are below 2^64)")
        if self.config.enrollment != "required":
            return
        with self.store.read() as tx:
            allowed = tx.enrollment(c.task_id)
        if allowed is None:
            raise RelayError(
                403,
                f"task {c.task_id} has no enrollment at this relayer: its requester must sign "
                f"the list of annotators (PUT /tasks/{c.task_id}/enrollment); or attest directly",
            )
        if c.annotator not in allowed:
            raise RelayError(
                403,
                f"{c.annotator} is not enrolled for task {c.task_id} at this relayer; attest "
                "directly",
            )

    def _check_chain(self, c: Checked, facts: ChainFacts) -> None:
        if not facts.open:
            raise RelayError(409, f"task {c.task_id} is not open for attestations")
        if facts.now >= facts.deadline:
            raise RelayError(
                409, f"task {c.task_id}'s annotation window closed at {facts.deadline}"
            )
        if c.version <= facts.version:
            raise RelayError(
                409,
                f"version {c.version} is stale: {c.annotator} is at version {facts.version} for "
                f"task {c.task_id}; sign version {facts.version + 1}",
            )

    def enroll(self, task_id: int, annotators: list[str], signature: str) -> dict[str, Any]:
        """Store the requester-signed list of annotators allowed for ``task_id``."""
        self._refuse_if_stale()
        if not annotators or len(annotators) > 100_000:
            raise RelayError(422, "annotators must list 1 to 100,000 addresses")
        bad = [a for a in annotators if not isinstance(a, str) or not _is_address(a)]
        if bad:
            raise RelayError(422, f"not an address: {str(bad[0])[:80]!r}")
        if task_id >= 2**64:
            raise RelayError(404, f"task {task_id} does not exist")
        sig = signature[2:] if signature.startswith("0x") else ""
        try:
            raw = bytes.fromhex(sig)
        except ValueError:
            raw = b""
        if len(raw) != 65:
            raise RelayError(422, "signature must be 0x followed by 130 hex digits")
        requester = self._requester(task_id)
        if requester is None:
            raise RelayError(404, f"task {task_id} does not exist")
        message = enrollment_message(
            self.chain.chain_id, self.chain.deployment.registry, task_id, annotators
        )
        try:
            signer = enrollment_signer(message, raw)
        except Exception:
            raise RelayError(422, "the signature does not recover to any address") from None
        if signer != requester:
            raise RelayError(
                403,
                f"the enrollment is signed by {signer}, not task {task_id}'s requester {requester}",
            )
        ordered = sorted({to_checksum_address(a) for a in annotators})
        with self.store.write() as tx:
            tx.set_enrollment(task_id, [str(a) for a in ordered], "0x" + raw.hex())
        return {"task_id": task_id, "annotators": len(ordered), "requester": requester}

    # -- status

    def status(self, digest: str) -> dict[str, Any]:
        with self.store.read() as tx:
            entry = tx.entry(digest.lower())
        if entry is None:
            raise RelayError(404, f"no attestation {digest} at this relayer")
        return self.describe(entry)

    def describe(self, e: EntryRow) -> dict[str, Any]:
        status = {"queued": "queued", "batched": "queued", "sent": "submitted"}.get(
            e.state, e.state
        )
        out: dict[str, Any] = {
            "hash": e.hash,
            "status": status,
            "task_id": e.task_id,
            "annotator": e.annotator,
            "root": e.root,
            "item_count": e.item_count,
            "version": e.version,
            "tx_hash": e.tx_hash,
            "block": e.block,
            "error": e.error,
            "reason": e.reason,
            "attempts": e.attempts,
        }
        if self.stale:
            # Never report another chain's inclusion as this chain's.
            out["status"] = "stale"
            out["stale_status"] = status
            out["error"] = self.stale
        return out

    def queued(self) -> int:
        with self.store.read() as tx:
            counts = tx.counts()
        return counts["queued"] + counts["batched"] + counts["sent"]

    def _refresh_counts(self) -> None:
        with self.store.read() as tx:
            self.health.counts = tx.counts()

    def _load_charges(self) -> None:
        with self.store.read() as tx:
            charges = tx.task_charges()
        self._charged = {t: pending * GAS_PER_ENTRY + spent for t, pending, spent in charges}

    # -- the batcher

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.health.worker_alive_at = time.monotonic()
            try:
                self.tick()
            except Exception:  # one bad round must not stop the relayer; retried next time
                log.exception("relaying failed")
            self.wake.wait(0.1)
            self.wake.clear()

    def tick(self) -> None:
        """One step: advance the batch in flight, or start one, and check for reorgs."""
        if self.stale:
            return
        now = time.time()
        if now - self._last_reorg_check >= 2 * self.config.poll_interval:
            self._last_reorg_check = now
            self._guarded("checking mined batches", self.check_reorgs)
        with self.store.read() as tx:
            batch = tx.open_batch()
        if batch is None:
            if not self.due():
                return
            batch = self._new_batch()
            if batch is None:
                return
        if batch.next_try_at > time.time():
            return
        self._guarded(f"batch {batch.id}", lambda: self._advance(batch))

    def _guarded(self, what: str, step: Callable[[], None]) -> None:
        try:
            step()
        except _Backoff:
            pass
        except Exception as exc:
            kind = rpc.classify(exc)
            if kind != "transient":
                raise
            self.health.rpc_error = f"{what}: {rpc_reason(exc)}"
            log.warning("%s: node unreachable (%s); will retry", what, rpc_reason(exc))

    def due(self) -> bool:
        with self.store.read() as tx:
            queued, oldest = tx.queue_head()
        if queued == 0 or oldest is None:
            return False
        return queued >= self.config.batch_size or time.time() - oldest >= self.config.max_wait

    def flush(self) -> BatchRow | None:
        """Send what is queued now, without waiting for a full batch (tests, shutdown), and
        settle it if it is mined within the wait; returns the batch."""
        with self.store.read() as tx:
            batch = tx.open_batch()
        if batch is None:
            batch = self._new_batch()
        if batch is None:
            return None
        for _ in range(3):
            try:
                self._advance(batch)
            except _Backoff:
                break
            with self.store.read() as tx:
                batch = tx.batch(batch.id)  # type: ignore[assignment]
            assert batch is not None
            if batch.state not in ("building", "signed", "sent"):
                break
        self._refresh_counts()
        return batch

    def _new_batch(self) -> BatchRow | None:
        with self.store.write() as tx:
            entries = tx.queued(self.config.batch_size)
            if not entries:
                return None
            batch_id = tx.new_batch([e.hash for e in entries], time.time())
            batch = tx.batch(batch_id)
        crash_point("after_batch")
        return batch

    def _advance(self, batch: BatchRow) -> None:
        with self.nonce_lock:
            self._advance_unlocked(batch)

    def _advance_unlocked(self, batch: BatchRow) -> None:
        try:
            if batch.state == "building":
                batch = self._sign(batch)
                if batch.state != "signed":
                    return
            if batch.state == "signed":
                batch = self._broadcast(batch)
            if batch.state == "sent":
                self._check(batch, wait=1.0)
        except _Backoff:
            raise
        except Exception as exc:
            if rpc.classify(exc) != "transient":
                raise
            failures = batch.failures + 1
            delay = rpc.backoff(failures)
            with self.store.write() as tx:
                tx.set_batch(
                    batch.id,
                    failures=failures,
                    next_try_at=time.time() + delay,
                    note=f"node unreachable: {rpc_reason(exc)}",
                )
            self.health.rpc_error = f"batch {batch.id}: {rpc_reason(exc)}"
            self.health.batch_note = f"batch {batch.id}: retry in {delay:.1f} s"
            log.warning("batch %d: %s; retry in %.1f s", batch.id, rpc_reason(exc), delay)
            raise _Backoff from None

    def _ordered(self, batch_id: int) -> list[EntryRow]:
        with self.store.read() as tx:
            entries = tx.batch_entries(batch_id)
        # Versions in order: two entries of one annotator can both land (v1, then v2).
        return sorted(entries, key=lambda e: (e.task_id, e.annotator, e.version, e.seq))

    def _fees(self) -> tuple[int, int]:
        """(maxFeePerGas, maxPriorityFeePerGas) for a new transaction."""
        block = self.w3.eth.get_block("latest")
        base = int(block.get("baseFeePerGas", 0) or 0)
        try:
            suggested = int(self.w3.eth.max_priority_fee)
        except Exception as exc:
            if rpc.classify(exc) == "transient":
                raise
            suggested = 0
        priority = max(self.config.min_priority_fee, suggested)
        max_fee = 2 * base + priority
        cap = self.config.max_fee_cap
        if cap is not None and max_fee > cap:
            max_fee = cap
            priority = min(priority, cap)
        return max_fee, priority

    def _sign(self, batch: BatchRow) -> BatchRow:
        entries = self._ordered(batch.id)
        if not entries:
            with self.store.write() as tx:
                tx.set_batch(batch.id, state="abandoned", note="no entries")
            return batch
        data = attest_by_sig_calldata(entries)
        call = {"from": self.address, "to": self.chain.deployment.registry, "data": data}
        try:
            estimate = int(self.w3.eth.estimate_gas(call))  # type: ignore[arg-type]
        except Exception as exc:
            if rpc.classify(exc) == "transient":
                raise
            # The whole call would revert (not one entry: the registry skips bad entries).
            reason = rpc_reason(exc)
            with self.store.write() as tx:
                for e in entries:
                    tx.set_entry(
                        e.hash,
                        time.time(),
                        state="failed",
                        error=f"attestBySig would revert: {reason}",
                        reason="Reverted",
                        gas=0,
                    )
                tx.set_batch(batch.id, state="abandoned", note=f"would revert: {reason}")
            log.warning("batch %d would revert: %s", batch.id, reason)
            return BatchRow(**{**batch.__dict__, "state": "abandoned"})
        nonce = int(self.w3.eth.get_transaction_count(self.address, "pending"))
        max_fee, priority = self._fees()
        tx_fields: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain.chain_id,
            "nonce": nonce,
            "to": to_checksum_address(self.chain.deployment.registry),
            "data": data,
            "value": 0,
            "gas": int(estimate * 1.2) + 10_000,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": priority,
        }
        signed = self.account.sign_transaction(tx_fields)
        tx_hash = HexBytes(signed.hash).to_0x_hex()
        raw = HexBytes(signed.raw_transaction).to_0x_hex()
        now = time.time()
        with self.store.write() as tx:
            tx.add_signed(batch.id, tx_hash, raw, max_fee, priority, now)
            tx.set_batch(
                batch.id,
                state="signed",
                nonce=nonce,
                gas_limit=tx_fields["gas"],
                max_fee=max_fee,
                priority_fee=priority,
                tx_hash=tx_hash,
                raw_tx=raw,
            )
            signed_batch = tx.batch(batch.id)
        assert signed_batch is not None
        log.info(
            "batch %d: %d attestations signed as %s (nonce %d, max fee %d, tip %d)",
            batch.id,
            len(entries),
            tx_hash,
            nonce,
            max_fee,
            priority,
        )
        crash_point("after_sign")
        return signed_batch

    def _broadcast(self, batch: BatchRow) -> BatchRow:
        assert batch.raw_tx is not None
        try:
            self.w3.eth.send_raw_transaction(HexBytes(batch.raw_tx))
        except Exception as exc:
            kind = rpc.classify(exc)
            text = str(exc).lower()
            if kind == "transient":
                raise
            if "already known" in text or "known transaction" in text:
                pass  # the node has it: a rebroadcast after a restart
            elif "nonce too low" in text or "underpriced" in text:
                pass  # the nonce is taken (by this batch, maybe): _check decides
            else:
                failures = batch.failures + 1
                delay = rpc.backoff(failures, cap=60)
                note = f"the node refused the batch: {rpc_reason(exc)}"
                if "insufficient funds" in text:
                    note = f"the relayer {self.address} has too little ETH for gas: fund it"
                with self.store.write() as tx:
                    tx.set_batch(
                        batch.id, failures=failures, next_try_at=time.time() + delay, note=note
                    )
                self.health.batch_note = f"batch {batch.id}: {note}"
                log.warning("batch %d: %s", batch.id, note)
                raise _Backoff from None
        now = time.time()
        with self.store.write() as tx:
            tx.set_batch(
                batch.id,
                state="sent",
                sent_at=now,
                broadcasts=batch.broadcasts + 1,
                failures=0,
                next_try_at=0,
            )
            for e in tx.batch_entries(batch.id):
                tx.set_entry(e.hash, now, state="sent", tx_hash=batch.tx_hash)
            sent = tx.batch(batch.id)
        assert sent is not None
        self.health.rpc_error = None
        crash_point("after_broadcast")
        return sent

    def _receipt(self, batch_id: int) -> Receipt | None:
        """The receipt of whichever signed version of the batch was mined (the newest first),
        all asked in one JSON-RPC batch."""
        with self.store.read() as tx:
            hashes = tx.signed_txs(batch_id)
        if not hashes:
            return None
        answers = self.raw.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        for answer in reversed(answers):
            if answer is not None:
                return Receipt.from_json(answer)
        return None

    def _check(self, batch: BatchRow, wait: float = 0.0) -> None:
        """A sent batch: mined (settle it), dropped (resend), stuck (bump) or replaced."""
        deadline = time.monotonic() + wait
        while True:
            receipt = self._receipt(batch.id)
            if receipt is not None or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if receipt is not None:
            crash_point("after_mined")
            self._settle(batch, receipt)
            return
        assert batch.nonce is not None and batch.tx_hash is not None
        used = int(self.w3.eth.get_transaction_count(self.address, "latest"))
        if used > batch.nonce:
            receipt = self._receipt(batch.id)  # mined between the two reads?
            if receipt is not None:
                self._settle(batch, receipt)
                return
            now = time.time()
            note = (
                f"nonce {batch.nonce} was used by a transaction this relayer did not sign for "
                f"batch {batch.id}: its entries are queued again"
            )
            with self.store.write() as tx:
                tx.requeue_batch(batch.id, now, None)
                tx.set_batch(batch.id, state="abandoned", note=note)
            log.warning("%s", note)
            return
        try:
            self.w3.eth.get_transaction(batch.tx_hash)  # type: ignore[arg-type]
            known = True
        except TransactionNotFound:
            known = False
        if not known:
            log.warning(
                "batch %d: transaction %s left the mempool; broadcasting it again",
                batch.id,
                batch.tx_hash,
            )
            self._broadcast(BatchRow(**{**batch.__dict__, "state": "signed"}))
            return
        if batch.sent_at is not None and time.time() - batch.sent_at >= self.config.stuck_after:
            self._bump(batch)

    def _bump(self, batch: BatchRow) -> None:
        """Sign the batch again with the same nonce and fees raised by 12.5 % or more."""
        assert batch.max_fee is not None and batch.priority_fee is not None
        assert batch.nonce is not None and batch.gas_limit is not None
        current_max, current_tip = self._fees()
        priority = max(rpc.bumped(batch.priority_fee), current_tip)
        max_fee = max(rpc.bumped(batch.max_fee), current_max, priority)
        cap = self.config.max_fee_cap
        if cap is not None and max_fee > cap:
            note = (
                f"batch {batch.id} pending since its last fee raise; the next fee ({max_fee} "
                f"wei/gas) would pass --max-fee-cap ({cap}): waiting"
            )
            with self.store.write() as tx:
                tx.set_batch(batch.id, sent_at=time.time(), note=note)
            self.health.batch_note = note
            log.warning("%s", note)
            return
        entries = self._ordered(batch.id)
        signed = self.account.sign_transaction(
            {
                "type": 2,
                "chainId": self.chain.chain_id,
                "nonce": batch.nonce,
                "to": to_checksum_address(self.chain.deployment.registry),
                "data": attest_by_sig_calldata(entries),
                "value": 0,
                "gas": batch.gas_limit,
                "maxFeePerGas": max_fee,
                "maxPriorityFeePerGas": priority,
            }
        )
        tx_hash = HexBytes(signed.hash).to_0x_hex()
        raw = HexBytes(signed.raw_transaction).to_0x_hex()
        with self.store.write() as tx:
            tx.add_signed(batch.id, tx_hash, raw, max_fee, priority, time.time())
            tx.set_batch(
                batch.id,
                state="signed",
                max_fee=max_fee,
                priority_fee=priority,
                tx_hash=tx_hash,
                raw_tx=raw,
                bumps=batch.bumps + 1,
            )
            bumped = tx.batch(batch.id)
        assert bumped is not None
        log.warning(
            "batch %d stuck for %.0f s: fees raised to %d / %d wei per gas (%s)",
            batch.id,
            self.config.stuck_after,
            max_fee,
            priority,
            tx_hash,
        )
        self._broadcast(bumped)

    def _settle(self, batch: BatchRow, receipt: Receipt) -> None:
        """Each entry's fate from the receipt: Attested (confirmed) or AttestationSkipped at
        its index (failed, with the error a direct attest would have raised)."""
        entries = self._ordered(batch.id)
        tx_hash, block, block_hash = receipt.tx_hash, receipt.block, receipt.block_hash
        gas_used = receipt.gas_used
        share = gas_used // max(1, len(entries))
        now = time.time()
        if receipt.status != 1:
            # The whole transaction failed (out of gas?): no entry was judged.
            with self.store.write() as tx:
                for e in entries:
                    if e.attempts >= MAX_ATTEMPTS:
                        tx.set_entry(
                            e.hash,
                            now,
                            state="failed",
                            error=f"batch transaction {tx_hash} reverted {e.attempts} times",
                            reason="Reverted",
                            gas=share,
                        )
                    else:
                        tx.set_entry(e.hash, now, state="queued", batch_id=None, tx_hash=None)
                tx.set_batch(
                    batch.id, state="mined", gas_used=gas_used, block=block, block_hash=block_hash
                )
                tx.set_batch(batch.id, note=f"reverted in {tx_hash}")
            log.warning("batch %d reverted in %s", batch.id, tx_hash)
            return
        skipped, recorded = batch_outcomes(receipt, self.chain.deployment.registry)
        outcomes: list[tuple[EntryRow, str, str | None, str | None]] = []
        for index, e in enumerate(entries):
            if (e.task_id, e.annotator, e.version, e.root) in recorded and index not in skipped:
                outcomes.append((e, "confirmed", None, None))
            elif index in skipped:
                reason = error_name(skipped[index])
                if reason == "StaleVersion" and self._on_chain(e):
                    # This very attestation is already recorded (an earlier inclusion of the
                    # batch that a reorg dropped, or the annotator's own resend).
                    outcomes.append((e, "confirmed", None, None))
                    continue
                error = f"skipped on chain: {self._explain(e, reason)} (transaction {tx_hash})"
                outcomes.append((e, "failed", reason, error))
            else:  # cannot happen with the registry's events; never report it as confirmed
                error = f"neither recorded nor skipped in transaction {tx_hash}"
                outcomes.append((e, "failed", "NotRecorded", error))
        with self.store.write() as tx:
            for e, state, why, message in outcomes:
                tx.set_entry(
                    e.hash,
                    now,
                    state=state,
                    reason=why,
                    error=message,
                    tx_hash=tx_hash,
                    block=block,
                    block_hash=block_hash,
                    gas=share,
                )
            tx.set_batch(
                batch.id,
                state="mined",
                gas_used=gas_used,
                block=block,
                block_hash=block_hash,
                tx_hash=tx_hash,
                note=None,
            )
        with self.lock:
            for e, _, _, _ in outcomes:
                self._charged[e.task_id] = self._charged.get(e.task_id, 0) - GAS_PER_ENTRY + share
        self.health.batch_note = None
        confirmed = sum(1 for o in outcomes if o[1] == "confirmed")
        log.info(
            "batch %d of %d attestations in %s (block %d, %d gas): %d recorded, %d skipped",
            batch.id,
            len(entries),
            tx_hash,
            block,
            gas_used,
            confirmed,
            len(entries) - confirmed,
        )

    def _on_chain(self, e: EntryRow) -> bool:
        registry = self.chain.registry
        root = bytes.fromhex(e.root[2:])
        if not registry.functions.isAttested(e.task_id, e.annotator, root, e.item_count).call():
            return False
        return int(registry.functions.attestation(e.task_id, e.annotator).call()[1]) == e.version

    def _explain(self, e: EntryRow, reason: str) -> str:
        """A readable reason for a skipped entry, with what the chain holds now."""
        registry = self.chain.registry
        try:
            if reason == "StaleVersion":
                current = int(registry.functions.attestation(e.task_id, e.annotator).call()[1])
                return (
                    f"StaleVersion: version {e.version} is not above the registry's version "
                    f"{current} for {e.annotator} on task {e.task_id} (a newer attestation "
                    f"landed first); sign version {current + 1}"
                )
            if reason == "AnnotationWindowClosed":
                deadline, _ = registry.functions.window(e.task_id).call()
                return (
                    f"AnnotationWindowClosed: task {e.task_id}'s annotation window closed at "
                    f"{int(deadline)}"
                )
        except Exception:  # the explanation is a courtesy; the reason stands without it
            pass
        details = {
            "InvalidSignature": "the signature does not recover to the annotator",
            "TaskNotOpen": f"task {e.task_id} is not open for attestations",
            "EmptyRoot": "the root is zero",
            "ZeroItems": "the item count is zero",
        }
        return f"{reason}: {details[reason]}" if reason in details else reason

    # -- reorgs

    def check_reorgs(self) -> None:
        """Queue again the entries of a mined batch whose block left the chain."""
        head = self.health.head
        if head is None:
            head = int(self.w3.eth.block_number)
        with self.store.read() as tx:
            recent = tx.recent_mined(max(0, head - self.config.reorg_depth))
        for batch in recent:
            assert batch.block is not None
            try:
                current = HexBytes(self.w3.eth.get_block(batch.block)["hash"]).to_0x_hex()
            except BlockNotFound:
                current = None
            if current == batch.block_hash:
                continue
            receipt = self._receipt(batch.id)
            now = time.time()
            if receipt is not None and receipt.status == 1:
                # Included again in another block: same outcome, new place.
                new_hash, new_block = receipt.block_hash, receipt.block
                with self.store.write() as tx:
                    tx.set_batch(batch.id, block=new_block, block_hash=new_hash)
                    for e in tx.batch_entries(batch.id):
                        tx.set_entry(e.hash, now, block=new_block, block_hash=new_hash)
                log.warning("batch %d moved to block %d by a reorg", batch.id, new_block)
                continue
            note = (
                f"block {batch.block} ({batch.block_hash}) with batch {batch.id} left the chain "
                "in a reorg: its attestations are queued again"
            )
            with self.store.write() as tx:
                tx.requeue_batch(batch.id, now, note)
                tx.set_batch(batch.id, state="reorged", note=note)
            log.warning("%s", note)

    # -- the watcher: chain identity, head, balance, for /health

    def watch(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.poll()
            stop.wait(self.config.poll_interval)

    def poll(self) -> None:
        try:
            block = self.w3.eth.get_block("latest")
            if not self.stale:
                live = live_identity(self.chain)
                if live != self.identity:
                    known = self.identity
                    self.health.stale = self._mismatch(
                        (str(known.chain_id), known.genesis, known.registry), live
                    )
                    log.error("%s", self.health.stale)
            self.health.balance = int(self.w3.eth.get_balance(self.address))
            self.health.head = int(block["number"])
            self.health.head_time = int(block["timestamp"])
            self.health.last_ok = time.monotonic()
            self.health.rpc_error = None
        except Exception as exc:
            self.health.rpc_error = rpc_reason(exc)
        with contextlib.suppress(Exception):  # a busy database: the counts are a courtesy
            self._refresh_counts()

    def health_report(self) -> dict[str, Any]:
        """ok / degraded / down with reasons, from cached state only."""
        h = self.health
        reasons: list[str] = []
        down = False
        now = time.monotonic()
        if h.stale:
            reasons.append(h.stale)
            down = True
        if h.last_ok is None or now - h.last_ok > self.config.down_after:
            since = "never" if h.last_ok is None else f"for {now - h.last_ok:.0f} s"
            reasons.append(f"no answer from the node {since}: {h.rpc_error or 'no reply yet'}")
            down = True
        elif h.rpc_error:
            reasons.append(f"node errors: {h.rpc_error}")
        if now - h.worker_alive_at > 30:
            reasons.append("the batcher has not run for 30 s")
            down = True
        if h.balance is not None and h.balance < 10**15:
            reasons.append(f"the relayer {self.address} has {h.balance} wei left for gas")
        if h.batch_note:
            reasons.append(h.batch_note)
        status = "down" if down else "degraded" if reasons else "ok"
        counts = h.counts
        report: dict[str, Any] = {"error": "; ".join(reasons)} if down else {}
        return report | {
            "status": status,
            "reasons": reasons,
            "chain_id": self.chain.chain_id,
            "genesis": self.identity.genesis,
            "registry": self.chain.deployment.registry,
            "escrow": self.chain.deployment.escrow,
            "relayer": self.address,
            "head": h.head,
            "balance": h.balance,
            "queued": counts.get("queued", 0) + counts.get("batched", 0),
            "submitted": counts.get("sent", 0),
            "confirmed": counts.get("confirmed", 0),
            "failed": counts.get("failed", 0),
            "batch_size": self.config.batch_size,
            "max_wait": self.config.max_wait,
            "enrollment": self.config.enrollment,
            "task_gas_budget": self.config.task_gas_budget,
        }

    def close(self) -> None:
        self.store.close()


def _add_entry(tx: Tx, c: Checked) -> tuple[bool, EntryRow]:
    """Intake's write (a group-commit job): (True, the new row), or (False, the row already
    stored under this digest)."""
    row = tx.add_entry(
        c.digest, c.task_id, c.annotator, c.root, c.item_count, c.version, c.signature, time.time()
    )
    if row is not None:
        return True, row
    known = tx.entry(c.digest)
    assert known is not None
    return False, known


class _Backoff(Exception):
    """The batch waits (its next_try_at is set); nothing else to do this tick."""


def _is_address(text: str) -> bool:
    from eth_utils import is_address

    return bool(is_address(text))


def rpc_reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."


__all__ = [
    "CRASH_ENV",
    "CRASH_POINTS",
    "AttestationIn",
    "Relay",
    "RelayConfig",
    "RelayError",
    "StoreError",
]
