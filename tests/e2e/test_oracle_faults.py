"""The oracle when its RPC hangs or refuses connections, and the gate's refusals.

A TCP proxy between the oracle process and its anvil passes traffic, holds every connection
without answering (a hung node), or closes them at once (a node that is down). While the
RPC hangs or is down, /health still answers at once from memory and says what is wrong, and
a submission gets a JSON 503 with Retry-After (never a plain-text 500, never a minute's wait);
once the RPC is back, the same submission is stored. The gate's slow-body (408) and
back-pressure (429) refusals are driven in process through its ASGI interface.
"""

from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from labelproof.node import LocalNode, free_port, start_anvil
from labelproof.oracle.api import ApiContext, Gate
from labelproof.oracle.health import ServiceStatus
from tests.e2e.test_oracle_service import Oracle, deploy_env, make_task, wait_for


@pytest.fixture(autouse=True)
def isolation() -> None:
    """Shadow tests/conftest.py's brownie snapshot fixture: this module runs its own anvil."""


class RpcProxy:
    """Forwards TCP to `upstream` in mode "pass"; holds connections silently in "hang";
    closes them at once in "down". A mode change drops the connections already open, so
    keep-alive clients meet the new mode on their next request."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.mode = "pass"
        self.port = free_port()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy.serve(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self, client: socket.socket) -> None:
        mode = self.mode
        if mode == "down":
            return
        if mode == "hang":
            while self.mode == "hang":
                time.sleep(0.05)
            return
        upstream = socket.create_connection(self.upstream)
        for s in (client, upstream):
            s.settimeout(0.1)
        try:
            while self.mode == mode:
                for src, dst in ((client, upstream), (upstream, client)):
                    try:
                        data = src.recv(65536)
                    except TimeoutError:
                        continue
                    if not data:
                        return
                    dst.sendall(data)
        except OSError:
            return
        finally:
            upstream.close()

    def close(self) -> None:
        self.mode = "down"
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[LocalNode]:
    anvil = start_anvil(accounts=10, log=tmp_path / "anvil.log")
    try:
        yield anvil
    finally:
        anvil.stop()


def test_rpc_hang_and_outage_give_503_and_health_answers(node: LocalNode, tmp_path: Path) -> None:
    env = deploy_env(node, tmp_path, threshold=1)
    task = make_task(env, seed=51, accuracies=(0.9, 0.8))
    port = int(node.url.rsplit(":", 1)[1])
    proxy = RpcProxy(("127.0.0.1", port))
    oracle = Oracle(env, env.oracle_keys[0], "faults")
    # The oracle reaches the chain only through the proxy.
    oracle.env = type(env)(**{**env.__dict__, "node": LocalNode(proxy.url, node.process, node.w3)})
    quick = httpx.Client(base_url=oracle.url, timeout=2.0)  # /health must answer well within
    try:
        oracle.start()
        tid = task.task_id
        assert oracle.http.post(f"/tasks/{tid}/spec", json=task.spec_body()).status_code == 201
        first, second = task.annotators
        assert oracle.http.post(f"/tasks/{tid}/reveals", json=first.body()).status_code == 201

        for mode, words in (("hang", "did not answer"), ("down", "did not answer")):
            proxy.mode = mode
            health = wait_for(
                f"/health to report the RPC {mode}",
                lambda: (h := quick.get("/health").json())["status"] == "down" and h,
                30,
                oracle,
            )
            assert any(words in r for r in health["reasons"]), health
            before = oracle.fingerprint()
            r = quick.post(f"/tasks/{tid}/reveals", json=second.body())
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "5"
            assert "RPC endpoint" in r.json()["error"] and "try again" in r.json()["error"]
            assert oracle.fingerprint() == before
            # Reads from the database need no RPC and still answer.
            assert quick.get(f"/tasks/{tid}").json()["reveals"] == 1

        proxy.mode = "pass"
        wait_for(
            "/health to recover",
            lambda: quick.get("/health").json()["status"] in ("ok", "degraded"),
            30,
            oracle,
        )
        r = oracle.http.post(f"/tasks/{tid}/reveals", json=second.body())
        assert r.status_code == 201, r.text
    finally:
        quick.close()
        oracle.stop()
        proxy.close()


# -- the gate, in process: no chain involved before it lets a request through


def _gate(**limits: Any) -> tuple[Gate, list[str]]:
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        reached.append(message["body"].decode())
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    ctx = ApiContext(store=None, chain=None, oracle="0x0", status=ServiceStatus(), **limits)  # type: ignore[arg-type]
    return Gate(app, ctx), reached


def _scope(path: str = "/tasks/1/reveals") -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": path, "headers": []}


class Responses:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.messages[0]["headers"])

    @property
    def error(self) -> str:
        import json

        return str(json.loads(self.messages[1]["body"])["error"])


def test_a_body_that_does_not_arrive_is_408() -> None:
    gate, reached = _gate(body_timeout=0.3)

    async def slowloris() -> dict[str, Any]:
        await asyncio.sleep(3600)  # the rest of the body never comes
        return {}

    async def run() -> Responses:
        out = Responses()
        await asyncio.wait_for(gate(_scope(), slowloris, out), timeout=10)
        return out

    out = asyncio.run(run())
    assert out.status == 408
    assert "did not arrive within 0.3 s" in out.error
    assert reached == []


def test_too_many_in_flight_is_429_with_retry_after() -> None:
    gate, reached = _gate(max_inflight=2)

    async def run() -> list[Responses]:
        release = asyncio.Event()

        async def held() -> dict[str, Any]:
            await release.wait()
            return {"type": "http.request", "body": b"held", "more_body": False}

        async def quick() -> dict[str, Any]:
            return {"type": "http.request", "body": b"quick", "more_body": False}

        outs = [Responses() for _ in range(4)]
        holding = [asyncio.create_task(gate(_scope(), held, outs[n])) for n in range(2)]
        await asyncio.sleep(0.05)
        await gate(_scope(), quick, outs[2])  # refused at once: two in hand
        await gate({**_scope(), "path": "/health", "method": "GET"}, quick, outs[3])
        release.set()
        await asyncio.gather(*holding)
        return outs

    outs = asyncio.run(run())
    assert [o.status for o in outs] == [201, 201, 429, 201]
    assert outs[2].headers[b"retry-after"] == b"1"
    assert "the oracle is busy" in outs[2].error
    assert sorted(reached) == ["held", "held", "quick"]  # /health passes whatever the load
