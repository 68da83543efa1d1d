"""Gas used per transaction on anvil, optimizer on: `make bench-gas` -> benchmarks/results/gas.json.

Every figure is a real transaction's gasUsed (21,000 intrinsic gas included). Anchors are the
figures of comparable systems measured in the same scenarios (see README).
"""

from __future__ import annotations

import json
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

from eth_account import Account

from labelproof.chain import Sender, contract_at
from labelproof.commitments import sign_attestation
from labelproof.deploy import DeployConfig, deploy_suite
from labelproof.merkle import payout_tree
from labelproof.multiproof import batches_in_tree_order, multiproof
from labelproof.node import local_node

RESULTS = Path(__file__).resolve().parent / "results" / "gas.json"
DAY = 86_400
REPORT = b"\x33" * 32
INPUTS = b"\x44" * 32

GOALS: dict[str, int | None] = {
    "create_task": None,
    "attest_direct": 52_000,
    "attest_relayed_per_annotator": 32_000,
    "attest_per_annotation": 320,
    "propose_1of1": 120_000,
    "propose_2of3": 180_000,
    "finalize": None,
    "propose_permissionless": None,
    "dispute": None,
    "rule": None,
    "claim_first_in_word": 95_000,
    "claim_same_word": 76_000,
    "claim_many_per_task": 30_000,
    "claim_batch_per_recipient": 27_000,
    "refund_unclaimed": None,
}
ANCHORS = {
    "attest_per_annotation": ("EAS attestation per item", 250_194),
    "claim_first_in_word": ("Uniswap MerkleDistributor claim, first in word", 88_063),
    "claim_same_word": ("Uniswap MerkleDistributor claim, same word", 70_985),
    "claim_many_per_task": ("Human Protocol bulkPayOut per recipient (100)", 29_303),
    "claim_batch_per_recipient": ("Human Protocol bulkPayOut per recipient (100)", 29_303),
}


class Bench:
    def __init__(self, node: Any) -> None:
        self.node = node
        self.w3 = node.w3
        accts = self.w3.eth.accounts
        self.admin = Sender(self.w3, accts[0])
        self.oracles = [Sender(self.w3, a) for a in accts[1:4]]
        self.requester = Sender(self.w3, accts[4])
        self.relayer = Sender(self.w3, accts[5])
        self.rando = Sender(self.w3, accts[6])

    def deploy(self, oracles: list[Sender], threshold: int) -> dict[str, Any]:
        dep = deploy_suite(
            self.w3,
            self.admin,
            DeployConfig(oracles=tuple(o.address for o in oracles), threshold=threshold),
        )
        return {
            "escrow": contract_at(self.w3, "TaskEscrow", dep.escrow),
            "registry": contract_at(self.w3, "AttestationRegistry", dep.registry),
            "committee": contract_at(self.w3, "OracleCommittee", dep.committee),
            "arbitrator": contract_at(self.w3, "LocalArbitrator", dep.arbitrator),
            "bond_token": contract_at(self.w3, "RewardToken", dep.bond_token),
            "settlement": dep.settlement,
        }

    def token(self, symbol: str) -> Any:
        token = self.admin.deploy("MockERC20", f"Bench {symbol}", symbol, 18)
        self.admin.call(token.functions.mint(self.requester.address, 10**30), what="mint")
        return token

    def create(self, s: dict[str, Any], token: Any, budget: int = 10**24) -> tuple[int, int]:
        now = self.w3.eth.get_block("latest")["timestamp"]
        params = (b"\x01" * 32, b"\x02" * 32, now + DAY, now + 2 * DAY, DAY, 30 * DAY, 7 * DAY)
        self.requester.call(token.functions.approve(s["escrow"].address, budget), what="approve")
        r = self.requester.call(
            s["escrow"].functions.createTask(token.address, budget, params), what="createTask"
        )
        task_id = s["escrow"].functions.taskCount().call()
        return task_id, r["gasUsed"]

    def to_payouts(
        self, s: dict[str, Any], task_id: int, payouts: dict[str, int], proposers: list[Sender]
    ) -> tuple[Any, list[int]]:
        tree = payout_tree(payouts)
        total = sum(payouts.values())
        self.node.time_travel(2 * DAY + 1)
        gas = []
        for oracle in proposers:
            r = oracle.call(
                s["committee"].functions.propose(task_id, tree.root, total, REPORT, INPUTS),
                what="propose",
            )
            gas.append(r["gasUsed"])
        self.node.time_travel(DAY + 1)
        r = self.rando.call(s["committee"].functions.finalize(task_id), what="finalize")
        gas.append(r["gasUsed"])
        return tree, gas

    def claim(self, s: dict[str, Any], task_id: int, tree: Any, account: str) -> int:
        idx = next(i for i, v in tree.entries() if v[0] == account)
        amount = int(tree.at(idx)[1])
        r = self.rando.call(
            s["escrow"].functions.claim(task_id, account, amount, tree.get_proof(idx)),
            what="claim",
        )
        return int(r["gasUsed"])


