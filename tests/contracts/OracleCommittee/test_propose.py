"""OracleCommittee.propose: votes per payout, reaching the task's rule-set threshold, the
committee's stake behind a proposal, the oracle deadline, guards."""

import pytest

from labelproof.settlement import Proposal

E18 = 10**18
BUDGET = 1_000 * E18
DAY = 86_400
X = b"\x0a" * 32
Y = b"\x0b" * 32
REPORT = b"\x33" * 32
INPUTS = b"\x44" * 32
ZERO32 = b"\x00" * 32
ZERO_ADDRESS = "0x" + "00" * 20
PROPOSER_BOND = 100 * E18  # rule set 1 of the test suites (deploy default)


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


def test_one_of_one_becomes_pending(committee, escrow, tid, oracle, pin_time, block_time, S):
    reveal = escrow.task(tid)["revealDeadline"]
    pin_time(reveal + 1)
    tx = committee.propose(tid, X, 600 * E18, REPORT, INPUTS, {"from": oracle})
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
        ev["inputsHash"],
        ev["votes"],
    ) == (tid, oracle, 0, h(X), 600 * E18, h(REPORT), h(INPUTS), 1)
    pend = tx.events["ProposalPending"]
    assert (
        pend["taskId"],
        pend["round"],
        pend["root"],
        pend["total"],
        pend["reportHash"],
        pend["inputsHash"],
        pend["challengeEnds"],
        pend["proposer"],
        pend["bond"],
    ) == (tid, 0, h(X), 600 * E18, h(REPORT), h(INPUTS), ts + DAY, ZERO_ADDRESS, 0)
    assert committee.pending(tid).dict() == {
        "root": h(X),
        "total": 600 * E18,
        "challengeEnds": ts + DAY,
        "round": 0,
        "voters": 1,
        "flags": 1,  # EVER_PENDING
        "reportHash": h(REPORT),
        "proposer": ZERO_ADDRESS,
        "bond": 0,  # the committee has no stake in the test suites
        "disputer": ZERO_ADDRESS,
        "disputeBond": 0,
        "disputeId": 0,
    }
    p = Proposal.from_raw(committee.pending(tid))
    assert p.is_pending and p.ever_pending and not p.bonded and not p.disputed
    assert committee.isPending(tid) is True
    assert committee.everPending(tid) is True
    assert committee.hasVoted(tid, oracle) is True
    assert committee.votes(tid, X, 600 * E18, REPORT, INPUTS) == 1
    # The committee stores no inputsHash, yet the view tells a payout differing only there.
    assert committee.votes(tid, X, 600 * E18, REPORT, b"\x45" * 32) == 0
    assert escrow.task(tid)["status"] == S.FUNDED  # still Funded until finalize


def test_two_of_three_needs_two_votes(
    suite2of3, tid3, tasks2of3, oracles, block_time, reverts_with
):
    committee = suite2of3.committee
    tasks2of3.past_reveal(tid3)
    tx = committee.propose(tid3, X, 100, REPORT, INPUTS, {"from": oracles[0]})
    assert tx.events["Proposed"]["votes"] == 1
    assert "ProposalPending" not in tx.events
    assert committee.isPending(tid3) is False
    assert committee.everPending(tid3) is False
    p = committee.pending(tid3).dict()
    # votes are tallied per payout; the round's proposal stays empty until one is pending
    assert (p["root"], p["total"], p["challengeEnds"], p["voters"], p["flags"]) == (
        h(ZERO32),
        0,
        0,
        0b001,
        0,
    )
    assert committee.votes(tid3, X, 100, REPORT, INPUTS) == 1
    assert committee.hasVoted(tid3, oracles[0]) and not committee.hasVoted(tid3, oracles[1])

    tx = committee.propose(tid3, X, 100, REPORT, INPUTS, {"from": oracles[1]})
    ts = block_time(tx)
    ev = tx.events["Proposed"]
    assert (ev["oracle"], ev["votes"]) == (oracles[1], 2)
    assert tx.events["ProposalPending"]["challengeEnds"] == ts + DAY
    p = committee.pending(tid3).dict()
    assert (p["root"], p["challengeEnds"], p["voters"], p["flags"]) == (
        h(X),
        ts + DAY,
        0b011,
        1,
    )
    assert committee.isPending(tid3) is True

    with reverts_with("ProposalAlreadyPending", tid3):
        committee.propose(tid3, X, 100, REPORT, INPUTS, {"from": oracles[2]})
    with reverts_with("ProposalAlreadyPending", tid3):
        committee.propose(tid3, Y, 100, REPORT, INPUTS, {"from": oracles[2]})


