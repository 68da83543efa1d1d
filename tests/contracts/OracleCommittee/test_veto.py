"""OracleCommittee.veto: a guardian rejects the pending proposal and a new round starts."""

import pytest

DAY = 86_400
X = b"\x0a" * 32
Y = b"\x0b" * 32
REPORT = b"\x33" * 32


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
        "root": "0x" + "00" * 32,
        "total": 0,
        "challengeEnds": 0,
        "round": 1,
        "voters": 0,
        "votes": 0,
        "reportHash": "0x" + "00" * 32,
    }
    assert committee.isPending(tid) is False
    assert committee.hasVoted(tid, oracle) is False
    assert committee.votes(tid, X, 100, REPORT) == 0

    tx = committee.propose(tid, Y, 50, REPORT, {"from": oracle})
    assert tx.events["Proposed"]["round"] == 1
    pend = tx.events["ProposalPending"]
    assert (pend["round"], pend["root"], pend["challengeEnds"]) == (1, h(Y), block_time(tx) + DAY)


def test_same_payout_may_be_proposed_again(committee, pending1, oracle, guardian):
    tid, _ = pending1
    committee.veto(tid, "", {"from": guardian})
    tx = committee.propose(tid, X, 100, REPORT, {"from": oracle})
    assert tx.events["ProposalPending"]["round"] == 1


def test_rounds_count_up(committee, pending1, oracle, guardian):
    tid, _ = pending1
    committee.veto(tid, "one", {"from": guardian})
    committee.propose(tid, Y, 1, REPORT, {"from": oracle})
    tx = committee.veto(tid, "two", {"from": guardian})
    assert tx.events["Vetoed"]["round"] == 2
    assert committee.pending(tid)["round"] == 2


def test_veto_just_before_window_ends(committee, pending1, guardian, pin_time):
    tid, ends = pending1
    pin_time(ends - 1)
    committee.veto(tid, "late", {"from": guardian})
    assert not committee.isPending(tid)


def test_votes_of_vetoed_round_stop_counting(suite2of3, tid3, oracles, guardian):
    c = suite2of3.committee
    c.propose(tid3, Y, 7, REPORT, {"from": oracles[2]})  # round 0, loses
    c.propose(tid3, X, 5, REPORT, {"from": oracles[0]})
    c.propose(tid3, X, 5, REPORT, {"from": oracles[1]})  # X pending
    c.veto(tid3, "wrong", {"from": guardian})
    assert c.votes(tid3, Y, 7, REPORT) == 0
    assert not any(c.hasVoted(tid3, o) for o in oracles)

    tx = c.propose(tid3, Y, 7, REPORT, {"from": oracles[0]})
    assert tx.events["Proposed"]["votes"] == 1  # oracles[2]'s round-0 vote is gone
    assert tx.events["Proposed"]["round"] == 1
    assert not c.isPending(tid3)
    tx = c.propose(tid3, Y, 7, REPORT, {"from": oracles[2]})  # may vote again in round 1
    assert tx.events["ProposalPending"]["round"] == 1


# --------------------------------------------------------------------------------------------
# reverts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "oracle", "requester", "annotator", "rando"])
def test_only_guardian(committee, pending1, who, request, reverts_ac, ROLE):
    tid, _ = pending1
    caller = request.getfixturevalue(who)
    with reverts_ac(caller, ROLE.GUARDIAN):
        committee.veto(tid, "no", {"from": caller})
    assert committee.isPending(tid)


def test_escrow_guardian_role_is_not_committee_guardian(
    committee, escrow, pending1, admin, rando, reverts_ac, ROLE
):
    tid, _ = pending1
    escrow.grantRole(ROLE.GUARDIAN, rando, {"from": admin})
    with reverts_ac(rando, ROLE.GUARDIAN):
        committee.veto(tid, "no", {"from": rando})
    committee.grantRole(ROLE.GUARDIAN, rando, {"from": admin})
    committee.veto(tid, "now yes", {"from": rando})


def test_nothing_proposed(committee, guardian, reverts_with):
    with reverts_with("NoPendingProposal", 999):
        committee.veto(999, "no", {"from": guardian})


def test_leading_but_not_pending(suite2of3, tid3, oracles, guardian, reverts_with):
    c = suite2of3.committee
    c.propose(tid3, X, 5, REPORT, {"from": oracles[0]})
    with reverts_with("NoPendingProposal", tid3):
        c.veto(tid3, "too early", {"from": guardian})


def test_twice(committee, pending1, guardian, reverts_with):
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


def test_zero_challenge_period_cannot_be_vetoed(committee, tasks, oracle, guardian, reverts_with):
    tid = tasks.create(challenge=0)
    tx = tasks.propose(tid, X, 1, REPORT)
    ends = tx.events["ProposalPending"]["challengeEnds"]
    with reverts_with("ChallengeWindowClosed", tid, ends):
        committee.veto(tid, "too late already", {"from": guardian})
