"""Follows the chain's events into the store: tasks, attestations, committee decisions.

Reads TaskCreated (escrow), Attested (registry) and ProposalPending / Vetoed / Finalized
(committee) with one ``eth_getLogs`` over the three addresses per chunk of blocks, from the
stored cursor (or the configured start block) up to ``head - confirmations``. A chunk's events
and the cursor move are one transaction, and every insert is keyed by the event's identity,
so a crash mid-chunk re-reads the chunk and re-reading changes nothing.

Confirmations are the reorg policy: blocks deeper than ``confirmations`` are taken as final.
The oracle's decisions that must be exact (is a reveal attested? has this oracle voted?) are
read from chain state at the time, not from these events, which serve as the task list and the
record of what the committee did.
"""

from __future__ import annotations

import logging
from typing import Any

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.types import FilterParams, LogReceipt

from labelproof.oracle.onchain import OracleChain, hex32
from labelproof.oracle.store import AttestationRow, CommitteeEvent, Store, TaskRow

log = logging.getLogger("labelproof.oracle.follower")

_EVENTS = (
    ("escrow", "TaskCreated"),
    ("registry", "Attested"),
    ("committee", "ProposalPending"),
    ("committee", "Vetoed"),
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
        self._topics: dict[bytes, Any] = {}
        self._addresses: list[str] = []
        for contract_name, event_name in _EVENTS:
            contract = getattr(chain, contract_name)
            event = getattr(contract.events, event_name)()
            self._topics[bytes(HexBytes(event.topic))] = (event_name, event)
            if contract.address not in self._addresses:
                self._addresses.append(contract.address)

    def safe_head(self) -> int:
        return int(self.chain.w3.eth.block_number) - self.confirmations

    def sync(self, max_chunks: int = 50) -> int | None:
        """Store the events of every confirmed block not yet stored; returns the new cursor.

        Bounded by `max_chunks` per call so a long catch-up still lets the scheduler run.
        """
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

    def _chunk(self, from_block: int, to_block: int) -> None:
        params: FilterParams = {
            "fromBlock": from_block,
            "toBlock": to_block,
            "address": self._addresses,  # type: ignore[typeddict-item]
        }
        logs = self.chain.w3.eth.get_logs(params)
        tasks: list[TaskRow] = []
        attestations: list[AttestationRow] = []
        committee: list[CommitteeEvent] = []
        for entry in logs:
            decoded = self._decode(entry)
            if decoded is None:
                continue
            name, args = decoded
            block, index = int(entry["blockNumber"]), int(entry["logIndex"])
            if name == "TaskCreated":
                p = args["params"]
                tasks.append(
                    TaskRow(
                        task_id=int(args["taskId"]),
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
                    )
                )
            elif name == "Attested":
                attestations.append(
                    AttestationRow(
                        task_id=int(args["taskId"]),
                        annotator=to_checksum_address(args["annotator"]),
                        version=int(args["version"]),
                        root=hex32(args["root"]),
                        item_count=int(args["itemCount"]),
                        block=block,
                        log_index=index,
                    )
                )
            elif name == "ProposalPending":
                committee.append(
                    CommitteeEvent(
                        block=block,
                        log_index=index,
                        task_id=int(args["taskId"]),
                        kind="pending",
                        round=int(args["round"]),
                        root=hex32(args["root"]),
                        total=int(args["total"]),
                        report_hash=hex32(args["reportHash"]),
                        challenge_ends=int(args["challengeEnds"]),
                    )
                )
            elif name == "Vetoed":
                committee.append(
                    CommitteeEvent(
                        block=block,
                        log_index=index,
                        task_id=int(args["taskId"]),
                        kind="vetoed",
                        round=int(args["round"]),
                    )
                )
            else:  # Finalized
                committee.append(
                    CommitteeEvent(
                        block=block,
                        log_index=index,
                        task_id=int(args["taskId"]),
                        kind="finalized",
                        root=hex32(args["root"]),
                        total=int(args["total"]),
                        report_hash=hex32(args["reportHash"]),
                    )
                )
        with self.store.write() as tx:
            for t in tasks:
                tx.add_task(t)
            for a in attestations:
                tx.add_attestation(a)
            for e in committee:
                tx.add_committee_event(e)
            tx.set_cursor(to_block)
        if tasks or attestations or committee:
            log.info(
                "blocks %d-%d: %d tasks, %d attestations, %d committee events",
                from_block,
                to_block,
                len(tasks),
                len(attestations),
                len(committee),
            )
        for e in committee:
            if e.kind == "vetoed":
                log.warning(
                    "task %d: the guardian vetoed the pending payout; round %s begins. This "
                    "oracle does not re-propose on its own: an operator approves with "
                    "`python -m labelproof.oracle repropose --task %d`",
                    e.task_id,
                    e.round,
                    e.task_id,
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
