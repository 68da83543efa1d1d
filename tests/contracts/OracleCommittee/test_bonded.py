"""OracleCommittee.proposeBonded and the committee's stake: after the committee's grace period
anyone may propose with a bond; a dishonest bonded proposal loses its bond to whoever disputes
it, and the bonds in the committee always add up."""

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
    rule,
    tasks_for,
)

X = b"\x0a" * 32
P, D = PROPOSER_BOND, DISPUTE_BOND
PAYOUT_WRONG = 2


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
    return deploy_panel_suite(admin, guardian, oracles, 2, panel, 2)


@pytest.fixture(scope="module")
def pt(chain, ps, oracles, token, requester):
    return tasks_for(chain, ps, oracles, token, requester)


@pytest.fixture(scope="module")
def bonds(ps, admin, disputer, bonder):
    b = Bonds(ps, admin)
    b.fund(disputer, 10 * D)
    b.fund(bonder, 10 * P)
    return b


@pytest.fixture(scope="module")
def tid(pt, bonds):
    """A funded task, still in its annotation window."""
    return pt.create()


def opens_at(pt, tid):
    return pt.task(tid)["revealDeadline"] + COMMITTEE_GRACE


def test_bonded_proposal_waits_for_the_committee_grace(
    ps, pt, tid, bonder, warp, pin_time, reverts_with
):
    committee = ps.committee
    reveal = pt.task(tid)["revealDeadline"]
    with reverts_with("RevealWindowOpen", tid, reveal):
        committee.proposeBonded(tid, X, 100, REPORT, INPUTS, {"from": bonder})
    warp(reveal + 1)
    with reverts_with("CommitteeGrace", tid, opens_at(pt, tid)):
        committee.proposeBonded(tid, X, 100, REPORT, INPUTS, {"from": bonder})
    pin_time(opens_at(pt, tid))
    with reverts_with("CommitteeGrace", tid, opens_at(pt, tid)):
        committee.proposeBonded(tid, X, 100, REPORT, INPUTS, {"from": bonder})
    pin_time(opens_at(pt, tid) + 1)
    committee.proposeBonded(tid, X, 100, REPORT, INPUTS, {"from": bonder})
    assert committee.isPending(tid)


def test_bonded_proposal_is_pending_at_once_with_the_bond_pulled(
    ps, pt, tid, bonds, bonder, warp, block_time
):
    committee = ps.committee
    warp(opens_at(pt, tid) + 1)
    before = bonds.balances(bonder, committee)
    tx = committee.proposeBonded(tid, X, 100, REPORT, INPUTS, {"from": bonder})
    ev = tx.events["ProposalPending"]
    assert (
        ev["taskId"],
        ev["round"],
        ev["root"],
        ev["total"],
        ev["reportHash"],
        ev["inputsHash"],
        ev["challengeEnds"],
        ev["proposer"],
        ev["bond"],
    ) == (tid, 0, h(X), 100, h(REPORT), h(INPUTS), block_time(tx) + 86_400, bonder, P)
    assert "Proposed" not in tx.events  # not an oracle vote
    assert bonds.balances(bonder, committee) == [before[0] - P, before[1] + P]
    p = pt.pending(tid)
    assert (p.proposer, p.bond, p.bonded, p.ever_pending, p.voters) == (
        bonder.address,
        P,
        True,
        True,
        0,
    )
    assert committee.everPending(tid)
    bonds.assert_conserved([tid])


def test_bonded_proposal_needs_the_bond(ps, pt, tid, rando, warp, reverts_with):
    warp(opens_at(pt, tid) + 1)
    with reverts_with("ERC20InsufficientAllowance", ps.committee, 0, P):
        ps.committee.proposeBonded(tid, X, 100, REPORT, INPUTS, {"from": rando})


def test_bonded_proposal_checks_the_payout(ps, pt, tid, bonds, bonder, warp, reverts_with):
    committee = ps.committee
    warp(opens_at(pt, tid) + 1)
    with reverts_with("EmptyRoot"):
        committee.proposeBonded(tid, b"\x00" * 32, 100, REPORT, INPUTS, {"from": bonder})
    with reverts_with("EmptyInputsHash"):
        committee.proposeBonded(tid, X, 100, REPORT, b"\x00" * 32, {"from": bonder})
    with reverts_with("PayoutExceedsBudget", tid, BUDGET + 1, BUDGET):
        committee.proposeBonded(tid, X, BUDGET + 1, REPORT, INPUTS, {"from": bonder})


