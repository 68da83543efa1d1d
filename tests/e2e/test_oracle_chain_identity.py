"""The oracle and its chain: a reset devnet (anvil_reset on the same port) and a reorg deeper
than the confirmations, on a real anvil of this module's own.

* reset: the oracle notices the new genesis block, stops acting on the old chain's state
  (task requests 503, /health ``down`` saying what to do) instead of refusing the new task 1's
  correct spec; restarted with ``--archive-stale-state`` it archives the old database, takes
  the new task 1's spec and reveals, and proposes.
* reorg: the follower notices that the block its cursor stood on is gone, forgets the events
  of the orphaned blocks, keeps the reveals, and re-opens this oracle's confirmed vote.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labelproof.node import LocalNode, start_anvil
from labelproof.oracle.follower import Follower
from labelproof.oracle.onchain import OracleChain
from labelproof.oracle.store import ProposalRow, RevealRow, Store
from tests.e2e.test_oracle_service import (
    DAY,
    Oracle,
    deploy_env,
    is_pending,
    make_task,
    votes_in,
    wait_for,
)


@pytest.fixture(autouse=True)
def isolation() -> None:
    """Shadow tests/conftest.py's brownie snapshot fixture: this module runs its own anvil."""


@pytest.fixture
def node(tmp_path: Path) -> Iterator[LocalNode]:
    anvil = start_anvil(accounts=10, log=tmp_path / "anvil.log")
    try:
        yield anvil
    finally:
        anvil.stop()


def test_chain_reset_stops_the_oracle_until_archived(node: LocalNode, tmp_path: Path) -> None:
    env = deploy_env(node, tmp_path, threshold=1)
    key = env.oracle_keys[0]
    old = make_task(env, seed=31, accuracies=(0.9,))
    oracle = Oracle(env, key, "reset")
    try:
        oracle.start()
        assert oracle.http.get("/health").json()["status"] in ("ok", "degraded")
        assert (
            oracle.http.post(f"/tasks/{old.task_id}/spec", json=old.spec_body()).status_code == 201
        )
        reveal = oracle.http.post(f"/tasks/{old.task_id}/reveals", json=old.annotators[0].body())
        assert reveal.status_code == 201, reveal.text

        # -- the devnet is reset under the running oracle and the suite deployed again
        node.w3.provider.make_request("anvil_reset", [])  # type: ignore[arg-type]
        new_env = deploy_env(node, tmp_path, keys=env.oracle_keys, threshold=1)
        assert new_env.dep.escrow == env.dep.escrow  # same deployer and nonces: same addresses
        new = make_task(new_env, seed=32, accuracies=(1.0, 0.95))
        assert new.task_id == old.task_id == 1

        health = wait_for(
            "/health to report the reset",
            lambda: (h := oracle.http.get("/health").json())["status"] == "down" and h,
            20,
            oracle,
        )
        [reason] = [r for r in health["reasons"] if "chain was reset" in r]
        assert "--archive-stale-state" in reason and not health["acting"]
        before = oracle.fingerprint()
        refused = oracle.http.post(f"/tasks/{new.task_id}/spec", json=new.spec_body())
        assert refused.status_code == 503
        assert "chain was reset" in refused.json()["error"]
        assert oracle.fingerprint() == before

        # -- a restart alone does not act on the old state either
        oracle.stop()
        oracle.start()
        health = oracle.http.get("/health").json()
        assert health["status"] == "down" and not health["acting"]
        assert any("--archive-stale-state" in r for r in health["reasons"])
        assert (
            oracle.http.post(f"/tasks/{new.task_id}/spec", json=new.spec_body()).status_code == 503
        )

        # -- archived and fresh: the new task 1's spec is taken and the oracle proposes
        oracle.stop()
        oracle.start(extra=("--archive-stale-state",))
        archived = list((oracle.data_dir / "archive").glob("oracle-chain*.sqlite3"))
        assert len(archived) == 1
        health = oracle.http.get("/health").json()
        assert health["acting"] and health["status"] in ("ok", "degraded"), health
        r = oracle.http.post(f"/tasks/{new.task_id}/spec", json=new.spec_body())
        assert r.status_code == 201, r.text
        for ann in new.annotators:
            r = oracle.http.post(f"/tasks/{new.task_id}/reveals", json=ann.body())
            assert r.status_code == 201, r.text
        if new.gold is not None:
            assert (
                oracle.http.post(f"/tasks/{new.task_id}/gold", json=new.gold_body()).status_code
                == 201
            )
        new_env.node.time_travel(2 * DAY + 1)
        wait_for("the new task's proposal", lambda: is_pending(new_env, new.task_id), 30, oracle)
        assert [v["oracle"] for v in votes_in(new_env, new.task_id, 0)] == [key.address]
    finally:
        oracle.stop()


def test_deep_reorg_rewinds_events_keeps_reveals_rechecks_votes(
    node: LocalNode, tmp_path: Path
) -> None:
    env = deploy_env(node, tmp_path, threshold=1)
    store = Store(f"sqlite:///{tmp_path / 'reorg.sqlite3'}")
    chain = OracleChain(env.w3, env.dep.escrow, env.dep)
    follower = Follower(chain, store, start_block=env.dep.block, confirmations=2)
    rpc = env.w3.provider.make_request  # type: ignore[attr-defined]
    for _ in range(3):
        rpc("evm_mine", [])
    follower.sync()
    snapshot = rpc("evm_snapshot", [])["result"]
    task = make_task(env, seed=41, accuracies=(0.9, 0.8))
    for _ in range(3):
        rpc("evm_mine", [])  # past the confirmations
    follower.sync()
    with store.read() as tx:
        assert tx.task(task.task_id) is not None
        assert len(tx.attestations(task.task_id)) == 2
    ann = task.annotators[0]
    with store.write() as tx:
        tx.put_reveal(
            RevealRow(task.task_id, ann.address, 1, "0x" + "00" * 32, 16, "{}", "0x01", time.time())
        )
        tx.put_proposal(
            ProposalRow(
                task_id=task.task_id,
                round=0,
                state="confirmed",
                root="0x" + "11" * 32,
                total=1,
                report_hash="0x" + "22" * 32,
                inputs_hash="0x" + "33" * 32,
                nonce=0,
                tx_hash="0x" + "44" * 32,
                raw_tx="0x00",
                note="mined",
                updated_at=time.time(),
            )
        )

    # -- the blocks after the snapshot are replaced by others (deeper than 2 confirmations)
    rpc("evm_revert", [snapshot])
    for _ in range(12):
        rpc("evm_mine", [])
    follower.sync()
    assert follower.reorgs == 1
    assert (
        follower.last_reorg is not None and "deeper than the 2 confirmations" in follower.last_reorg
    )
    with store.read() as tx:
        assert tx.task(task.task_id) is None  # created in an orphaned block
        assert tx.attestations(task.task_id) == []
        assert tx.reveal(task.task_id, ann.address) is not None  # reveals are kept
        proposal = tx.proposal(task.task_id, 0)
        assert proposal is not None and proposal.state == "sent"  # re-checked by the scheduler
        assert tx.cursor() == int(env.w3.eth.block_number) - 2
    follower.sync()
    assert follower.reorgs == 1  # the new chain is followed without another rewind
    store.close()
