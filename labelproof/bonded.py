"""What anyone can do with a bond: dispute a pending proposal, propose a payout after the
committee's grace period, fund the committee's stake; and the local arbitrator panel's vote.

Each action is planned first (:func:`plan_dispute`, :func:`plan_bonded_proposal`): the plan
reads the task, its rule set and the proposal, and refuses with one clear line whatever the
contract would refuse (no pending proposal, window closed, already disputed, grace not over,
not enough bond tokens), so the caller can show the bond and fee before anything is sent.
Then :func:`dispute` / :func:`propose_bonded` approve exactly the bond and send.

Functions for scripts: :func:`task_rules`, :func:`pending`, :func:`plan_dispute`,
:func:`dispute`, :func:`plan_bonded_proposal`, :func:`propose_bonded`, :func:`parse_ruling`,
:func:`arbitrate`, :func:`fund_stake`, :func:`stake_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address
from hexbytes import HexBytes
from web3.contract import Contract
from web3.logs import DISCARD

from labelproof.chain import contract_at
from labelproof.client import ActionError, Chain, format_amount
from labelproof.sending import Say, approve_then, send, span_words, tx_hash, when
from labelproof.settlement import ZERO32, Proposal, Status, Verdict, rules_dict, task_dict


def _quiet(_: str) -> None:
    """A progress callback that shows nothing."""


STATUS_WORDS = {
    Status.CANCELLED: "cancelled",
    Status.FINAL: "final (its payout is recorded)",
    Status.EXPIRED: "expired (refunded)",
}


# --------------------------------------------------------------------------------------------
# reading: a task's rules and proposal
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskRules:
    """A task and the rule set it was created under, with the bond token's display data."""

    task_id: int
    status: Status
    rules_id: int
    task: dict[str, Any]
    rules: dict[str, Any]
    bond_token: str
    symbol: str
    decimals: int
    arbitrator: str
    fee: int  # the arbitrator's fee for a dispute, in wei
    task_symbol: str  # the task's own token (payouts), usually the bond token too
    task_decimals: int

    @property
    def proposer_bond(self) -> int:
        return int(self.rules["proposerBond"])

    @property
    def dispute_bond(self) -> int:
        return int(self.rules["disputeBond"])

    @property
    def burn_bps(self) -> int:
        return int(self.rules["burnBps"])

    @property
    def reveal_deadline(self) -> int:
        return int(self.task["revealDeadline"])

    @property
    def oracle_deadline(self) -> int:
        return int(self.task["revealDeadline"]) + int(self.task["oracleTimeout"])

    @property
    def bonded_opens_at(self) -> int:
        """Bonded proposals are accepted strictly after this time."""
        return int(self.task["revealDeadline"]) + int(self.rules["committeeGrace"])

    def amount(self, value: int) -> str:
        """An amount of the bond token."""
        return f"{format_amount(value, self.decimals)} {self.symbol}"

    def payout(self, value: int) -> str:
        """An amount of the task's token."""
        return f"{format_amount(value, self.task_decimals)} {self.task_symbol}"


def task_rules(chain: Chain, task_id: int) -> TaskRules:
    if not 0 < task_id < 2**64:
        raise ActionError(f"task {task_id} does not exist")
    task = task_dict(chain.escrow.functions.task(task_id).call())
    status = Status(int(task["status"]))
    if status == Status.NONE:
        count = int(chain.escrow.functions.taskCount().call())
        raise ActionError(f"task {task_id} does not exist (this escrow has {count} tasks)")
    rules_id = int(task["rulesId"])
    rules = rules_dict(chain.committee.functions.rules(rules_id).call())
    bond_token = to_checksum_address(rules["bondToken"])
    symbol, decimals = chain.token_info(bond_token)
    arbitrator = to_checksum_address(rules["arbitrator"])
    fee = int(arbitrator_contract(chain, arbitrator).functions.arbitrationCost(b"").call())
    task_token = to_checksum_address(task["token"])
    task_symbol, task_decimals = (
        (symbol, decimals) if task_token == bond_token else chain.token_info(task_token)
    )
    return TaskRules(
        task_id=task_id,
        status=status,
        rules_id=rules_id,
        task=task,
        rules=rules,
        bond_token=bond_token,
        symbol=symbol,
        decimals=decimals,
        arbitrator=arbitrator,
        fee=fee,
        task_symbol=task_symbol,
        task_decimals=task_decimals,
    )


def pending(chain: Chain, task_id: int) -> Proposal:
    return Proposal.from_raw(chain.committee.functions.pending(task_id).call())


