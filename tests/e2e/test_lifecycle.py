"""A task's whole life on the real contracts: create, attest (direct and relayed), propose
(1-of-1 and 2-of-3), veto and re-propose, finalize, claim and claimMany with real Merkle proofs,
and every kind of refund."""

import brownie
import pytest
from eth_account import Account

from labelproof.commitments import annotation_leaf, annotation_root, new_salt, sign_attestation
from labelproof.merkle import payout_tree
from tests.conftest import BUDGET, DAY, proof_for, task_params

UNALLOCATED, UNCLAIMED, TIMEOUT = 1, 2, 3


def labels_root(chain_id, escrow, task_id, annotator, labels):
    leaves = [
        annotation_leaf(chain_id, escrow.address, task_id, item, annotator, label, new_salt())
        for item, label in labels.items()
    ]
    return annotation_root(leaves), len(leaves)


@pytest.fixture
def relayed_keys(chain):
    return [Account.create() for _ in range(2)]


def test_full_lifecycle_one_of_one(
    escrow,
    registry,
    committee,
    token,
    requester,
    annotators,
    relayer,
    rando,
    oracle,
    guardian,
    relayed_keys,
    chain,
):
    # -- create and fund
    token.approve(escrow, BUDGET, {"from": requester})
    task = escrow.createTask(token, BUDGET, task_params(chain), {"from": requester}).return_value
    assert token.balanceOf(escrow) == BUDGET
    cid = chain.id

    # -- attest: two annotators directly, two through a relayer with EIP-712 signatures
    labels = {f"item-{i}": "cat" if i % 2 else "dog" for i in range(20)}
    for who in annotators[:2]:
        root, count = labels_root(cid, escrow, task, who.address, labels)
        tx = registry.attest(task, root, count, {"from": who})
        assert tx.events["Attested"]["annotator"] == who.address
        assert registry.isAttested(task, who, root, count)
    batch = []
    for key in relayed_keys:
        root, count = labels_root(cid, escrow, task, key.address, labels)
        batch.append(sign_attestation(key.key, cid, registry.address, task, root, count, 1))
    tx = registry.attestBySig([s.as_tuple() for s in batch], {"from": relayer})
    assert len(tx.events["Attested"]) == 2
    for s in batch:
        assert registry.isAttested(task, s.annotator, s.root, s.item_count)
    # the requester can no longer cancel
    with brownie.reverts(f"AttestationsExist: {task}"):
        escrow.cancelTask(task, {"from": requester})

    # -- scoring: a first (wrong) proposal is vetoed, the corrected one finalized
    workers = [a.address for a in annotators[:2]] + [k.address for k in relayed_keys]
    wrong = payout_tree({w: 100 * 10**18 for w in workers})
    payouts = {
        workers[0]: 300 * 10**18,
        workers[1]: 200 * 10**18,
        workers[2]: 150 * 10**18,
        workers[3]: 50 * 10**18,
    }
    tree = payout_tree(payouts)
    total = sum(payouts.values())
    with brownie.reverts(revert_pattern=rf"RevealWindowOpen: {task}, \d+"):
        committee.propose(task, tree.root, total, b"\x02" * 32, {"from": oracle})
    chain.sleep(2 * DAY + 1)
    committee.propose(task, wrong.root, 400 * 10**18, b"\x01" * 32, {"from": oracle})
    assert committee.isPending(task)
    tx = committee.veto(task, "root does not match the report", {"from": guardian})
    assert tx.events["Vetoed"]["round"] == 1
    assert not committee.isPending(task)
    tx = committee.propose(task, tree.root, total, b"\x02" * 32, {"from": oracle})
    assert tx.events["ProposalPending"]["round"] == 1
    with brownie.reverts(f"NotFinal: {task}"):
        amount, proof = proof_for(tree, workers[0])
        escrow.claim(task, workers[0], amount, proof, {"from": rando})
    chain.sleep(DAY + 1)
    tx = committee.finalize(task, {"from": rando})
    assert tx.events["PayoutFinalized"]["root"] == tree.root
    assert escrow.task(task).dict()["payoutRoot"] == tree.root

    # -- the unallocated part goes back at once
    before = token.balanceOf(requester)
    tx = escrow.refund(task, {"from": rando})
    assert tx.events["Refunded"]["kind"] == UNALLOCATED
    assert token.balanceOf(requester) - before == BUDGET - total

    # -- claims: by the annotator, by a stranger on someone's behalf (paid to the leaf)
    amount, proof = proof_for(tree, workers[0])
    escrow.claim(task, workers[0], amount, proof, {"from": annotators[0]})
    amount2, proof2 = proof_for(tree, workers[2])
    escrow.claim(task, workers[2], amount2, proof2, {"from": rando})
    assert token.balanceOf(workers[0]) == payouts[workers[0]]
    assert token.balanceOf(workers[2]) == payouts[workers[2]]
    assert token.balanceOf(rando) == 0
    with brownie.reverts(f"AlreadyClaimed: {task}, {workers[0].lower()}"):
        escrow.claim(task, workers[0], amount, proof, {"from": rando})

    # -- after the claim period the requester gets the unclaimed rest
    chain.sleep(30 * DAY + 1)
    amount1, proof1 = proof_for(tree, workers[1])
    with brownie.reverts(revert_pattern=rf"ClaimPeriodOver: {task}, \d+"):
        escrow.claim(task, workers[1], amount1, proof1, {"from": annotators[1]})
    before = token.balanceOf(requester)
    tx = escrow.refund(task, {"from": requester})
    assert tx.events["Refunded"]["kind"] == UNCLAIMED
    assert token.balanceOf(requester) - before == payouts[workers[1]] + payouts[workers[3]]
    assert token.balanceOf(escrow) == 0


