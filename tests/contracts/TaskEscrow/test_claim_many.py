"""TaskEscrow.claimMany."""

import brownie
import pytest

E18 = 10**18
E6 = 10**6
DAY = 86_400


@pytest.fixture(scope="module")
def three(tasks, usd, annotators):
    """Three finalized tasks: two paid in MockERC20, one in the 6-decimals usd token.
    Returns {name: (task id, tree)}; built once per module (do not assume task ids)."""
    a0, a1, a2 = annotators
    t1 = tasks.create()
    t2 = tasks.create()
    t3 = tasks.create(budget=100 * E6, tok=usd)
    out = {}
    for name, tid, payouts in (
        ("t1", t1, {a0: 100 * E18, a1: 200 * E18}),
        ("t2", t2, {a0: 50 * E18, a2: 10 * E18}),
        ("t3", t3, {a0: 7 * E6, a1: 1 * E6}),
    ):
        tree = tasks.tree(payouts)
        tasks.propose(tid, tree.root, sum(payouts.values()))
        out[name] = (tid, tree)
    tasks.chain.sleep(DAY + 1)
    for tid, _ in out.values():
        tasks.committee.finalize(tid, {"from": tasks.oracles[0]})
    return out


def req(tasks, entry, account, amount=None):
    tid, tree = entry
    leaf_amount, proof = tasks.leaf(tree, account)
    return (tid, leaf_amount if amount is None else amount, proof)


def test_claims_across_tasks_with_one_transfer(escrow, token, tasks, three, annotator):
    before = token.balanceOf(annotator), token.balanceOf(escrow)
    claims = [req(tasks, three["t1"], annotator), req(tasks, three["t2"], annotator)]
    tx = escrow.claimMany(annotator, claims, {"from": annotator})

    assert token.balanceOf(annotator) == before[0] + 150 * E18
    assert token.balanceOf(escrow) == before[1] - 150 * E18
    transfers = tx.events["Transfer"]
    assert len(transfers) == 1
    assert (transfers[0]["from"], transfers[0]["to"], transfers[0]["value"]) == (
        escrow,
        annotator,
        150 * E18,
    )
    claimed = [(e["taskId"], e["account"], e["amount"]) for e in tx.events["Claimed"]]
    assert claimed == [
        (three["t1"][0], annotator, 100 * E18),
        (three["t2"][0], annotator, 50 * E18),
    ]
    for name, amount in (("t1", 100 * E18), ("t2", 50 * E18)):
        tid = three[name][0]
        assert escrow.isClaimed(tid, annotator)
        assert escrow.task(tid)["claimed"] == amount


def test_one_transfer_per_token(escrow, token, usd, tasks, three, annotator):
    before = token.balanceOf(annotator), usd.balanceOf(annotator)
    claims = [req(tasks, three[n], annotator) for n in ("t1", "t3", "t2")]
    tx = escrow.claimMany(annotator, claims, {"from": annotator})
    assert token.balanceOf(annotator) == before[0] + 150 * E18
    assert usd.balanceOf(annotator) == before[1] + 7 * E6
    # tokens are paid in order of first appearance: MockERC20, then usd
    assert [(e["to"], e["value"]) for e in tx.events["Transfer"]] == [
        (annotator, 150 * E18),
        (annotator, 7 * E6),
    ]
    assert [e["taskId"] for e in tx.events["Claimed"]] == [three[n][0] for n in ("t1", "t3", "t2")]


def test_single_claim_batch(escrow, usd, tasks, three, annotators):
    before = usd.balanceOf(annotators[1])
    tx = escrow.claimMany(
        annotators[1], [req(tasks, three["t3"], annotators[1])], {"from": annotators[1]}
    )
    assert usd.balanceOf(annotators[1]) == before + E6
    assert tx.events["Claimed"]["amount"] == E6


def test_stranger_submits_tokens_go_to_account(escrow, token, tasks, three, annotator, rando):
    before = token.balanceOf(annotator), token.balanceOf(rando)
    escrow.claimMany(annotator, [req(tasks, three["t1"], annotator)], {"from": rando})
    assert token.balanceOf(annotator) == before[0] + 100 * E18
    assert token.balanceOf(rando) == before[1]


def test_then_claim_reverts(escrow, tasks, three, annotator, reverts_with):
    escrow.claimMany(annotator, [req(tasks, three["t1"], annotator)], {"from": annotator})
    tid, amount, proof = req(tasks, three["t1"], annotator)
    with reverts_with("AlreadyClaimed", tid, annotator):
        escrow.claim(tid, annotator, amount, proof, {"from": annotator})


# --------------------------------------------------------------------------------------------
# reverts (all or nothing)
# --------------------------------------------------------------------------------------------


def test_empty(escrow, annotator, reverts_with):
    with reverts_with("EmptyClaims"):
        escrow.claimMany(annotator, [], {"from": annotator})


def _assert_nothing_claimed(escrow, token, tasks, three, annotator, balance):
    assert token.balanceOf(annotator) == balance
    for name in ("t1", "t2"):
        assert not escrow.isClaimed(three[name][0], annotator)
        assert escrow.task(three[name][0])["claimed"] == 0