def arbitrator_contract(chain: Chain, address: str) -> Contract:
    return contract_at(chain.w3, "LocalArbitrator", address)


def _eth(wei: int) -> str:
    return f"{format_amount(wei, 18)} ETH"


def _check_bond(chain: Chain, tr: TaskRules, who: str, bond: int, what: str) -> None:
    balance = int(chain.token(tr.bond_token).functions.balanceOf(who).call())
    if balance < bond:
        raise ActionError(
            f"{who} holds {tr.amount(balance)}, less than the {what} of {tr.amount(bond)} "
            f"(rule set {tr.rules_id})"
        )


# --------------------------------------------------------------------------------------------
# disputes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DisputePlan:
    rules: TaskRules
    proposal: Proposal
    disputer: str | None  # None: checked without a wallet (bond and fee not checked)
    now: int

    def describe(self) -> list[str]:
        tr, p = self.rules, self.proposal
        by = f"bonded proposer {p.proposer}" if p.bonded else "the committee"
        return [
            f"task {tr.task_id} round {p.round}: root {p.root}, total {tr.payout(p.total)} "
            f"(by {by}, bond {tr.amount(p.bond)})",
            f"challenge window ends {when(p.challenge_ends, self.now)}",
            f"dispute bond {tr.amount(tr.dispute_bond)} (approved and pulled from "
            f"{self.disputer or 'the disputer'}); arbitration fee {_eth(tr.fee)} to arbitrator "
            f"{tr.arbitrator}",
            f"if the arbitrator rules the payout wrong you get your bond back plus "
            f"{100 - tr.burn_bps / 100:g}% of the proposer's; if it stands you lose "
            f"your bond",
        ]


def plan_dispute(chain: Chain, task_id: int, disputer: str | None) -> DisputePlan:
    """What disputing `task_id`'s proposal takes; refuses whatever the committee would. With
    `disputer` None only the proposal is checked, not a wallet's bond and fee."""
    tr = task_rules(chain, task_id)
    p = pending(chain, task_id)
    now = chain.now()
    if p.disputed:
        raise ActionError(
            f"task {task_id}'s proposal (round {p.round}) is already under dispute "
            f"{p.dispute_id} by {p.disputer}: wait for the arbitrator's ruling"
        )
    if p.challenge_ends == 0:
        if tr.status != Status.FUNDED:
            raise ActionError(f"task {task_id} is {STATUS_WORDS[tr.status]}: nothing to dispute")
        raise ActionError(f"task {task_id} has no pending proposal to dispute (round {p.round})")
    if now >= p.challenge_ends:
        raise ActionError(
            f"task {task_id}'s challenge window closed at {when(p.challenge_ends, now)}: the "
            "proposal can only be finalized now"
        )
    if disputer is None:
        return DisputePlan(rules=tr, proposal=p, disputer=None, now=now)
    disputer = to_checksum_address(disputer)
    _check_bond(chain, tr, disputer, tr.dispute_bond, "dispute bond")
    eth = int(chain.w3.eth.get_balance(disputer))
    if eth <= tr.fee:
        raise ActionError(
            f"{disputer} holds {_eth(eth)}: not enough for the arbitration fee of {_eth(tr.fee)} "
            "and gas"
        )
    return DisputePlan(rules=tr, proposal=p, disputer=disputer, now=now)


@dataclass(frozen=True)
class DisputeSent:
    task_id: int
    dispute_id: int
    arbitrator: str
    bond: int
    tx: str


def dispute(
    chain: Chain, account: LocalAccount, plan: DisputePlan, say: Say = _quiet
) -> DisputeSent:
    """Approve the dispute bond and call committee.dispute{value: fee}."""
    tr = plan.rules
    fn = chain.committee.functions.dispute(tr.task_id)
    receipt = approve_then(
        chain,
        account,
        chain.token(tr.bond_token),
        chain.committee.address,
        tr.dispute_bond,
        fn,
        "dispute",
        value=tr.fee,
        say=say,
    )
    events = chain.committee.events.Disputed().process_receipt(receipt, errors=DISCARD)
    if not events:
        raise ActionError(f"dispute mined but no Disputed event in {tx_hash(receipt)}")
    args = events[0]["args"]
    return DisputeSent(
        task_id=tr.task_id,
        dispute_id=int(args["disputeId"]),
        arbitrator=tr.arbitrator,
        bond=int(args["bond"]),
        tx=tx_hash(receipt),
    )