def test_competing_payout_can_win(suite2of3, tid3, tasks2of3, oracles, block_time):
    committee = suite2of3.committee
    tasks2of3.past_reveal(tid3)
    committee.propose(tid3, X, 100, REPORT, INPUTS, {"from": oracles[0]})
    tx = committee.propose(tid3, Y, 200, REPORT, INPUTS, {"from": oracles[1]})
    assert tx.events["Proposed"]["votes"] == 1
    assert "ProposalPending" not in tx.events
    assert committee.votes(tid3, X, 100, REPORT, INPUTS) == 1
    assert committee.votes(tid3, Y, 200, REPORT, INPUTS) == 1
    assert committee.pending(tid3)["voters"] == 0b011

    tx = committee.propose(tid3, Y, 200, REPORT, INPUTS, {"from": oracles[2]})
    ts = block_time(tx)
    assert tx.events["Proposed"]["votes"] == 2
    pend = tx.events["ProposalPending"]
    assert (pend["root"], pend["total"], pend["challengeEnds"]) == (h(Y), 200, ts + DAY)
    p = committee.pending(tid3).dict()
    # once a committee payout is pending, `voters` holds the oracles that voted for it
    assert (p["root"], p["total"], p["voters"]) == (h(Y), 200, 0b110)
    assert committee.votes(tid3, Y, 200, REPORT, INPUTS) == 2
    assert committee.votes(tid3, X, 100, REPORT, INPUTS) == 1  # the loser keeps its tally


@pytest.mark.parametrize(
    "other",
    [
        (X, 101, REPORT, INPUTS),
        (X, 100, b"\x34" * 32, INPUTS),
        (Y, 100, REPORT, INPUTS),
        (X, 100, REPORT, b"\x45" * 32),
    ],
    ids=["total", "report", "root", "inputs"],
)
def test_payout_is_root_total_report_and_inputs(suite2of3, tid3, tasks2of3, oracles, other):
    """Two votes agree only if root, total, report hash and inputs hash all match."""
    committee = suite2of3.committee
    tasks2of3.past_reveal(tid3)
    committee.propose(tid3, X, 100, REPORT, INPUTS, {"from": oracles[0]})
    tx = committee.propose(tid3, *other, {"from": oracles[1]})
    assert tx.events["Proposed"]["votes"] == 1
    assert committee.isPending(tid3) is False
    assert committee.votes(tid3, *other) == 1
    assert committee.votes(tid3, X, 100, REPORT, INPUTS) == 1


def test_total_equal_to_budget_and_zero_total(committee, tasks, tid, oracle):
    other = tasks.create()
    tasks.past_reveal(other)
    committee.propose(tid, X, BUDGET, REPORT, INPUTS, {"from": oracle})
    committee.propose(other, X, 0, ZERO32, INPUTS, {"from": oracle})
    assert committee.pending(tid)["total"] == BUDGET
    assert committee.isPending(other)


def test_latest_possible_proposal(committee, escrow, tid, oracle, pin_time, block_time):
    """A first proposal at exactly the oracle deadline is in time; its challenge window may run
    past the deadline (the requester can no longer take the budget back once it is pending)."""
    deadline = escrow.oracleDeadline(tid)
    pin_time(deadline)
    tx = committee.propose(tid, X, 1, REPORT, INPUTS, {"from": oracle})
    assert block_time(tx) == deadline
    assert tx.events["ProposalPending"]["challengeEnds"] == deadline + DAY


def test_no_deadline_once_a_proposal_was_pending(
    committee, escrow, tid, tasks, oracle, guardian, warp, K
):
    """After a veto, the next round may come long after the oracle deadline, and the requester
    cannot claim an oracle timeout in the meantime."""
    tasks.propose(tid, X, 1)
    committee.veto(tid, "wrong", {"from": guardian})
    warp(escrow.oracleDeadline(tid) + 30 * DAY)
    assert tuple(escrow.refundable(tid)) == (0, K.UNALLOCATED)
    tx = committee.propose(tid, Y, 2, REPORT, INPUTS, {"from": oracle})
    assert tx.events["ProposalPending"]["round"] == 1