def test_invalid_proof_in_batch_reverts_everything(
    escrow, token, tasks, three, annotator, reverts_with
):
    balance = token.balanceOf(annotator)
    good = req(tasks, three["t1"], annotator)
    bad = req(tasks, three["t2"], annotator, amount=51 * E18)
    with reverts_with("InvalidProof", three["t2"][0], annotator, 51 * E18):
        escrow.claimMany(annotator, [good, bad], {"from": annotator})
    _assert_nothing_claimed(escrow, token, tasks, three, annotator, balance)


def test_unknown_task_in_batch(escrow, token, tasks, three, annotator, reverts_with):
    balance = token.balanceOf(annotator)
    good = req(tasks, three["t1"], annotator)
    with reverts_with("UnknownTask", 10_000):
        escrow.claimMany(annotator, [good, (10_000, 1, [])], {"from": annotator})
    _assert_nothing_claimed(escrow, token, tasks, three, annotator, balance)


def test_not_final_in_batch(escrow, token, tasks, three, annotator, reverts_with):
    funded = tasks.create()
    balance = token.balanceOf(annotator)
    with reverts_with("NotFinal", funded):
        escrow.claimMany(
            annotator, [req(tasks, three["t1"], annotator), (funded, 1, [])], {"from": annotator}
        )
    _assert_nothing_claimed(escrow, token, tasks, three, annotator, balance)


def test_claim_period_over_in_batch(escrow, tasks, three, annotator, pin_time, reverts_with):
    tid = three["t2"][0]
    deadline = escrow.claimDeadline(tid)
    pin_time(deadline + 1)
    with reverts_with("ClaimPeriodOver", three["t1"][0], escrow.claimDeadline(three["t1"][0])):
        escrow.claimMany(
            annotator,
            [req(tasks, three["t1"], annotator), req(tasks, three["t2"], annotator)],
            {"from": annotator},
        )


def test_paused(escrow, token, tasks, three, annotator, guardian, reverts_with):
    balance = token.balanceOf(annotator)
    escrow.pause({"from": guardian})
    with reverts_with("EnforcedPause"):
        escrow.claimMany(annotator, [req(tasks, three["t1"], annotator)], {"from": annotator})
    with reverts_with("EnforcedPause"):  # before any other check
        escrow.claimMany(annotator, [], {"from": annotator})
    _assert_nothing_claimed(escrow, token, tasks, three, annotator, balance)


def test_pause_extends_every_claim_period_in_a_batch(
    escrow, usd, token, tasks, three, annotator, guardian, pin_time, reverts_with
):
    """After a pause of 2 days, the batch goes through 2 days past the latest original
    deadline; one second later it is over."""
    deadlines = [escrow.claimDeadline(three[n][0]) for n in ("t1", "t2", "t3")]
    start = tasks.chain[-1].timestamp + 10
    pin_time(start)
    escrow.pause({"from": guardian})
    pin_time(start + 2 * DAY)
    escrow.unpause({"from": guardian})
    assert [escrow.claimDeadline(three[n][0]) for n in ("t1", "t2", "t3")] == [
        d + 2 * DAY for d in deadlines
    ]
    claims = [req(tasks, three[n], annotator) for n in ("t1", "t2", "t3")]
    pin_time(min(deadlines) + 2 * DAY)
    tx = escrow.claimMany(annotator, claims[:2], {"from": annotator})
    assert len(tx.events["Claimed"]) == 2
    pin_time(deadlines[2] + 2 * DAY + 1)
    with reverts_with("ClaimPeriodOver", three["t3"][0], deadlines[2] + 2 * DAY):
        escrow.claimMany(annotator, claims[2:], {"from": annotator})


def test_already_claimed_before(escrow, token, tasks, three, annotator, reverts_with):
    tid, amount, proof = req(tasks, three["t2"], annotator)
    escrow.claim(tid, annotator, amount, proof, {"from": annotator})
    balance = token.balanceOf(annotator)
    with reverts_with("AlreadyClaimed", tid, annotator):
        escrow.claimMany(
            annotator,
            [req(tasks, three["t1"], annotator), (tid, amount, proof)],
            {"from": annotator},
        )
    assert token.balanceOf(annotator) == balance
    assert not escrow.isClaimed(three["t1"][0], annotator)


def test_same_task_twice_in_batch(escrow, token, tasks, three, annotator, reverts_with):
    balance = token.balanceOf(annotator)
    r = req(tasks, three["t1"], annotator)
    with reverts_with("AlreadyClaimed", r[0], annotator):
        escrow.claimMany(annotator, [r, r], {"from": annotator})
    _assert_nothing_claimed(escrow, token, tasks, three, annotator, balance)


def test_zero_account(escrow, tasks, three, rando, reverts_with):
    tid, _ = three["t1"]
    with reverts_with("ZeroAccount"):
        escrow.claimMany("0x" + "00" * 20, [(tid, 1, [])], {"from": rando})


