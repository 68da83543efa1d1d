"""Access-control matrix: every state-changing function of every contract against every role.

Each (function, caller) pair either succeeds, with its effect checked, or reverts with the exact
access error: OpenZeppelin's ``AccessControlUnauthorizedAccount(account, role)`` (or
``AccessControlBadConfirmation()`` for renouncing someone else's role),
``OwnableUnauthorizedAccount(account)`` (the committee's owner is the timelock), ``NotRequester``,
``NotOracle``, ``NotGuardian``, ``NotCommittee``, ``NotEscrow``, ``UnknownDispute`` (only the
arbitrator holding a dispute may rule on it) or ``NotPanelMember``. The state every call needs
(funded, final, pending and disputed tasks, balances, approvals) is built once per module, so a
caller that is refused is refused for its role alone. Functions anyone may call are shown to
work from strangers (relayer, rando) too. Functions only a contract may call (the timelock, the
committee, the escrow, the arbitrator) are refused to every account and shown to work from the
impersonated contract; the timelock ones also through a real schedule / execute.

The admin account holds no power over the escrow or the committee: it only proposes to the
timelock (and administers the reward token).
"""

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from eth_account import Account

from labelproof.commitments import sign_attestation
from labelproof.multiproof import multiproof
from labelproof.settlement import rules_dict

E18 = 10**18
BUDGET = 1_000 * E18
BOND = 100 * E18  # proposer and dispute bond of rule set 1
DAY = 86_400
X = b"\x0a" * 32
Y = b"\x0b" * 32
REPORT = b"\x33" * 32
INPUTS = b"\x44" * 32
ROOT = b"\x11" * 32
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"

ROLE_NAMES = [
    "admin",
    "guardian",
    "oracle",
    "requester",
    "annotator",
    "relayer",
    "rando",
    "arbiter",
]


def anvil_key(account) -> bytes:
    """Private key of one of anvil's default accounts (for real permit signatures)."""
    from brownie import accounts

    Account.enable_unaudited_hdwallet_features()
    index = list(accounts).index(account)
    acct = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    assert acct.address == account.address
    return bytes(acct.key)


@pytest.fixture(scope="module")
def world(
    tasks,
    tasks2of3,
    escrow,
    registry,
    committee,
    token,
    suite,
    suite2of3,
    admin,
    guardian,
    oracle,
    oracles,
    requester,
    annotator,
    relayer,
    rando,
    arbiter,
    accounts,
    chain,
):
    w = SimpleNamespace()
    w.roles = {
        n: a
        for n, a in zip(
            ROLE_NAMES,
            (admin, guardian, oracle, requester, annotator, relayer, rando, arbiter),
            strict=True,
        )
    }
    w.rt = suite.token  # the reward token, also rule set 1's bond token
    w.holder = accounts[14]
    for who in w.roles.values():
        token.mint(who, 10 * BUDGET, {"from": admin})
        w.rt.mint(who, 2 * BOND + 100, {"from": admin})
        w.rt.approve(committee, 2 * BOND, {"from": who})  # bonds and stake
    w.rt.mint(w.holder, 1_000, {"from": admin})
    for who in w.roles.values():
        w.rt.approve(who, 10, {"from": w.holder})

    # tasks, all created now (same deadlines), then moved along
    w.final = tasks.create()
    w.pending_done = tasks.create()
    w.proposable = tasks.create()
    w.bondable = tasks.create()
    w.pending_open = tasks.create()
    w.disputed = tasks.create()
    w.funded = tasks.create()
    w.stuck = tasks2of3.create()
    w.tree = tasks.tree({annotator: 100 * E18, accounts[7]: 200 * E18})
    tasks.propose(w.final, w.tree.root, 300 * E18)
    tasks.propose(w.pending_done, X, 1, REPORT)
    for o, root in zip(oracles, (X, Y, ROOT), strict=True):  # three payouts: a stuck round
        tasks2of3.propose(w.stuck, root, 1, voters=[o])
    chain.sleep(DAY + 1)
    committee.finalize(w.final, {"from": oracle})
    # past the committee's grace for w.bondable, inside the challenge windows below
    tasks.propose(w.pending_open, X, 1, REPORT)
    tasks.propose(w.disputed, X, 2, REPORT)
    w.dispute_id = committee.dispute(w.disputed, {"from": rando}).return_value
    w.open = tasks.create()  # annotation window open from here
    w.signer = Account.create()
    w.signed = sign_attestation(w.signer.key, chain.id, registry.address, w.open, ROOT, 3, 1)
    for who in w.roles.values():  # after tasks.create, which sets the requester's allowance
        token.approve(escrow, 10 * BUDGET, {"from": who})
    w.rt.mint(requester, 50 * E18, {"from": admin})
    committee.fundStake(w.rt, 50 * E18, {"from": requester})
    w.rules = rules_dict(committee.rules(1))
    return w


