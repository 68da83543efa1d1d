"""The people's command line end to end: every role through `python -m labelproof.cli`.

One anvil (labelproof.node, a free port), a deployment made with `labelproof deploy` (1-of-1
committee holding the oracle's key), the real oracle service and the real relayer
(`labelproof relay serve`) as subprocesses. The whole-task test goes: wallets -> task create
(permit, gold) and a second task (approve) -> annotate commit (one direct, two through the
relayer, gasless) -> reveal -> reveal-gold -> time travel -> the oracle proposes -> finalize ->
rewards -> claim (claimMany and single) -> refund -> status. The other tests feed every command
bad input and check for one line on stderr, a non-zero exit, and that nothing was left behind
(no task, no salts file, no allowance, no deployment file).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from labelproof.chain import Sender, contract_at
from labelproof.client import format_duration
from labelproof.commitments import attestation_typed_data
from labelproof.deploy import Deployment
from labelproof.merkle import payout_tree
from labelproof.node import LocalNode, free_port, start_anvil
from labelproof.scoring import SCORING_VERSION
from labelproof.settlement import Proposal, task_dict

ROOT = Path(__file__).resolve().parents[2]
ETH = 10**18
HOUR = 3_600
DAY = 86_400
LABELS = ("cat", "dog")
ITEMS = [f"img-{i:02d}" for i in range(12)]
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def isolation() -> None:
    """Shadow tests/conftest.py's brownie snapshot fixture: this module runs its own anvil."""


# --------------------------------------------------------------------------------------------
# running the command line
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
    escrow: Contract
    registry: Contract
    committee: Contract
    token: Contract
    oracle_url: str
    relay_url: str
    password_file: Path
    procs: list[subprocess.Popen[bytes]]

    def cli(self, *args: str, env: dict[str, str] | None = None) -> Done:
        return run_cli({**self.env, **(env or {})}, *args)

    def many(self, *calls: tuple[str, ...]) -> list[Done]:
        """Run several commands at once (they are independent)."""
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(lambda a: self.cli(*a), calls))

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def address(self, wallet: str) -> ChecksumAddress:
        keystore = json.loads((self.tmp / "wallets" / f"{wallet}.json").read_text())
        return Web3.to_checksum_address("0x" + keystore["address"])

    def fund(self, wallet: str, eth: int = 10) -> str:
        address = self.address(wallet)
        self.node.set_balance(address, eth * ETH)
        return address

    def admin(self) -> Sender:
        return Sender(self.w3, self.w3.eth.accounts[0])

    def data_files(self, wallet: str) -> set[str]:
        directory = self.tmp / "wallets" / f"{wallet}.data"
        return {p.name for p in directory.iterdir()} if directory.exists() else set()

    def task_count(self) -> int:
        return int(self.escrow.functions.taskCount().call())


def run_cli(env: dict[str, str], *args: str) -> Done:
    started = time.monotonic()
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
    if os.environ.get("LP_TIMING"):
        print(f"TIMING {time.monotonic() - started:6.2f} {' '.join(args[:3])}", file=sys.stderr)
    return Done(args, done.returncode, done.stdout, done.stderr)


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{url} exited early:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("roles")
    node = start_anvil(accounts=10, log=tmp / "anvil.log")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        w3 = node.w3
        password_file = tmp / "password"
        password_file.write_text(PASSWORD + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABELPROOF_")}
        env.update(
            {
                "PYTHONPATH": str(ROOT),
                "LABELPROOF_RPC_URL": node.url,
                "LABELPROOF_DEPLOYMENTS": str(tmp / "deployments"),
                "LABELPROOF_WALLET_DIR": str(tmp / "wallets"),
                "LABELPROOF_PASSWORD": PASSWORD,
                "LABELPROOF_SCRYPT_N": "1024",  # fast keystores for tests only
                "COLUMNS": "250",  # tables print long hashes on one line
            }
        )
        oracle_key = Account.create()
        node.set_balance(oracle_key.address, 10 * ETH)
        config = tmp / "deploy.yaml"
        guardian = list(w3.eth.accounts)[1]
        config.write_text(
            f"guardian: '{guardian}'\noracles: ['{oracle_key.address}']\nthreshold: 1\n"
        )
        done = run_cli(
            env, "deploy", "--config", str(config), "--dev-account", "0", "--broadcast"
        ).ok()
        assert "written to" in done.stdout
        dep_file = tmp / "deployments" / f"{w3.eth.chain_id}.json"
        dep = Deployment.from_json(dep_file.read_text())
        assert dep.oracles == (oracle_key.address,) and dep.threshold == 1

        # the oracle service, holding the committee's only key
        oracle_port = free_port()
        oracle_log = tmp / "oracle.log"
        with oracle_log.open("ab") as log:
            oracle = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "labelproof.oracle",
                    "serve",
                    "--rpc-url",
                    node.url,
                    "--deployment",
                    str(dep_file),
                    "--data-dir",
                    str(tmp / "oracle"),
                    "--port",
                    str(oracle_port),
                    "--poll-interval",
                    "0.3",
                ],
                cwd=ROOT,
                env={**env, "LABELPROOF_ORACLE_KEY": "0x" + bytes(oracle_key.key).hex()},
                stdout=log,
                stderr=log,
            )
        procs.append(oracle)
        oracle_url = f"http://127.0.0.1:{oracle_port}"

        # the relayer, from its own wallet
        world = World(
            node=node,
            w3=w3,
            tmp=tmp,
            env=env,
            dep=dep,
            escrow=contract_at(w3, "TaskEscrow", dep.escrow),
            registry=contract_at(w3, "AttestationRegistry", dep.registry),
            committee=contract_at(w3, "OracleCommittee", dep.committee),
            token=contract_at(w3, "RewardToken", str(dep.reward_token)),
            oracle_url=oracle_url,
            relay_url="",
            password_file=password_file,
            procs=procs,
        )
        world.cli("wallet", "new", "relayer", "--password-file", str(password_file)).ok()
        world.fund("relayer")
        relay_port = free_port()
        relay_log = tmp / "relay.log"
        with relay_log.open("ab") as log:
            relay = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "labelproof.cli",
                    "relay",
                    "serve",
                    "--wallet",
                    "relayer",
                    "--port",
                    str(relay_port),
                    "--batch-size",
                    "4",
                    "--max-wait",
                    "1.0",
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )
        procs.append(relay)
        world.relay_url = f"http://127.0.0.1:{relay_port}"
        _wait_http(oracle_url, oracle, oracle_log)
        _wait_http(world.relay_url, relay, relay_log)
        yield world
    finally:
        for proc in procs:
            _stop(proc)
        node.stop()


