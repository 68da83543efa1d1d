"""OracleCommittee.finalize: the pending proposal becomes the escrow's final payout."""

import pytest

E18 = 10**18
BUDGET = 1_000 * E18
DAY = 86_400
X = b"\x0a" * 32
Y = b"\x0b" * 32
REPORT = b"\x33" * 32


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
    assert (t["payoutRoot"], t["payoutTotal"], t["reportHash"], t["claimDeadline"]) == (
        h(X),
        600 * E18,
        h(REPORT),
        ends + 30 * DAY,
    )
    assert tuple(escrow.refundable(tid)) == (400 * E18, K.UNALLOCATED)
    assert committee.pending(tid).dict() == {
        "root": "0x" + "00" * 32,
        "total": 0,
        "challengeEnds": 0,
        "round": 0,
        "voters": 0,
        "votes": 0,
        "reportHash": "0x" + "00" * 32,
    }
    assert committee.isPending(tid) is False


def test_finalized_payout_is_claimable(committee, escrow, token, tasks, annotators, rando):
    payouts = {annotators[0]: 10 * E18, annotators[1]: 20 * E18}
    tid = tasks.create()
    tree, _ = tasks.finalize(tid, payouts, sender=rando)
    amount, proof = tasks.leaf(tree, annotators[1])
    before = token.balanceOf(annotators[1])
    escrow.claim(tid, annotators[1], amount, proof, {"from": rando})
    assert token.balanceOf(annotators[1]) == before + 20 * E18


def test_round_survives_finalize(committee, pending1, oracle, guardian, warp):
    tid, _ = pending1
    committee.veto(tid, "redo", {"from": guardian})
    tx = committee.propose(tid, Y, 1, REPORT, {"from": oracle})
    warp(tx.events["ProposalPending"]["challengeEnds"])
    tx = committee.finalize(tid, {"from": oracle})
    assert tx.events["Finalized"]["root"] == h(Y)
    assert committee.pending(tid)["round"] == 1


def test_two_of_three(suite2of3, tasks2of3, oracles, rando, S):
    tid = tasks2of3.create()
    tx = tasks2of3.propose(tid, X, 5, REPORT, voters=oracles[1:])
    tasks2of3.chain.sleep(DAY)
    suite2of3.committee.finalize(tid, {"from": rando})
    assert suite2of3.escrow.task(tid)["status"] == S.FINAL
    assert tx.events["ProposalPending"]["root"] == h(X)


def test_zero_challenge_period(committee, escrow, tasks, oracle, S):
    tid = tasks.create(challenge=0)
    tasks.propose(tid, X, 1, REPORT)
    committee.finalize(tid, {"from": oracle})
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


def test_leading_but_not_pending(suite2of3, tasks2of3, oracles, rando, reverts_with):
    tid = tasks2of3.create()
    tasks2of3.propose(tid, X, 5, REPORT, voters=oracles[:1])
    tasks2of3.chain.sleep(DAY + 1)
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


def test_no_proposal_after_finalize(committee, pending1, oracle, warp, reverts_with):
    tid, ends = pending1
    warp(ends)
    committee.finalize(tid, {"from": oracle})
    with reverts_with("TaskNotFunded", tid):
        committee.propose(tid, Y, 1, REPORT, {"from": oracle})


def test_oracle_timed_out_in_escrow(
    committee, escrow, tasks, oracle, rando, pin_time, warp, reverts_with, K
):
    """A proposal agreed just in time but finalized after the oracle deadline: the escrow
    refuses it, the proposal stays pending and the requester is refunded instead."""
    tid = tasks.create()
    deadline = escrow.oracleDeadline(tid)
    pin_time(deadline - DAY)
    committee.propose(tid, X, 1, REPORT, {"from": oracle})
    warp(deadline + 1)
    with reverts_with("OracleTimedOut", tid, deadline):
        committee.finalize(tid, {"from": rando})
    assert committee.isPending(tid)
    tx = escrow.refund(tid, {"from": rando})
    assert tx.events["Refunded"]["kind"] == K.ORACLE_TIMEOUT


def test_task_cancelled_while_pending(
    committee, escrow, pending1, requester, rando, warp, reverts_with, S
):
    tid, ends = pending1
    escrow.cancelTask(tid, {"from": requester})
    warp(ends)
    with reverts_with("WrongStatus", tid, S.CANCELLED):
        committee.finalize(tid, {"from": rando})