@dataclass
class Action:
    call: Any  # (ctx, caller) -> tx
    allowed: Any  # "anyone", or a tuple of role / contract names
    denied: Any = None  # (ctx, caller) -> (error name, *args)
    check: Any = None  # (ctx, caller, tx) -> None
    setup: Any = None  # (ctx) -> None, run before the call whatever the caller


def ac(role_attr):
    return lambda c, who: ("AccessControlUnauthorizedAccount", who, getattr(c.ROLE, role_attr))


def owner_only(c, who):
    return ("OwnableUnauthorizedAccount", who)


def _permit_create(c, who):
    deadline = c.chain.time() + 3600
    v, r, s = c.permit.sign(anvil_key(who), c.token, c.escrow.address, BUDGET, deadline)
    c.token.approve(c.escrow, 0, {"from": who})  # only the permit can allow it
    return c.escrow.createTaskWithPermit(
        c.token, BUDGET, c.tasks.params(c.chain), deadline, v, r, s, {"from": who}
    )


def _check_created(c, who, tx):
    tid = tx.events["TaskCreated"]["taskId"]
    assert c.escrow.task(tid)["requester"] == who


def _claim(c, who):
    amount, proof = c.tasks.leaf(c.w.tree, c.annotator)
    return c.escrow.claim(c.w.final, c.annotator, amount, proof, {"from": who})


def _claim_many(c, who):
    amount, proof = c.tasks.leaf(c.w.tree, c.annotator)
    return c.escrow.claimMany(c.annotator, [(c.w.final, amount, proof)], {"from": who})


def _claim_batch(c, who):
    index = next(i for i, v in c.w.tree.entries() if v[0] == c.annotator.address)
    mp = multiproof(c.w.tree, [index])
    accounts, amounts = [v[0] for v in mp.values], [int(v[1]) for v in mp.values]
    return c.escrow.claimBatch(
        c.w.final, accounts, amounts, mp.proof, mp.proof_flags, {"from": who}
    )


def _check_claimed(c, who, tx):
    ev = tx.events["Claimed"]
    assert (ev["taskId"], ev["account"], ev["amount"]) == (c.w.final, c.annotator, 100 * E18)
    assert c.escrow.isClaimed(c.w.final, c.annotator)


def _check_refunded(c, who, tx):
    ev = tx.events["Refunded"]
    assert (ev["requester"], ev["amount"]) == (c.requester, BUDGET - 300 * E18)


def _permit_rt(c, who):
    owner = Account.create()
    c.w.rt.mint(owner.address, 5, {"from": c.admin})
    deadline = c.chain.time() + 3600
    v, r, s = c.permit.sign(owner.key, c.w.rt, c.rando.address, 5, deadline)
    c.w.owner = owner
    return c.w.rt.permit(owner.address, c.rando, 5, deadline, v, r, s, {"from": who})


def _new_rules(c):
    return tuple({**c.w.rules, "threshold": 1, "minChallengePeriod": 2 * DAY}.values())


FRESH = "0x00000000000000000000000000000000000C0FFE"
ZERO_ADDRESS = "0x" + "00" * 20

