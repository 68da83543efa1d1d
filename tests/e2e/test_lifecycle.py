"""A task's whole life on the real v2 contracts: create, attest (direct and relayed, a bad entry
skipped), propose (1-of-1 and 2-of-3), veto and re-propose, dispute and ruling with the bonds
they move, bonded proposals, close early, finalize, a pause that extends the claim period,
claim and claimMany with real Merkle proofs, and every kind of refund."""

import brownie
import pytest
from eth_account import Account
from eth_utils import keccak

from labelproof.commitments import annotation_leaf, annotation_root, new_salt, sign_attestation
from labelproof.merkle import payout_tree
from labelproof.settlement import Proposal, RefundKind, Status, Verdict
from tests.conftest import BUDGET, DAY, proof_for, task_params

HOUR = 3_600
ETH = 10**18
BOND = 100 * ETH  # the default proposer and dispute bonds
BURN = "0x000000000000000000000000000000000000dEaD"
INPUTS = b"\x0e" * 32  # an inputsHash: keccak256 of the oracle's published inputs bundle
STALE_VERSION = "0x" + keccak(text="StaleVersion(uint256,address,uint32,uint32)")[:4].hex()


def labels_root(chain_id, escrow, task_id, annotator, labels):
    leaves = [
        annotation_leaf(chain_id, escrow.address, task_id, item, annotator, label, new_salt())
        for item, label in labels.items()
    ]
    return annotation_root(leaves), len(leaves)


@pytest.fixture
def relayed_keys(chain):
    return [Account.create() for _ in range(2)]


def new_task(escrow, token, requester, chain, **params):
    token.approve(escrow, BUDGET, {"from": requester})
    return escrow.createTask(
        token, BUDGET, task_params(chain, **params), {"from": requester}
    ).return_value


def bonds_conserved(committee, bond_token, task_ids):
    """The committee holds exactly its stake plus the bonds locked behind running proposals."""
    locked = 0
    for tid in task_ids:
        p = Proposal.from_raw(committee.pending(tid))
        locked += p.bond + p.dispute_bond
    return bond_token.balanceOf(committee) == committee.stake(bond_token) + locked


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
    task = new_task(escrow, token, requester, chain)
    assert token.balanceOf(escrow) == BUDGET
    assert escrow.task(task).dict()["rulesId"] == 1
    cid = chain.id

    # -- attest: two annotators directly, two through a relayer with EIP-712 signatures; a
    # third signature in the batch is stale and skipped without sinking the other two
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
    key = relayed_keys[0]
    stale = sign_attestation(key.key, cid, registry.address, task, b"\x05" * 32, 3, 1)
    tx = registry.attestBySig([s.as_tuple() for s in [*batch, stale]], {"from": relayer})
    assert tx.return_value == 2 and len(tx.events["Attested"]) == 2
    skipped = tx.events["AttestationSkipped"]
    assert skipped["index"] == 2 and skipped["annotator"] == key.address
    assert skipped["reason"] == STALE_VERSION
    for s in batch:
        assert registry.isAttested(task, s.annotator, s.root, s.item_count)

    # -- scoring: a first (wrong) proposal is vetoed, the corrected one finalized
    workers = [a.address for a in annotators[:2]] + [k.address for k in relayed_keys]
    wrong = payout_tree({w: 100 * ETH for w in workers})
    payouts = {
        workers[0]: 300 * ETH,
        workers[1]: 200 * ETH,
        workers[2]: 150 * ETH,
        workers[3]: 50 * ETH,
    }
    tree = payout_tree(payouts)
    total = sum(payouts.values())
    with brownie.reverts(revert_pattern=rf"RevealWindowOpen: {task}, \d+"):
        committee.propose(task, tree.root, total, b"\x02" * 32, INPUTS, {"from": oracle})
    chain.sleep(2 * DAY + 1)
    committee.propose(task, wrong.root, 400 * ETH, b"\x01" * 32, INPUTS, {"from": oracle})
    assert committee.isPending(task)
    tx = committee.veto(task, "root does not match the report", {"from": guardian})
    assert tx.events["Vetoed"]["round"] == 1
    assert not committee.isPending(task)
    tx = committee.propose(task, tree.root, total, b"\x02" * 32, INPUTS, {"from": oracle})
    assert tx.events["ProposalPending"]["round"] == 1
    with brownie.reverts(f"VetoUsed: {task}"):  # one veto per task
        committee.veto(task, "again", {"from": guardian})
    assert tx.events["ProposalPending"]["inputsHash"] == "0x" + INPUTS.hex()
    with brownie.reverts(f"NotFinal: {task}"):
        amount, proof = proof_for(tree, workers[0])
        escrow.claim(task, workers[0], amount, proof, {"from": rando})
    chain.sleep(DAY + 1)
    tx = committee.finalize(task, {"from": rando})
    assert tx.events["PayoutFinalized"]["root"] == tree.root
    assert escrow.task(task).dict()["payoutRoot"] == tree.root
    assert escrow.claimDeadline(task) == tx.events["PayoutFinalized"]["claimDeadline"]

    # -- the unallocated part goes back at once
    before = token.balanceOf(requester)
    tx = escrow.refund(task, {"from": rando})
    assert tx.events["Refunded"]["kind"] == RefundKind.UNALLOCATED
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
    assert tx.events["Refunded"]["kind"] == RefundKind.UNCLAIMED
    assert token.balanceOf(requester) - before == payouts[workers[1]] + payouts[workers[3]]
    assert token.balanceOf(escrow) == 0


