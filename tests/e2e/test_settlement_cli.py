"""Settlement through the command line on a real anvil with real keystores: governance over the
timelock, the watcher catching a dishonest proposal, the arbitrator panel, a bonded proposal
from the published bundle, and a bundle that was never published.

One anvil (labelproof.node, a free port) and one deployment made with `labelproof deploy`: the
timelock's proposer is the `admin` wallet, the committee has one oracle whose raw key the test
holds (to make proposals directly, dishonest ones included), and the LocalArbitrator's panel is
the `arbiter` wallet. Tasks are created and attested with web3 directly; their inputs bundles
are built with the oracle's own compute_payout, as the oracle service would publish them.
Every command runs as `python -m labelproof.cli` in a subprocess.
"""

from __future__ import annotations

import functools
import json
import os
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from labelproof.bundle import task_row
from labelproof.chain import Sender, contract_at
from labelproof.client import Chain, format_amount
from labelproof.commitments import new_salt
from labelproof.deploy import Deployment
from labelproof.merkle import StandardMerkleTree, payout_tree
from labelproof.node import LocalNode, start_anvil
from labelproof.oracle.records import RevealedLabel, receipt_of, reveal_document, reveal_root
from labelproof.oracle.scheduler import Computed, compute_payout
from labelproof.oracle.store import GoldRow, RevealRow
from labelproof.scoring import SCORING_VERSION
from labelproof.settlement import (
    FLAG_DISPUTED,
    Proposal,
    inputs_hash,
    round_inputs_hash,
    rules_dict,
    task_dict,
)
from labelproof.spec import ScoringSpec, TaskSpec, canonical_json, gold_commitment, spec_hash

ROOT = Path(__file__).resolve().parents[2]
ETH = 10**18
LPR = 10**18
HOUR = 3_600
DAY = 86_400
PASSWORD = "correct horse battery staple"
LABELS = ("cat", "dog")
WALLETS = ("admin", "watcher", "arbiter", "proposer", "poor")


@pytest.fixture(autouse=True)
def isolation() -> None:
    """Shadow tests/conftest.py's brownie snapshot fixture: this module runs its own anvil."""


# --------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------


@dataclass
class Done:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def ok(self) -> Done:
        assert self.returncode == 0, f"{self.args} failed:\n{self.stderr}\n{self.stdout}"
        return self

    def json(self) -> Any:
        return json.loads(self.ok().stdout)

    def error(self, *fragments: str) -> str:
        """Assert a one-line error on stderr containing every fragment; return the line."""
        assert self.returncode != 0, f"{self.args} should have failed:\n{self.stdout}"
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, f"{self.args}: expected one line on stderr, got:\n{self.stderr}"
        assert lines[0].startswith("error: "), lines[0]
        for fragment in fragments:
            assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
        return lines[0]


@dataclass
class World:
    node: LocalNode
    w3: Web3
    tmp: Path
    env: dict[str, str]
    dep: Deployment
    chain: Chain
    escrow: Contract
    registry: Contract
    committee: Contract
    token: Contract
    oracle: LocalAccount
    bundles: Path
    bundles_url: str

    def cli(self, *args: str) -> Done:
        return run_cli(self.env, *args)

    def address(self, wallet: str) -> str:
        return wallet_address(self.tmp, wallet)

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def dev(self, n: int) -> Sender:
        return Sender(self.w3, list(self.w3.eth.accounts)[n])

    def balance(self, who: str) -> int:
        return int(self.token.functions.balanceOf(who).call())

    def pending(self, task_id: int) -> Proposal:
        return Proposal.from_raw(self.committee.functions.pending(task_id).call())

    def task_rules(self, task_id: int) -> dict[str, Any]:
        rules_id = int(self.escrow.functions.payoutWindow(task_id).call()[1])
        return rules_dict(self.committee.functions.rules(rules_id).call())

    def stake(self) -> int:
        return int(self.committee.functions.stake(self.token.address).call())


