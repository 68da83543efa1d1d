"""OracleCommittee.veto: the task's rule-set guardian rejects the pending proposal, once per
task, and a new round starts."""

import pytest

E18 = 10**18
DAY = 86_400
HOUR = 3_600
X = b"\x0a" * 32
Y = b"\x0b" * 32
REPORT = b"\x33" * 32
INPUTS = b"\x44" * 32
ZERO32 = "0x" + "00" * 32
ZERO_ADDRESS = "0x" + "00" * 20


def h(b: bytes) -> str:
    return "0x" + b.hex()


@pytest.fixture(scope="module")
def tid3(tasks2of3):
    """A task on the 2-of-3 suite, past its reveal deadline."""
    tid = tasks2of3.create()
    tasks2of3.past_reveal(tid)
    return tid


@pytest.fixture(scope="module")
def pending1(tasks, tid3):
    """A task on the 1-of-1 suite with a pending proposal: (task id, challengeEnds). Built
    after tid3, whose fixture moves the clock, so its challenge window is always ahead."""
    tid = tasks.create()
    tx = tasks.propose(tid, X, 100, REPORT)
    return tid, tx.events["ProposalPending"]["challengeEnds"]


def test_veto_starts_new_round(committee, pending1, oracle, guardian, block_time):
    tid, _ = pending1
    tx = committee.veto(tid, "payout tree misses an annotator", {"from": guardian})
    ev = tx.events["Vetoed"]
    assert (ev["taskId"], ev["guardian"], ev["round"], ev["reason"]) == (
        tid,
        guardian,
        1,
        "payout tree misses an annotator",
    )
    assert committee.pending(tid).dict() == {
        "root": ZERO32,
        "total": 0,
        "challengeEnds": 0,
        "round": 1,
        "voters": 0,
        "flags": 1 | 2,  # EVER_PENDING | VETO_USED
        "reportHash": ZERO32,
        "proposer": ZERO_ADDRESS,
        "bond": 0,
        "disputer": ZERO_ADDRESS,
        "disputeBond": 0,
        "disputeId": 0,
    }
    assert committee.isPending(tid) is False
    assert committee.everPending(tid) is True
    assert committee.hasVoted(tid, oracle) is False
    assert committee.votes(tid, X, 100, REPORT, INPUTS) == 0

    tx = committee.propose(tid, Y, 50, REPORT, INPUTS, {"from": oracle})
    assert tx.events["Proposed"]["round"] == 1
    pend = tx.events["ProposalPending"]
    assert (pend["round"], pend["root"], pend["challengeEnds"]) == (1, h(Y), block_time(tx) + DAY)


def test_same_payout_may_be_proposed_again(committee, pending1, oracle, guardian):
    tid, _ = pending1
    committee.veto(tid, "", {"from": guardian})
    tx = committee.propose(tid, X, 100, REPORT, INPUTS, {"from": oracle})
    assert tx.events["ProposalPending"]["round"] == 1


def test_veto_just_before_window_ends(committee, pending1, guardian, pin_time):
    tid, ends = pending1
    pin_time(ends - 1)
    committee.veto(tid, "late", {"from": guardian})
    assert not committee.isPending(tid)


def test_votes_of_vetoed_round_stop_counting(suite2of3, tid3, oracles, guardian):
    c = suite2of3.committee
    c.propose(tid3, Y, 7, REPORT, INPUTS, {"from": oracles[2]})  # round 0, loses
    c.propose(tid3, X, 5, REPORT, INPUTS, {"from": oracles[0]})
    c.propose(tid3, X, 5, REPORT, INPUTS, {"from": oracles[1]})  # X pending
    c.veto(tid3, "wrong", {"from": guardian})
    assert c.votes(tid3, Y, 7, REPORT, INPUTS) == 0
    assert not any(c.hasVoted(tid3, o) for o in oracles)

    tx = c.propose(tid3, Y, 7, REPORT, INPUTS, {"from": oracles[0]})
    assert tx.events["Proposed"]["votes"] == 1  # oracles[2]'s round-0 vote is gone
    assert tx.events["Proposed"]["round"] == 1
    assert not c.isPending(tid3)
    tx = c.propose(tid3, Y, 7, REPORT, INPUTS, {"from": oracles[2]})  # may vote again
    assert tx.events["ProposalPending"]["round"] == 1


def test_veto_returns_the_committee_bond_to_the_stake(
    suite, committee, tasks, admin, rando, guardian
):
    bond_token = suite.token
    bond_token.mint(rando, 100 * E18, {"from": admin})
    bond_token.approve(committee, 100 * E18, {"from": rando})
    committee.fundStake(bond_token, 100 * E18, {"from": rando})
    tid = tasks.create()
    tasks.propose(tid, X, 1)
    assert committee.stake(bond_token) == 0
    committee.veto(tid, "no", {"from": guardian})
    assert committee.stake(bond_token) == 100 * E18
    assert committee.pending(tid)["bond"] == 0


def test_veto_returns_a_bonded_proposers_bond(
    suite, committee, tasks, admin, rando, guardian, warp
):
    bond_token = suite.token
    bond_token.mint(rando, 100 * E18, {"from": admin})
    bond_token.approve(committee, 100 * E18, {"from": rando})
    tid = tasks.create()
    warp(tasks.task(tid)["revealDeadline"] + tasks.rules(tid)["committeeGrace"] + 1)
    committee.proposeBonded(tid, X, 1, REPORT, INPUTS, {"from": rando})
    assert bond_token.balanceOf(rando) == 0
    tx = committee.veto(tid, "no", {"from": guardian})
    settled = tx.events["BondSettled"]
    assert (settled["taskId"], settled["token"], settled["to"], settled["amount"]) == (
        tid,
        bond_token,
        rando,
        100 * E18,
    )
    assert bond_token.balanceOf(rando) == 100 * E18


