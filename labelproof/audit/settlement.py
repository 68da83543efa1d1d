"""A task's settlement history from the committee's events (proposals and what became of them,
vetoes, restarts, disputes and their verdicts, bond movements), checked against the rules."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from labelproof.audit.events import (
    BURN_ADDRESS,
    ChainEvents,
    StoredTask,
)
from labelproof.audit.model import (
    CHECK_BONDS,
    CHECK_DISPUTES,
    STATUS_NAMES,
    BondFlow,
    DisputeRecord,
    ProposalRecord,
    SettlementSummary,
    label,
)
from labelproof.settlement import Proposal, Status, Verdict

if TYPE_CHECKING:
    from labelproof.audit.checks import Audit


def closing_events(events: ChainEvents, tid: int) -> list[dict[str, Any]]:
    """What can end a pending proposal, in chain order: a finalize, a veto, or a ruling that
    the payout was wrong (with or without a refund)."""
    closes: list[dict[str, Any]] = []
    for e in events.finalized.get(tid, []):
        closes.append(e | {"kind": "finalize"})
    for e in events.vetoed.get(tid, []):
        closes.append(e | {"kind": "veto"})
    for e in events.resolved.get(tid, []):
        if e["verdict"] in (Verdict.PAYOUT_WRONG, Verdict.REFUND_REQUESTER):
            closes.append(e | {"kind": "ruling"})
    return sorted(closes, key=lambda e: e["pos"])


def close_of(prop: dict[str, Any], closes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The event that ended a pending proposal: the first closing event after it."""
    return next((c for c in closes if c["pos"] > prop["pos"]), None)


def finalized_proposal(events: ChainEvents, tid: int) -> dict[str, Any] | None:
    """The ProposalPending event of the proposal the committee finalized."""
    finals = events.finalized.get(tid, [])
    if len(finals) != 1:
        return None
    before = [p for p in events.pending.get(tid, []) if p["pos"] < finals[0]["pos"]]
    return before[-1] if before else None


