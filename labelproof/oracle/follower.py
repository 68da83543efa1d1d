"""Follows the chain's events into the store: tasks, attestations, committee decisions.

Reads TaskCreated / TaskClosedEarly (escrow), Attested (registry) and ProposalPending /
Vetoed / RoundRestarted / Disputed / DisputeResolved / Finalized (committee) with
``eth_getLogs`` over the three addresses per chunk of blocks (labelproof.logs: a provider that
refuses the range gets it halved, transient errors are retried), from the stored cursor (or the
configured start block) up to ``head - confirmations``. A chunk's events and the cursor move
are one transaction, and every insert is keyed by the event's identity (an early close sets
both deadlines to the event's values, never later ones), so a crash mid-chunk re-reads the
chunk and re-reading changes nothing.

TaskClosedEarly moves the task's annotation and reveal deadlines up: the scheduler then seals
and scores at the new reveal deadline. The rule set a task was created under is not in
TaskCreated; it is read from the escrow's storage at the event's block.

Confirmations are the reorg policy: blocks deeper than ``confirmations`` are taken as final.
The oracle's decisions that must be exact (is a reveal attested? has this oracle voted?) are
read from chain state at the time, not from these events, which serve as the task list and the
record of what the committee did.

A reorg deeper than the confirmations is noticed all the same: the follower keeps the hash of
the last blocks its cursor stood on and, before reading on, checks that the chain still has
the cursor's block. If not, it walks back to the newest stored block the chain still has,
forgets the events read after it (reveals, specs and gold are kept), re-reads the deadlines of
the tasks it knows, re-opens this oracle's confirmed votes for a re-check (store.py,
``recheck_proposals``) and reads on from there.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import BlockNotFound
from web3.types import LogReceipt

from labelproof.logs import LogReader
from labelproof.oracle.onchain import OracleChain, hex32
from labelproof.oracle.records import checksum_address
from labelproof.oracle.store import AttestationRow, CommitteeEvent, Store, TaskRow
from labelproof.settlement import Verdict

log = logging.getLogger("labelproof.oracle.follower")

# Block hashes kept to find where a reorg forked off.
HASHES_KEPT = 128

_EVENTS = (
    ("escrow", "TaskCreated"),
    ("escrow", "TaskClosedEarly"),
    ("registry", "Attested"),
    ("committee", "ProposalPending"),
    ("committee", "Vetoed"),
    ("committee", "RoundRestarted"),
    ("committee", "Disputed"),
    ("committee", "DisputeResolved"),
    ("committee", "Finalized"),
)


def _field(value: Any, name: str, index: int) -> Any:
    """A struct field of a decoded event, whether web3 gave a mapping or a tuple."""
    if isinstance(value, dict) or hasattr(value, "keys"):
        return value[name]
    return value[index]


class Follower:
    def __init__(
        self,
        chain: OracleChain,
        store: Store,
        *,
        start_block: int = 0,
        confirmations: int = 0,
        chunk_size: int = 2_000,
    ) -> None:
        if confirmations < 0 or chunk_size < 1 or start_block < 0:
            raise ValueError("confirmations and start_block must be >= 0, chunk_size >= 1")
        self.chain = chain
        self.store = store
        self.start_block = start_block
        self.confirmations = confirmations
        self.chunk_size = chunk_size
        self.reorgs = 0
        self.last_reorg: str | None = None
        # Adaptive: a provider that caps the range gets smaller requests (labelproof.logs);
        # the cursor still moves one configured chunk at a time.
        self.reader = LogReader(chain.w3, chunk_size=chunk_size)
        self._topics: dict[bytes, Any] = {}
        self._addresses: list[str] = []
        self._attested_topic = bytes(HexBytes(chain.registry.events.Attested().topic))
        for contract_name, event_name in _EVENTS:
            contract = getattr(chain, contract_name)
            event = getattr(contract.events, event_name)()
            self._topics[bytes(HexBytes(event.topic))] = (event_name, event)
            if contract.address not in self._addresses:
                self._addresses.append(contract.address)

    def safe_head(self) -> int:
        return self.reader.head() - self.confirmations

    def sync(self, max_chunks: int = 50) -> int | None:
        """Store the events of every confirmed block not yet stored; returns the new cursor.

        Bounded by `max_chunks` per call so a long catch-up still lets the scheduler run.
        """
        self._check_reorg()
        with self.store.read() as tx:
            cursor = tx.cursor()
        next_block = self.start_block if cursor is None else cursor + 1
        target = self.safe_head()
        for _ in range(max_chunks):
            if next_block > target:
                break
            to_block = min(next_block + self.chunk_size - 1, target)
            self._chunk(next_block, to_block)
            cursor = to_block
            next_block = to_block + 1
        return cursor

    def _block_hash(self, number: int) -> str | None:
        """The chain's hash of block `number`, or None if it has no such block (any more)."""
        block = self.chain.w3.eth.get_block(number)
        return None if block is None else "0x" + bytes(block["hash"]).hex()

    def _check_reorg(self) -> None:
        with self.store.read() as tx:
            known = tx.block_hashes(HASHES_KEPT)
        if not known:
            return
        newest, newest_hash = known[0]
        if self._chain_has(newest, newest_hash):
            return
        ancestor = self.start_block - 1
        for number, block_hash in known[1:]:
            if self._chain_has(number, block_hash):
                ancestor = number
                break
        self._rewind(newest, ancestor)

    def _chain_has(self, number: int, block_hash: str) -> bool:
        try:
            return self._block_hash(number) == block_hash
        except BlockNotFound:
            return False

    def _rewind(self, cursor: int, ancestor: int) -> None:
        with self.store.write() as tx:
            task_ids = tx.rewind(ancestor)
        # Deadlines as the chain has them now: a reorg may have undone an early close. Read
        # outside the write lock.
        moved = [(tid, self.chain.task(tid)) for tid in task_ids]
        with self.store.write() as tx:
            for tid, row in moved:
                if row is not None:
                    tx.reset_deadlines(tid, row.annotation_deadline, row.reveal_deadline)
            reopened = tx.recheck_proposals()
        self.reorgs += 1
        self.last_reorg = (
            f"a reorg replaced block {cursor} (deeper than the {self.confirmations} "
            f"confirmations): events after block {ancestor} are read again, reveals kept, "
            f"{reopened} vote(s) of this oracle re-checked"
        )
        log.warning("%s", self.last_reorg)

    def _chunk(self, from_block: int, to_block: int) -> None:
        logs = self.reader.get_logs(self._addresses, from_block, to_block)
        # The hash read after the logs: if the block changed in between, the next sync sees
        # a mismatch and reads the chunk again.
        to_hash = self._block_hash(to_block)
        tasks: list[TaskRow] = []
        closures: list[tuple[int, int, int]] = []
        attestations: list[AttestationRow] = []
        committee: list[CommitteeEvent] = []
        for entry in logs:
            attested = self._attested(entry)
            if attested is not None:
                attestations.append(attested)
                continue
            decoded = self._decode(entry)
            if decoded is None:
                continue
            name, args = decoded
            block, index = int(entry["blockNumber"]), int(entry["logIndex"])
            tid = int(args["taskId"])
            if name == "TaskCreated":
                tasks.append(self._created(tid, args, block))
            elif name == "TaskClosedEarly":
                closures.append((tid, int(args["annotationDeadline"]), int(args["revealDeadline"])))
            elif name == "Attested":
                attestations.append(
                    AttestationRow(
                        task_id=tid,
                        annotator=to_checksum_address(args["annotator"]),
                        version=int(args["version"]),
                        root=hex32(args["root"]),
                        item_count=int(args["itemCount"]),
                        block=block,
                        log_index=index,
                    )
                )
            else:
                committee.append(_committee_event(name, args, tid, block, index))
        # A task closed early whose creation this oracle never saw (a later start block): its
        # storage at the closing block has the moved deadlines. Read before the write lock.
        known = {t.task_id for t in tasks}
        if closures:
            with self.store.read() as tx:
                known |= {t.task_id for t in tx.tasks()}
        for tid, _, _ in closures:
            if tid not in known:
                row = self.chain.task(tid, block=to_block)
                if row is not None:
                    tasks.append(row)
                    known.add(tid)
        with self.store.write() as tx:
            for t in tasks:
                tx.add_task(t)
            for tid, annotation_deadline, reveal_deadline in closures:
                tx.close_early(tid, annotation_deadline, reveal_deadline)
            for a in attestations:
                tx.add_attestation(a)
            for e in committee:
                if e.kind == "resolved":
                    e = replace(e, round=_dispute_round(tx.committee_events(e.task_id), e))
                tx.add_committee_event(e)
            tx.set_cursor(to_block)
            if to_hash is not None:
                tx.add_block_hash(to_block, to_hash, HASHES_KEPT)
        if tasks or closures or attestations or committee:
            log.info(
                "blocks %d-%d: %d tasks, %d closed early, %d attestations, %d committee events",
                from_block,
                to_block,
                len(tasks),
                len(closures),
                len(attestations),
                len(committee),
            )
        for tid, annotation_deadline, reveal_deadline in closures:
            log.info(
                "task %d: closed early by the requester; annotation deadline %d, reveal "
                "deadline %d",
                tid,
                annotation_deadline,
                reveal_deadline,
            )
        for e in committee:
            if e.kind == "vetoed":
                log.warning(
                    "task %d: the guardian vetoed the pending payout; round %s begins",
                    e.task_id,
                    e.round,
                )
            elif e.kind == "resolved":
                log.warning(
                    "task %d: dispute %s ruled %s",
                    e.task_id,
                    e.dispute_id,
                    _VERDICTS.get(e.verdict or 0, e.verdict),
                )

    def _created(self, tid: int, args: Any, block: int) -> TaskRow:
        p = args["params"]
        # TaskCreated does not carry the rule set id; the escrow's storage does.
        stored = self.chain.task(tid, block=block)
        return TaskRow(
            task_id=tid,
            requester=to_checksum_address(args["requester"]),
            token=to_checksum_address(args["token"]),
            budget=int(args["budget"]),
            spec_hash=hex32(_field(p, "specHash", 0)),
            gold_commitment=hex32(_field(p, "goldCommitment", 1)),
            annotation_deadline=int(_field(p, "annotationDeadline", 2)),
            reveal_deadline=int(_field(p, "revealDeadline", 3)),
            challenge_period=int(_field(p, "challengePeriod", 4)),
            claim_period=int(_field(p, "claimPeriod", 5)),
            oracle_timeout=int(_field(p, "oracleTimeout", 6)),
            block=block,
            rules_id=0 if stored is None else stored.rules_id,
        )

    def _attested(self, entry: LogReceipt) -> AttestationRow | None:
        """The registry's Attested event decoded by hand, else None. A large task has tens of
        thousands, and web3's decoder takes about 2 ms each: a minute of catching up for a
        task of 30,000 annotators. Topics: the event, the task id, the annotator; data: the
        root, item count and version words (IAttestationRegistry.Attested)."""
        topics = entry["topics"]
        if len(topics) != 3 or bytes(topics[0]) != self._attested_topic:
            return None
        data = bytes(entry["data"])
        if len(data) != 96 or entry["address"] != self.chain.registry.address:
            return None  # not the registry's event as we know it: web3 decodes (or refuses)
        return AttestationRow(
            task_id=int.from_bytes(bytes(topics[1]), "big"),
            annotator=checksum_address("0x" + bytes(topics[2])[-20:].hex()),
            version=int.from_bytes(data[64:96], "big"),
            root=hex32(data[:32]),
            item_count=int.from_bytes(data[32:64], "big"),
            block=int(entry["blockNumber"]),
            log_index=int(entry["logIndex"]),
        )

    def _decode(self, entry: LogReceipt) -> tuple[str, Any] | None:
        topics = entry["topics"]
        if not topics:
            return None
        found = self._topics.get(bytes(HexBytes(topics[0])))
        if found is None:
            return None  # another event of the same contracts (Claimed, TaskOpened, ...)
        name, event = found
        return name, event.process_log(entry)["args"]


