"""OracleCommittee.finalize: the pending proposal becomes the escrow's final payout and its bond
goes back."""

import pytest

E18 = 10**18
BUDGET = 1_000 * E18
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
def pending1(tasks):
    """A task on the 1-of-1 suite with X pending: (task id, challengeEnds)."""
    tid = tasks.create()
    tx = tasks.propose(tid, X, 600 * E18, REPORT)
    return tid, tx.events["ProposalPending"]["challengeEnds"]


def test_finalize_at_challenge_end(committee, escrow, pending1, rando, pin_time, block_time, S, K):
    tid, ends = pending1
    pin_time(ends)
    tx = committee.finalize(tid, {"from": rando})
    assert block_time(tx) == ends

    fin = tx.events["Finalized"]
    assert (fin["taskId"], fin["root"], fin["total"], fin["reportHash"]) == (
        tid,
        h(X),
        600 * E18,
        h(REPORT),
    )
    pf = tx.events["PayoutFinalized"]
    assert (pf["taskId"], pf["root"], pf["total"], pf["reportHash"], pf["claimDeadline"]) == (
        tid,
        h(X),
        600 * E18,
        h(REPORT),
        ends + 30 * DAY,
    )

    t = escrow.task(tid)
    assert t["status"] == S.FINAL
    assert (t["payoutRoot"], t["payoutTotal"], t["reportHash"], t["claimBase"]) == (
        h(X),
        600 * E18,
        h(REPORT),
        ends + 30 * DAY,  # nothing paused so far
    )
    assert escrow.claimDeadline(tid) == ends + 30 * DAY
    assert tuple(escrow.refundable(tid)) == (400 * E18, K.UNALLOCATED)
    # a new (empty) round: views never go back to the finalized one
    assert committee.pending(tid).dict() == {
        "root": ZERO32,
        "total": 0,
        "challengeEnds": 0,
        "round": 1,
        "voters": 0,
        "flags": 1,  # EVER_PENDING stays
        "reportHash": ZERO32,
        "proposer": ZERO_ADDRESS,
        "bond": 0,
        "disputer": ZERO_ADDRESS,
        "disputeBond": 0,
        "disputeId": 0,
    }
    assert committee.isPending(tid) is False
    assert committee.everPending(tid) is True


def test_finalized_payout_is_claimable(escrow, token, tasks, annotators, rando):
    payouts = {annotators[0]: 10 * E18, annotators[1]: 20 * E18}
    tid = tasks.create()
    tree, _ = tasks.finalize(tid, payouts, sender=rando)
    amount, proof = tasks.leaf(tree, annotators[1])
    before = token.balanceOf(annotators[1])
    escrow.claim(tid, annotators[1], amount, proof, {"from": rando})
    assert token.balanceOf(annotators[1]) == before + 20 * E18


def test_round_after_veto_and_finalize(committee, pending1, oracle, guardian, warp):
    tid, _ = pending1
    committee.veto(tid, "redo", {"from": guardian})
    tx = committee.propose(tid, Y, 1, REPORT, INPUTS, {"from": oracle})
    assert tx.events["ProposalPending"]["round"] == 1
    warp(tx.events["ProposalPending"]["challengeEnds"])
    tx = committee.finalize(tid, {"from": oracle})
    assert tx.events["Finalized"]["root"] == h(Y)
    assert committee.pending(tid)["round"] == 2
    assert committee.pending(tid)["flags"] == 1 | 2  # EVER_PENDING | VETO_USED


def test_two_of_three(suite2of3, tasks2of3, oracles, rando, warp, S):
    tid = tasks2of3.create()
    tx = tasks2of3.propose(tid, X, 5, REPORT, voters=oracles[1:])
    warp(tx.events["ProposalPending"]["challengeEnds"])
    suite2of3.committee.finalize(tid, {"from": rando})
    assert suite2of3.escrow.task(tid)["status"] == S.FINAL
    assert suite2of3.escrow.task(tid)["payoutRoot"] == h(X)


def test_challenge_period_at_the_floor(
    committee, escrow, tasks, oracle, reverts_with, warp, block_time, S
):
    """The rule set's floor (1 h locally) is the shortest window a task can have."""
    tid = tasks.create(challenge=HOUR)
    tx = tasks.propose(tid, X, 1, REPORT)
    ends = tx.events["ProposalPending"]["challengeEnds"]
    assert ends == block_time(tx) + HOUR
    with reverts_with("ChallengeWindowOpen", tid, ends):
        committee.finalize(tid, {"from": oracle})
    warp(ends)
    committee.finalize(tid, {"from": oracle})
    assert escrow.task(tid)["status"] == S.FINAL


def test_finalize_after_the_oracle_deadline(
    committee, escrow, tasks, oracle, rando, pin_time, warp, reverts_with, S
):
    """A proposal pending at the oracle deadline may be finalized whenever its window is over:
    the escrow no longer checks the oracle deadline, and the requester cannot take the budget
    back meanwhile."""
    tid = tasks.create()
    deadline = escrow.oracleDeadline(tid)
    pin_time(deadline)
    committee.propose(tid, X, 1, REPORT, INPUTS, {"from": oracle})
    warp(deadline + 10 * DAY)
    with reverts_with("NothingToRefund", tid):
        escrow.refund(tid, {"from": rando})
    committee.finalize(tid, {"from": rando})
    assert escrow.task(tid)["status"] == S.FINAL


