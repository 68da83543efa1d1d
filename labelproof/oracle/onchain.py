"""The oracle's view of the three contracts: typed reads, nothing that sends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.types import BlockIdentifier

from labelproof.chain import ChainError, contract_at
from labelproof.deploy import Deployment
from labelproof.oracle.store import TaskRow

STATUS_NONE, STATUS_FUNDED, STATUS_CANCELLED, STATUS_FINAL, STATUS_EXPIRED = range(5)


def hex32(value: bytes) -> str:
    return "0x" + bytes(value).hex()


@dataclass(frozen=True)
class Pending:
    """OracleCommittee.pending(taskId): the round's leading proposal."""

    root: str
    total: int
    challenge_ends: int
    round: int
    voters: int
    votes: int
    report_hash: str

    @property
    def is_pending(self) -> bool:
        return self.challenge_ends != 0


class OracleChain:
    """Reads from the escrow, registry and committee of one deployment."""

    def __init__(self, w3: Web3, escrow: str, deployment: Deployment | None = None) -> None:
        self.w3 = w3
        self.chain_id = int(w3.eth.chain_id)
        self.escrow: Contract = contract_at(w3, "TaskEscrow", escrow)
        # The escrow names its registry and committee (immutables), so one address is enough
        # and a deployment file that disagrees with the chain is caught here.
        registry = to_checksum_address(self.escrow.functions.registry().call())
        committee = to_checksum_address(self.escrow.functions.committee().call())
        if deployment is not None:
            if deployment.chain_id != self.chain_id:
                raise ChainError(
                    f"deployment is for chain {deployment.chain_id}, the RPC serves "
                    f"chain {self.chain_id}"
                )
            if (deployment.registry, deployment.committee) != (registry, committee):
                raise ChainError(
                    "the deployment file's registry/committee differ from what the escrow "
                    f"names on chain ({registry}, {committee})"
                )
        self.registry: Contract = contract_at(w3, "AttestationRegistry", registry)
        self.committee: Contract = contract_at(w3, "OracleCommittee", committee)

    def head(self) -> tuple[int, int]:
        """(number, timestamp) of the latest block: the chain's clock."""
        block = self.w3.eth.get_block("latest")
        return int(block["number"]), int(block["timestamp"])

    def task(self, task_id: int, block: BlockIdentifier = "latest") -> TaskRow | None:
        """The task's immutable parameters from the escrow's storage; None if it does not exist."""
        if task_id <= 0 or task_id >= 2**256:
            return None
        t = self.escrow.functions.task(task_id).call(block_identifier=block)
        # Task struct order: payoutRoot, claimed, payoutTotal, token, claimDeadline, status,
        # budget, revealDeadline, challengePeriod, oracleTimeout, requester, annotationDeadline,
        # claimPeriod, refunded, specHash, goldCommitment, reportHash
        if int(t[5]) == STATUS_NONE:
            return None
        return TaskRow(
            task_id=task_id,
            requester=to_checksum_address(t[10]),
            token=to_checksum_address(t[3]),
            budget=int(t[6]),
            spec_hash=hex32(t[14]),
            gold_commitment=hex32(t[15]),
            annotation_deadline=int(t[11]),
            reveal_deadline=int(t[7]),
            challenge_period=int(t[8]),
            claim_period=int(t[12]),
            oracle_timeout=int(t[9]),
            block=None,
        )

    def status(self, task_id: int) -> int:
        return int(self.escrow.functions.payoutWindow(task_id).call()[0])

    def attestation_version(self, task_id: int, annotator: str, block: BlockIdentifier) -> int:
        _, version = self.registry.functions.attestation(task_id, annotator).call(
            block_identifier=block
        )
        return int(version)

    def is_attested(
        self, task_id: int, annotator: str, root: bytes, count: int, block: BlockIdentifier
    ) -> bool:
        if not 0 < count < 2**32:
            return False
        return bool(
            self.registry.functions.isAttested(task_id, annotator, root, count).call(
                block_identifier=block
            )
        )

    def pending(self, task_id: int) -> Pending:
        p: Any = self.committee.functions.pending(task_id).call()
        return Pending(
            root=hex32(p[0]),
            total=int(p[1]),
            challenge_ends=int(p[2]),
            round=int(p[3]),
            voters=int(p[4]),
            votes=int(p[5]),
            report_hash=hex32(p[6]),
        )

    def has_voted(self, task_id: int, oracle: str) -> bool:
        return bool(self.committee.functions.hasVoted(task_id, oracle).call())

    def is_oracle(self, oracle: str) -> bool:
        role = self.committee.functions.ORACLE_ROLE().call()
        return bool(self.committee.functions.hasRole(role, oracle).call())