# --------------------------------------------------------------------------------------------
# task data
# --------------------------------------------------------------------------------------------


def write_spec(path: Path, title: str, gold: bool = True) -> Path:
    spec: dict[str, Any] = {
        "version": "labelproof-spec/1",
        "title": title,
        "labels": list(LABELS),
        "items": ITEMS,
        "scoring": {
            "method": "dawid-skene",
            "version": SCORING_VERSION,
            "min_quality": None,
            "gold_weight": 1.0,
        },
    }
    if not gold:
        spec["gold"] = {"commitment": None}
    path.write_text(json.dumps(spec, indent=2))
    return path


def write_pairs(path: Path, pairs: dict[str, str], header: str = "item,label") -> Path:
    path.write_text(header + "\n" + "".join(f"{k},{v}\n" for k, v in pairs.items()))
    return path


def truth(seed: int) -> dict[str, str]:
    rng = random.Random(seed)
    return {item: rng.choice(LABELS) for item in ITEMS}


def noisy(labels: dict[str, str], wrong: list[str]) -> dict[str, str]:
    out = dict(labels)
    for item in wrong:
        out[item] = LABELS[1 - LABELS.index(out[item])]
    return out


def wait_for(what: str, check: Callable[[], Any], world: World, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    log = (world.tmp / "oracle.log").read_text(errors="replace")[-3000:]
    raise AssertionError(f"timed out waiting for {what}\n--- oracle log ---\n{log}")


def deploy_token(world: World, name: str, *args: Any) -> Contract:
    return world.admin().deploy(name, *args)


def fresh_task(world: World, requester: str, label: str, *extra: str) -> int:
    spec = write_spec(world.tmp / f"spec-{label}.json", f"task {label}", gold=False)
    done = world.cli(
        "task",
        "create",
        "--spec",
        str(spec),
        "--budget",
        "10",
        "--wallet",
        requester,
        "--json",
        *extra,
    )
    return int(done.json()["task_id"])


# --------------------------------------------------------------------------------------------
# the whole life of two tasks
# --------------------------------------------------------------------------------------------


def test_every_role_end_to_end(world: World) -> None:
    # -- wallets: a requester and three annotators; only the requester and ann1 get ETH now
    names = ("requester", "ann1", "ann2", "ann3")
    for done in world.many(*[("wallet", "new", n) for n in names]):
        done.ok()
    listed, shown = world.many(("wallet", "list", "--json"), ("wallet", "address", "ann2"))
    addresses = {w["name"]: w["address"] for w in listed.json()}
    assert set(names) <= set(addresses)
    assert shown.ok().stdout.strip() == addresses["ann2"]
    requester = world.fund("requester")
    world.fund("ann1")
    admin = world.admin()
    admin.call(world.token.functions.mint(requester, 5_000 * ETH), what="mint LPR")
    # a second token without permit (approve path), 18 decimals
    noret = deploy_token(world, "NoReturnToken")
    admin.call(noret.functions.mint(requester, 1_000 * ETH), what="mint NORET")

    # -- task A: reward token (permit), spec + gold, registered with the oracle;
    # -- task B: a token without permit (approve), no gold, a short claim period
    t = truth(1)
    gold = {item: t[item] for item in ITEMS[:4]}
    spec_a = write_spec(world.tmp / "spec-a.json", "Cats or dogs A")
    final_a = world.tmp / "spec-a.final.json"
    spec_b = write_spec(world.tmp / "spec-b.json", "Cats or dogs B", gold=False)
    gold_csv = write_pairs(world.tmp / "gold.csv", gold)
    common = (
        *("--oracle", world.oracle_url, "--wallet", "requester", "--json"),
        *("--annotation-period", "1h", "--reveal-period", "1h", "--challenge-period", "1h"),
    )
    done_a, done_b = world.many(
        ("task", "create", "--spec", str(spec_a), "--budget", "1000.5", "--gold", str(gold_csv),
         "--spec-out", str(final_a), *common),
        ("task", "create", "--spec", str(spec_b), "--budget", "250.25", "--token",
         noret.address, "--claim-period", "1d", *common),
    )  # fmt: skip
    created_a, created_b = done_a.json(), done_b.json()
    assert created_a["funding"] == "permit" and created_a["spec_registered"]
    assert created_b["funding"] == "approve"
    task_a, task_b = int(created_a["task_id"]), int(created_b["task_id"])
    record = json.loads(Path(created_a["record"]).read_text())
    assert record["task_id"] == task_a and record["gold"] == gold
    assert (Path(created_a["record"]).stat().st_mode & 0o777) == 0o600
    assert world.token.functions.balanceOf(world.escrow.address).call() == 1000_5 * ETH // 10
    assert noret.functions.balanceOf(world.escrow.address).call() == 250_25 * ETH // 100
    assert noret.functions.allowance(requester, world.escrow.address).call() == 0

    # -- annotators commit: ann1 directly, ann2 and ann3 through the relayer without any ETH
    labels = {
        "ann1": write_pairs(world.tmp / "ann1.csv", t),
        "ann2": write_pairs(world.tmp / "ann2.csv", noisy(t, ["img-10"]), "question,answer"),
        "ann3": write_pairs(world.tmp / "ann3.csv", noisy(t, ["img-05", "img-11"])),
    }
    specs = {task_a: final_a, task_b: spec_b}
    commits: list[tuple[str, ...]] = []
    for task in (task_a, task_b):
        base = ("annotate", "commit", "--task", str(task), "--spec", str(specs[task]))
        commits.append((*base, "--labels", str(labels["ann1"]), "--wallet", "ann1"))
        for who in ("ann2", "ann3"):
            commits.append(
                (*base, "--labels", str(labels[who]), "--relay", world.relay_url, "--wallet", who)
            )
    commits.append(("task", "status", str(task_a), "--json"))
    *committed, early = world.many(*commits)
    for done in committed:
        assert "12 labels committed" in done.ok().stdout
    assert early.json()["phase"] == "annotation" and early.json()["symbol"] == "LPR"
    assert world.w3.eth.get_balance(world.address("ann2")) == 0
    for task in (task_a, task_b):
        for who in ("ann1", "ann2", "ann3"):
            _, version = world.registry.functions.attestation(task, world.address(who)).call()
            assert version == 1, (task, who)
        salts = json.loads(
            (world.tmp / "wallets" / "ann2.data")
            .joinpath(f"annotations-{world.dep.chain_id}-{world.dep.escrow}-{task}.json")
            .read_text()
        )
        assert salts["commitments"][-1]["status"] == "attested"
        assert salts["commitments"][-1]["via"] == "relay"

    # -- reveals to the oracle, and the requester's gold
    reveals: list[tuple[str, ...]] = [
        ("annotate", "reveal", "--task", str(task), "--oracle", world.oracle_url, "--wallet", who)
        for task in (task_a, task_b)
        for who in ("ann1", "ann2", "ann3")
    ]
    reveals.append(
        ("task", "reveal-gold", str(task_a), "--oracle", world.oracle_url, "--wallet", "requester")
    )
    *revealed, gold_done = world.many(*reveals)
    for done in revealed:
        assert "12 labels revealed" in done.ok().stdout
    assert "4 gold items revealed" in gold_done.ok().stdout

    # -- past the reveal deadlines: the oracle (1 of 1) proposes both payouts
    world.node.time_travel(2 * HOUR + 10)
    for task in (task_a, task_b):

        def pending(task: int = task) -> bool:
            return bool(world.committee.functions.isPending(task).call())

        wait_for(f"the proposal for task {task}", pending, world)
    status_json, status_text = world.many(
        ("task", "status", str(task_a), "--json"), ("task", "status", str(task_a))
    )
    status = status_json.json()
    assert status["phase"] == "challenge" and status["attestations"] == 3
    assert status["proposal"]["votes"] == 1 and status["proposal"]["total"] == status["budget"]
    assert "challenge" in status_text.ok().stdout and "1000.5 LPR" in status_text.stdout

    # -- after the challenge window anyone finalizes
    world.node.time_travel(HOUR + 10)
    for task, done in zip(
        (task_a, task_b),
        world.many(*[("task", "finalize", str(t), "--wallet", "ann1") for t in (task_a, task_b)]),
        strict=True,
    ):
        assert f"task {task} final" in done.ok().stdout

    # -- rewards: amounts from the oracle, proofs checked against the chain
    annotators = ("ann1", "ann2", "ann3")
    *listing, no_oracle, final_status, early_refund = world.many(
        *[("rewards", "--wallet", w, "--oracle", world.oracle_url, "--json") for w in annotators],
        ("rewards", "--wallet", "ann1"),
        ("task", "status", str(task_a), "--json"),
        ("task", "refund", str(task_a), "--wallet", "requester"),
    )
    rewards = {}
    for who, done in zip(annotators, listing, strict=True):
        rows = {r["task_id"]: r for r in done.json()["rewards"]}
        assert set(rows) == {task_a, task_b}
        assert all(r["state"] == "claimable" for r in rows.values()), rows
        rewards[who] = {task: int(r["amount"]) for task, r in rows.items()}
    for task, budget in ((task_a, 1000_5 * ETH // 10), (task_b, 250_25 * ETH // 100)):
        assert sum(r[task] for r in rewards.values()) == budget
    assert rewards["ann1"][task_a] > rewards["ann2"][task_a] > rewards["ann3"][task_a]
    assert "unknown" in no_oracle.ok().stdout and "--oracle" in no_oracle.stdout
    assert final_status.json()["phase"] == "claims open"
    # the whole budget is allocated: nothing is refundable before the claim deadline
    early_refund.error("NothingToRefund")

    # -- claims: ann2 and ann3 claim both tasks in one claimMany; ann1 only task A
    world.fund("ann2")
    world.fund("ann3")
    claims = world.many(
        ("claim", "--all", "--wallet", "ann2", "--oracle", world.oracle_url),
        ("claim", "--all", "--wallet", "ann3", "--oracle", world.oracle_url),
        ("claim", "--task", str(task_a), "--wallet", "ann1", "--oracle", world.oracle_url),
    )
    for done in claims:
        done.ok()
    assert f"task {task_b}: claimed" in claims[0].stdout
    for who in ("ann2", "ann3"):
        address = world.address(who)
        assert world.token.functions.balanceOf(address).call() == rewards[who][task_a]
        assert noret.functions.balanceOf(address).call() == rewards[who][task_b]
    ann1 = world.address("ann1")
    assert world.token.functions.balanceOf(ann1).call() == rewards["ann1"][task_a]
    assert noret.functions.balanceOf(ann1).call() == 0
    again, twice, mine = world.many(
        ("claim", "--all", "--wallet", "ann2", "--oracle", world.oracle_url),
        ("claim", "--task", str(task_a), "--wallet", "ann2", "--oracle", world.oracle_url),
        ("rewards", "--wallet", "ann1", "--oracle", world.oracle_url, "--json"),
    )
    assert "nothing to claim" in again.ok().stdout
    twice.error("nothing to claim", "claimed")
    rows = {r["task_id"]: r for r in mine.json()["rewards"]}
    assert rows[task_a]["state"] == "claimed" and rows[task_b]["state"] == "claimable"

    # -- the guardian pauses the escrow: claims wait, and every claim deadline moves by the pause
    guardian = Sender(world.w3, list(world.w3.eth.accounts)[1])
    before_b = world.cli("task", "status", str(task_b), "--json").json()
    guardian.call(world.escrow.functions.pause(), what="pause")
    paused_status, paused_claim = world.many(
        ("task", "status", str(task_b), "--json"),
        ("claim", "--task", str(task_b), "--wallet", "ann1", "--oracle", world.oracle_url),
    )
    assert paused_status.json()["phase"] == "claims paused"
    assert paused_status.json()["pause"]["paused"] is True
    paused_claim.error("the escrow is paused by its guardian", "no claim expires")
    world.node.time_travel(HOUR)
    receipt = guardian.call(world.escrow.functions.unpause(), what="unpause")
    (unpaused,) = world.escrow.events.Unpaused().process_receipt(receipt, errors=DISCARD)
    seconds = int(unpaused["args"]["pausedSeconds"])
    assert seconds >= HOUR
    after_json, after_text = world.many(
        ("task", "status", str(task_b), "--json"), ("task", "status", str(task_b))
    )
    after = after_json.json()
    assert after["phase"] == "claims open" and after["pause"]["paused"] is False
    assert after["deadlines"]["claim"] == before_b["deadlines"]["claim"] + seconds
    assert after["deadlines"]["claim_original"] == before_b["deadlines"]["claim"]
    assert after["pause"]["claim_extension"] == seconds
    assert f"extended by {format_duration(seconds)} of pauses" in after_text.ok().stdout

    # -- after task B's claim deadline the requester takes back ann1's unclaimed share
    world.node.time_travel(DAY + 120)
    before = noret.functions.balanceOf(requester).call()
    done = world.cli("task", "refund", str(task_b), "--wallet", "requester").ok()
    assert "unclaimed" in done.stdout
    assert noret.functions.balanceOf(requester).call() - before == rewards["ann1"][task_b]

    # -- final state, read from chain
    late, final_a_done, final_b_done = world.many(
        ("rewards", "--wallet", "ann1", "--oracle", world.oracle_url, "--json"),
        ("task", "status", str(task_a), "--json"),
        ("task", "status", str(task_b), "--json"),
    )
    assert {r["task_id"]: r["state"] for r in late.json()["rewards"]}[task_b] == "expired"
    status_a, status_b = final_a_done.json(), final_b_done.json()
    assert status_a["phase"] == "claims open"
    assert status_a["claimed"] == status_a["budget"] and status_a["left"] == "0"
    assert status_b["phase"] == "claims closed" and status_b["left"] == "0"
    assert int(status_b["refunded"]) == rewards["ann1"][task_b]


# --------------------------------------------------------------------------------------------
# bad input, command by command: one line, non-zero exit, nothing left behind
# --------------------------------------------------------------------------------------------


def test_node_runs_until_interrupted_and_refuses_a_busy_port(world: World) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "labelproof.cli", "node", "--port", str(port)],
        cwd=ROOT,
        env=world.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"anvil running at http://127.0.0.1:{port}" in line, line
        assert Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}")).eth.chain_id == 31337
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        _stop(proc)  # type: ignore[arg-type]
    busy = world.node.url.rsplit(":", 1)[1]
    world.cli("node", "--port", busy).error(f"port {busy} is in use")
    world.cli("node", "--port", "70000").error("--port must be between 0 and 65535")


def test_deploy_bad_inputs(world: World) -> None:
    dep_file = world.tmp / "deployments" / f"{world.dep.chain_id}.json"
    before = dep_file.read_bytes()
    bad_config = world.tmp / "bad.yaml"
    bad_config.write_text("threshold: 2\noracles: []\ncolour: blue\n")
    other = world.tmp / "other-deployments"
    results = world.many(
        ("deploy", "--config", str(bad_config), "--deployments", str(other)),
        ("deploy", "--dev-account", "0"),
        ("deploy", "--dev-account", "99", "--deployments", str(other)),
        ("deploy", "--rpc-url", "http://127.0.0.1:1", "--deployments", str(other)),
        ("deploy", "--from", str(world.tmp / "nope.json"), "--deployments", str(other)),
        ("deploy", "--from", "x.json", "--dev-account", "1", "--deployments", str(other)),
    )
    results[0].error("bad.yaml", "unknown keys", "colour")
    results[1].error("already records a live deployment", "--force")
    results[2].error("--dev-account 99", "unlocks 10 accounts")
    results[3].error("cannot reach a node at http://127.0.0.1:1")
    results[4].error("no such keystore file")
    results[5].error("not both")
    assert dep_file.read_bytes() == before
    assert not other.exists()


def test_task_create_bad_inputs_leave_nothing(world: World) -> None:
    world.many(("wallet", "new", "req2"), ("wallet", "new", "broke"))
    requester = world.fund("req2")
    world.fund("broke")
    admin = world.admin()
    admin.call(world.token.functions.mint(requester, 100 * ETH), what="mint")
    fee = deploy_token(world, "FeeOnTransferToken")
    admin.call(fee.functions.mint(requester, 100 * ETH), what="mint FEE")
    spec = write_spec(world.tmp / "spec-bad.json", "bad inputs")
    gold = write_pairs(world.tmp / "gold-ok.csv", {"img-00": "cat"})
    bad_gold = write_pairs(world.tmp / "gold-bad.csv", {"img-00": "horse"})
    bad_spec = world.tmp / "spec-unknown.json"
    bad_spec.write_text(json.dumps({**json.loads(spec.read_text()), "colour": "blue"}))
    committed = world.tmp / "spec-committed.json"
    committed.write_text(
        json.dumps({**json.loads(spec.read_text()), "gold": {"commitment": "0x" + "ab" * 32}})
    )
    count, files = world.task_count(), world.data_files("req2")
    base = ("task", "create", "--wallet", "req2", "--spec", str(spec))
    cases: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
        ((*base, "--budget", "ten"), ("--budget 'ten' is not a decimal number",)),
        ((*base, "--budget", "0.0000000000000000001"), ("more decimals than the token's 18",)),
        ((*base, "--budget", "0"), ("--budget must be positive",)),
        ((*base, "--budget", "100.01"), ("less than the budget 100.01 LPR",)),
        ((*base, "--budget", "1", "--token", "0x" + "12" * 20), ("is not a contract",)),
        ((*base, "--budget", "1", "--oracle", "http://127.0.0.1:1"), ("cannot reach the oracle",)),
        ((*base, "--budget", "1", "--annotation-period", "soon"), ("--annotation-period 'soon'",)),
        (
            (*base, "--budget", "1", "--challenge-period", "30m"),
            ("--challenge-period 30m is below the protocol's floor of 1h", "rule set 1"),
        ),
        (
            (*base, "--budget", "1", "--claim-period", "12h"),
            ("--claim-period 12h is below the protocol's floor of 1d",),
        ),
        (
            (*base, "--budget", "1", "--oracle-timeout", "90m"),
            ("--oracle-timeout 90m is below the protocol's floor of 1d",),
        ),
        ((*base, "--budget", "1", "--reveal-period", "0"), ("--reveal-period must be positive",)),
        ((*base, "--budget", "1", "--gold", str(bad_gold)), ("gold-bad.csv", "'horse'")),
        (
            ("task", "create", "--wallet", "req2", "--spec", str(bad_spec), "--budget", "1"),
            ("spec-unknown.json", "unknown keys", "colour"),
        ),
        (
            (
                "task",
                "create",
                "--wallet",
                "req2",
                "--spec",
                str(committed),
                "--budget",
                "1",
                "--gold",
                str(gold),
            ),
            ("gold.commitment is already set",),
        ),
        (
            ("task", "create", "--wallet", "req2", "--spec", str(committed), "--budget", "1"),
            ("no --gold file was given",),
        ),
        (
            (
                "task",
                "create",
                "--wallet",
                "req2",
                "--spec",
                str(world.tmp / "no.json"),
                "--budget",
                "1",
            ),
            ("no.json", "no such spec file"),
        ),
        ((*base, "--budget", "1", "--wallet", "nobody"), ("no wallet 'nobody'",)),
        ((*base, "--budget", "1", "--token", str(fee.address)), ("FeeOnTransferToken",)),
        (
            ("task", "create", "--wallet", "broke", "--spec", str(spec), "--budget", "1"),
            ("holds 0 LPR, less than the budget 1 LPR",),
        ),
    ]
    results = world.many(*[args for args, _ in cases])
    for (_, fragments), done in zip(cases, results, strict=True):
        done.error(*fragments)
    wrong = world.cli(*base, "--budget", "1", env={"LABELPROOF_PASSWORD": "not it"})
    wrong.error("wrong password for wallet 'req2'")
    assert world.task_count() == count
    assert world.data_files("req2") == files
    assert fee.functions.allowance(requester, world.escrow.address).call() == 0
    assert world.token.functions.allowance(requester, world.escrow.address).call() == 0