# --------------------------------------------------------------------------------------------
# bonded proposals
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProposePlan:
    rules: TaskRules
    proposer: str
    root: str
    total: int
    report_hash: str
    inputs_hash: str
    now: int

    def describe(self) -> list[str]:
        tr = self.rules
        return [
            f"task {tr.task_id}: root {self.root}, total {tr.payout(self.total)} of budget "
            f"{tr.payout(int(tr.task['budget']))}",
            f"reportHash {self.report_hash}, inputsHash {self.inputs_hash}",
            f"proposer bond {tr.amount(tr.proposer_bond)} (approved and pulled from "
            f"{self.proposer}); back when the payout is finalized, lost if a dispute rules "
            "it wrong",
            f"then a challenge window of {span_words(int(tr.task['challengePeriod']))} in which "
            "anyone may dispute it",
        ]


def check_proposable(chain: Chain, task_id: int) -> tuple[TaskRules, int]:
    """(rules, now) when anyone may propose for `task_id` now; otherwise why not and when."""
    tr = task_rules(chain, task_id)
    now = chain.now()
    if tr.status != Status.FUNDED:
        raise ActionError(f"task {task_id} is {STATUS_WORDS[tr.status]}: nothing to propose")
    if now <= tr.reveal_deadline:
        raise ActionError(
            f"task {task_id}'s reveal window is open until {when(tr.reveal_deadline, now)}; "
            f"bonded proposals open at {when(tr.bonded_opens_at, now)}"
        )
    if now <= tr.bonded_opens_at:
        raise ActionError(
            f"task {task_id} is in the committee's grace period: bonded proposals open at "
            f"{when(tr.bonded_opens_at, now)}"
        )
    p = pending(chain, task_id)
    if p.disputed:
        raise ActionError(
            f"task {task_id}'s proposal (round {p.round}) is under dispute {p.dispute_id}: wait "
            "for the ruling"
        )
    if p.challenge_ends != 0:
        raise ActionError(
            f"task {task_id} already has a pending proposal (round {p.round}, root {p.root}, "
            f"challenge window ends {when(p.challenge_ends, now)}): dispute it instead"
        )
    if not p.ever_pending and now > tr.oracle_deadline:
        raise ActionError(
            f"too late: no proposal was pending by task {task_id}'s oracle deadline "
            f"{when(tr.oracle_deadline, now)}; the requester can take the budget back"
        )
    return tr, now


def plan_bonded_proposal(
    chain: Chain,
    task_id: int,
    proposer: str,
    root: str,
    total: int,
    report_hash: str,
    inputs_hash: str,
) -> ProposePlan:
    """What a bonded proposal of (root, total, reportHash, inputsHash) takes; refuses whatever
    the committee would (grace period, something pending, too late, over budget, bond)."""
    if root.lower() == ZERO32:
        raise ActionError("the payout root is empty: nothing to propose")
    if inputs_hash.lower() == ZERO32:
        raise ActionError("the inputs hash is empty")
    tr, now = check_proposable(chain, task_id)
    budget = int(tr.task["budget"])
    if total > budget:
        raise ActionError(f"the payout total {total} exceeds task {task_id}'s budget {budget}")
    _check_bond(chain, tr, proposer, tr.proposer_bond, "proposer bond")
    return ProposePlan(
        rules=tr,
        proposer=to_checksum_address(proposer),
        root=root,
        total=total,
        report_hash=report_hash,
        inputs_hash=inputs_hash,
        now=now,
    )


@dataclass(frozen=True)
class ProposalSent:
    task_id: int
    round: int
    challenge_ends: int
    bond: int
    tx: str


def propose_bonded(
    chain: Chain, account: LocalAccount, plan: ProposePlan, say: Say = _quiet
) -> ProposalSent:
    """Approve the proposer bond and call committee.proposeBonded."""
    tr = plan.rules
    fn = chain.committee.functions.proposeBonded(
        tr.task_id,
        HexBytes(plan.root),
        plan.total,
        HexBytes(plan.report_hash),
        HexBytes(plan.inputs_hash),
    )
    receipt = approve_then(
        chain,
        account,
        chain.token(tr.bond_token),
        chain.committee.address,
        tr.proposer_bond,
        fn,
        "proposeBonded",
        say=say,
    )
    events = chain.committee.events.ProposalPending().process_receipt(receipt, errors=DISCARD)
    if not events:
        raise ActionError(f"proposeBonded mined but no ProposalPending event in {tx_hash(receipt)}")
    args = events[0]["args"]
    return ProposalSent(
        task_id=tr.task_id,
        round=int(args["round"]),
        challenge_ends=int(args["challengeEnds"]),
        bond=int(args["bond"]),
        tx=tx_hash(receipt),
    )


# --------------------------------------------------------------------------------------------
# the arbitrator panel (LocalArbitrator)
# --------------------------------------------------------------------------------------------

