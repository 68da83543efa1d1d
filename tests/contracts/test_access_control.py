"""Access-control matrix: every state-changing function of every contract against every role.

Each (function, caller) pair either succeeds, with its effect checked, or reverts with the exact
access error: OpenZeppelin's ``AccessControlUnauthorizedAccount(account, role)`` (or
``AccessControlBadConfirmation()`` for renouncing someone else's role), ``NotRequester``,
``NotCommittee`` or ``NotEscrow``. The state every call needs (funded, final and pending tasks,
balances, approvals) is built once per module, so a caller that is refused is refused for its
role alone. Functions anyone may call are shown to work from strangers (relayer, rando) too.
"""

from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from eth_account import Account

from labelproof.commitments import sign_attestation

E18 = 10**18
BUDGET = 1_000 * E18
DAY = 86_400
X = b"\x0a" * 32
REPORT = b"\x33" * 32
ROOT = b"\x11" * 32
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"

ROLE_NAMES = ["admin", "guardian", "oracle", "requester", "annotator", "relayer", "rando"]


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
    escrow,
    registry,
    committee,
    token,
    suite,
    admin,
    guardian,
    oracle,
    requester,
    annotator,
    relayer,
    rando,
    accounts,
    chain,
):
    w = SimpleNamespace()
    w.roles = {
        n: a
        for n, a in zip(
            ROLE_NAMES, (admin, guardian, oracle, requester, annotator, relayer, rando), strict=True
        )
    }
    w.rt = suite.token
    w.holder = accounts[14]
    for who in w.roles.values():
        token.mint(who, 10 * BUDGET, {"from": admin})
        w.rt.mint(who, 100, {"from": admin})
    w.rt.mint(w.holder, 1_000, {"from": admin})
    for who in w.roles.values():
        w.rt.approve(who, 10, {"from": w.holder})

    # tasks, all created now (same deadlines), then moved along
    w.final = tasks.create()
    w.pending_done = tasks.create()
    w.proposable = tasks.create()
    w.pending_open = tasks.create()
    w.funded = tasks.create()
    w.tree = tasks.tree({annotator: 100 * E18, accounts[7]: 200 * E18})
    tasks.propose(w.final, w.tree.root, 300 * E18)
    tasks.propose(w.pending_done, X, 1, REPORT)
    chain.sleep(DAY + 1)
    committee.finalize(w.final, {"from": oracle})
    w.pending_open_ends = tasks.propose(w.pending_open, X, 1, REPORT).events["ProposalPending"][
        "challengeEnds"
    ]
    w.open = tasks.create()  # annotation window open from here
    w.signer = Account.create()
    w.signed = sign_attestation(w.signer.key, chain.id, registry.address, w.open, ROOT, 3, 1)
    for who in w.roles.values():  # after tasks.create, which sets the requester's allowance
        token.approve(escrow, 10 * BUDGET, {"from": who})
    return w


@dataclass
class Action:
    call: object  # (ctx, caller) -> tx
    allowed: object  # "anyone", or a tuple of role names
    denied: object = None  # (ctx, caller) -> (error name, *args)
    check: object = None  # (ctx, caller, tx) -> None
    setup: object = None  # (ctx) -> None, run before the call whatever the caller


def ac(role_attr):
    return lambda c, who: ("AccessControlUnauthorizedAccount", who, getattr(c.ROLE, role_attr))


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


FRESH = "0x00000000000000000000000000000000000C0FFE"

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
        check=lambda c, who, tx: c.escrow.task(c.w.proposable)["status"] == 3,
    ),
    "escrow.claim": Action(call=_claim, allowed="anyone", check=_check_claimed),
    "escrow.claimMany": Action(call=_claim_many, allowed="anyone", check=_check_claimed),
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
        allowed=("admin",),
        denied=ac("ADMIN"),
        check=lambda c, who, tx: c.escrow.hasRole(c.ROLE.GUARDIAN, FRESH),
    ),
    "escrow.revokeRole": Action(
        call=lambda c, who: c.escrow.revokeRole(c.ROLE.GUARDIAN, c.guardian, {"from": who}),
        allowed=("admin",),
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
        call=lambda c, who: c.committee.propose(c.w.proposable, X, 1, REPORT, {"from": who}),
        allowed=("oracle",),
        denied=ac("ORACLE"),
        check=lambda c, who, tx: c.committee.isPending(c.w.proposable),
    ),
    "committee.veto": Action(
        call=lambda c, who: c.committee.veto(c.w.pending_open, "no", {"from": who}),
        allowed=("guardian",),
        denied=ac("GUARDIAN"),
        check=lambda c, who, tx: not c.committee.isPending(c.w.pending_open),
    ),
    "committee.finalize": Action(
        call=lambda c, who: c.committee.finalize(c.w.pending_done, {"from": who}),
        allowed="anyone",
        check=lambda c, who, tx: c.escrow.task(c.w.pending_done)["status"] == 3,
    ),
    "committee.setThreshold": Action(
        call=lambda c, who: c.committee.setThreshold(1, {"from": who}),
        allowed=("admin",),
        denied=ac("ADMIN"),
        check=lambda c, who, tx: tx.events["ThresholdChanged"]["threshold"] == 1,
    ),
    "committee.grantRole": Action(
        call=lambda c, who: c.committee.grantRole(c.ROLE.ORACLE, FRESH, {"from": who}),
        allowed=("admin",),
        denied=ac("ADMIN"),
        check=lambda c, who, tx: c.committee.oracleSlot(FRESH) == 1,
    ),
    "committee.revokeRole": Action(
        call=lambda c, who: c.committee.revokeRole(c.ROLE.ORACLE, c.oracle, {"from": who}),
        allowed=("admin",),
        denied=ac("ADMIN"),
        check=lambda c, who, tx: not c.committee.hasRole(c.ROLE.ORACLE, c.oracle),
    ),
    "committee.renounceRole": Action(
        call=lambda c, who: c.committee.renounceRole(c.ROLE.ORACLE, c.oracle, {"from": who}),
        allowed=("oracle",),
        denied=lambda c, who: ("AccessControlBadConfirmation",),
        check=lambda c, who, tx: not c.committee.hasRole(c.ROLE.ORACLE, c.oracle),
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
    "escrow.recordPayout": "committee",
    "registry.openTask": "escrow",
    "registry.closeTask": "escrow",
}


@pytest.fixture
def ctx(
    world,
    tasks,
    escrow,
    registry,
    committee,
    token,
    chain,
    permit,
    ROLE,
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
        token=token,
        chain=chain,
        permit=permit,
        ROLE=ROLE,
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
    """recordPayout from the committee, openTask/closeTask from the escrow (impersonated)."""
    caller = as_contract(getattr(ctx, CONTRACT_CALLERS[name]))
    tx = ACTIONS[name].call(ctx, caller)
    assert tx.status == 1
    assert ACTIONS[name].check(ctx, caller, tx)


def test_every_action_is_covered():
    """Keeps the matrix honest: every external state-changing function of the four contracts
    (from their ABIs) has a row."""
    from brownie import AttestationRegistry, OracleCommittee, RewardToken, TaskEscrow

    prefixes = {
        TaskEscrow: "escrow",
        AttestationRegistry: "registry",
        OracleCommittee: "committee",
        RewardToken: "rewardToken",
    }
    expected = set()
    for container, prefix in prefixes.items():
        for item in container.abi:
            if item["type"] == "function" and item["stateMutability"] not in ("view", "pure"):
                expected.add(f"{prefix}.{item['name']}")
    assert expected == set(ACTIONS)