def test_requester_commands_bad_inputs(world: World) -> None:
    world.many(("wallet", "new", "req3"), ("wallet", "new", "stranger"))
    requester = world.fund("req3")
    world.fund("stranger")
    world.admin().call(world.token.functions.mint(requester, 100 * ETH), what="mint")
    task = fresh_task(world, "req3", "c")
    other = fresh_task(world, "req3", "d")
    missing = str(world.task_count() + 50)
    results = world.many(
        ("task", "status", missing),
        ("task", "status", "one"),
        ("task", "cancel", str(task), "--wallet", "stranger"),
        ("task", "refund", str(task), "--wallet", "req3"),
        ("task", "finalize", str(task), "--wallet", "stranger"),
        ("task", "reveal-gold", str(task), "--oracle", world.oracle_url, "--wallet", "req3"),
        ("task", "reveal-gold", str(task), "--wallet", "req3"),
        ("task", "register-spec", str(task), "--oracle", world.oracle_url, "--wallet", "stranger"),
        ("task", "status"),
        ("task", "frobnicate"),
    )
    results[0].error(f"task {missing} does not exist")
    results[1].error("Invalid value")
    results[2].error("NotRequester", f"task {task} belongs to requester {requester}")
    results[3].error("NothingToRefund")
    results[4].error("NoPendingProposal")
    results[5].error("has no gold set")
    results[6].error("--oracle")
    results[7].error("no local record")
    results[8].error("Missing argument")
    results[9].error("No such command")

    # the requester cancels task c: the whole budget comes back; cancelling again is refused
    before = world.token.functions.balanceOf(requester).call()
    done = world.cli("task", "cancel", str(task), "--wallet", "req3").ok()
    assert "cancelled" in done.stdout
    assert world.token.functions.balanceOf(requester).call() - before == 10 * ETH
    world.cli("task", "cancel", str(task), "--wallet", "req3").error(
        f"task {task} is cancelled: only a funded task can be cancelled"
    )
    assert world.cli("task", "status", str(task), "--json").json()["phase"] == "cancelled"
    # the spec can be registered later from the requester's record (idempotent)
    done = world.cli(
        "task", "register-spec", str(other), "--oracle", world.oracle_url, "--wallet", "req3"
    ).ok()
    assert f"task {other}: spec 0x" in done.stdout
    # once someone attested, cancelling closes the task early: nothing is refunded now, the
    # annotation window ends, the reveal window moves up by as much
    world.cli("wallet", "new", "ann-c").ok()
    world.fund("ann-c")
    labels = write_pairs(world.tmp / "ann-c.csv", {"img-00": "cat", "img-01": "dog"})
    world.cli(
        "annotate", "commit", "--task", str(other), "--labels", str(labels), "--wallet", "ann-c"
    ).ok()
    before_task = task_dict(world.escrow.functions.task(other).call())
    balance = world.token.functions.balanceOf(requester).call()
    done = world.cli("task", "cancel", str(other), "--wallet", "req3").ok()
    assert f"task {other} closed early" in done.stdout and "annotators had attested" in done.stdout
    assert "task refund" in done.stdout
    assert world.token.functions.balanceOf(requester).call() == balance
    status = world.cli("task", "status", str(other), "--json").json()
    shift = before_task["annotationDeadline"] - status["deadlines"]["annotation"]
    assert shift > 0 and status["closed_early"] and status["status"] == "funded"
    assert status["deadlines"]["reveal"] == before_task["revealDeadline"] - shift
    assert "closed early by the requester" in world.cli("task", "status", str(other)).ok().stdout
    # now the window is closed: no more cancelling
    world.node.time_travel(1)
    world.cli("task", "cancel", str(other), "--wallet", "req3").error(
        "cannot be cancelled (AttestationsExist)", "task refund"
    )