# --------------------------------------------------------------------------------------------
# reverts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "oracle", "requester", "annotator", "rando", "arbiter"])
def test_only_guardian(committee, pending1, who, request, reverts_with):
    tid, _ = pending1
    caller = request.getfixturevalue(who)
    with reverts_with("NotGuardian", tid, caller):
        committee.veto(tid, "no", {"from": caller})
    assert committee.isPending(tid)


def test_escrow_guardian_role_is_not_committee_guardian(
    committee, escrow, pending1, gov, rando, reverts_with, ROLE
):
    """The escrow's GUARDIAN_ROLE (pause) does not give the committee's veto, which belongs to
    the guardian of the task's rule set."""
    tid, _ = pending1
    gov.call(escrow, "grantRole", ROLE.GUARDIAN, rando)
    assert escrow.hasRole(ROLE.GUARDIAN, rando)
    with reverts_with("NotGuardian", tid, rando):
        committee.veto(tid, "no", {"from": rando})


def test_guardian_is_per_rule_set(
    committee, tasks, gov, guardian, accounts, oracle, reverts_with, warp
):
    """A new rule set with another guardian: the task created before keeps its guardian, the
    task created after gets the new one."""
    new_guardian = accounts[13]
    old = tasks.create()
    rules = dict(tasks.rules(old))
    rules["guardian"] = new_guardian.address
    gov.call(committee, "publishRules", tuple(rules.values()))
    new = tasks.create()
    assert tasks.task(new)["rulesId"] == 2
    assert tasks.task(old)["rulesId"] == 1
    tasks.propose(old, X, 1)
    tasks.propose(new, X, 1)
    with reverts_with("NotGuardian", old, new_guardian):
        committee.veto(old, "no", {"from": new_guardian})
    with reverts_with("NotGuardian", new, guardian):
        committee.veto(new, "no", {"from": guardian})
    committee.veto(old, "old rules", {"from": guardian})
    committee.veto(new, "new rules", {"from": new_guardian})
    assert not committee.isPending(old) and not committee.isPending(new)


def test_only_once_per_task(committee, pending1, oracle, guardian, reverts_with):
    tid, _ = pending1
    committee.veto(tid, "one", {"from": guardian})
    committee.propose(tid, Y, 1, REPORT, INPUTS, {"from": oracle})
    with reverts_with("VetoUsed", tid):
        committee.veto(tid, "two", {"from": guardian})
    assert committee.isPending(tid)


def test_nothing_proposed(committee, tasks, guardian, reverts_with):
    tid = tasks.create()
    with reverts_with("NoPendingProposal", tid):
        committee.veto(tid, "no", {"from": guardian})


def test_unknown_task_has_no_guardian(committee, guardian, reverts_with):
    """An unknown task has no rule set, hence no guardian."""
    with reverts_with("NotGuardian", 999, guardian):
        committee.veto(999, "no", {"from": guardian})


def test_votes_below_threshold(suite2of3, tid3, oracles, guardian, reverts_with):
    c = suite2of3.committee
    c.propose(tid3, X, 5, REPORT, INPUTS, {"from": oracles[0]})
    with reverts_with("NoPendingProposal", tid3):
        c.veto(tid3, "too early", {"from": guardian})


def test_twice_in_a_row(committee, pending1, guardian, reverts_with):
    tid, _ = pending1
    committee.veto(tid, "one", {"from": guardian})
    with reverts_with("NoPendingProposal", tid):
        committee.veto(tid, "two", {"from": guardian})


def test_after_finalize(committee, pending1, guardian, oracle, warp, reverts_with):
    tid, ends = pending1
    warp(ends)
    committee.finalize(tid, {"from": oracle})
    with reverts_with("NoPendingProposal", tid):
        committee.veto(tid, "late", {"from": guardian})


def test_window_closed_at_challenge_end(committee, pending1, guardian, pin_time, reverts_with):
    tid, ends = pending1
    pin_time(ends)
    with reverts_with("ChallengeWindowClosed", tid, ends):
        committee.veto(tid, "late", {"from": guardian})


def test_window_closed_after_challenge_end(committee, pending1, guardian, warp, reverts_with):
    tid, ends = pending1
    warp(ends + 100)
    with reverts_with("ChallengeWindowClosed", tid, ends):
        committee.veto(tid, "late", {"from": guardian})


def test_under_dispute(suite, committee, pending1, admin, rando, guardian, reverts_with):
    tid, _ = pending1
    suite.token.mint(rando, 100 * E18, {"from": admin})
    suite.token.approve(committee, 100 * E18, {"from": rando})
    dispute_id = committee.dispute(tid, {"from": rando}).return_value
    with reverts_with("UnderDispute", tid, dispute_id):
        committee.veto(tid, "no", {"from": guardian})


def test_shortest_window_can_still_be_vetoed(committee, tasks, guardian, pin_time, reverts_with):
    """At the floor (1 h) the guardian still has the whole hour."""
    tid = tasks.create(challenge=HOUR)
    tx = tasks.propose(tid, X, 1, REPORT)
    ends = tx.events["ProposalPending"]["challengeEnds"]
    pin_time(ends - 1)
    committee.veto(tid, "just in time", {"from": guardian})
    assert not committee.isPending(tid)