# --------------------------------------------------------------------------------------------
# the committee's stake behind its proposals
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "staked, bond",
    [(30 * E18, 30 * E18), (PROPOSER_BOND, PROPOSER_BOND), (250 * E18, PROPOSER_BOND)],
)
def test_stake_backs_proposal_up_to_the_bond(
    suite, committee, tid, tasks, admin, rando, staked, bond
):
    bond_token = suite.token  # rule set 1's bond token is the reward token
    assert tasks.rules(tid)["bondToken"] == bond_token
    bond_token.mint(rando, staked, {"from": admin})
    bond_token.approve(committee, staked, {"from": rando})
    tx = committee.fundStake(bond_token, staked, {"from": rando})
    ev = tx.events["StakeFunded"]
    assert (ev["token"], ev["from"], ev["amount"]) == (bond_token, rando, staked)
    assert committee.stake(bond_token) == staked

    tx = tasks.propose(tid, X, 1)
    assert tx.events["ProposalPending"]["bond"] == bond
    assert committee.pending(tid)["bond"] == bond
    assert committee.stake(bond_token) == staked - bond
    assert bond_token.balanceOf(committee) == staked  # locked, not moved


def test_stake_in_another_token_does_not_back(suite, committee, tid, tasks, token, requester):
    token.approve(committee, 500 * E18, {"from": requester})
    committee.fundStake(token, 500 * E18, {"from": requester})
    tx = tasks.propose(tid, X, 1)
    assert tx.events["ProposalPending"]["bond"] == 0
    assert committee.stake(token) == 500 * E18


# --------------------------------------------------------------------------------------------
# reverts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "guardian", "requester", "annotator", "rando", "arbiter"])
def test_only_oracles_of_the_rule_set(committee, tid, tasks, who, request, reverts_with):
    caller = request.getfixturevalue(who)
    tasks.past_reveal(tid)
    with reverts_with("NotOracle", tid, caller):
        committee.propose(tid, X, 1, REPORT, INPUTS, {"from": caller})
    assert committee.votes(tid, X, 1, REPORT, INPUTS) == 0


def test_oracle_of_another_suite(committee, tid, tasks, oracles, reverts_with):
    """oracles[1] votes in the 2-of-3 suite, not in the 1-of-1 suite's rule set."""
    tasks.past_reveal(tid)
    with reverts_with("NotOracle", tid, oracles[1]):
        committee.propose(tid, X, 1, REPORT, INPUTS, {"from": oracles[1]})


def test_task_checks_come_before_membership(committee, rando, reverts_with):
    """Membership is per task (its rule set), so the task is looked at first."""
    with reverts_with("TaskNotFunded", 999):
        committee.propose(999, X, 1, REPORT, INPUTS, {"from": rando})


def test_empty_root(committee, tid, tasks, oracle, reverts_with):
    tasks.past_reveal(tid)
    with reverts_with("EmptyRoot"):
        committee.propose(tid, ZERO32, 1, REPORT, INPUTS, {"from": oracle})
    with reverts_with("EmptyRoot"):  # before the task is even looked at
        committee.propose(999, ZERO32, 1, REPORT, ZERO32, {"from": oracle})


def test_empty_inputs_hash(committee, tid, tasks, oracle, reverts_with):
    tasks.past_reveal(tid)
    with reverts_with("EmptyInputsHash"):
        committee.propose(tid, X, 1, REPORT, ZERO32, {"from": oracle})
    with reverts_with("EmptyInputsHash"):  # before the task is looked at
        committee.propose(999, X, 1, REPORT, ZERO32, {"from": oracle})
    assert not committee.hasVoted(tid, oracle)


def test_unknown_task(committee, oracle, reverts_with):
    with reverts_with("TaskNotFunded", 999):
        committee.propose(999, X, 1, REPORT, INPUTS, {"from": oracle})


def test_cancelled_task(committee, escrow, tid, tasks, requester, oracle, reverts_with):
    escrow.cancelTask(tid, {"from": requester})
    tasks.past_reveal(tid)
    with reverts_with("TaskNotFunded", tid):
        committee.propose(tid, X, 1, REPORT, INPUTS, {"from": oracle})


def test_final_task(committee, tasks, annotator, oracle, reverts_with):
    t, _ = tasks.final({annotator: 1})
    with reverts_with("TaskNotFunded", t):
        committee.propose(t, X, 1, REPORT, INPUTS, {"from": oracle})


def test_expired_task(committee, escrow, tid, requester, oracle, warp, reverts_with):
    warp(escrow.oracleDeadline(tid) + 1)
    escrow.refund(tid, {"from": requester})
    with reverts_with("TaskNotFunded", tid):
        committee.propose(tid, X, 1, REPORT, INPUTS, {"from": oracle})