def test_status_shows_rounds_disputes_rulings_and_bonds(world: World) -> None:
    """A bonded proposal (the committee stayed silent), disputed and ruled wrong: `task status`
    shows the round, the dispute, the ruling and every bond movement."""
    world.many(("wallet", "new", "req7"), ("wallet", "new", "ann7"))
    requester = world.fund("req7")
    world.fund("ann7")
    admin = world.admin()
    admin.call(world.token.functions.mint(requester, 100 * ETH), what="mint")
    task = fresh_task(world, "req7", "k", "--annotation-period", "1h", "--reveal-period", "1h")
    labels = write_pairs(world.tmp / "ann7.csv", {"img-00": "cat", "img-01": "dog"})
    world.cli(
        "annotate", "commit", "--task", str(task), "--labels", str(labels), "--wallet", "ann7"
    ).ok()
    waiting = world.cli("task", "status", str(task), "--json").json()
    rules = waiting["rules"]
    assert (
        rules["id"] == 1 and rules["threshold"] == 1 and rules["oracles"] == list(world.dep.oracles)
    )
    assert rules["floors"] == {"challenge": HOUR, "claim": DAY, "proposal_window": DAY}
    assert (
        waiting["bonds"]["proposer_bond"] == str(100 * ETH) and waiting["bonds"]["symbol"] == "LPR"
    )
    # past the reveal deadline and the committee's 12 h grace: anyone may propose with a bond
    world.node.time_travel(2 * HOUR + 12 * HOUR + 10)
    dev = list(world.w3.eth.accounts)
    proposer, disputer = Sender(world.w3, dev[5]), Sender(world.w3, dev[6])
    for who in (proposer, disputer):
        admin.call(world.token.functions.mint(who.address, 1_000 * ETH), what="mint")
        who.call(world.token.functions.approve(world.committee.address, 2**256 - 1), what="approve")
    tree = payout_tree({world.address("ann7"): 7 * ETH})
    proposer.call(
        world.committee.functions.proposeBonded(
            task, bytes.fromhex(tree.root[2:]), 7 * ETH, b"\x01" * 32, b"\x02" * 32
        ),
        what="proposeBonded",
    )
    pending = world.cli("task", "status", str(task), "--json").json()
    assert pending["phase"] == "challenge"
    p = pending["proposal"]
    assert p["state"] == "challenge" and p["proposer"] == proposer.address
    assert p["bond"] == str(100 * ETH) and p["total"] == str(7 * ETH) and p["root"] == tree.root
    assert p["inputs_hash"] == "0x" + "02" * 32 and pending["deadlines"]["oracle_met"]

    disputer.call(world.committee.functions.dispute(task), what="dispute")
    disputed_json, disputed_text = world.many(
        ("task", "status", str(task), "--json"), ("task", "status", str(task))
    )
    disputed = disputed_json.json()
    assert disputed["phase"] == "disputed" and disputed["proposal"]["state"] == "disputed"
    dispute = disputed["proposal"]["dispute"]
    assert dispute["disputer"] == disputer.address and dispute["bond"] == str(100 * ETH)
    assert disputed["bonds"]["locked"] == str(200 * ETH)
    assert f"disputed by {disputer.address}" in disputed_text.ok().stdout
    world.cli("task", "finalize", str(task), "--wallet", "ann7").error(
        "UnderDispute", f"disputeId={dispute['id']}"
    )

    # the arbitrator's panel (the admin here) rules the payout wrong
    arbitrator = contract_at(world.w3, "LocalArbitrator", world.dep.arbitrator)
    admin.call(arbitrator.functions.vote(dispute["id"], 2), what="rule")
    ruled_json, ruled_text = world.many(
        ("task", "status", str(task), "--json"), ("task", "status", str(task))
    )
    ruled = ruled_json.json()
    assert ruled["phase"] == "scoring" and ruled["proposal"] is None
    assert Proposal.from_raw(world.committee.functions.pending(task).call()).round == 1
    assert [h["event"] for h in ruled["history"]] == ["pending", "disputed", "ruled"]
    assert ruled["history"][0]["proposer"] == proposer.address
    assert ruled["history"][2]["verdict"] == "payout wrong" and ruled["history"][2]["round"] == 0
    flows = [(f["label"], f["amount"]) for f in ruled["bonds"]["settled"]]
    assert flows == [
        (disputer.address, str(100 * ETH)),
        ("burned", str(20 * ETH)),
        (disputer.address, str(80 * ETH)),
    ]
    assert ruled["bonds"]["locked"] == "0"
    text = ruled_text.ok().stdout
    assert f"round 0: dispute {dispute['id']} ruled: payout wrong" in text
    assert "20 LPR to burned" in text and f"bonded by {proposer.address}" in text
    assert "set 1: 1 of 1 oracles" in text
    assert "challenge 1h, claim 1d, proposal window 1d, committee grace 12h" in text

    # proposed again, with a bond; the guardian vetoes it (its bond goes back): round 2
    proposer.call(
        world.committee.functions.proposeBonded(
            task, bytes.fromhex(tree.root[2:]), 7 * ETH, b"\x01" * 32, b"\x02" * 32
        ),
        what="proposeBonded",
    )
    guardian = Sender(world.w3, dev[1])
    guardian.call(world.committee.functions.veto(task, "gold set looks wrong"), what="veto")
    vetoed_json, vetoed_text = world.many(
        ("task", "status", str(task), "--json"), ("task", "status", str(task))
    )
    vetoed = vetoed_json.json()
    assert [h["event"] for h in vetoed["history"]] == [
        "pending",
        "disputed",
        "ruled",
        "pending",
        "vetoed",
    ]
    assert vetoed["history"][4] | {"block": 0} == {
        "block": 0,
        "event": "vetoed",
        "round": 1,
        "guardian": guardian.address,
        "reason": "gold set looks wrong",
    }
    assert vetoed["bonds"]["settled"][-1]["label"] == proposer.address  # its bond, back
    assert vetoed["bonds"]["settled"][-1]["amount"] == str(100 * ETH)
    assert vetoed["phase"] == "scoring" and vetoed["bonds"]["locked"] == "0"
    assert "round 1: vetoed by the guardian: gold set looks wrong" in vetoed_text.ok().stdout