def test_other_accounts_leaf(escrow, tasks, three, annotators, reverts_with):
    """A leaf of annotators[1] submitted for annotators[0]."""
    tid, amount, proof = req(tasks, three["t1"], annotators[1])
    with reverts_with("InvalidProof", tid, annotators[0], amount):
        escrow.claimMany(annotators[0], [(tid, amount, proof)], {"from": annotators[0]})


def test_claim_exceeds_payout_in_batch(escrow, tasks, annotators, reverts_with):
    tid, tree = tasks.final({annotators[0]: 600 * E18, annotators[1]: 600 * E18}, total=700 * E18)
    escrow.claimMany(
        annotators[0], [req(tasks, (tid, tree), annotators[0])], {"from": annotators[0]}
    )
    with reverts_with("ClaimExceedsPayout", tid, 600 * E18, 100 * E18):
        escrow.claimMany(
            annotators[1], [req(tasks, (tid, tree), annotators[1])], {"from": annotators[1]}
        )


# --------------------------------------------------------------------------------------------
# the claimed bitmap across 256-task words
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def around_word(tasks, escrow, token, requester, annotators, chain):
    """Tasks 255, 256 and 257 (bitmap words 0 and 1) plus task 1, all finalized with the same
    payouts. The 257 tasks are sent as raw transactions for speed."""
    start = escrow.taskCount()
    need = 257 - start
    assert need > 0
    budget = 10 * E18
    token.approve(escrow, need * budget, {"from": requester})
    w3 = brownie.web3
    c = w3.eth.contract(address=escrow.address, abi=escrow.abi)
    p = tasks.params(chain)
    last = None
    for _ in range(need):
        last = c.functions.createTask(token.address, budget, p).transact(
            {"from": requester.address, "gas": 500_000, "gasPrice": 0}
        )
    assert w3.eth.wait_for_transaction_receipt(last)["status"] == 1
    assert escrow.taskCount() == 257
    payouts = {annotators[0]: E18, annotators[1]: 2 * E18}
    tree = tasks.tree(payouts)
    ids = [start + 1, 255, 256, 257]
    for tid in ids:
        tasks.propose(tid, tree.root, 3 * E18)
    chain.sleep(DAY + 1)
    for tid in ids:
        tasks.committee.finalize(tid, {"from": tasks.oracles[0]})
    return ids, tree


def test_claim_many_across_bitmap_words(escrow, token, tasks, around_word, annotators):
    ids, tree = around_word
    low, w0_last, w1_first, w1_second = ids
    a0 = annotators[0]
    amount, proof = tasks.leaf(tree, a0)
    before = token.balanceOf(a0)
    # word 1, word 0, word 1, word 0: the cached word is written back at every switch
    order = [w1_first, low, w1_second, w0_last]
    escrow.claimMany(a0, [(t, amount, proof) for t in order], {"from": a0})
    assert token.balanceOf(a0) == before + 4 * amount
    for t in ids:
        assert escrow.isClaimed(t, a0)
        assert not escrow.isClaimed(t, annotators[1])
    for t in (2, 254, 258, 512):
        assert not escrow.isClaimed(t, a0)


@pytest.mark.parametrize("replay", [0, 1, 2, 3])
def test_bitmap_words_block_replays(escrow, tasks, around_word, annotators, replay, reverts_with):
    ids, tree = around_word
    a0 = annotators[0]
    amount, proof = tasks.leaf(tree, a0)
    escrow.claimMany(
        a0, [(t, amount, proof) for t in (ids[2], ids[0], ids[3], ids[1])], {"from": a0}
    )
    t = ids[replay]
    with reverts_with("AlreadyClaimed", t, a0):
        escrow.claim(t, a0, amount, proof, {"from": a0})
    with reverts_with("AlreadyClaimed", t, a0):
        escrow.claimMany(a0, [(t, amount, proof)], {"from": a0})


def test_duplicate_across_word_switch(escrow, tasks, around_word, annotators, reverts_with):
    """Task 255 twice with a word-1 task in between: the bit written back for word 0 at the
    switch must still be seen."""
    ids, tree = around_word
    a0 = annotators[0]
    amount, proof = tasks.leaf(tree, a0)
    with reverts_with("AlreadyClaimed", ids[1], a0):
        escrow.claimMany(
            a0,
            [(ids[1], amount, proof), (ids[2], amount, proof), (ids[1], amount, proof)],
            {"from": a0},
        )


def test_claim_then_claim_many_across_words(escrow, token, tasks, around_word, annotators):
    ids, tree = around_word
    a1 = annotators[1]
    amount, proof = tasks.leaf(tree, a1)
    escrow.claim(ids[2], a1, amount, proof, {"from": a1})  # word 1
    before = token.balanceOf(a1)
    escrow.claimMany(a1, [(ids[1], amount, proof), (ids[3], amount, proof)], {"from": a1})
    assert token.balanceOf(a1) == before + 2 * amount
    assert all(escrow.isClaimed(t, a1) for t in ids[1:])
    assert not escrow.isClaimed(ids[0], a1)