def test_one_pending_proposal_at_a_time(ps, pt, tid, bonds, bonder, oracles, warp, reverts_with):
    committee = ps.committee
    warp(opens_at(pt, tid) + 1)
    committee.proposeBonded(tid, X, 100, REPORT, INPUTS, {"from": bonder})
    with reverts_with("ProposalAlreadyPending", tid):
        committee.propose(tid, X, 100, REPORT, INPUTS, {"from": oracles[0]})
    with reverts_with("ProposalAlreadyPending", tid):
        committee.proposeBonded(tid, X, 100, REPORT, INPUTS, {"from": bonder})


def test_bonded_proposal_after_the_oracle_deadline_is_too_late(
    ps, pt, tid, bonds, bonder, warp, reverts_with
):
    deadline = ps.escrow.oracleDeadline(tid)
    warp(deadline + 1)
    with reverts_with("ProposalTooLate", tid, deadline):
        ps.committee.proposeBonded(tid, X, 100, REPORT, INPUTS, {"from": bonder})


def test_finalize_returns_the_bond_to_the_bonded_proposer(
    ps, pt, tid, bonds, bonder, rando, warp, S
):
    committee = ps.committee
    warp(opens_at(pt, tid) + 1)
    start = bonds.balances(bonder)[0]
    committee.proposeBonded(tid, X, 100, REPORT, INPUTS, {"from": bonder})
    pt.past_challenge(tid)
    tx = committee.finalize(tid, {"from": rando})
    assert bonds.balances(bonder)[0] == start
    settled = tx.events["BondSettled"]
    assert (settled["taskId"], settled["to"], settled["amount"]) == (tid, bonder, P)
    assert pt.task(tid)["status"] == S.FINAL
    assert pt.task(tid)["payoutRoot"] == h(X)
    bonds.assert_conserved([tid])


def test_veto_returns_the_bond_to_the_bonded_proposer(ps, pt, tid, bonds, bonder, guardian, warp):
    committee = ps.committee
    warp(opens_at(pt, tid) + 1)
    start = bonds.balances(bonder)[0]
    committee.proposeBonded(tid, X, 100, REPORT, INPUTS, {"from": bonder})
    committee.veto(tid, "wrong tree", {"from": guardian})
    assert bonds.balances(bonder)[0] == start
    assert pt.pending(tid).bond == 0
    assert not committee.isPending(tid)
    bonds.assert_conserved([tid])


# ------------------------------------------------------------------------------------------
# the committee's stake
# ------------------------------------------------------------------------------------------


