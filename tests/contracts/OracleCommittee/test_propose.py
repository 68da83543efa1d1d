"""OracleCommittee.propose: votes, the leading proposal, reaching the threshold, guards."""

import pytest

E18 = 10**18
BUDGET = 1_000 * E18
DAY = 86_400
X = b"\x0a" * 32
Y = b"\x0b" * 32
REPORT = b"\x33" * 32
ZERO32 = b"\x00" * 32


def h(b: bytes) -> str:
    return "0x" + b.hex()


@pytest.fixture(scope="module")
def tid(tasks):
    """A funded task on the 1-of-1 suite, past nothing yet."""
    return tasks.create()


@pytest.fixture(scope="module")
def tid3(tasks2of3):
    """A funded task on the 2-of-3 suite."""
    return tasks2of3.create()


def test_one_of_one_becomes_pending(committee, escrow, tid, tasks, oracle, pin_time, block_time):
    reveal = escrow.task(tid)["revealDeadline"]
    pin_time(reveal + 1)
    tx = committee.propose(tid, X, 600 * E18, REPORT, {"from": oracle})
    ts = block_time(tx)
    assert ts == reveal + 1

    ev = tx.events["Proposed"]
    assert (
        ev["taskId"],
        ev["oracle"],
        ev["round"],
        ev["root"],
        ev["total"],
        ev["reportHash"],
        ev["votes"],
    ) == (tid, oracle, 0, h(X), 600 * E18, h(REPORT), 1)
    pend = tx.events["ProposalPending"]
    assert (
        pend["taskId"],
        pend["round"],
        pend["root"],
        pend["total"],
        pend["reportHash"],
        pend["challengeEnds"],
    ) == (tid, 0, h(X), 600 * E18, h(REPORT), ts + DAY)
    assert committee.pending(tid).dict() == {
        "root": h(X),
        "total": 600 * E18,
        "challengeEnds": ts + DAY,
        "round": 0,
        "voters": 1,
        "votes": 1,
        "reportHash": h(REPORT),
    }
    assert committee.isPending(tid) is True
    assert committee.hasVoted(tid, oracle) is True
    assert committee.votes(tid, X, 600 * E18, REPORT) == 1
    assert escrow.task(tid)["status"] == 1  # still Funded until finalize


def test_two_of_three_needs_two_votes(
    suite2of3, tid3, tasks2of3, oracles, block_time, reverts_with
):
    committee = suite2of3.committee
    tasks2of3.past_reveal(tid3)
    tx = committee.propose(tid3, X, 100, REPORT, {"from": oracles[0]})
    assert tx.events["Proposed"]["votes"] == 1
    assert "ProposalPending" not in tx.events
    assert committee.isPending(tid3) is False
    p = committee.pending(tid3).dict()
    assert (p["root"], p["total"], p["challengeEnds"], p["votes"], p["voters"]) == (
        h(X),
        100,
        0,
        1,
        0b001,
    )
    assert committee.votes(tid3, X, 100, REPORT) == 1
    assert committee.hasVoted(tid3, oracles[0]) and not committee.hasVoted(tid3, oracles[1])

    tx = committee.propose(tid3, X, 100, REPORT, {"from": oracles[1]})
    ts = block_time(tx)
    ev = tx.events["Proposed"]
    assert (ev["oracle"], ev["votes"]) == (oracles[1], 2)
    assert tx.events["ProposalPending"]["challengeEnds"] == ts + DAY
    p = committee.pending(tid3).dict()
    assert (p["challengeEnds"], p["votes"], p["voters"]) == (ts + DAY, 2, 0b011)
    assert committee.isPending(tid3) is True

    with reverts_with("ProposalAlreadyPending", tid3):
        committee.propose(tid3, X, 100, REPORT, {"from": oracles[2]})
    with reverts_with("ProposalAlreadyPending", tid3):
        committee.propose(tid3, Y, 100, REPORT, {"from": oracles[2]})


