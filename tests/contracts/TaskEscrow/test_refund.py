"""TaskEscrow.refund and refundable: unallocated, unclaimed and oracle-timeout refunds; and
refundByRuling (the committee, when the arbitrator rules RefundRequester)."""

import pytest

E18 = 10**18
BUDGET = 1_000 * E18
DAY = 86_400


@pytest.fixture(scope="module")
def final(tasks, annotators):
    """A task paying 600 of 1000 to three annotators: (task id, tree)."""
    a0, a1, a2 = annotators
    return tasks.final({a0: 100 * E18, a1: 200 * E18, a2: 300 * E18})


def _refunded_event(tx):
    e = tx.events["Refunded"]
    return e["taskId"], e["requester"], e["amount"], e["kind"]


def test_unallocated_then_unclaimed(
    escrow, token, tasks, final, requester, annotators, chain, K, S, reverts_with, warp
):
    tid, tree = final
    start = token.balanceOf(requester)
    assert tuple(escrow.refundable(tid)) == (400 * E18, K.UNALLOCATED)

    tx = escrow.refund(tid, {"from": requester})
    assert tx.return_value == 400 * E18
    assert _refunded_event(tx) == (tid, requester, 400 * E18, K.UNALLOCATED)
    assert token.balanceOf(requester) == start + 400 * E18
    assert escrow.task(tid)["refunded"] == 400 * E18
    assert escrow.task(tid)["status"] == S.FINAL
    assert tuple(escrow.refundable(tid)) == (0, K.UNALLOCATED)
    with reverts_with("NothingToRefund", tid):
        escrow.refund(tid, {"from": requester})

    # one annotator claims, then the claim period runs out
    amount, proof = tasks.leaf(tree, annotators[1])
    escrow.claim(tid, annotators[1], amount, proof, {"from": annotators[1]})
    warp(escrow.claimDeadline(tid) + 1)
    assert tuple(escrow.refundable(tid)) == (400 * E18, K.UNCLAIMED)
    tx = escrow.refund(tid, {"from": requester})
    assert tx.return_value == 400 * E18
    assert _refunded_event(tx) == (tid, requester, 400 * E18, K.UNCLAIMED)
    assert token.balanceOf(requester) == start + 800 * E18
    t = escrow.task(tid)
    assert t["refunded"] == 800 * E18 and t["claimed"] == 200 * E18
    assert t["refunded"] + t["claimed"] == BUDGET
    assert tuple(escrow.refundable(tid)) == (0, K.UNCLAIMED)
    with reverts_with("NothingToRefund", tid):
        escrow.refund(tid, {"from": requester})


def test_unclaimed_includes_unallocated_when_not_taken_before(
    escrow, token, final, requester, chain, K, warp
):
    tid, _ = final
    warp(escrow.claimDeadline(tid) + 1)
    before = token.balanceOf(requester)
    tx = escrow.refund(tid, {"from": requester})
    assert _refunded_event(tx) == (tid, requester, BUDGET, K.UNCLAIMED)
    assert token.balanceOf(requester) == before + BUDGET


def test_claims_then_full_settlement(
    escrow, token, tasks, final, requester, annotators, chain, K, warp
):
    """Every token of the budget ends with an annotator or the requester; nothing stays."""
    tid, tree = final
    held = token.balanceOf(escrow)
    escrow.refund(tid, {"from": requester})
    for a in annotators:
        amount, proof = tasks.leaf(tree, a)
        escrow.claim(tid, a, amount, proof, {"from": a})
    warp(escrow.claimDeadline(tid) + 1)
    assert tuple(escrow.refundable(tid)) == (0, K.UNCLAIMED)
    assert token.balanceOf(escrow) == held - BUDGET


def test_no_unallocated_part(escrow, tasks, annotator, rando, reverts_with, K):
    tid, _ = tasks.final({annotator: BUDGET - 1, rando: 1})
    assert tuple(escrow.refundable(tid)) == (0, K.UNALLOCATED)
    with reverts_with("NothingToRefund", tid):
        escrow.refund(tid, {"from": rando})


def test_refund_at_claim_deadline_is_still_unallocated(
    escrow, final, requester, pin_time, block_time, K
):
    tid, _ = final
    deadline = escrow.claimDeadline(tid)
    pin_time(deadline)
    tx = escrow.refund(tid, {"from": requester})
    assert block_time(tx) == deadline
    assert tx.events["Refunded"]["kind"] == K.UNALLOCATED
    assert tx.events["Refunded"]["amount"] == 400 * E18


def test_anyone_triggers_tokens_go_to_requester(escrow, token, final, requester, rando):
    tid, _ = final
    before = token.balanceOf(requester), token.balanceOf(rando)
    tx = escrow.refund(tid, {"from": rando})
    assert token.balanceOf(requester) == before[0] + 400 * E18
    assert token.balanceOf(rando) == before[1]
    assert tx.events["Refunded"]["requester"] == requester


