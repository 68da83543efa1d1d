"""OracleCommittee.dispute and rule: anyone challenges a pending proposal with a bond, a 2-of-3
LocalArbitrator panel rules, and the bonds move exactly as the verdict says."""

import brownie
import pytest

from tests.contracts.settlement_helpers import (
    BUDGET,
    BURN,
    COMMITTEE_GRACE,
    DISPUTE_BOND,
    INPUTS,
    PROPOSER_BOND,
    REPORT,
    Bonds,
    burned,
    deploy_panel_suite,
    h,
    proposal,
    rule,
    tasks_for,
)

X = b"\x0a" * 32
Y = b"\x0b" * 32
STAKE = 1_000 * 10**18
REFUSED, PAYOUT_STANDS, PAYOUT_WRONG, REFUND_REQUESTER = range(4)


@pytest.fixture(scope="module")
def panel(accounts):
    return [accounts[12], accounts[13], accounts[14]]


@pytest.fixture(scope="module")
def disputer(accounts):
    return accounts[15]


@pytest.fixture(scope="module")
def bonder(accounts):
    return accounts[16]


@pytest.fixture(scope="module")
def ps(admin, guardian, oracles, panel):
    """2-of-3 oracles, 2-of-3 arbitrator panel, rule set 1's default bonds and 20% burn."""
    return deploy_panel_suite(admin, guardian, oracles, 2, panel, 2)


@pytest.fixture(scope="module")
def pt(chain, ps, oracles, token, requester):
    return tasks_for(chain, ps, oracles, token, requester)


@pytest.fixture(scope="module")
def bonds(ps, admin, disputer, bonder):
    b = Bonds(ps, admin)
    b.stake(STAKE)
    b.fund(disputer, 10 * DISPUTE_BOND)
    b.fund(bonder, 10 * PROPOSER_BOND)
    return b


@pytest.fixture(scope="module")
def tids(pt, ps, bonds, bonder, warp):
    """Two tasks with a pending proposal each, challenge windows open for a day:
    (committee proposal backed by the stake, bonded proposal by `bonder`)."""
    tc = pt.create()
    tb = pt.create()
    warp(pt.task(tb)["revealDeadline"] + COMMITTEE_GRACE + 1)
    pt.propose(tc, X, 100, REPORT, INPUTS)
    ps.committee.proposeBonded(tb, X, 100, REPORT, INPUTS, {"from": bonder})
    return tc, tb


@pytest.fixture(scope="module")
def tc(tids):
    return tids[0]


@pytest.fixture(scope="module")
def tb(tids):
    return tids[1]


def test_anyone_disputes_inside_the_challenge_window(ps, pt, bonds, tc, tb, disputer):
    committee, arbitrator = ps.committee, ps.arbitrator
    before = bonds.balances(disputer, committee)
    tx = committee.dispute(tc, {"from": disputer})
    ev = tx.events["Disputed"]
    assert (ev["taskId"], ev["disputer"], ev["round"], ev["disputeId"], ev["bond"]) == (
        tc,
        disputer,
        0,
        0,
        DISPUTE_BOND,
    )
    assert tx.return_value == 0
    assert tx.events["DisputeCreation"]["_arbitrable"] == committee
    assert bonds.balances(disputer, committee) == [
        before[0] - DISPUTE_BOND,
        before[1] + DISPUTE_BOND,
    ]
    p = pt.pending(tc)
    assert (p.disputed, p.disputer, p.dispute_bond, p.dispute_id) == (
        True,
        disputer.address,
        DISPUTE_BOND,
        0,
    )
    assert p.root == h(X)  # the proposal itself is kept for the ruling
    assert committee.isPending(tc) is False
    assert committee.disputeTask(arbitrator, 0) == tc
    assert arbitrator.disputeCount() == 1
    assert arbitrator.disputeStatus(0) == 0  # Waiting
    bonds.assert_conserved([tc, tb])