def test_annotator_commands_bad_inputs_leave_no_salts(world: World) -> None:
    world.many(("wallet", "new", "req4"), ("wallet", "new", "ann4"), ("wallet", "new", "poor"))
    requester = world.fund("req4")
    world.fund("ann4")
    world.admin().call(world.token.functions.mint(requester, 100 * ETH), what="mint")
    spec = write_spec(world.tmp / "spec-e.json", "task e", gold=False)
    task = int(
        world.cli(
            "task",
            "create",
            "--spec",
            str(spec),
            "--budget",
            "10",
            "--wallet",
            "req4",
            "--annotation-period",
            "10m",
            "--json",
        ).json()["task_id"]
    )
    good = write_pairs(world.tmp / "good.csv", {"img-00": "cat", "img-01": "dog"})
    header = world.tmp / "header.csv"
    header.write_text("thing,value\nimg-00,cat\n")
    dup = world.tmp / "dup.csv"
    dup.write_text("item,label\nimg-00,cat\nimg-00,dog\n")
    horse = write_pairs(world.tmp / "horse.csv", {"img-00": "horse"})
    other_spec = write_spec(world.tmp / "spec-other.json", "another task", gold=False)
    stranger = write_pairs(world.tmp / "stranger.csv", {"img-99": "cat"})
    commit = ("annotate", "commit", "--task", str(task), "--wallet", "ann4")
    results = world.many(
        (*commit, "--labels", str(header)),
        (*commit, "--labels", str(dup)),
        (*commit, "--labels", str(world.tmp / "none.csv")),
        (*commit, "--labels", str(horse), "--spec", str(spec)),
        (*commit, "--labels", str(stranger), "--spec", str(spec)),
        (*commit, "--labels", str(good), "--spec", str(other_spec)),
        ("annotate", "commit", "--task", "999", "--wallet", "ann4", "--labels", str(good)),
        (*commit, "--labels", str(good), "--relay", "http://127.0.0.1:1"),
        # no ETH for gas: the salts file is written before sending and removed again
        ("annotate", "commit", "--task", str(task), "--wallet", "poor", "--labels", str(good)),
        (
            "annotate",
            "reveal",
            "--task",
            str(task),
            "--wallet",
            "ann4",
            "--oracle",
            world.oracle_url,
        ),
        ("rewards", "--wallet", "nobody"),
        ("claim", "--wallet", "ann4", "--oracle", world.oracle_url),
        ("claim", "--wallet", "ann4", "--all", "--task", "1", "--oracle", world.oracle_url),
        ("claim", "--wallet", "ann4", "--task", str(task), "--oracle", world.oracle_url),
        ("claim", "--wallet", "ann4", "--all"),
    )
    results[0].error("header.csv", "header must be item,label or question,answer")
    results[1].error("dup.csv", "row 3", "already on row 2")
    results[2].error("none.csv", "cannot read")
    results[3].error("'horse'", "not in the task's label set")
    results[4].error("'img-99'", "not one of the task's items")
    results[5].error("is not task", "specHash")
    results[6].error("task 999 does not exist")
    results[7].error("cannot reach the relayer")
    results[8].error("attest: not sent", "has no ETH to pay for gas")
    results[9].error("no labels and salts for task")
    results[10].error("no wallet 'nobody'")
    results[11].error("give --task ID or --all")
    results[12].error("give --task ID or --all")
    results[13].error(f"task {task}: nothing to claim")
    results[14].error("--oracle")
    assert world.data_files("ann4") == set()
    assert world.data_files("poor") == set()
    assert world.registry.functions.hasAttestations(task).call() is False

    # a good commit, then one after the window: refused before any salt is written
    world.cli(*commit, "--labels", str(good)).ok()
    files = world.data_files("ann4")
    record = world.tmp / "wallets" / "ann4.data" / next(iter(files))
    content = record.read_bytes()
    world.node.time_travel(11 * 60)
    world.cli(*commit, "--labels", str(good)).error("annotation window closed")
    assert record.read_bytes() == content
    # the oracle has no spec for this task: the reveal is refused, the record stays
    world.cli(
        "annotate", "reveal", "--task", str(task), "--wallet", "ann4", "--oracle", world.oracle_url
    ).error("oracle refused", "spec", "HTTP 409")
    world.cli(
        "annotate",
        "reveal",
        "--task",
        str(task),
        "--wallet",
        "ann4",
        "--oracle",
        "http://127.0.0.1:1",
    ).error("cannot reach the oracle")
    assert json.loads(record.read_bytes()) == json.loads(content)


