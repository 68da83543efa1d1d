"""TaskEscrow.claim."""

import pytest

E18 = 10**18
BUDGET = 1_000 * E18


@pytest.fixture(scope="module")
def payouts(annotators):
    return {annotators[0]: 100 * E18, annotators[1]: 200 * E18, annotators[2]: 300 * E18}


@pytest.fixture(scope="module")
def final(tasks, payouts):
    """(task id, tree) of a finalized task paying 600 of its 1000 budget (built once per
    module; tests in this module must not assume task ids)."""
    return tasks.final(payouts)


def test_claim_pays_account(escrow, token, final, tasks, annotator, S):
    tid, tree = final
    amount, proof = tasks.leaf(tree, annotator)
    before = token.balanceOf(annotator), token.balanceOf(escrow)
    tx = escrow.claim(tid, annotator, amount, proof, {"from": annotator})

    assert token.balanceOf(annotator) == before[0] + 100 * E18
    assert token.balanceOf(escrow) == before[1] - 100 * E18
    assert escrow.isClaimed(tid, annotator) is True
    t = escrow.task(tid)
    assert t["claimed"] == 100 * E18
    assert t["status"] == S.FINAL
    ev = tx.events["Claimed"]
    assert (ev["taskId"], ev["account"], ev["amount"]) == (tid, annotator, 100 * E18)
    transfer = tx.events["Transfer"]
    assert (transfer["from"], transfer["to"], transfer["value"]) == (escrow, annotator, amount)


def test_anyone_submits_tokens_go_to_account(escrow, token, final, tasks, annotators, rando):
    tid, tree = final
    amount, proof = tasks.leaf(tree, annotators[1])
    before = token.balanceOf(rando), token.balanceOf(annotators[1])
    tx = escrow.claim(tid, annotators[1], amount, proof, {"from": rando})
    assert token.balanceOf(rando) == before[0]
    assert token.balanceOf(annotators[1]) == before[1] + 200 * E18
    assert tx.events["Claimed"]["account"] == annotators[1]


def test_every_leaf_claims_once(escrow, token, final, tasks, annotators, payouts):
    tid, tree = final
    held = token.balanceOf(escrow)
    for a in annotators:
        amount, proof = tasks.leaf(tree, a)
        escrow.claim(tid, a, amount, proof, {"from": a})
    assert escrow.task(tid)["claimed"] == sum(payouts.values())
    assert token.balanceOf(escrow) == held - sum(payouts.values())
    assert all(escrow.isClaimed(tid, a) for a in annotators)


def test_claim_bit_is_per_task(escrow, tasks, annotator, rando):
    """The same leaf in two tasks is two separate claims."""
    a, tree_a = tasks.final({annotator: 5 * E18, rando: 1})
    b, tree_b = tasks.final({annotator: 5 * E18, rando: 1})
    assert tree_a.root == tree_b.root
    amount, proof = tasks.leaf(tree_a, annotator)
    escrow.claim(a, annotator, amount, proof, {"from": annotator})
    assert escrow.isClaimed(a, annotator) and not escrow.isClaimed(b, annotator)
    escrow.claim(b, annotator, amount, proof, {"from": annotator})
    assert escrow.isClaimed(b, annotator)


def test_claim_at_exactly_claim_deadline(escrow, final, tasks, annotator, pin_time, block_time):
    tid, tree = final
    deadline = escrow.claimDeadline(tid)
    amount, proof = tasks.leaf(tree, annotator)
    pin_time(deadline)
    tx = escrow.claim(tid, annotator, amount, proof, {"from": annotator})
    assert block_time(tx) == deadline
    assert escrow.isClaimed(tid, annotator)


def test_zero_amount_leaf(escrow, token, tasks, annotator, rando):
    tid, tree = tasks.final({annotator: 0, rando: 10})
    tx = escrow.claim(tid, annotator, 0, tasks.leaf(tree, annotator)[1], {"from": annotator})
    assert tx.events["Claimed"]["amount"] == 0
    assert escrow.isClaimed(tid, annotator)


def test_single_leaf_tree_with_empty_proof(escrow, token, tasks, annotator):
    tid, tree = tasks.final({annotator: BUDGET})
    assert tasks.leaf(tree, annotator)[1] == []
    held = token.balanceOf(escrow)
    escrow.claim(tid, annotator, BUDGET, [], {"from": annotator})
    assert token.balanceOf(escrow) == held - BUDGET


# --------------------------------------------------------------------------------------------
# paused time extends the claim period
# --------------------------------------------------------------------------------------------