ACTIONS = {
    # ---------------------------------------------------------------- TaskEscrow
    "escrow.createTask": Action(
        call=lambda c, who: c.escrow.createTask(
            c.token, BUDGET, c.tasks.params(c.chain), {"from": who}
        ),
        allowed="anyone",
        check=_check_created,
    ),
    "escrow.createTaskWithPermit": Action(
        call=_permit_create, allowed="anyone", check=_check_created
    ),
    "escrow.cancelTask": Action(
        call=lambda c, who: c.escrow.cancelTask(c.w.funded, {"from": who}),
        allowed=("requester",),
        denied=lambda c, who: ("NotRequester", c.w.funded, who),
        check=lambda c, who, tx: tx.events["TaskCancelled"]["taskId"] == c.w.funded,
    ),
    "escrow.recordPayout": Action(
        call=lambda c, who: c.escrow.recordPayout(c.w.proposable, X, 1, REPORT, {"from": who}),
        allowed=("committee",),
        denied=lambda c, who: ("NotCommittee", who),
        check=lambda c, who, tx: c.escrow.task(c.w.proposable)["status"] == c.S.FINAL,
    ),
    "escrow.refundByRuling": Action(
        call=lambda c, who: c.escrow.refundByRuling(c.w.proposable, {"from": who}),
        allowed=("committee",),
        denied=lambda c, who: ("NotCommittee", who),
        check=lambda c, who, tx: tx.events["Refunded"]["kind"] == c.K.RULING,
    ),
    "escrow.claim": Action(call=_claim, allowed="anyone", check=_check_claimed),
    "escrow.claimMany": Action(call=_claim_many, allowed="anyone", check=_check_claimed),
    "escrow.claimBatch": Action(call=_claim_batch, allowed="anyone", check=_check_claimed),
    "escrow.refund": Action(
        call=lambda c, who: c.escrow.refund(c.w.final, {"from": who}),
        allowed="anyone",
        check=_check_refunded,
    ),
    "escrow.pause": Action(
        call=lambda c, who: c.escrow.pause({"from": who}),
        allowed=("guardian",),
        denied=ac("GUARDIAN"),
        check=lambda c, who, tx: c.escrow.paused(),
    ),
    "escrow.unpause": Action(
        setup=lambda c: c.escrow.pause({"from": c.guardian}),
        call=lambda c, who: c.escrow.unpause({"from": who}),
        allowed=("guardian",),
        denied=ac("GUARDIAN"),
        check=lambda c, who, tx: not c.escrow.paused(),
    ),
    "escrow.grantRole": Action(
        call=lambda c, who: c.escrow.grantRole(c.ROLE.GUARDIAN, FRESH, {"from": who}),
        allowed=("timelock",),
        denied=ac("ADMIN"),
        check=lambda c, who, tx: c.escrow.hasRole(c.ROLE.GUARDIAN, FRESH),
    ),
    "escrow.revokeRole": Action(
        call=lambda c, who: c.escrow.revokeRole(c.ROLE.GUARDIAN, c.guardian, {"from": who}),
        allowed=("timelock",),
        denied=ac("ADMIN"),
        check=lambda c, who, tx: not c.escrow.hasRole(c.ROLE.GUARDIAN, c.guardian),
    ),
    "escrow.renounceRole": Action(
        call=lambda c, who: c.escrow.renounceRole(c.ROLE.GUARDIAN, c.guardian, {"from": who}),
        allowed=("guardian",),
        denied=lambda c, who: ("AccessControlBadConfirmation",),
        check=lambda c, who, tx: not c.escrow.hasRole(c.ROLE.GUARDIAN, c.guardian),
    ),
    # ---------------------------------------------------------------- AttestationRegistry
    "registry.openTask": Action(
        call=lambda c, who: c.registry.openTask(999, 2**40, {"from": who}),
        allowed=("escrow",),
        denied=lambda c, who: ("NotEscrow", who),
        check=lambda c, who, tx: tuple(c.registry.window(999)) == (2**40, True),
    ),
    "registry.closeTask": Action(
        call=lambda c, who: c.registry.closeTask(c.w.open, {"from": who}),
        allowed=("escrow",),
        denied=lambda c, who: ("NotEscrow", who),
        check=lambda c, who, tx: not tuple(c.registry.window(c.w.open))[1],
    ),
    "registry.closeAnnotation": Action(
        call=lambda c, who: c.registry.closeAnnotation(c.w.open, {"from": who}),
        allowed=("escrow",),
        denied=lambda c, who: ("NotEscrow", who),
        check=lambda c, who, tx: tuple(c.registry.window(c.w.open)) == (tx.timestamp, True),
    ),
    "registry.attest": Action(
        call=lambda c, who: c.registry.attest(c.w.open, ROOT, 3, {"from": who}),
        allowed="anyone",
        check=lambda c, who, tx: c.registry.isAttested(c.w.open, who, ROOT, 3),
    ),
    "registry.attestBySig": Action(
        call=lambda c, who: c.registry.attestBySig([c.w.signed.as_tuple()], {"from": who}),
        allowed="anyone",
        check=lambda c, who, tx: c.registry.isAttested(c.w.open, c.w.signer.address, ROOT, 3),
    ),
    # ---------------------------------------------------------------- OracleCommittee
    "committee.propose": Action(
        call=lambda c, who: c.committee.propose(
            c.w.proposable, X, 1, REPORT, INPUTS, {"from": who}
        ),
        allowed=("oracle",),
        denied=lambda c, who: ("NotOracle", c.w.proposable, who),
        check=lambda c, who, tx: c.committee.isPending(c.w.proposable),
    ),
    "committee.proposeBonded": Action(
        call=lambda c, who: c.committee.proposeBonded(
            c.w.bondable, X, 1, REPORT, INPUTS, {"from": who}
        ),
        allowed="anyone",
        check=lambda c, who, tx: (
            (tx.events["ProposalPending"]["proposer"], tx.events["ProposalPending"]["bond"])
            == (who, BOND)
        ),
    ),
    "committee.restartRound": Action(
        call=lambda c, who: c.c3.restartRound(c.w.stuck, {"from": who}),
        allowed="anyone",
        check=lambda c, who, tx: tx.events["RoundRestarted"]["caller"] == who,
    ),
    "committee.veto": Action(
        call=lambda c, who: c.committee.veto(c.w.pending_open, "no", {"from": who}),
        allowed=("guardian",),
        denied=lambda c, who: ("NotGuardian", c.w.pending_open, who),
        check=lambda c, who, tx: not c.committee.isPending(c.w.pending_open),
    ),
    "committee.dispute": Action(
        call=lambda c, who: c.committee.dispute(c.w.pending_open, {"from": who}),
        allowed="anyone",
        check=lambda c, who, tx: c.committee.pending(c.w.pending_open)["disputer"] == who,
    ),
    "committee.rule": Action(
        call=lambda c, who: c.committee.rule(c.w.dispute_id, 1, {"from": who}),
        allowed=("arbitrator",),
        denied=lambda c, who: ("UnknownDispute", who, c.w.dispute_id),
        check=lambda c, who, tx: (
            tx.events["DisputeResolved"]["taskId"] == c.w.disputed
            and c.committee.isPending(c.w.disputed)
        ),
    ),
    "committee.finalize": Action(
        call=lambda c, who: c.committee.finalize(c.w.pending_done, {"from": who}),
        allowed="anyone",
        check=lambda c, who, tx: c.escrow.task(c.w.pending_done)["status"] == c.S.FINAL,
    ),
    "committee.publishRules": Action(
        call=lambda c, who: c.committee.publishRules(_new_rules(c), {"from": who}),
        allowed=("timelock",),
        denied=owner_only,
        check=lambda c, who, tx: c.committee.rulesCount() == 2,
    ),
    "committee.revokeOracle": Action(
        call=lambda c, who: c.committee.revokeOracle(1, c.oracle, {"from": who}),
        allowed=("timelock",),
        denied=owner_only,
        check=lambda c, who, tx: c.committee.isRevoked(1, c.oracle),
    ),
    "committee.fundStake": Action(
        call=lambda c, who: c.committee.fundStake(c.w.rt, 7, {"from": who}),
        allowed="anyone",
        check=lambda c, who, tx: tx.events["StakeFunded"]["from"] == who,
    ),
    "committee.withdrawStake": Action(
        call=lambda c, who: c.committee.withdrawStake(c.w.rt, FRESH, 10, {"from": who}),
        allowed=("timelock",),
        denied=owner_only,
        check=lambda c, who, tx: c.w.rt.balanceOf(FRESH) == 10,
    ),
    "committee.transferOwnership": Action(
        call=lambda c, who: c.committee.transferOwnership(FRESH, {"from": who}),
        allowed=("timelock",),
        denied=owner_only,
        check=lambda c, who, tx: c.committee.owner() == FRESH,
    ),
    "committee.renounceOwnership": Action(
        call=lambda c, who: c.committee.renounceOwnership({"from": who}),
        allowed=("timelock",),
        denied=owner_only,
        check=lambda c, who, tx: c.committee.owner() == ZERO_ADDRESS,
    ),
    # ---------------------------------------------------------------- LocalArbitrator
    "arbitrator.createDispute": Action(
        call=lambda c, who: c.arbitrator.createDispute(3, b"", {"from": who}),
        allowed="anyone",
        check=lambda c, who, tx: tx.events["DisputeCreation"]["_arbitrable"] == who,
    ),
    "arbitrator.vote": Action(
        call=lambda c, who: c.arbitrator.vote(c.w.dispute_id, 1, {"from": who}),
        allowed=("arbiter",),
        denied=lambda c, who: ("NotPanelMember", who),
        check=lambda c, who, tx: (
            c.arbitrator.currentRuling(c.w.dispute_id) == 1
            and tx.events["DisputeResolved"]["taskId"] == c.w.disputed
        ),
    ),
    "arbitrator.appeal": Action(
        call=lambda c, who: c.arbitrator.appeal(c.w.dispute_id, b"", {"from": who}),
        allowed=(),
        denied=lambda c, who: ("NotAppealable", c.w.dispute_id),
    ),
    # ---------------------------------------------------------------- RewardToken
    "rewardToken.mint": Action(
        call=lambda c, who: c.w.rt.mint(FRESH, 7, {"from": who}),
        allowed=("admin",),
        denied=ac("MINTER"),
        check=lambda c, who, tx: c.w.rt.balanceOf(FRESH) == 7,
    ),
    "rewardToken.grantRole": Action(
        call=lambda c, who: c.w.rt.grantRole(c.ROLE.MINTER, FRESH, {"from": who}),
        allowed=("admin",),
        denied=ac("ADMIN"),
        check=lambda c, who, tx: c.w.rt.hasRole(c.ROLE.MINTER, FRESH),
    ),
    "rewardToken.revokeRole": Action(
        call=lambda c, who: c.w.rt.revokeRole(c.ROLE.MINTER, c.admin, {"from": who}),
        allowed=("admin",),
        denied=ac("ADMIN"),
        check=lambda c, who, tx: not c.w.rt.hasRole(c.ROLE.MINTER, c.admin),
    ),
    "rewardToken.renounceRole": Action(
        call=lambda c, who: c.w.rt.renounceRole(c.ROLE.MINTER, c.admin, {"from": who}),
        allowed=("admin",),
        denied=lambda c, who: ("AccessControlBadConfirmation",),
        check=lambda c, who, tx: not c.w.rt.hasRole(c.ROLE.MINTER, c.admin),
    ),
    "rewardToken.transfer": Action(
        call=lambda c, who: c.w.rt.transfer(FRESH, 3, {"from": who}),
        allowed="anyone",
        check=lambda c, who, tx: c.w.rt.balanceOf(FRESH) == 3,
    ),
    "rewardToken.approve": Action(
        call=lambda c, who: c.w.rt.approve(FRESH, 3, {"from": who}),
        allowed="anyone",
        check=lambda c, who, tx: c.w.rt.allowance(who, FRESH) == 3,
    ),
    "rewardToken.transferFrom": Action(
        call=lambda c, who: c.w.rt.transferFrom(c.w.holder, FRESH, 10, {"from": who}),
        allowed="anyone",
        check=lambda c, who, tx: c.w.rt.balanceOf(FRESH) == 10,
    ),
    "rewardToken.permit": Action(
        call=_permit_rt,
        allowed="anyone",
        check=lambda c, who, tx: c.w.rt.allowance(c.w.owner.address, c.rando) == 5,
    ),
}

