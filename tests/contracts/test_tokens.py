"""Budget tokens: standard 18 decimals, no return value (USDT-like), 6 decimals, fee on transfer
(refused), fee taken from the sender on top (accepted, but nothing can leave: every outbound
transfer reverts OutboundTransferMismatch, so other tasks' funds are safe) and a reentrant token
(no double payment). Balances are checked to the unit."""

import brownie
import pytest
from brownie import (  # type: ignore[attr-defined]
    FeeOnTopToken,
    FeeOnTransferToken,
    MockERC20,
    NoReturnToken,
    ReentrantToken,
)

from labelproof.multiproof import multiproof

DAY = 86_400


def _deploy(kind, admin):
    if kind == "standard":
        return MockERC20.deploy("Standard", "STD", 18, {"from": admin}), 10**18
    if kind == "no_return":
        return NoReturnToken.deploy({"from": admin}), 10**18
    if kind == "six_decimals":
        return MockERC20.deploy("Six", "SIX", 6, {"from": admin}), 10**6
    if kind == "reentrant":  # unarmed, it behaves like a plain ERC-20
        return ReentrantToken.deploy({"from": admin}), 10**18
    raise ValueError(kind)


@pytest.fixture(scope="module", params=["standard", "no_return", "six_decimals", "reentrant"])
def working(request, admin, requester):
    """(token, unit) for every token the escrow accepts; the requester holds 10^6 units."""
    tok, unit = _deploy(request.param, admin)
    tok.mint(requester, 10**6 * unit, {"from": admin})
    return tok, unit


def _payouts(annotators, unit):
    a0, a1, a2 = annotators
    return {a0: 100 * unit, a1: 250 * unit, a2: 333 * unit + 1}


def test_full_lifecycle(working, tasks, escrow, requester, annotators, rando, warp, K):
    tok, unit = working
    budget = 1_000 * unit
    payouts = _payouts(annotators, unit)
    total = sum(payouts.values())
    r0, e0 = tok.balanceOf(requester), tok.balanceOf(escrow)
    a0 = [tok.balanceOf(a) for a in annotators]

    tid = tasks.create(budget, tok=tok)
    assert tok.balanceOf(requester) == r0 - budget
    assert tok.balanceOf(escrow) == e0 + budget

    tree, _ = tasks.finalize(tid, payouts)
    amount, proof = tasks.leaf(tree, annotators[0])
    tx = escrow.claim(tid, annotators[0], amount, proof, {"from": rando})
    assert tx.events["Claimed"]["amount"] == 100 * unit
    amount, proof = tasks.leaf(tree, annotators[1])
    escrow.claimMany(annotators[1], [(tid, amount, proof)], {"from": annotators[1]})

    tx = escrow.refund(tid, {"from": rando})
    assert (tx.events["Refunded"]["amount"], tx.events["Refunded"]["kind"]) == (
        budget - total,
        K.UNALLOCATED,
    )
    warp(escrow.claimDeadline(tid) + 1)
    tx = escrow.refund(tid, {"from": rando})
    assert (tx.events["Refunded"]["amount"], tx.events["Refunded"]["kind"]) == (
        333 * unit + 1,
        K.UNCLAIMED,
    )

    assert tok.balanceOf(annotators[0]) == a0[0] + 100 * unit
    assert tok.balanceOf(annotators[1]) == a0[1] + 250 * unit
    assert tok.balanceOf(annotators[2]) == a0[2]
    assert tok.balanceOf(requester) == r0 - budget + (budget - total) + 333 * unit + 1
    assert tok.balanceOf(escrow) == e0
    t = escrow.task(tid)
    assert t["claimed"] + t["refunded"] == budget


def test_every_leaf_claimed(working, tasks, escrow, requester, annotators, K):
    tok, unit = working
    budget = 683 * unit + 1  # exactly the payout total
    payouts = _payouts(annotators, unit)
    e0 = tok.balanceOf(escrow)
    tid = tasks.create(budget, tok=tok)
    tree, _ = tasks.finalize(tid, payouts)
    for a in annotators:
        before = tok.balanceOf(a)
        amount, proof = tasks.leaf(tree, a)
        escrow.claim(tid, a, amount, proof, {"from": a})
        assert tok.balanceOf(a) == before + payouts[a]
    assert tok.balanceOf(escrow) == e0
    assert tuple(escrow.refundable(tid)) == (0, K.UNALLOCATED)


