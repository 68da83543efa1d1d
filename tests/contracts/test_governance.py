"""Governance: the LabelproofTimelock is the only admin of the escrow and owner of the committee;
every change waits out its delay and applies to tasks created afterwards only."""

import pytest

from labelproof.settlement import RULES_FIELDS, rules_dict
from tests.contracts.settlement_helpers import DAY, INPUTS, REPORT, TIMELOCK_DELAY, ZERO_ADDRESS

X = b"\x0a" * 32
Y = b"\x0b" * 32
READY = (1 << 2).to_bytes(32, "big")  # TimelockController._encodeStateBitmap(Ready)


def new_rules(committee, **changes):
    """Rule set 1 with some fields changed, as the tuple publishRules takes."""
    r = rules_dict(committee.rules(1))
    r.update(changes)
    r["oracles"] = [getattr(o, "address", o) for o in r["oracles"]]
    return tuple(r[name] for name in RULES_FIELDS)


def grants(contract, from_block, event="RoleGranted"):
    return [
        (bytes(e.args["role"]), e.args["account"])
        for e in contract.events.get_sequence(from_block, event_type=event)
    ]


# ------------------------------------------------------------------------------------------
# who administers what
# ------------------------------------------------------------------------------------------


def test_timelock_is_the_only_admin_and_owner(suite, timelock, admin, guardian, ROLE):
    escrow, committee = suite.escrow, suite.committee
    start = suite.deployment.block
    assert committee.owner() == timelock
    assert [
        (e.args["previousOwner"], e.args["newOwner"])
        for e in committee.events.get_sequence(start, event_type="OwnershipTransferred")
    ] == [(ZERO_ADDRESS, timelock.address)]

    assert escrow.hasRole(ROLE.ADMIN, timelock)
    assert not escrow.hasRole(ROLE.ADMIN, admin)
    # every role the escrow ever granted: the timelock administers, the guardian pauses
    assert grants(escrow, start) == [
        (ROLE.ADMIN, timelock.address),
        (ROLE.GUARDIAN, guardian.address),
    ]

    # the timelock administers itself; the admin may only propose (and cancel) changes
    assert timelock.getMinDelay() == TIMELOCK_DELAY
    assert timelock.hasRole(ROLE.ADMIN, timelock)
    assert not timelock.hasRole(ROLE.ADMIN, admin)
    assert grants(timelock, start) == [
        (ROLE.ADMIN, timelock.address),
        (ROLE.PROPOSER, admin.address),
        (ROLE.CANCELLER, admin.address),
        (ROLE.EXECUTOR, ZERO_ADDRESS),  # anyone executes a ready change
    ]


def test_admin_cannot_act_directly(suite, timelock, admin, guardian, rando, ROLE, reverts_with):
    escrow, committee, token = suite.escrow, suite.committee, suite.token
    owner_only = reverts_with("OwnableUnauthorizedAccount", admin)
    with owner_only:
        committee.publishRules(new_rules(committee, threshold=1), {"from": admin})
    with reverts_with("OwnableUnauthorizedAccount", admin):
        committee.revokeOracle(1, committee.rules(1)[0][0], {"from": admin})
    with reverts_with("OwnableUnauthorizedAccount", admin):
        committee.withdrawStake(token, admin, 0, {"from": admin})
    with reverts_with("OwnableUnauthorizedAccount", admin):
        committee.transferOwnership(admin, {"from": admin})
    with reverts_with("OwnableUnauthorizedAccount", admin):
        committee.renounceOwnership({"from": admin})

    with reverts_with("AccessControlUnauthorizedAccount", admin, ROLE.ADMIN):
        escrow.grantRole(ROLE.GUARDIAN, admin, {"from": admin})
    with reverts_with("AccessControlUnauthorizedAccount", admin, ROLE.ADMIN):
        escrow.revokeRole(ROLE.GUARDIAN, guardian, {"from": admin})
    with reverts_with("AccessControlUnauthorizedAccount", admin, ROLE.GUARDIAN):
        escrow.pause({"from": admin})

    with reverts_with("TimelockUnauthorizedCaller", admin):
        timelock.updateDelay(0, {"from": admin})
    with reverts_with("AccessControlUnauthorizedAccount", admin, ROLE.ADMIN):
        timelock.grantRole(ROLE.EXECUTOR, admin, {"from": admin})