# the contracts themselves, as callers of the functions only they may call
CONTRACT_CALLERS = {
    name: caller
    for name, action in ACTIONS.items()
    if action.allowed != "anyone"
    for caller in action.allowed
    if caller in ("timelock", "committee", "escrow", "arbitrator")
}
# everything the timelock may do, each also through a real schedule and execute
TIMELOCK_ONLY = [name for name, caller in CONTRACT_CALLERS.items() if caller == "timelock"]


@pytest.fixture
def ctx(
    world,
    suite,
    suite2of3,
    tasks,
    escrow,
    registry,
    committee,
    token,
    chain,
    permit,
    ROLE,
    S,
    K,
    admin,
    guardian,
    oracle,
    requester,
    annotator,
    rando,
):
    return SimpleNamespace(
        w=world,
        tasks=tasks,
        escrow=escrow,
        registry=registry,
        committee=committee,
        c3=suite2of3.committee,
        timelock=suite.timelock,
        arbitrator=suite.arbitrator,
        token=token,
        chain=chain,
        permit=permit,
        ROLE=ROLE,
        S=S,
        K=K,
        admin=admin,
        guardian=guardian,
        oracle=oracle,
        requester=requester,
        annotator=annotator,
        rando=rando,
    )


@pytest.mark.parametrize("role", ROLE_NAMES)
@pytest.mark.parametrize("name", list(ACTIONS))
def test_matrix(ctx, name, role, reverts_with):
    action = ACTIONS[name]
    caller = ctx.w.roles[role]
    if action.setup:
        action.setup(ctx)
    if action.allowed == "anyone" or role in action.allowed:
        tx = action.call(ctx, caller)
        assert tx.status == 1
        result = action.check(ctx, caller, tx)
        assert result is None or result, f"{name} by {role}: effect missing"
    else:
        with reverts_with(*action.denied(ctx, caller)):
            action.call(ctx, caller)


