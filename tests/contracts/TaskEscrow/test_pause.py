"""TaskEscrow.pause / unpause: creation and claims stop, refunds and the rest go on."""

import pytest

E18 = 10**18
BUDGET = 1_000 * E18
DAY = 86_400


@pytest.fixture(scope="module")
def final(tasks, annotators):
    return tasks.final({annotators[0]: 100 * E18, annotators[1]: 200 * E18})


@pytest.fixture(scope="module")
def funded(tasks):
    return tasks.create()


def test_pause_and_unpause(escrow, guardian):
    assert escrow.paused() is False
    tx = escrow.pause({"from": guardian})
    assert escrow.paused() is True
    assert tx.events["Paused"]["account"] == guardian
    tx = escrow.unpause({"from": guardian})
    assert escrow.paused() is False
    assert tx.events["Unpaused"]["account"] == guardian


def test_pause_twice(escrow, guardian, reverts_with):
    escrow.pause({"from": guardian})
    with reverts_with("EnforcedPause"):
        escrow.pause({"from": guardian})


def test_unpause_when_not_paused(escrow, guardian, reverts_with):
    with reverts_with("ExpectedPause"):
        escrow.unpause({"from": guardian})


@pytest.mark.parametrize("who", ["admin", "oracle", "requester", "annotator", "rando"])
def test_only_guardian(escrow, who, request, guardian, reverts_ac, ROLE):
    caller = request.getfixturevalue(who)
    with reverts_ac(caller, ROLE.GUARDIAN):
        escrow.pause({"from": caller})
    escrow.pause({"from": guardian})
    with reverts_ac(caller, ROLE.GUARDIAN):
        escrow.unpause({"from": caller})


def test_new_guardian_granted_by_admin(escrow, admin, guardian, rando, ROLE, reverts_ac):
    escrow.grantRole(ROLE.GUARDIAN, rando, {"from": admin})
    escrow.pause({"from": rando})
    escrow.revokeRole(ROLE.GUARDIAN, rando, {"from": admin})
    with reverts_ac(rando, ROLE.GUARDIAN):
        escrow.unpause({"from": rando})
    escrow.unpause({"from": guardian})


# --------------------------------------------------------------------------------------------
# what a pause stops
# --------------------------------------------------------------------------------------------


def test_create_paused(escrow, token, tasks, requester, guardian, chain, reverts_with):
    token.approve(escrow, BUDGET, {"from": requester})
    count = escrow.taskCount()
    escrow.pause({"from": guardian})
    with reverts_with("EnforcedPause"):
        escrow.createTask(token, BUDGET, tasks.params(chain), {"from": requester})
    with reverts_with("EnforcedPause"):
        escrow.createTaskWithPermit(
            token,
            BUDGET,
            tasks.params(chain),
            0,
            27,
            b"\x01" * 32,
            b"\x02" * 32,
            {"from": requester},
        )
    escrow.unpause({"from": guardian})
    tx = escrow.createTask(token, BUDGET, tasks.params(chain), {"from": requester})
    assert tx.return_value == count + 1


def test_claim_paused(escrow, token, tasks, final, annotators, guardian, reverts_with):
    tid, tree = final
    amount, proof = tasks.leaf(tree, annotators[0])
    escrow.pause({"from": guardian})
    with reverts_with("EnforcedPause"):
        escrow.claim(tid, annotators[0], amount, proof, {"from": annotators[0]})
    with reverts_with("EnforcedPause"):
        escrow.claimMany(annotators[0], [(tid, amount, proof)], {"from": annotators[0]})
    assert not escrow.isClaimed(tid, annotators[0])
    escrow.unpause({"from": guardian})
    before = token.balanceOf(annotators[0])
    escrow.claim(tid, annotators[0], amount, proof, {"from": annotators[0]})
    assert token.balanceOf(annotators[0]) == before + amount


def test_pause_does_not_extend_claim_deadline(
    escrow, tasks, final, annotators, guardian, chain, reverts_with, warp
):
    """Claims that could not be made while paused are not given extra time."""
    tid, tree = final
    deadline = escrow.task(tid)["claimDeadline"]
    escrow.pause({"from": guardian})
    warp(deadline + 1)
    escrow.unpause({"from": guardian})
    amount, proof = tasks.leaf(tree, annotators[0])
    with reverts_with("ClaimPeriodOver", tid, deadline):
        escrow.claim(tid, annotators[0], amount, proof, {"from": annotators[0]})


# --------------------------------------------------------------------------------------------
# what a pause does not stop
# --------------------------------------------------------------------------------------------


def test_refund_not_paused(escrow, token, final, requester, guardian, K):
    tid, _ = final
    escrow.pause({"from": guardian})
    before = token.balanceOf(requester)
    tx = escrow.refund(tid, {"from": requester})
    assert tx.events["Refunded"]["kind"] == K.UNALLOCATED
    assert token.balanceOf(requester) == before + 700 * E18


def test_oracle_timeout_refund_not_paused(escrow, funded, requester, guardian, chain, K, warp):
    escrow.pause({"from": guardian})
    warp(escrow.oracleDeadline(funded) + 1)
    tx = escrow.refund(funded, {"from": requester})
    assert tx.events["Refunded"]["kind"] == K.ORACLE_TIMEOUT


def test_cancel_not_paused(escrow, funded, requester, guardian, S):
    escrow.pause({"from": guardian})
    escrow.cancelTask(funded, {"from": requester})
    assert escrow.task(funded)["status"] == S.CANCELLED


def test_attest_and_payout_not_paused(escrow, registry, tasks, annotator, guardian, S):
    tid = tasks.create()
    escrow.pause({"from": guardian})
    registry.attest(tid, b"\x11" * 32, 4, {"from": annotator})
    tree, _ = tasks.finalize(tid, {annotator: 5 * E18})
    assert escrow.task(tid)["status"] == S.FINAL
    assert escrow.task(tid)["payoutRoot"] == tree.root