def test_second_task_gets_next_dispute_id(ps, tc, tb, bonds, disputer, rando):
    bonds.fund(rando, DISPUTE_BOND)
    ps.committee.dispute(tc, {"from": disputer})
    tx = ps.committee.dispute(tb, {"from": rando})
    assert tx.events["Disputed"]["disputeId"] == 1
    assert ps.committee.disputeTask(ps.arbitrator, 1) == tb
    bonds.assert_conserved([tc, tb])


def test_dispute_needs_the_bond(ps, tc, rando, reverts_with):
    with reverts_with("ERC20InsufficientAllowance", ps.committee, 0, DISPUTE_BOND):
        ps.committee.dispute(tc, {"from": rando})


def test_dispute_twice_reverts(ps, tc, bonds, disputer, bonder, reverts_with):
    ps.committee.dispute(tc, {"from": disputer})
    with reverts_with("UnderDispute", tc, 0):
        ps.committee.dispute(tc, {"from": bonder})


def test_dispute_when_nothing_pending_reverts(ps, pt, bonds, disputer, reverts_with):
    tid = pt.create()
    with reverts_with("NoPendingProposal", tid):
        ps.committee.dispute(tid, {"from": disputer})


def test_dispute_at_window_end_reverts(ps, pt, tc, bonds, disputer, pin_time, reverts_with):
    ends = pt.pending(tc).challenge_ends
    pin_time(ends - 1)
    ps.committee.dispute(tc, {"from": disputer})  # last second inside the window

    tid_b = pt.create()
    pt.propose(tid_b, X, 100)
    ends_b = pt.pending(tid_b).challenge_ends
    pin_time(ends_b)
    with reverts_with("ChallengeWindowClosed", tid_b, ends_b):
        ps.committee.dispute(tid_b, {"from": disputer})


def test_finalize_blocked_while_disputed(ps, pt, tc, bonds, disputer, warp, reverts_with):
    ps.committee.dispute(tc, {"from": disputer})
    warp(pt.pending(tc).challenge_ends + 10 * 86_400)
    with reverts_with("UnderDispute", tc, 0):
        ps.committee.finalize(tc, {"from": disputer})


def test_nothing_else_moves_while_disputed(
    ps, pt, tc, bonds, disputer, oracles, guardian, rando, reverts_with
):
    committee = ps.committee
    committee.dispute(tc, {"from": disputer})
    with reverts_with("UnderDispute", tc, 0):
        committee.veto(tc, "", {"from": guardian})
    with reverts_with("UnderDispute", tc, 0):
        committee.propose(tc, Y, 1, REPORT, INPUTS, {"from": oracles[2]})
    with reverts_with("UnderDispute", tc, 0):
        committee.proposeBonded(tc, Y, 1, REPORT, INPUTS, {"from": rando})
    with reverts_with("UnderDispute", tc, 0):
        committee.restartRound(tc, {"from": rando})


def test_no_oracle_timeout_refund_while_disputed(
    ps, pt, tc, bonds, disputer, requester, warp, K, reverts_with
):
    ps.committee.dispute(tc, {"from": disputer})
    warp(ps.escrow.oracleDeadline(tc) + 1)
    assert [int(v) for v in ps.escrow.refundable(tc)] == [0, K.UNALLOCATED]
    with reverts_with("NothingToRefund", tc):
        ps.escrow.refund(tc, {"from": requester})