class Settlement:
    """A task's settlement history from the committee's events, checked: every ruling belongs
    to a dispute of the task and applies once, a refund ruling refunded the requester, and
    each bond movement is the one the rules prescribe for the call that made it."""

    def __init__(self, audit: Audit, tid: int, st: StoredTask, events: ChainEvents) -> None:
        self.audit = audit
        self.tid = tid
        self.st = st
        self.events = events
        self.rules = audit.rules(st.rules_id)

    def find(self, check: str, message: str) -> None:
        self.audit.find(self.tid, check, message)

    def run(self) -> SettlementSummary:
        ev, tid = self.events, self.tid
        current = self.audit.pendings[tid]
        summary = SettlementSummary(
            rules_id=self.st.rules_id,
            bond_token=to_checksum_address(self.rules["bondToken"]),
            rounds=current.round + 1,
            votes=len(ev.proposed.get(tid, [])),
            vetoes=[
                {"round": v["round"] - 1, "guardian": v["guardian"], "reason": v["reason"]}
                for v in ev.vetoed.get(tid, [])
            ],
            restarts=[r["round"] - 1 for r in ev.restarted.get(tid, [])],
        )
        closes = closing_events(ev, tid)
        for prop in ev.pending.get(tid, []):
            close = close_of(prop, closes)
            outcome = "open"
            if close is not None:
                outcome = {
                    "finalize": "finalized",
                    "veto": "vetoed",
                }.get(close["kind"]) or (
                    "refunded by ruling"
                    if close["verdict"] == Verdict.REFUND_REQUESTER
                    else "ruled wrong"
                )
            summary.proposals.append(
                ProposalRecord(
                    round=prop["round"],
                    proposer=prop["proposer"],
                    bond=prop["bond"],
                    root=prop["root"],
                    total=prop["total"],
                    report_hash=prop["report_hash"],
                    inputs_hash=prop["inputs_hash"],
                    challenge_ends=prop["challenge_ends"],
                    outcome=outcome,
                )
            )
        summary.disputes = self._disputes(current)
        summary.bonds = self._bond_flows()
        return summary

    def _disputes(self, current: Proposal) -> list[DisputeRecord]:
        ev, tid = self.events, self.tid
        records: dict[int, DisputeRecord] = {}
        for d in ev.disputed.get(tid, []):
            records[d["dispute_id"]] = DisputeRecord(
                d["round"], d["dispute_id"], d["disputer"], d["bond"]
            )
        for r in ev.resolved.get(tid, []):
            record = records.get(r["dispute_id"])
            if record is None:
                self.find(
                    CHECK_DISPUTES,
                    f"a ruling ({r['verdict_name']}) on dispute {r['dispute_id']}, which no "
                    "Disputed event of this task raised",
                )
                continue
            if record.verdict is not None:
                self.find(CHECK_DISPUTES, f"dispute {r['dispute_id']} was ruled twice")
            record.verdict = r["verdict_name"]
        for record in records.values():
            if record.verdict is None and not (
                current.disputed and current.dispute_id == record.dispute_id
            ):
                self.find(
                    CHECK_DISPUTES,
                    f"dispute {record.dispute_id} has no ruling, but the committee does not "
                    "hold it open",
                )
        if current.disputed and current.dispute_id not in records:
            self.find(
                CHECK_DISPUTES,
                f"the committee holds dispute {current.dispute_id} open, but no Disputed event "
                "raised it",
            )
        # A refund ruling and the escrow's Ruling refund come in the same transaction.
        refund_rulings = {
            r["tx"] for r in ev.resolved.get(tid, []) if r["verdict"] == Verdict.REFUND_REQUESTER
        }
        ruling_refunds = {r["tx"] for r in ev.refund_txs.get(tid, []) if r["kind"] == "ruling"}
        if refund_rulings != ruling_refunds:
            self.find(
                CHECK_DISPUTES,
                f"{len(refund_rulings)} ruling(s) to refund the requester but "
                f"{len(ruling_refunds)} Ruling refund(s), not in the same transactions",
            )
        if refund_rulings and self.st.status != Status.EXPIRED:
            self.find(
                CHECK_DISPUTES,
                f"an arbitrator ruled to refund the requester but the task is "
                f"{label(STATUS_NAMES, self.st.status)}",
            )
        return sorted(records.values(), key=lambda d: d.dispute_id)

    def _bond_flows(self) -> list[BondFlow]:
        """BondSettled events, each explained by the call that made it (a ruling, a finalize,
        a veto) and compared, per transaction, with what the rules prescribe."""
        ev, tid = self.events, self.tid
        committee = self.audit.committee_address
        token = to_checksum_address(self.rules["bondToken"])
        causes: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for r in ev.resolved.get(tid, []):
            causes.setdefault(r["tx"], []).append(("ruling", r))
        for f in ev.finalized.get(tid, []):
            causes.setdefault(f["tx"], []).append(("finalize", f))
        for v in ev.vetoed.get(tid, []):
            causes.setdefault(v["tx"], []).append(("veto", v))
        actual: dict[str, list[dict[str, Any]]] = {}
        for flow in ev.bond_settled.get(tid, []):
            actual.setdefault(flow["tx"], []).append(flow)

        flows: list[BondFlow] = []
        for tx in sorted(set(causes) | set(actual), key=lambda t: self._tx_pos(t, causes, actual)):
            expected: list[tuple[str, int]] = []
            for kind, event in causes.get(tx, []):
                expected += self._expected(kind, event)
            got = actual.get(tx, [])
            cause = "+".join(k for k, _ in causes.get(tx, [])) or "unexplained"
            for flow in got:
                to = flow["to"]
                who = (
                    "committee stake" if to == committee else "burned" if to == BURN_ADDRESS else to
                )
                flows.append(BondFlow(to, who, flow["amount"], flow["token"], cause))
                if flow["token"] != token:
                    self.find(
                        CHECK_BONDS,
                        f"a bond of {flow['amount']} moved in token {flow['token']}, not the "
                        f"rule set's bond token {token}",
                    )
            got_set = Counter((f["to"], f["amount"]) for f in got)
            want_set = Counter(expected)
            if got_set != want_set:
                self.find(
                    CHECK_BONDS,
                    f"transaction {tx} ({cause}) moved bonds {_flows(got_set)} but the rules "
                    f"prescribe {_flows(want_set)}",
                )
        return flows

    def _tx_pos(
        self,
        tx: str,
        causes: dict[str, list[tuple[str, dict[str, Any]]]],
        actual: dict[str, list[dict[str, Any]]],
    ) -> tuple[int, int]:
        positions = [e["pos"] for _, e in causes.get(tx, [])] + [
            f["pos"] for f in actual.get(tx, [])
        ]
        return min(positions)

    def _expected(self, kind: str, event: dict[str, Any]) -> list[tuple[str, int]]:
        """The bond movements the rules prescribe for one ruling, finalize or veto."""
        ev, tid = self.events, self.tid
        committee = self.audit.committee_address
        bps = int(self.rules["burnBps"])
        before = [p for p in ev.pending.get(tid, []) if p["pos"] < event["pos"]]
        prop = before[-1] if before else None
        if kind in ("finalize", "veto"):
            if prop is None or prop["proposer"] is None or not prop["bond"]:
                return []  # a committee proposal's bond goes back into the stake, no event
            return [(prop["proposer"], prop["bond"])]
        dispute = next(
            (d for d in ev.disputed.get(tid, []) if d["dispute_id"] == event["dispute_id"]),
            None,
        )
        if dispute is None:
            return []  # reported by _disputes
        disputer, dispute_bond = dispute["disputer"], dispute["bond"]
        verdict = event["verdict"]
        out: list[tuple[str, int]] = []
        if verdict == Verdict.REFUSED:
            if dispute_bond:
                out.append((disputer, dispute_bond))
        elif verdict == Verdict.PAYOUT_STANDS:
            burned = dispute_bond * bps // 10_000
            if burned:
                out.append((BURN_ADDRESS, burned))
            winner = None if prop is None else prop["proposer"]
            if winner is None:
                out.append((committee, dispute_bond - burned))  # into the stake, always logged
            elif dispute_bond - burned:
                out.append((winner, dispute_bond - burned))
        else:
            bond = 0 if prop is None else prop["bond"]
            burned = bond * bps // 10_000
            if dispute_bond:
                out.append((disputer, dispute_bond))
            if burned:
                out.append((BURN_ADDRESS, burned))
            if bond - burned:
                out.append((disputer, bond - burned))
        return out


def _flows(counter: Counter[tuple[str, int]]) -> str:
    if not counter:
        return "nothing"
    parts = []
    for (to, amount), n in sorted(counter.items()):
        parts.extend([f"{amount} to {to}"] * n)
    return "[" + ", ".join(parts) + "]"
