"""TaskEscrow.cancelTask: a full refund while nobody attested; with attestations, before the
annotation deadline, the task is closed early instead (annotation window ends now, the reveal
window moves up by as much)."""

import pytest

BUDGET = 1_000 * 10**18
DAY = 86_400
HOUR = 3_600


def test_cancel_refunds_whole_budget(escrow, registry, token, tasks, requester, S, K):
    tid = tasks.create()
    before, held = token.balanceOf(requester), token.balanceOf(escrow)
    tx = escrow.cancelTask(tid, {"from": requester})

    assert token.balanceOf(requester) == before + BUDGET
    assert token.balanceOf(escrow) == held - BUDGET
    t = escrow.task(tid)
    assert t["status"] == S.CANCELLED
    assert t["refunded"] == BUDGET
    assert t["budget"] == BUDGET
    assert tuple(escrow.refundable(tid)) == (0, K.UNALLOCATED)
    assert tuple(registry.window(tid))[1] is False

    cancelled = tx.events["TaskCancelled"]
    assert (cancelled["taskId"], cancelled["requester"]) == (tid, requester)
    refunded = tx.events["Refunded"]
    assert (refunded["taskId"], refunded["requester"], refunded["amount"], refunded["kind"]) == (
        tid,
        requester,
        BUDGET,
        K.CANCELLED,
    )
    assert tx.events["TaskClosed"]["taskId"] == tid
    transfer = tx.events["Transfer"]
    assert (transfer["from"], transfer["to"], transfer["value"]) == (escrow, requester, BUDGET)