RULING_NAMES = {
    "refused": Verdict.REFUSED,
    "payout-stands": Verdict.PAYOUT_STANDS,
    "payout-wrong": Verdict.PAYOUT_WRONG,
    "refund-requester": Verdict.REFUND_REQUESTER,
}


def parse_ruling(text: str) -> Verdict:
    """A ruling by name (payout-wrong, ...) or number (0 to 3)."""
    key = text.strip().lower().replace("_", "-")
    if key in RULING_NAMES:
        return RULING_NAMES[key]
    if key.isdigit() and int(key) in {int(v) for v in Verdict}:
        return Verdict(int(key))
    names = ", ".join(f"{n} ({int(v)})" for n, v in RULING_NAMES.items())
    raise ActionError(f"ruling {text!r} is not one of {names}")


def ruling_name(verdict: int) -> str:
    for name, value in RULING_NAMES.items():
        if int(value) == verdict:
            return name
    return str(verdict)


@dataclass(frozen=True)
class VoteCast:
    dispute_id: int
    task_id: int
    ruling: Verdict
    votes: int
    quorum: int
    applied: bool
    tx: str


def arbitrate(
    chain: Chain,
    account: LocalAccount,
    dispute_id: int,
    ruling: Verdict,
    arbitrator: str | None = None,
    say: Say = _quiet,
) -> VoteCast:
    """A panel member's vote on a LocalArbitrator dispute; the vote reaching the quorum applies
    the ruling to the committee."""
    address = arbitrator or chain.deployment.arbitrator
    if not is_address(address) or int(address, 16) == 0:
        raise ActionError("this deployment names no arbitrator: give --arbitrator ADDRESS")
    arb = arbitrator_contract(chain, address)
    me = account.address
    try:
        panel = [to_checksum_address(m) for m in arb.functions.panel().call()]
        count = int(arb.functions.disputeCount().call())
        quorum = int(arb.functions.quorum().call())
    except Exception:
        raise ActionError(f"{address} is not a LocalArbitrator (no panel to vote in)") from None
    if me not in panel:
        raise ActionError(f"{me} is not on the panel of arbitrator {address} ({', '.join(panel)})")
    if not 0 <= dispute_id < count:
        raise ActionError(f"dispute {dispute_id} does not exist (arbitrator {address} has {count})")
    if int(arb.functions.disputeStatus(dispute_id).call()) != 0:
        current = ruling_name(int(arb.functions.currentRuling(dispute_id).call()))
        raise ActionError(f"dispute {dispute_id} is already decided ({current})")
    task_id = int(chain.committee.functions.disputeTask(arb.address, dispute_id).call())
    say(f"voting {ruling_name(int(ruling))} on dispute {dispute_id}")
    receipt = send(chain, account, arb.functions.vote(dispute_id, int(ruling)), "vote")
    voted = arb.events.Voted().process_receipt(receipt, errors=DISCARD)
    ruled = arb.events.Ruled().process_receipt(receipt, errors=DISCARD)
    return VoteCast(
        dispute_id=dispute_id,
        task_id=task_id,
        ruling=ruling,
        votes=int(voted[0]["args"]["votes"]) if voted else 0,
        quorum=quorum,
        applied=bool(ruled),
        tx=tx_hash(receipt),
    )


# --------------------------------------------------------------------------------------------
# the committee's stake
# --------------------------------------------------------------------------------------------


def stake_of(chain: Chain, token: str) -> int:
    return int(chain.committee.functions.stake(to_checksum_address(token)).call())


@dataclass(frozen=True)
class StakeFunded:
    token: str
    amount: int
    stake: int
    tx: str


def fund_stake(
    chain: Chain, account: LocalAccount, token: str, amount: int, say: Say = _quiet
) -> StakeFunded:
    """Approve and fundStake(token, amount): the stake backs committee proposals."""
    if amount <= 0:
        raise ActionError("the amount must be positive")
    contract = chain.token(token)
    balance = int(contract.functions.balanceOf(account.address).call())
    if balance < amount:
        symbol, decimals = chain.token_info(token)
        raise ActionError(
            f"{account.address} holds {format_amount(balance, decimals)} {symbol}, less than "
            f"{format_amount(amount, decimals)} {symbol}"
        )
    fn = chain.committee.functions.fundStake(contract.address, amount)
    receipt = approve_then(
        chain, account, contract, chain.committee.address, amount, fn, "fundStake", say=say
    )
    return StakeFunded(
        token=contract.address, amount=amount, stake=stake_of(chain, token), tx=tx_hash(receipt)
    )
