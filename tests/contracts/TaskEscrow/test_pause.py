"""TaskEscrow.pause / unpause: bounded (a pause ends by itself after maxPause), a cooldown as
long before the next one; creation and claims stop, paused time extends claim periods, refunds
and the rest go on."""

import pytest

E18 = 10**18
BUDGET = 1_000 * E18
DAY = 86_400
MAX_PAUSE = 7 * DAY  # local-chain default of the deploy


@pytest.fixture(scope="module")
def final(tasks, annotators):
    return tasks.final({annotators[0]: 100 * E18, annotators[1]: 200 * E18})


@pytest.fixture(scope="module")
def funded(tasks):
    return tasks.create()


@pytest.fixture
def start(chain, pin_time):
    """A fixed time a little ahead for the next transaction (returned)."""
    t = chain[-1].timestamp + 10
    pin_time(t)
    return t


def test_pause_and_unpause(escrow, guardian, start, pin_time, block_time):
    assert escrow.maxPause() == MAX_PAUSE
    assert escrow.paused() is False
    tx = escrow.pause({"from": guardian})
    assert block_time(tx) == start
    ev = tx.events["Paused"]
    assert (ev["guardian"], ev["until"]) == (guardian, start + MAX_PAUSE)
    assert escrow.paused() is True

    pin_time(start + 1_234)
    tx = escrow.unpause({"from": guardian})
    ev = tx.events["Unpaused"]
    assert (ev["guardian"], ev["pausedSeconds"]) == (guardian, 1_234)
    assert escrow.paused() is False
    assert escrow.pausedTime() == 1_234


def test_paused_time_runs_during_a_pause(escrow, guardian, start, warp):
    escrow.pause({"from": guardian})
    warp(start + 600)
    assert escrow.pausedTime() == 600
    warp(start + MAX_PAUSE + 5 * DAY)
    assert escrow.pausedTime() == MAX_PAUSE  # capped at the maximum


def test_pause_ends_by_itself(
    escrow, token, tasks, guardian, requester, chain, start, pin_time, warp, reverts_with
):
    escrow.pause({"from": guardian})
    warp(start + MAX_PAUSE - 1)
    assert escrow.paused() is True
    warp(start + MAX_PAUSE)
    assert escrow.paused() is False
    assert escrow.pausedTime() == MAX_PAUSE
    # creation works again without anyone unpausing, and there is nothing left to unpause
    token.approve(escrow, BUDGET, {"from": requester})
    escrow.createTask(token, BUDGET, tasks.params(chain), {"from": requester})
    with reverts_with("ExpectedPause"):
        escrow.unpause({"from": guardian})


def test_paused_time_adds_up_over_pauses(escrow, guardian, start, pin_time, warp):
    escrow.pause({"from": guardian})
    pin_time(start + 100)
    escrow.unpause({"from": guardian})
    second = start + 100 + MAX_PAUSE
    pin_time(second)
    escrow.pause({"from": guardian})  # right at the end of the cooldown
    warp(second + MAX_PAUSE + 50)  # ends by itself
    assert escrow.pausedTime() == 100 + MAX_PAUSE
    third = second + 2 * MAX_PAUSE
    pin_time(third)
    escrow.pause({"from": guardian})
    pin_time(third + 7)
    tx = escrow.unpause({"from": guardian})
    assert tx.events["Unpaused"]["pausedSeconds"] == 7
    assert escrow.pausedTime() == 100 + MAX_PAUSE + 7


# --------------------------------------------------------------------------------------------
# reverts
# --------------------------------------------------------------------------------------------


def test_pause_twice(escrow, guardian, reverts_with):
    escrow.pause({"from": guardian})
    with reverts_with("EnforcedPause"):
        escrow.pause({"from": guardian})


def test_unpause_when_not_paused(escrow, guardian, reverts_with):
    with reverts_with("ExpectedPause"):
        escrow.unpause({"from": guardian})


def test_cooldown_after_unpause(escrow, guardian, start, pin_time, reverts_with):
    pin_time(start)
    escrow.pause({"from": guardian})
    pin_time(start + 60)
    escrow.unpause({"from": guardian})
    available = start + 60 + MAX_PAUSE
    pin_time(available - 1)
    with reverts_with("PauseCooldown", available):
        escrow.pause({"from": guardian})
    pin_time(available)
    escrow.pause({"from": guardian})
    assert escrow.paused()


