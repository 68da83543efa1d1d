"""The settlement v2 issue's scenarios, one test each (or a few), named after the scenario.

Each docstring says what used to happen to annotators and what happens now. Scenario 6 (gold
withheld) is off-chain and tested with the oracle.
"""

import pytest
from brownie import FeeOnTopToken  # type: ignore[attr-defined]
from eth_account import Account

from labelproof.commitments import sign_attestation
from tests.contracts.settlement_helpers import (
    BUDGET,
    DAY,
    DISPUTE_BOND,
    INPUTS,
    MAX_PAUSE,
    MIN_CHALLENGE,
    MIN_CLAIM,
    MIN_PROPOSAL_WINDOW,
    REPORT,
    selector,
)

X = b"\x0a" * 32
Y = b"\x0b" * 32
Z = b"\x0c" * 32
E18 = 10**18
PAYOUT_STANDS = 1


def claim(escrow, tasks, tid, tree, account, sender):
    amount, proof = tasks.leaf(tree, account)
    return escrow.claim(tid, account, amount, proof, {"from": sender})


def now(chain):
    return chain[-1].timestamp


# ------------------------------------------------------------------------------------------
# 1. pause eats the claim window
# ------------------------------------------------------------------------------------------


def test_scenario1_pause_no_longer_eats_the_claim_window(
    escrow,
    tasks,
    token,
    guardian,
    annotators,
    requester,
    rando,
    chain,
    pin_time,
    warp,
    K,
    reverts_with,
):
    """Used to: a guardian pause overlapping the claim deadline ran the claim period out while
    nobody could claim, and the requester then took the unclaimed pay back.
    Now: paused time is added to the claim deadline (claimDeadline view), claims succeed after
    the nominal deadline for as long as the pause lasted, and there is no Unclaimed refund
    while paused."""
    a, b, c = annotators
    payouts = {a: 300 * E18, b: 200 * E18, c: 100 * E18}
    total = sum(payouts.values())
    tid, tree = tasks.final(payouts, claim=DAY)
    deadline = escrow.claimDeadline(tid)
    assert escrow.pausedTime() == 0
    assert deadline == tasks.task(tid)["claimBase"]
    claim(escrow, tasks, tid, tree, a, rando)

    start = deadline - 3_600  # the pause starts an hour before the claim deadline
    pin_time(start)
    tx = escrow.pause({"from": guardian})
    assert tx.events["Paused"]["until"] == start + MAX_PAUSE
    with reverts_with("EnforcedPause"):
        claim(escrow, tasks, tid, tree, b, rando)
    with reverts_with("EnforcedPause"):
        escrow.claimMany(b, [(tid, *tasks.leaf(tree, b))], {"from": rando})

    warp(deadline + 600)  # the nominal deadline passes during the pause
    assert escrow.paused()
    assert escrow.claimDeadline(tid) == deadline + (now(chain) - start)
    # nothing unclaimed goes back while paused: only the part the payout never allocated
    assert [int(v) for v in escrow.refundable(tid)] == [BUDGET - total, K.UNALLOCATED]
    tx = escrow.refund(tid, {"from": rando})
    assert (tx.events["Refunded"]["amount"], tx.events["Refunded"]["kind"]) == (
        BUDGET - total,
        K.UNALLOCATED,
    )
    assert [int(v) for v in escrow.refundable(tid)] == [0, K.UNALLOCATED]

    paused_for = 2 * DAY
    pin_time(start + paused_for)
    tx = escrow.unpause({"from": guardian})
    assert tx.events["Unpaused"]["pausedSeconds"] == paused_for
    assert escrow.pausedTime() == paused_for
    assert escrow.claimDeadline(tid) == deadline + paused_for

    pin_time(deadline + paused_for)  # two days after the nominal deadline: still in time
    before = token.balanceOf(b)
    claim(escrow, tasks, tid, tree, b, rando)
    assert token.balanceOf(b) == before + payouts[b]

    pin_time(deadline + paused_for + 1)
    with reverts_with("ClaimPeriodOver", tid, deadline + paused_for):
        claim(escrow, tasks, tid, tree, c, rando)
    before = token.balanceOf(requester)
    tx = escrow.refund(tid, {"from": rando})
    assert (tx.events["Refunded"]["amount"], tx.events["Refunded"]["kind"]) == (
        payouts[c],
        K.UNCLAIMED,
    )
    assert token.balanceOf(requester) == before + payouts[c]


