"""TaskEscrow.claimBatch: many leaves of one task in one transaction, one multiproof."""

import pytest
from eth_account import Account

from labelproof.multiproof import multiproof

E18 = 10**18


@pytest.fixture(scope="module")
def payees(annotators):
    """The three dev annotators plus five fresh addresses (no tokens, no claims)."""
    fresh = [Account.from_key(bytes([i + 1]) * 32).address for i in range(5)]
    return [a.address for a in annotators] + fresh


@pytest.fixture(scope="module")
def payouts(payees):
    return {a: (i + 1) * 10 * E18 for i, a in enumerate(payees)}


@pytest.fixture(scope="module")
def final(tasks, payouts):
    """(task id, tree): finalized, paying 360 of its 1000 budget (built once per module)."""
    return tasks.final(payouts)


def batch_args(tree, accounts):
    """(accounts, amounts, proof, flags) for `accounts`, in the multiproof's order."""
    index = {v[0]: i for i, v in tree.entries()}
    mp = multiproof(tree, [index[a] for a in accounts])
    return [v[0] for v in mp.values], [int(v[1]) for v in mp.values], mp.proof, mp.proof_flags


def test_pays_every_leaf_once(escrow, token, final, payees, payouts, rando):
    """A sponsor pays gas; each leaf's tokens go to its account; one Claimed per entry."""
    tid, tree = final
    accounts, amounts, proof, flags = batch_args(tree, payees)
    before = {a: token.balanceOf(a) for a in payees}
    held, sponsor = token.balanceOf(escrow), token.balanceOf(rando)
    tx = escrow.claimBatch(tid, accounts, amounts, proof, flags, {"from": rando})

    assert tx.return_value == sum(payouts.values())
    for a in payees:
        assert token.balanceOf(a) == before[a] + payouts[a]
        assert escrow.isClaimed(tid, a)
    assert token.balanceOf(escrow) == held - sum(payouts.values())
    assert token.balanceOf(rando) == sponsor
    assert escrow.task(tid)["claimed"] == sum(payouts.values())
    claimed = [(e["taskId"], e["account"], e["amount"]) for e in tx.events["Claimed"]]
    assert claimed == [(tid, a, m) for a, m in zip(accounts, amounts, strict=True)]
    assert "ClaimSkipped" not in tx.events


def test_subset_and_single_entry(escrow, token, final, payees, payouts, rando):
    tid, tree = final
    for chosen in ([payees[4]], [payees[0], payees[6], payees[2]]):
        accounts, amounts, proof, flags = batch_args(tree, chosen)
        tx = escrow.claimBatch(tid, accounts, amounts, proof, flags, {"from": rando})
        assert tx.return_value == sum(payouts[a] for a in chosen)
    claimed = {payees[i] for i in (4, 0, 6, 2)}
    assert [escrow.isClaimed(tid, a) for a in payees] == [a in claimed for a in payees]


def test_single_claim_then_batch_skips_it(escrow, token, final, tasks, payees, payouts, rando):
    """An annotator who claimed directly before the sponsor's batch landed is skipped with an
    event naming it; the others are paid."""
    tid, tree = final
    early = payees[1]
    amount, proof1 = tasks.leaf(tree, early)
    escrow.claim(tid, early, amount, proof1, {"from": rando})
    balance = token.balanceOf(early)

    accounts, amounts, proof, flags = batch_args(tree, payees)
    tx = escrow.claimBatch(tid, accounts, amounts, proof, flags, {"from": rando})
    rest = sum(payouts.values()) - payouts[early]
    assert tx.return_value == rest
    skipped = tx.events["ClaimSkipped"]
    assert len(skipped) == 1
    assert (skipped[0]["taskId"], skipped[0]["account"], skipped[0]["amount"]) == (
        tid,
        early,
        payouts[early],
    )
    assert early not in [e["account"] for e in tx.events["Claimed"]]
    assert early not in [e["to"] for e in tx.events["Transfer"]]
    assert token.balanceOf(early) == balance
    assert escrow.task(tid)["claimed"] == sum(payouts.values())


def test_batch_then_single_and_many_revert(escrow, final, tasks, payees, rando, reverts_with):
    tid, tree = final
    accounts, amounts, proof, flags = batch_args(tree, payees[:3])
    escrow.claimBatch(tid, accounts, amounts, proof, flags, {"from": rando})
    a = payees[0]
    amount, proof1 = tasks.leaf(tree, a)
    with reverts_with("AlreadyClaimed", tid, a):
        escrow.claim(tid, a, amount, proof1, {"from": rando})
    with reverts_with("AlreadyClaimed", tid, a):
        escrow.claimMany(a, [(tid, amount, proof1)], {"from": a})