def test_two_of_three_needs_two_matching_proposals(
    suite2of3, token, requester, annotator, oracles, guardian, rando, chain
):
    escrow, registry, committee = suite2of3.escrow, suite2of3.registry, suite2of3.committee
    task = new_task(escrow, token, requester, chain)
    registry.attest(task, b"\x11" * 32, 5, {"from": annotator})
    payouts = {annotator.address: BUDGET}
    tree = payout_tree(payouts)
    other = payout_tree({annotator.address: BUDGET // 2})
    chain.sleep(2 * DAY + 1)

    tx = committee.propose(task, tree.root, BUDGET, b"\x07" * 32, INPUTS, {"from": oracles[0]})
    assert tx.events["Proposed"]["votes"] == 1 and "ProposalPending" not in tx.events
    # a dissenting oracle does not make it pending, nor does one that scored other inputs
    # (same root, another inputsHash), nor voting twice
    tx = committee.propose(
        task, other.root, BUDGET // 2, b"\x08" * 32, INPUTS, {"from": oracles[1]}
    )
    assert tx.events["Proposed"]["votes"] == 1 and not committee.isPending(task)
    with brownie.reverts(f"AlreadyVoted: {task}, 0, {oracles[0].address.lower()}"):
        committee.propose(task, tree.root, BUDGET, b"\x07" * 32, INPUTS, {"from": oracles[0]})
    tx = committee.propose(
        task, tree.root, BUDGET, b"\x07" * 32, b"\x0f" * 32, {"from": oracles[2]}
    )
    assert tx.events["Proposed"]["votes"] == 1 and not committee.isPending(task)
    assert committee.votes(task, tree.root, BUDGET, b"\x07" * 32, INPUTS) == 1

    # every oracle voted and nothing passed: anyone restarts the round
    tx = committee.restartRound(task, {"from": rando})
    assert tx.events["RoundRestarted"]["round"] == 1
    assert not committee.hasVoted(task, oracles[0])
    committee.propose(task, tree.root, BUDGET, b"\x07" * 32, INPUTS, {"from": oracles[1]})
    tx = committee.propose(task, tree.root, BUDGET, b"\x07" * 32, INPUTS, {"from": oracles[2]})
    assert tx.events["ProposalPending"]["root"] == tree.root

    # vetoed, a new round: the earlier votes no longer count
    committee.veto(task, "gold set mismatch", {"from": guardian})
    assert Proposal.from_raw(committee.pending(task)).round == 2
    assert not committee.hasVoted(task, oracles[1])
    committee.propose(task, tree.root, BUDGET, b"\x07" * 32, INPUTS, {"from": oracles[0]})
    committee.propose(task, tree.root, BUDGET, b"\x07" * 32, INPUTS, {"from": oracles[2]})
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
    budgets = {token: 90 * ETH, usd: 90 * 10**6}
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
        committee.propose(tid, trees[tid].root, share * 3, b"\x09" * 32, INPUTS, {"from": oracle})
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
    assert token.balanceOf(who) == 2 * 30 * ETH
    assert usd.balanceOf(who) == 30 * 10**6
    for tid, _ in tasks:
        assert escrow.isClaimed(tid, who)
    with brownie.reverts(f"AlreadyClaimed: {tasks[0][0]}, {who.address.lower()}"):
        escrow.claimMany(who, requests[:1], {"from": who})


def test_cancel_before_any_attestation_refunds_everything(
    escrow, registry, token, requester, annotator, chain
):
    before = token.balanceOf(requester)
    task = new_task(escrow, token, requester, chain)
    tx = escrow.cancelTask(task, {"from": requester})
    assert tx.events["Refunded"]["kind"] == RefundKind.CANCELLED
    assert token.balanceOf(requester) == before
    assert escrow.task(task).dict()["status"] == Status.CANCELLED
    with brownie.reverts(f"TaskNotOpen: {task}"):
        registry.attest(task, b"\x11" * 32, 3, {"from": annotator})


def test_cancel_with_attestations_closes_early_and_pays_the_work(
    escrow, registry, committee, token, requester, annotators, oracle, rando, chain
):
    task = new_task(escrow, token, requester, chain, annotation=3 * DAY, reveal=5 * DAY)
    before = escrow.task(task).dict()
    registry.attest(task, b"\x11" * 32, 3, {"from": annotators[0]})
    tx = escrow.cancelTask(task, {"from": requester})
    closed = tx.events["TaskClosedEarly"]
    now = tx.timestamp
    shift = before["annotationDeadline"] - now
    assert closed["annotationDeadline"] == now
    assert closed["revealDeadline"] == before["revealDeadline"] - shift
    assert tx.events["AnnotationClosed"]["annotationDeadline"] == now
    assert "Refunded" not in tx.events and token.balanceOf(escrow) == BUDGET
    after = escrow.task(task).dict()
    assert after["status"] == Status.FUNDED and after["revealDeadline"] == closed["revealDeadline"]
    chain.sleep(1)  # the deadline's own second still takes attestations
    with brownie.reverts(revert_pattern=rf"AnnotationWindowClosed: {task}, \d+"):
        registry.attest(task, b"\x12" * 32, 3, {"from": annotators[1]})
    with brownie.reverts(f"AttestationsExist: {task}"):
        escrow.cancelTask(task, {"from": requester})

    # the attested work is scored and paid sooner: two days after the close, not five
    tree = payout_tree({annotators[0].address: 600 * ETH})
    chain.sleep(2 * DAY + 1)
    committee.propose(task, tree.root, 600 * ETH, b"\x03" * 32, INPUTS, {"from": oracle})
    chain.sleep(DAY + 1)
    committee.finalize(task, {"from": rando})
    amount, proof = proof_for(tree, annotators[0])
    escrow.claim(task, annotators[0], amount, proof, {"from": rando})
    tx = escrow.refund(task, {"from": rando})
    assert tx.events["Refunded"]["kind"] == RefundKind.UNALLOCATED
    assert tx.events["Refunded"]["amount"] == 400 * ETH


def test_oracle_timeout_refunds_everything(
    escrow, registry, committee, token, requester, annotator, oracle, rando, chain
):
    task = new_task(escrow, token, requester, chain)
    registry.attest(task, b"\x11" * 32, 3, {"from": annotator})
    with brownie.reverts(f"NothingToRefund: {task}"):
        escrow.refund(task, {"from": rando})
    # the oracle deadline is the reveal deadline + 7 days: nothing became pending by then
    tree = payout_tree({annotator.address: BUDGET})
    chain.sleep(2 * DAY + 7 * DAY + 10)
    deadline = escrow.oracleDeadline(task)
    with brownie.reverts(f"ProposalTooLate: {task}, {deadline}"):
        committee.propose(task, tree.root, BUDGET, b"\x01" * 32, INPUTS, {"from": oracle})
    before = token.balanceOf(requester)
    tx = escrow.refund(task, {"from": rando})
    assert tx.events["Refunded"]["kind"] == RefundKind.ORACLE_TIMEOUT
    assert token.balanceOf(requester) - before == BUDGET
    assert escrow.task(task).dict()["status"] == Status.EXPIRED
    with brownie.reverts(f"TaskNotFunded: {task}"):
        committee.propose(task, tree.root, BUDGET, b"\x01" * 32, INPUTS, {"from": oracle})


def test_once_pending_the_budget_stays_for_the_annotators_past_the_deadline(
    escrow, registry, committee, token, requester, annotator, oracle, guardian, rando, chain
):
    task = new_task(escrow, token, requester, chain)
    registry.attest(task, b"\x11" * 32, 3, {"from": annotator})
    tree = payout_tree({annotator.address: BUDGET})
    chain.sleep(2 * DAY + 1)
    committee.propose(task, tree.root, BUDGET, b"\x01" * 32, INPUTS, {"from": oracle})
    committee.veto(task, "recheck the gold set", {"from": guardian})
    # far past the oracle deadline: the labels are out, so no timeout refund, and the
    # committee may still propose
    chain.sleep(30 * DAY)
    assert escrow.refundable(task)[0] == 0
    with brownie.reverts(f"NothingToRefund: {task}"):
        escrow.refund(task, {"from": requester})
    committee.propose(task, tree.root, BUDGET, b"\x02" * 32, INPUTS, {"from": oracle})
    chain.sleep(DAY + 1)
    committee.finalize(task, {"from": rando})
    assert escrow.task(task).dict()["status"] == Status.FINAL


def test_disputes_rulings_and_bonds(
    suite, requester, annotators, oracle, rando, arbiter, admin, accounts, chain
):
    """A committee proposal backed by its stake is disputed and ruled wrong (the disputer wins
    the bond), the next one is disputed and stands (the disputer's bond goes to the stake), a
    third task is refunded by ruling, and a bonded proposal by anyone settles a fourth."""
    escrow, registry, committee = suite.escrow, suite.registry, suite.committee
    lpr, arbitrator = suite.token, suite.arbitrator
    disputer, staker, proposer = accounts[13], accounts[14], accounts[15]
    for who in (requester, disputer, staker, proposer):
        lpr.mint(who, 10 * BUDGET, {"from": admin})
    lpr.approve(committee, 2**256 - 1, {"from": disputer})
    lpr.approve(committee, 2**256 - 1, {"from": proposer})
    lpr.approve(committee, 150 * ETH, {"from": staker})
    committee.fundStake(lpr, 150 * ETH, {"from": staker})
    tasks = [new_task(escrow, lpr, requester, chain) for _ in range(4)]
    for tid in tasks:
        registry.attest(tid, b"\x11" * 32, 3, {"from": annotators[0]})
    good = payout_tree({annotators[0].address: 700 * ETH})
    bad = payout_tree({disputer.address: 700 * ETH})
    chain.sleep(2 * DAY + 1)
    a, b, c, d = tasks
    with brownie.reverts(revert_pattern=rf"CommitteeGrace: {d}, \d+"):
        committee.proposeBonded(d, good.root, 700 * ETH, b"\x05" * 32, INPUTS, {"from": proposer})

    # -- task a: the committee's wrong payout locks 100 of its 150 stake; disputed, ruled wrong
    tx = committee.propose(a, bad.root, 700 * ETH, b"\x01" * 32, INPUTS, {"from": oracle})
    assert tx.events["ProposalPending"]["bond"] == BOND
    assert committee.stake(lpr) == 50 * ETH
    tx = committee.dispute(a, {"from": disputer})
    did = tx.events["Disputed"]["disputeId"]
    assert tx.events["Disputed"]["bond"] == BOND
    assert committee.disputeTask(arbitrator, did) == a
    assert Proposal.from_raw(committee.pending(a)).disputed
    assert bonds_conserved(committee, lpr, tasks)
    with brownie.reverts(f"UnderDispute: {a}, {did}"):
        committee.finalize(a, {"from": rando})
    before = lpr.balanceOf(disputer)
    tx = arbitrator.vote(did, Verdict.PAYOUT_WRONG, {"from": arbiter})
    assert tx.events["DisputeResolved"]["verdict"] == Verdict.PAYOUT_WRONG
    settled = [(e["to"], e["amount"]) for e in tx.events["BondSettled"]]
    # its own bond back, then the proposal's bond minus the 20% burned
    assert settled == [(disputer, BOND), (BURN, 20 * ETH), (disputer, 80 * ETH)]
    assert lpr.balanceOf(disputer) - before == 180 * ETH
    p = Proposal.from_raw(committee.pending(a))
    assert p.round == 1 and not p.challenge_ends and not p.disputed
    assert bonds_conserved(committee, lpr, tasks)

    # -- the corrected payout (50 left in the stake back it) is disputed and stands
    tx = committee.propose(a, good.root, 700 * ETH, b"\x02" * 32, INPUTS, {"from": oracle})
    assert tx.events["ProposalPending"]["bond"] == 50 * ETH and committee.stake(lpr) == 0
    did = committee.dispute(a, {"from": disputer}).events["Disputed"]["disputeId"]
    tx = arbitrator.vote(did, Verdict.PAYOUT_STANDS, {"from": arbiter})
    settled = [(e["to"], e["amount"]) for e in tx.events["BondSettled"]]
    assert settled == [(BURN, 20 * ETH), (committee.address, 80 * ETH)]
    assert committee.stake(lpr) == 80 * ETH
    assert committee.isPending(a) and bonds_conserved(committee, lpr, tasks)
    chain.sleep(DAY + 1)
    committee.finalize(a, {"from": rando})
    assert committee.stake(lpr) == 130 * ETH  # the proposal's 50 back
    assert escrow.task(a).dict()["payoutRoot"] == good.root

    # -- task b: ruled "refund the requester": the whole budget back, kind Ruling
    committee.propose(b, bad.root, 700 * ETH, b"\x03" * 32, INPUTS, {"from": oracle})
    did = committee.dispute(b, {"from": disputer}).events["Disputed"]["disputeId"]
    before = lpr.balanceOf(requester)
    tx = arbitrator.vote(did, Verdict.REFUND_REQUESTER, {"from": arbiter})
    assert tx.events["Refunded"]["kind"] == RefundKind.RULING
    assert lpr.balanceOf(requester) - before == BUDGET
    assert escrow.task(b).dict()["status"] == Status.EXPIRED
    with brownie.reverts(f"NothingToRefund: {b}"):
        escrow.refund(b, {"from": requester})

    # -- task c: a refused ruling hands the disputer its bond back; the proposal stands
    committee.propose(c, good.root, 700 * ETH, b"\x04" * 32, INPUTS, {"from": oracle})
    did = committee.dispute(c, {"from": disputer}).events["Disputed"]["disputeId"]
    tx = arbitrator.vote(did, Verdict.REFUSED, {"from": arbiter})
    assert [(e["to"], e["amount"]) for e in tx.events["BondSettled"]] == [(disputer, BOND)]
    assert committee.isPending(c)

    # -- task d: the committee stays silent; after its grace (12 h) anyone proposes with a bond
    before = lpr.balanceOf(proposer)
    tx = committee.proposeBonded(d, good.root, 700 * ETH, b"\x05" * 32, INPUTS, {"from": proposer})
    assert tx.events["ProposalPending"]["proposer"] == proposer
    assert lpr.balanceOf(proposer) == before - BOND
    assert bonds_conserved(committee, lpr, tasks)
    chain.sleep(DAY + 1)
    tx = committee.finalize(d, {"from": rando})
    assert [(e["to"], e["amount"]) for e in tx.events["BondSettled"]] == [(proposer, BOND)]
    assert lpr.balanceOf(proposer) == before
    committee.finalize(c, {"from": rando})
    assert bonds_conserved(committee, lpr, tasks)
    assert lpr.balanceOf(committee) == committee.stake(lpr)  # nothing locked any more


def test_a_pause_extends_the_claim_period(
    escrow, registry, committee, token, requester, annotator, oracle, guardian, rando, chain
):
    task = new_task(escrow, token, requester, chain, claim=DAY)
    registry.attest(task, b"\x11" * 32, 3, {"from": annotator})
    tree = payout_tree({annotator.address: BUDGET})
    chain.sleep(2 * DAY + 1)
    committee.propose(task, tree.root, BUDGET, b"\x01" * 32, INPUTS, {"from": oracle})
    chain.sleep(DAY + 1)
    tx = committee.finalize(task, {"from": rando})
    original = tx.events["PayoutFinalized"]["claimDeadline"]
    assert escrow.claimDeadline(task) == original

    tx = escrow.pause({"from": guardian})
    assert escrow.paused()
    amount, proof = proof_for(tree, annotator)
    with brownie.reverts("EnforcedPause: "):
        escrow.claim(task, annotator, amount, proof, {"from": annotator})
    chain.sleep(2 * DAY)
    tx = escrow.unpause({"from": guardian})
    paused = tx.events["Unpaused"]["pausedSeconds"]
    assert paused >= 2 * DAY
    assert escrow.claimDeadline(task) == original + paused
    # past the original deadline, inside the extended one: the claim still goes through
    chain.sleep(DAY - 60)
    assert chain[-1].timestamp > original
    escrow.claim(task, annotator, amount, proof, {"from": annotator})
    assert token.balanceOf(annotator) == BUDGET
