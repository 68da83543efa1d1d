"""Wiring: configuration, the background follower/scheduler loop, and the HTTP server.

``serve(config)`` runs uvicorn in the calling thread and the loop (follow the chain, then score
and propose what is due) in a background thread, every ``poll_interval`` seconds. The loop
survives errors of one tick (an RPC timeout, say): it logs them, shows the last one on /health
and tries again on the next tick; everything it does is idempotent by construction. A third
thread probes the RPC (health.py) so /health answers from memory.

Chain identity: the database records the chain id and the genesis block hash. When the RPC
serves another chain (a reset devnet, at start or later), the oracle stops acting on the old
state: the loop does nothing, the API refuses task requests with 503 and /health says ``down``
and what to do. Started with ``archive_stale_state`` (``--archive-stale-state``), it moves the
old database to ``<data-dir>/archive/`` and starts fresh on the new chain.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address
from web3 import Web3

from labelproof.chain import web3_for
from labelproof.deploy import Deployment
from labelproof.oracle.api import ApiContext, build_asgi
from labelproof.oracle.follower import Follower
from labelproof.oracle.health import (
    ChainIdentity,
    HealthMonitor,
    ServiceStatus,
    read_identity,
    stale_message,
)
from labelproof.oracle.onchain import OracleChain
from labelproof.oracle.records import DEFAULT_GOLD_GRACE
from labelproof.oracle.scheduler import MAX_AUTO_RESTARTS, Scheduler
from labelproof.oracle.store import Store

log = logging.getLogger("labelproof.oracle")

KEY_ENV = "LABELPROOF_ORACLE_KEY"
DB_FILE = "oracle.sqlite3"
ARCHIVE_FLAG = "--archive-stale-state"


class ConfigError(ValueError):
    """The oracle configuration is incomplete or inconsistent; the message names the setting."""


@dataclass
class OracleConfig:
    """Everything `serve` needs. The oracle key comes from, in order: `private_key`, a
    keystore file with its password file, or the LABELPROOF_ORACLE_KEY environment variable
    (meant for tests and local chains)."""

    rpc_url: str
    data_dir: Path
    deployment: Path | None = None  # deployments/<chainId>.json written by labelproof.deploy
    escrow: str | None = None  # instead of a deployment file: registry/committee come from it
    keystore: Path | None = None
    password_file: Path | None = None
    private_key: str | None = None
    db_url: str | None = None  # default sqlite:///<data_dir>/oracle.sqlite3
    host: str = "127.0.0.1"
    port: int = 8000
    poll_interval: float = 2.0
    confirmations: int = 0
    start_block: int | None = None  # default: the deployment's block, else 0
    chunk_size: int = 2_000
    max_body_bytes: int = 1_000_000
    receipt_timeout: float = 30.0
    log_level: str = "info"
    # Seconds after a task's reveal deadline for the requester to reveal the gold set (capped
    # at half the task's oracle timeout); then the task is scored without gold ("withheld").
    # Every oracle of a committee should use the same value, or they may score differently.
    gold_grace: int = DEFAULT_GOLD_GRACE
    max_auto_restarts: int = MAX_AUTO_RESTARTS
    # When the database belongs to another chain (a reset devnet): move it to
    # <data_dir>/archive/ and start fresh, instead of refusing to act.
    archive_stale_state: bool = False
    # Seconds a client has to send a request body; requests handled at once before 429.
    body_timeout: float = 10.0
    max_inflight: int = 32
    # The health probe: seconds between probes, and its RPC timeout.
    probe_interval: float = 1.0
    probe_timeout: float = 2.0
    # The API's RPC timeout: a hung node gives the client a 503 after this, not a minute later.
    api_rpc_timeout: float = 5.0

    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return "sqlite:///" + str((self.data_dir / DB_FILE).resolve())

    def load_deployment(self) -> Deployment | None:
        if self.deployment is None:
            return None
        try:
            return Deployment.from_json(self.deployment.read_text())
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"deployment {self.deployment}: cannot read it: {exc}") from exc

    def escrow_address(self, deployment: Deployment | None) -> str:
        if self.escrow is not None:
            if not is_address(self.escrow):
                raise ConfigError(f"escrow {self.escrow!r} is not an address")
            if deployment is not None and to_checksum_address(self.escrow) != deployment.escrow:
                raise ConfigError("escrow differs from the deployment file's escrow")
            return to_checksum_address(self.escrow)
        if deployment is None:
            raise ConfigError("give a deployment file or the escrow address")
        return deployment.escrow

    def load_account(self) -> LocalAccount:
        key = self.private_key
        if key is None and self.keystore is not None:
            if self.password_file is None:
                raise ConfigError("a keystore needs a password file")
            try:
                keyfile = json.loads(self.keystore.read_text())
                password = self.password_file.read_text().rstrip("\n")
                key = "0x" + bytes(Account.decrypt(keyfile, password)).hex()
            except (OSError, ValueError) as exc:
                raise ConfigError(f"keystore {self.keystore}: cannot decrypt: {exc}") from None
        if key is None:
            key = os.environ.get(KEY_ENV)
        if not key:
            raise ConfigError(f"no oracle key: give a keystore and password file, or set {KEY_ENV}")
        try:
            account: LocalAccount = Account.from_key(key)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"the oracle key is not a valid private key: {exc}") from None
        return account

    def validate(self) -> None:
        if self.poll_interval <= 0:
            raise ConfigError("poll_interval must be > 0")
        if self.confirmations < 0:
            raise ConfigError("confirmations must be >= 0")
        if self.max_body_bytes < 1024:
            raise ConfigError("max_body_bytes must be at least 1024")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port} is out of range")
        if self.gold_grace < 0:
            raise ConfigError("gold_grace must be >= 0 seconds")
        if self.max_auto_restarts < 0:
            raise ConfigError("max_auto_restarts must be >= 0")
        if self.body_timeout <= 0 or self.probe_interval <= 0 or self.probe_timeout <= 0:
            raise ConfigError("body_timeout, probe_interval and probe_timeout must be > 0")
        if self.max_inflight < 1:
            raise ConfigError("max_inflight must be >= 1")


class OracleService:
    """The oracle's parts, built from a config and bound to one deployment and database."""

    def __init__(self, config: OracleConfig) -> None:
        config.validate()
        self.config = config
        self.account = config.load_account()
        deployment = config.load_deployment()
        escrow = config.escrow_address(deployment)
        config.data_dir.mkdir(parents=True, exist_ok=True)
        # Separate web3 clients for the API's worker threads and the loop thread: neither
        # waits on the other's HTTP connection.
        self.loop_chain = OracleChain(_web3(config.rpc_url), escrow, deployment)
        # The API's client does not retry: a client waits api_rpc_timeout at most, then 503.
        self.api_chain = OracleChain(
            _web3(config.rpc_url, config.api_rpc_timeout, retry=False), escrow, deployment
        )
        self.status = ServiceStatus()
        start = config.start_block
        if start is None:
            start = deployment.block if deployment is not None else 0
        identity = read_identity(self.loop_chain.w3, start)
        self.store = Store(config.database_url())
        stale = self._bind(escrow, identity)
        if stale is not None and config.archive_stale_state:
            moved = self.store.archive()
            log.warning("%s: archived the old database to %s; starting fresh", stale, moved)
            self.store = Store(config.database_url())
            stale = self._bind(escrow, identity)
        self.status.identity = identity
        if stale is not None:
            chain_id, genesis, anchor = self.store.identity()
            stored = ChainIdentity(int(chain_id or 0), genesis or "unknown", anchor or "0:unknown")
            # Stay up (and say why on /health), but never act on another chain's state.
            self.status.identity = stored
            self.status.stale_reason = stale_message(stored, identity, ARCHIVE_FLAG)
            log.error("%s", self.status.stale_reason)
        self.monitor = HealthMonitor(
            config.rpc_url,
            self.status,
            interval=config.probe_interval,
            timeout=config.probe_timeout,
            archive_hint=ARCHIVE_FLAG,
        )
        self.follower = Follower(
            self.loop_chain,
            self.store,
            start_block=start,
            confirmations=config.confirmations,
            chunk_size=config.chunk_size,
        )
        self.scheduler = Scheduler(
            self.loop_chain,
            self.store,
            self.account,
            receipt_timeout=config.receipt_timeout,
            gold_grace=config.gold_grace,
            max_auto_restarts=config.max_auto_restarts,
            first_block=start,
        )
        self.context = ApiContext(
            store=self.store,
            chain=self.api_chain,
            oracle=self.account.address,
            max_body_bytes=config.max_body_bytes,
            status=self.status,
            gold_grace=config.gold_grace,
            body_timeout=config.body_timeout,
            max_inflight=config.max_inflight,
            poll_interval=config.poll_interval,
            confirmations=config.confirmations,
            rpc_timeout=config.api_rpc_timeout,
        )
        current = self.loop_chain.current_rules_id()
        if not self.loop_chain.is_live_oracle(current, self.account.address):
            log.warning(
                "%s is not a live oracle of committee %s's current rule set %d: it will not "
                "propose for tasks created under it (tasks of earlier rule sets it belongs to "
                "are still served)",
                self.account.address,
                self.loop_chain.committee.address,
                current,
            )

    def _bind(self, escrow: str, identity: ChainIdentity) -> str | None:
        return self.store.bind(identity.chain_id, escrow, identity.genesis_hash, identity.anchor)

    def run_once(self) -> None:
        """One tick: store new confirmed events, then score and propose what is due; nothing
        while the database belongs to another chain."""
        if not self.status.acting:
            return
        reorgs = self.follower.reorgs
        self.status.synced_block = self.follower.sync()
        if self.follower.reorgs != reorgs:
            self.scheduler.forget()
            self.status.reorgs = self.follower.reorgs
            self.status.last_reorg = self.follower.last_reorg
        self.scheduler.tick()
        self.status.last_tick = time.time()

    def run_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once()
                self.status.last_error = None
            except Exception as exc:  # one bad tick must not stop the oracle; retried next
                log.exception("oracle tick failed")
                self.status.last_error = f"{type(exc).__name__}: {exc}"[:500]
            stop.wait(self.config.poll_interval)

    def serve(self) -> None:
        stop = threading.Event()
        worker = threading.Thread(
            target=self.run_loop, args=(stop,), name="oracle-loop", daemon=True
        )
        worker.start()
        probe = threading.Thread(
            target=self.monitor.run, args=(stop,), name="oracle-probe", daemon=True
        )
        probe.start()
        log.info(
            "oracle %s serving on http://%s:%d (escrow %s, chain %d)",
            self.account.address,
            self.config.host,
            self.config.port,
            self.loop_chain.escrow.address,
            self.loop_chain.chain_id,
        )
        server = uvicorn.Server(
            uvicorn.Config(
                build_asgi(self.context),
                host=self.config.host,
                port=self.config.port,
                log_level=self.config.log_level,
            )
        )
        try:
            server.run()
        finally:
            stop.set()
            worker.join(timeout=30)


