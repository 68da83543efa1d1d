"""Whom the relayer pays for: open tasks only, enrolled annotators when enrollment is
required, per-address and per-task rate limits, a gas budget per task. Every refusal is a 4xx
with a JSON reason (429 with Retry-After) and stores nothing."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from starlette.testclient import TestClient

from labelproof.relayer.api import asgi_app
from labelproof.relayer.policy import GAS_PER_ENTRY, enrollment_message
from tests.relayer.support import Env, RelayerProcess, in_process_relay, open_task, signed_body


def _client(relay: Any) -> TestClient:
    return TestClient(asgi_app(relay), raise_server_exceptions=False)


def _entries(relay: Any) -> int:
    with relay.store.read() as tx:
        return sum(tx.counts().values())


def _refused(http: TestClient, relay: Any, body: Any, status: int, words: str) -> Any:
    before = _entries(relay)
    r = http.post("/attestations", json=body)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]
    assert _entries(relay) == before
    return r


def test_rate_limits_per_address_and_per_task(env: Env) -> None:
    relay = in_process_relay(env, "rates", rate_per_address=2, rate_per_task=4)
    http = _client(relay)
    task = open_task(env)
    key = Account.create()
    assert http.post("/attestations", json=signed_body(env, task, key, 1)).status_code == 202
    assert http.post("/attestations", json=signed_body(env, task, key, 2)).status_code == 202
    r = _refused(http, relay, signed_body(env, task, key, 3), 429, "attestations a minute")
    assert 1 <= int(r.headers["Retry-After"]) <= 30
    for _ in range(2):
        assert http.post("/attestations", json=signed_body(env, task)).status_code == 202
    r = _refused(http, relay, signed_body(env, task), 429, f"task {task} got more than 4")
    assert int(r.headers["Retry-After"]) >= 1
    # another task is not limited by this one
    assert http.post("/attestations", json=signed_body(env, open_task(env))).status_code == 202


def test_a_task_gas_budget_caps_what_the_relayer_pays(env: Env) -> None:
    relay = in_process_relay(env, "budget", task_gas_budget=2 * GAS_PER_ENTRY, batch_size=10)
    http = _client(relay)
    task = open_task(env)
    digests = [http.post("/attestations", json=signed_body(env, task)).json()["hash"] for _ in "ab"]
    _refused(http, relay, signed_body(env, task), 403, "gas budget")
    # once mined, entries count what they really used (less than the reservation)
    batch = relay.flush()
    assert batch is not None and batch.state == "mined"
    assert all(relay.status(d)["status"] == "confirmed" for d in digests)
    used = relay._charged[task]
    assert 0 < used < 2 * GAS_PER_ENTRY
    assert (
        batch.gas_used
        == sum(row for (row,) in relay.store._conn().execute("SELECT gas FROM entries").fetchall())
        + batch.gas_used % 2
    )


def test_only_open_tasks_and_sane_task_ids(env: Env) -> None:
    relay = in_process_relay(env, "tasks")
    http = _client(relay)
    count = int(env.escrow.functions.taskCount().call())
    _refused(http, relay, signed_body(env, count + 1), 409, "not open for attestations")
    # 2^63 overflowed the old relayer's SQLite: now a plain "not open"
    _refused(http, relay, signed_body(env, 2**63), 409, "not open for attestations")
    for task_id in (2**64, 2**256 - 1):
        _refused(http, relay, signed_body(env, task_id), 404, "does not exist")
    r = http.post("/attestations", json={**signed_body(env, 1), "task_id": 2**256})
    assert r.status_code == 422
    short = open_task(env, annotation=60)
    env.node.time_travel(120)
    _refused(http, relay, signed_body(env, short), 409, "closed")


def test_enrollment_required(env: Env) -> None:
    relay = in_process_relay(env, "enroll", enrollment="required")
    http = _client(relay)
    task = open_task(env)
    member, outsider = Account.create(), Account.create()
    _refused(http, relay, signed_body(env, task, member), 403, "has no enrollment")
    message = enrollment_message(env.dep.chain_id, env.dep.registry, task, [member.address])
    forged = Account.create().sign_message(encode_defunct(text=message)).signature
    body = {"annotators": [member.address], "signature": "0x" + bytes(forged).hex()}
    r = http.put(f"/tasks/{task}/enrollment", json=body)
    assert r.status_code == 403 and "not task" in r.json()["error"]
    requester_sig = env.w3.eth.sign(env.requester.address, text=message)
    body["signature"] = "0x" + bytes(requester_sig).hex()
    r = http.put(f"/tasks/{task}/enrollment", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["annotators"] == 1
    assert http.post("/attestations", json=signed_body(env, task, member)).status_code == 202
    _refused(http, relay, signed_body(env, task, outsider), 403, "not enrolled")
    r = http.put(f"/tasks/{task}/enrollment", json={**body, "annotators": ["0x12"]})
    assert r.status_code == 422 and "not an address" in r.json()["error"]


def test_bad_bodies_are_4xx_json(env: Env) -> None:
    relay = in_process_relay(env, "bodies")
    http = _client(relay)
    task = open_task(env)
    good = signed_body(env, task)
    cases: list[tuple[Any, int]] = [
        (b"{not json", 400),
        (b'{"task_id": 1e400}', 422),
        (b'{"annotator": "\\ud800"}', 400),  # a lone surrogate is not valid JSON text
        ({**good, "signature": "0x" + "00" * 65}, 422),
        ({**good, "signature": good["signature"][:-2] + "1f"}, 422),
        ({**good, "root": "0x" + "00" * 32}, 422),
        ({**good, "extra": 1}, 422),
        ({**good, "version": "1"}, 422),
        (b"x" * 20_000, 413),
    ]
    for body, status in cases:
        before = _entries(relay)
        if isinstance(body, bytes):
            r = http.post(
                "/attestations", content=body, headers={"content-type": "application/json"}
            )
        else:
            r = http.post("/attestations", json=body)
        assert r.status_code == status, (body, r.text)
        assert isinstance(r.json()["error"], str)
        assert _entries(relay) == before
    assert http.get("/attestations/" + "z" * 500).status_code == 404
    # a body sent in chunks, with no length declared, is cut off at the limit too
    before = _entries(relay)
    r = http.post(
        "/attestations",
        content=iter([b"x" * 10_000, b"x" * 10_000]),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413 and "exceeds the limit of 16384 bytes" in r.json()["error"]
    assert _entries(relay) == before


@pytest.mark.parametrize("declared", [100, None])
def test_a_slow_body_times_out_with_408(env: Env, declared: int | None) -> None:
    relayer = RelayerProcess(env, f"slow-{declared}", **{"body-timeout": 1})
    try:
        relayer.start()
        with socket.create_connection(("127.0.0.1", relayer.port), timeout=30) as s:
            framing = (
                f"Content-Length: {declared}\r\n\r\n{{"
                if declared
                else "Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n"
            )
            head = "POST /attestations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            s.sendall((head + framing).encode())
            started = time.monotonic()
            data = b""
            while b"did not arrive" not in data and len(data) < 4096:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            reply = data.decode()
            assert reply.startswith("HTTP/1.1 408"), reply
            assert "did not arrive within 1 s" in reply
            assert time.monotonic() - started < 25
    finally:
        relayer.stop()


def test_rate_limits_hold_for_requests_in_flight_together(env: Env) -> None:
    """Intake runs on the event loop with no thread per request, so any number of requests
    can be between their checks and their writes at once: tokens are taken before the write
    (and given back if it stores nothing), so none of them passes a limit."""
    import asyncio

    from labelproof.relayer.intake import AttestationIn, RelayError

    relay = in_process_relay(env, "rates-together", rate_per_address=3, rate_per_task=1000)
    task = open_task(env)
    key = Account.create()
    bodies = [AttestationIn(**signed_body(env, task, key, v)) for v in range(1, 21)]

    async def all_at_once() -> list[Any]:
        return await asyncio.gather(
            *(relay.submit_async(b) for b in bodies), return_exceptions=True
        )

    outcomes = asyncio.run(all_at_once())
    accepted = [o for o in outcomes if isinstance(o, tuple)]
    refused = [o for o in outcomes if isinstance(o, RelayError)]
    assert [status for status, _ in accepted] == [202, 202, 202]
    assert len(refused) == 17 and {e.status for e in refused} == {429}
    assert _entries(relay) == 3
    # the same attestation twice at once: stored once, and the second gives its token back
    twin = AttestationIn(**signed_body(env, task))

    async def twice() -> list[Any]:
        return await asyncio.gather(relay.submit_async(twin), relay.submit_async(twin))

    assert sorted(status for status, _ in asyncio.run(twice())) == [200, 202]
    assert relay.by_address.retry_after(twin.annotator) == 0
    assert 2 <= relay.by_address.buckets[twin.annotator].tokens < 2.5  # (it refills slowly)
