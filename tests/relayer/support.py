"""What the relayer tests share: an anvil with a v2 deployment, open tasks, signed attestation
bodies, and the relayer as a real process (``python -m labelproof.relayer serve``)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from labelproof.chain import Sender, contract_at
from labelproof.commitments import sign_attestation
from labelproof.deploy import DeployConfig, Deployment, deploy_suite
from labelproof.node import LocalNode, free_port, start_anvil
from labelproof.relayer.__main__ import KEY_ENV
from labelproof.relayer.service import CRASH_ENV

ROOT = Path(__file__).resolve().parents[2]
DAY = 86_400
TOKEN = 10**18
BUDGET = 100 * TOKEN


@dataclass
class Env:
    node: LocalNode
    w3: Web3
    dep: Deployment
    deployments: Path  # directory with <chainId>.json
    escrow: Contract
    registry: Contract
    token: Contract
    requester: Sender
    tmp: Path

    @property
    def rpc(self) -> str:
        return self.node.url

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])


def make_env(tmp: Path, node: LocalNode | None = None) -> Env:
    node = node or start_anvil(accounts=6, log=tmp / "anvil.log")
    w3 = node.w3
    dev = list(w3.eth.accounts)
    admin = Sender(w3, dev[0])
    oracle = Account.create()
    dep = deploy_suite(w3, admin, DeployConfig(guardian=dev[1], oracles=(oracle.address,)))
    deployments = tmp / "deployments"
    deployments.mkdir(exist_ok=True)
    (deployments / f"{dep.chain_id}.json").write_text(dep.to_json())
    assert dep.reward_token is not None
    token = contract_at(w3, "RewardToken", dep.reward_token)
    requester = Sender(w3, dev[2])
    admin.call(token.functions.mint(requester.address, 1_000 * BUDGET), what="mint")
    return Env(
        node=node,
        w3=w3,
        dep=dep,
        deployments=deployments,
        escrow=contract_at(w3, "TaskEscrow", dep.escrow),
        registry=contract_at(w3, "AttestationRegistry", dep.registry),
        token=token,
        requester=requester,
        tmp=tmp,
    )


def open_task(env: Env, annotation: int = DAY) -> int:
    """Create and fund a task whose annotation window is open for `annotation` seconds."""
    now = env.now()
    params = (
        b"\x01" * 32,
        bytes(32),
        now + annotation,
        now + 2 * annotation,
        DAY,
        30 * DAY,
        7 * DAY,
    )
    env.requester.call(env.token.functions.approve(env.escrow.address, BUDGET), what="approve")
    env.requester.call(
        env.escrow.functions.createTask(env.token.address, BUDGET, params), what="createTask"
    )
    return int(env.escrow.functions.taskCount().call())


def signed_body(
    env: Env,
    task_id: int,
    key: LocalAccount | None = None,
    version: int = 1,
    root: bytes | None = None,
) -> dict[str, Any]:
    key = key or Account.create()
    root = root or os.urandom(32)
    s = sign_attestation(key.key, env.dep.chain_id, env.dep.registry, task_id, root, 10, version)
    return {
        "task_id": task_id,
        "annotator": key.address,
        "root": "0x" + root.hex(),
        "item_count": 10,
        "version": version,
        "signature": "0x" + (s.r + s.s + bytes([s.v])).hex(),
    }


def digest_of(env: Env, body: dict[str, Any]) -> str:
    from labelproof.relayer.intake import attestation_digest, domain_separator

    sep = domain_separator(env.dep.chain_id, env.dep.registry)
    return (
        "0x"
        + attestation_digest(
            sep,
            body["task_id"],
            body["annotator"],
            bytes.fromhex(body["root"][2:]),
            body["item_count"],
            body["version"],
        ).hex()
    )


def on_chain_version(env: Env, body: dict[str, Any]) -> int:
    return int(env.registry.functions.attestation(body["task_id"], body["annotator"]).call()[1])


def attested_events(env: Env, task_id: int) -> list[Any]:
    return list(
        env.registry.events.Attested().get_logs(from_block=0, argument_filters={"taskId": task_id})
    )


class RelayerProcess:
    """The relayer as a subprocess; its key, database and port survive restarts."""

    def __init__(self, env: Env, name: str, rpc_url: str | None = None, **options: Any) -> None:
        self.env = env
        self.key = Account.create()
        env.node.set_balance(self.key.address, 100 * TOKEN)
        self.db = env.tmp / f"relayer-{name}.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.rpc_url = rpc_url or env.rpc
        self.log = env.tmp / f"relayer-{name}.log"
        self.options = {"batch-size": 50, "max-wait": 0.2, "poll-interval": 0.2, **options}
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def start(self, crash_at: str | None = None, **overrides: Any) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        environ = {**os.environ, "PYTHONPATH": str(ROOT), KEY_ENV: self.key.key.hex()}
        environ.pop(CRASH_ENV, None)
        if crash_at:
            environ[CRASH_ENV] = crash_at
        options = {**self.options, **overrides}
        cmd = [
            sys.executable,
            "-m",
            "labelproof.relayer",
            "serve",
            "--rpc-url",
            self.rpc_url,
            "--deployments",
            str(self.env.deployments),
            "--db-url",
            f"sqlite:///{self.db}",
            "--port",
            str(self.port),
            "--rpc-timeout",
            "2",
        ]
        for name, value in options.items():
            if value is True:
                cmd.append(f"--{name}")
            elif value is not False and value is not None:
                cmd += [f"--{name}", str(value)]
        with self.log.open("ab") as out:
            out.write(f"\n=== start (crash_at={crash_at}) {options} ===\n".encode())
            out.flush()
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=environ, stdout=out, stderr=out)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"relayer exited early:\n{self.tail()}")
            try:
                if self.http.get("/health").status_code in (200, 503):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"relayer did not answer:\n{self.tail()}")

    def post(self, body: dict[str, Any]) -> httpx.Response:
        return self.http.post("/attestations", json=body)

    def state(self, digest: str) -> dict[str, Any]:
        r = self.http.get(f"/attestations/{digest}")
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill9(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join([t for t in text if '" 200 OK' not in t][-lines:])

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Read the relayer's database directly (the process may be dead)."""
        conn = sqlite3.connect(self.db)
        try:
            return list(conn.execute(sql, args).fetchall())
        finally:
            conn.close()

    def wait_for(self, what: str, check: Any, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{self.tail()}")

    def all_confirmed(self, digests: list[str]) -> bool:
        return all(self.state(d)["status"] == "confirmed" for d in digests)


def in_process_relay(env: Env, name: str, **config: Any) -> Any:
    """A Relay object (no threads) on its own database: for the policy tests and the fuzz."""
    from labelproof.client import Chain
    from labelproof.relayer import Relay, RelayConfig
    from labelproof.relayer.store import Store

    key = Account.create()
    env.node.set_balance(key.address, 100 * TOKEN)
    chain = Chain.connect(env.rpc, env.deployments)
    relay = Relay(chain, key, Store(f"sqlite:///{env.tmp / f'{name}.db'}"), RelayConfig(**config))
    relay.poll()
    return relay