def test_cancel_leaves_other_tasks_alone(escrow, token, tasks, requester, S):
    held = token.balanceOf(escrow)
    a = tasks.create()
    b = tasks.create(budget=BUDGET // 2)
    escrow.cancelTask(a, {"from": requester})
    assert escrow.task(b)["status"] == S.FUNDED
    assert token.balanceOf(escrow) == held + BUDGET // 2


def test_attest_after_cancel_is_refused(
    escrow, registry, tasks, requester, annotator, reverts_with
):
    tid = tasks.create()
    escrow.cancelTask(tid, {"from": requester})
    with reverts_with("TaskNotOpen", tid):
        registry.attest(tid, b"\x11" * 32, 10, {"from": annotator})


def test_cancel_after_annotation_deadline_without_attestations(escrow, tasks, requester, chain, S):
    tid = tasks.create()
    chain.sleep(3 * 86_400)
    chain.mine()
    escrow.cancelTask(tid, {"from": requester})
    assert escrow.task(tid)["status"] == S.CANCELLED


def test_cancel_past_oracle_deadline_is_still_a_cancel(escrow, tasks, requester, chain, K):
    """A Funded task past its oracle deadline can be cancelled (full refund, kind Cancelled)."""
    tid = tasks.create()
    chain.sleep(10 * 86_400)
    chain.mine()
    tx = escrow.cancelTask(tid, {"from": requester})
    assert tx.events["Refunded"]["kind"] == K.CANCELLED
    assert tx.events["Refunded"]["amount"] == BUDGET


def test_no_cancel_once_a_proposal_was_pending(
    escrow, committee, tasks, requester, guardian, oracle, warp, reverts_with, S
):
    """Even with nobody attested, a task whose proposal has been pending (it holds bonds and
    may be disputed) settles through the committee: no full refund by cancelling, during the
    challenge window, after a veto, or after the window."""
    tid = tasks.create()
    tasks.propose(tid, b"\x44" * 32, BUDGET // 2)
    with reverts_with("ProposalExists", tid):
        escrow.cancelTask(tid, {"from": requester})
    committee.veto(tid, "redo", {"from": guardian})
    with reverts_with("ProposalExists", tid):
        escrow.cancelTask(tid, {"from": requester})
    tx = tasks.propose(tid, b"\x45" * 32, 0)
    warp(tx.events["ProposalPending"]["challengeEnds"])
    with reverts_with("ProposalExists", tid):
        escrow.cancelTask(tid, {"from": requester})
    committee.finalize(tid, {"from": oracle})
    assert escrow.task(tid)["status"] == S.FINAL


def test_votes_below_threshold_do_not_block_a_cancel(
    suite2of3, tasks2of3, oracles, requester, S, K
):
    escrow = suite2of3.escrow
    tid = tasks2of3.create()
    tasks2of3.propose(tid, b"\x44" * 32, 1, voters=oracles[:1])
    tx = escrow.cancelTask(tid, {"from": requester})
    assert tx.events["Refunded"]["kind"] == K.CANCELLED
    assert escrow.task(tid)["status"] == S.CANCELLED


# --------------------------------------------------------------------------------------------
# closing early (attestations exist)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def attested(tasks, registry, annotator):
    """A task created with a one-day annotation and two-day reveal deadline, with one
    attestation: (task id, task dict at creation)."""
    tid = tasks.create()
    registry.attest(tid, b"\x11" * 32, 10, {"from": annotator})
    return tid, tasks.task(tid)


def test_close_early(
    escrow, registry, token, tasks, attested, requester, pin_time, block_time, K, S
):
    tid, before = attested
    now = before["annotationDeadline"] - 6 * HOUR
    shift = before["annotationDeadline"] - now
    held = token.balanceOf(escrow)
    pin_time(now)
    tx = escrow.cancelTask(tid, {"from": requester})
    assert block_time(tx) == now

    new_reveal = before["revealDeadline"] - shift
    ev = tx.events["TaskClosedEarly"]
    assert (ev["taskId"], ev["annotationDeadline"], ev["revealDeadline"]) == (
        tid,
        now,
        new_reveal,
    )
    closed = tx.events["AnnotationClosed"]
    assert (closed["taskId"], closed["annotationDeadline"]) == (tid, now)
    for name in ("TaskCancelled", "Refunded", "TaskClosed", "Transfer"):
        assert name not in tx.events

    t = tasks.task(tid)
    assert t["status"] == S.FUNDED
    assert (t["annotationDeadline"], t["revealDeadline"]) == (now, new_reveal)
    # the reveal window keeps its length
    assert t["revealDeadline"] - t["annotationDeadline"] == (
        before["revealDeadline"] - before["annotationDeadline"]
    )
    assert t["refunded"] == 0 and t["budget"] == BUDGET
    assert token.balanceOf(escrow) == held
    assert tuple(registry.window(tid)) == (now, True)
    assert escrow.oracleDeadline(tid) == new_reveal + t["oracleTimeout"]
    assert tuple(escrow.refundable(tid)) == (0, K.UNALLOCATED)


def test_no_attestation_after_closing_early(
    escrow, registry, tasks, attested, requester, annotators, block_time, pin_time, reverts_with
):
    tid, _ = attested
    now = block_time(escrow.cancelTask(tid, {"from": requester}))
    pin_time(now + 1)
    with reverts_with("AnnotationWindowClosed", tid, now):
        registry.attest(tid, b"\x22" * 32, 3, {"from": annotators[1]})
    with reverts_with("AnnotationWindowClosed", tid, now):  # no replacement either
        registry.attest(tid, b"\x22" * 32, 3, {"from": annotators[0]})


def test_closed_early_then_settled_as_usual(
    escrow, committee, token, tasks, attested, requester, annotator, block_time, reverts_with
):
    """The attested work is proposed after the moved reveal deadline and paid as usual."""
    tid, before = attested
    escrow.cancelTask(tid, {"from": requester})
    reveal = tasks.task(tid)["revealDeadline"]
    assert reveal < before["revealDeadline"]
    tree, _ = tasks.finalize(tid, {annotator: 300 * 10**18})
    amount, proof = tasks.leaf(tree, annotator)
    start = token.balanceOf(annotator)
    escrow.claim(tid, annotator, amount, proof, {"from": annotator})
    assert token.balanceOf(annotator) == start + 300 * 10**18


def test_closed_early_oracle_timeout_comes_sooner(
    escrow, tasks, attested, requester, warp, pin_time, K, S, reverts_with
):
    tid, before = attested
    escrow.cancelTask(tid, {"from": requester})
    deadline = escrow.oracleDeadline(tid)
    assert deadline < before["revealDeadline"] + before["oracleTimeout"]
    pin_time(deadline)
    with reverts_with("NothingToRefund", tid):
        escrow.refund(tid, {"from": requester})
    warp(deadline + 1)
    tx = escrow.refund(tid, {"from": requester})
    assert (tx.events["Refunded"]["amount"], tx.events["Refunded"]["kind"]) == (
        BUDGET,
        K.ORACLE_TIMEOUT,
    )
    assert escrow.task(tid)["status"] == S.EXPIRED


def test_close_early_only_once(escrow, tasks, attested, requester, reverts_with):
    """Once closed, the annotation deadline has passed: a second cancel is refused."""
    tid, _ = attested
    escrow.cancelTask(tid, {"from": requester})
    with reverts_with("AttestationsExist", tid):
        escrow.cancelTask(tid, {"from": requester})


def test_close_early_requester_only(escrow, tasks, attested, annotator, rando, reverts_with):
    tid, before = attested
    for caller in (annotator, rando):
        with reverts_with("NotRequester", tid, caller):
            escrow.cancelTask(tid, {"from": caller})
    assert tasks.task(tid)["annotationDeadline"] == before["annotationDeadline"]


# --------------------------------------------------------------------------------------------
# reverts
# --------------------------------------------------------------------------------------------


def test_unknown_task(escrow, requester, reverts_with):
    with reverts_with("UnknownTask", 999):
        escrow.cancelTask(999, {"from": requester})
    with reverts_with("UnknownTask", 0):
        escrow.cancelTask(0, {"from": requester})


def test_not_requester(escrow, tasks, annotator, admin, rando, reverts_with):
    tid = tasks.create()
    for caller in (annotator, admin, rando):
        with reverts_with("NotRequester", tid, caller):
            escrow.cancelTask(tid, {"from": caller})


def test_twice(escrow, tasks, requester, reverts_with, S):
    tid = tasks.create()
    escrow.cancelTask(tid, {"from": requester})
    with reverts_with("WrongStatus", tid, S.CANCELLED):
        escrow.cancelTask(tid, {"from": requester})


def test_final_task(escrow, tasks, requester, annotator, reverts_with, S):
    tid, _ = tasks.final({annotator: 100})
    with reverts_with("WrongStatus", tid, S.FINAL):
        escrow.cancelTask(tid, {"from": requester})


def test_expired_task(escrow, tasks, requester, chain, reverts_with, S):
    tid = tasks.create()
    chain.sleep(10 * 86_400)
    chain.mine()
    escrow.refund(tid, {"from": requester})
    with reverts_with("WrongStatus", tid, S.EXPIRED):
        escrow.cancelTask(tid, {"from": requester})


def test_attestations_exist_after_annotation_deadline(
    escrow, registry, tasks, requester, annotator, token, warp, reverts_with, S
):
    tid = tasks.create()
    registry.attest(tid, b"\x11" * 32, 10, {"from": annotator})
    warp(tasks.task(tid)["annotationDeadline"] + 1)
    held = token.balanceOf(escrow)
    with reverts_with("AttestationsExist", tid):
        escrow.cancelTask(tid, {"from": requester})
    assert escrow.task(tid)["status"] == S.FUNDED
    assert token.balanceOf(escrow) == held


def test_attestations_exist_at_annotation_deadline(
    escrow, registry, tasks, requester, annotator, pin_time, reverts_with
):
    """At the deadline itself there is nothing left to close (attests are still accepted in
    that second, so the window is not shortened)."""
    tid = tasks.create()
    registry.attest(tid, b"\x11" * 32, 10, {"from": annotator})
    pin_time(tasks.task(tid)["annotationDeadline"])
    with reverts_with("AttestationsExist", tid):
        escrow.cancelTask(tid, {"from": requester})


def test_attestation_on_another_task_does_not_block(
    escrow, registry, tasks, requester, annotator, S
):
    a = tasks.create()
    b = tasks.create()
    registry.attest(b, b"\x11" * 32, 10, {"from": annotator})
    escrow.cancelTask(a, {"from": requester})
    assert escrow.task(a)["status"] == S.CANCELLED


def test_requester_check_comes_before_the_proposal_check(
    escrow, tasks, requester, rando, reverts_with
):
    tid = tasks.create()
    tasks.propose(tid, b"\x44" * 32, 1)
    with reverts_with("NotRequester", tid, rando):
        escrow.cancelTask(tid, {"from": rando})
    with reverts_with("ProposalExists", tid):
        escrow.cancelTask(tid, {"from": requester})


def test_requester_check_comes_before_status(escrow, tasks, requester, rando, reverts_with):
    tid = tasks.create()
    escrow.cancelTask(tid, {"from": requester})
    with reverts_with("NotRequester", tid, rando):
        escrow.cancelTask(tid, {"from": rando})
