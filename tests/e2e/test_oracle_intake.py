"""The reveal intake's fast path (labelproof/oracle/intake.py), in process against a real anvil:
the API as the service builds it (gate, reveal lane, FastAPI) over a real store and chain
client, with the follower run by hand so the test decides what it has seen.

* a reveal whose attestation the follower has stored is taken by the fast path;
* the same reveal again is 200 with the same receipt, a different label set 409;
* a reveal for an attestation the follower has not read yet (a new version, a new annotator)
  is still accepted, by the exact path that asks the chain;
* right after the chain's clock jumps past the reveal deadline, before anything else has
  looked at the chain, a reveal the follower's view would accept is refused (409): the clock
  is read after the reveal arrived, never cached;
* a reveal of more than INLINE_LABELS labels is hashed in a worker thread, same receipt;
* concurrent reveals share head reads (headread.py), unit-tested in tests/python.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from labelproof.node import start_anvil
from labelproof.oracle.api import ApiContext, build_asgi
from labelproof.oracle.follower import Follower
from labelproof.oracle.health import ServiceStatus
from labelproof.oracle.intake import INLINE_LABELS, RevealIntake, RevealLane
from labelproof.oracle.onchain import OracleChain, attestation_digest
from labelproof.oracle.records import receipt_of
from labelproof.oracle.store import Store
from labelproof.spec import canonical_json
from tests.e2e.test_oracle_service import Env, attest, deploy_env, make_task


@pytest.fixture(autouse=True)
def isolation() -> None:
    """Shadow tests/conftest.py's brownie snapshot fixture: this module runs its own anvil."""


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    node = start_anvil(accounts=10, log=tmp_path / "anvil.log")
    try:
        yield deploy_env(node, tmp_path, threshold=1)
    finally:
        node.stop()


class InProcessOracle:
    """The oracle's API and follower in this process (no scheduler: nothing is sealed)."""

    def __init__(self, env: Env, tmp: Path) -> None:
        self.store = Store(f"sqlite:///{tmp / 'intake.sqlite3'}")
        self.chain = OracleChain(env.w3, env.dep.escrow)
        self.follower = Follower(self.chain, self.store, start_block=env.dep.block)
        ctx = ApiContext(
            store=self.store, chain=self.chain, oracle="0x" + "00" * 20, status=ServiceStatus()
        )
        self.asgi = build_asgi(ctx)
        lane: Any = self.asgi.app  # type: ignore[attr-defined]
        assert isinstance(lane, RevealLane)
        self.intake: RevealIntake = lane.intake

    def post(self, path: str, body: Any) -> httpx.Response:
        return asyncio.run(self._post(path, body))

    async def _post(self, path: str, body: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.asgi)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://oracle") as client:
            return await client.post(path, json=body)


def test_fast_path_and_its_fallbacks(env: Env, tmp_path: Path) -> None:
    oracle = InProcessOracle(env, tmp_path)
    task = make_task(env, seed=71, accuracies=(0.9, 0.8, 0.7), gold_items=0)
    tid = task.task_id
    first, second, third = task.annotators
    oracle.follower.sync()
    assert oracle.post(f"/tasks/{tid}/spec", json.loads(task.spec.to_json())).status_code == 201
    path = f"/tasks/{tid}/reveals"
    # The follower's view (Attested events decoded by hand) is the registry's commitment.
    for ann in task.annotators:
        with oracle.store.read() as tx:
            row = tx.latest_attestation(tid, ann.address)
        assert row is not None and (row.task_id, row.annotator) == (tid, ann.address)
        digest, version = env.registry.functions.attestation(tid, ann.address).call()
        assert bytes(digest)[:28] == attestation_digest(bytes.fromhex(row.root[2:]), row.item_count)
        assert row.version == version == 1 and row.item_count == len(ann.labels)

    # -- from the follower's view: stored by the fast path
    r = oracle.post(path, first.body())
    assert r.status_code == 201, r.text
    assert oracle.intake.accepted == 1
    receipt = r.json()["receipt"]
    assert r.json()["version"] == 1 and r.json()["duplicate"] is False
    again = oracle.post(path, first.body())
    assert again.status_code == 200 and again.json()["receipt"] == receipt
    assert again.json()["duplicate"] is True
    changed = first.body()
    changed["labels"][0]["label"] = "dog" if changed["labels"][0]["label"] == "cat" else "cat"
    conflict = oracle.post(path, changed)  # not the follower's root: the exact path refuses
    assert conflict.status_code == 409
    assert "already revealed a different label set" in conflict.json()["error"]
    assert oracle.intake.accepted == 2  # the duplicate; not the conflict

    # -- attestations the follower has not read: the exact path asks the chain and stores
    attest(env, tid, second)  # version 2 over new salts; the follower still has version 1
    r = oracle.post(path, second.body())
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2
    assert oracle.intake.accepted == 2

    # -- the chain's clock jumps past the reveal deadline: refused at once, although the
    # follower's view (and any clock read before the jump) would take the reveal
    with oracle.store.read() as tx:
        assert tx.latest_attestation(tid, third.address) is not None
    env.node.time_travel(task.reveal_deadline - env.now() + 1)
    late = oracle.post(path, third.body())
    assert late.status_code == 409, late.text
    assert (
        f"the reveal window of task {tid} closed at {task.reveal_deadline}"
        in (late.json()["error"])
    )
    with oracle.store.read() as tx:
        stored = {row.annotator for row in tx.reveals(tid)}
    assert stored == {first.address, second.address}