# --------------------------------------------------------------------------------------------
# oracle timeout
# --------------------------------------------------------------------------------------------


def test_oracle_timeout(
    escrow, committee, token, tasks, requester, oracle, chain, pin_time, K, S, reverts_with
):
    tid = tasks.create()
    deadline = escrow.oracleDeadline(tid)
    assert deadline == escrow.task(tid)["revealDeadline"] + escrow.task(tid)["oracleTimeout"]
    before = token.balanceOf(requester)

    pin_time(deadline)
    with reverts_with("NothingToRefund", tid):
        escrow.refund(tid, {"from": requester})

    pin_time(deadline + 1)
    tx = escrow.refund(tid, {"from": requester})
    assert tx.return_value == BUDGET
    assert _refunded_event(tx) == (tid, requester, BUDGET, K.ORACLE_TIMEOUT)
    assert token.balanceOf(requester) == before + BUDGET
    t = escrow.task(tid)
    assert t["status"] == S.EXPIRED and t["refunded"] == BUDGET
    assert tuple(escrow.refundable(tid)) == (0, K.UNALLOCATED)
    with reverts_with("NothingToRefund", tid):
        escrow.refund(tid, {"from": requester})
    with reverts_with("TaskNotFunded", tid):
        committee.propose(tid, b"\x44" * 32, 1, b"\x00" * 32, b"\x55" * 32, {"from": oracle})


def test_refundable_reports_oracle_timeout(escrow, tasks, chain, K, warp):
    tid = tasks.create()
    assert tuple(escrow.refundable(tid)) == (0, K.UNALLOCATED)
    warp(escrow.oracleDeadline(tid) + 1)
    assert tuple(escrow.refundable(tid)) == (BUDGET, K.ORACLE_TIMEOUT)


def test_oracle_timeout_with_attestations(
    escrow, registry, tasks, requester, annotator, chain, K, warp
):
    """Attestations block a cancel, not a timeout refund."""
    tid = tasks.create()
    registry.attest(tid, b"\x11" * 32, 3, {"from": annotator})
    warp(escrow.oracleDeadline(tid) + 1)
    tx = escrow.refund(tid, {"from": requester})
    assert tx.events["Refunded"]["kind"] == K.ORACLE_TIMEOUT


def test_no_oracle_timeout_once_a_proposal_is_pending(
    escrow, committee, tasks, requester, oracle, reverts_with, S, K, warp
):
    """A pending proposal that nobody finalized before the oracle deadline: the labels are out,
    so the requester cannot take the budget back; the proposal is finalized late."""
    tid = tasks.create()
    tasks.propose(tid, b"\x44" * 32, BUDGET)
    warp(escrow.oracleDeadline(tid) + 1)
    assert tuple(escrow.refundable(tid)) == (0, K.UNALLOCATED)
    with reverts_with("NothingToRefund", tid):
        escrow.refund(tid, {"from": requester})
    committee.finalize(tid, {"from": oracle})
    assert escrow.task(tid)["status"] == S.FINAL


def test_no_oracle_timeout_after_a_vetoed_proposal(
    escrow, committee, tasks, requester, guardian, reverts_with, K, warp
):
    """Ever pending is enough: a veto does not give the requester the timeout back."""
    tid = tasks.create()
    tasks.propose(tid, b"\x44" * 32, 1)
    committee.veto(tid, "wrong", {"from": guardian})
    warp(escrow.oracleDeadline(tid) + 1)
    assert committee.everPending(tid) and not committee.isPending(tid)
    assert tuple(escrow.refundable(tid)) == (0, K.UNALLOCATED)
    with reverts_with("NothingToRefund", tid):
        escrow.refund(tid, {"from": requester})


def test_votes_below_threshold_do_not_block_the_timeout(
    suite2of3, tasks2of3, oracles, requester, warp, K, S
):
    escrow = suite2of3.escrow
    tid = tasks2of3.create()
    tasks2of3.propose(tid, b"\x44" * 32, 1, voters=oracles[:1])
    warp(escrow.oracleDeadline(tid) + 1)
    tx = escrow.refund(tid, {"from": requester})
    assert _refunded_event(tx) == (tid, requester, BUDGET, K.ORACLE_TIMEOUT)
    assert escrow.task(tid)["status"] == S.EXPIRED


# --------------------------------------------------------------------------------------------
# pause
# --------------------------------------------------------------------------------------------


