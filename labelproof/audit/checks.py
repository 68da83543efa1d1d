"""The audit's entry point and its deployment-wide checks: money (funds, solvency, bond
conservation), each task's posted payout, then per task the settlement checks
(labelproof.audit.settlement) and the published data checks (labelproof.audit.published)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address
from web3 import Web3

from labelproof.audit.events import (
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
    CHECK_CLAIMS,
    CHECK_EVENTS,
    CHECK_FUNDS,
    CHECK_PUBLISHED,
    CHECK_SOLVENCY,
    STATUS_NAMES,
    AuditInputError,
    AuditResult,
    BondSummary,
    Finding,
    PostedPayout,
    TaskSummary,
    TokenSummary,
    label,
)
from labelproof.audit.published import TaskCheck
from labelproof.audit.settlement import (
    Settlement,
    close_of,
    closing_events,
    finalized_proposal,
)
from labelproof.audit.sources import (
    FilesSource,
    OracleSource,
    PublishedSource,
    Recorder,
    write_index,
)
from labelproof.chain import contract_at, web3_for
from labelproof.deploy import Deployment
from labelproof.oracle.onchain import OracleChain
from labelproof.settlement import Proposal, Status, rules_dict

# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------


def default_deployment(rpc_url: str) -> Path:
    """The deployment record of the chain at `rpc_url`, where `labelproof deploy` wrote it."""
    from labelproof.deploy import DEPLOYMENTS_DIR

    try:
        chain_id = int(web3_for(rpc_url).eth.chain_id)
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
    w3 = rpc if isinstance(rpc, Web3) else web3_for(rpc, timeout)
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
            closes = closing_events(events, tid)
            for prop in events.pending.get(tid, []):
                if prop["proposer"] is not None:
                    continue
                stake -= prop["bond"]
                close = close_of(prop, closes)
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
            prop = finalized_proposal(events, tid)
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
        # The committee keeps no inputsHash: the round's ProposalPending event names it.
        named = [e for e in events.pending.get(tid, []) if e["round"] == p.round]
        if not named:
            self.find(
                tid,
                CHECK_EVENTS,
                f"no ProposalPending event names the proposal pending in round {p.round}",
            )
        return PostedPayout(
            "disputed" if p.disputed else "pending",
            p.root,
            p.total,
            p.report_hash,
            p.round,
            named[-1]["inputs_hash"] if named else None,
            p.proposer if p.bonded else None,
            p.bond,
        )