def test_cancel_refund_exact(working, tasks, escrow, requester):
    tok, unit = working
    r0 = tok.balanceOf(requester)
    tid = tasks.create(7 * unit + 3, tok=tok)
    escrow.cancelTask(tid, {"from": requester})
    assert tok.balanceOf(requester) == r0


def test_oracle_timeout_refund_exact(working, tasks, escrow, requester, warp):
    tok, unit = working
    r0 = tok.balanceOf(requester)
    tid = tasks.create(5 * unit, tok=tok)
    warp(escrow.oracleDeadline(tid) + 1)
    escrow.refund(tid, {"from": requester})
    assert tok.balanceOf(requester) == r0


def test_claim_many_mixing_all_tokens(tasks, escrow, admin, requester, annotators):
    """One claimMany over tasks in four tokens: one transfer per token, amounts exact."""
    a = annotators[0]
    toks = [_deploy(k, admin) for k in ("standard", "no_return", "six_decimals", "reentrant")]
    claims, expected, ids = [], [], []
    for tok, unit in toks:
        tok.mint(requester, 10**4 * unit, {"from": admin})
        ids.append(tasks.create(1_000 * unit, tok=tok))
    for tid, (_, unit) in zip(ids, toks, strict=True):
        tree = tasks.tree({a: 3 * unit, annotators[1]: unit})
        tasks.propose(tid, tree.root, 4 * unit)
        claims.append((tid, *tasks.leaf(tree, a)))
        expected.append(3 * unit)
    tasks.chain.sleep(DAY + 1)
    for tid, _, _ in claims:
        tasks.committee.finalize(tid, {"from": tasks.oracles[0]})
    before = [tok.balanceOf(a) for tok, _ in toks]
    tx = escrow.claimMany(a, claims, {"from": a})
    assert [tok.balanceOf(a) - b for (tok, _), b in zip(toks, before, strict=True)] == expected
    assert [e["value"] for e in tx.events["Transfer"]] == expected


# --------------------------------------------------------------------------------------------
# refused and failing tokens
# --------------------------------------------------------------------------------------------


