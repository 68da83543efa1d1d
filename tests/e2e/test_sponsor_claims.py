"""Sponsored batch claims (labelproof.sponsor, `labelproof claim-batch`) on a real anvil.

One anvil (a free port), a deployment made with deploy_suite, a MockERC20 task whose payout
tree pays twelve fresh accounts (no ETH, no tokens: they never sign or pay anything). A sponsor
pays them with claimBatch transactions, from Python and from the command line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from labelproof.chain import Sender, contract_at
from labelproof.client import ActionError, Chain
from labelproof.deploy import DeployConfig, Deployment, deploy_suite
from labelproof.merkle import StandardMerkleTree, payout_tree
from labelproof.node import LocalNode, start_anvil
from labelproof.sponsor import sponsor_claims

ROOT = Path(__file__).resolve().parents[2]
DAY = 86_400
E18 = 10**18
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def isolation() -> None:
    """Shadow tests/conftest.py's brownie snapshot fixture: this module runs its own anvil."""


@dataclass
class World:
    node: LocalNode
    w3: Web3
    dep: Deployment
    chain: Chain
    escrow: Any
    committee: Any
    token: Any
    admin: Sender
    oracle: Sender
    requester: Sender
    sponsor: Sender
    guardian: Sender
    env: dict[str, str]
    tmp: Path

    def balance(self, who: str) -> int:
        return int(self.token.functions.balanceOf(who).call())

    def final_task(self, payouts: dict[str, int]) -> tuple[int, StandardMerkleTree]:
        """A task created, proposed by the 1-of-1 committee and finalized."""
        now = int(self.w3.eth.get_block("latest")["timestamp"])
        budget = 10_000 * E18
        params = (b"\x01" * 32, b"\x02" * 32, now + DAY, now + 2 * DAY, DAY, 30 * DAY, 7 * DAY)
        self.requester.call(self.token.functions.approve(self.escrow.address, budget), what="ok")
        self.requester.call(
            self.escrow.functions.createTask(self.token.address, budget, params), what="create"
        )
        task_id = int(self.escrow.functions.taskCount().call())
        tree = payout_tree(payouts)
        self.node.time_travel(2 * DAY + 1)
        fn = self.committee.functions.propose(
            task_id, tree.root, sum(payouts.values()), b"\x03" * 32, b"\x04" * 32
        )
        self.oracle.call(fn, what="propose")
        self.node.time_travel(DAY + 1)
        self.sponsor.call(self.committee.functions.finalize(task_id), what="finalize")
        return task_id, tree


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("sponsor")
    node = start_anvil(accounts=10, log=tmp / "anvil.log")
    try:
        w3 = node.w3
        dev = [Sender(w3, a) for a in w3.eth.accounts]
        admin, oracle, requester, sponsor, guardian = dev[0], dev[1], dev[2], dev[3], dev[4]
        dep = deploy_suite(
            w3,
            admin,
            DeployConfig(oracles=(oracle.address,), threshold=1, guardian=guardian.address),
        )
        (tmp / "deployments").mkdir()
        (tmp / "deployments" / f"{w3.eth.chain_id}.json").write_text(dep.to_json())
        token = admin.deploy("MockERC20", "Pay", "PAY", 18)
        admin.call(token.functions.mint(requester.address, 10**30), what="mint")
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
        yield World(
            node=node,
            w3=w3,
            dep=dep,
            chain=Chain(w3, dep),
            escrow=contract_at(w3, "TaskEscrow", dep.escrow),
            committee=contract_at(w3, "OracleCommittee", dep.committee),
            token=token,
            admin=admin,
            oracle=oracle,
            requester=requester,
            sponsor=sponsor,
            guardian=guardian,
            env=env,
            tmp=tmp,
        )
    finally:
        node.stop()


def fresh(n: int) -> dict[str, int]:
    return {Account.create().address: (i + 1) * E18 for i in range(n)}


def test_sponsor_pays_every_unclaimed_leaf(world: World) -> None:
    """One account claims by itself first; the sponsor pays the other eleven in batches of five
    and reports the twelfth as already claimed. The annotators hold no ETH throughout."""
    payouts = fresh(12)
    task_id, tree = world.final_task(payouts)
    accounts = list(payouts)
    early = accounts[3]
    index = next(i for i, v in tree.entries() if v[0] == early)
    world.sponsor.call(
        world.escrow.functions.claim(task_id, early, payouts[early], tree.get_proof(index)),
        what="claim",
    )
    said: list[str] = []
    done = sponsor_claims(
        world.chain, world.sponsor.address, task_id, tree, batch_size=5, say=said.append
    )

    assert sorted(done.paid) == sorted((a, m) for a, m in payouts.items() if a != early)
    assert done.skipped == [(early, payouts[early])]
    assert len(done.transactions) == 3  # 11 leaves, 5 per batch
    assert done.gas_used > 0 and any("batch 3 of 3" in line for line in said)
    for account, amount in payouts.items():
        assert world.balance(account) == amount
        assert world.w3.eth.get_balance(account) == 0
    assert int(world.escrow.functions.task(task_id).call()[1]) == sum(payouts.values())