# ------------------------------------------------------------------------------------------
# the delay
# ------------------------------------------------------------------------------------------


def test_change_waits_out_the_delay(suite, gov, rando, warp, reverts_with):
    committee = suite.committee
    op, data, salt = gov.schedule(committee, "publishRules", new_rules(committee))
    ready_at = int(gov.timelock.getTimestamp(op))
    with reverts_with("TimelockUnexpectedOperationState", op, READY):
        gov.execute(committee, data, salt)
    warp(ready_at - 1)
    with reverts_with("TimelockUnexpectedOperationState", op, READY):
        gov.execute(committee, data, salt)
    warp(ready_at)
    tx = gov.execute(committee, data, salt, sender=rando)  # anyone executes
    assert tx.events["RulesPublished"]["rulesId"] == 2
    assert committee.rulesCount() == 2
    with reverts_with("TimelockUnexpectedOperationState", op, READY):
        gov.execute(committee, data, salt)  # once only


def test_delay_below_minimum_and_outsiders_refused(suite, gov, rando, ROLE, reverts_with):
    committee = suite.committee
    with reverts_with("TimelockInsufficientDelay", TIMELOCK_DELAY - 1, TIMELOCK_DELAY):
        gov.schedule(committee, "publishRules", new_rules(committee), delay=TIMELOCK_DELAY - 1)
    data = committee.publishRules.encode_input(new_rules(committee))
    with reverts_with("AccessControlUnauthorizedAccount", rando, ROLE.PROPOSER):
        gov.timelock.schedule(
            committee, 0, data, b"\x00" * 32, b"\x01" * 32, TIMELOCK_DELAY, {"from": rando}
        )


def test_cancelled_change_never_applies(suite, gov, admin, warp, reverts_with):
    committee = suite.committee
    op, data, salt = gov.schedule(committee, "publishRules", new_rules(committee))
    gov.timelock.cancel(op, {"from": admin})
    warp(chain_time(gov) + TIMELOCK_DELAY + 1)
    with reverts_with("TimelockUnexpectedOperationState", op, READY):
        gov.execute(committee, data, salt)
    assert committee.rulesCount() == 1


def chain_time(gov):
    return gov.chain[-1].timestamp


# ------------------------------------------------------------------------------------------
# rule sets apply to new tasks only
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def newcomer(accounts):
    return accounts[17]


def test_new_oracle_set_applies_to_new_tasks_only(
    suite2of3, tasks2of3, gov2of3, oracles, newcomer, reverts_with
):
    """Governance installs one oracle of its own with threshold 1. A task created before keeps
    its 2-of-3 oracles: the newcomer cannot vote on it and one old oracle is not enough."""
    committee = suite2of3.committee
    old = tasks2of3.create()
    tx = gov2of3.call(
        committee, "publishRules", new_rules(committee, oracles=[newcomer], threshold=1)
    )
    assert tx.events["RulesPublished"]["rulesId"] == 2
    assert committee.currentRules()[0] == 2
    new = tasks2of3.create()
    assert (tasks2of3.task(old)["rulesId"], tasks2of3.task(new)["rulesId"]) == (1, 2)

    tasks2of3.past_reveal(new)
    with reverts_with("NotOracle", old, newcomer):
        committee.propose(old, X, 1, REPORT, INPUTS, {"from": newcomer})
    tx = committee.propose(old, X, 1, REPORT, INPUTS, {"from": oracles[0]})
    assert "ProposalPending" not in tx.events
    tx = committee.propose(old, X, 1, REPORT, INPUTS, {"from": oracles[1]})
    assert "ProposalPending" in tx.events

    with reverts_with("NotOracle", new, oracles[0]):
        committee.propose(new, Y, 1, REPORT, INPUTS, {"from": oracles[0]})
    tx = committee.propose(new, Y, 1, REPORT, INPUTS, {"from": newcomer})
    assert "ProposalPending" in tx.events