def test_committee_proposal_locks_stake_up_to_the_bond(ps, pt, bonds, admin, warp):
    committee, token = ps.committee, ps.token
    t1, t2, t3 = pt.create(), pt.create(), pt.create()
    bonds.stake(P + P // 2)
    tx = committee.fundStake(token, 0, {"from": admin})  # anyone, any amount
    assert tx.events["StakeFunded"]["amount"] == 0
    pt.propose(t1, X, 100)
    pt.propose(t2, X, 100)
    pt.propose(t3, X, 100)
    # the first takes a full bond, the second what is left, the third nothing
    assert [pt.pending(t).bond for t in (t1, t2, t3)] == [P, P // 2, 0]
    assert committee.stake(token) == 0
    bonds.assert_conserved([t1, t2, t3])
    pt.past_challenge(t3)
    for t in (t1, t2, t3):
        committee.finalize(t, {"from": admin})
    assert committee.stake(token) == P + P // 2
    bonds.assert_conserved([t1, t2, t3])


def test_unbacked_committee_proposal_wrong_returns_only_the_disputers_bond(
    ps, pt, tid, bonds, disputer, panel
):
    """With no stake, the committee's proposal carries no bond: a disputer who wins gets its
    own bond back and nothing to burn."""
    pt.propose(tid, X, 100)
    assert pt.pending(tid).bond == 0
    start = bonds.balances(disputer, BURN)
    ps.committee.dispute(tid, {"from": disputer})
    tx = rule(ps.arbitrator, 0, PAYOUT_WRONG, panel)
    assert bonds.balances(disputer, BURN) == start
    assert [e["to"] for e in tx.events["BondSettled"]] == [disputer]
    bonds.assert_conserved([tid])


# ------------------------------------------------------------------------------------------
# a dishonest bonded proposal
# ------------------------------------------------------------------------------------------


def test_dishonest_bonded_proposal_is_disputed_then_the_right_payout_is_paid(
    ps, pt, token, bonds, bonder, disputer, panel, annotators, requester, rando, warp, S, K
):
    """A bonded proposer tries to give the whole budget to itself. Anyone disputes, the panel
    rules PayoutWrong, the disputer takes the proposer's bond (minus the burned share), the
    oracles then propose the right payout (past the oracle deadline: the requester can no
    longer take the budget back), and every annotator claims."""
    committee, escrow = ps.committee, ps.escrow
    bonds.stake(P)
    tid = pt.create()
    warp(opens_at(pt, tid) + 1)

    grab = pt.tree({bonder: BUDGET})
    committee.proposeBonded(tid, grab.root, BUDGET, REPORT, INPUTS, {"from": bonder})
    bonds.assert_conserved([tid])
    start = {a: bonds.balances(a)[0] for a in (bonder, disputer)}
    burn_start = bonds.balances(BURN)[0]

    tx = committee.dispute(tid, {"from": disputer})
    did = tx.return_value
    bonds.assert_conserved([tid])
    rule(ps.arbitrator, did, PAYOUT_WRONG, panel)
    bonds.assert_conserved([tid])
    assert bonds.balances(bonder)[0] == start[bonder]  # its bond is gone
    assert bonds.balances(disputer)[0] == start[disputer] + P - burned(P)
    assert bonds.balances(BURN)[0] == burn_start + burned(P)
    assert committee.stake(ps.token) == P  # the committee's stake is untouched

    warp(escrow.oracleDeadline(tid) + 1)
    assert [int(v) for v in escrow.refundable(tid)] == [0, K.UNALLOCATED]
    payouts = {annotators[0]: 300 * 10**18, annotators[1]: 200 * 10**18, annotators[2]: 1}
    tree = pt.tree(payouts)
    total = sum(payouts.values())
    tx = pt.propose(tid, tree.root, total, REPORT, INPUTS)
    assert tx.events["ProposalPending"]["round"] == 1
    assert pt.pending(tid).bond == P
    bonds.assert_conserved([tid])
    pt.past_challenge(tid)
    committee.finalize(tid, {"from": rando})
    assert pt.task(tid)["status"] == S.FINAL
    bonds.assert_conserved([tid])
    assert committee.stake(ps.token) == P

    escrow_before = token.balanceOf(escrow)
    for a, amount in payouts.items():
        before = token.balanceOf(a)
        _, proof = pt.leaf(tree, a)
        escrow.claim(tid, a, amount, proof, {"from": rando})
        assert token.balanceOf(a) == before + amount
    assert token.balanceOf(escrow) == escrow_before - total
    before = token.balanceOf(requester)
    escrow.refund(tid, {"from": rando})
    assert token.balanceOf(requester) == before + BUDGET - total
    assert pt.task(tid)["claimed"] == total


# ------------------------------------------------------------------------------------------
# a task without attestations cancelled under a pending proposal
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("disputed", [False, True], ids=["pending", "disputed"])
def test_cancel_refused_once_a_proposal_is_pending(
    ps,
    pt,
    tid,
    bonds,
    bonder,
    disputer,
    requester,
    panel,
    warp,
    token,
    disputed,
    S,
    K,
    reverts_with,
):
    """A task nobody attested to, with a bonded proposal pending (or disputed). Used to:
    cancelTask refunded the whole budget anyway; committee.finalize then reverted
    WrongStatus(task, Cancelled) for good, locking the proposer's bond, and the panel's
    deciding RefundRequester vote reverted. Now: cancelTask reverts ProposalExists and the
    task settles through the committee (bond back at finalize, or the ruling's refund)."""
    committee, escrow = ps.committee, ps.escrow
    warp(opens_at(pt, tid) + 1)
    start = bonds.balances(bonder)[0]
    committee.proposeBonded(tid, X, 0, REPORT, INPUTS, {"from": bonder})
    if disputed:
        committee.dispute(tid, {"from": disputer})
    with reverts_with("ProposalExists", tid):
        escrow.cancelTask(tid, {"from": requester})

    before = token.balanceOf(requester)
    if disputed:
        tx = rule(ps.arbitrator, 0, 3, panel)  # RefundRequester
        assert (tx.events["Refunded"]["amount"], tx.events["Refunded"]["kind"]) == (
            BUDGET,
            K.RULING,
        )
        assert pt.task(tid)["status"] == S.EXPIRED
        assert token.balanceOf(requester) == before + BUDGET
        assert bonds.balances(bonder)[0] == start - P  # its bond paid the disputer
    else:
        pt.past_challenge(tid)
        committee.finalize(tid, {"from": requester})
        assert pt.task(tid)["status"] == S.FINAL
        assert bonds.balances(bonder)[0] == start
        escrow.refund(tid, {"from": requester})  # a zero payout: everything is unallocated
        assert token.balanceOf(requester) == before + BUDGET
    bonds.assert_conserved([tid])