def test_claim_deadline_view(escrow, final, tasks, block_time):
    tid, _ = final
    t = tasks.task(tid)
    assert escrow.claimDeadline(tid) == t["claimBase"] + escrow.pausedTime()
    assert escrow.pausedTime() == 0


def test_pause_extends_the_claim_deadline(
    escrow, token, final, tasks, annotator, guardian, pin_time, warp, reverts_with
):
    """A claim that the pause prevented gets the paused seconds back."""
    tid, tree = final
    deadline = escrow.claimDeadline(tid)
    amount, proof = tasks.leaf(tree, annotator)
    start = tasks.chain[-1].timestamp + 10
    pin_time(start)
    escrow.pause({"from": guardian})
    pin_time(start + 3 * 86_400)
    escrow.unpause({"from": guardian})
    assert escrow.pausedTime() == 3 * 86_400
    assert escrow.claimDeadline(tid) == deadline + 3 * 86_400
    pin_time(deadline + 3 * 86_400)
    tx = escrow.claim(tid, annotator, amount, proof, {"from": annotator})
    assert tx.events["Claimed"]["amount"] == amount


def test_claim_period_over_after_the_extension(
    escrow, final, tasks, annotator, guardian, pin_time, reverts_with
):
    tid, tree = final
    deadline = escrow.claimDeadline(tid)
    amount, proof = tasks.leaf(tree, annotator)
    start = tasks.chain[-1].timestamp + 10
    pin_time(start)
    escrow.pause({"from": guardian})
    pin_time(start + 500)
    escrow.unpause({"from": guardian})
    pin_time(deadline + 501)
    with reverts_with("ClaimPeriodOver", tid, deadline + 500):
        escrow.claim(tid, annotator, amount, proof, {"from": annotator})


def test_pause_that_ended_by_itself_extends_by_max_pause(
    escrow, final, tasks, annotator, guardian, warp, pin_time
):
    """Nobody unpauses: the pause ends after maxPause and extends the deadline by exactly
    that; claims work again without any transaction from the guardian."""
    tid, tree = final
    deadline = escrow.claimDeadline(tid)
    max_pause = escrow.maxPause()
    start = tasks.chain[-1].timestamp + 10
    pin_time(start)
    escrow.pause({"from": guardian})
    warp(start + max_pause + 86_400)
    assert escrow.paused() is False
    assert escrow.pausedTime() == max_pause
    assert escrow.claimDeadline(tid) == deadline + max_pause
    amount, proof = tasks.leaf(tree, annotator)
    pin_time(deadline + max_pause)
    escrow.claim(tid, annotator, amount, proof, {"from": annotator})
    assert escrow.isClaimed(tid, annotator)


def test_pause_before_finalization_does_not_extend(
    escrow, tasks, annotator, rando, guardian, pin_time, block_time
):
    """Paused time that is over when a task becomes final does not lengthen its claim
    period: only pauses during the period count."""
    start = tasks.chain[-1].timestamp + 10
    pin_time(start)
    escrow.pause({"from": guardian})
    pin_time(start + 1_000)
    escrow.unpause({"from": guardian})
    tid, _ = tasks.final({annotator: 1, rando: 2})
    finalized = tasks.chain[-1].timestamp
    assert escrow.pausedTime() == 1_000
    assert escrow.claimDeadline(tid) == finalized + tasks.task(tid)["claimPeriod"]


# --------------------------------------------------------------------------------------------
# reverts
# --------------------------------------------------------------------------------------------


def test_unknown_task(escrow, annotator, reverts_with):
    with reverts_with("UnknownTask", 7):
        escrow.claim(7, annotator, 1, [], {"from": annotator})


def test_not_final_while_funded(escrow, tasks, annotator, reverts_with):
    tid = tasks.create()
    with reverts_with("NotFinal", tid):
        escrow.claim(tid, annotator, 1, [], {"from": annotator})


def test_not_final_when_cancelled(escrow, tasks, requester, annotator, reverts_with):
    tid = tasks.create()
    escrow.cancelTask(tid, {"from": requester})
    with reverts_with("NotFinal", tid):
        escrow.claim(tid, annotator, 1, [], {"from": annotator})


def test_paused(escrow, final, tasks, annotator, guardian, reverts_with):
    tid, tree = final
    amount, proof = tasks.leaf(tree, annotator)
    escrow.pause({"from": guardian})
    with reverts_with("EnforcedPause"):
        escrow.claim(tid, annotator, amount, proof, {"from": annotator})
    with reverts_with("EnforcedPause"):  # before any other check
        escrow.claim(999, annotator, 1, [], {"from": annotator})
    assert not escrow.isClaimed(tid, annotator)


