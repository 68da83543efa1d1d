"""The annotator's side of a relayed commit (client.commit_annotations, behind `labelproof
annotate commit --relay`): it watches its commitment until the chain has it, resubmits the
same signature to a relayer that lost it, and attests directly when the relayer fails and the
annotator has ETH. Each outcome says which path was taken."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from labelproof import client
from tests.relayer.support import TOKEN, Env, RelayerProcess, open_task

LABELS = {"img-1": "cat", "img-2": "dog", "img-3": "cat"}


class Commit(threading.Thread):
    """commit_annotations in a thread, so the test can break the relayer meanwhile."""

    def __init__(self, env: Env, relayer: RelayerProcess, task: int, tmp: Path, *, eth: bool):
        super().__init__(daemon=True)
        self.account = Account.create()
        if eth:
            env.node.set_balance(self.account.address, TOKEN)
        self.chain = client.Chain.connect(env.rpc, env.deployments)
        self.relay = client.Service(relayer.url, "relayer", timeout=5)
        self.task, self.tmp = task, tmp
        self.said: list[str] = []
        self.result: client.Committed | None = None
        self.error: Exception | None = None
        self.accepted = threading.Event()
        self.wait_timeout = 60.0

    def say(self, text: str) -> None:
        self.said.append(text)
        if text.startswith("waiting for the relayer"):
            self.accepted.set()

    def run(self) -> None:
        try:
            self.result = client.commit_annotations(
                self.chain,
                self.account,
                self.task,
                LABELS,
                self.tmp,
                relay=self.relay,
                wait_timeout=self.wait_timeout,
                relay_patience=0.5,
                say=self.say,
            )
        except Exception as exc:
            self.error = exc
        self.accepted.set()

    def finish(self) -> client.Committed:
        self.join(timeout=90)
        assert not self.is_alive()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result

    def on_chain(self) -> bool:
        r = self.result
        assert r is not None
        return bool(
            self.chain.registry.functions.isAttested(
                self.task, self.account.address, bytes.fromhex(r.root[2:]), r.item_count
            ).call()
        )


def _started(
    env: Env, relayer: RelayerProcess, tmp: Path, eth: bool = False, wait: float = 60
) -> Commit:
    commit = Commit(env, relayer, open_task(env), tmp, eth=eth)
    commit.wait_timeout = wait
    commit.start()
    assert commit.accepted.wait(30) and commit.error is None, commit.error
    return commit


def test_a_relayer_killed_and_restarted_still_delivers(env: Env, tmp_path: Path) -> None:
    relayer = RelayerProcess(env, "watch-restart", **{"max-wait": 3600})
    try:
        relayer.start()
        commit = _started(env, relayer, tmp_path)
        relayer.kill9()
        relayer.start(**{"max-wait": 0.2})
        done = commit.finish()
        assert done.via == "relay" and done.confirmed and done.note is None
        assert commit.on_chain()
    finally:
        relayer.stop()


def test_a_relayer_that_lost_the_entry_gets_the_same_signature_again(
    env: Env, tmp_path: Path
) -> None:
    relayer = RelayerProcess(env, "watch-lost", **{"max-wait": 3600})
    try:
        relayer.start()
        commit = _started(env, relayer, tmp_path)  # no ETH: only the relayer can deliver
        relayer.kill9()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{relayer.db}{suffix}").unlink(missing_ok=True)
        relayer.start(**{"max-wait": 0.2})
        done = commit.finish()
        assert done.via == "relay" and done.confirmed
        assert done.note is not None and "resubmitted" in done.note
        assert any("resubmitted the same signature" in s for s in commit.said)
        assert commit.on_chain()
    finally:
        relayer.stop()


def test_a_dead_relayer_makes_an_annotator_with_eth_attest_directly(
    env: Env, tmp_path: Path
) -> None:
    relayer = RelayerProcess(env, "watch-dead", **{"max-wait": 3600})
    try:
        relayer.start()
        commit = _started(env, relayer, tmp_path, eth=True)
        relayer.kill9()
        done = commit.finish()
        assert done.via == "direct" and done.confirmed and done.tx_hash
        assert done.note is not None and "attested directly instead" in done.note
        assert commit.on_chain()
        record: dict[str, Any] = client._read_json(done.record)
        assert record["commitments"][-1]["via"] == "direct"
    finally:
        relayer.stop()


def test_a_dead_relayer_and_no_eth_says_what_to_do(env: Env, tmp_path: Path) -> None:
    relayer = RelayerProcess(env, "watch-poor", **{"max-wait": 3600})
    try:
        relayer.start()
        commit = _started(env, relayer, tmp_path, wait=3)
        relayer.kill9()
        with pytest.raises(client.TxPending, match="no ETH to attest directly"):
            commit.finish()
    finally:
        relayer.stop()