@pytest.mark.parametrize("name", list(CONTRACT_CALLERS))
def test_contract_callers(ctx, name, as_contract):
    """The timelock (escrow admin, committee owner), the committee (recordPayout,
    refundByRuling), the escrow (registry openTask / closeTask / closeAnnotation) and the
    arbitrator (rule), impersonated."""
    caller = as_contract(getattr(ctx, CONTRACT_CALLERS[name]))
    tx = ACTIONS[name].call(ctx, caller)
    assert tx.status == 1
    assert ACTIONS[name].check(ctx, caller, tx)


@pytest.mark.parametrize("name", TIMELOCK_ONLY)
def test_timelock_functions_through_governance(ctx, name, gov, warp, reverts_with):
    """The same calls, proposed by the admin to the timelock and executed after the delay by
    anyone."""
    target, fn = name.split(".")
    contract = ctx.escrow if target == "escrow" else ctx.committee
    args = {
        "escrow.grantRole": (ctx.ROLE.GUARDIAN, FRESH),
        "escrow.revokeRole": (ctx.ROLE.GUARDIAN, ctx.guardian),
        "committee.publishRules": (_new_rules(ctx),),
        "committee.revokeOracle": (1, ctx.oracle),
        "committee.withdrawStake": (ctx.w.rt, FRESH, 10),
        "committee.transferOwnership": (FRESH,),
        "committee.renounceOwnership": (),
    }[name]
    op, data, salt = gov.schedule(contract, fn, *args)
    ready = int(ctx.timelock.getTimestamp(op))
    assert ready == ctx.chain[-1].timestamp + gov.delay()
    with reverts_with("TimelockUnexpectedOperationState", op, (1 << 2).to_bytes(32, "big")):
        gov.execute(contract, data, salt)  # not ready yet
    warp(ready)
    tx = gov.execute(contract, data, salt, sender=ctx.rando)
    assert tx.status == 1
    assert ACTIONS[name].check(ctx, ctx.timelock, tx) in (None, True)


