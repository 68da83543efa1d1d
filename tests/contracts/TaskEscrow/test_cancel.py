"""TaskEscrow.cancelTask."""

BUDGET = 1_000 * 10**18


def test_cancel_refunds_whole_budget(escrow, registry, token, tasks, requester, S, K):
    tid = tasks.create()
    before = token.balanceOf(requester)
    tx = escrow.cancelTask(tid, {"from": requester})

    assert token.balanceOf(requester) == before + BUDGET
    assert token.balanceOf(escrow) == 0
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
    a = tasks.create()
    b = tasks.create(budget=BUDGET // 2)
    escrow.cancelTask(a, {"from": requester})
    assert escrow.task(b)["status"] == S.FUNDED
    assert token.balanceOf(escrow) == BUDGET // 2


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


def test_cancel_with_pending_proposal_blocks_finalize(
    escrow, committee, tasks, requester, oracle, chain, reverts_with, S
):
    """Nobody attested, so the requester may still cancel while a proposal is pending; the
    proposal then cannot be finalized."""
    tid = tasks.create()
    tasks.propose(tid, b"\x44" * 32, BUDGET // 2)
    escrow.cancelTask(tid, {"from": requester})
    chain.sleep(86_400 + 1)
    with reverts_with("WrongStatus", tid, S.CANCELLED):
        committee.finalize(tid, {"from": oracle})


# --------------------------------------------------------------------------------------------
# reverts
# --------------------------------------------------------------------------------------------


def test_unknown_task(escrow, requester, reverts_with):
    with reverts_with("UnknownTask", 1):
        escrow.cancelTask(1, {"from": requester})
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


def test_attestations_exist(escrow, registry, tasks, requester, annotator, token, reverts_with, S):
    tid = tasks.create()
    registry.attest(tid, b"\x11" * 32, 10, {"from": annotator})
    with reverts_with("AttestationsExist", tid):
        escrow.cancelTask(tid, {"from": requester})
    assert escrow.task(tid)["status"] == S.FUNDED
    assert token.balanceOf(escrow) == BUDGET


def test_attestation_on_another_task_does_not_block(
    escrow, registry, tasks, requester, annotator, S
):
    a = tasks.create()
    b = tasks.create()
    registry.attest(b, b"\x11" * 32, 10, {"from": annotator})
    escrow.cancelTask(a, {"from": requester})
    assert escrow.task(a)["status"] == S.CANCELLED


def test_requester_check_comes_before_status(escrow, tasks, requester, rando, reverts_with):
    tid = tasks.create()
    escrow.cancelTask(tid, {"from": requester})
    with reverts_with("NotRequester", tid, rando):
        escrow.cancelTask(tid, {"from": rando})
