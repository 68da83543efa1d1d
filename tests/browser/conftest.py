"""One chain, oracle, relayer and app server per module, and Debian's chromium driven by
Playwright with an injected test wallet (tests/browser/wallet.py).

The services are the real processes an operator runs (``python -m labelproof.oracle serve``,
``labelproof relay serve``, ``labelproof app serve``); tasks are created and other annotators
commit and reveal from Python, as in labelproof/demo.py. Each test keeps a screenshot of each
step under build/screenshots/<test>/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from labelproof.chain import Sender, contract_at
from labelproof.commitments import annotation_leaf, annotation_root, new_salt, sign_attestation
from labelproof.deploy import DeployConfig, Deployment, SettlementConfig, deploy_suite
from labelproof.node import LocalNode, free_port, start_anvil
from labelproof.scoring import SCORING_VERSION
from labelproof.spec import ScoringSpec, TaskSpec, gold_commitment, spec_hash
from labelproof.tokens import sign_permit
from tests.browser.wallet import PROVIDER_JS, TestWallet

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
TOKEN = 10**18
DAY = 86_400
PASSWORD = "browser tests only"


@pytest.fixture(autouse=True)
def isolation() -> None:
    """Shadow tests/conftest.py's brownie snapshot fixture: this package runs its own anvil."""


def chromium_path() -> str:
    path = os.environ.get("LABELPROOF_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")
    return path


@dataclass
class Proc:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Proc:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", *self.args, "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"{self.name} exited:\n{self.log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Task:
    task_id: int
    spec: TaskSpec
    truth: dict[str, str]
    gold: dict[str, str]
    gold_salt: bytes