def test_new_guardian_cannot_veto_old_tasks(suite, tasks, gov, guardian, newcomer, reverts_with):
    committee = suite.committee
    old = tasks.create()
    gov.call(committee, "publishRules", new_rules(committee, guardian=newcomer))
    tasks.propose(old, X, 1)
    with reverts_with("NotGuardian", old, newcomer):
        committee.veto(old, "taking over", {"from": newcomer})
    committee.veto(old, "the task's own guardian", {"from": guardian})


def test_raised_floors_apply_to_new_tasks_only(suite, tasks, gov, annotator, rando, reverts_with):
    committee = suite.committee
    old = tasks.create(claim=30 * DAY)
    gov.call(committee, "publishRules", new_rules(committee, minClaimPeriod=60 * DAY))
    assert committee.currentRules()[2] == 60 * DAY
    with reverts_with("PeriodBelowFloor", "claimPeriod", 30 * DAY, 60 * DAY):
        tasks.create(claim=30 * DAY)
    tree, _ = tasks.finalize(old, {annotator: 10})
    _, proof = tasks.leaf(tree, annotator)
    suite.escrow.claim(old, annotator, 10, proof, {"from": rando})
    assert tasks.task(old)["claimPeriod"] == 30 * DAY


def test_invalid_rules_are_refused(suite, gov, guardian, oracle, reverts_with):
    committee = suite.committee
    for changes, reason in [
        ({"threshold": 2}, "threshold: 1 to oracles"),
        ({"oracles": []}, "oracles: 1 to 32"),
        ({"oracles": [oracle, oracle]}, "oracles: duplicate"),
        ({"oracles": [guardian]}, "guardian: also an oracle"),
        ({"burnBps": 10_001}, "burnBps: above 10000"),
        ({"arbitrator": ZERO_ADDRESS}, "arbitrator: zero"),
        ({"committeeGrace": DAY}, "committeeGrace: not below minProposalWindow"),
    ]:
        with reverts_with("InvalidRules", reason):
            gov.call(committee, "publishRules", new_rules(committee, **changes))
    assert committee.rulesCount() == 1


def test_guardians_are_granted_and_revoked_through_the_timelock(
    suite, gov, guardian, rando, ROLE, reverts_with
):
    escrow = suite.escrow
    gov.call(escrow, "grantRole", ROLE.GUARDIAN, rando)
    gov.call(escrow, "revokeRole", ROLE.GUARDIAN, guardian)
    with reverts_with("AccessControlUnauthorizedAccount", guardian, ROLE.GUARDIAN):
        escrow.pause({"from": guardian})
    escrow.pause({"from": rando})
    assert escrow.paused()


def test_governance_cannot_withdraw_locked_stake(suite, tasks, gov, admin, rando, reverts_with):
    """The stake behind a pending proposal is locked: governance can only move the rest."""
    committee, token = suite.committee, suite.token
    bond = rules_dict(committee.rules(1))["proposerBond"]
    token.mint(admin, bond + 5, {"from": admin})
    token.approve(committee, bond + 5, {"from": admin})
    committee.fundStake(token, bond + 5, {"from": admin})
    tid = tasks.create()
    tasks.propose(tid, X, 1)
    assert committee.stake(token) == 5
    with reverts_with("InsufficientStake", token, 5, 6):
        gov.call(committee, "withdrawStake", token, rando, 6)
    tx = gov.call(committee, "withdrawStake", token, rando, 5)
    assert tx.events["StakeWithdrawn"]["amount"] == 5
    assert token.balanceOf(rando) == 5
    assert token.balanceOf(committee) == bond
