"""Outside clients against the real contracts: `cast` (Foundry's CLI) reads what a claim did and
a task's state as an auditor would, and the lifecycle runs on Ganache as well as anvil.

Ganache 7.9 runs the bytecode because it is compiled for EVM shanghai (no transient storage, no
mcopy); ganache is started with `--hardfork shanghai`.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.logs import DISCARD

from labelproof.chain import Sender, contract_at
from labelproof.commitments import annotation_leaf, annotation_root, new_salt, sign_attestation
from labelproof.deploy import DeployConfig, deploy_suite
from labelproof.merkle import payout_tree
from labelproof.node import free_port, start_anvil

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "node_modules" / ".bin"
DAY = 86_400
TOKEN = 10**18
INPUTS_HASH = b"\x0e" * 32  # keccak256 of the published inputs bundle, in a real deployment


@pytest.fixture(autouse=True)
def isolation() -> None:
    """These tests run their own chains, not brownie's."""


@dataclass
class Chain:
    name: str
    url: str
    w3: Web3
    accounts: list[str]
    time_travel: Callable[[int], None]
    fund: Callable[[str, int], None]


@dataclass
class Outcome:
    chain: Chain
    escrow: Any
    registry: Any
    token: Any
    task_id: int
    paid: dict[str, int]
    refunded: int
    claim_deadline: int


def run_lifecycle(chain: Chain) -> Outcome:
    """Deploy, fund a task, attest (direct and relayed), propose, finalize, claim, refund."""
    w3 = chain.w3
    admin = Sender(w3, chain.accounts[0])
    oracle = Sender(w3, chain.accounts[2])
    dep = deploy_suite(
        w3, admin, DeployConfig(guardian=chain.accounts[1], oracles=(oracle.address,))
    )
    escrow = contract_at(w3, "TaskEscrow", dep.escrow)
    registry = contract_at(w3, "AttestationRegistry", dep.registry)
    committee = contract_at(w3, "OracleCommittee", dep.committee)
    token = contract_at(w3, "RewardToken", dep.reward_token or "")
    requester = Sender(w3, chain.accounts[3])
    budget = 1_000 * TOKEN
    admin.call(token.functions.mint(requester.address, budget), what="mint")
    now = int(w3.eth.get_block("latest")["timestamp"])
    params = (b"\x01" * 32, b"\x02" * 32, now + DAY, now + 2 * DAY, DAY, 30 * DAY, 7 * DAY)
    requester.call(token.functions.approve(escrow.address, budget), what="approve")
    requester.call(escrow.functions.createTask(token.address, budget, params), what="create")
    task_id = int(escrow.functions.taskCount().call())

    annotators = [Account.create() for _ in range(3)]
    for ann in annotators:
        chain.fund(ann.address, TOKEN)
    roots = {}
    for ann in annotators:
        leaves = [
            annotation_leaf(
                dep.chain_id, dep.escrow, task_id, f"item-{i}", ann.address, "cat", new_salt()
            )
            for i in range(5)
        ]
        roots[ann.address] = annotation_root(leaves)
    Sender(w3, annotators[0]).call(
        registry.functions.attest(task_id, roots[annotators[0].address], 5), what="attest"
    )
    signed = [
        sign_attestation(a.key, dep.chain_id, dep.registry, task_id, roots[a.address], 5, 1)
        for a in annotators[1:]
    ]
    # a replayed signature rides along: the registry skips it and records the others
    Sender(w3, chain.accounts[4]).call(
        registry.functions.attestBySig([s.as_tuple() for s in [*signed, signed[0]]]),
        what="attestBySig",
    )
    for ann in annotators:
        assert registry.functions.isAttested(task_id, ann.address, roots[ann.address], 5).call()

    paid = {
        annotators[0].address: 500 * TOKEN,
        annotators[1].address: 300 * TOKEN,
        annotators[2].address: 100 * TOKEN,
    }
    tree = payout_tree(paid)
    chain.time_travel(2 * DAY + 1)
    oracle.call(
        committee.functions.propose(
            task_id, tree.root, sum(paid.values()), b"\x03" * 32, INPUTS_HASH
        ),
        what="propose",
    )
    chain.time_travel(DAY + 1)
    receipt = Sender(w3, chain.accounts[5]).call(
        committee.functions.finalize(task_id), what="finalize"
    )
    (finalized,) = escrow.events.PayoutFinalized().process_receipt(receipt, errors=DISCARD)
    for index, (account, amount) in tree.entries():
        who = next(a for a in annotators if a.address == account)
        Sender(w3, who).call(
            escrow.functions.claim(task_id, account, int(amount), tree.get_proof(index)),
            what="claim",
        )
    before = int(token.functions.balanceOf(requester.address).call())
    requester.call(escrow.functions.refund(task_id), what="refund")
    refunded = int(token.functions.balanceOf(requester.address).call()) - before
    return Outcome(
        chain,
        escrow,
        registry,
        token,
        task_id,
        paid,
        refunded,
        int(finalized["args"]["claimDeadline"]),
    )