def test_scenario1_pause_is_capped_at_max_pause_and_cooled_down(
    escrow, tasks, guardian, annotator, rando, chain, pin_time, warp, reverts_with
):
    """Used to: a pause lasted as long as the guardian wanted, and could be renewed at once.
    Now: a pause ends by itself after maxPause (claims work again without an unpause, the claim
    deadline moved by exactly maxPause), and the next one waits a cooldown of maxPause."""
    assert escrow.maxPause() == MAX_PAUSE
    tid, tree = tasks.final({annotator: 10}, claim=DAY)
    deadline = escrow.claimDeadline(tid)
    start = now(chain) + 10
    pin_time(start)
    escrow.pause({"from": guardian})
    with reverts_with("EnforcedPause"):
        escrow.pause({"from": guardian})

    warp(start + MAX_PAUSE)
    assert not escrow.paused()
    assert escrow.pausedTime() == MAX_PAUSE
    assert escrow.claimDeadline(tid) == deadline + MAX_PAUSE
    with reverts_with("ExpectedPause"):
        escrow.unpause({"from": guardian})
    available = start + 2 * MAX_PAUSE
    with reverts_with("PauseCooldown", available):
        escrow.pause({"from": guardian})

    claim(escrow, tasks, tid, tree, annotator, rando)  # no unpause needed
    pin_time(available - 1)
    with reverts_with("PauseCooldown", available):
        escrow.pause({"from": guardian})
    pin_time(available)
    escrow.pause({"from": guardian})
    assert escrow.paused()


def test_scenario1_a_later_pause_never_reopens_claims_after_the_unclaimed_refund(
    escrow, tasks, token, guardian, annotators, requester, rando, warp, K, reverts_with
):
    """Found by the stateful test: once the requester took the unclaimed rest back,
    refundable() and refund() underflowed (Panic 0x11) while a later pause ran.
    Now: refundable() reads zero while paused, the Unclaimed refund marks claims closed for good
    (claimDeadline 0), and a pause afterwards reopens nothing (it moves the pause-extended
    deadline and the clock alike): no claim can reach other tasks' funds."""
    a, b, _ = annotators
    tid, tree = tasks.final({a: 300 * E18, b: 200 * E18}, claim=DAY)
    claim(escrow, tasks, tid, tree, a, rando)
    other, _ = tasks.final({a: 1 * E18})  # funds of another task in the same token
    warp(escrow.claimDeadline(tid) + 1)
    tx = escrow.refund(tid, {"from": rando})
    assert tx.events["Refunded"]["kind"] == K.UNCLAIMED
    assert tx.events["Refunded"]["amount"] == BUDGET - 300 * E18
    assert escrow.claimDeadline(tid) == 0

    escrow.pause({"from": guardian})
    amount, kind = escrow.refundable(tid)  # no underflow while paused
    assert (int(amount), int(kind)) == (0, K.UNALLOCATED)
    warp(tasks.chain[-1].timestamp + 3 * DAY)
    escrow.unpause({"from": guardian})
    held = token.balanceOf(escrow)
    with reverts_with("ClaimPeriodOver", tid, escrow.pausedTime()):
        claim(escrow, tasks, tid, tree, b, rando)
    with reverts_with("NothingToRefund", tid):
        escrow.refund(tid, {"from": rando})
    assert token.balanceOf(escrow) == held  # the other task's budget is all still there
    assert held >= BUDGET - tasks.task(other)["claimed"] - tasks.task(other)["refunded"]


