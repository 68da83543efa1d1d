"""OracleCommittee.restartRound and oracle revocation on the 2-of-3 suite: a round that cannot
reach the threshold any more is restarted by anyone; one that still can is not; a revoked
oracle's votes stop counting."""

import pytest

from tests.contracts.settlement_helpers import INPUTS, REPORT

X = b"\x0a" * 32
Y = b"\x0b" * 32
Z = b"\x0c" * 32


@pytest.fixture(scope="module")
def committee(suite2of3):
    return suite2of3.committee


@pytest.fixture(scope="module")
def tid(tasks2of3):
    """A task past its reveal deadline, nobody voted yet."""
    tid = tasks2of3.create()
    tasks2of3.past_reveal(tid)
    return tid


def vote(committee, tid, oracle, root, total=100):
    return committee.propose(tid, root, total, REPORT, INPUTS, {"from": oracle})


def test_split_round_restarts_and_agrees(committee, tasks2of3, tid, oracles, rando):
    vote(committee, tid, oracles[0], X)
    vote(committee, tid, oracles[1], Y)
    tx = vote(committee, tid, oracles[2], Z)
    assert "ProposalPending" not in tx.events
    assert [committee.votes(tid, r, 100, REPORT, INPUTS) for r in (X, Y, Z)] == [1, 1, 1]

    tx = committee.restartRound(tid, {"from": rando})
    ev = tx.events["RoundRestarted"]
    assert (ev["taskId"], ev["round"], ev["caller"]) == (tid, 1, rando)
    p = tasks2of3.pending(tid)
    assert (p.round, p.voters, p.challenge_ends) == (1, 0, 0)
    assert [committee.hasVoted(tid, o) for o in oracles] == [False] * 3
    assert [committee.votes(tid, r, 100, REPORT, INPUTS) for r in (X, Y, Z)] == [0, 0, 0]

    vote(committee, tid, oracles[2], X)
    tx = vote(committee, tid, oracles[0], X)
    assert tx.events["ProposalPending"]["round"] == 1
    assert committee.isPending(tid)


@pytest.mark.parametrize("voted", [0, 1, 2])
def test_round_that_can_still_proceed_is_not_restarted(
    committee, tid, oracles, rando, voted, reverts_with
):
    for o, root in list(zip(oracles, (X, Y), strict=False))[:voted]:
        vote(committee, tid, o, root)
    with reverts_with("RoundCanProceed", tid, voted, 3):
        committee.restartRound(tid, {"from": rando})


def test_no_restart_while_pending(committee, tasks2of3, tid, oracles, rando, reverts_with):
    vote(committee, tid, oracles[0], X)
    vote(committee, tid, oracles[1], X)
    with reverts_with("ProposalAlreadyPending", tid):
        committee.restartRound(tid, {"from": rando})


def test_restarted_round_keeps_counting_up(committee, tid, oracles, rando):
    for round_ in (1, 2):
        for o, root in zip(oracles, (X, Y, Z), strict=True):
            vote(committee, tid, o, root)
        tx = committee.restartRound(tid, {"from": rando})
        assert tx.events["RoundRestarted"]["round"] == round_


# ------------------------------------------------------------------------------------------
# revocation through the timelock
# ------------------------------------------------------------------------------------------


def test_revoked_oracles_vote_stops_counting(
    committee, tasks2of3, tid, oracles, gov2of3, reverts_with
):
    a, b, c = oracles
    vote(committee, tid, a, X)
    assert committee.votes(tid, X, 100, REPORT, INPUTS) == 1

    tx = gov2of3.call(committee, "revokeOracle", 1, a)
    ev = tx.events["OracleRevoked"]
    assert (ev["rulesId"], ev["oracle"]) == (1, a)
    assert committee.isRevoked(1, a)
    assert not committee.isRevoked(1, b)
    assert committee.votes(tid, X, 100, REPORT, INPUTS) == 0

    tx = vote(committee, tid, b, X)
    assert tx.events["Proposed"]["votes"] == 1
    assert "ProposalPending" not in tx.events
    with reverts_with("NotOracle", tid, a):
        vote(committee, tid, a, Y)
    tx = vote(committee, tid, c, X)
    assert tx.events["ProposalPending"]["root"] == "0x" + X.hex()
    assert committee.isPending(tid)


