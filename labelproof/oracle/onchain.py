"""The oracle's view of the three contracts: typed reads, nothing that sends.

Struct layouts come from labelproof.settlement (``task_dict``, ``rules_dict``, ``Proposal``), so
nothing here indexes a tuple by a bare number. Oracle membership is per rule set: an oracle may
vote on a task only if it is one of ``rules(task.rulesId).oracles`` and not revoked there.
"""

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
from labelproof.settlement import Proposal, Status, rules_dict, task_dict

STATUS_NONE = int(Status.NONE)
STATUS_FUNDED = int(Status.FUNDED)
STATUS_CANCELLED = int(Status.CANCELLED)
STATUS_FINAL = int(Status.FINAL)
STATUS_EXPIRED = int(Status.EXPIRED)


def hex32(value: bytes) -> str:
    return "0x" + bytes(value).hex()


@dataclass(frozen=True)
class PayoutWindow:
    """TaskEscrow.payoutWindow(taskId): what the committee checks before a proposal."""

    status: int
    rules_id: int
    budget: int
    reveal_deadline: int
    challenge_period: int
    oracle_timeout: int

    @property
    def oracle_deadline(self) -> int:
        """The last second a *first* proposal may become pending (none after one has been)."""
        return self.reveal_deadline + self.oracle_timeout


@dataclass(frozen=True)
class RuleSet:
    """The parts of a committee rule set the oracle uses."""

    rules_id: int
    oracles: tuple[str, ...]
    threshold: int
    guardian: str
    committee_grace: int


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
        # Rule sets never change once published (only revocations, read separately).
        self._rules: dict[int, RuleSet] = {}

    def head(self) -> tuple[int, int]:
        """(number, timestamp) of the latest block: the chain's clock."""
        block = self.w3.eth.get_block("latest")
        return int(block["number"]), int(block["timestamp"])

    def task(self, task_id: int, block: BlockIdentifier = "latest") -> TaskRow | None:
        """The task as the escrow stores it (deadlines included, as moved by an early close);
        None if it does not exist."""
        if task_id <= 0 or task_id >= 2**256:
            return None
        t = task_dict(self.escrow.functions.task(task_id).call(block_identifier=block))
        if int(t["status"]) == STATUS_NONE:
            return None
        return TaskRow(
            task_id=task_id,
            requester=to_checksum_address(t["requester"]),
            token=to_checksum_address(t["token"]),
            budget=int(t["budget"]),
            spec_hash=hex32(t["specHash"]),
            gold_commitment=hex32(t["goldCommitment"]),
            annotation_deadline=int(t["annotationDeadline"]),
            reveal_deadline=int(t["revealDeadline"]),
            challenge_period=int(t["challengePeriod"]),
            claim_period=int(t["claimPeriod"]),
            oracle_timeout=int(t["oracleTimeout"]),
            block=None,
            rules_id=int(t["rulesId"]),
        )

    def payout_window(self, task_id: int, block: BlockIdentifier = "latest") -> PayoutWindow:
        raw: Any = self.escrow.functions.payoutWindow(task_id).call(block_identifier=block)
        status, rules_id, budget, reveal_deadline, challenge_period, oracle_timeout = raw
        return PayoutWindow(
            status=int(status),
            rules_id=int(rules_id),
            budget=int(budget),
            reveal_deadline=int(reveal_deadline),
            challenge_period=int(challenge_period),
            oracle_timeout=int(oracle_timeout),
        )

    def status(self, task_id: int) -> int:
        return self.payout_window(task_id).status

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

    def pending(self, task_id: int) -> Proposal:
        """The task's settlement state in the committee's current round."""
        return Proposal.from_raw(self.committee.functions.pending(task_id).call())

    def has_voted(self, task_id: int, oracle: str) -> bool:
        return bool(self.committee.functions.hasVoted(task_id, oracle).call())

    # -- rule sets and membership

    def rules(self, rules_id: int) -> RuleSet:
        found = self._rules.get(rules_id)
        if found is None:
            r = rules_dict(self.committee.functions.rules(rules_id).call())
            found = RuleSet(
                rules_id=rules_id,
                oracles=tuple(to_checksum_address(o) for o in r["oracles"]),
                threshold=int(r["threshold"]),
                guardian=to_checksum_address(r["guardian"]),
                committee_grace=int(r["committeeGrace"]),
            )
            self._rules[rules_id] = found
        return found

    def current_rules_id(self) -> int:
        return int(self.committee.functions.rulesCount().call())

    def is_revoked(self, rules_id: int, oracle: str) -> bool:
        return bool(self.committee.functions.isRevoked(rules_id, oracle).call())

    def is_live_oracle(self, rules_id: int, oracle: str) -> bool:
        """Whether `oracle` may vote on tasks of rule set `rules_id` (a member, not revoked)."""
        oracle = to_checksum_address(oracle)
        return oracle in self.rules(rules_id).oracles and not self.is_revoked(rules_id, oracle)

    def live_mask(self, rules_id: int) -> int:
        """Bitmap (bit i = rules.oracles[i]) of the rule set's oracles that are not revoked."""
        mask = 0
        for i, oracle in enumerate(self.rules(rules_id).oracles):
            if not self.is_revoked(rules_id, oracle):
                mask |= 1 << i
        return mask

    def is_oracle(self, oracle: str) -> bool:
        """Whether `oracle` is a live oracle of the current rule set (tasks created now)."""
        return self.is_live_oracle(self.current_rules_id(), oracle)