# ------------------------------------------------------------------------------------------
# 2. requester-chosen periods
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "period", "value", "floor"),
    [
        ({"claim": 1}, "claimPeriod", 1, MIN_CLAIM),
        ({"challenge": 0}, "challengePeriod", 0, MIN_CHALLENGE),
        ({"timeout": 60}, "oracleTimeout", 60, MIN_PROPOSAL_WINDOW),
    ],
    ids=["claimPeriod 1", "challengePeriod 0", "oracleTimeout 60"],
)
def test_scenario2_requester_chosen_periods_below_the_floor_are_refused(
    tasks, kw, period, value, floor, reverts_with
):
    """Used to: a requester could set a 1-second claim period, no challenge period or a tiny
    oracle timeout, so annotators could not claim, or the requester took everything back
    before the oracle could propose. Now: each is refused with PeriodBelowFloor."""
    with reverts_with("PeriodBelowFloor", period, value, floor):
        tasks.create(**kw)


def test_scenario2_periods_at_the_floor_are_accepted(tasks):
    """The floors themselves are allowed: a requester may only lengthen periods."""
    tid = tasks.create(claim=MIN_CLAIM, challenge=MIN_CHALLENGE, timeout=MIN_PROPOSAL_WINDOW)
    t = tasks.task(tid)
    assert (t["claimPeriod"], t["challengePeriod"], t["oracleTimeout"]) == (
        MIN_CLAIM,
        MIN_CHALLENGE,
        MIN_PROPOSAL_WINDOW,
    )


def test_scenario2_proposal_pending_before_the_oracle_deadline_finalizes_after_it(
    escrow,
    committee,
    tasks,
    token,
    oracle,
    annotators,
    requester,
    rando,
    pin_time,
    warp,
    K,
    S,
    reverts_with,
):
    """Used to: a proposal that became pending just before the oracle deadline could not be
    finalized after it (recordPayout checked the deadline) and the requester took the whole
    budget back with OracleTimeout. Now: once pending, no OracleTimeout refund, and the
    payout finalizes after the deadline."""
    a, b, _ = annotators
    payouts = {a: 600 * E18, b: 300 * E18}
    tree = tasks.tree(payouts)
    tid = tasks.create(challenge=MIN_CHALLENGE, timeout=MIN_PROPOSAL_WINDOW)
    deadline = escrow.oracleDeadline(tid)
    assert deadline == tasks.task(tid)["revealDeadline"] + MIN_PROPOSAL_WINDOW
    pin_time(deadline)  # the last second a first proposal may come
    committee.propose(tid, tree.root, 900 * E18, REPORT, INPUTS, {"from": oracle})
    assert committee.isPending(tid)

    warp(deadline + 1)
    assert [int(v) for v in escrow.refundable(tid)] == [0, K.UNALLOCATED]
    with reverts_with("NothingToRefund", tid):
        escrow.refund(tid, {"from": requester})

    tasks.past_challenge(tid)
    committee.finalize(tid, {"from": rando})
    assert tasks.task(tid)["status"] == S.FINAL
    for acct, amount in payouts.items():
        before = token.balanceOf(acct)
        claim(escrow, tasks, tid, tree, acct, rando)
        assert token.balanceOf(acct) == before + amount
    tx = escrow.refund(tid, {"from": rando})
    assert (tx.events["Refunded"]["amount"], tx.events["Refunded"]["kind"]) == (
        100 * E18,
        K.UNALLOCATED,
    )


def test_scenario2_no_oracle_timeout_refund_while_disputed(
    suite,
    escrow,
    committee,
    tasks,
    oracle,
    admin,
    rando,
    arbiter,
    pin_time,
    warp,
    K,
    S,
    reverts_with,
):
    """A pending proposal disputed across the oracle deadline: the requester still cannot take
    the budget back; once the arbitrator lets the payout stand it finalizes."""
    tid = tasks.create(challenge=MIN_CHALLENGE, timeout=MIN_PROPOSAL_WINDOW)
    deadline = escrow.oracleDeadline(tid)
    pin_time(deadline - 60)
    committee.propose(tid, X, 1, REPORT, INPUTS, {"from": oracle})
    suite.token.mint(rando, DISPUTE_BOND, {"from": admin})
    suite.token.approve(committee, DISPUTE_BOND, {"from": rando})
    committee.dispute(tid, {"from": rando})

    warp(tasks.pending(tid).challenge_ends + DAY)
    assert [int(v) for v in escrow.refundable(tid)] == [0, K.UNALLOCATED]
    with reverts_with("UnderDispute", tid, 0):
        committee.finalize(tid, {"from": rando})
    suite.arbitrator.vote(0, PAYOUT_STANDS, {"from": arbiter})
    committee.finalize(tid, {"from": rando})
    assert tasks.task(tid)["status"] == S.FINAL