def test_cooldown_after_a_pause_that_ended_by_itself(
    escrow, guardian, start, pin_time, reverts_with
):
    escrow.pause({"from": guardian})
    ended = start + MAX_PAUSE
    available = ended + MAX_PAUSE
    pin_time(available - 1)
    with reverts_with("PauseCooldown", available):
        escrow.pause({"from": guardian})
    pin_time(available)
    escrow.pause({"from": guardian})
    assert escrow.paused()


def test_another_guardian_shares_the_cooldown(
    escrow, gov, guardian, rando, block_time, reverts_with, ROLE
):
    """The cooldown is the escrow's, not per guardian: a second guardian cannot chain pauses."""
    gov.call(escrow, "grantRole", ROLE.GUARDIAN, rando)
    escrow.pause({"from": guardian})
    ended = block_time(escrow.unpause({"from": guardian}))
    with reverts_with("PauseCooldown", ended + MAX_PAUSE):
        escrow.pause({"from": rando})


@pytest.mark.parametrize("who", ["admin", "oracle", "requester", "annotator", "rando", "arbiter"])
def test_only_guardian(escrow, who, request, guardian, reverts_ac, ROLE):
    caller = request.getfixturevalue(who)
    with reverts_ac(caller, ROLE.GUARDIAN):
        escrow.pause({"from": caller})
    escrow.pause({"from": guardian})
    with reverts_ac(caller, ROLE.GUARDIAN):
        escrow.unpause({"from": caller})


def test_guardians_are_granted_by_the_timelock(
    escrow, gov, suite, admin, guardian, rando, ROLE, reverts_ac
):
    with reverts_ac(admin, ROLE.ADMIN):
        escrow.grantRole(ROLE.GUARDIAN, rando, {"from": admin})
    gov.call(escrow, "grantRole", ROLE.GUARDIAN, rando)
    escrow.pause({"from": rando})
    gov.call(escrow, "revokeRole", ROLE.GUARDIAN, rando)
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


def test_pause_over_the_claim_deadline_gives_the_time_back(
    escrow, tasks, final, annotators, guardian, pin_time, warp, reverts_with
):
    """Claims that could not be made while paused get the paused time back: a guardian can
    delay pay, not make it lapse."""
    tid, tree = final
    deadline = escrow.claimDeadline(tid)
    pin_time(deadline - 10)
    escrow.pause({"from": guardian})
    pin_time(deadline + 5 * DAY)
    escrow.unpause({"from": guardian})
    assert escrow.claimDeadline(tid) == deadline + 5 * DAY + 10
    amount, proof = tasks.leaf(tree, annotators[0])
    pin_time(deadline + 5 * DAY + 10)
    escrow.claim(tid, annotators[0], amount, proof, {"from": annotators[0]})
    assert escrow.isClaimed(tid, annotators[0])


# --------------------------------------------------------------------------------------------
# what a pause does not stop
# --------------------------------------------------------------------------------------------


def test_unallocated_refund_not_paused(escrow, token, final, requester, guardian, K):
    tid, _ = final
    escrow.pause({"from": guardian})
    before = token.balanceOf(requester)
    tx = escrow.refund(tid, {"from": requester})
    assert tx.events["Refunded"]["kind"] == K.UNALLOCATED
    assert token.balanceOf(requester) == before + 700 * E18


def test_oracle_timeout_refund_not_paused(escrow, funded, requester, guardian, K, warp):
    warp(escrow.oracleDeadline(funded) - DAY)
    escrow.pause({"from": guardian})
    warp(escrow.oracleDeadline(funded) + 1)
    assert escrow.paused()
    tx = escrow.refund(funded, {"from": requester})
    assert tx.events["Refunded"]["kind"] == K.ORACLE_TIMEOUT


def test_cancel_not_paused(escrow, funded, requester, guardian, S):
    escrow.pause({"from": guardian})
    escrow.cancelTask(funded, {"from": requester})
    assert escrow.task(funded)["status"] == S.CANCELLED


def test_attest_propose_veto_and_finalize_not_paused(
    escrow, committee, registry, tasks, annotator, guardian, S
):
    tid = tasks.create()
    escrow.pause({"from": guardian})
    registry.attest(tid, b"\x11" * 32, 4, {"from": annotator})
    tasks.propose(tid, b"\x0a" * 32, 1)
    committee.veto(tid, "no", {"from": guardian})
    tree, _ = tasks.finalize(tid, {annotator: 5 * E18})
    assert escrow.paused()
    assert escrow.task(tid)["status"] == S.FINAL
    assert escrow.task(tid)["payoutRoot"] == tree.root