def test_sponsor_pays_chosen_accounts_only(world: World) -> None:
    payouts = fresh(6)
    task_id, tree = world.final_task(payouts)
    chosen = list(payouts)[1:3]
    done = sponsor_claims(world.chain, world.sponsor.address, task_id, tree, chosen)
    assert sorted(a for a, _ in done.paid) == sorted(chosen)
    for account in payouts:
        assert world.balance(account) == (payouts[account] if account in chosen else 0)
    # the same accounts again: nothing is sent, both are reported as already claimed
    again = sponsor_claims(world.chain, world.sponsor.address, task_id, tree, chosen)
    assert again.transactions == [] and sorted(a for a, _ in again.skipped) == sorted(chosen)


def test_sponsor_refuses_bad_input_before_sending(world: World) -> None:
    payouts = fresh(3)
    task_id, tree = world.final_task(payouts)
    other = payout_tree(fresh(3))
    sponsor = world.sponsor.address
    nonce = world.w3.eth.get_transaction_count(sponsor)
    with pytest.raises(ActionError, match=r"is not task .* payout root"):
        sponsor_claims(world.chain, sponsor, task_id, other)
    stranger = Account.create().address
    with pytest.raises(ActionError, match=f"{stranger} has no leaf in task {task_id}"):
        sponsor_claims(world.chain, sponsor, task_id, tree, [stranger])
    with pytest.raises(ActionError, match="batch size must be at least 1"):
        sponsor_claims(world.chain, sponsor, task_id, tree, batch_size=0)
    with pytest.raises(ActionError, match="does not exist"):
        sponsor_claims(world.chain, sponsor, 10**6, tree)
    world.guardian.call(world.escrow.functions.pause(), what="pause")
    try:
        with pytest.raises(ActionError, match="paused by its guardian"):
            sponsor_claims(world.chain, sponsor, task_id, tree)
    finally:
        world.guardian.call(world.escrow.functions.unpause(), what="unpause")
    assert world.w3.eth.get_transaction_count(sponsor) == nonce
    assert all(world.balance(a) == 0 for a in payouts)


def test_sponsor_refuses_a_task_that_is_not_final(world: World) -> None:
    now = int(world.w3.eth.get_block("latest")["timestamp"])
    params = (b"\x01" * 32, b"\x02" * 32, now + DAY, now + 2 * DAY, DAY, 30 * DAY, 7 * DAY)
    world.requester.call(world.token.functions.approve(world.escrow.address, E18), what="ok")
    world.requester.call(
        world.escrow.functions.createTask(world.token.address, E18, params), what="create"
    )
    task_id = int(world.escrow.functions.taskCount().call())
    with pytest.raises(ActionError, match=f"task {task_id} is funded"):
        sponsor_claims(world.chain, world.sponsor.address, task_id, payout_tree(fresh(2)))


def test_claim_batch_command(world: World) -> None:
    """`labelproof claim-batch` from a keystore wallet, with the tree from a file."""
    payouts = fresh(4)
    task_id, tree = world.final_task(payouts)
    tree_file = world.tmp / f"tree-{task_id}.json"
    tree_file.write_text(json.dumps(tree.dump()))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "labelproof.cli", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=world.env,
            stdin=subprocess.DEVNULL,
            timeout=180,
            check=False,
        )

    made = cli("wallet", "new", "sponsor")
    assert made.returncode == 0, made.stderr
    keystore = json.loads((world.tmp / "wallets" / "sponsor.json").read_text())
    world.node.set_balance(Web3.to_checksum_address("0x" + keystore["address"]), 10 * E18)

    base = ("claim-batch", "--wallet", "sponsor", "--task", str(task_id), "--tree", str(tree_file))
    first = next(iter(payouts))
    done = cli(*base, "--account", first)
    assert done.returncode == 0, done.stderr
    assert f"task {task_id}: paid 1 accounts" in done.stdout
    done = cli(*base)
    assert done.returncode == 0, done.stderr
    assert f"task {task_id}: paid 3 accounts" in done.stdout
    assert f"skipped {first}: already claimed" in done.stdout
    assert all(world.balance(a) == m for a, m in payouts.items())

    bad = cli(*base[:-1], str(world.tmp / "missing.json"))
    assert bad.returncode != 0
    assert bad.stderr.startswith("error: ") and "cannot read the payout tree" in bad.stderr