def test_the_admin_only_proposes(ctx, suite, admin, rando, gov, reverts_with, reverts_ac):
    """Only the admin schedules (PROPOSER, CANCELLER); anyone executes; the timelock
    administers itself (updateDelay only from a timelocked call)."""
    tl = suite.timelock
    assert tl.hasRole(ctx.ROLE.PROPOSER, admin) and tl.hasRole(ctx.ROLE.CANCELLER, admin)
    assert tl.hasRole(ctx.ROLE.EXECUTOR, ZERO_ADDRESS)  # open execution
    assert not tl.hasRole(ctx.ROLE.ADMIN, admin)
    assert tl.hasRole(ctx.ROLE.ADMIN, tl)
    data = ctx.committee.revokeOracle.encode_input(1, ctx.oracle)
    with reverts_ac(rando, ctx.ROLE.PROPOSER):
        tl.schedule(ctx.committee, 0, data, b"\x00" * 32, b"\x00" * 32, 60, {"from": rando})
    with reverts_with("TimelockInsufficientDelay", 59, 60):
        tl.schedule(ctx.committee, 0, data, b"\x00" * 32, b"\x00" * 32, 59, {"from": admin})
    op, _, _ = gov.schedule(ctx.committee, "revokeOracle", 1, ctx.oracle)
    with reverts_ac(rando, ctx.ROLE.CANCELLER):
        tl.cancel(op, {"from": rando})
    tl.cancel(op, {"from": admin})
    assert not tl.isOperation(op)
    with reverts_with("TimelockUnauthorizedCaller", admin):
        tl.updateDelay(1, {"from": admin})


def test_every_action_is_covered():
    """Keeps the matrix honest: every external state-changing function of the five contracts
    (from their ABIs) has a row."""
    from brownie import (
        AttestationRegistry,
        LocalArbitrator,
        OracleCommittee,
        RewardToken,
        TaskEscrow,
    )

    prefixes = {
        TaskEscrow: "escrow",
        AttestationRegistry: "registry",
        OracleCommittee: "committee",
        LocalArbitrator: "arbitrator",
        RewardToken: "rewardToken",
    }
    expected = set()
    for container, prefix in prefixes.items():
        for item in container.abi:
            if item["type"] == "function" and item["stateMutability"] not in ("view", "pure"):
                expected.add(f"{prefix}.{item['name']}")
    assert expected == set(ACTIONS)