_VERDICTS = {int(v): v.name.lower().replace("_", " ") for v in Verdict}


def _committee_event(name: str, args: Any, tid: int, block: int, index: int) -> CommitteeEvent:
    base = CommitteeEvent(block=block, log_index=index, task_id=tid, kind="")
    if name == "ProposalPending":
        return replace(
            base,
            kind="pending",
            round=int(args["round"]),
            root=hex32(args["root"]),
            total=int(args["total"]),
            report_hash=hex32(args["reportHash"]),
            inputs_hash=hex32(args["inputsHash"]),
            challenge_ends=int(args["challengeEnds"]),
            proposer=to_checksum_address(args["proposer"]),
        )
    if name == "Vetoed":
        return replace(base, kind="vetoed", round=int(args["round"]))
    if name == "RoundRestarted":
        return replace(base, kind="restarted", round=int(args["round"]))
    if name == "Disputed":
        return replace(
            base,
            kind="disputed",
            round=int(args["round"]),
            dispute_id=int(args["disputeId"]),
            proposer=to_checksum_address(args["disputer"]),
        )
    if name == "DisputeResolved":
        # The round is the disputed one, filled in from the stored Disputed event.
        return replace(
            base, kind="resolved", dispute_id=int(args["disputeId"]), verdict=int(args["verdict"])
        )
    return replace(  # Finalized
        base,
        kind="finalized",
        root=hex32(args["root"]),
        total=int(args["total"]),
        report_hash=hex32(args["reportHash"]),
    )


def _dispute_round(stored: list[CommitteeEvent], resolved: CommitteeEvent) -> int | None:
    """The round of the dispute a DisputeResolved event rules on (stored before it)."""
    for e in reversed(stored):
        if e.kind == "disputed" and e.dispute_id == resolved.dispute_id:
            return e.round
    return None