@dataclass
class World:
    node: LocalNode
    w3: Web3
    dep: Deployment
    escrow: Contract
    registry: Contract
    committee: Contract
    token: Contract
    admin: Sender
    requester: LocalAccount
    oracle: Proc
    relay: Proc
    app: Proc
    tmp: Path

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def create_task(self, title: str, truth: dict[str, str], labels: tuple[str, ...]) -> Task:
        items = tuple(truth)
        gold = {i: truth[i] for i in items[:3]}
        gold_salt = new_salt()
        commitment = gold_commitment(gold, gold_salt)
        spec = TaskSpec(
            title=title,
            labels=labels,
            items=items,
            scoring=ScoringSpec("dawid-skene", SCORING_VERSION, None, 1.0),
            gold_commitment="0x" + commitment.hex(),
        )
        budget = 1_000 * TOKEN
        Sender(self.w3, self.admin.address)  # the admin mints
        self.admin.call(self.token.functions.mint(self.requester.address, budget), what="mint")
        now = self.now()
        params = (spec_hash(spec), commitment, now + DAY, now + 2 * DAY, DAY, 30 * DAY, 7 * DAY)
        v, r, s = sign_permit(
            self.requester.key, self.token, self.escrow.address, budget, now + 3600
        )
        Sender(self.w3, self.requester).call(
            self.escrow.functions.createTaskWithPermit(
                self.token.address, budget, params, now + 3600, v, r, s
            ),
            what="createTaskWithPermit",
        )
        task_id = int(self.escrow.functions.taskCount().call())
        r2 = httpx.post(f"{self.oracle.url}/tasks/{task_id}/spec", json=json.loads(spec.to_json()))
        assert r2.status_code == 201, r2.text
        return Task(task_id, spec, truth, gold, gold_salt)

    def commit_others(
        self, task: Task, answers: list[dict[str, str]]
    ) -> list[tuple[LocalAccount, dict[str, str], dict[str, bytes]]]:
        """Other annotators commit through the relayer (from Python, as labelproof/demo.py)."""
        out: list[tuple[LocalAccount, dict[str, str], dict[str, bytes], bytes]] = []
        for labels in answers:
            account = Account.create()
            salts = {item: new_salt() for item in labels}
            root = annotation_root(
                [
                    annotation_leaf(
                        self.dep.chain_id,
                        self.escrow.address,
                        task.task_id,
                        item,
                        account.address,
                        label,
                        salts[item],
                    )
                    for item, label in labels.items()
                ]
            )
            signed = sign_attestation(
                account.key,
                self.dep.chain_id,
                self.registry.address,
                task.task_id,
                root,
                len(labels),
                1,
            )
            r = httpx.post(
                f"{self.relay.url}/attestations",
                json={
                    "task_id": task.task_id,
                    "annotator": account.address,
                    "root": "0x" + root.hex(),
                    "item_count": len(labels),
                    "version": 1,
                    "signature": "0x" + signed.r.hex() + signed.s.hex() + f"{signed.v:02x}",
                },
            )
            assert r.status_code in (200, 202), r.text
            out.append((account, labels, salts, root))

        def attested() -> bool:
            return all(
                self.registry.functions.isAttested(task.task_id, a.address, root, len(lbl)).call()
                for a, lbl, _, root in out
            )

        self.wait("the relayer's batch", attested)
        return [(a, lbl, s) for a, lbl, s, _ in out]

    def reveal_others(
        self, task: Task, others: list[tuple[LocalAccount, dict[str, str], dict[str, bytes]]]
    ) -> None:
        for account, labels, salts in others:
            r = httpx.post(
                f"{self.oracle.url}/tasks/{task.task_id}/reveals",
                json={
                    "annotator": account.address,
                    "labels": [
                        {"item": i, "label": lbl, "salt": "0x" + salts[i].hex()}
                        for i, lbl in labels.items()
                    ],
                },
            )
            assert r.status_code == 201, r.text
        r = httpx.post(
            f"{self.oracle.url}/tasks/{task.task_id}/gold",
            json={"gold": task.gold, "salt": "0x" + task.gold_salt.hex()},
        )
        assert r.status_code == 201, r.text

    def wait(self, what: str, check: Any, timeout: float = 90) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def balance(self, account: str) -> int:
        return int(self.token.functions.balanceOf(account).call())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("app")
    node = start_anvil(accounts=10, log=tmp / "anvil.log")
    procs: list[Proc] = []
    try:
        w3 = node.w3
        dev = list(w3.eth.accounts)
        admin_key = Account.create()
        node.set_balance(admin_key.address, 10 * TOKEN)
        oracle_key = Account.create()
        node.set_balance(oracle_key.address, 10 * TOKEN)
        panel = tuple(Account.create().address for _ in range(3))
        dep = deploy_suite(
            w3,
            Sender(w3, dev[0]),
            DeployConfig(
                admin=admin_key.address,
                guardian=dev[1],
                oracles=(oracle_key.address,),
                threshold=1,
                settlement=SettlementConfig(panel=panel, quorum=2),
            ),
        )
        deployments = tmp / "deployments"
        dep_file = dep.write(deployments)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABELPROOF_")}
        env["PYTHONPATH"] = str(ROOT)
        oracle = Proc(
            "oracle",
            [
                "labelproof.oracle",
                "serve",
                "--rpc-url",
                node.url,
                "--deployment",
                str(dep_file),
                "--data-dir",
                str(tmp / "oracle"),
                "--poll-interval",
                "0.2",
            ],
            {**env, "LABELPROOF_ORACLE_KEY": "0x" + bytes(oracle_key.key).hex()},
            tmp / "oracle.log",
        )
        procs.append(oracle.start())
        relayer_key = Account.create()
        node.set_balance(relayer_key.address, 100 * TOKEN)
        (tmp / "relayer-wallet").mkdir()
        (tmp / "relayer-wallet" / "relayer.json").write_text(
            json.dumps(Account.encrypt(relayer_key.key, PASSWORD, iterations=2))
        )
        (tmp / "relayer-password").write_text(PASSWORD)
        relay = Proc(
            "relayer",
            [
                "labelproof.cli",
                "relay",
                "serve",
                "--wallet",
                "relayer",
                "--wallet-dir",
                str(tmp / "relayer-wallet"),
                "--password-file",
                str(tmp / "relayer-password"),
                "--rpc-url",
                node.url,
                "--deployments",
                str(deployments),
                "--batch-size",
                "10",
                "--max-wait",
                "0.3",
                "--log-level",
                "warning",
            ],
            env,
            tmp / "relayer.log",
        )
        procs.append(relay.start())
        app = Proc(
            "app",
            [
                "labelproof.cli",
                "app",
                "serve",
                "--deployment",
                str(dep_file),
                "--rpc-url",
                node.url,
                "--oracle",
                oracle.url,
                "--relayer",
                relay.url,
            ],
            env,
            tmp / "app.log",
        )
        procs.append(app.start())
        requester = Account.create()
        node.set_balance(requester.address, 10 * TOKEN)
        assert dep.reward_token is not None
        yield World(
            node=node,
            w3=w3,
            dep=dep,
            escrow=contract_at(w3, "TaskEscrow", dep.escrow),
            registry=contract_at(w3, "AttestationRegistry", dep.registry),
            committee=contract_at(w3, "OracleCommittee", dep.committee),
            token=contract_at(w3, "RewardToken", dep.reward_token),
            admin=Sender(w3, admin_key),
            requester=requester,
            oracle=oracle,
            relay=relay,
            app=app,
            tmp=tmp,
        )
    finally:
        for p in procs:
            p.stop()
        node.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=chromium_path(), headless=True, args=["--no-sandbox"]
        )
        try:
            yield b
        finally:
            b.close()


class Screens:
    """Numbered screenshots of one test's steps under build/screenshots/<test>/."""

    def __init__(self, name: str) -> None:
        self.dir = SCREENSHOTS / name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.n = 0

    def __call__(self, page: Any, step: str) -> Path:
        self.n += 1
        path = self.dir / f"{self.n:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Screens:
    return Screens(request.node.name)


def open_page(browser: Any, world: World, wallet: TestWallet) -> tuple[Any, Any]:
    """A fresh browser context (its own storage) with the test wallet injected."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 900})
    context.expose_function("__lpWallet", wallet.handle)
    context.add_init_script(PROVIDER_JS)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(world.app.url + "/")
    return context, page
