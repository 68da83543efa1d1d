"""What the relayer tests share: an anvil with a v2 deployment, open tasks, signed attestation
bodies, and the relayer as a real process (``python -m labelproof.relayer serve``)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account

from labelproof.node import free_port
from labelproof.relayer.__main__ import KEY_ENV
from labelproof.relayer.service import CRASH_ENV
from labelproof.testing.chain_env import (  # noqa: F401 (re-exported for the tests)
    DAY,
    TOKEN,
    Env,
    make_env,
    open_task,
    signed_body,
)

ROOT = Path(__file__).resolve().parents[2]


def digest_of(env: Env, body: dict[str, Any]) -> str:
    from labelproof.relayer.intake import attestation_digest, domain_separator

    sep = domain_separator(env.dep.chain_id, env.dep.registry)
    return (
        "0x"
        + attestation_digest(
            sep,
            body["task_id"],
            body["annotator"],
            bytes.fromhex(body["root"][2:]),
            body["item_count"],
            body["version"],
        ).hex()
    )


def on_chain_version(env: Env, body: dict[str, Any]) -> int:
    return int(env.registry.functions.attestation(body["task_id"], body["annotator"]).call()[1])


def attested_events(env: Env, task_id: int) -> list[Any]:
    return list(
        env.registry.events.Attested().get_logs(from_block=0, argument_filters={"taskId": task_id})
    )


class RelayerProcess:
    """The relayer as a subprocess; its key, database and port survive restarts."""

    def __init__(self, env: Env, name: str, rpc_url: str | None = None, **options: Any) -> None:
        self.env = env
        self.key = Account.create()
        env.node.set_balance(self.key.address, 100 * TOKEN)
        self.db = env.tmp / f"relayer-{name}.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.rpc_url = rpc_url or env.rpc
        self.log = env.tmp / f"relayer-{name}.log"
        self.options = {"batch-size": 50, "max-wait": 0.2, "poll-interval": 0.2, **options}
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def start(self, crash_at: str | None = None, **overrides: Any) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        environ = {**os.environ, "PYTHONPATH": str(ROOT), KEY_ENV: self.key.key.hex()}
        environ.pop(CRASH_ENV, None)
        if crash_at:
            environ[CRASH_ENV] = crash_at
        options = {**self.options, **overrides}
        cmd = [
            sys.executable,
            "-m",
            "labelproof.relayer",
            "serve",
            "--rpc-url",
            self.rpc_url,
            "--deployments",
            str(self.env.deployments),
            "--db-url",
            f"sqlite:///{self.db}",
            "--port",
            str(self.port),
            "--rpc-timeout",
            "2",
        ]
        for name, value in options.items():
            if value is True:
                cmd.append(f"--{name}")
            elif value is not False and value is not None:
                cmd += [f"--{name}", str(value)]
        with self.log.open("ab") as out:
            out.write(f"\n=== start (crash_at={crash_at}) {options} ===\n".encode())
            out.flush()
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=environ, stdout=out, stderr=out)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"relayer exited early:\n{self.tail()}")
            try:
                if self.http.get("/health").status_code in (200, 503):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"relayer did not answer:\n{self.tail()}")

    def post(self, body: dict[str, Any]) -> httpx.Response:
        return self.http.post("/attestations", json=body)

    def state(self, digest: str) -> dict[str, Any]:
        r = self.http.get(f"/attestations/{digest}")
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill9(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join([t for t in text if '" 200 OK' not in t][-lines:])

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Read the relayer's database directly (the process may be dead)."""
        conn = sqlite3.connect(self.db)
        try:
            return list(conn.execute(sql, args).fetchall())
        finally:
            conn.close()

    def wait_for(self, what: str, check: Any, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{self.tail()}")

    def all_confirmed(self, digests: list[str]) -> bool:
        return all(self.state(d)["status"] == "confirmed" for d in digests)


def in_process_relay(env: Env, name: str, **config: Any) -> Any:
    """A Relay object (no threads) on its own database: for the policy tests and the fuzz."""
    from labelproof.client import Chain
    from labelproof.relayer import Relay, RelayConfig
    from labelproof.relayer.store import Store

    key = Account.create()
    env.node.set_balance(key.address, 100 * TOKEN)
    chain = Chain.connect(env.rpc, env.deployments)
    relay = Relay(chain, key, Store(f"sqlite:///{env.tmp / f'{name}.db'}"), RelayConfig(**config))
    relay.poll()
    return relay