def test_reveal_window_open(committee, escrow, tid, oracle, pin_time, reverts_with):
    reveal = escrow.task(tid)["revealDeadline"]
    with reverts_with("RevealWindowOpen", tid, reveal):
        committee.propose(tid, X, 1, REPORT, INPUTS, {"from": oracle})
    pin_time(reveal)
    with reverts_with("RevealWindowOpen", tid, reveal):
        committee.propose(tid, X, 1, REPORT, INPUTS, {"from": oracle})


@pytest.mark.parametrize("late", [1, 5 * DAY])
def test_proposal_too_late(committee, escrow, tid, oracle, pin_time, reverts_with, late):
    deadline = escrow.oracleDeadline(tid)
    pin_time(deadline + late)
    with reverts_with("ProposalTooLate", tid, deadline):
        committee.propose(tid, X, 1, REPORT, INPUTS, {"from": oracle})


def test_vote_without_pending_does_not_lift_the_deadline(
    suite2of3, tid3, tasks2of3, oracles, warp, reverts_with
):
    """Votes that never reached the threshold do not count as 'ever pending'."""
    committee = suite2of3.committee
    tasks2of3.propose(tid3, X, 1, voters=oracles[:1])
    deadline = suite2of3.escrow.oracleDeadline(tid3)
    warp(deadline + 1)
    with reverts_with("ProposalTooLate", tid3, deadline):
        committee.propose(tid3, X, 1, REPORT, INPUTS, {"from": oracles[1]})


def test_payout_exceeds_budget(committee, tid, tasks, oracle, reverts_with):
    tasks.past_reveal(tid)
    with reverts_with("PayoutExceedsBudget", tid, BUDGET + 1, BUDGET):
        committee.propose(tid, X, BUDGET + 1, REPORT, INPUTS, {"from": oracle})


def test_already_voted(suite2of3, tid3, tasks2of3, oracles, reverts_with):
    committee = suite2of3.committee
    tasks2of3.past_reveal(tid3)
    committee.propose(tid3, X, 100, REPORT, INPUTS, {"from": oracles[0]})
    with reverts_with("AlreadyVoted", tid3, 0, oracles[0]):
        committee.propose(tid3, X, 100, REPORT, INPUTS, {"from": oracles[0]})
    with reverts_with("AlreadyVoted", tid3, 0, oracles[0]):
        committee.propose(tid3, Y, 5, REPORT, INPUTS, {"from": oracles[0]})
    assert committee.votes(tid3, X, 100, REPORT, INPUTS) == 1


def test_votes_are_per_task(suite2of3, tid3, tasks2of3, oracles):
    committee = suite2of3.committee
    other = tasks2of3.create()
    tasks2of3.past_reveal(other)
    committee.propose(tid3, X, 100, REPORT, INPUTS, {"from": oracles[0]})
    committee.propose(other, X, 100, REPORT, INPUTS, {"from": oracles[0]})
    assert committee.votes(other, X, 100, REPORT, INPUTS) == 1
    assert not committee.isPending(tid3) and not committee.isPending(other)


def test_budget_checked_before_pending(committee, tid, tasks, oracle, reverts_with):
    """Once pending, a vote that is also out of budget reports the budget."""
    tasks.past_reveal(tid)
    committee.propose(tid, X, 1, REPORT, INPUTS, {"from": oracle})
    with reverts_with("PayoutExceedsBudget", tid, BUDGET + 1, BUDGET):
        committee.propose(tid, Y, BUDGET + 1, REPORT, INPUTS, {"from": oracle})
    with reverts_with("ProposalAlreadyPending", tid):
        committee.propose(tid, Y, 1, REPORT, INPUTS, {"from": oracle})


def test_views(committee, escrow, suite, oracle, rando, tid, reverts_with):
    assert committee.escrow() == escrow
    assert committee.version() == "2.0.0"
    assert committee.owner() == suite.timelock
    assert committee.hasVoted(tid, rando) is False
    assert committee.hasVoted(tid, oracle) is False
    assert committee.isPending(tid) is False
    assert committee.everPending(tid) is False
    assert committee.votes(tid, X, 1, REPORT, INPUTS) == 0
    assert committee.pending(tid).dict()["root"] == h(ZERO32)
    assert committee.disputeTask(suite.arbitrator, 0) == 0
    assert committee.stake(suite.token) == 0
