"""A local chain for service tests and benchmarks: anvil, a v2 deployment, open tasks and
signed attestation bodies (the relayer tests and benchmarks/bench_relayer.py share it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from labelproof.chain import Sender, contract_at
from labelproof.commitments import sign_attestation
from labelproof.deploy import DeployConfig, Deployment, deploy_suite
from labelproof.node import LocalNode, start_anvil

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
