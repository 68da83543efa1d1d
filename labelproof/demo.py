"""`make demo`: a real labelling task on a local chain, with every part running for real.

The dog dataset (807 items, 109 annotators, 4 classes; or any `question,worker,answer` set) as
a task: a requester funds it with an ERC-2612 permit, 10% of the items as committed gold; each
of the annotators gets a wallet, commits to its labels with an EIP-712 signature that the
relayer service batches on chain, and reveals labels and salts to the oracle service (a real
process: HTTP API, chain follower, scheduler). After the reveal deadline the oracle scores the
task (Dawid-Skene, gold-clamped) and proposes the payout root; the challenge window passes
(anvil time travel); anyone finalizes; every annotator claims from its own wallet. The
annotators' web app (`labelproof app serve`) runs alongside: its URL is printed, and from a
terminal (or with --serve) everything stays up after the run so the tasks can be opened there.

Then a second, smaller task shows the settlement layer defending the annotators: governance
publishes a new rule set through the timelock (a 2-of-2 committee whose second oracle is
offline), the oracle service publishes its inputs bundle and votes, an outsider posts a bond and
proposes a dishonest payout (everything to itself), the watcher (`labelproof watch`, its own
process) recomputes the payout from the bundle and disputes it, the arbitrator panel rules it
wrong (`labelproof arbitrate`), a volunteer proposes the correct payout with a bond from the
published bundle (`labelproof propose`), and every annotator of the task claims. The audit
rebuilds every payout of both tasks from the chain and the published files and must pass.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount

from labelproof.chain import PROJECT_ROOT, ChainError, Sender, contract_at
from labelproof.commitments import annotation_leaf, annotation_root, new_salt, sign_attestation
from labelproof.deploy import DeployConfig, Deployment, SettlementConfig, deploy_suite
from labelproof.fidelity import spearman
from labelproof.node import LocalNode, free_port, start_anvil
from labelproof.scoring import SCORING_VERSION
from labelproof.spec import ScoringSpec, TaskSpec, gold_commitment, spec_hash
from labelproof.tokens import sign_permit

DATA_DIR = Path(__file__).resolve().parent / "data"
WORK_DIR = PROJECT_ROOT / ".demo"
DAY = 86_400
TOKEN = 10**18
RELAY_PASSWORD = "demo relayer password"  # a throwaway keystore on a throwaway chain
WALLET_PASSWORD = "demo wallet password"  # the demo's other keystores (same throwaway chain)
SECOND_TASK_WORKERS = 12  # annotators of the disputed second task


@dataclass
class Dataset:
    answers: dict[str, dict[str, str]]  # worker -> item -> label
    truth: dict[str, str]

    @property
    def items(self) -> list[str]:
        return sorted({i for labels in self.answers.values() for i in labels} | set(self.truth))

    @property
    def labels(self) -> list[str]:
        return sorted({lbl for labels in self.answers.values() for lbl in labels.values()})


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
    sender: Sender | None = None


class Phases:
    """Prints progress and keeps the wall time of each phase."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.times: list[tuple[str, float]] = []
        self._title = ""
        self._t0 = self.started

    def __call__(self, title: str) -> None:
        self.close()
        self._title, self._t0 = title, time.monotonic()
        print(f"\n== {title}", flush=True)

    def close(self) -> None:
        if self._title:
            self.times.append((self._title, time.monotonic() - self._t0))
            self._title = ""


def say(text: str) -> None:
    print(f"   {text}", flush=True)


def wait_until(what: str, check: Callable[[], Any], timeout: float, proc: Service) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        if proc.proc.poll() is not None:
            raise ChainError(f"{proc.name} exited while waiting for {what}; see {proc.log}")
        time.sleep(0.2)
    raise ChainError(f"timed out after {timeout:.0f} s waiting for {what}; see {proc.log}")