def test_restart_counts_live_oracles_only(committee, tid, oracles, gov2of3, rando, reverts_with):
    a, b, c = oracles
    vote(committee, tid, a, X)
    vote(committee, tid, b, Y)
    gov2of3.call(committee, "revokeOracle", 1, a)
    # live: b (voted) and c (not yet): the round can still reach 2
    with reverts_with("RoundCanProceed", tid, 1, 2):
        committee.restartRound(tid, {"from": rando})
    vote(committee, tid, c, Z)
    tx = committee.restartRound(tid, {"from": rando})
    assert tx.events["RoundRestarted"]["round"] == 1


def test_too_few_live_oracles_restart_at_once_and_bonded_path_remains(
    committee, tasks2of3, suite2of3, tid, oracles, gov2of3, admin, rando, warp
):
    """With two of three oracles revoked the threshold of 2 is out of reach: anyone may
    restart even before a vote, and a bonded proposal can still settle the task."""
    gov2of3.call(committee, "revokeOracle", 1, oracles[0])
    gov2of3.call(committee, "revokeOracle", 1, oracles[1])
    tx = committee.restartRound(tid, {"from": rando})
    assert tx.events["RoundRestarted"]["round"] == 1

    rules = tasks2of3.rules(tid)
    warp(tasks2of3.task(tid)["revealDeadline"] + rules["committeeGrace"] + 1)
    bond = rules["proposerBond"]
    suite2of3.token.mint(rando, bond, {"from": admin})
    suite2of3.token.approve(committee, bond, {"from": rando})
    committee.proposeBonded(tid, X, 100, REPORT, INPUTS, {"from": rando})
    assert tasks2of3.pending(tid).proposer == rando


def test_revocation_is_per_rule_set_and_owner_only(
    committee, oracles, gov2of3, admin, rando, reverts_with
):
    with reverts_with("OwnableUnauthorizedAccount", admin):
        committee.revokeOracle(1, oracles[0], {"from": admin})
    with reverts_with("NotOracle", 0, rando):
        gov2of3.call(committee, "revokeOracle", 1, rando)
    with reverts_with("NotOracle", 0, oracles[0]):
        gov2of3.call(committee, "revokeOracle", 2, oracles[0])  # no rule set 2
    assert not committee.isRevoked(1, oracles[0])


def test_votes_view_excludes_a_revoked_deciding_voter(committee, tid, oracles, gov2of3):
    """votes() counts live votes only, the vote that made a committee payout pending included:
    revoking that oracle afterwards takes its vote out of the count (it used to be added back
    unconditionally)."""
    a, b, _ = oracles
    vote(committee, tid, a, X)
    vote(committee, tid, b, X)  # b's vote decides: pending
    assert committee.votes(tid, X, 100, REPORT, INPUTS) == 2
    gov2of3.call(committee, "revokeOracle", 1, b)
    assert committee.votes(tid, X, 100, REPORT, INPUTS) == 1
    gov2of3.call(committee, "revokeOracle", 1, a)
    assert committee.votes(tid, X, 100, REPORT, INPUTS) == 0
    assert committee.isPending(tid)  # revocation does not undo a pending proposal


def test_restart_round_needs_a_funded_task(committee, tasks2of3, tid, oracles, rando, reverts_with):
    """restartRound of a task id that does not exist yet used to succeed (its rule set read as
    zero oracles) and bump the future task's round; a finalized task got RoundCanProceed.
    Now both revert TaskNotFunded."""
    unknown = tasks2of3.escrow.taskCount() + 1
    with reverts_with("TaskNotFunded", unknown):
        committee.restartRound(unknown, {"from": rando})
    assert tasks2of3.pending(unknown).round == 0

    vote(committee, tid, oracles[0], X)
    vote(committee, tid, oracles[1], X)
    tasks2of3.past_challenge(tid)
    committee.finalize(tid, {"from": rando})
    with reverts_with("TaskNotFunded", tid):
        committee.restartRound(tid, {"from": rando})