def test_two_of_three_needs_two_matching_proposals(
    suite2of3, token, requester, annotator, oracles, guardian, rando, chain
):
    escrow, registry, committee = suite2of3.escrow, suite2of3.registry, suite2of3.committee
    token.approve(escrow, BUDGET, {"from": requester})
    task = escrow.createTask(token, BUDGET, task_params(chain), {"from": requester}).return_value
    registry.attest(task, b"\x11" * 32, 5, {"from": annotator})
    payouts = {annotator.address: BUDGET}
    tree = payout_tree(payouts)
    other = payout_tree({annotator.address: BUDGET // 2})
    chain.sleep(2 * DAY + 1)

    tx = committee.propose(task, tree.root, BUDGET, b"\x07" * 32, {"from": oracles[0]})
    assert tx.events["Proposed"]["votes"] == 1 and "ProposalPending" not in tx.events
    # a dissenting oracle does not make it pending, nor does voting twice
    tx = committee.propose(task, other.root, BUDGET // 2, b"\x08" * 32, {"from": oracles[1]})
    assert tx.events["Proposed"]["votes"] == 1 and not committee.isPending(task)
    with brownie.reverts(f"AlreadyVoted: {task}, 0, {oracles[0].address.lower()}"):
        committee.propose(task, tree.root, BUDGET, b"\x07" * 32, {"from": oracles[0]})
    tx = committee.propose(task, tree.root, BUDGET, b"\x07" * 32, {"from": oracles[2]})
    assert tx.events["ProposalPending"]["root"] == tree.root
    assert committee.votes(task, tree.root, BUDGET, b"\x07" * 32) == 2

    # vetoed, a new round: the earlier votes no longer count
    committee.veto(task, "gold set mismatch", {"from": guardian})
    assert committee.pending(task).dict()["round"] == 1
    assert not committee.hasVoted(task, oracles[0])
    committee.propose(task, tree.root, BUDGET, b"\x07" * 32, {"from": oracles[1]})
    committee.propose(task, tree.root, BUDGET, b"\x07" * 32, {"from": oracles[2]})
    chain.sleep(DAY + 1)
    committee.finalize(task, {"from": rando})
    amount, proof = proof_for(tree, annotator)
    escrow.claim(task, annotator, amount, proof, {"from": rando})
    assert token.balanceOf(annotator) == BUDGET
    with brownie.reverts(f"NothingToRefund: {task}"):
        escrow.refund(task, {"from": requester})


def test_claim_many_across_tasks_and_tokens(
    escrow, registry, committee, token, usd, requester, annotators, oracle, rando, chain
):
    budgets = {token: 90 * 10**18, usd: 90 * 10**6}
    tasks = []
    for tok in (token, token, usd):
        tok.approve(escrow, budgets[tok], {"from": requester})
        tid = escrow.createTask(tok, budgets[tok], task_params(chain), {"from": requester})
        tasks.append((tid.return_value, tok))
    chain.sleep(2 * DAY + 1)
    trees = {}
    for tid, tok in tasks:
        share = budgets[tok] // 3
        payouts = {a.address: share for a in annotators}
        trees[tid] = payout_tree(payouts)
        committee.propose(tid, trees[tid].root, share * 3, b"\x09" * 32, {"from": oracle})
    chain.sleep(DAY + 1)
    for tid, _ in tasks:
        committee.finalize(tid, {"from": rando})

    who = annotators[1]
    requests = []
    for tid, _ in tasks:
        amount, proof = proof_for(trees[tid], who)
        requests.append((tid, amount, proof))
    tx = escrow.claimMany(who, requests, {"from": rando})
    assert len(tx.events["Claimed"]) == 3
    assert len(tx.events["Transfer"]) == 2  # one transfer per token
    assert token.balanceOf(who) == 2 * 30 * 10**18
    assert usd.balanceOf(who) == 30 * 10**6
    for tid, _ in tasks:
        assert escrow.isClaimed(tid, who)
    with brownie.reverts(f"AlreadyClaimed: {tasks[0][0]}, {who.address.lower()}"):
        escrow.claimMany(who, requests[:1], {"from": who})


def test_cancel_before_any_attestation_refunds_everything(
    escrow, registry, token, requester, annotator, chain
):
    before = token.balanceOf(requester)
    token.approve(escrow, BUDGET, {"from": requester})
    task = escrow.createTask(token, BUDGET, task_params(chain), {"from": requester}).return_value
    tx = escrow.cancelTask(task, {"from": requester})
    assert tx.events["Refunded"]["kind"] == 0
    assert token.balanceOf(requester) == before
    assert escrow.task(task).dict()["status"] == 2
    with brownie.reverts(f"TaskNotOpen: {task}"):
        registry.attest(task, b"\x11" * 32, 3, {"from": annotator})


def test_oracle_timeout_refunds_everything(
    escrow, registry, committee, token, requester, annotator, oracle, rando, chain
):
    token.approve(escrow, BUDGET, {"from": requester})
    task = escrow.createTask(token, BUDGET, task_params(chain), {"from": requester}).return_value
    registry.attest(task, b"\x11" * 32, 3, {"from": annotator})
    with brownie.reverts(f"NothingToRefund: {task}"):
        escrow.refund(task, {"from": rando})
    # the oracle deadline is reveal deadline + 7 days; an agreed proposal that has not been
    # finalized by then does not keep the funds locked
    tree = payout_tree({annotator.address: BUDGET})
    chain.sleep(2 * DAY + 6 * DAY + 10)
    # too late for a proposal: its challenge window would end after the oracle deadline
    with brownie.reverts(revert_pattern=rf"ProposalTooLate: {task}, \d+, \d+"):
        committee.propose(task, tree.root, BUDGET, b"\x01" * 32, {"from": oracle})
    chain.sleep(DAY)
    before = token.balanceOf(requester)
    tx = escrow.refund(task, {"from": rando})
    assert tx.events["Refunded"]["kind"] == TIMEOUT
    assert token.balanceOf(requester) - before == BUDGET
    assert escrow.task(task).dict()["status"] == 4
    with brownie.reverts(f"TaskNotFunded: {task}"):
        committee.propose(task, tree.root, BUDGET, b"\x01" * 32, {"from": oracle})