def test_batch_twice_pays_nothing_twice(escrow, token, final, payees, rando):
    tid, tree = final
    args = batch_args(tree, payees[2:5])
    escrow.claimBatch(tid, *args, {"from": rando})
    held = token.balanceOf(escrow)
    tx = escrow.claimBatch(tid, *args, {"from": rando})
    assert tx.return_value == 0
    assert [e["account"] for e in tx.events["ClaimSkipped"]] == args[0]
    assert "Transfer" not in tx.events and "Claimed" not in tx.events
    assert token.balanceOf(escrow) == held


def test_bad_proof(escrow, final, payees, rando, reverts_with):
    tid, tree = final
    accounts, amounts, proof, flags = batch_args(tree, payees[:4])
    cases = [
        (accounts, [amounts[0] + 1, *amounts[1:]], proof, flags),  # an amount raised
        ([rando.address, *accounts[1:]], amounts, proof, flags),  # an account swapped
        (accounts[::-1], amounts[::-1], proof, flags),  # leaves out of the proof's order
        (accounts, amounts, proof[:-1], flags),  # a proof node short
        (accounts, amounts, proof, [not f for f in flags]),  # flags flipped
    ]
    for case in cases:
        with reverts_with("InvalidMultiProof", tid):
            escrow.claimBatch(tid, *case, {"from": rando})
    assert not any(escrow.isClaimed(tid, a) for a in payees)


def test_root_alone_with_no_leaves_is_refused(escrow, final, rando, reverts_with):
    """multiProofVerify accepts proof == [root] with no leaves; the escrow refuses the empty
    batch first."""
    tid, tree = final
    with reverts_with("EmptyClaims"):
        escrow.claimBatch(tid, [], [], [tree.root], [], {"from": rando})


def test_length_mismatch(escrow, final, payees, rando, reverts_with):
    tid, tree = final
    accounts, amounts, proof, flags = batch_args(tree, payees[:2])
    with reverts_with("BatchLengthMismatch", 2, 1):
        escrow.claimBatch(tid, accounts, amounts[:1], proof, flags, {"from": rando})


def test_paused(escrow, final, payees, guardian, rando, reverts_with):
    tid, tree = final
    args = batch_args(tree, payees[:2])
    escrow.pause({"from": guardian})
    with reverts_with("EnforcedPause"):
        escrow.claimBatch(tid, *args, {"from": rando})
    escrow.unpause({"from": guardian})
    escrow.claimBatch(tid, *args, {"from": rando})


def test_not_final(escrow, tasks, payees, rando, reverts_with):
    tid = tasks.create()
    with reverts_with("NotFinal", tid):
        escrow.claimBatch(tid, [payees[0]], [1], [], [], {"from": rando})
    with reverts_with("UnknownTask", 10**6):
        escrow.claimBatch(10**6, [payees[0]], [1], [], [], {"from": rando})


def test_after_deadline(escrow, final, payees, rando, pin_time, reverts_with):
    tid, tree = final
    deadline = escrow.claimDeadline(tid)
    args = batch_args(tree, payees[:3])
    pin_time(deadline + 1)
    with reverts_with("ClaimPeriodOver", tid, deadline):
        escrow.claimBatch(tid, *args, {"from": rando})


def test_tree_promising_more_than_total(escrow, token, tasks, payees, rando, reverts_with):
    """A dishonest tree whose leaves add up past the posted total: the batch is capped like
    single claims, so other tasks' funds in the token stay put."""
    payouts = {payees[0]: 60 * E18, payees[1]: 60 * E18}
    tid, tree = tasks.final(payouts, total=100 * E18)
    accounts, amounts, proof, flags = batch_args(tree, payees[:2])
    with reverts_with("ClaimExceedsPayout", tid, 120 * E18, 100 * E18):
        escrow.claimBatch(tid, accounts, amounts, proof, flags, {"from": rando})


def test_zero_account_leaf(escrow, tasks, payees, rando, reverts_with):
    zero = "0x" + "00" * 20
    tid, tree = tasks.final({zero: 1 * E18, payees[0]: 2 * E18})
    index = {v[0]: i for i, v in tree.entries()}
    mp = multiproof(tree, [index[zero], index[payees[0]]])
    with reverts_with("ZeroAccount"):
        escrow.claimBatch(
            tid,
            [v[0] for v in mp.values],
            [int(v[1]) for v in mp.values],
            mp.proof,
            mp.proof_flags,
            {"from": rando},
        )