def test_scenario2_first_proposal_after_the_oracle_deadline_is_too_late(
    escrow, committee, tasks, token, oracle, requester, warp, K, S, reverts_with
):
    """The other side of the deadline: when nothing ever became pending in time, the late
    proposal is refused and the requester is refunded in full."""
    tid = tasks.create(timeout=MIN_PROPOSAL_WINDOW)
    deadline = escrow.oracleDeadline(tid)
    warp(deadline + 1)
    with reverts_with("ProposalTooLate", tid, deadline):
        committee.propose(tid, X, 1, REPORT, INPUTS, {"from": oracle})
    before = token.balanceOf(requester)
    tx = escrow.refund(tid, {"from": requester})
    assert tx.events["Refunded"]["kind"] == K.ORACLE_TIMEOUT
    assert token.balanceOf(requester) == before + BUDGET
    assert tasks.task(tid)["status"] == S.EXPIRED


# ------------------------------------------------------------------------------------------
# 3. split votes
# ------------------------------------------------------------------------------------------


def test_scenario3_split_votes_restart_into_agreement(
    suite2of3, tasks2of3, token, oracles, annotators, rando, reverts_with
):
    """Used to: 2-of-3 oracles voting three different payouts stuck the task for good (each
    oracle had voted; nothing could ever reach the threshold).
    Now: anyone restarts the round once every oracle has voted, a new round agrees, and the
    payout goes pending; a round that can still reach the threshold cannot be restarted."""
    committee, escrow = suite2of3.committee, suite2of3.escrow
    a, b, c = oracles
    payouts = {annotators[0]: 70 * E18, annotators[1]: 30 * E18}
    tree = tasks2of3.tree(payouts)
    tid = tasks2of3.create()
    tasks2of3.past_reveal(tid)

    committee.propose(tid, tree.root, 100 * E18, REPORT, INPUTS, {"from": a})
    committee.propose(tid, Y, 100 * E18, REPORT, INPUTS, {"from": b})
    with reverts_with("RoundCanProceed", tid, 2, 3):
        committee.restartRound(tid, {"from": rando})
    committee.propose(tid, Z, 100 * E18, REPORT, INPUTS, {"from": c})
    assert not committee.isPending(tid)

    tx = committee.restartRound(tid, {"from": rando})
    assert tx.events["RoundRestarted"]["round"] == 1
    committee.propose(tid, tree.root, 100 * E18, REPORT, INPUTS, {"from": c})
    tx = committee.propose(tid, tree.root, 100 * E18, REPORT, INPUTS, {"from": b})
    pend = tx.events["ProposalPending"]
    assert (pend["round"], pend["root"]) == (1, tree.root)

    tasks2of3.past_challenge(tid)
    committee.finalize(tid, {"from": rando})
    for acct, amount in payouts.items():
        before = token.balanceOf(acct)
        claim(escrow, tasks2of3, tid, tree, acct, rando)
        assert token.balanceOf(acct) == before + amount