def run_cli(env: dict[str, str], *args: str) -> Done:
    done = subprocess.run(
        [sys.executable, "-m", "labelproof.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=180,
        check=False,
    )
    return Done(args, done.returncode, done.stdout, done.stderr)


def wallet_address(tmp: Path, wallet: str) -> str:
    keystore = json.loads((tmp / "wallets" / f"{wallet}.json").read_text())
    return Web3.to_checksum_address("0x" + keystore["address"])


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves the bundles directory (a stand-in for any public host) without logging."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("settlement")
    node = start_anvil(accounts=10, log=tmp / "anvil.log")
    bundles = tmp / "bundles"
    bundles.mkdir()
    handler = functools.partial(QuietHandler, directory=str(bundles))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        w3 = node.w3
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABELPROOF_")}
        env.update(
            {
                "PYTHONPATH": str(ROOT),
                "LABELPROOF_RPC_URL": node.url,
                "LABELPROOF_DEPLOYMENTS": str(tmp / "deployments"),
                "LABELPROOF_WALLET_DIR": str(tmp / "wallets"),
                "LABELPROOF_PASSWORD": PASSWORD,
                "LABELPROOF_SCRYPT_N": "1024",  # fast keystores for tests only
            }
        )
        with ThreadPoolExecutor(max_workers=5) as pool:
            for done in pool.map(lambda n: run_cli(env, "wallet", "new", n), WALLETS):
                done.ok()
        addresses = {name: wallet_address(tmp, name) for name in WALLETS}
        for address in addresses.values():
            node.set_balance(address, 10 * ETH)
        oracle = Account.create()
        node.set_balance(oracle.address, 10 * ETH)
        dev = list(w3.eth.accounts)
        dev0, guardian = dev[0], dev[1]
        config = tmp / "deploy.yaml"
        config.write_text(
            f"admin: '{addresses['admin']}'\n"
            f"guardian: '{guardian}'\n"
            f"oracles: ['{oracle.address}']\n"
            "threshold: 1\n"
            f"reward_token: {{minter: '{dev0}'}}\n"
            f"settlement: {{panel: ['{addresses['arbiter']}'], quorum: 1}}\n"
        )
        run_cli(env, "deploy", "--config", str(config), "--dev-account", "0", "--broadcast").ok()
        dep = Deployment.from_json((tmp / "deployments" / f"{w3.eth.chain_id}.json").read_text())
        assert dep.reward_token is not None
        token = contract_at(w3, "RewardToken", dep.reward_token)
        minter = Sender(w3, dev0)
        for name in ("admin", "watcher", "proposer"):
            minter.call(token.functions.mint(addresses[name], 1_000 * LPR), what="mint")
        minter.call(token.functions.mint(dev[2], 100_000 * LPR), what="mint")
        yield World(
            node=node,
            w3=w3,
            tmp=tmp,
            env=env,
            dep=dep,
            chain=Chain(w3, dep),
            escrow=contract_at(w3, "TaskEscrow", dep.escrow),
            registry=contract_at(w3, "AttestationRegistry", dep.registry),
            committee=contract_at(w3, "OracleCommittee", dep.committee),
            token=token,
            oracle=oracle,
            bundles=bundles,
            bundles_url=f"http://127.0.0.1:{server.server_address[1]}",
        )
    finally:
        server.shutdown()
        node.stop()


# --------------------------------------------------------------------------------------------
# tasks: created and attested on chain, bundle built as the oracle builds it
# --------------------------------------------------------------------------------------------


@dataclass
class Task:
    task_id: int
    computed: Computed
    bundle: bytes
    annotators: list[str]

    @property
    def inputs_hash(self) -> str:
        return inputs_hash(self.bundle)


def other(label: str) -> str:
    return LABELS[1 - LABELS.index(label)]


def make_task(world: World, seed: int, *, publish: bool = True) -> Task:
    """A funded task with a gold set and three annotators who attested; the clock is moved
    past its reveal deadline; its bundle is written to the bundles directory if `publish`."""
    rng = random.Random(seed)
    items = [f"img-{seed}-{i:02d}" for i in range(12)]
    truth = {item: rng.choice(LABELS) for item in items}
    gold = {item: truth[item] for item in items[:4]}
    gold_salt = new_salt()
    commitment = gold_commitment(gold, gold_salt)
    spec = TaskSpec(
        title=f"Cats or dogs {seed}",
        labels=LABELS,
        items=tuple(items),
        scoring=ScoringSpec("dawid-skene", SCORING_VERSION, None, 1.0),
        gold_commitment="0x" + commitment.hex(),
    )
    requester = world.dev(2)
    budget = 1_000 * LPR
    now = world.now()
    params = (spec_hash(spec), commitment, now + HOUR, now + 2 * HOUR, 3 * HOUR, 2 * DAY, 2 * DAY)
    requester.call(world.token.functions.approve(world.escrow.address, budget), what="approve")
    requester.call(
        world.escrow.functions.createTask(world.token.address, budget, params), what="createTask"
    )
    task_id = int(world.escrow.functions.taskCount().call())
    chain_id, escrow = world.dep.chain_id, world.dep.escrow
    reveals, annotators = [], []
    for wrong in (0, 1, 3):
        ann = Account.create()
        world.node.set_balance(ann.address, ETH)
        said = {
            item: truth[item] if i >= wrong else other(truth[item]) for i, item in enumerate(items)
        }
        labels = [RevealedLabel(item, label, new_salt()) for item, label in said.items()]
        root = reveal_root(chain_id, escrow, task_id, ann.address, labels)
        Sender(world.w3, ann).call(
            world.registry.functions.attest(task_id, root, len(labels)), what="attest"
        )
        body = canonical_json(
            reveal_document(chain_id, escrow, task_id, ann.address, 1, root, labels)
        )
        reveals.append(
            RevealRow(task_id, ann.address, 1, "0x" + root.hex(), len(labels), body.decode(),
                      receipt_of(body), 0.0)
        )  # fmt: skip
        annotators.append(ann.address)
    world.node.time_travel(2 * HOUR + 1)
    gold_rows = canonical_json(sorted([k, v] for k, v in gold.items())).decode()
    computed = compute_payout(
        chain_id=chain_id,
        escrow=escrow,
        task=task_row(world.chain, task_id),
        spec=spec,
        reveals=reveals,
        excluded=[],
        gold=GoldRow(task_id, gold_rows, "0x" + gold_salt.hex(), 0.0),
    )
    bundle = computed.inputs_json.encode("utf-8")
    if publish:
        (world.bundles / f"{inputs_hash(bundle)}.json").write_bytes(bundle)
    return Task(task_id, computed, bundle, annotators)


def oracle_propose(world: World, task: Task, root: str, inputs: str | None = None) -> None:
    """The committee's only oracle votes (threshold 1: the proposal is pending at once)."""
    c = task.computed
    fn = world.committee.functions.propose(
        task.task_id,
        HexBytes(root),
        c.total,
        HexBytes(c.report_hash),
        HexBytes(inputs or task.inputs_hash),
    )
    Sender(world.w3, world.oracle).call(fn, what="propose")


# --------------------------------------------------------------------------------------------
# governance
# --------------------------------------------------------------------------------------------


def test_governance_schedule_wait_execute(world: World) -> None:
    rules2 = world.tmp / "rules2.yaml"
    rules2.write_text("min_challenge_period: 2h\ndispute_bond: '50 LPR'\n")
    poor = world.address("poor")

    shown = world.cli("governance", "rules").ok().stdout
    assert "rule set 1 (current)" in shown and "1 hour" in shown

    # refused up front: no confirmation, not a proposer, an invalid rule set
    world.cli("governance", "schedule", "publish-rules", str(rules2), "--from", "admin").error(
        "not sent: give --yes"
    )
    world.cli(
        "governance", "schedule", "publish-rules", str(rules2), "--from", "watcher", "--yes"
    ).error("cannot schedule", "only the timelock's proposers")
    bad = world.tmp / "bad-rules.yaml"
    bad.write_text("committee_grace: 1d\nmin_proposal_window: 1d\n")
    world.cli(
        "governance", "schedule", "publish-rules", str(bad), "--from", "admin", "--yes"
    ).error("committeeGrace must be shorter than minProposalWindow")
    world.cli(
        "governance", "schedule", "revoke-oracle", "1", poor, "--from", "admin", "--yes"
    ).error(f"{poor} is not an oracle of rule set 1")
    world.cli(
        "governance", "schedule", "withdraw-stake", "5", "--to", poor, "--from", "admin", "--yes"
    ).error("the committee's unlocked stake is", "less than 5 LPR")
    assert "no pending operations" in world.cli("governance", "status").ok().stdout

    # schedule two operations
    done = world.cli(
        "governance", "schedule", "publish-rules", str(rules2), "--from", "admin", "--yes"
    ).ok()
    assert "publish rule set 2" in done.stdout and "(was 1 hour)" in done.stdout
    publish_id = done.stdout.split("as operation ")[1].split()[0]
    assert "in 1 minute" in done.stdout or "in 59 seconds" in done.stdout
    done = world.cli(
        "governance", "schedule", "grant-guardian", poor, "--from", "admin", "--yes"
    ).ok()
    grant_id = done.stdout.split("as operation ")[1].split()[0]
    world.cli("governance", "schedule", "grant-guardian", poor, "--from", "admin", "--yes").error(
        "already scheduled"
    )

    status = world.cli("governance", "status", "--json").json()
    ops = {op["id"]: op for op in status["operations"]}
    assert set(ops) == {publish_id, grant_id}
    assert all(op["state"] == "waiting" for op in ops.values())
    assert ops[grant_id]["description"].startswith("escrow.grantRole(GUARDIAN_ROLE, ")
    table = world.cli("governance", "status").ok().stdout
    assert "waiting" in table and "committee.publishRules" in table

    # too early: a clear error saying when
    line = world.cli("governance", "execute", publish_id[:12], "--from", "watcher").error(
        f"operation {publish_id} is not ready: it can be executed from"
    )
    assert "(in " in line
    assert int(world.committee.functions.rulesCount().call()) == 1

    world.node.time_travel(61)
    done = world.cli("governance", "execute", publish_id, "--from", "watcher").ok()
    assert "rule set 2 is now current for new tasks" in done.stdout
    world.cli("governance", "execute", grant_id, "--from", "proposer").ok()
    world.cli("governance", "execute", grant_id, "--from", "proposer").error("already executed")

    rules = world.cli("governance", "rules", "2", "--json").json()
    one = world.cli("governance", "rules", "1", "--json").json()
    assert rules["current"] and not one["current"]
    assert rules["minChallengePeriod"] == 2 * HOUR and rules["disputeBond"] == 50 * LPR
    for key in ("oracles", "threshold", "arbitrator", "bondToken", "proposerBond", "burnBps"):
        assert rules[key] == one[key], key
    role = world.escrow.functions.GUARDIAN_ROLE().call()
    assert world.escrow.functions.hasRole(role, poor).call()
    assert "no pending operations" in world.cli("governance", "status").ok().stdout
    assert "done" in world.cli("governance", "status", "--all").ok().stdout
    world.cli(
        "governance", "schedule", "publish-rules", str(rules2), "--from", "admin", "--yes"
    ).error("the same as the current rule set 2")


# --------------------------------------------------------------------------------------------
# a dishonest proposal, the watcher, the arbitrator, a bonded proposal, claims
# --------------------------------------------------------------------------------------------


def test_watcher_disputes_a_wrong_root_then_a_bonded_proposal_pays(world: World) -> None:
    watcher, proposer = world.address("watcher"), world.address("proposer")
    state = world.tmp / "watch-state.json"
    watch = ("watch", "--bundles", str(world.bundles), "--state", str(state), "--once")

    done = world.cli("stake", "fund", "300", "--from", "admin").ok()
    stake_before = world.stake()
    assert stake_before >= 300 * LPR and "unlocked stake" in done.stdout

    task = make_task(world, seed=11)
    tid = task.task_id
    rules = world.task_rules(tid)
    dispute_bond, proposer_bond = int(rules["disputeBond"]), int(rules["proposerBond"])
    burn = int(rules["burnBps"])
    world.cli("dispute", str(tid), "--from", "watcher", "--yes").error(
        f"task {tid} has no pending proposal to dispute"
    )

    # the oracle proposes a root paying everything to itself, with the honest bundle's hash
    wrong_root = payout_tree({world.oracle.address: task.computed.total}).root
    oracle_propose(world, task, wrong_root)
    assert world.pending(tid).root == wrong_root
    assert world.stake() == stake_before - proposer_bond  # the committee's bond is locked

    world.cli("dispute", str(tid), "--from", "poor", "--yes").error(
        "holds 0 LPR, less than the dispute bond"
    )

    # without --yes: says what it would do, sends nothing
    done = world.cli(*watch).ok()
    line = done.stdout.strip()
    assert line.startswith(f"task {tid} round 0: mismatch: root {wrong_root} (recomputed ")
    assert task.computed.root in line and "would dispute" in line and "give --yes" in line
    assert not world.pending(tid).disputed

    balance = world.balance(watcher)
    done = world.cli(*watch, "--yes", "--from", "watcher").ok()
    line = done.stdout.strip()
    assert line.startswith(f"task {tid} round 0: disputed in 0x"), line
    assert "mismatch: root" in line
    p = world.pending(tid)
    assert p.flags & FLAG_DISPUTED and p.disputer == watcher
    assert world.balance(watcher) == balance - dispute_bond
    saved = json.loads(state.read_text())
    assert saved["proposals"][f"{tid}/0"]["done"] and saved["next_block"] > world.dep.block

    # a restart does not redo the work
    again = world.cli(*watch, "--yes", "--from", "watcher").ok()
    assert again.stdout.strip() == "" and "no pending proposal to check" in again.stderr
    world.cli("dispute", str(tid), "--from", "proposer", "--yes").error(
        f"already under dispute {p.dispute_id} by {watcher}"
    )

    # the panel rules the payout wrong
    world.cli("arbitrate", str(p.dispute_id), "payout-wrong", "--from", "watcher").error(
        "is not on the panel"
    )
    world.cli("arbitrate", str(p.dispute_id), "maybe", "--from", "arbiter").error(
        "ruling 'maybe' is not one of"
    )
    done = world.cli("arbitrate", str(p.dispute_id), "payout-wrong", "--from", "arbiter").ok()
    assert f"(task {tid}): voted payout-wrong" in done.stdout and "ruling applied" in done.stdout
    won = proposer_bond - proposer_bond * burn // 10_000
    assert world.balance(watcher) == balance + won
    assert world.pending(tid).round == 1 and world.pending(tid).challenge_ends == 0
    world.cli("arbitrate", str(p.dispute_id), "refused", "--from", "arbiter").error(
        "already decided (payout-wrong)"
    )

    # a bonded proposal from the published bundle, once the committee's grace is over
    url = f"{world.bundles_url}/{task.inputs_hash}.json"
    propose = ("propose", str(tid), "--from", "proposer", "--yes")
    world.cli(*propose, "--bundle", url).error("grace period", "bonded proposals open at")
    world.node.time_travel(12 * HOUR)
    local = world.tmp / "bundle-copy.json"
    local.write_bytes(task.bundle)
    world.cli(*propose, "--bundle", str(local)).error("must be retrievable")
    unpublished = world.tmp / "tampered.json"
    unpublished.write_bytes(task.bundle + b" ")
    world.cli(*propose, "--bundle", str(unpublished), "--published-url", url).error(
        "is not retrievable where it should be published"
    )
    proposer_balance = world.balance(proposer)
    done = world.cli(*propose, "--bundle", url).ok()
    assert f"root {task.computed.root}" in done.stdout
    assert f"task {tid}: proposed in 0x" in done.stdout and "round 1" in done.stdout
    p = world.pending(tid)
    # The committee keeps no inputsHash: the round's ProposalPending event names it.
    events = world.committee.events.ProposalPending().get_logs(
        from_block=0, argument_filters={"taskId": tid}
    )
    assert (p.root, p.total, p.report_hash, round_inputs_hash(events, p.round)) == (
        task.computed.root,
        task.computed.total,
        task.computed.report_hash,
        task.inputs_hash,
    )
    assert p.proposer == proposer and p.bond == proposer_bond
    assert world.balance(proposer) == proposer_balance - proposer_bond
    world.cli(*propose, "--bundle", url).error("already has a pending proposal")

    done = world.cli(*watch, "--yes", "--from", "watcher").ok()
    assert done.stdout.strip().startswith(f"task {tid} round 1: ok (recomputed root ")

    # finalized after the challenge window; annotators claim
    world.node.time_travel(
        int(task_dict(world.escrow.functions.task(tid).call())["challengePeriod"])
    )
    world.node.time_travel(1)
    world.dev(3).call(world.committee.functions.finalize(tid), what="finalize")
    assert world.balance(proposer) == proposer_balance
    tree = StandardMerkleTree.load(json.loads(task.computed.tree_json))
    for index, (account, amount) in tree.entries():
        before = world.balance(account)
        fn = world.escrow.functions.claim(tid, account, int(amount), tree.get_proof(index))
        world.dev(3).call(fn, what="claim")
        assert world.balance(account) == before + int(amount)
        assert account in task.annotators


# --------------------------------------------------------------------------------------------
# a bundle that is never published
# --------------------------------------------------------------------------------------------


def test_unpublished_bundle_waits_then_is_disputable(world: World) -> None:
    state = world.tmp / "watch-unpublished.json"
    watch = (
        *("watch", "--bundles", str(world.bundles), "--state", str(state), "--once"),
        *("--grace", "600", "--from", "watcher"),
    )
    # earlier proposals are settled: a fresh state file has nothing to say about them
    task = make_task(world, seed=12, publish=False)
    tid = task.task_id
    oracle_propose(world, task, task.computed.root)
    rules = world.task_rules(tid)
    dispute_bond, burn = int(rules["disputeBond"]), int(rules["burnBps"])

    done = world.cli(*watch, "--yes").ok()
    assert done.stdout.strip().startswith(
        f"task {tid} round 0: waiting: bundle {task.inputs_hash} not available"
    )
    assert "disputes at" in done.stdout and not world.pending(tid).disputed

    world.node.time_travel(601)
    done = world.cli(*watch).ok()
    line = done.stdout.strip()
    assert line.startswith(f"task {tid} round 0: bundle unavailable: ")
    assert "would dispute" in line and not world.pending(tid).disputed

    # a manual dispute: shows the bond and the fee, needs --yes
    done = world.cli("dispute", str(tid), "--from", "proposer")
    done.error("not sent: give --yes")
    assert f"dispute bond {format_amount(dispute_bond, 18)} LPR" in done.stdout
    assert "arbitration fee 0 ETH" in done.stdout
    proposer = world.address("proposer")
    balance = world.balance(proposer)
    done = world.cli("dispute", str(tid), "--from", "proposer", "--yes").ok()
    assert f"task {tid}: disputed in 0x" in done.stdout
    p = world.pending(tid)
    assert p.disputer == proposer

    done = world.cli(*watch, "--yes").ok()
    assert done.stdout.strip().startswith(
        f"task {tid} round 0: under dispute {p.dispute_id} by {proposer}, waiting for the ruling"
    )

    # the payout stands: the disputer's bond, less the burn, goes to the committee's stake
    stake = world.stake()
    world.cli("arbitrate", str(p.dispute_id), "payout-stands", "--from", "arbiter").ok()
    assert world.balance(proposer) == balance - dispute_bond
    assert world.stake() == stake + dispute_bond - dispute_bond * burn // 10_000
    assert world.pending(tid).is_pending and world.pending(tid).root == task.computed.root

    # the watcher respects the ruling: it does not dispute the proposal again
    done = world.cli(*watch, "--yes").ok()
    assert done.stdout.strip().startswith(
        f"task {tid} round 0: the arbitrator ruled that the payout stands: not disputing it again"
    )
    assert world.pending(tid).is_pending
    assert world.cli(*watch, "--yes").ok().stdout.strip() == ""