@pytest.fixture(scope="module")
def anvil() -> Iterator[Chain]:
    node = start_anvil(accounts=10)
    try:
        yield Chain(
            "anvil",
            node.url,
            node.w3,
            list(node.w3.eth.accounts),
            node.time_travel,
            node.set_balance,
        )
    finally:
        node.stop()


@pytest.fixture(scope="module")
def ganache() -> Iterator[Chain]:
    port = free_port()
    proc = subprocess.Popen(
        [
            str(BIN / "ganache"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--hardfork",
            "shanghai",
            "--wallet.deterministic",
            "--wallet.totalAccounts",
            "10",
            "--miner.blockGasLimit",
            "30000000",
            "--logging.quiet",
            "--chain.chainId",
            "1337",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    deadline = time.monotonic() + 60
    while not _connected(w3):
        assert proc.poll() is None, "ganache exited at start"
        assert time.monotonic() < deadline, "ganache did not start within 60 s"
        time.sleep(0.2)

    def travel(seconds: int) -> None:
        w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def fund(address: str, wei: int) -> None:
        w3.provider.make_request("evm_setAccountBalance", [address, hex(wei)])  # type: ignore[arg-type]

    try:
        yield Chain("ganache", url, w3, list(w3.eth.accounts), travel, fund)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _connected(w3: Web3) -> bool:
    try:
        return bool(w3.is_connected())
    except Exception:
        return False


def cast(*args: str, url: str) -> str:
    done = subprocess.run(
        [str(BIN / "cast"), *args, "--rpc-url", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_cast_reads_claims_and_task_state(anvil: Chain) -> None:
    out = run_lifecycle(anvil)
    url, escrow, token = anvil.url, out.escrow.address, out.token.address
    for account, amount in out.paid.items():
        balance = cast("call", token, "balanceOf(address)(uint256)", account, url=url)
        assert int(balance.split()[0]) == amount
        claimed = cast(
            "call", escrow, "isClaimed(uint256,address)(bool)", str(out.task_id), account, url=url
        )
        assert claimed == "true"
    window = cast(
        "call",
        escrow,
        "payoutWindow(uint256)(uint8,uint24,uint128,uint64,uint32,uint32)",
        str(out.task_id),
        url=url,
    ).splitlines()
    assert int(window[0]) == 3  # Status.Final
    assert int(window[1]) == 1  # rule set 1
    assert int(window[2].split()[0]) == 1_000 * TOKEN
    # the effective claim deadline (no pause: the one PayoutFinalized announced)
    deadline = cast("call", escrow, "claimDeadline(uint256)(uint256)", str(out.task_id), url=url)
    assert int(deadline.split()[0]) == out.claim_deadline
    skipped = cast(
        "logs",
        "--address",
        out.registry.address,
        "AttestationSkipped(uint256 indexed,uint256 indexed,address indexed,bytes4)",
        "--from-block",
        "0",
        url=url,
    )
    assert skipped.count("transactionHash") == 1
    held = cast("call", token, "balanceOf(address)(uint256)", escrow, url=url)
    assert int(held.split()[0]) == 0
    assert out.refunded == 100 * TOKEN
    # the raw storage-level view an auditor would script: the task struct, decoded by cast
    task = cast(
        "call",
        escrow,
        "task(uint256)((bytes32,uint128,uint128,address,uint64,uint8,uint24,"
        "uint128,uint64,uint32,uint32,address,uint64,uint32,uint128,bytes32,bytes32,"
        "bytes32))",
        str(out.task_id),
        url=url,
    )
    assert str(sum(out.paid.values())) in task.replace(" ", "")


def test_lifecycle_runs_on_ganache(ganache: Chain) -> None:
    out = run_lifecycle(ganache)
    for account, amount in out.paid.items():
        assert out.token.functions.balanceOf(account).call() == amount
    assert out.refunded == 100 * TOKEN
    assert out.token.functions.balanceOf(out.escrow.address).call() == 0
    assert ganache.w3.eth.chain_id == 1337