def test_fast_path_refusals_match_the_exact_path(env: Env, tmp_path: Path) -> None:
    """What the fast path leaves to the exact path gets the exact path's status and message;
    refusals the fast path gives itself (no spec, closed window) read the same."""
    oracle = InProcessOracle(env, tmp_path)
    task = make_task(env, seed=72, accuracies=(0.9, 0.8), gold_items=0)
    tid = task.task_id
    ann = task.annotators[0]
    oracle.follower.sync()
    path = f"/tasks/{tid}/reveals"
    r = oracle.post(path, ann.body())
    assert r.status_code == 409 and "has no spec registered" in r.json()["error"]
    assert oracle.post(f"/tasks/{tid}/spec", json.loads(task.spec.to_json())).status_code == 201
    cases: list[tuple[Any, int, str]] = [
        ({"annotator": ann.address}, 422, "invalid request: body.labels: Field required"),
        (ann.body() | {"annotator": "0x1234"}, 422, "annotator '0x1234' is not an address"),
        (ann.body() | {"extra": 1}, 422, "invalid request: body.extra: Extra inputs"),
        ("not an object", 422, "invalid request"),
    ]
    body = ann.body()
    body["labels"][0]["salt"] = "0x1234"
    cases.append((body, 422, "labels[0]: salt must be 0x followed by 64 hex digits"))
    body = ann.body()
    body["labels"][0]["label"] = "bird"
    cases.append((body, 422, "label 'bird' for item"))
    body = ann.body()
    body["labels"] = body["labels"][:-1]
    cases.append((body, 422, "commits to another root or item count"))
    for sent, status, message in cases:
        r = oracle.post(path, sent)
        assert r.status_code == status, (sent, r.text)
        assert message in r.json()["error"], r.json()
    assert oracle.post("/tasks/999999/reveals", ann.body()).status_code == 404
    assert oracle.post(f"/tasks/{2**63}/reveals", ann.body()).status_code == 422
    assert oracle.intake.accepted == 0
    lower = ann.body() | {"annotator": ann.address.lower()}
    r = oracle.post(path, lower)
    assert r.status_code == 201 and r.json()["annotator"] == ann.address
    assert oracle.intake.accepted == 1
    env.node.time_travel(task.reveal_deadline - env.now() + 1)
    r = oracle.post(path, task.annotators[1].body())
    assert r.status_code == 409 and "closed at" in r.json()["error"]


def test_a_reveal_over_the_inline_size_is_hashed_in_a_worker_thread(
    env: Env, tmp_path: Path
) -> None:
    """Reveals of more than INLINE_LABELS labels take the fast path too, their hashing moved
    off the event loop; the receipt is the exact path's (same document bytes)."""
    oracle = InProcessOracle(env, tmp_path)
    task = make_task(env, seed=73, n_items=INLINE_LABELS + 1, accuracies=(0.9,), gold_items=0)
    tid = task.task_id
    [ann] = task.annotators
    oracle.follower.sync()
    assert oracle.post(f"/tasks/{tid}/spec", json.loads(task.spec.to_json())).status_code == 201
    r = oracle.post(f"/tasks/{tid}/reveals", ann.body())
    assert r.status_code == 201, r.text
    assert r.json()["item_count"] == INLINE_LABELS + 1
    assert oracle.intake.accepted == 1
    with oracle.store.read() as tx:
        row = tx.reveal(tid, ann.address)
    assert row is not None and receipt_of(row.reveal_json.encode()) == r.json()["receipt"]
    document = json.loads(row.reveal_json)
    assert canonical_json(document) == row.reveal_json.encode()  # stored canonical