def test_scenario3_revoked_oracles_vote_stops_counting(
    suite2of3, tasks2of3, gov2of3, oracles, rando, warp, reverts_with
):
    """A compromised oracle is revoked through the timelock (schedule, wait the delay,
    execute): its vote stops counting, and it takes the other two live oracles to agree."""
    committee = suite2of3.committee
    a, b, c = oracles
    tid = tasks2of3.create()
    tasks2of3.past_reveal(tid)
    committee.propose(tid, X, 1, REPORT, INPUTS, {"from": a})

    op, data, salt = gov2of3.schedule(committee, "revokeOracle", 1, a)
    with reverts_with("TimelockUnexpectedOperationState", op, (1 << 2).to_bytes(32, "big")):
        gov2of3.execute(committee, data, salt)
    warp(int(gov2of3.timelock.getTimestamp(op)))
    tx = gov2of3.execute(committee, data, salt, sender=rando)
    assert tx.events["OracleRevoked"]["oracle"] == a
    assert committee.votes(tid, X, 1, REPORT, INPUTS) == 0

    tx = committee.propose(tid, X, 1, REPORT, INPUTS, {"from": b})
    assert tx.events["Proposed"]["votes"] == 1
    assert not committee.isPending(tid)
    with reverts_with("NotOracle", tid, a):
        committee.propose(tid, Y, 1, REPORT, INPUTS, {"from": a})
    committee.propose(tid, X, 1, REPORT, INPUTS, {"from": c})
    assert committee.isPending(tid)


# ------------------------------------------------------------------------------------------
# 4. admin takes a live task
# ------------------------------------------------------------------------------------------


def test_scenario4_admin_can_no_longer_take_a_live_task(
    suite2of3,
    tasks2of3,
    gov2of3,
    token,
    admin,
    oracles,
    annotators,
    accounts,
    rando,
    warp,
    ROLE,
    reverts_with,
):
    """Used to: the admin could swap the oracle set (or its threshold) at once, so it could
    install its own oracle and pay a live task's budget to itself.
    Now: the timelock is the only owner/admin; the admin's direct calls revert; a change waits
    out the timelock delay; and a new rule set (the admin's own oracle, threshold 1) only
    governs tasks created afterwards: the live task still needs its original oracles."""
    committee, escrow, timelock = suite2of3.committee, suite2of3.escrow, suite2of3.timelock
    own_oracle = accounts[17]
    assert committee.owner() == timelock
    assert escrow.hasRole(ROLE.ADMIN, timelock) and not escrow.hasRole(ROLE.ADMIN, admin)
    live = tasks2of3.create()

    takeover = list(committee.rules(1))
    takeover[0], takeover[1] = [own_oracle.address], 1
    with reverts_with("OwnableUnauthorizedAccount", admin):
        committee.publishRules(tuple(takeover), {"from": admin})
    with reverts_with("AccessControlUnauthorizedAccount", admin, ROLE.ADMIN):
        escrow.grantRole(ROLE.GUARDIAN, admin, {"from": admin})

    op, data, salt = gov2of3.schedule(committee, "publishRules", tuple(takeover))
    with reverts_with("TimelockUnexpectedOperationState", op, (1 << 2).to_bytes(32, "big")):
        gov2of3.execute(committee, data, salt)
    warp(int(timelock.getTimestamp(op)))
    gov2of3.execute(committee, data, salt)
    assert committee.rulesCount() == 2

    grab = tasks2of3.tree({own_oracle: BUDGET})
    tasks2of3.past_reveal(live)
    with reverts_with("NotOracle", live, own_oracle):
        committee.propose(live, grab.root, BUDGET, REPORT, INPUTS, {"from": own_oracle})
    payouts = {annotators[0]: 400 * E18, annotators[1]: 600 * E18}
    tree, _ = tasks2of3.finalize(live, payouts)  # the original 2-of-3 oracles
    assert tasks2of3.task(live)["payoutRoot"] == tree.root
    for acct, amount in payouts.items():
        before = token.balanceOf(acct)
        claim(escrow, tasks2of3, live, tree, acct, rando)
        assert token.balanceOf(acct) == before + amount

    later = tasks2of3.create()
    assert tasks2of3.task(later)["rulesId"] == 2
    tasks2of3.past_reveal(later)
    tx = committee.propose(later, X, 1, REPORT, INPUTS, {"from": own_oracle})
    assert "ProposalPending" in tx.events  # the new rules govern new tasks


# ------------------------------------------------------------------------------------------
# 5. guardian veto
# ------------------------------------------------------------------------------------------