def test_split_panel_waits_for_the_quorum(ps, pt, tc, bonds, disputer, panel):
    committee, arbitrator = ps.committee, ps.arbitrator
    committee.dispute(tc, {"from": disputer})
    tx = arbitrator.vote(0, PAYOUT_WRONG, {"from": panel[0]})
    assert "Ruled" not in tx.events
    arbitrator.vote(0, PAYOUT_STANDS, {"from": panel[1]})
    assert pt.pending(tc).disputed
    assert (arbitrator.votes(0, PAYOUT_WRONG), arbitrator.votes(0, PAYOUT_STANDS)) == (1, 1)
    tx = arbitrator.vote(0, PAYOUT_STANDS, {"from": panel[2]})
    assert tx.events["Ruled"]["ruling"] == PAYOUT_STANDS
    assert tx.events["DisputeResolved"]["verdict"] == PAYOUT_STANDS
    assert arbitrator.disputeStatus(0) == 2  # Solved
    assert arbitrator.currentRuling(0) == PAYOUT_STANDS
    assert not pt.pending(tc).disputed


# ------------------------------------------------------------------------------------------
# verdicts: exact balances
# ------------------------------------------------------------------------------------------


def _snapshot(ps, token, bonds, disputer, bonder, requester):
    return {
        "disputer": int(ps.token.balanceOf(disputer)),
        "bonder": int(ps.token.balanceOf(bonder)),
        "committee": int(ps.token.balanceOf(ps.committee)),
        "stake": int(ps.committee.stake(ps.token)),
        "burn": int(ps.token.balanceOf(BURN)),
        "requester": int(token.balanceOf(requester)),
        "escrow": int(token.balanceOf(ps.escrow)),
    }


def _delta(after, before):
    return {k: after[k] - before[k] for k in after}


P, D = PROPOSER_BOND, DISPUTE_BOND
# Changes from just before the dispute to just after the ruling, bonded proposal by `bonder`.
BONDED_DELTAS = {
    REFUSED: {"disputer": 0, "bonder": 0, "committee": 0, "stake": 0, "burn": 0},
    PAYOUT_STANDS: {
        "disputer": -D,
        "bonder": D - burned(D),
        "committee": 0,
        "stake": 0,
        "burn": burned(D),
    },
    PAYOUT_WRONG: {
        "disputer": P - burned(P),
        "bonder": 0,
        "committee": -P,
        "stake": 0,
        "burn": burned(P),
    },
    REFUND_REQUESTER: {
        "disputer": P - burned(P),
        "bonder": 0,
        "committee": -P,
        "stake": 0,
        "burn": burned(P),
    },
}
# The same for the committee's proposal, whose bond came out of the stake.
COMMITTEE_DELTAS = {
    REFUSED: {"disputer": 0, "bonder": 0, "committee": 0, "stake": 0, "burn": 0},
    PAYOUT_STANDS: {
        "disputer": -D,
        "bonder": 0,
        "committee": D - burned(D),
        "stake": D - burned(D),
        "burn": burned(D),
    },
    PAYOUT_WRONG: {
        "disputer": P - burned(P),
        "bonder": 0,
        "committee": -P,
        "stake": 0,
        "burn": burned(P),
    },
    REFUND_REQUESTER: {
        "disputer": P - burned(P),
        "bonder": 0,
        "committee": -P,
        "stake": 0,
        "burn": burned(P),
    },
}


def _expected_settlements(verdict, tid, ps, disputer, winner):
    token = ps.token.address
    if verdict == REFUSED:
        return [(tid, token, disputer.address, D)]
    if verdict == PAYOUT_STANDS:
        return [(tid, token, BURN, burned(D)), (tid, token, winner, D - burned(D))]
    return [
        (tid, token, disputer.address, D),
        (tid, token, BURN, burned(P)),
        (tid, token, disputer.address, P - burned(P)),
    ]