def _web3(url: str, timeout: float = 30.0, *, retry: bool = True) -> Web3:
    if retry:  # the shared client: retries a hosted provider's transient failures
        return web3_for(url, timeout)
    # The API's client answers within its own short timeout instead of retrying.
    return Web3(
        Web3.HTTPProvider(
            url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None
        )
    )


def serve(config: OracleConfig) -> None:
    """Run the oracle until interrupted: the HTTP API plus the follower/scheduler loop."""
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    OracleService(config).serve()


def approve_repropose(store: Store, task_id: int, round_: int | None = None) -> int:
    """Operator action for a round the scheduler holds back: propose a payout an arbitrator
    ruled wrong, or restart a split round past the automatic limit, for `task_id` in `round_`
    (default: the latest round this oracle's database knows of). Returns the approved round."""
    with store.write() as tx:
        if round_ is None:
            known: list[int] = [p.round for p in tx.proposals(task_id)]
            for e in tx.committee_events(task_id):
                if e.round is None:
                    continue
                ruling = e.kind == "resolved" and e.verdict in (2, 3)
                known.append(e.round + 1 if ruling else e.round)
            if not known:
                raise ConfigError(
                    f"task {task_id}: this oracle knows no round of it; give the round explicitly"
                )
            round_ = max(known)
        tx.approve_round(task_id, round_)
    return round_