def test_scenario5_guardian_veto_is_bounded(
    escrow,
    committee,
    tasks,
    token,
    oracle,
    guardian,
    annotators,
    requester,
    rando,
    pin_time,
    warp,
    K,
    reverts_with,
):
    """Used to: the guardian could veto every proposal until the oracle deadline passed, and
    the requester then took the whole budget back.
    Now: one veto per task (VetoUsed); after it the committee re-proposes, even past the oracle
    deadline, the payout finalizes and the requester gets nothing back."""
    payouts = {annotators[0]: 500 * E18, annotators[1]: 300 * E18, annotators[2]: 200 * E18}
    tree = tasks.tree(payouts)
    tid = tasks.create(timeout=MIN_PROPOSAL_WINDOW)
    start = token.balanceOf(requester)
    deadline = escrow.oracleDeadline(tid)
    pin_time(deadline - 60)
    committee.propose(tid, tree.root, BUDGET, REPORT, INPUTS, {"from": oracle})

    warp(deadline + 1)
    tx = committee.veto(tid, "looks off", {"from": guardian})
    assert tx.events["Vetoed"]["round"] == 1
    assert [int(v) for v in escrow.refundable(tid)] == [0, K.UNALLOCATED]

    committee.propose(tid, tree.root, BUDGET, REPORT, INPUTS, {"from": oracle})
    with reverts_with("VetoUsed", tid):
        committee.veto(tid, "again", {"from": guardian})
    tasks.past_challenge(tid)
    committee.finalize(tid, {"from": rando})
    for acct, amount in payouts.items():
        before = token.balanceOf(acct)
        claim(escrow, tasks, tid, tree, acct, rando)
        assert token.balanceOf(acct) == before + amount
    with reverts_with("NothingToRefund", tid):
        escrow.refund(tid, {"from": requester})
    assert token.balanceOf(requester) == start


# ------------------------------------------------------------------------------------------
# 7. relayed batch
# ------------------------------------------------------------------------------------------


def test_scenario7_one_signer_can_no_longer_sink_a_relayed_batch(
    registry, tasks, relayer, new_key, chain
):
    """Used to: one bad entry reverted the whole relayed batch, so an annotator who attested
    directly after signing (making its relayed signature stale) sank everyone else's.
    Now: the stale entry is skipped with AttestationSkipped(index, task, annotator,
    StaleVersion selector) and the others are recorded."""
    tid = tasks.create()
    direct, direct_key = new_key()
    others = [Account.create(), Account.create()]

    def sign(key, root, count):
        return sign_attestation(key, chain.id, registry.address, tid, root, count, 1)

    stale = sign(direct_key, X, 10)  # handed to the relayer first
    registry.attest(tid, Y, 12, {"from": direct})  # then attested directly: version 1
    batch = [sign(others[0].key, Z, 5), stale, sign(others[1].key, Z, 7)]
    tx = registry.attestBySig([s.as_tuple() for s in batch], {"from": relayer})

    assert tx.return_value == 2
    assert [(e["annotator"], e["itemCount"]) for e in tx.events["Attested"]] == [
        (others[0].address, 5),
        (others[1].address, 7),
    ]
    skipped = tx.events["AttestationSkipped"]
    assert len(skipped) == 1
    assert (skipped[0]["index"], skipped[0]["taskId"], skipped[0]["annotator"]) == (
        1,
        tid,
        direct.address,
    )
    assert skipped[0]["reason"] == selector("StaleVersion(uint256,address,uint32,uint32)")
    assert registry.isAttested(tid, direct, Y, 12)
    assert not registry.isAttested(tid, direct, X, 10)
    assert registry.isAttested(tid, others[0].address, Z, 5)
    assert registry.isAttested(tid, others[1].address, Z, 7)


def test_scenario7_forged_entry_is_skipped_too(registry, tasks, relayer, chain):
    """Used to: a forged entry reverted the batch (InvalidSignature). Now it is skipped with
    the InvalidSignature selector and the honest entry after it is recorded."""
    tid = tasks.create()
    honest, forger = Account.create(), Account.create()
    good = sign_attestation(honest.key, chain.id, registry.address, tid, Z, 5, 1)
    forged = sign_attestation(forger.key, chain.id, registry.address, tid, X, 5, 1)
    claimed = (tid, honest.address, X, 5, 1, forged.v, forged.r, forged.s)  # honest's name
    tx = registry.attestBySig([claimed, good.as_tuple()], {"from": relayer})
    assert tx.return_value == 1
    skipped = tx.events["AttestationSkipped"]
    assert (skipped["index"], skipped["reason"]) == (
        0,
        selector("InvalidSignature(uint256,address)"),
    )
    assert registry.isAttested(tid, honest.address, Z, 5)


