"""OracleCommittee threshold (setThreshold, constructor) and oracle membership (voting slots)."""

import pytest
from brownie import OracleCommittee

DAY = 86_400
X = b"\x0a" * 32
Y = b"\x0b" * 32
REPORT = b"\x33" * 32


def addresses(n, start=1):
    return ["0x" + (0xC0FFEE00 + i).to_bytes(20, "big").hex() for i in range(start, start + n)]


@pytest.fixture(scope="module")
def tid3(tasks2of3):
    tid = tasks2of3.create()
    tasks2of3.past_reveal(tid)
    return tid


@pytest.fixture(scope="module")
def c3(suite2of3):
    return suite2of3.committee


# --------------------------------------------------------------------------------------------
# setThreshold
# --------------------------------------------------------------------------------------------


def test_initial_thresholds(committee, c3):
    assert committee.threshold() == 1
    assert c3.threshold() == 2


def test_set_threshold(c3, admin):
    tx = c3.setThreshold(3, {"from": admin})
    ev = tx.events["ThresholdChanged"]
    assert (ev["previous"], ev["threshold"]) == (2, 3)
    assert c3.threshold() == 3


def test_threshold_cannot_exceed_the_oracles(c3, admin, accounts, ROLE, reverts_with):
    with reverts_with("InvalidThreshold", 4):
        c3.setThreshold(4, {"from": admin})
    c3.grantRole(ROLE.ORACLE, accounts[12], {"from": admin})
    c3.setThreshold(4, {"from": admin})
    assert c3.threshold() == 4


@pytest.mark.parametrize("value", [0, 33, 2**256 - 1])
def test_invalid_threshold(c3, admin, value, reverts_with):
    with reverts_with("InvalidThreshold", value):
        c3.setThreshold(value, {"from": admin})
    assert c3.threshold() == 2


@pytest.mark.parametrize("who", ["guardian", "oracle", "requester", "rando"])
def test_only_admin(c3, who, request, reverts_ac, ROLE):
    caller = request.getfixturevalue(who)
    with reverts_ac(caller, ROLE.ADMIN):
        c3.setThreshold(1, {"from": caller})


def test_lowering_threshold_mid_round(c3, tid3, oracles, admin):
    """One vote for X; at threshold 1 the next vote decides, whichever payout it is for."""
    c3.propose(tid3, X, 5, REPORT, {"from": oracles[0]})
    c3.setThreshold(1, {"from": admin})
    tx = c3.propose(tid3, Y, 6, REPORT, {"from": oracles[1]})
    pend = tx.events["ProposalPending"]
    assert (pend["root"], pend["total"]) == ("0x" + Y.hex(), 6)
    assert c3.pending(tid3)["votes"] == 1


def test_raising_threshold_mid_round(c3, tid3, oracles, admin):
    c3.propose(tid3, X, 5, REPORT, {"from": oracles[0]})
    c3.setThreshold(3, {"from": admin})
    tx = c3.propose(tid3, X, 5, REPORT, {"from": oracles[1]})
    assert "ProposalPending" not in tx.events
    tx = c3.propose(tid3, X, 5, REPORT, {"from": oracles[2]})
    assert tx.events["ProposalPending"]["root"] == "0x" + X.hex()
    assert c3.pending(tid3)["votes"] == 3


def test_revoking_below_the_threshold_stalls_then_times_out(
    c3, suite2of3, tid3, oracles, admin, requester, warp, K, ROLE
):
    """Threshold 3, then one oracle revoked: nothing can become pending any more, and the
    requester is refunded at the oracle deadline (revocation is never blocked)."""
    c3.setThreshold(3, {"from": admin})
    c3.revokeRole(ROLE.ORACLE, oracles[2], {"from": admin})
    for o in oracles[:2]:
        tx = c3.propose(tid3, X, 5, REPORT, {"from": o})
        assert "ProposalPending" not in tx.events
    warp(suite2of3.escrow.oracleDeadline(tid3) + 1)
    tx = suite2of3.escrow.refund(tid3, {"from": requester})
    assert tx.events["Refunded"]["kind"] == K.ORACLE_TIMEOUT


# --------------------------------------------------------------------------------------------
# constructor
# --------------------------------------------------------------------------------------------


def test_constructor(escrow, admin, guardian, oracles, ROLE):
    c = OracleCommittee.deploy(escrow, admin, oracles, 2, guardian, {"from": admin})
    ev = c.tx.events["ThresholdChanged"]
    assert (ev["previous"], ev["threshold"]) == (0, 2)
    assert c.threshold() == 2
    assert c.escrow() == escrow
    assert c.version() == "1.0.0"
    assert c.hasRole(ROLE.ADMIN, admin)
    assert c.hasRole(ROLE.GUARDIAN, guardian)
    assert [c.oracleSlot(o) for o in oracles] == [0, 1, 2]
    assert all(c.hasRole(ROLE.ORACLE, o) for o in oracles)


def test_constructor_without_guardian(escrow, admin, oracles, ROLE):
    c = OracleCommittee.deploy(escrow, admin, oracles, 1, "0x" + "00" * 20, {"from": admin})
    assert not c.hasRole(ROLE.GUARDIAN, "0x" + "00" * 20)
    assert not c.hasRole(ROLE.GUARDIAN, admin)


@pytest.mark.parametrize("value", [0, 4, 33])
def test_constructor_invalid_threshold(escrow, admin, oracles, value, reverts_with):
    with reverts_with("InvalidThreshold", value):
        OracleCommittee.deploy(escrow, admin, oracles, value, admin, {"from": admin})


