"""`make demo`: one labelling task through its whole life on a local anvil chain.

Real contracts, real transactions, real signatures: a requester funds a task with an ERC-2612
permit; every worker of a real crowdsourcing dataset commits to its labels (some directly, most
through a relayer with EIP-712 signatures); they reveal labels and salts to the oracle, which
checks each reveal against the commitment on chain, scores quality with Dawid-Skene (10% of the
items as gold), and two of three oracles propose the same payout root; after the challenge
window anyone finalizes, the requester takes back what is not allocated, and every annotator
claims from its own wallet. It ends with everyone's balances.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from labelproof.chain import ChainError, Sender, contract_at
from labelproof.commitments import annotation_leaf, annotation_root, new_salt, sign_attestation
from labelproof.deploy import DeployConfig, deploy_suite
from labelproof.merkle import payout_tree
from labelproof.node import local_node

DATA_DIR = Path(__file__).resolve().parent / "data"
DAY = 86_400
TOKEN = 10**18
DIRECT_SHARE = 4  # one annotator in four attests itself; the rest go through the relayer


@dataclass
class Dataset:
    answers: dict[str, dict[str, str]]  # worker -> item -> label
    truth: dict[str, str]

    @property
    def items(self) -> list[str]:
        return sorted(self.truth)


def load_dataset(answers_csv: Path, truth_csv: Path) -> Dataset:
    answers: dict[str, dict[str, str]] = defaultdict(dict)
    with answers_csv.open(newline="") as f:
        for row in csv.DictReader(f):
            answers[row["worker"]][row["question"]] = row["answer"]
    with truth_csv.open(newline="") as f:
        truth = {row["question"]: row["truth"] for row in csv.DictReader(f)}
    return Dataset(answers=dict(answers), truth=truth)


@dataclass
class Annotator:
    worker: str
    account: LocalAccount
    labels: dict[str, str]
    salts: dict[str, bytes] = field(default_factory=dict)
    root: bytes = b""
    direct: bool = False


class Progress:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.phase_started = self.started
        self.phases: list[tuple[str, float]] = []
        self.current = ""

    def step(self, title: str) -> None:
        self._close()
        self.current = title
        print(f"\n== {title}")

    def info(self, text: str) -> None:
        print(f"   {text}")

    def _close(self) -> None:
        now = time.monotonic()
        if self.current:
            self.phases.append((self.current, now - self.phase_started))
        self.phase_started = now

    def finish(self) -> None:
        self._close()


def run(answers_csv: Path, truth_csv: Path, budget_tokens: int, seed: int) -> int:
    data = load_dataset(answers_csv, truth_csv)
    rng = random.Random(seed)
    progress = Progress()

    with local_node(accounts=10) as node:
        w3 = node.w3
        dev: list[str] = list(w3.eth.accounts)
        progress.step(f"Local chain: anvil at {node.url} (chain id {w3.eth.chain_id})")
        admin = Sender(w3, dev[0])
        guardian = dev[1]
        oracles = [Sender(w3, a) for a in dev[2:5]]
        relayer = Sender(w3, dev[5])
        anyone = Sender(w3, dev[6])

        progress.step("Deploying the suite (2-of-3 oracle committee)")
        dep = deploy_suite(
            w3,
            admin,
            DeployConfig(guardian=guardian, oracles=tuple(o.address for o in oracles), threshold=2),
        )
        escrow = contract_at(w3, "TaskEscrow", dep.escrow)
        registry = contract_at(w3, "AttestationRegistry", dep.registry)
        committee = contract_at(w3, "OracleCommittee", dep.committee)
        assert dep.reward_token is not None
        token = contract_at(w3, "RewardToken", dep.reward_token)
        for name, address in (
            ("escrow", dep.escrow),
            ("registry", dep.registry),
            ("committee", dep.committee),
            ("token", dep.reward_token),
        ):
            progress.info(f"{name:<10} {address}")

        # -- requester
        progress.step("Requester funds the task (permit + create in one transaction)")
        requester_key = Account.create()
        node.set_balance(requester_key.address, 10 * TOKEN)
        requester = Sender(w3, requester_key)
        budget = budget_tokens * TOKEN
        admin.call(token.functions.mint(requester.address, budget), what="mint")
        items = data.items
        gold_items = sorted(rng.sample(items, max(1, len(items) // 10)))
        gold = {i: data.truth[i] for i in gold_items}
        gold_salt = new_salt()
        gold_commitment = keccak(
            "\n".join(f"{i},{gold[i]}" for i in gold_items).encode() + gold_salt
        )
        spec_hash = keccak(text=f"labelproof demo spec: {answers_csv.name}, {len(items)} items")
        now = w3.eth.get_block("latest")["timestamp"]
        params = (spec_hash, gold_commitment, now + DAY, now + 2 * DAY, DAY, 30 * DAY, 7 * DAY)
        from labelproof.tokens import sign_permit

        v, r, s = sign_permit(requester_key.key, token, escrow.address, budget, now + 3600)
        requester.call(
            escrow.functions.createTaskWithPermit(
                token.address, budget, params, now + 3600, v, r, s
            ),
            what="createTaskWithPermit",
        )
        task_id = escrow.functions.taskCount().call()
        progress.info(
            f"task {task_id}: {budget_tokens:,} LPR for {len(items)} items, "
            f"{len(gold)} of them gold (committed, revealed to the oracle later)"
        )

        # -- annotators commit
        chain_id = w3.eth.chain_id
        annotators = []
        for n, (worker, labels) in enumerate(sorted(data.answers.items())):
            ann = Annotator(
                worker=worker, account=Account.create(), labels=labels, direct=n % DIRECT_SHARE == 0
            )
            leaves = []
            for item, label in labels.items():
                ann.salts[item] = new_salt()
                leaves.append(
                    annotation_leaf(
                        chain_id,
                        escrow.address,
                        task_id,
                        item,
                        ann.account.address,
                        label,
                        ann.salts[item],
                    )
                )
            ann.root = annotation_root(leaves)
            node.set_balance(ann.account.address, TOKEN)  # gas for claiming from its own wallet
            annotators.append(ann)
        progress.step(f"{len(annotators)} annotators commit to their labels")
        direct = [a for a in annotators if a.direct]
        for ann in direct:
            Sender(w3, ann.account).call(
                registry.functions.attest(task_id, ann.root, len(ann.labels)), what="attest"
            )
        relayed = [
            sign_attestation(
                a.account.key, chain_id, registry.address, task_id, a.root, len(a.labels), 1
            ).as_tuple()
            for a in annotators
            if not a.direct
        ]
        for start in range(0, len(relayed), 50):
            relayer.call(
                registry.functions.attestBySig(relayed[start : start + 50]), what="attestBySig"
            )
        progress.info(
            f"{len(direct)} attested directly, {len(relayed)} through the relayer "
            f"(signed EIP-712, no ETH needed)"
        )

        # -- reveal to the oracle, checked against the chain
        node.time_travel(DAY + 1)
        progress.step("Annotators reveal labels and salts to the oracle")
        revealed: list[tuple[str, str, str]] = []
        for ann in annotators:
            leaves = [
                annotation_leaf(
                    chain_id,
                    escrow.address,
                    task_id,
                    item,
                    ann.account.address,
                    label,
                    ann.salts[item],
                )
                for item, label in ann.labels.items()
            ]
            ok = registry.functions.isAttested(
                task_id, ann.account.address, annotation_root(leaves), len(leaves)
            ).call()
            if not ok:
                raise ChainError(f"reveal of {ann.worker} does not match its commitment")
            revealed += [(item, ann.account.address, label) for item, label in ann.labels.items()]
        progress.info(f"{len(revealed):,} labels revealed; every reveal matches its on-chain root")

        # -- oracle scores and proposes
        node.time_travel(DAY + 1)
        progress.step("Oracles score (Dawid-Skene, gold-clamped) and propose the payout root")
        from labelproof.scoring import AnswerSet, GoldSet, score

        result = score(
            AnswerSet.from_rows(revealed), GoldSet.from_mapping(gold), method="ds", budget=budget
        )
        payouts = {w: a for w, a in result.payouts.items() if a > 0}
        tree = payout_tree(payouts)
        total = sum(payouts.values())
        report_hash = keccak(result.report_bytes())
        for oracle in oracles[:2]:
            oracle.call(
                committee.functions.propose(task_id, tree.root, total, report_hash), what="propose"
            )
        progress.info(
            f"root {tree.root[:18]}..., {len(payouts)} paid annotators, "
            f"total {total / TOKEN:,.2f} LPR; 2 of 3 oracles agree"
        )
        node.time_travel(DAY + 1)
        anyone.call(committee.functions.finalize(task_id), what="finalize")
        progress.info("challenge window over, no veto: finalized, claims open")

        unallocated = escrow.functions.refundable(task_id).call()[0]
        if unallocated:
            requester.call(escrow.functions.refund(task_id), what="refund")
            progress.info(f"requester refunded the unallocated {unallocated / TOKEN:,.2f} LPR")

        # -- claims
        progress.step("Every paid annotator claims from its own wallet")
        by_address = {a.account.address: a for a in annotators}
        claim_gas = 0
        for index, (account, amount) in tree.entries():
            ann = by_address[account]
            who = Sender(w3, ann.account)
            who.call(
                escrow.functions.claim(task_id, account, int(amount), tree.get_proof(index)),
                what=f"claim by {ann.worker}",
            )
            claim_gas += who.gas_used
        progress.info(
            f"{len(payouts)} claims, escrow now holds "
            f"{token.functions.balanceOf(escrow.address).call() / TOKEN:,.6f} LPR"
        )
        progress.finish()

        # -- balances
        print("\n== Balances")
        accuracy = {
            a.account.address: sum(data.truth.get(i) == lbl for i, lbl in a.labels.items())
            / len(a.labels)
            for a in annotators
        }
        scores = {w.worker: w for w in result.workers}
        rows = sorted(
            annotators, key=lambda a: -token.functions.balanceOf(a.account.address).call()
        )
        print(
            f"   {'annotator':<12} {'wallet':<44} {'labels':>6} {'true acc':>8} "
            f"{'quality':>7} {'LPR':>10}"
        )
        for ann in rows:
            address = ann.account.address
            bal = token.functions.balanceOf(address).call()
            print(
                f"   {ann.worker:<12} {address:<44} {len(ann.labels):>6} "
                f"{accuracy[address]:>8.3f} {scores[address].quality:>7.3f} {bal / TOKEN:>10.2f}"
            )
        print(
            f"   {'requester':<12} {requester.address:<44} {'':>6} {'':>8} {'':>7} "
            f"{token.functions.balanceOf(requester.address).call() / TOKEN:>10.2f}"
        )
        print(
            f"   {'escrow':<12} {escrow.address:<44} {'':>6} {'':>8} {'':>7} "
            f"{token.functions.balanceOf(escrow.address).call() / TOKEN:>10.2f}"
        )
        print("\n== Gas by role")
        print(f"   requester {requester.gas_used:>12,}")
        print(f"   relayer   {relayer.gas_used:>12,}")
        print(f"   oracles   {sum(o.gas_used for o in oracles):>12,}")
        print(f"   finalizer {anyone.gas_used:>12,}")
        print(f"   claims    {claim_gas:>12,}")
        print("\n== Wall time")
        for title, seconds in progress.phases:
            print(f"   {seconds:6.1f} s  {title}")
        print(f"   {time.monotonic() - progress.started:6.1f} s  total")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--answers",
        type=Path,
        default=DATA_DIR / "duck" / "answer.csv",
        help="CSV question,worker,answer (default: the shipped duck dataset)",
    )
    parser.add_argument(
        "--truth", type=Path, default=DATA_DIR / "duck" / "truth.csv", help="CSV question,truth"
    )
    parser.add_argument("--budget", type=int, default=10_000, help="budget in whole LPR")
    parser.add_argument("--seed", type=int, default=7, help="seed for the gold-item choice")
    args = parser.parse_args(argv)
    for path in (args.answers, args.truth):
        if not path.exists():
            print(f"error: {path} does not exist", file=sys.stderr)
            return 2
    try:
        return run(args.answers, args.truth, args.budget, args.seed)
    except ChainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