# ------------------------------------------------------------------------------------------
# 8. junk attestations
# ------------------------------------------------------------------------------------------


@pytest.fixture
def junked(escrow, registry, tasks, annotator, rando, requester, pin_time):
    """A task with an honest and a junk attestation, closed early by its requester a day
    before its annotation deadline: (task id, close time, original task, cancel tx)."""
    tid = tasks.create(annotation=2 * DAY, reveal=3 * DAY, timeout=MIN_PROPOSAL_WINDOW)
    registry.attest(tid, Y, 3, {"from": annotator})
    registry.attest(tid, b"\xee" * 32, 10**6, {"from": rando})  # junk
    original = tasks.task(tid)
    closed = original["annotationDeadline"] - DAY
    pin_time(closed)
    tx = escrow.cancelTask(tid, {"from": requester})
    return tid, closed, original, tx


def test_scenario8_junk_attestation_no_longer_traps_the_budget(
    escrow,
    registry,
    tasks,
    token,
    requester,
    annotators,
    junked,
    pin_time,
    warp,
    K,
    S,
    reverts_with,
):
    """Used to: a junk attestation from anyone made cancelTask revert (AttestationsExist), so
    the requester had to wait out the whole annotation, reveal and oracle windows.
    Now: cancelTask closes the task early (TaskClosedEarly, both deadlines moved up by the
    same amount), later attestations revert AnnotationWindowClosed, and with no proposal the
    requester gets the OracleTimeout refund at the earlier oracle deadline."""
    tid, closed, original, tx = junked
    t = tasks.task(tid)
    shift = original["annotationDeadline"] - closed
    ev = tx.events["TaskClosedEarly"]
    assert (ev["taskId"], ev["annotationDeadline"], ev["revealDeadline"]) == (
        tid,
        closed,
        t["revealDeadline"],
    )
    assert t["annotationDeadline"] == closed
    # the reveal window keeps its length: both deadlines moved up by a day
    assert t["revealDeadline"] == original["revealDeadline"] - shift == closed + DAY
    closed_ev = tx.events["AnnotationClosed"]
    assert (closed_ev["taskId"], closed_ev["annotationDeadline"]) == (tid, closed)
    assert "Refunded" not in tx.events and t["status"] == S.FUNDED
    assert [int(v) for v in registry.window(tid)] == [closed, 1]

    pin_time(closed + 1)
    with reverts_with("AnnotationWindowClosed", tid, closed):
        registry.attest(tid, Y, 3, {"from": annotators[1]})
    with reverts_with("AttestationsExist", tid):
        escrow.cancelTask(tid, {"from": requester})

    deadline = escrow.oracleDeadline(tid)
    assert deadline == original["revealDeadline"] + MIN_PROPOSAL_WINDOW - shift
    warp(deadline)
    assert [int(v) for v in escrow.refundable(tid)] == [0, K.UNALLOCATED]
    before = token.balanceOf(requester)
    warp(deadline + 1)
    tx = escrow.refund(tid, {"from": requester})
    assert (tx.events["Refunded"]["amount"], tx.events["Refunded"]["kind"]) == (
        BUDGET,
        K.ORACLE_TIMEOUT,
    )
    assert token.balanceOf(requester) == before + BUDGET
    assert tasks.task(tid)["status"] == S.EXPIRED