def test_constructor_32_oracles(escrow, admin):
    c = OracleCommittee.deploy(escrow, admin, addresses(32), 32, admin, {"from": admin})
    assert c.oracleSlot(addresses(32)[31]) == 31


def test_constructor_too_many_oracles(escrow, admin, reverts_with):
    with reverts_with("TooManyOracles", 32):
        OracleCommittee.deploy(escrow, admin, addresses(33), 1, admin, {"from": admin})


# --------------------------------------------------------------------------------------------
# oracle membership and voting slots
# --------------------------------------------------------------------------------------------


def test_grant_and_revoke_oracles(c3, tid3, oracles, admin, rando, accounts, ROLE, reverts_ac):
    newcomer = accounts[12]
    c3.grantRole(ROLE.ORACLE, newcomer, {"from": admin})
    assert c3.oracleSlot(newcomer) == 3
    c3.propose(tid3, X, 5, REPORT, {"from": newcomer})

    c3.revokeRole(ROLE.ORACLE, oracles[1], {"from": admin})
    with reverts_ac(oracles[1], ROLE.ORACLE):
        c3.oracleSlot(oracles[1])
    with reverts_ac(oracles[1], ROLE.ORACLE):
        c3.propose(tid3, X, 5, REPORT, {"from": oracles[1]})
    assert c3.hasVoted(tid3, oracles[1]) is False

    c3.grantRole(ROLE.ORACLE, rando, {"from": admin})
    assert c3.oracleSlot(rando) == 1  # the lowest free slot
    tx = c3.propose(tid3, X, 5, REPORT, {"from": rando})
    assert tx.events["ProposalPending"]["root"] == "0x" + X.hex()


def test_granting_twice_keeps_the_slot(c3, oracles, admin, ROLE):
    c3.grantRole(ROLE.ORACLE, oracles[2], {"from": admin})
    assert c3.oracleSlot(oracles[2]) == 2


def test_renounce_frees_the_slot(c3, oracles, accounts, admin, ROLE):
    c3.renounceRole(ROLE.ORACLE, oracles[0], {"from": oracles[0]})
    c3.grantRole(ROLE.ORACLE, accounts[13], {"from": admin})
    assert c3.oracleSlot(accounts[13]) == 0


def test_too_many_oracles(committee, admin, ROLE, reverts_with):
    """The 1-of-1 committee has one oracle: 31 more fit, the 33rd does not."""
    for a in addresses(31):
        committee.grantRole(ROLE.ORACLE, a, {"from": admin})
    extra = addresses(1, start=100)[0]
    with reverts_with("TooManyOracles", 32):
        committee.grantRole(ROLE.ORACLE, extra, {"from": admin})
    assert not committee.hasRole(ROLE.ORACLE, extra)
    committee.revokeRole(ROLE.ORACLE, addresses(1)[0], {"from": admin})
    committee.grantRole(ROLE.ORACLE, extra, {"from": admin})
    assert committee.oracleSlot(extra) == 1


def test_reused_slot_inherits_vote_of_the_round(
    c3, tid3, oracles, admin, accounts, ROLE, reverts_with
):
    """Documented: a slot reused within a round keeps its previous holder's vote bit."""
    c3.propose(tid3, X, 5, REPORT, {"from": oracles[0]})
    c3.revokeRole(ROLE.ORACLE, oracles[0], {"from": admin})
    c3.grantRole(ROLE.ORACLE, accounts[12], {"from": admin})
    assert c3.oracleSlot(accounts[12]) == 0
    with reverts_with("AlreadyVoted", tid3, 0, accounts[12]):
        c3.propose(tid3, X, 5, REPORT, {"from": accounts[12]})


def test_revoked_oracles_vote_still_counts(c3, tid3, oracles, admin, ROLE):
    """Current behaviour: votes cast before a revocation keep counting in the round, so one
    remaining oracle completes a 2-of-3 agreement with a removed oracle's vote."""
    c3.propose(tid3, X, 5, REPORT, {"from": oracles[0]})
    c3.revokeRole(ROLE.ORACLE, oracles[0], {"from": admin})
    tx = c3.propose(tid3, X, 5, REPORT, {"from": oracles[1]})
    assert tx.events["ProposalPending"]["root"] == "0x" + X.hex()


def test_regranted_oracle_cannot_vote_twice_in_a_round(
    c3, tid3, oracles, admin, accounts, ROLE, reverts_with
):
    """A returning oracle only gets its old slot back: with another slot it could vote twice."""
    c3.propose(tid3, X, 5, REPORT, {"from": oracles[0]})  # slot 0
    c3.revokeRole(ROLE.ORACLE, oracles[0], {"from": admin})
    c3.grantRole(ROLE.ORACLE, accounts[12], {"from": admin})  # takes slot 0
    with reverts_with("OracleSlotTaken", oracles[0], 0):
        c3.grantRole(ROLE.ORACLE, oracles[0], {"from": admin})
    # the newcomer in slot 0 cannot vote in this round either: slot 0 already voted
    with reverts_with("AlreadyVoted", tid3, 0, accounts[12]):
        c3.propose(tid3, X, 5, REPORT, {"from": accounts[12]})
    # once slot 0 is free again the old oracle returns there, and its vote still counts once
    c3.revokeRole(ROLE.ORACLE, accounts[12], {"from": admin})
    c3.grantRole(ROLE.ORACLE, oracles[0], {"from": admin})
    assert c3.oracleSlot(oracles[0]) == 0
    with reverts_with("AlreadyVoted", tid3, 0, oracles[0]):
        c3.propose(tid3, X, 5, REPORT, {"from": oracles[0]})
    assert not c3.isPending(tid3)