def _signed(
    world: World, key: LocalAccount, task: int, root: bytes, version: int
) -> dict[str, Any]:
    data = attestation_typed_data(
        world.dep.chain_id, world.dep.registry, task, key.address, root, 3, version
    )
    sig = key.sign_message(encode_typed_data(full_message=data)).signature
    return {
        "task_id": task,
        "annotator": key.address,
        "root": "0x" + root.hex(),
        "item_count": 3,
        "version": version,
        "signature": "0x" + bytes(sig).hex(),
    }


def test_relay_checks_signatures_and_a_bad_entry_never_blocks_a_batch(world: World) -> None:
    world.cli("wallet", "new", "req5").ok()
    requester = world.fund("req5")
    world.admin().call(world.token.functions.mint(requester, 100 * ETH), what="mint")
    task = fresh_task(world, "req5", "f")
    http = httpx.Client(base_url=world.relay_url, timeout=30)
    a, b, c, d = (Account.create() for _ in range(4))

    # off-chain checks: 4xx, nothing queued
    forged = _signed(world, a, task, b"\x01" * 32, 1)
    forged["annotator"] = b.address
    r = http.post("/attestations", json=forged)
    assert r.status_code == 422 and "not the annotator" in r.json()["error"]
    r = http.post("/attestations", json={**_signed(world, a, task, b"\x01" * 32, 1), "version": 2})
    assert r.status_code == 422
    r = http.post(
        "/attestations", json={**_signed(world, a, task, b"\x01" * 32, 1), "task_id": 999}
    )
    assert r.status_code in (409, 422)
    r = http.post("/attestations", json=_signed(world, a, task, b"\x01" * 32, 0))
    assert r.status_code == 422
    r = http.post(
        "/attestations", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert http.get("/attestations/0x" + "00" * 32).status_code == 404
    assert http.get("/health").json()["queued"] == 0

    # four valid-looking entries in one batch: b signs two different roots with the same
    # version, so the second one is skipped on chain (StaleVersion); the rest land with it
    entries = [
        _signed(world, a, task, b"\x0a" * 32, 1),
        _signed(world, b, task, b"\x0b" * 32, 1),
        _signed(world, b, task, b"\x0c" * 32, 1),
        _signed(world, c, task, b"\x0d" * 32, 1),
    ]
    hashes = []
    for body in entries:
        r = http.post("/attestations", json=body)
        assert r.status_code == 202, r.text
        hashes.append(r.json()["hash"])
    assert http.post("/attestations", json=entries[0]).status_code == 200  # idempotent

    def settled() -> list[dict[str, Any]] | None:
        states = [http.get(f"/attestations/{h}").json() for h in hashes]
        done = all(s["status"] in ("confirmed", "failed") for s in states)
        return states if done else None

    states = wait_for("the relayer's batch", settled, world)
    assert [s["status"] for s in states].count("confirmed") == 3
    failed = [s for s in states if s["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["annotator"] == b.address
    assert failed[0]["reason"] == "StaleVersion"
    assert failed[0]["error"].startswith("skipped on chain: StaleVersion: version 1 is not above")
    assert len({s["tx_hash"] for s in states}) == 1  # one attestBySig for the whole batch
    for key in (a, b, c):
        assert world.registry.functions.attestation(task, key.address).call()[1] == 1
    # stale now that version 1 is on chain
    r = http.post("/attestations", json=_signed(world, c, task, b"\x0e" * 32, 1))
    assert r.status_code == 409 and "stale" in r.json()["error"]
    # d's signature is fine, but the task closes before the batch: refused with 409
    world.node.time_travel(4 * DAY)
    r = http.post("/attestations", json=_signed(world, d, task, b"\x0f" * 32, 1))
    assert r.status_code == 409 and "closed" in r.json()["error"]


def _relay(world: World, label: str) -> tuple[Any, int]:
    from labelproof.client import Chain
    from labelproof.relayer import Relay, RelayConfig
    from labelproof.relayer.store import Store

    world.cli("wallet", "new", f"req-{label}").ok()
    requester = world.fund(f"req-{label}")
    world.admin().call(world.token.functions.mint(requester, 100 * ETH), what="mint")
    task = fresh_task(world, f"req-{label}", label)
    chain = Chain.connect(world.node.url, world.tmp / "deployments")
    key = Account.create()
    world.node.set_balance(key.address, ETH)
    store = Store(f"sqlite:///{world.tmp / f'relay-{label}.db'}")
    relay = Relay(chain, key, store, RelayConfig(batch_size=10, max_wait=60))
    return relay, task


def test_relay_batch_logic_in_process(world: World) -> None:
    """Relay.flush without timing: the whole batch goes out in one attestBySig; entries the
    registry skips are failed with their decoded reason, the others confirmed."""
    from labelproof.relay import AttestationIn, RelayError

    relay, task = _relay(world, "g")
    a, b, c = (Account.create() for _ in range(3))
    bodies = [
        _signed(world, a, task, b"\x1a" * 32, 1),
        _signed(world, b, task, b"\x1b" * 32, 1),
        _signed(world, b, task, b"\x1c" * 32, 1),  # same version as the one before
        _signed(world, c, task, b"\x1d" * 32, 1),
        _signed(world, c, task, b"\x1e" * 32, 2),  # a newer version of c: both land, in order
    ]
    hashes = [relay.submit(AttestationIn(**body))[1]["hash"] for body in bodies]
    with pytest.raises(RelayError, match="not the annotator"):
        relay.submit(AttestationIn(**{**bodies[0], "annotator": b.address}))
    assert relay.queued() == 5 and not relay.due()
    batch = relay.flush()
    states = [relay.status(h) for h in hashes]
    assert [s["status"] for s in states] == [
        "confirmed",
        "confirmed",
        "failed",
        "confirmed",
        "confirmed",
    ]
    assert states[2]["reason"] == "StaleVersion" and "StaleVersion" in str(states[2]["error"])
    assert len({s["tx_hash"] for s in states}) == 1
    assert batch is not None and batch.state == "mined" and relay.queued() == 0
    assert world.registry.functions.attestation(task, c.address).call()[1] == 2
    # which of b's two entries landed is the chain's order, and the relayer agrees with it
    landed = bodies[1] if states[1]["status"] == "confirmed" else bodies[2]
    root = bytes.fromhex(landed["root"][2:])
    assert world.registry.functions.isAttested(task, b.address, root, 3).call()


def test_relay_a_stale_entry_fails_alone_and_nothing_is_lost(world: World) -> None:
    """An annotator attests directly after the relayer queued its signed version 1: in the
    batch, that entry is skipped on chain (StaleVersion) and the good ones are recorded."""
    from labelproof.relay import AttestationIn

    relay, task = _relay(world, "h")
    keys = [Account.create() for _ in range(4)]
    bodies = [_signed(world, k, task, bytes([0x20 + i]) * 32, 1) for i, k in enumerate(keys)]
    hashes = [relay.submit(AttestationIn(**body))[1]["hash"] for body in bodies]
    late = keys[2]
    world.node.set_balance(late.address, ETH)
    Sender(world.w3, late).call(
        world.registry.functions.attest(task, b"\x99" * 32, 3), what="direct attest"
    )
    batch = relay.flush()
    states = {h: relay.status(h) for h in hashes}
    assert batch is not None and batch.state == "mined" and relay.queued() == 0
    assert all(s["status"] in ("confirmed", "failed") for s in states.values())  # none lost
    stale = states[hashes[2]]
    assert stale["status"] == "failed" and stale["reason"] == "StaleVersion"
    assert "registry's version 1" in stale["error"] and "sign version 2" in stale["error"]
    for i in (0, 1, 3):
        state = states[hashes[i]]
        assert state["status"] == "confirmed" and state["error"] is None
        assert world.registry.functions.isAttested(
            task, keys[i].address, bytes([0x20 + i]) * 32, 3
        ).call()
    assert len({s["tx_hash"] for s in states.values()}) == 1  # one transaction for all four
    # the annotator's own direct attestation stands
    assert world.registry.functions.isAttested(task, late.address, b"\x99" * 32, 3).call()