def test_scenario8_honest_attested_work_is_still_paid_after_closing_early(
    escrow,
    committee,
    tasks,
    token,
    annotator,
    rando,
    requester,
    junked,
    block_time,
    reverts_with,
):
    """Closing early does not cost honest annotators: their attestations stand, the oracle
    proposes after the (earlier) reveal deadline and they claim; the junk attester, absent from
    the payout tree, gets nothing."""
    tid, _, original, _ = junked
    tree = tasks.tree({annotator: 250 * E18})
    tx = tasks.propose(tid, tree.root, 250 * E18)
    assert block_time(tx) < original["revealDeadline"]  # sooner than the task first allowed
    tasks.past_challenge(tid)
    committee.finalize(tid, {"from": rando})
    before = token.balanceOf(annotator)
    claim(escrow, tasks, tid, tree, annotator, rando)
    assert token.balanceOf(annotator) == before + 250 * E18
    with reverts_with("InvalidProof", tid, rando, 1):
        escrow.claim(tid, rando, 1, [], {"from": rando})
    before = token.balanceOf(requester)
    escrow.refund(tid, {"from": rando})
    assert token.balanceOf(requester) == before + BUDGET - 250 * E18


# ------------------------------------------------------------------------------------------
# 9. fee-on-top token
# ------------------------------------------------------------------------------------------


def test_scenario9_fee_on_top_token_only_hurts_its_own_tasks(
    escrow, tasks, token, admin, requester, annotators, rando, reverts_with, S
):
    """Used to: a token that takes a fee from the sender on top of each transfer passed the
    funding check, and one task's claims took the fee out of other tasks' funds in the same
    token.
    Now: funding checks the requester's side too, so the token is refused up front
    (FeeOnTopToken); and if a token turns the fee on after funding (an upgradeable token),
    every outbound transfer must still lower the escrow's balance by exactly the amount, so
    its claims and refunds revert OutboundTransferMismatch; the other task in that token keeps
    every token, and tasks in other tokens are unaffected."""
    ftop = FeeOnTopToken.deploy({"from": admin})
    ftop.mint(requester, 10_000 * E18, {"from": admin})
    a, b, c = annotators
    first_budget, second_budget = 1_000 * E18, 400 * E18
    with reverts_with("FeeOnTopToken", ftop, first_budget, first_budget + ftop.feeOf(first_budget)):
        tasks.create(first_budget, tok=ftop)

    ftop.setFeeBps(0, {"from": admin})  # funded while the fee is off...
    before = ftop.balanceOf(requester)
    first = tasks.create(first_budget, tok=ftop)
    second = tasks.create(second_budget, tok=ftop)
    held = first_budget + second_budget
    assert ftop.balanceOf(escrow) == held
    assert ftop.balanceOf(requester) == before - held
    normal = tasks.create(BUDGET)

    first_tree, _ = tasks.finalize(first, {a: 600 * E18, b: 400 * E18})
    second_tree, _ = tasks.finalize(second, {a: 100 * E18, c: 200 * E18})
    normal_tree, _ = tasks.finalize(normal, {a: 700 * E18})
    ftop.setFeeBps(100, {"from": admin})  # ...and switched on afterwards

    with reverts_with("OutboundTransferMismatch", ftop, 600 * E18, 606 * E18):
        claim(escrow, tasks, first, first_tree, a, rando)
    with reverts_with("OutboundTransferMismatch", ftop, 200 * E18, 202 * E18):
        claim(escrow, tasks, second, second_tree, c, rando)
    batch = [
        (first, *tasks.leaf(first_tree, a)),
        (second, *tasks.leaf(second_tree, a)),
    ]
    with reverts_with("OutboundTransferMismatch", ftop, 700 * E18, 707 * E18):
        escrow.claimMany(a, batch, {"from": rando})
    with reverts_with("OutboundTransferMismatch", ftop, 100 * E18, 101 * E18):
        escrow.refund(second, {"from": rando})
    assert ftop.balanceOf(escrow) == held  # nothing left, so nothing was taken from the other
    assert not escrow.isClaimed(first, a) and tasks.task(second)["claimed"] == 0

    # the same annotator's pay in a normal token is unaffected
    before = token.balanceOf(a)
    claim(escrow, tasks, normal, normal_tree, a, rando)
    assert token.balanceOf(a) == before + 700 * E18
    before = token.balanceOf(requester)
    escrow.refund(normal, {"from": rando})
    assert token.balanceOf(requester) == before + BUDGET - 700 * E18
    assert tasks.task(normal)["status"] == S.FINAL
