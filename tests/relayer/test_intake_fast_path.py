"""The intake's fast paths give the answers of the general libraries they replace: the
signature check (coincurve and pysha3 directly) against eth_account's recovery, the batch
calldata and receipt decoding (relayer/wire.py) against web3's, the grouped chain reads
(relayer/reads.py) against the registry's own view functions, and the group worker
(labelproof/grouping.py) under concurrent callers."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import Future
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_utils import to_checksum_address
from web3.logs import DISCARD

from labelproof.commitments import attestation_typed_data
from labelproof.grouping import GroupWorker
from labelproof.relayer.intake import (
    SECP256K1_HALF_N,
    AttestationIn,
    RelayError,
    check_signature,
    checksum_address,
    domain_separator,
)
from labelproof.relayer.reads import ChainReads
from labelproof.relayer.rpc import RawRpc
from labelproof.relayer.store import EntryRow
from labelproof.relayer.wire import Receipt, attest_by_sig_calldata, batch_outcomes
from tests.relayer.support import Env, in_process_relay, open_task, signed_body

SECP256K1_N = 2 * SECP256K1_HALF_N + 1


def _body(raw: dict[str, Any], **changes: Any) -> AttestationIn:
    return AttestationIn(**{**raw, **changes})


def _sig(r: int, s: int, v: int) -> str:
    return "0x" + (r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])).hex()


def test_checksums_match_eth_utils() -> None:
    for _ in range(500):
        raw = os.urandom(20)
        assert checksum_address(raw) == to_checksum_address(raw)
    assert checksum_address(bytes(20)) == to_checksum_address(bytes(20))
    assert checksum_address(b"\xff" * 20) == to_checksum_address(b"\xff" * 20)


def test_the_signature_check_agrees_with_eth_account(env: Env) -> None:
    sep = domain_separator(env.dep.chain_id, env.dep.registry)
    for _ in range(20):
        key = Account.create()
        raw = signed_body(env, 7, key, version=3)
        checked = check_signature(_body(raw), sep)
        typed = attestation_typed_data(
            env.dep.chain_id,
            env.dep.registry,
            7,
            key.address,
            bytes.fromhex(raw["root"][2:]),
            raw["item_count"],
            3,
        )
        message = encode_typed_data(full_message=typed)
        assert Account.recover_message(message, signature=raw["signature"]) == key.address
        assert checked.digest == "0x" + _hash_eip191_message(message).hex()
        assert checked.annotator == key.address
        # every accepted spelling of the address is the same annotator
        for spelling in (key.address.lower(), key.address[2:], "0X" + key.address[2:].upper()):
            assert check_signature(_body(raw, annotator=spelling), sep) == checked
        # v as 0/1 is stored as 27/28; the same signature with the other v recovers another key
        v = int(raw["signature"][-2:], 16)
        low_v = raw["signature"][:-2] + f"{v - 27:02x}"
        assert check_signature(_body(raw, signature=low_v), sep) == checked
        other_v = raw["signature"][:-2] + f"{55 - v:02x}"
        with pytest.raises(RelayError, match="not the annotator") as refused:
            check_signature(_body(raw, signature=other_v), sep)
        assert refused.value.status == 422


def test_signatures_the_registry_would_refuse_are_422(env: Env) -> None:
    sep = domain_separator(env.dep.chain_id, env.dep.registry)
    raw = signed_body(env, 7)
    sig = bytes.fromhex(raw["signature"][2:])
    r, s, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
    cases = {
        # the malleable twin (s' = n - s, v flipped) recovers the same key: refused as the
        # contract refuses it
        _sig(r, SECP256K1_N - s, 55 - v): "upper half",
        _sig(r, s, 29): "v must be 27 or 28",
        _sig(r, s, 2): "v must be 27 or 28",
        _sig(0, s, v): "does not recover",
        _sig(r, 0, v): "does not recover",
        _sig(SECP256K1_N, s, v): "does not recover",
        _sig(2**256 - 1, s, v): "does not recover",
        raw["signature"][:-4]: "130 hex digits",
    }
    for signature, words in cases.items():
        with pytest.raises(RelayError, match=words) as refused:
            check_signature(_body(raw, signature=signature), sep)
        assert refused.value.status == 422
    for annotator in ("0x12", "0x" + "g" * 40, "", "0x" + "0" * 41):
        with pytest.raises(RelayError, match="not an address"):
            check_signature(_body(raw, annotator=annotator), sep)


def _entries(env: Env, task: int, bodies: list[dict[str, Any]]) -> list[EntryRow]:
    return [
        EntryRow.queued(
            i,
            "0x" + bytes(32).hex(),
            task,
            b["annotator"],
            b["root"],
            b["item_count"],
            b["version"],
            b["signature"],
            0.0,
        )
        for i, b in enumerate(bodies)
    ]


def test_batch_calldata_and_receipt_decoding_match_web3(env: Env) -> None:
    task = open_task(env)
    good = [signed_body(env, task) for _ in range(4)]
    forged = {**signed_body(env, task), "annotator": Account.create().address}
    entries = _entries(env, task, [*good, forged, signed_body(env, task + 1000)])
    fn = env.registry.functions.attestBySig([e.as_tuple() for e in entries])
    assert attest_by_sig_calldata(entries) == fn._encode_transaction_data()
    assert (
        attest_by_sig_calldata([])
        == env.registry.functions.attestBySig([])._encode_transaction_data()
    )

    tx_hash = env.w3.eth.send_transaction(
        {
            "from": env.requester.address,
            "to": env.registry.address,
            "data": attest_by_sig_calldata(entries),
            "gas": 2_000_000,
        }
    )
    web3_receipt = env.w3.eth.wait_for_transaction_receipt(tx_hash)
    raw = RawRpc(env.rpc, 10).batch([("eth_getTransactionReceipt", [tx_hash.to_0x_hex()])])[0]
    receipt = Receipt.from_json(raw)
    assert receipt.tx_hash == tx_hash.to_0x_hex()
    assert (receipt.block, receipt.status) == (web3_receipt["blockNumber"], 1)
    assert receipt.gas_used == web3_receipt["gasUsed"]
    assert receipt.block_hash == web3_receipt["blockHash"].to_0x_hex()
    skipped, recorded = batch_outcomes(receipt, env.registry.address)
    expect_skipped = {
        int(ev["args"]["index"]): bytes(ev["args"]["reason"])
        for ev in env.registry.events.AttestationSkipped().process_receipt(
            web3_receipt, errors=DISCARD
        )
    }
    expect_recorded = {
        (
            int(ev["args"]["taskId"]),
            to_checksum_address(ev["args"]["annotator"]),
            int(ev["args"]["version"]),
            "0x" + bytes(ev["args"]["root"]).hex(),
        )
        for ev in env.registry.events.Attested().process_receipt(web3_receipt, errors=DISCARD)
    }
    assert skipped == expect_skipped and set(skipped) == {4, 5}
    assert recorded == expect_recorded and len(recorded) == 4
    # another contract's events are not the registry's
    assert batch_outcomes(receipt, env.escrow.address) == ({}, set())
    with pytest.raises(ValueError, match="malformed receipt"):
        Receipt.from_json({**raw, "logs": None})


def test_grouped_chain_reads_are_the_registry_s_answers(env: Env) -> None:
    task = open_task(env)
    relay = in_process_relay(env, "reads")
    key = Account.create()
    assert relay.submit(AttestationIn(**signed_body(env, task, key, 1)))[0] == 202
    assert relay.flush().state == "mined"
    reads = ChainReads(RawRpc(env.rpc, 10), env.dep.registry)
    strangers = [Account.create().address for _ in range(30)]
    asks = [(task, key.address), (task + 500, key.address)] + [(task, a) for a in strangers]
    futures = [reads.facts(t, a) for t, a in asks]  # submitted at once: shared batches
    facts = [f.result(timeout=30) for f in futures]
    deadline, is_open = env.registry.functions.window(task).call()
    now = env.now()
    assert (facts[0].deadline, facts[0].open, facts[0].version) == (deadline, is_open, 1)
    assert not facts[1].open and facts[1].deadline == 0
    assert all(f.version == 0 and f.deadline == deadline for f in facts[2:])
    assert all(now - 5 <= f.now <= now + 5 for f in facts)
    # a node that does not answer: every waiting request gets the error, none hangs
    dead = ChainReads(RawRpc("http://127.0.0.1:9", 2), env.dep.registry)
    with pytest.raises(ConnectionError):
        dead.facts(task, key.address).result(timeout=30)


def test_the_group_worker_shares_rounds_and_keeps_outcomes_apart() -> None:
    rounds: list[list[int]] = []
    gate = threading.Event()

    def handle(items: list[int]) -> list[int | BaseException]:
        gate.wait(10)
        rounds.append(items)
        if -1 in items:
            raise RuntimeError("the whole round failed")
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]

    worker: GroupWorker[int, int] = GroupWorker("test-group", handle, max_group=4)
    first = worker.submit(0)
    time.sleep(0.2)  # the worker holds item 0 at the gate; the next ones queue up
    later = [worker.submit(i) for i in range(1, 7)]
    gate.set()
    assert first.result(10) == 0
    assert [f.exception(10) is None for f in later] == [False, True, False, True, False, True]
    assert [f.result() for f in later[1::2]] == [20, 40, 60]
    assert "odd 3" in str(later[2].exception())
    assert rounds[0] == [0] and all(len(r) <= 4 for r in rounds)
    assert sorted(i for r in rounds for i in r) == list(range(7))
    failed = [worker.submit(i) for i in (-1, 8)]
    for f in failed:
        with pytest.raises(RuntimeError, match="whole round"):
            f.result(10)
    assert worker.run(8) == 80


def test_the_group_worker_skips_callers_that_gave_up() -> None:
    gate = threading.Event()
    seen: list[int] = []

    def handle(items: list[int]) -> list[int]:
        gate.wait(10)
        seen.extend(items)
        return items

    worker: GroupWorker[int, int] = GroupWorker("test-cancel", handle, max_group=8)
    worker.submit(0)
    time.sleep(0.2)
    gone: Future[int] = worker.submit(1)
    assert gone.cancel()

    async def waiting() -> int:
        return await asyncio.wrap_future(worker.submit(2))

    gate.set()
    assert asyncio.run(waiting()) == 2
    assert seen == [0, 2]