def test_competing_payout_can_win(suite2of3, tid3, tasks2of3, oracles, block_time):
    committee = suite2of3.committee
    tasks2of3.past_reveal(tid3)
    committee.propose(tid3, X, 100, REPORT, {"from": oracles[0]})
    tx = committee.propose(tid3, Y, 200, REPORT, {"from": oracles[1]})
    assert tx.events["Proposed"]["votes"] == 1
    assert "ProposalPending" not in tx.events
    assert committee.votes(tid3, X, 100, REPORT) == 1
    assert committee.votes(tid3, Y, 200, REPORT) == 1
    assert committee.pending(tid3)["root"] == h(X)  # the first payout still leads

    tx = committee.propose(tid3, Y, 200, REPORT, {"from": oracles[2]})
    ts = block_time(tx)
    assert tx.events["Proposed"]["votes"] == 2
    pend = tx.events["ProposalPending"]
    assert (pend["root"], pend["total"], pend["challengeEnds"]) == (h(Y), 200, ts + DAY)
    p = committee.pending(tid3).dict()
    assert (p["root"], p["total"], p["votes"], p["voters"]) == (h(Y), 200, 2, 0b111)


@pytest.mark.parametrize(
    "other",
    [(X, 101, REPORT), (X, 100, b"\x34" * 32), (Y, 100, REPORT)],
    ids=["total", "report", "root"],
)
def test_payout_is_root_total_and_report(suite2of3, tid3, tasks2of3, oracles, other):
    """Two votes agree only if root, total and report hash all match."""
    committee = suite2of3.committee
    tasks2of3.past_reveal(tid3)
    committee.propose(tid3, X, 100, REPORT, {"from": oracles[0]})
    tx = committee.propose(tid3, *other, {"from": oracles[1]})
    assert tx.events["Proposed"]["votes"] == 1
    assert committee.isPending(tid3) is False
    assert committee.votes(tid3, *other) == 1


def test_total_equal_to_budget_and_zero_total(committee, tasks, tid, oracle):
    other = tasks.create()
    tasks.past_reveal(other)
    committee.propose(tid, X, BUDGET, REPORT, {"from": oracle})
    committee.propose(other, X, 0, ZERO32, {"from": oracle})
    assert committee.pending(tid)["total"] == BUDGET
    assert committee.isPending(other)


def test_latest_possible_proposal(committee, escrow, tid, oracle, pin_time):
    """challengeEnds == oracleDeadline is still in time."""
    deadline = escrow.oracleDeadline(tid)
    pin_time(deadline - DAY)
    tx = committee.propose(tid, X, 1, REPORT, {"from": oracle})
    assert tx.events["ProposalPending"]["challengeEnds"] == deadline


# --------------------------------------------------------------------------------------------
# reverts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "guardian", "requester", "annotator", "rando"])
def test_only_oracles(committee, tid, tasks, who, request, reverts_ac, ROLE):
    caller = request.getfixturevalue(who)
    tasks.past_reveal(tid)
    with reverts_ac(caller, ROLE.ORACLE):
        committee.propose(tid, X, 1, REPORT, {"from": caller})
    with reverts_ac(caller, ROLE.ORACLE):  # checked before anything else
        committee.propose(999, ZERO32, 2**128 - 1, REPORT, {"from": caller})


def test_empty_root(committee, tid, tasks, oracle, reverts_with):
    tasks.past_reveal(tid)
    with reverts_with("EmptyRoot"):
        committee.propose(tid, ZERO32, 1, REPORT, {"from": oracle})
    with reverts_with("EmptyRoot"):  # before the task is even looked at
        committee.propose(999, ZERO32, 1, REPORT, {"from": oracle})


def test_unknown_task(committee, oracle, reverts_with):
    with reverts_with("TaskNotFunded", 999):
        committee.propose(999, X, 1, REPORT, {"from": oracle})


def test_cancelled_task(committee, escrow, tid, tasks, requester, oracle, reverts_with):
    escrow.cancelTask(tid, {"from": requester})
    tasks.past_reveal(tid)
    with reverts_with("TaskNotFunded", tid):
        committee.propose(tid, X, 1, REPORT, {"from": oracle})


def test_final_task(committee, tasks, annotator, oracle, reverts_with):
    t, _ = tasks.final({annotator: 1})
    with reverts_with("TaskNotFunded", t):
        committee.propose(t, X, 1, REPORT, {"from": oracle})


def test_expired_task(committee, escrow, tid, requester, oracle, warp, reverts_with):
    warp(escrow.oracleDeadline(tid) + 1)
    escrow.refund(tid, {"from": requester})
    with reverts_with("TaskNotFunded", tid):
        committee.propose(tid, X, 1, REPORT, {"from": oracle})