def fresh_payouts(n: int) -> dict[str, int]:
    return {Account.create().address: 10**18 + i for i in range(n)}


def run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    notes: dict[str, str] = {}
    with local_node(accounts=10) as node:
        b = Bench(node)
        s = b.deploy(b.oracles[:1], 1)
        tok_a, tok_b = b.token("A"), b.token("B")

        # create_task, attestations
        task, gas = b.create(s, tok_a)
        results["create_task"] = gas
        first = Account.create()
        second = Account.create()
        for acct in (first, second):
            node.set_balance(acct.address, 10**18)
        direct = []
        for acct in (first, second):
            who = Sender(b.w3, acct)
            r = who.call(s["registry"].functions.attest(task, b"\x11" * 32, 100), what="attest")
            direct.append(r["gasUsed"])
        results["attest_direct"] = direct[1]
        results["attest_direct_first_in_task"] = direct[0]
        notes["attest_direct"] = "an annotator's first commitment to a task that already has one"

        chain_id = b.w3.eth.chain_id
        signed = [
            sign_attestation(
                Account.create().key,
                chain_id,
                s["registry"].address,
                task,
                bytes([i % 255 + 1]) * 32,
                100,
                1,
            ).as_tuple()
            for i in range(100)
        ]
        r = b.relayer.call(s["registry"].functions.attestBySig(signed), what="attestBySig")
        results["attest_relayed_batch_100"] = r["gasUsed"]
        results["attest_relayed_per_annotator"] = r["gasUsed"] // 100
        results["attest_per_annotation"] = r["gasUsed"] // 100 // 100
        notes["attest_per_annotation"] = "100 annotators x 100 items each, one relayed batch"

        # propose 1-of-1 (10-leaf and 1,024-leaf payouts: the root is all the chain sees),
        # finalize, then claims on the 1,024-leaf tree.
        small_task, _ = b.create(s, tok_a)
        _, gas_small = b.to_payouts(s, small_task, fresh_payouts(10), b.oracles[:1])
        task_a, _ = b.create(s, tok_a)
        task_b, _ = b.create(s, tok_b)
        shared = fresh_payouts(1024)
        tree_a, gas_a = b.to_payouts(s, task_a, shared, b.oracles[:1])
        # task_b must be proposed inside its own window; the clock moved on for task_a
        tree_b = None
        results["propose_1of1"] = gas_a[0]
        results["propose_1of1_10_leaves"] = gas_small[0]
        results["finalize"] = gas_a[1]

        accounts = list(shared)
        results["claim_first_in_word"] = b.claim(s, task_a, tree_a, accounts[0])
        _ = task_b
        notes["claim_first_in_word"] = "1,024-leaf tree, recipient with no tokens and no claims"

        # claim_same_word: the recipient already claimed task_c (token A) in the same 256-task
        # word, and now claims task_d in token B, which it does not hold yet.
        task_c, _ = b.create(s, tok_a)
        task_d, _ = b.create(s, tok_b)
        payouts = fresh_payouts(1024)
        now_tasks = [task_c, task_d]
        trees = {}
        b.node.time_travel(2 * DAY + 1)
        for t in now_tasks:
            tr = payout_tree(payouts)
            b.oracles[0].call(
                s["committee"].functions.propose(t, tr.root, sum(payouts.values()), REPORT, INPUTS),
                what="propose",
            )
            trees[t] = tr
        b.node.time_travel(DAY + 1)
        for t in now_tasks:
            b.rando.call(s["committee"].functions.finalize(t), what="finalize")
        acct = list(payouts)[5]
        b.claim(s, task_c, trees[task_c], acct)
        results["claim_same_word"] = b.claim(s, task_d, trees[task_d], acct)
        notes["claim_same_word"] = (
            "1,024-leaf tree; the recipient's claim word was used by its claim of another task "
            "(same 256-task word); it holds none of this task's token yet"
        )

        # claim_many over 10 tasks (same token), fresh recipient
        many = [b.create(s, tok_a)[0] for _ in range(10)]
        payouts = fresh_payouts(1024)
        tr = payout_tree(payouts)
        b.node.time_travel(2 * DAY + 1)
        for t in many:
            b.oracles[0].call(
                s["committee"].functions.propose(t, tr.root, sum(payouts.values()), REPORT, INPUTS),
                what="propose",
            )
        b.node.time_travel(DAY + 1)
        for t in many:
            b.rando.call(s["committee"].functions.finalize(t), what="finalize")
        acct = list(payouts)[7]
        idx = next(i for i, v in tr.entries() if v[0] == acct)
        reqs = [(t, int(tr.at(idx)[1]), tr.get_proof(idx)) for t in many]
        r = b.rando.call(s["escrow"].functions.claimMany(acct, reqs), what="claimMany")
        results["claim_many_10_tasks"] = r["gasUsed"]
        results["claim_many_per_task"] = r["gasUsed"] // 10

        # claimBatch: 100 fresh recipients of one task's 1,024-leaf tree in one transaction,
        # proven by one multiproof; first 100 leaves adjacent in the tree (how claim-batch cuts
        # a task's payouts), then 100 drawn at random (extra).
        batch_tasks = [b.create(s, tok_a)[0] for _ in range(2)]
        payouts = fresh_payouts(1024)
        tr = payout_tree(payouts)
        b.node.time_travel(2 * DAY + 1)
        for t in batch_tasks:
            b.oracles[0].call(
                s["committee"].functions.propose(t, tr.root, sum(payouts.values()), REPORT, INPUTS),
                what="propose",
            )
        b.node.time_travel(DAY + 1)
        for t in batch_tasks:
            b.rando.call(s["committee"].functions.finalize(t), what="finalize")
        adjacent = batches_in_tree_order(tr, range(len(tr)), 100)[3]
        scattered = random.Random(7).sample(range(len(tr)), 100)
        for key, t, chosen in (
            ("claim_batch_100", batch_tasks[0], adjacent),
            ("claim_batch_100_scattered", batch_tasks[1], scattered),
        ):
            mp = multiproof(tr, chosen)
            fn = s["escrow"].functions.claimBatch(
                t,
                [v[0] for v in mp.values],
                [int(v[1]) for v in mp.values],
                mp.proof,
                mp.proof_flags,
            )
            r = b.rando.call(fn, what="claimBatch")
            results[key] = r["gasUsed"]
        results["claim_batch_per_recipient"] = results["claim_batch_100"] // 100
        results["claim_batch_per_recipient_scattered"] = results["claim_batch_100_scattered"] // 100
        notes["claim_batch_per_recipient"] = (
            "one claimBatch paying 100 fresh recipients (no token, no earlier claim) of a "
            "1,024-leaf tree, leaves adjacent in the tree (claim-batch's order), / 100"
        )

        # refund of the unclaimed rest after the claim period
        b.node.time_travel(31 * DAY)
        r = b.rando.call(s["escrow"].functions.refund(task_a), what="refund")
        results["refund_unclaimed"] = r["gasUsed"]

        # The bonded path: a permissionless proposal after the committee's grace period, a
        # dispute of it, and the panel's ruling (the deciding vote's transaction, which calls
        # the committee's rule()). Bonds are in the reward token, minted by the admin.
        bond = s["bond_token"]
        for who in (b.rando, b.relayer):
            b.admin.call(bond.functions.mint(who.address, 10**21), what="mint bond tokens")
            who.call(bond.functions.approve(s["committee"].address, 2**255), what="approve bond")
        bonded_task, _ = b.create(s, tok_a)
        grace = int(s["settlement"]["committee_grace"])
        b.node.time_travel(2 * DAY + grace + 1)
        wrong = payout_tree(fresh_payouts(1024))
        r = b.rando.call(
            s["committee"].functions.proposeBonded(bonded_task, wrong.root, 10**18, REPORT, INPUTS),
            what="proposeBonded",
        )
        results["propose_permissionless"] = r["gasUsed"]
        r = b.relayer.call(s["committee"].functions.dispute(bonded_task), what="dispute")
        results["dispute"] = r["gasUsed"]
        dispute_id = s["committee"].functions.pending(bonded_task).call()[11]
        r = b.admin.call(s["arbitrator"].functions.vote(dispute_id, 2), what="rule")
        results["rule"] = r["gasUsed"]
        notes["rule"] = (
            "the LocalArbitrator vote that reaches its quorum (1 of 1) and applies PayoutWrong: "
            "the bonded proposer's bond pays the disputer, a share burned, a new round"
        )

        # 2-of-3 on a second deployment
        s2 = b.deploy(b.oracles, 2)
        t2, _ = b.create(s2, tok_a)
        _, gas2 = b.to_payouts(s2, t2, fresh_payouts(1024), b.oracles[:2])
        results["propose_2of3"] = gas2[0] + gas2[1]
        results["propose_2of3_first"] = gas2[0]
        results["propose_2of3_second"] = gas2[1]
        _ = tree_b

    table = {}
    for key, goal in GOALS.items():
        row: dict[str, Any] = {"gas": results[key], "goal": goal}
        if goal is not None:
            row["met"] = results[key] <= goal
        if key in ANCHORS:
            name, gas = ANCHORS[key]
            row["anchor"] = {"what": name, "gas": gas, "ratio": round(results[key] / gas, 3)}
        if key in notes:
            row["scenario"] = notes[key]
        table[key] = row
    extra = {k: v for k, v in results.items() if k not in GOALS}
    return {
        "benchmark": "gas",
        "chain": "anvil (npm @foundry-rs/anvil), EVM shanghai bytecode, optimizer on",
        "python": platform.python_version(),
        "results": table,
        "extra": extra,
    }


def main() -> int:
    started = time.monotonic()
    out = run()
    out["seconds"] = round(time.monotonic() - started, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    width = max(map(len, out["results"]))
    for key, row in out["results"].items():
        goal = f"<= {row['goal']:,}" if row["goal"] else "report"
        mark = "" if row["goal"] is None else ("ok" if row["met"] else "MISSED")
        print(f"{key:<{width}}  {row['gas']:>10,}  {goal:>12}  {mark}")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