def test_not_final_when_expired(escrow, tasks, requester, annotator, chain, reverts_with):
    tid = tasks.create()
    chain.sleep(10 * 86_400)
    chain.mine()
    escrow.refund(tid, {"from": requester})
    with reverts_with("NotFinal", tid):
        escrow.claim(tid, annotator, 1, [], {"from": annotator})


def test_claim_period_over(escrow, final, tasks, annotator, pin_time, reverts_with):
    tid, tree = final
    deadline = escrow.claimDeadline(tid)
    amount, proof = tasks.leaf(tree, annotator)
    pin_time(deadline + 1)
    with reverts_with("ClaimPeriodOver", tid, deadline):
        escrow.claim(tid, annotator, amount, proof, {"from": annotator})


def test_already_claimed(escrow, token, final, tasks, annotator, rando, reverts_with):
    tid, tree = final
    amount, proof = tasks.leaf(tree, annotator)
    escrow.claim(tid, annotator, amount, proof, {"from": annotator})
    balance = token.balanceOf(annotator)
    for sender in (annotator, rando):
        with reverts_with("AlreadyClaimed", tid, annotator):
            escrow.claim(tid, annotator, amount, proof, {"from": sender})
    assert token.balanceOf(annotator) == balance
    assert escrow.task(tid)["claimed"] == amount


def test_invalid_proof_wrong_amount(escrow, final, tasks, annotator, reverts_with):
    tid, tree = final
    amount, proof = tasks.leaf(tree, annotator)
    with reverts_with("InvalidProof", tid, annotator, amount + 1):
        escrow.claim(tid, annotator, amount + 1, proof, {"from": annotator})
    assert not escrow.isClaimed(tid, annotator)


def test_invalid_proof_wrong_account(escrow, final, tasks, annotator, rando, reverts_with):
    """Somebody else's leaf and proof submitted for another account."""
    tid, tree = final
    amount, proof = tasks.leaf(tree, annotator)
    with reverts_with("InvalidProof", tid, rando, amount):
        escrow.claim(tid, rando, amount, proof, {"from": rando})


def test_invalid_proof_wrong_siblings(escrow, final, tasks, annotators, reverts_with):
    tid, tree = final
    amount, _ = tasks.leaf(tree, annotators[0])
    _, other = tasks.leaf(tree, annotators[1])
    with reverts_with("InvalidProof", tid, annotators[0], amount):
        escrow.claim(tid, annotators[0], amount, other, {"from": annotators[0]})
    with reverts_with("InvalidProof", tid, annotators[0], amount):
        escrow.claim(tid, annotators[0], amount, [], {"from": annotators[0]})


def test_invalid_proof_from_another_task(escrow, final, tasks, annotator, rando, reverts_with):
    tid, _ = final
    _, other_tree = tasks.final({annotator: 100 * E18, rando: 1})
    amount, proof = tasks.leaf(other_tree, annotator)
    with reverts_with("InvalidProof", tid, annotator, amount):
        escrow.claim(tid, annotator, amount, proof, {"from": annotator})


def test_zero_account(escrow, final, rando, reverts_with):
    tid, _ = final
    with reverts_with("ZeroAccount"):
        escrow.claim(tid, "0x" + "00" * 20, 1, [], {"from": rando})


def test_claim_exceeds_posted_total(escrow, token, tasks, annotators, reverts_with):
    """A tree promising more than the posted total: the total caps what leaves the task, so the
    other tasks' tokens stay put."""
    held = token.balanceOf(escrow)
    other = tasks.create()
    tid, tree = tasks.final({annotators[0]: 600 * E18, annotators[1]: 600 * E18}, total=1_000 * E18)
    a0, p0 = tasks.leaf(tree, annotators[0])
    a1, p1 = tasks.leaf(tree, annotators[1])
    escrow.claim(tid, annotators[0], a0, p0, {"from": annotators[0]})
    with reverts_with("ClaimExceedsPayout", tid, 600 * E18, 400 * E18):
        escrow.claim(tid, annotators[1], a1, p1, {"from": annotators[1]})
    assert escrow.task(tid)["claimed"] == 600 * E18
    assert not escrow.isClaimed(tid, annotators[1])
    assert token.balanceOf(escrow) == held + 2 * BUDGET - 600 * E18
    assert escrow.task(other)["claimed"] == 0
