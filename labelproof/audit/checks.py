"""The audit's checks: money (funds, solvency, bond conservation), settlement (disputes,
rulings, bond flows) and the published data against the posted payout (report, tree, inputs
bundle, spec, gold, reveals, and the payout recomputed with the oracle's own code)."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eth_utils import is_address, keccak, to_checksum_address
from web3 import Web3

from labelproof.audit.events import (
    BURN_ADDRESS,
    CHAIN_ERRORS,
    ChainEvents,
    StoredTask,
    TokenInfo,
    first_line,
    read_events,
    token_info,
)
from labelproof.audit.model import (
    CHECK_BONDS,
    CHECK_BUNDLE,
    CHECK_CLAIMS,
    CHECK_DISPUTES,
    CHECK_EVENTS,
    CHECK_FUNDS,
    CHECK_GOLD,
    CHECK_PUBLISHED,
    CHECK_RECOMPUTE,
    CHECK_REPORT,
    CHECK_REPORT_HASH,
    CHECK_REVEAL,
    CHECK_ROOT,
    CHECK_SOLVENCY,
    CHECK_SPEC,
    CHECK_TOTAL,
    CHECK_TREE,
    GOLD_NONE,
    GOLD_REVEALED,
    GOLD_WITHHELD,
    STATUS_NAMES,
    AuditInputError,
    AuditResult,
    BondFlow,
    BondSummary,
    DisputeRecord,
    Finding,
    PayoutRow,
    PostedPayout,
    ProposalRecord,
    SettlementSummary,
    TaskSummary,
    TokenSummary,
    label,
)
from labelproof.audit.sources import (
    FilesSource,
    OracleSource,
    Published,
    PublishedSource,
    Recorder,
    write_index,
)
from labelproof.chain import contract_at
from labelproof.deploy import Deployment
from labelproof.merkle import PAYOUT_ENCODING, MerkleError, StandardMerkleTree
from labelproof.oracle.onchain import OracleChain
from labelproof.oracle.records import (
    BUNDLE_FORMAT,
    REPORT_FORMAT,
    REVEAL_FORMAT,
    RevealError,
    parse_labels,
    receipt_of,
    reveal_root,
)
from labelproof.oracle.scheduler import NothingToPay, compute_payout
from labelproof.oracle.store import GoldRow, RevealRow, TaskRow
from labelproof.scoring import SCORING_VERSION
from labelproof.settlement import Proposal, Status, Verdict, inputs_hash, rules_dict
from labelproof.spec import (
    SpecError,
    TaskSpec,
    canonical_json,
    gold_commitment,
    spec_hash,
    verify_gold,
)

# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------


def default_deployment(rpc_url: str) -> Path:
    """The deployment record of the chain at `rpc_url`, where `labelproof deploy` wrote it."""
    from labelproof.deploy import DEPLOYMENTS_DIR

    try:
        chain_id = int(
            Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30})).eth.chain_id
        )
    except Exception as exc:
        raise AuditInputError(f"cannot reach a node at {rpc_url}: {exc}") from None
    directory = Path(os.environ.get("LABELPROOF_DEPLOYMENTS") or DEPLOYMENTS_DIR)
    return directory / f"{chain_id}.json"


def load_deployment_file(path: Path) -> Deployment:
    try:
        return Deployment.from_json(path.read_text())
    except OSError as exc:
        raise AuditInputError(f"cannot read deployment {path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise AuditInputError(f"deployment {path} is not a deployment record: {exc}") from None


def run_audit(
    rpc: str | Web3,
    deployment: Deployment | Path,
    *,
    task_ids: Sequence[int] | None = None,
    oracle_url: str | None = None,
    files: Path | None = None,
    export_to: Path | None = None,
    chunk_size: int = 2_000,
    timeout: float = 30.0,
) -> AuditResult:
    """Audit the deployment's tasks (all, or `task_ids`) at the chain's current block.

    Published data comes from `oracle_url` or `files` (at most one); with neither, only the
    chain's own bookkeeping is checked. `export_to` (with `oracle_url`) saves the fetched data
    in the files layout. Raises AuditInputError for input that cannot be read.
    """
    if oracle_url is not None and files is not None:
        raise AuditInputError("give the oracle URL or a files directory, not both")
    if export_to is not None and oracle_url is None:
        raise AuditInputError("exporting needs the oracle URL to export from")
    dep = load_deployment_file(deployment) if isinstance(deployment, Path) else deployment
    source: PublishedSource | None = None
    recorder: Recorder | None = None
    oracle: OracleSource | None = None
    if oracle_url is not None:
        oracle = OracleSource(oracle_url, timeout=timeout)
        source = oracle
        if export_to is not None:
            recorder = Recorder(oracle, export_to)
            source = recorder
    elif files is not None:
        files_source = FilesSource(files)
        index = files_source.index()
        if index is not None and index.get("escrow") not in (None, dep.escrow):
            raise AuditInputError(
                f"{files} holds data for escrow {index.get('escrow')}, not {dep.escrow}"
            )
        source = files_source
    w3 = rpc if isinstance(rpc, Web3) else Web3(Web3.HTTPProvider(rpc, {"timeout": timeout}))
    try:
        if not w3.is_connected():
            raise AuditInputError(f"cannot reach the RPC endpoint {_provider_url(w3)}")
        result = Audit(w3, dep, source, chunk_size).run(task_ids)
    except CHAIN_ERRORS as exc:
        raise AuditInputError(f"chain read failed: {first_line(exc)}") from None
    if recorder is not None and oracle is not None and export_to is not None:
        write_index(export_to, oracle.description, recorder.saved, oracle.health())
    return result


def _provider_url(w3: Web3) -> str:
    return str(getattr(w3.provider, "endpoint_uri", None) or w3.provider)


# --------------------------------------------------------------------------------------------
# the deployment: money, settlement, and each task
# --------------------------------------------------------------------------------------------


class Audit:
    def __init__(
        self, w3: Web3, dep: Deployment, source: PublishedSource | None, chunk_size: int
    ) -> None:
        self.w3 = w3
        self.dep = dep
        self.source = source
        self.chunk_size = chunk_size
        # OracleChain checks the deployment against the chain (chain id, registry, committee).
        self.chain = OracleChain(w3, dep.escrow, dep)
        self.chain_id = self.chain.chain_id
        self.escrow_address = self.chain.escrow.address
        self.committee_address = self.chain.committee.address
        self.findings: list[Finding] = []
        self.block = 0
        self._rules: dict[int, dict[str, Any]] = {}
        self.pendings: dict[int, Proposal] = {}

    def find(self, task: int | None, check: str, message: str) -> None:
        self.findings.append(Finding(check, message, task))

    def rules(self, rules_id: int) -> dict[str, Any]:
        """The committee's rule set `rules_id` at the audited block (cached: never changes)."""
        if rules_id not in self._rules:
            raw = self.chain.committee.functions.rules(rules_id).call(block_identifier=self.block)
            self._rules[rules_id] = rules_dict(raw)
        return self._rules[rules_id]

    def run(self, task_ids: Sequence[int] | None) -> AuditResult:
        block = self.block = int(self.w3.eth.block_number)
        from_block = max(0, int(self.dep.block))
        events = read_events(self.chain, from_block, block, self.chunk_size)
        count = int(self.chain.escrow.functions.taskCount().call(block_identifier=block))
        all_ids = list(range(1, count + 1))
        wanted = all_ids if not task_ids else sorted(set(task_ids))
        for tid in wanted:
            if not 1 <= tid <= count:
                raise AuditInputError(
                    f"task {tid} does not exist: the escrow has {count} task(s) at block {block}"
                )
        stray = sorted(set(events.created) - set(all_ids))
        if stray:
            self.find(None, CHECK_EVENTS, f"TaskCreated events for unknown task ids {stray}")

        stored = {tid: StoredTask.read(self.chain.escrow, tid, block) for tid in all_ids}
        committee = self.chain.committee
        self.pendings = {
            tid: Proposal.from_raw(committee.functions.pending(tid).call(block_identifier=block))
            for tid in all_ids
        }
        tokens: dict[str, TokenInfo] = {}
        for t in stored.values():
            if t.token not in tokens:
                tokens[t.token] = token_info(self.w3, t.token, block)

        summaries = [
            self._task(tid, stored[tid], tokens[stored[tid].token], events) for tid in wanted
        ]
        return AuditResult(
            chain_id=self.chain_id,
            escrow=self.escrow_address,
            block=block,
            from_block=from_block,
            source=None if self.source is None else self.source.description,
            tasks=summaries,
            tokens=self._solvency(stored, tokens),
            findings=self.findings,
            bonds=self._bonds(stored, events),
            committee=self.committee_address,
        )

    # -- money

    def _solvency(
        self, stored: dict[int, StoredTask], tokens: dict[str, TokenInfo]
    ) -> list[TokenSummary]:
        """Per token, over every task (not only the audited ones): balance >= obligations."""
        rows = []
        for token, info in sorted(tokens.items()):
            owed = sum(t.held for t in stored.values() if t.token == token)
            n = sum(1 for t in stored.values() if t.token == token)
            balance = self._balance(token, self.escrow_address)
            if balance < owed:
                self.find(
                    None,
                    CHECK_SOLVENCY,
                    f"token {token} ({info.symbol}): the escrow holds {balance} but its "
                    f"{n} task(s) still owe {owed}",
                )
            rows.append(TokenSummary(token, info.symbol, info.decimals, balance, owed, n))
        return rows

    def _balance(self, token: str, holder: str) -> int:
        erc20 = contract_at(self.w3, "IERC20Metadata", token)
        return int(erc20.functions.balanceOf(holder).call(block_identifier=self.block))

    def _bonds(self, stored: dict[int, StoredTask], events: ChainEvents) -> list[BondSummary]:
        """Per bond token of any rule set: the committee holds its stake plus every bond locked
        behind a pending proposal or an open dispute, and its stake is what the events say."""
        committee = self.chain.committee
        count = int(committee.functions.rulesCount().call(block_identifier=self.block))
        by_token: dict[str, list[int]] = {}
        for rid in range(1, count + 1):
            bond_token = str(to_checksum_address(self.rules(rid)["bondToken"]))
            by_token.setdefault(bond_token, []).append(rid)
        rows = []
        for token, rule_ids in sorted(by_token.items()):
            info = token_info(self.w3, token, self.block)
            locked = sum(
                self.pendings[tid].bond + self.pendings[tid].dispute_bond
                for tid, t in stored.items()
                if t.rules_id in rule_ids
            )
            stake = int(committee.functions.stake(token).call(block_identifier=self.block))
            balance = self._balance(token, self.committee_address)
            row = BondSummary(token, info.symbol, info.decimals, balance, stake, locked)
            if row.surplus < 0:
                self.find(
                    None,
                    CHECK_BONDS,
                    f"bond token {token} ({info.symbol}): the committee holds {balance} but its "
                    f"stake {stake} and the bonds locked behind proposals and disputes "
                    f"{locked} add up to {stake + locked}",
                )
            expected = self._stake_from_events(token, rule_ids, stored, events)
            if expected != stake:
                self.find(
                    None,
                    CHECK_BONDS,
                    f"bond token {token} ({info.symbol}): the committee's stake is {stake} but "
                    f"its events account for {expected} (funded, withdrawn, locked behind "
                    "committee proposals, returned, won in disputes)",
                )
            rows.append(row)
        return rows

    def _stake_from_events(
        self,
        token: str,
        rule_ids: list[int],
        stored: dict[int, StoredTask],
        events: ChainEvents,
    ) -> int:
        """funded - withdrawn - committee bonds locked + committee bonds returned (finalize or
        veto) + disputed bonds forfeited to the stake."""
        stake = events.stake_funded.get(token, 0) - events.stake_withdrawn.get(token, 0)
        for tid, t in stored.items():
            if t.rules_id not in rule_ids:
                continue
            closes = _closing_events(events, tid)
            for prop in events.pending.get(tid, []):
                if prop["proposer"] is not None:
                    continue
                stake -= prop["bond"]
                close = _close_of(prop, closes)
                if close is not None and close["kind"] in ("finalize", "veto"):
                    stake += prop["bond"]
            for flow in events.bond_settled.get(tid, []):
                if flow["to"] == self.committee_address and flow["token"] == token:
                    stake += flow["amount"]
        return stake

    def _task(self, tid: int, st: StoredTask, info: TokenInfo, events: ChainEvents) -> TaskSummary:
        created = events.created.get(tid)
        claims = events.claims.get(tid, [])
        refunds = events.refunds.get(tid, [])
        claimed_ev = sum(a for _, a in claims)
        refunded_ev = sum(a for _, a in refunds)
        funded = st.budget
        if created is None:
            self.find(
                tid,
                CHECK_EVENTS,
                f"no TaskCreated event from block {self.dep.block}: is the deployment's block "
                "right?",
            )
        else:
            funded = created["budget"]
            if created["budget"] != st.budget or created["token"] != st.token:
                self.find(
                    tid,
                    CHECK_FUNDS,
                    f"TaskCreated funded {created['budget']} of {created['token']} but the "
                    f"escrow stores a budget of {st.budget} of {st.token}",
                )
        summary = TaskSummary(
            task_id=tid,
            token=st.token,
            symbol=info.symbol,
            decimals=info.decimals,
            requester=st.requester,
            status=label(STATUS_NAMES, st.status),
            funded=funded,
            claimed=claimed_ev,
            refunded=refunded_ev,
            held=st.held,
            claims=list(claims),
            refunds=list(refunds),
        )
        self._funds(tid, st, summary)
        summary.settlement = Settlement(self, tid, st, events).run()
        posted = self._posted(tid, st, events)
        summary.posted = posted
        self._claims_once(tid, claims)
        if posted is None:
            if claims:
                self.find(tid, CHECK_CLAIMS, f"{len(claims)} claim(s) but no final payout")
            return summary
        if self.source is None:
            summary.published = "not checked"
            return summary
        published = self.source.fetch(tid, posted.inputs_hash)
        if published.empty:
            summary.published = "missing"
            self.find(
                tid,
                CHECK_PUBLISHED,
                f"the {posted.kind} payout (root {posted.root}) has no published report, tree "
                f"or inputs bundle at {self.source.description}",
            )
            return summary
        summary.published = "checked"
        TaskCheck(self, tid, st, posted, events, summary).run(published)
        return summary

    def _funds(self, tid: int, st: StoredTask, s: TaskSummary) -> None:
        if s.claimed != st.claimed:
            self.find(
                tid,
                CHECK_FUNDS,
                f"Claimed events add up to {s.claimed} but the escrow records {st.claimed} claimed",
            )
        if s.refunded != st.refunded:
            self.find(
                tid,
                CHECK_FUNDS,
                f"Refunded events add up to {s.refunded} but the escrow records {st.refunded} "
                "refunded",
            )
        if s.funded != s.claimed + s.refunded + s.held:
            self.find(
                tid,
                CHECK_FUNDS,
                f"funded {s.funded} but claimed {s.claimed} + refunded {s.refunded} + held "
                f"{s.held} = {s.claimed + s.refunded + s.held}",
            )
        if st.claimed + st.refunded > st.budget:
            self.find(
                tid,
                CHECK_FUNDS,
                f"claimed {st.claimed} + refunded {st.refunded} exceed the budget {st.budget}",
            )
        if st.status == Status.FINAL and st.claimed > st.payout_total:
            self.find(
                tid,
                CHECK_FUNDS,
                f"claimed {st.claimed} exceeds the final payout total {st.payout_total}",
            )
        if st.status != Status.FINAL and st.claimed:
            self.find(tid, CHECK_FUNDS, f"{st.claimed} claimed but the task is {s.status}")
        if st.status in (Status.CANCELLED, Status.EXPIRED) and s.held:
            self.find(
                tid,
                CHECK_FUNDS,
                f"the task is {s.status} but the escrow still owes {s.held} for it",
            )

    def _claims_once(self, tid: int, claims: list[tuple[str, int]]) -> None:
        seen: dict[str, int] = {}
        for account, _ in claims:
            seen[account] = seen.get(account, 0) + 1
        for account, n in seen.items():
            if n > 1:
                self.find(tid, CHECK_CLAIMS, f"{account} claimed {n} times")

    def _posted(self, tid: int, st: StoredTask, events: ChainEvents) -> PostedPayout | None:
        if st.status == Status.FINAL:
            fin = events.payout_finalized.get(tid, [])
            on_chain = {
                "root": st.payout_root,
                "total": st.payout_total,
                "report_hash": st.report_hash,
            }
            if len(fin) != 1 or fin[0] != on_chain:
                self.find(
                    tid,
                    CHECK_EVENTS,
                    f"the escrow's final payout {on_chain} is not the one PayoutFinalized event "
                    f"(found {fin})",
                )
            prop = _finalized_proposal(events, tid)
            if prop is None or any(prop[k] != v for k, v in on_chain.items()):
                self.find(
                    tid,
                    CHECK_EVENTS,
                    f"the final payout (root {st.payout_root}) is not the proposal that was "
                    "pending when the committee finalized it (ProposalPending / Finalized "
                    "events)",
                )
                return PostedPayout("final", st.payout_root, st.payout_total, st.report_hash, None)
            return PostedPayout(
                "final",
                st.payout_root,
                st.payout_total,
                st.report_hash,
                prop["round"],
                prop["inputs_hash"],
                prop["proposer"],
                prop["bond"],
            )
        if st.status != Status.FUNDED:
            return None
        p = self.pendings[tid]
        if not p.challenge_ends:
            return None
        return PostedPayout(
            "disputed" if p.disputed else "pending",
            p.root,
            p.total,
            p.report_hash,
            p.round,
            p.inputs_hash,
            p.proposer if p.bonded else None,
            p.bond,
        )