def test_committee_bond_returns_to_the_stake(suite, committee, tasks, admin, rando, warp):
    bond_token = suite.token
    bond_token.mint(rando, 150 * E18, {"from": admin})
    bond_token.approve(committee, 150 * E18, {"from": rando})
    committee.fundStake(bond_token, 150 * E18, {"from": rando})
    tid = tasks.create()
    tasks.propose(tid, X, 1)
    assert committee.stake(bond_token) == 50 * E18
    warp(tasks.pending(tid).challenge_ends)
    tx = committee.finalize(tid, {"from": rando})
    assert committee.stake(bond_token) == 150 * E18
    assert bond_token.balanceOf(committee) == 150 * E18
    assert "BondSettled" not in tx.events  # the stake is booked, nothing moves


def test_bonded_proposer_gets_the_bond_back(suite, committee, escrow, tasks, admin, rando, warp, S):
    """A permissionless proposal (after the committee's grace) is finalized like any other, and
    its bond goes back to the proposer."""
    bond_token = suite.token
    bond = 100 * E18
    bond_token.mint(rando, bond, {"from": admin})
    bond_token.approve(committee, bond, {"from": rando})
    tid = tasks.create()
    rules = tasks.rules(tid)
    assert rules["proposerBond"] == bond
    warp(tasks.task(tid)["revealDeadline"] + rules["committeeGrace"] + 1)
    tx = committee.proposeBonded(tid, X, 7, REPORT, INPUTS, {"from": rando})
    pend = tx.events["ProposalPending"]
    assert (pend["proposer"], pend["bond"]) == (rando, bond)
    assert bond_token.balanceOf(rando) == 0
    warp(pend["challengeEnds"])
    tx = committee.finalize(tid, {"from": rando})
    settled = tx.events["BondSettled"]
    assert (settled["taskId"], settled["token"], settled["to"], settled["amount"]) == (
        tid,
        bond_token,
        rando,
        bond,
    )
    assert bond_token.balanceOf(rando) == bond
    assert escrow.task(tid)["status"] == S.FINAL


# --------------------------------------------------------------------------------------------
# reverts
# --------------------------------------------------------------------------------------------


def test_challenge_window_open(committee, pending1, rando, pin_time, reverts_with):
    tid, ends = pending1
    with reverts_with("ChallengeWindowOpen", tid, ends):
        committee.finalize(tid, {"from": rando})
    pin_time(ends - 1)
    with reverts_with("ChallengeWindowOpen", tid, ends):
        committee.finalize(tid, {"from": rando})
    assert committee.isPending(tid)


def test_nothing_pending(committee, rando, reverts_with):
    with reverts_with("NoPendingProposal", 999):
        committee.finalize(999, {"from": rando})


def test_votes_below_threshold_are_not_pending(
    suite2of3, tasks2of3, oracles, rando, warp, reverts_with
):
    tid = tasks2of3.create()
    tasks2of3.propose(tid, X, 5, REPORT, voters=oracles[:1])
    warp(tasks2of3.task(tid)["revealDeadline"] + 2 * DAY)
    with reverts_with("NoPendingProposal", tid):
        suite2of3.committee.finalize(tid, {"from": rando})


def test_twice(committee, pending1, rando, warp, reverts_with):
    tid, ends = pending1
    warp(ends)
    committee.finalize(tid, {"from": rando})
    with reverts_with("NoPendingProposal", tid):
        committee.finalize(tid, {"from": rando})


def test_after_veto(committee, pending1, guardian, rando, warp, reverts_with):
    tid, ends = pending1
    committee.veto(tid, "no", {"from": guardian})
    warp(ends)
    with reverts_with("NoPendingProposal", tid):
        committee.finalize(tid, {"from": rando})


def test_under_dispute(suite, committee, pending1, admin, rando, warp, reverts_with):
    tid, ends = pending1
    bond_token = suite.token
    bond_token.mint(rando, 100 * E18, {"from": admin})
    bond_token.approve(committee, 100 * E18, {"from": rando})
    dispute_id = committee.dispute(tid, {"from": rando}).return_value
    warp(ends)
    with reverts_with("UnderDispute", tid, dispute_id):
        committee.finalize(tid, {"from": rando})


def test_no_proposal_after_finalize(committee, pending1, oracle, warp, reverts_with):
    tid, ends = pending1
    warp(ends)
    committee.finalize(tid, {"from": oracle})
    with reverts_with("TaskNotFunded", tid):
        committee.propose(tid, Y, 1, REPORT, INPUTS, {"from": oracle})


def test_task_cannot_be_cancelled_while_pending(
    committee, escrow, pending1, requester, rando, warp, reverts_with, S
):
    """Nobody attested, but the proposal is pending: the requester cannot cancel it away (which
    would strand its bond in the committee); it is finalized as usual."""
    tid, ends = pending1
    with reverts_with("ProposalExists", tid):
        escrow.cancelTask(tid, {"from": requester})
    warp(ends)
    committee.finalize(tid, {"from": rando})
    assert escrow.task(tid)["status"] == S.FINAL


def test_committee_bond_of_an_unattested_task_comes_back(
    suite, committee, escrow, tasks, admin, requester, rando, warp, reverts_with
):
    """The stake locked behind a proposal for a task nobody attested to is released by the
    finalize (the requester cannot cancel in between)."""
    bond_token = suite.token
    bond_token.mint(rando, 100 * E18, {"from": admin})
    bond_token.approve(committee, 100 * E18, {"from": rando})
    committee.fundStake(bond_token, 100 * E18, {"from": rando})
    tid = tasks.create()
    tasks.propose(tid, X, 0)
    assert committee.stake(bond_token) == 0
    with reverts_with("ProposalExists", tid):
        escrow.cancelTask(tid, {"from": requester})
    warp(tasks.pending(tid).challenge_ends)
    committee.finalize(tid, {"from": rando})
    assert committee.stake(bond_token) == 100 * E18
    assert committee.pending(tid)["bond"] == 0