def test_unclaimed_refund_waits_while_paused(
    escrow, final, requester, guardian, pin_time, warp, K, reverts_with
):
    """While paused nobody can claim, so the claim period is not over whatever the clock says:
    only the unallocated part is refundable. The paused time then extends the deadline."""
    tid, _ = final
    deadline = escrow.claimDeadline(tid)
    pin_time(deadline - 100)
    escrow.pause({"from": guardian})
    warp(deadline + 1_000)
    assert escrow.paused()
    assert tuple(escrow.refundable(tid)) == (400 * E18, K.UNALLOCATED)
    tx = escrow.refund(tid, {"from": requester})
    assert _refunded_event(tx) == (tid, requester, 400 * E18, K.UNALLOCATED)
    unpaused = deadline + 2_000
    pin_time(unpaused)
    escrow.unpause({"from": guardian})
    # paused 2100 s: the deadline moved to deadline + 2100, after the unpause
    assert escrow.claimDeadline(tid) == deadline + 2_100
    assert tuple(escrow.refundable(tid)) == (0, K.UNALLOCATED)
    warp(deadline + 2_101)
    assert tuple(escrow.refundable(tid)) == (600 * E18, K.UNCLAIMED)


def test_unclaimed_refund_after_a_pause_ended_by_itself(
    escrow, final, requester, guardian, pin_time, warp, K
):
    tid, _ = final
    deadline = escrow.claimDeadline(tid)
    max_pause = escrow.maxPause()
    pin_time(deadline - 10)
    escrow.pause({"from": guardian})
    warp(deadline + max_pause)
    assert tuple(escrow.refundable(tid)) == (400 * E18, K.UNALLOCATED)
    warp(deadline + max_pause + 1)
    assert escrow.paused() is False
    tx = escrow.refund(tid, {"from": requester})
    assert _refunded_event(tx) == (tid, requester, BUDGET, K.UNCLAIMED)


# --------------------------------------------------------------------------------------------
# refundByRuling (called from the impersonated committee; the path through a dispute is in the
# committee's dispute tests)
# --------------------------------------------------------------------------------------------


def test_refund_by_ruling(
    escrow, committee, token, tasks, requester, as_contract, K, S, reverts_with
):
    tid = tasks.create()
    tasks.propose(tid, b"\x44" * 32, 1)
    before, held = token.balanceOf(requester), token.balanceOf(escrow)
    tx = escrow.refundByRuling(tid, {"from": as_contract(committee)})
    assert _refunded_event(tx) == (tid, requester, BUDGET, K.RULING)
    t = escrow.task(tid)
    assert (t["status"], t["refunded"]) == (S.EXPIRED, BUDGET)
    assert token.balanceOf(requester) == before + BUDGET
    assert token.balanceOf(escrow) == held - BUDGET
    assert tuple(escrow.refundable(tid)) == (0, K.UNALLOCATED)
    with reverts_with("WrongStatus", tid, S.EXPIRED):
        escrow.refundByRuling(tid, {"from": as_contract(committee)})


@pytest.mark.parametrize("who", ["admin", "guardian", "oracle", "requester", "arbiter", "rando"])
def test_refund_by_ruling_only_committee(escrow, tasks, who, request, reverts_with):
    caller = request.getfixturevalue(who)
    tid = tasks.create()
    with reverts_with("NotCommittee", caller):
        escrow.refundByRuling(tid, {"from": caller})


def test_refund_by_ruling_needs_a_funded_task(
    escrow, committee, tasks, final, requester, as_contract, reverts_with, S
):
    tid, _ = final
    with reverts_with("WrongStatus", tid, S.FINAL):
        escrow.refundByRuling(tid, {"from": as_contract(committee)})
    cancelled = tasks.create()
    escrow.cancelTask(cancelled, {"from": requester})
    with reverts_with("WrongStatus", cancelled, S.CANCELLED):
        escrow.refundByRuling(cancelled, {"from": as_contract(committee)})
    with reverts_with("UnknownTask", 999):
        escrow.refundByRuling(999, {"from": as_contract(committee)})


# --------------------------------------------------------------------------------------------
# nothing to refund
# --------------------------------------------------------------------------------------------


def test_unknown_task(escrow, requester, reverts_with):
    with reverts_with("UnknownTask", 999):
        escrow.refund(999, {"from": requester})
    with reverts_with("UnknownTask", 999):
        escrow.refundable(999)
    with reverts_with("UnknownTask", 999):
        escrow.oracleDeadline(999)


def test_funded_before_oracle_deadline(escrow, tasks, requester, reverts_with):
    tid = tasks.create()
    with reverts_with("NothingToRefund", tid):
        escrow.refund(tid, {"from": requester})


def test_cancelled(escrow, tasks, requester, reverts_with, K):
    tid = tasks.create()
    escrow.cancelTask(tid, {"from": requester})
    assert tuple(escrow.refundable(tid)) == (0, K.UNALLOCATED)
    with reverts_with("NothingToRefund", tid):
        escrow.refund(tid, {"from": requester})


def test_refunds_of_one_task_do_not_touch_another(
    escrow, token, tasks, final, requester, chain, warp
):
    tid, _ = final
    other = tasks.create(budget=5 * E18)
    held = token.balanceOf(escrow)
    warp(escrow.claimDeadline(tid) + 1)
    escrow.refund(tid, {"from": requester})
    assert token.balanceOf(escrow) == held - BUDGET
    assert escrow.task(other)["refunded"] == 0
