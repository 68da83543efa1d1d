"""The settlement contracts as Python sees them: field orders, enums and flags.

One place for what ``ITaskEscrow.Task`` and ``IOracleCommittee.Proposal`` look like when web3.py
returns them as tuples, so the oracle, the clients, the watcher and the audit never index a
tuple by a bare number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_utils import keccak, to_checksum_address

ZERO_ADDRESS = "0x" + "00" * 20
ZERO32 = "0x" + "00" * 32

# ITaskEscrow.Task, in declaration order.
TASK_FIELDS = (
    "payoutRoot",
    "claimed",
    "payoutTotal",
    "token",
    "claimBase",
    "status",
    "rulesId",
    "budget",
    "revealDeadline",
    "challengePeriod",
    "oracleTimeout",
    "requester",
    "annotationDeadline",
    "claimPeriod",
    "refunded",
    "specHash",
    "goldCommitment",
    "reportHash",
)

# IOracleCommittee.Proposal, in declaration order.
PROPOSAL_FIELDS = (
    "root",
    "total",
    "challengeEnds",
    "round",
    "voters",
    "flags",
    "reportHash",
    "proposer",
    "bond",
    "disputer",
    "disputeBond",
    "disputeId",
)

# IOracleCommittee.Rules, in declaration order.
RULES_FIELDS = (
    "oracles",
    "threshold",
    "guardian",
    "arbitrator",
    "bondToken",
    "proposerBond",
    "disputeBond",
    "burnBps",
    "minChallengePeriod",
    "minClaimPeriod",
    "minProposalWindow",
    "committeeGrace",
)


class Status(IntEnum):
    """ITaskEscrow.Status."""

    NONE = 0
    FUNDED = 1
    CANCELLED = 2
    FINAL = 3
    EXPIRED = 4


class RefundKind(IntEnum):
    """ITaskEscrow.RefundKind."""

    CANCELLED = 0
    UNALLOCATED = 1
    UNCLAIMED = 2
    ORACLE_TIMEOUT = 3
    RULING = 4


class Verdict(IntEnum):
    """IOracleCommittee.Verdict: the rulings an arbitrator can give (0 = refused)."""

    REFUSED = 0
    PAYOUT_STANDS = 1
    PAYOUT_WRONG = 2
    REFUND_REQUESTER = 3


FLAG_EVER_PENDING = 1
FLAG_VETO_USED = 2
FLAG_DISPUTED = 4


def _hex32(value: Any) -> str:
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") else "0x" + value.lower()
    return "0x" + bytes(value).hex()


def _named(fields: tuple[str, ...], raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return dict(raw)
    values = list(raw)
    if len(values) != len(fields):
        raise ValueError(f"expected {len(fields)} fields, got {len(values)}")
    return dict(zip(fields, values, strict=True))


def task_dict(raw: Any) -> dict[str, Any]:
    """``TaskEscrow.task(id)`` as a dict keyed by the struct's field names."""
    return _named(TASK_FIELDS, raw)


def rules_dict(raw: Any) -> dict[str, Any]:
    """``OracleCommittee.rules(id)`` as a dict keyed by the struct's field names."""
    return _named(RULES_FIELDS, raw)


@dataclass(frozen=True)
class Proposal:
    """``OracleCommittee.pending(taskId)``: the task's settlement state in its current round.

    The pending payout's inputsHash is not among them (the committee does not store it, to save
    a storage word per proposal): :func:`round_inputs_hash` reads it from the round's
    ProposalPending event."""

    root: str
    total: int
    challenge_ends: int
    round: int
    voters: int
    flags: int
    report_hash: str
    proposer: str
    bond: int
    disputer: str
    dispute_bond: int
    dispute_id: int

    @classmethod
    def from_raw(cls, raw: Any) -> Proposal:
        d = _named(PROPOSAL_FIELDS, raw)
        return cls(
            root=_hex32(d["root"]),
            total=int(d["total"]),
            challenge_ends=int(d["challengeEnds"]),
            round=int(d["round"]),
            voters=int(d["voters"]),
            flags=int(d["flags"]),
            report_hash=_hex32(d["reportHash"]),
            proposer=to_checksum_address(d["proposer"]),
            bond=int(d["bond"]),
            disputer=to_checksum_address(d["disputer"]),
            dispute_bond=int(d["disputeBond"]),
            dispute_id=int(d["disputeId"]),
        )

    @property
    def disputed(self) -> bool:
        return bool(self.flags & FLAG_DISPUTED)

    @property
    def is_pending(self) -> bool:
        """An undisputed proposal waits out (or has waited out) its challenge window."""
        return self.challenge_ends != 0 and not self.disputed

    @property
    def ever_pending(self) -> bool:
        return bool(self.flags & FLAG_EVER_PENDING)

    @property
    def veto_used(self) -> bool:
        return bool(self.flags & FLAG_VETO_USED)

    @property
    def bonded(self) -> bool:
        """Proposed by anyone with a bond rather than by the committee."""
        return self.proposer != ZERO_ADDRESS


def round_inputs_hash(committee_events: Iterable[Any], round_: int) -> str | None:
    """The inputsHash of the proposal that became pending in `round_`, from the task's decoded
    committee events (its ProposalPending; a round has at most one); None if none names it."""
    found = None
    for e in committee_events:
        if e["event"] == "ProposalPending" and int(e["args"]["round"]) == round_:
            found = _hex32(e["args"]["inputsHash"])
    return found


def inputs_hash(bundle: bytes) -> str:
    """The ``inputsHash`` a proposal carries: keccak256 of the canonical inputs bundle bytes."""
    return "0x" + bytes(keccak(bundle)).hex()
