"""What an audit finds and reports: findings, per-task and per-token summaries, the result.

Amounts are Python ints; ``to_dict`` turns them into decimal strings, since token amounts pass
2**53, which JSON readers in other languages would round.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

CHECK_EVENTS = "events"
CHECK_FUNDS = "funds"
CHECK_SOLVENCY = "solvency"
CHECK_PUBLISHED = "published"
CHECK_REPORT_HASH = "report_hash"
CHECK_REPORT = "report"
CHECK_ROOT = "root"
CHECK_TOTAL = "total"
CHECK_TREE = "tree"
CHECK_CLAIMS = "claims"
CHECK_BUNDLE = "bundle"
CHECK_SPEC = "spec"
CHECK_GOLD = "gold"
CHECK_REVEAL = "reveal"
CHECK_RECOMPUTE = "recompute"
CHECK_DISPUTES = "disputes"
CHECK_BONDS = "bonds"
CHECKS = (
    CHECK_EVENTS,
    CHECK_FUNDS,
    CHECK_SOLVENCY,
    CHECK_PUBLISHED,
    CHECK_REPORT_HASH,
    CHECK_REPORT,
    CHECK_ROOT,
    CHECK_TOTAL,
    CHECK_TREE,
    CHECK_CLAIMS,
    CHECK_BUNDLE,
    CHECK_SPEC,
    CHECK_GOLD,
    CHECK_REVEAL,
    CHECK_RECOMPUTE,
    CHECK_DISPUTES,
    CHECK_BONDS,
)

# ITaskEscrow.Status, RefundKind and IOracleCommittee.Verdict by value (labelproof.settlement)
STATUS_NAMES = ("none", "funded", "cancelled", "final", "expired")
REFUND_KINDS = ("cancelled", "unallocated", "unclaimed", "oracle-timeout", "ruling")
VERDICTS = ("refused", "payout-stands", "payout-wrong", "refund-requester")

# What became of a task's gold set in the published inputs bundle.
GOLD_NONE = "none"
GOLD_REVEALED = "revealed"
GOLD_WITHHELD = "withheld"


class AuditInputError(Exception):
    """Input the audit cannot read (RPC, deployment file, oracle, files); one line."""


def label(names: tuple[str, ...], value: int) -> str:
    return names[value] if 0 <= value < len(names) else str(value)


@dataclass(frozen=True)
class Finding:
    """One mismatch: which task (None for deployment-wide checks), which check, and what."""

    check: str
    message: str
    task: int | None = None

    def line(self) -> str:
        where = "deployment" if self.task is None else f"task {self.task}"
        return f"{where}: {self.check}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "check": self.check, "message": self.message}


@dataclass(frozen=True)
class PostedPayout:
    """The payout on chain: final (escrow state), or pending (possibly disputed) in the
    committee, with the inputsHash and bond of the proposal behind it."""

    kind: str  # "final" | "pending" | "disputed"
    root: str
    total: int
    report_hash: str
    round: int | None
    inputs_hash: str | None = None  # None: no ProposalPending event names it
    proposer: str | None = None  # a bonded proposer; None for the committee
    bond: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "root": self.root,
            "total": str(self.total),
            "report_hash": self.report_hash,
            "inputs_hash": self.inputs_hash,
            "round": self.round,
            "proposer": self.proposer,
            "bond": str(self.bond),
        }


@dataclass(frozen=True)
class PayoutRow:
    """One annotator of a scored task: its quality and labels, what it is owed and claimed."""

    account: str
    labels: int
    quality: float
    payout: int
    claimed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "labels": self.labels,
            "quality": self.quality,
            "payout": str(self.payout),
            "claimed": str(self.claimed),
        }


@dataclass
class ProposalRecord:
    """A proposal that became pending (ProposalPending) and what became of it."""

    round: int
    proposer: str | None  # None: the committee (backed by its stake)
    bond: int
    root: str
    total: int
    report_hash: str
    inputs_hash: str
    challenge_ends: int
    outcome: str = "open"  # open | finalized | vetoed | ruled wrong | refunded by ruling

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "proposer": self.proposer,
            "bonded": self.proposer is not None,
            "bond": str(self.bond),
            "root": self.root,
            "total": str(self.total),
            "report_hash": self.report_hash,
            "inputs_hash": self.inputs_hash,
            "challenge_ends": self.challenge_ends,
            "outcome": self.outcome,
        }


@dataclass
class DisputeRecord:
    round: int
    dispute_id: int
    disputer: str
    bond: int
    verdict: str | None = None  # None while the arbitrator has not ruled

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "dispute_id": self.dispute_id,
            "disputer": self.disputer,
            "bond": str(self.bond),
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class BondFlow:
    """One BondSettled event: a bond back to its owner, to a winner, into the stake, or burned."""

    to: str
    label: str  # the address, "committee stake" or "burned"
    amount: int
    token: str
    cause: str  # "ruling", "finalize", "veto" or "unexplained"

    def to_dict(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "label": self.label,
            "amount": str(self.amount),
            "token": self.token,
            "cause": self.cause,
        }


@dataclass
class SettlementSummary:
    """A task's settlement history from the committee's events."""

    rules_id: int
    rounds: int  # rounds started so far (the current round + 1)
    votes: int  # Proposed events
    bond_token: str | None = None  # the rule set's bond token
    proposals: list[ProposalRecord] = field(default_factory=list)
    disputes: list[DisputeRecord] = field(default_factory=list)
    vetoes: list[dict[str, Any]] = field(default_factory=list)
    restarts: list[int] = field(default_factory=list)
    bonds: list[BondFlow] = field(default_factory=list)

    def describe(self) -> str:
        """One line for tables: rounds, who proposed, disputes and their verdicts."""
        parts = [f"{self.rounds} round(s)"]
        bonded = sum(1 for p in self.proposals if p.proposer is not None)
        if self.proposals:
            parts.append(f"{len(self.proposals)} proposal(s), {bonded} bonded")
        if self.vetoes:
            parts.append(f"{len(self.vetoes)} veto")
        if self.disputes:
            verdicts = ", ".join(d.verdict or "open" for d in self.disputes)
            parts.append(f"{len(self.disputes)} dispute(s): {verdicts}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rules_id": self.rules_id,
            "bond_token": self.bond_token,
            "rounds": self.rounds,
            "votes": self.votes,
            "proposals": [p.to_dict() for p in self.proposals],
            "disputes": [d.to_dict() for d in self.disputes],
            "vetoes": self.vetoes,
            "restarts": self.restarts,
            "bonds": [b.to_dict() for b in self.bonds],
        }


@dataclass
class TaskSummary:
    task_id: int
    token: str
    symbol: str
    decimals: int
    requester: str
    status: str
    funded: int
    claimed: int
    refunded: int
    held: int
    posted: PostedPayout | None = None
    claims: list[tuple[str, int]] = field(default_factory=list)
    refunds: list[tuple[str, int]] = field(default_factory=list)  # (kind, amount)
    rows: list[PayoutRow] = field(default_factory=list)
    rows_source: str | None = None  # "recomputed" or "published report"
    min_quality: float | None = None
    published: str = "not needed"  # "checked" | "missing" | "not checked" | "not needed"
    excluded: list[str] = field(default_factory=list)
    gold: str | None = None  # the bundle's gold status: none | revealed | withheld
    settlement: SettlementSummary | None = None

    @property
    def paid_annotators(self) -> int:
        return len({account for account, _ in self.claims})

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "token": self.token,
            "symbol": self.symbol,
            "decimals": self.decimals,
            "requester": self.requester,
            "status": self.status,
            "funded": str(self.funded),
            "claimed": str(self.claimed),
            "refunded": str(self.refunded),
            "held": str(self.held),
            "posted": None if self.posted is None else self.posted.to_dict(),
            "paid_annotators": self.paid_annotators,
            "claims": [{"account": a, "amount": str(x)} for a, x in self.claims],
            "refunds": [{"kind": k, "amount": str(x)} for k, x in self.refunds],
            "rows": [r.to_dict() for r in self.rows],
            "rows_source": self.rows_source,
            "min_quality": self.min_quality,
            "published": self.published,
            "excluded": self.excluded,
            "gold": self.gold,
            "settlement": None if self.settlement is None else self.settlement.to_dict(),
        }


@dataclass(frozen=True)
class TokenSummary:
    token: str
    symbol: str
    decimals: int
    balance: int  # the escrow's balance of the token
    owed: int  # what all the token's tasks still owe
    tasks: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "symbol": self.symbol,
            "decimals": self.decimals,
            "balance": str(self.balance),
            "owed": str(self.owed),
            "tasks": self.tasks,
        }


@dataclass(frozen=True)
class BondSummary:
    """The committee's holdings of one bond token: its balance must cover its stake plus the
    bonds locked behind pending proposals and open disputes. A deficit is a finding; a surplus
    (tokens sent to the committee without fundStake) is only reported."""

    token: str
    symbol: str
    decimals: int
    balance: int
    stake: int
    locked: int

    @property
    def surplus(self) -> int:
        return self.balance - self.stake - self.locked

    def to_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "symbol": self.symbol,
            "decimals": self.decimals,
            "balance": str(self.balance),
            "stake": str(self.stake),
            "locked": str(self.locked),
            "surplus": str(self.surplus),
        }


@dataclass
class AuditResult:
    chain_id: int
    escrow: str
    block: int  # every chain read is pinned to this block
    from_block: int
    source: str | None  # where the published data came from
    tasks: list[TaskSummary]
    tokens: list[TokenSummary]
    findings: list[Finding]
    bonds: list[BondSummary] = field(default_factory=list)
    committee: str | None = None

    @property
    def ok(self) -> bool:
        return not self.findings

    def findings_for(self, task_id: int | None) -> list[Finding]:
        return [f for f in self.findings if f.task == task_id]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "chain_id": self.chain_id,
            "escrow": self.escrow,
            "committee": self.committee,
            "block": self.block,
            "from_block": self.from_block,
            "source": self.source,
            "checks": list(CHECKS),
            "findings": [f.to_dict() for f in self.findings],
            "tasks": [t.to_dict() for t in self.tasks],
            "tokens": [t.to_dict() for t in self.tokens],
            "bonds": [b.to_dict() for b in self.bonds],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"