@pytest.mark.parametrize("verdict", [REFUSED, PAYOUT_STANDS, PAYOUT_WRONG, REFUND_REQUESTER])
@pytest.mark.parametrize("kind", ["bonded", "committee"])
def test_verdict_moves_bonds_exactly(
    ps, pt, token, tc, tb, bonds, disputer, bonder, requester, panel, verdict, kind, S, K
):
    committee = ps.committee
    tid = tb if kind == "bonded" else tc
    before = _snapshot(ps, token, bonds, disputer, bonder, requester)
    committee.dispute(tid, {"from": disputer})
    bonds.assert_conserved([tc, tb])
    tx = rule(ps.arbitrator, 0, verdict, panel)
    after = _snapshot(ps, token, bonds, disputer, bonder, requester)

    deltas = BONDED_DELTAS if kind == "bonded" else COMMITTEE_DELTAS
    refund = BUDGET if verdict == REFUND_REQUESTER else 0
    assert _delta(after, before) == {
        **deltas[verdict],
        "requester": refund,
        "escrow": -refund,
    }
    bonds.assert_conserved([tc, tb])

    winner = bonder.address if kind == "bonded" else committee.address
    settled = [(e["taskId"], e["token"], e["to"], e["amount"]) for e in tx.events["BondSettled"]]
    assert settled == _expected_settlements(verdict, tid, ps, disputer, winner)
    resolved = tx.events["DisputeResolved"]
    assert (resolved["taskId"], resolved["disputeId"], resolved["verdict"]) == (tid, 0, verdict)
    ruling = tx.events["Ruling"]
    assert (ruling["_arbitrator"], ruling["_disputeID"], ruling["_ruling"]) == (
        ps.arbitrator,
        0,
        verdict,
    )
    assert committee.disputeTask(ps.arbitrator, 0) == 0

    p = pt.pending(tid)
    assert (p.disputed, p.dispute_bond, p.ever_pending) == (False, 0, True)
    if verdict in (REFUSED, PAYOUT_STANDS):
        # the proposal stands, its bond still locked behind it
        assert (p.round, p.root, p.bond) == (0, h(X), P)
        assert committee.isPending(tid)
        assert pt.task(tid)["status"] == S.FUNDED
    else:
        assert (p.round, p.root, p.challenge_ends, p.bond) == (1, "0x" + "00" * 32, 0, 0)
        assert not committee.isPending(tid)
    if verdict == REFUND_REQUESTER:
        assert pt.task(tid)["status"] == S.EXPIRED
        refunded = tx.events["Refunded"]
        assert (refunded["taskId"], refunded["amount"], refunded["kind"]) == (
            tid,
            BUDGET,
            K.RULING,
        )
    elif verdict == PAYOUT_WRONG:
        assert pt.task(tid)["status"] == S.FUNDED


@pytest.mark.parametrize("verdict", [REFUSED, PAYOUT_STANDS])
def test_standing_proposal_finalizes_and_returns_the_bond(
    ps, pt, tb, tc, bonds, disputer, bonder, panel, verdict, warp, S
):
    """After Refused or PayoutStands the bonded proposer's own bond comes back at finalize."""
    committee = ps.committee
    committee.dispute(tb, {"from": disputer})
    rule(ps.arbitrator, 0, verdict, panel)
    warp(pt.pending(tb).challenge_ends)
    before = bonds.balances(bonder)[0]
    tx = committee.finalize(tb, {"from": disputer})
    assert bonds.balances(bonder)[0] == before + P
    assert tx.events["BondSettled"][0]["to"] == bonder
    assert pt.task(tb)["status"] == S.FINAL
    bonds.assert_conserved([tc, tb])


def test_ruling_after_window_end_lets_finalize_at_once(ps, pt, tc, bonds, disputer, panel, warp):
    committee = ps.committee
    committee.dispute(tc, {"from": disputer})
    warp(pt.pending(tc).challenge_ends + 3_600)
    rule(ps.arbitrator, 0, REFUSED, panel)
    committee.finalize(tc, {"from": disputer})
    assert pt.task(tc)["payoutRoot"] == h(X)