def _closing_events(events: ChainEvents, tid: int) -> list[dict[str, Any]]:
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


def _close_of(prop: dict[str, Any], closes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The event that ended a pending proposal: the first closing event after it."""
    return next((c for c in closes if c["pos"] > prop["pos"]), None)


def _finalized_proposal(events: ChainEvents, tid: int) -> dict[str, Any] | None:
    """The ProposalPending event of the proposal the committee finalized."""
    finals = events.finalized.get(tid, [])
    if len(finals) != 1:
        return None
    before = [p for p in events.pending.get(tid, []) if p["pos"] < finals[0]["pos"]]
    return before[-1] if before else None


# --------------------------------------------------------------------------------------------
# settlement: rounds, disputes, rulings and bond flows
# --------------------------------------------------------------------------------------------


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
        closes = _closing_events(ev, tid)
        for prop in ev.pending.get(tid, []):
            close = _close_of(prop, closes)
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


# --------------------------------------------------------------------------------------------
# one task's published data against its posted payout
# --------------------------------------------------------------------------------------------


class TaskCheck:
    """The checks of one task's published data (report, tree, inputs bundle) against its
    posted payout."""

    def __init__(
        self,
        audit: Audit,
        tid: int,
        st: StoredTask,
        posted: PostedPayout,
        events: ChainEvents,
        summary: TaskSummary,
    ) -> None:
        self.audit = audit
        self.tid = tid
        self.st = st
        self.posted = posted
        self.events = events
        self.summary = summary
        # Whether the published report hashes to the posted reportHash (set by _report_hash).
        self.report_matches = True
        self.bundle_bytes: bytes | None = None

    def find(self, check: str, message: str) -> None:
        self.audit.find(self.tid, check, message)

    def run(self, pub: Published) -> None:
        report_doc = self._report_hash(pub.report)
        tree = self._tree(pub.tree)
        bundle = self._bundle(pub.bundle)
        spec = self._spec(bundle)
        gold_status, gold_rows = self._gold(bundle, spec)
        self.summary.gold = gold_status
        reveals = self._reveals(bundle, spec)
        computed = self._recompute(bundle, spec, gold_status, gold_rows, reveals, report_doc)
        if report_doc is not None:
            self._report(report_doc, tree, gold_status)
        self._claims(tree, computed)
        self._rows(report_doc, computed)

    # -- report

    def _report_hash(self, body: bytes | None) -> dict[str, Any] | None:
        if body is None:
            self.find(CHECK_PUBLISHED, f"no published report for the {self.posted.kind} payout")
            return None
        actual = "0x" + bytes(keccak(body)).hex()
        self.report_matches = actual == self.posted.report_hash
        if not self.report_matches:
            self.find(
                CHECK_REPORT_HASH,
                f"posted reportHash {self.posted.report_hash} but the published report hashes "
                f"to {actual}",
            )
        try:
            doc = json.loads(body)
        except ValueError as exc:
            self.find(CHECK_REPORT, f"the published report is not valid JSON: {exc}")
            return None
        if not isinstance(doc, dict):
            self.find(CHECK_REPORT, "the published report is not a JSON object")
            return None
        return doc

    def _report(
        self, doc: dict[str, Any], tree: StandardMerkleTree | None, gold_status: str | None
    ) -> None:
        """The report's own claims: bound to this task and its inputs bundle, and paying what
        the tree pays."""
        st, posted = self.st, self.posted
        expected_task = {
            "chain_id": self.audit.chain_id,
            "escrow": self.audit.escrow_address,
            "task_id": self.tid,
            "spec_hash": st.spec_hash,
            "gold_commitment": st.gold_commitment,
            "budget": st.budget,
        }
        if doc.get("format") != REPORT_FORMAT:
            self.find(CHECK_REPORT, f"format is {doc.get('format')!r}, not {REPORT_FORMAT!r}")
        task = _obj(doc.get("task"))
        for key, want in expected_task.items():
            got = task.get(key)
            if got != want:
                self.find(CHECK_REPORT, f"the report's task.{key} is {got!r}, on chain {want!r}")
        reported_inputs = _obj(doc.get("inputs")).get("hash")
        if posted.inputs_hash is not None and reported_inputs != posted.inputs_hash:
            self.find(
                CHECK_REPORT,
                f"the report names inputs bundle {reported_inputs} but the posted inputsHash "
                f"is {posted.inputs_hash}",
            )
        reported_gold = _obj(doc.get("gold")).get("status")
        if gold_status is not None and reported_gold != gold_status:
            self.find(
                CHECK_REPORT,
                f"the report says the gold set was {reported_gold!r}, the inputs bundle "
                f"{gold_status!r}",
            )
        payout = _obj(doc.get("payout"))
        if payout.get("root") != posted.root:
            self.find(
                CHECK_REPORT,
                f"the report's payout root is {payout.get('root')} but the posted root is "
                f"{posted.root}",
            )
        if payout.get("total") != posted.total:
            self.find(
                CHECK_REPORT,
                f"the report's payout total is {payout.get('total')} but the posted total is "
                f"{posted.total}",
            )
        if tree is None:
            return
        leaves = _tree_payouts(tree)
        reported = _report_payouts(doc)
        if reported is None:
            self.find(CHECK_REPORT, "the report has no scoring.workers payouts")
            return
        for account in sorted(set(leaves) | set(reported)):
            want_amount, got_amount = leaves.get(account, 0), reported.get(account, 0)
            if want_amount != got_amount:
                self.find(
                    CHECK_REPORT,
                    f"the report pays {account} {got_amount} but the published tree pays "
                    f"{want_amount}",
                )
        if payout.get("accounts") != len(leaves):
            self.find(
                CHECK_REPORT,
                f"the report counts {payout.get('accounts')} paid accounts, the tree has "
                f"{len(leaves)}",
            )

    # -- tree

    def _tree(self, body: bytes | None) -> StandardMerkleTree | None:
        if body is None:
            self.find(CHECK_PUBLISHED, f"no published tree for the {self.posted.kind} payout")
            return None
        try:
            tree = StandardMerkleTree.load(json.loads(body))
        except ValueError as exc:  # MerkleError and JSONDecodeError are both ValueErrors
            self.find(CHECK_TREE, f"the published tree is invalid: {exc}")
            return None
        if tree.leaf_encoding != list(PAYOUT_ENCODING):
            self.find(CHECK_TREE, f"leaf encoding {tree.leaf_encoding}, not {PAYOUT_ENCODING}")
            return None
        if tree.root != self.posted.root:
            self.find(
                CHECK_ROOT,
                f"posted root {self.posted.root} but the published tree's root is {tree.root}",
            )
        total = sum(int(value[1]) for _, value in tree.entries())
        if total != self.posted.total:
            self.find(
                CHECK_TOTAL,
                f"posted total {self.posted.total} but the published tree pays {total}",
            )
        leaves_per_account = Counter(to_checksum_address(value[0]) for _, value in tree.entries())
        for account in sorted(a for a, n in leaves_per_account.items() if n > 1):
            self.find(CHECK_TREE, f"the published tree has more than one leaf for {account}")
        return tree

    def _claims(self, tree: StandardMerkleTree | None, computed: Any) -> None:
        """Every claim is a leaf of the published tree (or, without a valid one, of the
        recomputed tree): claims validated on chain against a root nobody published show here."""
        claims = self.events.claims.get(self.tid, [])
        if not claims:
            return
        if tree is not None:
            against, what = tree, "the published tree"
        elif computed is not None:
            against = StandardMerkleTree.load(json.loads(computed.tree_json))
            what = "the recomputed tree"
        else:
            return
        leaves = _tree_payouts(against)
        for account, amount in claims:
            if leaves.get(account) != amount:
                owed = leaves.get(account)
                detail = "no leaf for it" if owed is None else f"a leaf of {owed} for it"
                self.find(CHECK_CLAIMS, f"{account} claimed {amount} but {what} has {detail}")

    # -- the inputs bundle: spec, gold, reveals

    def _bundle(self, body: bytes | None) -> dict[str, Any] | None:
        """The published inputs bundle: its bytes hash to the posted inputsHash and it names
        this task."""
        if body is None:
            self.find(
                CHECK_PUBLISHED, f"no published inputs bundle for the {self.posted.kind} payout"
            )
            return None
        self.bundle_bytes = body
        actual = inputs_hash(body)
        if self.posted.inputs_hash is not None and actual != self.posted.inputs_hash:
            self.find(
                CHECK_BUNDLE,
                f"posted inputsHash {self.posted.inputs_hash} but the published inputs bundle "
                f"hashes to {actual}",
            )
        try:
            doc = json.loads(body)
        except ValueError as exc:
            self.find(CHECK_BUNDLE, f"the published inputs bundle is not valid JSON: {exc}")
            return None
        if not isinstance(doc, dict):
            self.find(CHECK_BUNDLE, "the published inputs bundle is not a JSON object")
            return None
        if doc.get("format") != BUNDLE_FORMAT:
            self.find(CHECK_BUNDLE, f"format is {doc.get('format')!r}, not {BUNDLE_FORMAT!r}")
        st = self.st
        task = _obj(doc.get("task"))
        for key, want in {
            "chain_id": self.audit.chain_id,
            "escrow": self.audit.escrow_address,
            "task_id": self.tid,
            "spec_hash": st.spec_hash,
            "gold_commitment": st.gold_commitment,
            "budget": st.budget,
        }.items():
            if task.get(key) != want:
                self.find(
                    CHECK_BUNDLE, f"the bundle's task.{key} is {task.get(key)!r}, on chain {want!r}"
                )
        excluded = doc.get("excluded")
        if isinstance(excluded, list):
            self.summary.excluded = [str(x) for x in excluded]
        return doc

    def _spec(self, bundle: dict[str, Any] | None) -> TaskSpec | None:
        if bundle is None:
            return None
        try:
            spec = TaskSpec.from_dict(bundle.get("spec"))
        except SpecError as exc:
            self.find(CHECK_SPEC, f"the published spec is invalid: {exc}")
            return None
        digest = "0x" + spec_hash(spec).hex()
        if digest != self.st.spec_hash:
            self.find(
                CHECK_SPEC,
                f"the published spec hashes to {digest} but the task's specHash is "
                f"{self.st.spec_hash}",
            )
        self.summary.min_quality = spec.scoring.min_quality
        return spec

    def _gold(
        self, bundle: dict[str, Any] | None, spec: TaskSpec | None
    ) -> tuple[str | None, list[Any] | None]:
        """The bundle's gold status, and its rows ([[item, label], ...]) when they were revealed
        and open the commitment. A withheld gold set (the requester never revealed it in time)
        is valid: the task was scored without it, and the report says so."""
        if bundle is None:
            return None, None
        commitment = self.st.gold_commitment
        gold = bundle.get("gold")
        if int(commitment, 16) == 0:
            if gold is not None:
                self.find(CHECK_GOLD, "a gold set is published but the task commits to none")
            return GOLD_NONE, None
        if not isinstance(gold, dict):
            self.find(CHECK_GOLD, f"the task commits to gold set {commitment}; none is published")
            return None, None
        if gold.get("commitment") != commitment:
            self.find(
                CHECK_GOLD,
                f"the bundle's gold commitment is {gold.get('commitment')!r}, on chain "
                f"{commitment}",
            )
        status = gold.get("status")
        if status == GOLD_WITHHELD:
            if "gold" in gold or "salt" in gold:
                self.find(CHECK_GOLD, "the gold set is marked withheld but rows are published")
            return GOLD_WITHHELD, None
        if status != GOLD_REVEALED:
            self.find(CHECK_GOLD, f"unknown gold status {status!r} (revealed or withheld)")
            return None, None
        rows, salt_hex = gold.get("gold"), gold.get("salt")
        if not (
            isinstance(rows, list)
            and all(isinstance(r, list) and len(r) == 2 for r in rows)
            and isinstance(salt_hex, str)
        ):
            self.find(CHECK_GOLD, "the published gold set is not {gold: [[item, label]], salt}")
            return GOLD_REVEALED, None
        try:
            labels = {str(item): str(lab) for item, lab in rows}
            salt = bytes.fromhex(salt_hex.removeprefix("0x"))
            opened = "0x" + gold_commitment(labels, salt).hex()
        except (ValueError, SpecError) as exc:
            self.find(CHECK_GOLD, f"the published gold set cannot be hashed: {exc}")
            return GOLD_REVEALED, None
        if len(labels) != len(rows):
            self.find(CHECK_GOLD, "the published gold set lists an item twice")
        if not verify_gold(labels, salt, commitment):
            self.find(
                CHECK_GOLD,
                f"the published gold set and salt hash to {opened} but the task's gold "
                f"commitment is {commitment}",
            )
        if spec is not None:
            try:
                spec.check_labels(labels, "gold")
            except SpecError as exc:
                self.find(CHECK_GOLD, str(exc))
        return GOLD_REVEALED, rows

    def _reveals(self, bundle: dict[str, Any] | None, spec: TaskSpec | None) -> list[RevealRow]:
        """Each reveal checked against its annotator's latest attestation, as store rows for
        compute_payout (the rows are built from the published documents as they are, so a
        tampered reveal is scored as published and the recompute shows its effect too)."""
        if bundle is None:
            return []
        docs = bundle.get("reveals")
        if not isinstance(docs, list):
            self.find(CHECK_REVEAL, "the published inputs bundle has no list of reveals")
            return []
        rows: list[RevealRow] = []
        seen: set[str] = set()
        for n, doc in enumerate(docs):
            row = self._reveal(n, doc, spec, seen)
            if row is not None:
                rows.append(row)
        return rows

    def _reveal(self, n: int, doc: Any, spec: TaskSpec | None, seen: set[str]) -> RevealRow | None:
        if not isinstance(doc, dict) or not is_address(doc.get("annotator", "")):
            self.find(CHECK_REVEAL, f"reveal #{n} is not a reveal document with an annotator")
            return None
        annotator = to_checksum_address(doc["annotator"])
        who = f"reveal of {annotator}"
        if annotator in seen:
            self.find(CHECK_REVEAL, f"{annotator} has more than one published reveal")
        seen.add(annotator)
        expected = {
            "format": REVEAL_FORMAT,
            "chain_id": self.audit.chain_id,
            "escrow": self.audit.escrow_address,
            "task_id": self.tid,
        }
        for key, want in expected.items():
            if doc.get(key) != want:
                self.find(CHECK_REVEAL, f"{who}: {key} is {doc.get(key)!r}, expected {want!r}")
        try:
            entries = doc.get("labels")
            if not isinstance(entries, list):
                raise RevealError("labels must be a list")
            labels = parse_labels(
                [(str(x["item"]), str(x["label"]), str(x["salt"])) for x in entries]
            )
        except (RevealError, KeyError, TypeError) as exc:
            self.find(CHECK_REVEAL, f"{who}: malformed labels: {exc}")
            return None
        if spec is not None:
            try:
                spec.check_labels({x.item: x.label for x in labels}, who)
            except SpecError as exc:
                self.find(CHECK_REVEAL, str(exc))
        root = (
            "0x"
            + reveal_root(
                self.audit.chain_id, self.audit.escrow_address, self.tid, annotator, labels
            ).hex()
        )
        att = self.events.attestations.get((self.tid, annotator))
        if att is None:
            self.find(CHECK_REVEAL, f"{who}: no Attested event for this annotator and task")
        else:
            if root != att.root:
                self.find(
                    CHECK_REVEAL,
                    f"{who}: the revealed labels and salts give root {root} but the latest "
                    f"attestation (version {att.version}) commits to {att.root}",
                )
            if len(labels) != att.item_count:
                self.find(
                    CHECK_REVEAL,
                    f"{who}: {len(labels)} labels revealed but the latest attestation "
                    f"commits to {att.item_count} items",
                )
            if doc.get("version") != att.version:
                self.find(
                    CHECK_REVEAL,
                    f"{who}: version {doc.get('version')!r} but the latest attestation is "
                    f"version {att.version}",
                )
        if doc.get("root") != root or doc.get("item_count") != len(labels):
            self.find(
                CHECK_REVEAL,
                f"{who}: the document says root {doc.get('root')} over {doc.get('item_count')} "
                f"items, its labels give {root} over {len(labels)}",
            )
        doc_bytes = canonical_json(doc)
        return RevealRow(
            task_id=self.tid,
            annotator=annotator,
            version=int(doc.get("version") or 0),
            root=root,
            item_count=len(labels),
            reveal_json=doc_bytes.decode("utf-8"),
            receipt=receipt_of(doc_bytes),
            stored_at=0.0,
        )

    # -- recompute

    def _recompute(
        self,
        bundle: dict[str, Any] | None,
        spec: TaskSpec | None,
        gold_status: str | None,
        gold_rows: list[Any] | None,
        reveals: list[RevealRow],
        report_doc: dict[str, Any] | None,
    ) -> Any:
        """compute_payout, the scheduler's own function, over the published inputs bundle: it
        must give the posted reportHash, root, total and inputsHash (the same bundle bytes)."""
        if bundle is None:
            return None
        version = bundle.get("scoring_version")
        if version != SCORING_VERSION:
            self.find(
                CHECK_RECOMPUTE,
                f"the bundle was scored with scoring {version!r} but this auditor runs "
                f"{SCORING_VERSION!r}: install that version to recompute the payout",
            )
            return None
        if spec is None:
            self.find(CHECK_RECOMPUTE, "cannot recompute the payout without a valid spec")
            return None
        if gold_status is None or (gold_status == GOLD_REVEALED and gold_rows is None):
            self.find(CHECK_RECOMPUTE, "cannot recompute the payout without the gold set")
            return None
        st = self.st
        task = TaskRow(
            task_id=self.tid,
            requester=st.requester,
            token=st.token,
            budget=st.budget,
            spec_hash=st.spec_hash,
            gold_commitment=st.gold_commitment,
            annotation_deadline=0,  # not read by compute_payout
            reveal_deadline=0,
            challenge_period=0,
            claim_period=0,
            oracle_timeout=0,
            rules_id=st.rules_id,
        )
        gold = None
        if gold_rows is not None:
            salt = bundle["gold"]["salt"]
            gold = GoldRow(self.tid, canonical_json(gold_rows).decode("utf-8"), salt, 0.0)
        excluded = bundle.get("excluded") or []
        try:
            computed = compute_payout(
                chain_id=self.audit.chain_id,
                escrow=self.audit.escrow_address,
                task=task,
                spec=spec,
                reveals=reveals,
                excluded=[str(x) for x in excluded],
                gold=gold,
            )
        except NothingToPay as exc:
            self.find(CHECK_RECOMPUTE, f"the published inputs pay nobody ({exc})")
            return None
        except (ValueError, MerkleError) as exc:
            self.find(CHECK_RECOMPUTE, f"scoring the published inputs failed: {exc}")
            return None
        posted = self.posted
        wrong = []
        if computed.report_hash != posted.report_hash:
            wrong.append(f"report hash {computed.report_hash} (posted {posted.report_hash})")
        if computed.root != posted.root:
            wrong.append(f"root {computed.root} (posted {posted.root})")
        if computed.total != posted.total:
            wrong.append(f"total {computed.total} (posted {posted.total})")
        if posted.inputs_hash is not None and computed.inputs_hash != posted.inputs_hash:
            wrong.append(f"inputs hash {computed.inputs_hash} (posted {posted.inputs_hash})")
        if wrong:
            hint = ""
            if report_doc is not None:
                diffs = _diff(report_doc, json.loads(computed.report))
                if diffs:
                    hint = "; the published report differs at " + ", ".join(diffs)
            self.find(
                CHECK_RECOMPUTE,
                "scoring the published inputs bundle gives " + ", ".join(wrong) + hint,
            )
        elif report_doc is not None and not self.report_matches:
            # The recompute agrees with the chain, so the published report is what changed.
            diffs = _diff(report_doc, json.loads(computed.report))
            if diffs:
                self.find(
                    CHECK_REPORT,
                    "the published report differs from the recomputed one at " + ", ".join(diffs),
                )
        if self.bundle_bytes is not None and computed.bundle != self.bundle_bytes:
            diffs = _diff(json.loads(self.bundle_bytes), json.loads(computed.bundle))
            where = ", ".join(diffs) if diffs else "its encoding (not canonical JSON)"
            self.find(
                CHECK_BUNDLE,
                f"the published inputs bundle is not the canonical one its contents give: {where}",
            )
        return computed

    # -- rows for the summary and the plots

    def _rows(self, report_doc: dict[str, Any] | None, computed: Any) -> None:
        doc: Any = None
        source = None
        if computed is not None:
            doc, source = json.loads(computed.report), "recomputed"
        elif report_doc is not None:
            doc, source = report_doc, "published report"
        scoring = doc.get("scoring") if isinstance(doc, dict) else None
        workers = scoring.get("workers") if isinstance(scoring, dict) else None
        if not isinstance(workers, dict):
            return
        claimed: dict[str, int] = {}
        for account, amount in self.summary.claims:
            claimed[account] = claimed.get(account, 0) + amount
        rows = []
        for worker, w in sorted(workers.items()):
            if not isinstance(w, dict):
                continue
            account = to_checksum_address(worker) if is_address(worker) else worker
            rows.append(
                PayoutRow(
                    account=account,
                    labels=_int(w.get("labels")),
                    quality=_float(w.get("quality")),
                    payout=_int(w.get("payout")),
                    claimed=claimed.get(account, 0),
                )
            )
        self.summary.rows = rows
        self.summary.rows_source = source
        params = scoring.get("parameters") if isinstance(scoring, dict) else None
        if isinstance(params, dict) and isinstance(params.get("min_quality"), int | float):
            self.summary.min_quality = float(params["min_quality"])


def _obj(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else (a malformed field then mismatches)."""
    return value if isinstance(value, dict) else {}


def _tree_payouts(tree: StandardMerkleTree) -> dict[str, int]:
    return {to_checksum_address(value[0]): int(value[1]) for _, value in tree.entries()}


def _report_payouts(doc: dict[str, Any]) -> dict[str, int] | None:
    """Positive payouts of a report's scoring.workers (the tree holds only positive ones)."""
    scoring = doc.get("scoring")
    workers = scoring.get("workers") if isinstance(scoring, dict) else None
    if not isinstance(workers, dict):
        return None
    out: dict[str, int] = {}
    for worker, w in workers.items():
        amount = _int(w.get("payout")) if isinstance(w, dict) else 0
        if amount > 0:
            out[to_checksum_address(worker) if is_address(worker) else worker] = amount
    return out


def _diff(a: Any, b: Any, path: str = "", limit: int = 3) -> list[str]:
    """Up to `limit` paths where two JSON values differ, with both values (short)."""
    out: list[str] = []

    def walk(x: Any, y: Any, where: str) -> None:
        if len(out) >= limit:
            return
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y)):
                walk(x.get(key), y.get(key), f"{where}.{key}" if where else str(key))
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (xi, yi) in enumerate(zip(x, y, strict=True)):
                walk(xi, yi, f"{where}[{i}]")
        elif x != y:
            out.append(f"{where or '<root>'} (published {_short(x)}, recomputed {_short(y)})")

    walk(a, b, path)
    return out


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | str) and str(value).lstrip("-").isdigit() else 0


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan
