"""The relayer under node faults: an outage, a hung node, a dropped batch, a stuck one (fee
bump, and the cap), a reorg, and a chain reset. The node sits behind labelproof.testing's
TcpProxy where the link must fail."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from labelproof.node import free_port, start_anvil
from labelproof.testing.tcp_proxy import TcpProxy
from tests.relayer.support import (
    Env,
    RelayerProcess,
    attested_events,
    digest_of,
    make_env,
    on_chain_version,
    open_task,
    signed_body,
)


@pytest.fixture
def proxy(env: Env) -> Iterator[TcpProxy]:
    port = int(env.rpc.rsplit(":", 1)[1])
    p = TcpProxy(port)
    try:
        yield p
    finally:
        p.close()


def _rpc(env: Env, method: str, *params: object) -> object:
    return env.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]


def test_an_rpc_outage_delays_but_never_fails_an_attestation(env: Env, proxy: TcpProxy) -> None:
    """Issue #10: an 8 s outage marked 10 of 10 queued attestations failed for good. Now the
    batcher backs off while the node is unreachable, intake answers 503 with Retry-After, and
    all 10 land once the node is back."""
    task = open_task(env)
    relayer = RelayerProcess(env, "outage", rpc_url=proxy.url, **{"max-wait": 5})
    bodies = [signed_body(env, task) for _ in range(10)]
    try:
        relayer.start()
        digests = [relayer.post(b).json()["hash"] for b in bodies]
        proxy.set_mode("refuse")
        # the batch forms 5 s after the first entry: during the outage
        assert relayer.rows("SELECT COUNT(*) FROM batches") == [(0,)], "posting took over 5 s"
        relayer.wait_for(
            "two failed tries of the batch",
            lambda: (relayer.rows("SELECT MAX(failures) FROM batches")[0][0] or 0) >= 2,
        )
        refused = relayer.post(signed_body(env, task))
        assert refused.status_code == 503, refused.text
        assert "cannot reach its node" in refused.json()["error"]
        assert int(refused.headers["Retry-After"]) >= 1
        health = relayer.http.get("/health", timeout=1)
        assert health.json()["status"] in ("degraded", "down")
        assert any("node" in r for r in health.json()["reasons"])
        assert relayer.rows("SELECT COUNT(*) FROM entries WHERE state = 'failed'") == [(0,)]
        proxy.set_mode("pass")
        relayer.wait_for("all confirmed after the outage", lambda: relayer.all_confirmed(digests))
        assert relayer.http.get("/health").json()["status"] != "down"
    finally:
        relayer.stop()


def test_a_hung_node_gets_a_fast_health_and_503s(env: Env, proxy: TcpProxy) -> None:
    """Issue #10: while the node hung, /health took 55 s and a relayer request got no answer in
    90 s. Now /health answers from cached state and intake gives up after the RPC timeout."""
    task = open_task(env)
    relayer = RelayerProcess(env, "hang", rpc_url=proxy.url)
    try:
        relayer.start()
        proxy.set_mode("hang")

        def health_says_trouble() -> bool:
            report = relayer.http.get("/health", timeout=1).json()
            return report["status"] != "ok" and any("node" in r for r in report["reasons"])

        relayer.wait_for("health to report the hung node", health_says_trouble, timeout=30)
        refused = relayer.http.post("/attestations", json=signed_body(env, task), timeout=15)
        assert refused.status_code == 503 and "Retry-After" in refused.headers
        assert "node" in refused.json()["error"]
        proxy.set_mode("pass")
        body = signed_body(env, task)
        accepted = relayer.post(body)
        assert accepted.status_code == 202, accepted.text
        relayer.wait_for("confirmed", lambda: relayer.all_confirmed([accepted.json()["hash"]]))
    finally:
        proxy.set_mode("pass")
        relayer.stop()


def test_a_dropped_batch_is_broadcast_again(env: Env) -> None:
    """Issue #10: a batch dropped from the mempool left 5 of 5 entries submitted forever. Now
    the relayer sees its transaction gone and broadcasts the stored raw transaction again."""
    task = open_task(env)
    relayer = RelayerProcess(
        env, "dropped", **{"stuck-after": 3600, "batch-size": 5, "max-wait": 3600}
    )
    bodies = [signed_body(env, task) for _ in range(5)]
    _rpc(env, "evm_setAutomine", False)
    try:
        relayer.start()
        digests = [relayer.post(b).json()["hash"] for b in bodies]
        relayer.wait_for(
            "the batch sent", lambda: relayer.state(digests[0])["status"] == "submitted"
        )
        _rpc(env, "anvil_dropAllTransactions")
        relayer.wait_for(
            "a second broadcast",
            lambda: relayer.rows("SELECT MAX(broadcasts) FROM batches")[0][0] >= 2,
        )
        _rpc(env, "evm_mine")
        relayer.wait_for("all confirmed", lambda: relayer.all_confirmed(digests))
        assert len(attested_events(env, task)) == 5
    finally:
        _rpc(env, "evm_setAutomine", True)
        relayer.stop()


def test_a_stuck_batch_gets_its_fee_raised_with_the_same_nonce(env: Env) -> None:
    task = open_task(env)
    relayer = RelayerProcess(env, "bump", **{"stuck-after": 1, "batch-size": 3, "max-wait": 3600})
    bodies = [signed_body(env, task) for _ in range(3)]
    _rpc(env, "evm_setAutomine", False)
    try:
        relayer.start()
        digests = [relayer.post(b).json()["hash"] for b in bodies]
        relayer.wait_for("a fee bump", lambda: relayer.rows("SELECT MAX(bumps) FROM batches")[0][0])
        _rpc(env, "evm_mine")
        relayer.wait_for("all confirmed", lambda: relayer.all_confirmed(digests))
        versions = relayer.rows("SELECT max_fee, priority_fee FROM batch_txs ORDER BY signed_at")
        assert len(versions) >= 2
        for (old_max, old_tip), (new_max, new_tip) in itertools.pairwise(versions):
            assert new_max * 1000 >= old_max * 1125 and new_tip * 1000 >= old_tip * 1125
        mined_hash = relayer.state(digests[0])["tx_hash"]
        mined = env.w3.eth.get_transaction(mined_hash)
        assert mined["nonce"] == relayer.rows("SELECT nonce FROM batches")[0][0]
        assert mined_hash != relayer.rows("SELECT tx_hash FROM batch_txs ORDER BY signed_at")[0][0]
        assert env.w3.eth.get_transaction_count(relayer.key.address) == 1
    finally:
        _rpc(env, "evm_setAutomine", True)
        relayer.stop()


def test_the_fee_cap_stops_the_bumps_and_health_says_so(env: Env) -> None:
    task = open_task(env)
    relayer = RelayerProcess(env, "cap", **{"stuck-after": 0.5, "max-fee-cap-gwei": 1})
    _rpc(env, "evm_setAutomine", False)
    try:
        relayer.start()
        digest = relayer.post(signed_body(env, task)).json()["hash"]

        def capped() -> bool:
            return any("--max-fee-cap" in r for r in relayer.http.get("/health").json()["reasons"])

        relayer.wait_for("the cap in /health", capped)
        assert relayer.rows("SELECT MAX(bumps) FROM batches") == [(0,)]
        _rpc(env, "evm_mine")
        relayer.wait_for("confirmed", lambda: relayer.all_confirmed([digest]))
    finally:
        _rpc(env, "evm_setAutomine", True)
        relayer.stop()


def test_a_reorg_queues_the_vanished_batch_again(env: Env) -> None:
    task = open_task(env)
    body = signed_body(env, task)
    relayer = RelayerProcess(env, "reorg")  # funded before the snapshot
    snapshot = _rpc(env, "evm_snapshot")["result"]  # type: ignore[index]
    try:
        relayer.start()
        digest = relayer.post(body).json()["hash"]
        relayer.wait_for("confirmed", lambda: relayer.all_confirmed([digest]))
        first = relayer.state(digest)
        relayer.stop()  # the reorg happens while the relayer is down, then it looks
        _rpc(env, "evm_revert", snapshot)
        for _ in range(3):
            _rpc(env, "evm_mine")
        assert on_chain_version(env, body) == 0  # the attestation left the chain
        relayer.start()
        relayer.wait_for(
            "confirmed again in a new block",
            lambda: (
                relayer.state(digest)["status"] == "confirmed" and on_chain_version(env, body) == 1
            ),
        )
        again = relayer.state(digest)
        assert relayer.rows("SELECT state FROM batches ORDER BY id") == [("reorged",), ("mined",)]
        assert (again["block"], again["tx_hash"]) != (first["block"], first["tx_hash"]) or (
            env.w3.eth.get_block(again["block"])["hash"].hex() != first["block"]
        )
    finally:
        relayer.stop()


def test_a_chain_reset_stops_the_relayer_until_archived(tmp_path) -> None:
    """Issue #10: after a chain reset the relayer reported an old-chain attestation as
    confirmed. Now it reports it stale, refuses intake, /health is down with the reason, and
    --archive-stale-state moves the old database aside and starts fresh."""
    port = free_port()
    node = start_anvil(port, accounts=6, log=tmp_path / "anvil-1.log")
    env = make_env(tmp_path, node)
    relayer = RelayerProcess(env, "reset")
    try:
        task = open_task(env)
        relayer.start()
        old = relayer.post(signed_body(env, task)).json()["hash"]
        relayer.wait_for("confirmed", lambda: relayer.all_confirmed([old]))
        genesis_time = int(env.w3.eth.get_block(0)["timestamp"])
        node.stop()
        node = start_anvil(
            port,
            accounts=6,
            log=tmp_path / "anvil-2.log",
            extra=["--timestamp", str(genesis_time + 1000)],
        )
        env = make_env(tmp_path, node)  # same addresses: same deployer, same nonces
        relayer.env = env
        env.node.set_balance(relayer.key.address, 10**20)

        def stale() -> bool:
            return relayer.state(old)["status"] == "stale"

        relayer.wait_for("the old attestation reported stale", stale)
        report = relayer.http.get("/health")
        assert report.status_code == 503 and report.json()["status"] == "down"
        assert any("--archive-stale-state" in r for r in report.json()["reasons"])
        task = open_task(env)
        refused = relayer.post(signed_body(env, task))
        assert refused.status_code == 503 and "reset or different chain" in refused.json()["error"]
        relayer.stop()

        relayer.start()  # restarted without the flag: still refuses to act on old state
        assert relayer.state(old)["status"] == "stale"
        assert relayer.http.get("/health").json()["status"] == "down"
        relayer.stop()

        relayer.start(**{"archive-stale-state": True})
        fresh = relayer.http.get("/health").json()
        assert fresh["status"] != "down", fresh  # (degraded if a node call timed out under load)
        assert not any("--archive-stale-state" in r for r in fresh["reasons"])
        assert relayer.http.get(f"/attestations/{old}").status_code == 404
        assert list(tmp_path.glob("relayer-reset.db.stale-*"))
        body = signed_body(env, task)
        new = relayer.post(body).json()["hash"]
        relayer.wait_for("confirmed on the new chain", lambda: relayer.all_confirmed([new]))
        assert digest_of(env, body) == new
    finally:
        relayer.stop()
        node.stop()