def test_fee_on_transfer_refused(tasks, escrow, admin, requester, chain, reverts_with):
    fee = FeeOnTransferToken.deploy({"from": admin})
    budget = 1_000 * 10**18
    fee.mint(requester, budget, {"from": admin})
    fee.approve(escrow, budget, {"from": requester})
    count = escrow.taskCount()
    with reverts_with("FeeOnTransferToken", fee, budget, budget - budget // 100):
        escrow.createTask(fee, budget, tasks.params(chain), {"from": requester})
    with reverts_with("FeeOnTransferToken", fee, budget, budget - budget // 100):
        escrow.createTaskWithPermit(
            fee, budget, tasks.params(chain), 0, 27, b"\x01" * 32, b"\x02" * 32, {"from": requester}
        )
    # a budget too small to be charged a fee would pass the check: 99 // 100 == 0
    fee.approve(escrow, 99, {"from": requester})
    tx = escrow.createTask(fee, 99, tasks.params(chain), {"from": requester})
    assert tx.return_value == count + 1
    assert fee.balanceOf(requester) == budget - 99
    assert escrow.taskCount() == count + 1


def test_no_return_token_failing_transfer_from(tasks, escrow, admin, requester, chain):
    """The token's own require() strings come through SafeERC20 unchanged."""
    nr = NoReturnToken.deploy({"from": admin})
    nr.mint(requester, 10, {"from": admin})
    with brownie.reverts("allowance"):
        escrow.createTask(nr, 10, tasks.params(chain), {"from": requester})
    nr.approve(escrow, 11, {"from": requester})
    with brownie.reverts("balance"):
        escrow.createTask(nr, 11, tasks.params(chain), {"from": requester})


# --------------------------------------------------------------------------------------------
# fee taken from the sender on top of the transfer
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def on_top(tasks, escrow, admin, requester, annotators):
    """A FeeOnTopToken whose fee (1% burned from the sender on top of every transfer) is
    switched on after funding, as an upgradeable token could, with two tasks: one finalized
    paying 100 + 200 of 1000, one funded. Returns (token, final id, tree, funded id)."""
    tok = FeeOnTopToken.deploy({"from": admin})
    tok.mint(requester, 10_000 * E18, {"from": admin})
    tok.setFeeBps(0, {"from": admin})
    final = tasks.create(1_000 * E18, tok=tok)
    funded = tasks.create(500 * E18, tok=tok)
    tree, _ = tasks.finalize(final, {annotators[0]: 100 * E18, annotators[1]: 200 * E18})
    tok.setFeeBps(100, {"from": admin})
    return tok, final, tree, funded


def test_fee_on_top_is_refused_at_funding(escrow, admin, requester, tasks, reverts_with):
    """The escrow would receive exactly the budget, but the requester would pay 1% more: the
    sender-side check refuses the token before any budget can be locked behind it."""
    tok = FeeOnTopToken.deploy({"from": admin})
    tok.mint(requester, 2_000 * E18, {"from": admin})
    count = escrow.taskCount()
    with reverts_with("FeeOnTopToken", tok, 1_000 * E18, 1_010 * E18):
        tasks.create(1_000 * E18, tok=tok)
    assert escrow.taskCount() == count
    assert tok.balanceOf(escrow) == 0 and tok.balanceOf(requester) == 2_000 * E18


def test_fee_on_top_claims_revert(on_top, tasks, escrow, annotators, reverts_with):
    tok, tid, tree, _ = on_top
    held = tok.balanceOf(escrow)
    assert held == 1_500 * E18
    amount, proof = tasks.leaf(tree, annotators[0])
    sent = amount + tok.feeOf(amount)
    with reverts_with("OutboundTransferMismatch", tok, amount, sent):
        escrow.claim(tid, annotators[0], amount, proof, {"from": annotators[0]})
    with reverts_with("OutboundTransferMismatch", tok, amount, sent):
        escrow.claimMany(annotators[0], [(tid, amount, proof)], {"from": annotators[0]})
    # a batch is checked once around all its transfers: the sum paid against the sum sent
    mp = multiproof(tree, range(len(tree)))
    paid = sum(int(v[1]) for v in mp.values)
    with reverts_with("OutboundTransferMismatch", tok, paid, paid + tok.feeOf(paid)):
        escrow.claimBatch(
            tid,
            [v[0] for v in mp.values],
            [int(v[1]) for v in mp.values],
            mp.proof,
            mp.proof_flags,
            {"from": annotators[0]},
        )
    assert not escrow.isClaimed(tid, annotators[0])
    assert escrow.task(tid)["claimed"] == 0
    assert tok.balanceOf(escrow) == held  # the funded task's 500 are untouched
    assert tok.balanceOf(annotators[0]) == 0


def test_fee_on_top_refunds_revert(on_top, escrow, requester, warp, reverts_with):
    """Nothing leaves for the requester either: the unallocated part, the unclaimed rest, a
    cancel and an oracle timeout all revert (the token can only hurt its own tasks)."""
    tok, tid, _, funded = on_top
    held = tok.balanceOf(escrow)
    with reverts_with("OutboundTransferMismatch", tok, 700 * E18, 707 * E18):
        escrow.refund(tid, {"from": requester})
    with reverts_with("OutboundTransferMismatch", tok, 500 * E18, 505 * E18):
        escrow.cancelTask(funded, {"from": requester})
    warp(escrow.oracleDeadline(funded) + 1)
    with reverts_with("OutboundTransferMismatch", tok, 500 * E18, 505 * E18):
        escrow.refund(funded, {"from": requester})
    warp(escrow.claimDeadline(tid) + 1)
    with reverts_with("OutboundTransferMismatch", tok, 1_000 * E18, 1_010 * E18):
        escrow.refund(tid, {"from": requester})
    assert tok.balanceOf(escrow) == held


def test_fee_on_top_cannot_drain_other_tokens(
    on_top, tasks, escrow, token, annotators, reverts_with
):
    """Tasks in other tokens, in the same claimMany, are not affected once the fee token's
    claim is left out; with it in, the whole batch reverts."""
    tok, fee_tid, fee_tree, _ = on_top
    a0 = annotators[0]
    tid, tree = tasks.final({a0: 5 * E18, annotators[1]: 1})
    good = (tid, *tasks.leaf(tree, a0))
    bad = (fee_tid, *tasks.leaf(fee_tree, a0))
    amount = bad[1]
    with reverts_with("OutboundTransferMismatch", tok, amount, amount + tok.feeOf(amount)):
        escrow.claimMany(a0, [good, bad], {"from": a0})
    before = token.balanceOf(a0)
    escrow.claimMany(a0, [good], {"from": a0})
    assert token.balanceOf(a0) == before + 5 * E18


def test_fee_on_top_small_amounts_pass(tasks, escrow, admin, requester, annotators):
    """The check is exact, not a ban on the token: with the fee switched on after funding, a
    transfer too small to be charged a fee (99 * 1% rounds to 0) goes through."""
    tok = FeeOnTopToken.deploy({"from": admin})
    tok.mint(requester, 10_000, {"from": admin})
    tok.setFeeBps(0, {"from": admin})
    tid, tree = tasks.final({annotators[0]: 99, annotators[1]: 1}, budget=1_000, tok=tok)
    tok.setFeeBps(100, {"from": admin})
    amount, proof = tasks.leaf(tree, annotators[0])
    escrow.claim(tid, annotators[0], amount, proof, {"from": annotators[0]})
    assert tok.balanceOf(annotators[0]) == 99
    assert tok.balanceOf(escrow) == 1_000 - 99


# --------------------------------------------------------------------------------------------
# reentrancy
# --------------------------------------------------------------------------------------------

E18 = 10**18


@pytest.fixture(scope="module")
def reent(tasks, escrow, admin, requester, annotators):
    """A ReentrantToken task paying 100 + 200 of 1000: (token, task id, tree)."""
    tok = ReentrantToken.deploy({"from": admin})
    tok.mint(requester, 10_000 * E18, {"from": admin})
    tid = tasks.create(1_000 * E18, tok=tok)
    tree, _ = tasks.finalize(tid, {annotators[0]: 100 * E18, annotators[1]: 200 * E18})
    return tok, tid, tree


def test_reentrant_claim_same_leaf(reent, tasks, escrow, annotators):
    tok, tid, tree = reent
    a0 = annotators[0]
    amount, proof = tasks.leaf(tree, a0)
    held, before = tok.balanceOf(escrow), tok.balanceOf(a0)
    tok.arm(escrow, escrow.claim.encode_input(tid, a0, amount, proof), {"from": a0})
    tx = escrow.claim(tid, a0, amount, proof, {"from": a0})

    assert tok.reentries() == 1
    assert tok.lastReentrySucceeded() is False
    assert tok.balanceOf(a0) == before + 100 * E18
    assert tok.balanceOf(escrow) == held - 100 * E18
    assert escrow.task(tid)["claimed"] == 100 * E18
    assert len(tx.events["Claimed"]) == 1


def test_reentrant_claim_many_during_claim(reent, tasks, escrow, annotators):
    tok, tid, tree = reent
    a0 = annotators[0]
    amount, proof = tasks.leaf(tree, a0)
    before = tok.balanceOf(a0)
    tok.arm(escrow, escrow.claimMany.encode_input(a0, [(tid, amount, proof)]), {"from": a0})
    escrow.claim(tid, a0, amount, proof, {"from": a0})
    assert tok.lastReentrySucceeded() is False
    assert tok.balanceOf(a0) == before + 100 * E18
    assert escrow.task(tid)["claimed"] == 100 * E18


def test_reentrant_claim_during_claim_many(reent, tasks, escrow, annotators):
    tok, tid, tree = reent
    a1 = annotators[1]
    amount, proof = tasks.leaf(tree, a1)
    before = tok.balanceOf(a1)
    tok.arm(escrow, escrow.claim.encode_input(tid, a1, amount, proof), {"from": a1})
    escrow.claimMany(a1, [(tid, amount, proof)], {"from": a1})
    assert tok.reentries() == 1
    assert tok.lastReentrySucceeded() is False
    assert tok.balanceOf(a1) == before + 200 * E18
    assert escrow.task(tid)["claimed"] == 200 * E18


def test_reentrant_batch_during_batch(reent, escrow, annotators):
    """The batch re-entered from its first transfer: every claim bit is set before any
    transfer, so the inner batch finds both leaves spent (it skips them and pays nothing)."""
    tok, tid, tree = reent
    mp = multiproof(tree, range(len(tree)))
    args = (tid, [v[0] for v in mp.values], [int(v[1]) for v in mp.values], mp.proof)
    args = (*args, mp.proof_flags)
    before = [tok.balanceOf(a) for a in annotators[:2]]
    tok.arm(escrow, escrow.claimBatch.encode_input(*args), {"from": annotators[0]})
    tx = escrow.claimBatch(*args, {"from": annotators[0]})
    assert tok.reentries() == 1
    assert tok.lastReentrySucceeded() is True  # it ran, and skipped both leaves
    assert len(tx.events["ClaimSkipped"]) == 2 and len(tx.events["Claimed"]) == 2
    assert [tok.balanceOf(a) for a in annotators[:2]] == [
        before[0] + 100 * E18,
        before[1] + 200 * E18,
    ]
    assert escrow.task(tid)["claimed"] == 300 * E18


def test_reentrant_refund(reent, escrow, requester, K):
    tok, tid, _ = reent
    held, before = tok.balanceOf(escrow), tok.balanceOf(requester)
    tok.arm(escrow, escrow.refund.encode_input(tid), {"from": requester})
    tx = escrow.refund(tid, {"from": requester})
    assert tok.reentries() == 1
    assert tok.lastReentrySucceeded() is False  # nonReentrant
    assert tok.balanceOf(requester) == before + 700 * E18
    assert tok.balanceOf(escrow) == held - 700 * E18
    assert escrow.task(tid)["refunded"] == 700 * E18
    assert len(tx.events["Refunded"]) == 1
    assert tuple(escrow.refundable(tid)) == (0, K.UNALLOCATED)


def test_reentrant_unclaimed_refund(reent, escrow, requester, warp):
    tok, tid, _ = reent
    warp(escrow.claimDeadline(tid) + 1)
    before = tok.balanceOf(requester)
    tok.arm(escrow, escrow.refund.encode_input(tid), {"from": requester})
    escrow.refund(tid, {"from": requester})
    assert tok.lastReentrySucceeded() is False
    assert tok.balanceOf(requester) == before + 1_000 * E18
    assert escrow.task(tid)["refunded"] == 1_000 * E18


def test_reentrant_refund_during_cancel(tasks, escrow, admin, requester):
    tok = ReentrantToken.deploy({"from": admin})
    tok.mint(requester, 50, {"from": admin})
    tid = tasks.create(50, tok=tok)
    tok.arm(escrow, escrow.refund.encode_input(tid), {"from": requester})
    escrow.cancelTask(tid, {"from": requester})
    assert tok.reentries() == 1
    assert tok.lastReentrySucceeded() is False
    assert tok.balanceOf(requester) == 50
    assert tok.balanceOf(escrow) == 0


def test_cross_function_reentry_reverts_the_outer_transfer(
    reent, tasks, escrow, requester, annotators, reverts_with
):
    """claim has no reentrancy guard, so a refund can run from inside a claim's transfer; the
    claim's outbound balance check then sees 800 leave instead of 100 and reverts the whole
    call (v2: before, both went through). Nothing moves; each works on its own afterwards."""
    tok, tid, tree = reent
    a0 = annotators[0]
    amount, proof = tasks.leaf(tree, a0)
    r0, a_0, held = tok.balanceOf(requester), tok.balanceOf(a0), tok.balanceOf(escrow)
    tok.arm(escrow, escrow.refund.encode_input(tid), {"from": a0})
    with reverts_with("OutboundTransferMismatch", tok, 100 * E18, 800 * E18):
        escrow.claim(tid, a0, amount, proof, {"from": a0})
    assert (tok.balanceOf(a0), tok.balanceOf(requester), tok.balanceOf(escrow)) == (a_0, r0, held)
    t = escrow.task(tid)
    assert (t["claimed"], t["refunded"]) == (0, 0)
    tok.arm("0x" + "00" * 20, b"", {"from": a0})  # disarm: the hook only fires from the escrow
    escrow.claim(tid, a0, amount, proof, {"from": a0})
    escrow.refund(tid, {"from": requester})
    assert tok.balanceOf(a0) == a_0 + 100 * E18
    assert tok.balanceOf(requester) == r0 + 700 * E18
    assert tok.balanceOf(escrow) == held - 800 * E18