class Service:
    """A labelproof service run as its own process, as an operator would run it."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.log = name, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        out = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *args, "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=self.url, timeout=60)
        wait_until(f"{name} to start", self._healthy, 60, self)

    def _healthy(self) -> bool:
        try:
            return self.http.get("/health").status_code == 200
        except httpx.TransportError:
            return False

    def post(self, path: str, body: Any) -> dict[str, Any]:
        r = self.http.post(path, json=body)
        if r.status_code >= 400:
            raise ChainError(f"{self.name} refused POST {path}: {r.status_code} {r.text[:200]}")
        data: dict[str, Any] = r.json()
        return data

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Wallets:
    """Real keystores (scrypt, keystore v3) for the demo's people, created fresh each run and
    funded with gas on the local chain; the CLI commands unlock them with a password file."""

    def __init__(self, directory: Path, node: LocalNode) -> None:
        from labelproof.wallet import WalletStore

        for stale in directory.glob("*.json"):
            stale.unlink()
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.store = WalletStore(directory)
        self.node = node
        self.password_file = directory.parent / "wallet-password"
        self.password_file.write_text(WALLET_PASSWORD)
        self._accounts: dict[str, LocalAccount] = {}

    def account(self, name: str) -> LocalAccount:
        if name not in self._accounts:
            key = Account.create()
            self.store.create(name, WALLET_PASSWORD, bytes(key.key))
            self.node.set_balance(key.address, 10 * TOKEN)
            self._accounts[name] = key
        return self._accounts[name]


@dataclass
class Context:
    """What the second task shares with the first: the chain, the services and the people."""

    w3: Any
    node: LocalNode
    dep: Deployment
    deployments: Path
    wallets: Wallets
    oracle: Service
    oracle_address: str
    relay: Service
    admin: Sender
    requester: Sender
    requester_key: LocalAccount
    token: Any
    escrow: Any
    registry: Any
    committee: Any
    work_dir: Path
    services: list[Service]
    phase: Phases

    def cli(self, *args: str) -> str:
        """Run a `labelproof` command as a user would; its output, or ChainError with it."""
        done = subprocess.run(
            [sys.executable, "-m", "labelproof.cli", *args, *self.common],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise ChainError(
                f"labelproof {' '.join(args)} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-400:]}"
            )
        return done.stdout

    @property
    def common(self) -> list[str]:
        return [
            "--rpc-url",
            self.node.url,
            "--deployments",
            str(self.deployments),
            "--wallet-dir",
            str(self.wallets.directory),
            "--password-file",
            str(self.wallets.password_file),
        ]


@dataclass
class SecondTask:
    task_id: int
    annotators: int
    claimed: int

    @property
    def every_annotator_paid(self) -> bool:
        return self.claimed == self.annotators


def disputed_task(ctx: Context, data: Dataset, rng: random.Random) -> SecondTask:
    """The second task: rule set 2 through the timelock, a dishonest bonded proposal, the
    watcher's dispute, the panel's ruling, a correct bonded proposal, claims."""
    from labelproof import governance
    from labelproof.client import Chain
    from labelproof.merkle import payout_tree
    from labelproof.settlement import FLAG_DISPUTED, Proposal

    w3, node, phase = ctx.w3, ctx.node, ctx.phase
    chain = Chain(w3, ctx.dep)

    phase("Governance: rule set 2 through the timelock (a 2-of-2 committee, one oracle offline)")
    offline = Account.create()
    rules_file = ctx.work_dir / "rules-2.yaml"
    rules_file.write_text(
        f"oracles:\n  - '{ctx.oracle_address}'\n  - '{offline.address}'\nthreshold: 2\n"
    )
    op = governance.publish_rules_op(chain, rules_file)
    admin_account = ctx.wallets.account("admin")
    scheduled = governance.schedule(chain, admin_account, op)
    say(
        f"admin scheduled operation {scheduled.id[:18]}... (publishRules), executable in "
        f"{scheduled.delay} s; until then nothing changes"
    )
    node.time_travel(scheduled.delay + 1)
    governance.execute(chain, admin_account, scheduled.id)
    rules_id = int(ctx.committee.functions.rulesCount().call())
    say(
        f"executed: rule set {rules_id} applies to tasks created from now on; task 1 keeps rule "
        "set 1"
    )

    # -- the watcher: its own process, its own wallet and bond tokens
    watcher = ctx.wallets.account("watcher")
    volunteer = ctx.wallets.account("volunteer")
    for who in (watcher, volunteer):
        ctx.admin.call(ctx.token.functions.mint(who.address, 1_000 * TOKEN), what="mint bonds")
    watch = Watch(ctx)
    ctx.services.append(watch)
    say(f"watcher running (wallet {watcher.address[:10]}..., 1,000 LPR for bonds)")

    # -- a small task under rule set 2
    phase("Second task: funded, committed through the relayer, revealed")
    workers = sorted(w for w, labels in data.answers.items() if len(labels) >= 30)
    workers = workers[:SECOND_TASK_WORKERS]
    answers = {w: data.answers[w] for w in workers}
    items = sorted({i for labels in answers.values() for i in labels})
    truth_items = sorted(i for i in items if i in data.truth)
    gold_items = sorted(rng.sample(truth_items, max(1, len(truth_items) // 10)))
    gold = {i: data.truth[i] for i in gold_items}
    labels = sorted({lbl for labels in answers.values() for lbl in labels.values()})
    budget = 1_000 * TOKEN
    ctx.admin.call(ctx.token.functions.mint(ctx.requester.address, budget), what="mint")
    task_id, gold_salt = _create_task(
        ctx, f"labelproof demo: disputed ({len(workers)} annotators)", labels, items, gold, budget
    )
    annotators = _commit(ctx, task_id, answers)
    node.time_travel(DAY + 1)
    _reveal(ctx, task_id, annotators, gold, gold_salt)
    say(
        f"task {task_id} (rule set {rules_id}): {len(items)} items, {len(annotators)} "
        f"annotators, {sum(len(a.labels) for a in annotators)} labels revealed, gold revealed"
    )

    phase("The oracle publishes its bundle and votes: 1 of 2, nothing pending")
    node.time_travel(DAY + 1)

    def voted() -> bool:
        return bool(ctx.committee.functions.hasVoted(task_id, ctx.oracle_address).call())

    wait_until("the oracle's vote", voted, 120, ctx.oracle)
    bundle = ctx.oracle.http.get(f"/tasks/{task_id}/bundle")
    inputs_hash = bundle.headers["X-Inputs-Hash"]
    report_hash = bundle.headers["X-Report-Hash"]
    honest = ctx.oracle.http.get(f"/tasks/{task_id}/report").json()
    say(
        f"bundle {inputs_hash[:18]}... ({len(bundle.content):,} bytes) served before the vote; "
        "the second oracle never votes"
    )

    phase("An outsider posts a bond and proposes a dishonest payout: everything to itself")
    rules = chain.committee.functions.rules(rules_id).call()
    grace = int(rules[11])
    node.time_travel(grace + 1)
    rogue_key = Account.create()
    node.set_balance(rogue_key.address, 10 * TOKEN)
    rogue = Sender(w3, rogue_key)
    bond = int(rules[5])
    ctx.admin.call(ctx.token.functions.mint(rogue.address, bond), what="mint")
    rogue.call(ctx.token.functions.approve(ctx.committee.address, bond), what="approve bond")
    total = int(honest["payout"]["total"])
    wrong = payout_tree({rogue.address: total})
    rogue.call(
        ctx.committee.functions.proposeBonded(
            task_id,
            wrong.root,
            total,
            bytes.fromhex(report_hash[2:]),
            bytes.fromhex(inputs_hash[2:]),
        ),
        what="dishonest proposeBonded",
    )
    say(
        f"{rogue.address[:10]}... proposed root {wrong.root[:18]}... ({total / TOKEN:,.2f} LPR to "
        f"itself) with the honest bundle's hash, bond {bond / TOKEN:,.0f} LPR"
    )

    def disputed() -> Proposal | None:
        p = Proposal.from_raw(ctx.committee.functions.pending(task_id).call())
        return p if p.flags & FLAG_DISPUTED else None

    p = wait_until("the watcher's dispute", disputed, 60, watch)

    def dispute_logged() -> str | None:
        # The watcher logs its dispute once the receipt is in, which can be after the chain
        # already shows it disputed.
        line = watch.last_line(task_id)
        return line if line and "disputed in" in line else None

    say("watcher: " + str(wait_until("the watcher's log line", dispute_logged, 30, watch)))

    phase("The arbitrator panel (2 of 3) rules the payout wrong")
    for member in ("arbiter-1", "arbiter-2"):
        out = ctx.cli("arbitrate", str(p.dispute_id), "payout-wrong", "--from", member)
        say(f"{member}: {out.strip().splitlines()[-1]}")
    after = Proposal.from_raw(ctx.committee.functions.pending(task_id).call())
    burned = bond * int(rules[7]) // 10_000
    say(
        f"round {after.round}: the rogue's bond went to the watcher ({(bond - burned) / TOKEN:,.0f}"
        f" LPR) and {burned / TOKEN:,.0f} LPR was burned; the watcher's own bond came back"
    )

    phase("A volunteer proposes the correct payout from the published bundle, with a bond")
    out = ctx.cli(
        "propose",
        str(task_id),
        "--bundle",
        f"{ctx.oracle.url}/bundles/{inputs_hash}",
        "--from",
        "volunteer",
        "--yes",
    )
    say(out.strip().splitlines()[-1])

    def checked_ok() -> str | None:
        line = watch.last_line(task_id)
        return line if line and " ok" in line else None

    say("watcher: " + str(wait_until("the watcher's check", checked_ok, 60, watch)))
    challenge = int(ctx.escrow.functions.task(task_id).call()[9])
    node.time_travel(challenge + 1)
    ctx.admin.call(ctx.committee.functions.finalize(task_id), what="finalize")

    phase("Every annotator of the second task claims")
    claimed = 0
    for ann in annotators:
        answer = ctx.oracle.http.get(f"/tasks/{task_id}/proof/{ann.account.address}")
        if answer.status_code == 404:
            continue
        proof = answer.json()
        node.set_balance(ann.account.address, TOKEN)
        ann.sender = Sender(w3, ann.account)
        ann.sender.call(
            ctx.escrow.functions.claim(
                task_id, ann.account.address, int(proof["amount"]), proof["proof"]
            ),
            what=f"claim by annotator {ann.worker} (task {task_id})",
        )
        claimed += 1
    scored = honest["scoring"]["workers"]
    owed = sum(1 for w in scored.values() if int(w["payout"]) > 0)
    rogue_balance = ctx.token.functions.balanceOf(rogue.address).call()
    say(
        f"{claimed} of {len(annotators)} annotators claimed ({owed} were owed pay); the rogue "
        f"holds {rogue_balance / TOKEN:,.0f} LPR"
    )
    return SecondTask(task_id=task_id, annotators=owed, claimed=claimed)


class Watch(Service):
    """`labelproof watch` as its own long-running process (it serves no HTTP)."""

    def __init__(self, ctx: Context) -> None:
        self.name, self.log = "watcher", ctx.work_dir / "watcher.log"
        state = ctx.work_dir / "watch-state.json"
        for stale in (state, state.with_suffix(".json.lock")):
            stale.unlink(missing_ok=True)
        out = self.log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "labelproof.cli",
                "watch",
                "--oracle",
                ctx.oracle.url,
                "--from",
                "watcher",
                "--yes",
                "--interval",
                "0.3",
                "--state",
                str(state),
                *ctx.common,
            ],
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def last_line(self, task_id: int) -> str | None:
        lines = [
            ln.strip()
            for ln in self.log.read_text(errors="replace").splitlines()
            if f"task {task_id}" in ln
        ]
        return lines[-1] if lines else None


def _create_task(
    ctx: Context,
    title: str,
    labels: list[str],
    items: list[str],
    gold: dict[str, str],
    budget: int,
) -> tuple[int, bytes]:
    gold_salt = new_salt()
    commitment = gold_commitment(gold, gold_salt)
    spec = TaskSpec(
        title=title,
        labels=tuple(labels),
        items=tuple(items),
        scoring=ScoringSpec("dawid-skene", SCORING_VERSION, None, 1.0),
        gold_commitment="0x" + commitment.hex(),
    )
    now = int(ctx.w3.eth.get_block("latest")["timestamp"])
    params = (spec_hash(spec), commitment, now + DAY, now + 2 * DAY, DAY, 30 * DAY, 7 * DAY)
    v, r, s = sign_permit(ctx.requester_key.key, ctx.token, ctx.escrow.address, budget, now + 3600)
    ctx.requester.call(
        ctx.escrow.functions.createTaskWithPermit(
            ctx.token.address, budget, params, now + 3600, v, r, s
        ),
        what="createTaskWithPermit",
    )
    task_id = int(ctx.escrow.functions.taskCount().call())
    ctx.oracle.post(f"/tasks/{task_id}/spec", json.loads(spec.to_json()))
    return task_id, gold_salt


def _commit(ctx: Context, task_id: int, answers: dict[str, dict[str, str]]) -> list[Annotator]:
    """Every annotator signs its commitment; the relayer batches them on chain."""
    chain_id = ctx.dep.chain_id
    annotators: list[Annotator] = []
    for worker, labels in sorted(answers.items()):
        ann = Annotator(worker=worker, account=Account.create(), labels=labels)
        ann.salts = {item: new_salt() for item in labels}
        ann.root = annotation_root(
            [
                annotation_leaf(
                    chain_id,
                    ctx.escrow.address,
                    task_id,
                    item,
                    ann.account.address,
                    label,
                    ann.salts[item],
                )
                for item, label in labels.items()
            ]
        )
        signed = sign_attestation(
            ann.account.key, chain_id, ctx.registry.address, task_id, ann.root, len(labels), 1
        )
        ctx.relay.post(
            "/attestations",
            {
                "task_id": task_id,
                "annotator": ann.account.address,
                "root": "0x" + ann.root.hex(),
                "item_count": len(labels),
                "version": 1,
                "signature": "0x" + signed.r.hex() + signed.s.hex() + f"{signed.v:02x}",
            },
        )
        annotators.append(ann)

    def all_attested() -> bool:
        return all(
            ctx.registry.functions.isAttested(
                task_id, a.account.address, a.root, len(a.labels)
            ).call()
            for a in annotators
        )

    wait_until("every attestation on chain", all_attested, 90, ctx.relay)
    return annotators


def _reveal(
    ctx: Context, task_id: int, annotators: list[Annotator], gold: dict[str, str], salt: bytes
) -> None:
    for ann in annotators:
        ctx.oracle.post(
            f"/tasks/{task_id}/reveals",
            {
                "annotator": ann.account.address,
                "labels": [
                    {"item": i, "label": lbl, "salt": "0x" + ann.salts[i].hex()}
                    for i, lbl in ann.labels.items()
                ],
            },
        )
    ctx.oracle.post(f"/tasks/{task_id}/gold", {"gold": gold, "salt": "0x" + salt.hex()})


def run(
    answers_csv: Path,
    truth_csv: Path,
    budget_tokens: int,
    seed: int,
    work_dir: Path = WORK_DIR,
    serve: bool = False,
) -> int:
    data = load_dataset(answers_csv, truth_csv)
    rng = random.Random(seed)
    phase = Phases()
    work_dir.mkdir(parents=True, exist_ok=True)
    services: list[Service] = []
    node: LocalNode | None = None
    try:
        phase("Local chain, deployment, oracle and relayer services")
        node = start_anvil(accounts=10, log=work_dir / "anvil.log")
        w3 = node.w3
        dev: list[str] = list(w3.eth.accounts)
        oracle_key = Account.create()
        wallets = Wallets(work_dir / "wallets", node)
        admin = Sender(w3, wallets.account("admin"))
        panel = tuple(wallets.account(f"arbiter-{n}").address for n in (1, 2, 3))
        dep = deploy_suite(
            w3,
            Sender(w3, dev[0]),
            DeployConfig(
                admin=admin.address,
                guardian=dev[1],
                oracles=(oracle_key.address,),
                threshold=1,
                settlement=SettlementConfig(panel=panel, quorum=2),
            ),
        )
        deployments = work_dir / "deployments"
        deployment_file = dep.write(deployments)
        escrow = contract_at(w3, "TaskEscrow", dep.escrow)
        registry = contract_at(w3, "AttestationRegistry", dep.registry)
        committee = contract_at(w3, "OracleCommittee", dep.committee)
        assert dep.reward_token is not None
        token = contract_at(w3, "RewardToken", dep.reward_token)
        say(f"anvil {node.url}, chain {dep.chain_id}; escrow {dep.escrow}")

        node.set_balance(oracle_key.address, 10 * TOKEN)
        oracle_dir = work_dir / "oracle"
        for stale in oracle_dir.glob("oracle.sqlite3*"):
            stale.unlink()
        oracle = Service(
            "oracle service",
            [
                "labelproof.oracle",
                "serve",
                "--rpc-url",
                node.url,
                "--deployment",
                str(deployment_file),
                "--data-dir",
                str(oracle_dir),
                "--poll-interval",
                "0.2",
            ],
            {"LABELPROOF_ORACLE_KEY": "0x" + bytes(oracle_key.key).hex()},
            work_dir / "oracle.log",
        )
        services.append(oracle)
        relayer_key = Account.create()
        node.set_balance(relayer_key.address, 100 * TOKEN)
        relay_wallets = work_dir / "relayer-wallet"
        relay_wallets.mkdir(exist_ok=True)
        (relay_wallets / "relayer.json").write_text(
            json.dumps(Account.encrypt(relayer_key.key, RELAY_PASSWORD))
        )
        password_file = work_dir / "relayer-password"
        password_file.write_text(RELAY_PASSWORD)
        relay = Service(
            "relayer",
            [
                "labelproof.cli",
                "relay",
                "serve",
                "--wallet",
                "relayer",
                "--wallet-dir",
                str(relay_wallets),
                "--password-file",
                str(password_file),
                "--rpc-url",
                node.url,
                "--deployments",
                str(deployments),
                "--batch-size",
                "60",
                "--max-wait",
                "0.5",
            ],
            {},
            work_dir / "relayer.log",
        )
        services.append(relay)
        say(f"oracle {oracle.url} (key {oracle_key.address[:10]}...), relayer {relay.url}")
        app = Service(
            "web app",
            [
                "labelproof.cli",
                "app",
                "serve",
                "--deployment",
                str(deployment_file),
                "--rpc-url",
                node.url,
                "--oracle",
                oracle.url,
                "--relayer",
                relay.url,
            ],
            {},
            work_dir / "app.log",
        )
        services.append(app)
        say(f"annotators' web app {app.url}/")

        # -- requester
        phase("Requester funds the task: spec, 10% gold committed, permit + create")
        requester_key = Account.create()
        node.set_balance(requester_key.address, 10 * TOKEN)
        requester = Sender(w3, requester_key)
        budget = budget_tokens * TOKEN
        admin.call(token.functions.mint(requester.address, budget), what="mint")
        items = data.items
        gold_items = sorted(rng.sample(sorted(data.truth), max(1, len(data.truth) // 10)))
        gold = {i: data.truth[i] for i in gold_items}
        gold_salt = new_salt()
        commitment = gold_commitment(gold, gold_salt)
        spec = TaskSpec(
            title=f"labelproof demo: {answers_csv.parent.name}",
            labels=tuple(data.labels),
            items=tuple(items),
            scoring=ScoringSpec("dawid-skene", SCORING_VERSION, None, 1.0),
            gold_commitment="0x" + commitment.hex(),
        )
        now = int(w3.eth.get_block("latest")["timestamp"])
        params = (spec_hash(spec), commitment, now + DAY, now + 2 * DAY, DAY, 30 * DAY, 7 * DAY)
        v, r, s = sign_permit(requester_key.key, token, escrow.address, budget, now + 3600)
        requester.call(
            escrow.functions.createTaskWithPermit(
                token.address, budget, params, now + 3600, v, r, s
            ),
            what="createTaskWithPermit",
        )
        task_id = int(escrow.functions.taskCount().call())
        oracle.post(f"/tasks/{task_id}/spec", json.loads(spec.to_json()))
        say(
            f"task {task_id}: {budget_tokens:,} LPR, {len(items)} items, labels "
            f"{', '.join(data.labels)}, {len(gold)} gold items (committed)"
        )
        page = app.http.get(f"/api/tasks/{task_id}")  # what the app's task page shows
        if page.status_code != 200:
            raise ChainError(f"the web app cannot show task {task_id}: {page.text[:200]}")
        say(
            f"open it in the app: {app.url}/#/task/{task_id} ({page.json()['phase']}; public "
            f"page #/public/{task_id})"
        )

        # -- annotators commit through the relayer
        phase(f"{len(data.answers)} annotators sign their commitments; the relayer batches them")
        chain_id = dep.chain_id
        annotators: list[Annotator] = []
        for worker, labels in sorted(data.answers.items()):
            ann = Annotator(worker=worker, account=Account.create(), labels=labels)
            ann.salts = {item: new_salt() for item in labels}
            ann.root = annotation_root(
                [
                    annotation_leaf(
                        chain_id,
                        escrow.address,
                        task_id,
                        item,
                        ann.account.address,
                        label,
                        ann.salts[item],
                    )
                    for item, label in labels.items()
                ]
            )
            signed = sign_attestation(
                ann.account.key, chain_id, registry.address, task_id, ann.root, len(labels), 1
            )
            relay.post(
                "/attestations",
                {
                    "task_id": task_id,
                    "annotator": ann.account.address,
                    "root": "0x" + ann.root.hex(),
                    "item_count": len(labels),
                    "version": 1,
                    "signature": "0x" + signed.r.hex() + signed.s.hex() + f"{signed.v:02x}",
                },
            )
            annotators.append(ann)

        def all_attested() -> bool:
            return all(
                registry.functions.isAttested(
                    task_id, a.account.address, a.root, len(a.labels)
                ).call()
                for a in annotators
            )

        wait_until("every attestation on chain", all_attested, 90, relay)
        say(f"{len(annotators)} commitments on chain, none of the annotators paid any gas")

        # -- reveals
        node.time_travel(DAY + 1)
        phase("Annotators reveal labels and salts to the oracle; the requester reveals gold")
        for ann in annotators:
            oracle.post(
                f"/tasks/{task_id}/reveals",
                {
                    "annotator": ann.account.address,
                    "labels": [
                        {"item": i, "label": lbl, "salt": "0x" + ann.salts[i].hex()}
                        for i, lbl in ann.labels.items()
                    ],
                },
            )
        oracle.post(
            f"/tasks/{task_id}/gold",
            {
                "gold": gold,
                "salt": "0x" + gold_salt.hex(),
            },
        )
        say(
            f"{sum(len(a.labels) for a in annotators):,} labels revealed, each checked against "
            "its on-chain root; gold checked against its commitment"
        )

        # -- scoring and proposal by the oracle service
        node.time_travel(DAY + 1)
        phase("The oracle scores the task and proposes the payout root")

        def proposed() -> bool:
            return bool(committee.functions.isPending(task_id).call())

        wait_until("the oracle's proposal", proposed, 90, oracle)
        pending = committee.functions.pending(task_id).call()
        say(f"root 0x{bytes(pending[0]).hex()[:16]}..., total {pending[1] / TOKEN:,.2f} LPR")
        node.time_travel(DAY + 1)
        anyone = Sender(w3, dev[6])
        anyone.call(committee.functions.finalize(task_id), what="finalize")
        say("challenge window over without a veto: finalized by a bystander, claims open")
        refundable = int(escrow.functions.refundable(task_id).call()[0])
        if refundable:
            requester.call(escrow.functions.refund(task_id), what="refund")
            say(f"requester took back the unallocated {refundable / TOKEN:,.2f} LPR")

        # -- claims
        phase("Every paid annotator claims from its own wallet")
        claimed = 0
        for ann in annotators:
            answer = oracle.http.get(f"/tasks/{task_id}/proof/{ann.account.address}")
            if answer.status_code == 404:
                continue  # not paid
            proof = answer.json()
            node.set_balance(ann.account.address, TOKEN)  # a faucet: gas for the claim
            ann.sender = Sender(w3, ann.account)
            ann.sender.call(
                escrow.functions.claim(
                    task_id, ann.account.address, int(proof["amount"]), proof["proof"]
                ),
                what=f"claim by annotator {ann.worker}",
            )
            claimed += 1
        left = token.functions.balanceOf(escrow.address).call()
        say(f"{claimed} claims; escrow holds {left / TOKEN:,.6f} LPR")

        # -- the second task: a dishonest payout, caught and corrected
        second = disputed_task(
            Context(
                w3=w3,
                node=node,
                dep=dep,
                deployments=deployments,
                wallets=wallets,
                oracle=oracle,
                oracle_address=oracle_key.address,
                relay=relay,
                admin=admin,
                requester=requester,
                requester_key=requester_key,
                token=token,
                escrow=escrow,
                registry=registry,
                committee=committee,
                work_dir=work_dir,
                services=services,
                phase=phase,
            ),
            data,
            rng,
        )

        # -- audit
        phase("Audit: rebuild every payout from the chain and the published files")
        from labelproof.audit import run_audit, write_html

        result = run_audit(node.url, deployment_file, oracle_url=oracle.url)
        html = work_dir / "audit.html"
        write_html(result, html)
        for finding in result.findings:
            say(f"FINDING {finding}")
        say(("audit passed: " if result.ok else "AUDIT FAILED: ") + f"report at {html}")
        phase.close()
        second_ok = second.every_annotator_paid

        report(
            data,
            annotators,
            gold,
            oracle,
            task_id,
            token,
            requester,
            relayer_key.address,
            oracle_key.address,
            anyone,
            w3,
            phase,
        )
        if serve:
            print(
                f"\n== The app stays up: {app.url}/#/public/{task_id} (task {task_id}), "
                f"{app.url}/ (every task); Ctrl-C stops it",
                flush=True,
            )
            try:
                while all(s.proc.poll() is None for s in services):
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return 0 if result.ok and second_ok else 1
    finally:
        for service in services:
            service.stop()
        if node is not None:
            node.stop()


def report(
    data: Dataset,
    annotators: list[Annotator],
    gold: dict[str, str],
    oracle: Service,
    task_id: int,
    token: Any,
    requester: Sender,
    relayer: str,
    oracle_address: str,
    anyone: Sender,
    w3: Any,
    phase: Phases,
) -> None:
    rows = []
    for ann in annotators:
        non_gold = [i for i in ann.labels if i not in gold and i in data.truth]
        accuracy = (
            sum(ann.labels[i] == data.truth[i] for i in non_gold) / len(non_gold)
            if non_gold
            else float("nan")
        )
        paid = int(token.functions.balanceOf(ann.account.address).call())
        rows.append((ann, accuracy, paid, len(non_gold)))
    qualities = _qualities(oracle, task_id)
    rows.sort(key=lambda r: -r[2])
    print("\n== Best and worst annotators (true accuracy from the full truth, non-gold items)")
    print(f"   {'worker':<8} {'labels':>6} {'true acc':>8} {'quality':>7} {'paid LPR':>10}")
    shown: list[tuple[Annotator, float, int, int] | None] = (
        [*rows[:5], None, *rows[-5:]] if len(rows) > 10 else list(rows)
    )
    for row in shown:
        if row is None:
            print("   ...")
            continue
        ann, acc, paid, _ = row
        q = qualities.get(ann.account.address.lower(), float("nan"))
        print(
            f"   {ann.worker:<8} {len(ann.labels):>6} {acc:>8.3f} {q:>7.3f} {paid / TOKEN:>10.2f}"
        )
    eligible = [(paid / len(ann.labels), acc) for ann, acc, paid, n in rows if n >= 20]
    rho = spearman([e[0] for e in eligible], [e[1] for e in eligible])
    print(
        f"\n   Spearman(payout claimed per label, true accuracy) over {len(eligible)} "
        f"annotators with >= 20 labels: {rho:.3f}"
    )
    print("\n== Gas by role")
    gas_rows = [
        ("requester (permit + create, refund)", requester.gas_used),
        ("relayer (batched attestations)", _gas_of(w3, relayer)),
        ("oracle (proposal)", _gas_of(w3, oracle_address)),
        ("bystander (finalize)", anyone.gas_used),
        ("annotators (claims)", sum(a.sender.gas_used for a in annotators if a.sender)),
    ]
    for name, gas in gas_rows:
        print(f"   {name:<38} {gas:>12,}")
    print("\n== Wall time")
    for title, seconds in phase.times:
        print(f"   {seconds:6.1f} s  {title}")
    print(f"   {time.monotonic() - phase.started:6.1f} s  total")


def _qualities(oracle: Service, task_id: int) -> dict[str, float]:
    """Each annotator's quality, from the report the oracle published (and hashed on chain)."""
    body = oracle.http.get(f"/tasks/{task_id}/report").json()
    workers = body["scoring"]["workers"]
    return {address.lower(): float(w["quality"]) for address, w in workers.items()}