def test_reveal_window_open(committee, escrow, tid, oracle, pin_time, reverts_with):
    reveal = escrow.task(tid)["revealDeadline"]
    with reverts_with("RevealWindowOpen", tid, reveal):
        committee.propose(tid, X, 1, REPORT, {"from": oracle})
    pin_time(reveal)
    with reverts_with("RevealWindowOpen", tid, reveal):
        committee.propose(tid, X, 1, REPORT, {"from": oracle})


def test_proposal_too_late(committee, escrow, tid, oracle, pin_time, reverts_with):
    deadline = escrow.oracleDeadline(tid)
    pin_time(deadline - DAY + 1)
    with reverts_with("ProposalTooLate", tid, deadline + 1, deadline):
        committee.propose(tid, X, 1, REPORT, {"from": oracle})


def test_proposal_after_oracle_deadline(committee, escrow, tid, oracle, pin_time, reverts_with):
    deadline = escrow.oracleDeadline(tid)
    pin_time(deadline + 5)
    with reverts_with("ProposalTooLate", tid, deadline + 5 + DAY, deadline):
        committee.propose(tid, X, 1, REPORT, {"from": oracle})


def test_payout_exceeds_budget(committee, tid, tasks, oracle, reverts_with):
    tasks.past_reveal(tid)
    with reverts_with("PayoutExceedsBudget", tid, BUDGET + 1, BUDGET):
        committee.propose(tid, X, BUDGET + 1, REPORT, {"from": oracle})


def test_already_voted(suite2of3, tid3, tasks2of3, oracles, reverts_with):
    committee = suite2of3.committee
    tasks2of3.past_reveal(tid3)
    committee.propose(tid3, X, 100, REPORT, {"from": oracles[0]})
    with reverts_with("AlreadyVoted", tid3, 0, oracles[0]):
        committee.propose(tid3, X, 100, REPORT, {"from": oracles[0]})
    with reverts_with("AlreadyVoted", tid3, 0, oracles[0]):
        committee.propose(tid3, Y, 5, REPORT, {"from": oracles[0]})
    assert committee.votes(tid3, X, 100, REPORT) == 1


def test_votes_are_per_task(suite2of3, tid3, tasks2of3, oracles):
    committee = suite2of3.committee
    other = tasks2of3.create()
    tasks2of3.past_reveal(other)
    committee.propose(tid3, X, 100, REPORT, {"from": oracles[0]})
    committee.propose(other, X, 100, REPORT, {"from": oracles[0]})
    assert committee.votes(other, X, 100, REPORT) == 1
    assert not committee.isPending(tid3) and not committee.isPending(other)


def test_window_checked_before_pending(
    committee, escrow, tid, tasks, oracle, pin_time, reverts_with
):
    """Once pending, a vote that is also out of budget reports the budget."""
    tasks.past_reveal(tid)
    committee.propose(tid, X, 1, REPORT, {"from": oracle})
    with reverts_with("PayoutExceedsBudget", tid, BUDGET + 1, BUDGET):
        committee.propose(tid, Y, BUDGET + 1, REPORT, {"from": oracle})
    with reverts_with("ProposalAlreadyPending", tid):
        committee.propose(tid, Y, 1, REPORT, {"from": oracle})


def test_votes_of_displaced_leader(suite2of3, tid3, tasks2of3, oracles):
    committee = suite2of3.committee
    tasks2of3.past_reveal(tid3)
    committee.propose(tid3, X, 100, REPORT, {"from": oracles[0]})
    committee.propose(tid3, Y, 200, REPORT, {"from": oracles[1]})
    committee.propose(tid3, Y, 200, REPORT, {"from": oracles[2]})  # Y wins
    assert committee.votes(tid3, Y, 200, REPORT) == 2
    assert committee.votes(tid3, X, 100, REPORT) == 1


def test_views(committee, suite2of3, escrow, oracles, rando, tid, reverts_ac, ROLE):
    assert committee.escrow() == escrow
    assert committee.version() == "1.0.0"
    assert [suite2of3.committee.oracleSlot(o) for o in oracles] == [0, 1, 2]
    with reverts_ac(rando, ROLE.ORACLE):
        committee.oracleSlot(rando)
    assert committee.hasVoted(tid, rando) is False
    assert committee.isPending(tid) is False
    assert committee.votes(tid, X, 1, REPORT) == 0
    assert committee.pending(tid).dict()["root"] == "0x" + "00" * 32