def test_payout_wrong_reopens_the_round_past_the_oracle_deadline(
    ps, pt, tc, bonds, disputer, panel, oracles, warp, S
):
    """A wrong proposal thrown out after the oracle deadline can still be replaced: the
    requester cannot walk away with the budget, and the oracles can propose again."""
    committee = ps.committee
    committee.dispute(tc, {"from": disputer})
    warp(ps.escrow.oracleDeadline(tc) + 1)
    rule(ps.arbitrator, 0, PAYOUT_WRONG, panel)
    assert ps.escrow.refundable(tc)[0] == 0
    tx = pt.propose(tc, Y, 200, REPORT, INPUTS)
    assert tx.events["ProposalPending"]["round"] == 1
    pt.past_challenge(tc)
    committee.finalize(tc, {"from": disputer})
    assert pt.task(tc)["status"] == S.FINAL
    assert pt.task(tc)["payoutRoot"] == h(Y)


def test_second_dispute_in_a_new_round(ps, pt, tc, tb, bonds, disputer, bonder, panel):
    committee = ps.committee
    committee.dispute(tc, {"from": disputer})
    rule(ps.arbitrator, 0, PAYOUT_WRONG, panel)
    pt.propose(tc, Y, 200, REPORT, INPUTS)
    tx = committee.dispute(tc, {"from": bonder})
    assert (tx.events["Disputed"]["round"], tx.events["Disputed"]["disputeId"]) == (1, 1)
    assert committee.disputeTask(ps.arbitrator, 1) == tc
    bonds.assert_conserved([tc, tb])


# ------------------------------------------------------------------------------------------
# who may rule
# ------------------------------------------------------------------------------------------


def test_only_the_arbitrator_rules(ps, tc, bonds, disputer, panel, rando, reverts_with):
    """rule() finds the dispute under (caller, id): anyone else, a panel member included,
    gets UnknownDispute (the interface's NotArbitrator is never raised)."""
    committee = ps.committee
    committee.dispute(tc, {"from": disputer})
    with reverts_with("UnknownDispute", rando, 0):
        committee.rule(0, PAYOUT_WRONG, {"from": rando})
    with reverts_with("UnknownDispute", panel[0], 0):
        committee.rule(0, PAYOUT_WRONG, {"from": panel[0]})
    assert proposal(committee, tc).disputed


def test_arbitrator_cannot_rule_unknown_stale_or_invalid(
    ps, tc, bonds, disputer, panel, as_contract, reverts_with
):
    committee = ps.committee
    arb = as_contract(ps.arbitrator)
    committee.dispute(tc, {"from": disputer})
    with reverts_with("UnknownDispute", ps.arbitrator, 7):
        committee.rule(7, PAYOUT_WRONG, {"from": arb})
    with reverts_with("InvalidRuling", 0, 4):
        committee.rule(0, 4, {"from": arb})
    committee.rule(0, REFUSED, {"from": arb})
    with reverts_with("UnknownDispute", ps.arbitrator, 0):
        committee.rule(0, PAYOUT_WRONG, {"from": arb})


def test_dispute_pays_the_arbitration_fee(
    admin, guardian, oracles, panel, chain, token, requester, disputer, reverts_with
):
    """With a fee-charging arbitrator the disputer pays the fee in ETH with the dispute; the
    fee goes to the arbitrator's fee recipient (the timelock, as deployed)."""
    fee = 10**16
    suite = deploy_panel_suite(admin, guardian, oracles, 2, panel, 2, arbitration_fee=fee)
    assert suite.arbitrator.arbitrationCost(b"") == fee
    t = tasks_for(chain, suite, oracles, token, requester)
    tid = t.create()
    t.propose(tid, X, 100)
    Bonds(suite, admin).fund(disputer, DISPUTE_BOND)
    with reverts_with("FeeTooLow", fee - 1, fee):
        suite.committee.dispute(tid, {"from": disputer, "value": fee - 1})
    before = suite.timelock.balance()
    suite.committee.dispute(tid, {"from": disputer, "value": fee})
    assert suite.timelock.balance() == before + fee
    assert suite.committee.balance() == 0
    assert brownie.web3.eth.get_balance(suite.arbitrator.address) == 0