def _gas_of(w3: Any, address: str) -> int:
    """Gas of every transaction `address` sent (a process we do not share memory with)."""
    total = 0
    for n in range(1, int(w3.eth.block_number) + 1):
        for tx in w3.eth.get_block(n, full_transactions=True)["transactions"]:
            if tx["from"].lower() == address.lower():
                total += int(w3.eth.get_transaction_receipt(tx["hash"])["gasUsed"])
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--answers",
        type=Path,
        default=DATA_DIR / "dog" / "answer.csv",
        help="CSV question,worker,answer (default: the shipped dog dataset)",
    )
    parser.add_argument(
        "--truth", type=Path, default=DATA_DIR / "dog" / "truth.csv", help="CSV question,truth"
    )
    parser.add_argument("--budget", type=int, default=100_000, help="budget in whole LPR")
    parser.add_argument("--seed", type=int, default=0, help="seed for the gold-item choice")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=WORK_DIR,
        help="logs, oracle database, deployment and audit report (default .demo/)",
    )
    parser.add_argument(
        "--serve",
        action=argparse.BooleanOptionalAction,
        default=sys.stdin.isatty() and sys.stdout.isatty(),
        help="keep the chain, services and web app up after the run, until Ctrl-C (default: "
        "when run from a terminal)",
    )
    args = parser.parse_args(argv)
    for path in (args.answers, args.truth):
        if not path.exists():
            print(f"error: {path} does not exist", file=sys.stderr)
            return 2
    try:
        return run(args.answers, args.truth, args.budget, args.seed, args.work_dir, args.serve)
    except ChainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
