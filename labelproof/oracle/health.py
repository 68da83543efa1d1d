"""What the oracle knows about its own state, kept in memory so /health never waits on the RPC.

A background probe (its own web3 client with a short timeout) reads the chain's head every
``interval`` seconds and, less often, the genesis block. It caches the head (the API uses it as
the chain's clock while it is fresh) and notices when the chain is not the one the database
belongs to (a reset ``anvil``, a restarted devnet, an RPC pointed at another network). The
follower/scheduler loop reports its ticks here. :meth:`HealthMonitor.report` turns all of it
into ``ok`` / ``degraded`` / ``down`` with one reason per problem, from memory only.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3
from web3.exceptions import BlockNotFound

log = logging.getLogger("labelproof.oracle.health")

# A probe that has failed this many times in a row makes the oracle "down" (not "degraded").
DOWN_AFTER_FAILURES = 3
# A cached head older than this is not used as the chain's clock.
HEAD_MAX_AGE = 2.0


@dataclass(frozen=True)
class ChainIdentity:
    """Which chain a database belongs to. The chain id alone does not tell a reset devnet, nor
    does the genesis block (``anvil_reset`` keeps it): the hash of the anchor block (the
    oracle's start block, where the escrow was deployed) does."""

    chain_id: int
    genesis_hash: str
    anchor: str  # "<block number>:<hash>", "<block number>:missing" if the chain is shorter

    def describe(self) -> str:
        return (
            f"chain {self.chain_id} (genesis {self.genesis_hash[:18]}..., block "
            f"{self.anchor.split(':')[0]} {self.anchor.split(':')[1][:18]}...)"
        )


def read_identity(w3: Web3, anchor_block: int) -> ChainIdentity:
    genesis = w3.eth.get_block(0)
    try:
        anchor = "0x" + bytes(w3.eth.get_block(anchor_block)["hash"]).hex()
    except BlockNotFound:
        anchor = "missing"
    return ChainIdentity(
        int(w3.eth.chain_id), "0x" + bytes(genesis["hash"]).hex(), f"{anchor_block}:{anchor}"
    )


@dataclass
class Head:
    number: int
    timestamp: int
    seen_at: float  # time.monotonic() when it was read


@dataclass
class ServiceStatus:
    """What the loop and the probe last saw; read by /health without touching the RPC."""

    started_at: float = field(default_factory=time.time)
    last_tick: float | None = None
    synced_block: int | None = None
    last_error: str | None = None
    # The chain the database belongs to, and a reason to stop acting when the RPC serves
    # another one (set by the service at start or by the probe later).
    identity: ChainIdentity | None = None
    stale_reason: str | None = None
    head: Head | None = None
    probe_failures: int = 0
    probe_error: str | None = None
    probe_latency: float | None = None
    last_probe: float | None = None
    reorgs: int = 0
    last_reorg: str | None = None

    @property
    def acting(self) -> bool:
        """Whether the oracle may act on its stored state (not bound to another chain)."""
        return self.stale_reason is None

    def fresh_head(self) -> tuple[int, int] | None:
        head = self.head
        if head is None or time.monotonic() - head.seen_at > HEAD_MAX_AGE:
            return None
        return head.number, head.timestamp

    def rpc_down(self) -> bool:
        return self.probe_failures >= DOWN_AFTER_FAILURES


class HealthMonitor:
    """The background probe. ``stale_reason`` is set when the genesis block changes."""

    def __init__(
        self,
        rpc_url: str,
        status: ServiceStatus,
        *,
        interval: float = 1.0,
        timeout: float = 2.0,
        identity_every: int = 3,
        archive_hint: str = "--archive-stale-state",
    ) -> None:
        # No retries: one probe is one request, answered or failed within `timeout`.
        self.w3 = Web3(
            Web3.HTTPProvider(
                rpc_url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None
            )
        )
        self.status = status
        self.interval = interval
        self.identity_every = identity_every
        self.archive_hint = archive_hint
        self._probes = 0

    def probe(self) -> None:
        """One probe: the head always, the genesis block every ``identity_every`` probes."""
        s = self.status
        started = time.monotonic()
        try:
            block = self.w3.eth.get_block("latest")
            s.head = Head(int(block["number"]), int(block["timestamp"]), time.monotonic())
            if s.identity is not None and self._probes % self.identity_every == 0:
                anchor_block = int(s.identity.anchor.split(":")[0])
                found = read_identity(self.w3, anchor_block)
                if found != s.identity and s.stale_reason is None:
                    s.stale_reason = stale_message(s.identity, found, self.archive_hint)
                    log.error("%s", s.stale_reason)
            s.probe_failures = 0
            s.probe_error = None
        except Exception as exc:  # any failure of the RPC counts; the probe never dies
            s.probe_failures += 1
            s.probe_error = f"{type(exc).__name__}: {exc}"[:300]
        s.probe_latency = time.monotonic() - started
        s.last_probe = time.time()
        self._probes += 1

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.probe()
            stop.wait(self.interval)


def stale_message(stored: ChainIdentity, found: ChainIdentity, archive_hint: str) -> str:
    what = (
        "the chain was reset (same chain id, other blocks)"
        if stored.chain_id == found.chain_id
        else "the RPC serves another chain"
    )
    return (
        f"{what}: this oracle's database belongs to {stored.describe()}, the RPC serves "
        f"{found.describe()}. The oracle has stopped acting on the old state (no reveals, "
        f"scoring or proposals). If the old chain is gone for good, restart the oracle with "
        f"{archive_hint}: it moves the old database aside and starts fresh on the new chain; "
        "otherwise point --rpc-url back at the old chain"
    )


def report(
    status: ServiceStatus, *, poll_interval: float, confirmations: int
) -> tuple[str, list[str], dict[str, Any]]:
    """(ok | degraded | down, reasons, details) from memory only."""
    s = status
    down: list[str] = []
    degraded: list[str] = []
    if s.stale_reason is not None:
        down.append(s.stale_reason)
    if s.probe_failures:
        message = f"the RPC did not answer the last {s.probe_failures} probe(s): {s.probe_error}"
        (down if s.rpc_down() else degraded).append(message)
    if s.last_error is not None:
        degraded.append(f"the last follower/scheduler tick failed: {s.last_error}")
    stalled_after = max(10.0, 5 * poll_interval)
    since = time.time() - (s.last_tick or s.started_at)
    if s.acting and since > stalled_after:
        degraded.append(f"the follower/scheduler loop has not completed a tick in {since:.0f} s")
    if s.head is not None and s.synced_block is not None:
        behind = s.head.number - confirmations - s.synced_block
        if behind > 100:
            degraded.append(f"the follower is {behind} blocks behind the confirmed head")
    state = "down" if down else "degraded" if degraded else "ok"
    details = {
        "head": None if s.head is None else s.head.number,
        "rpc_latency_ms": None if s.probe_latency is None else round(s.probe_latency * 1000, 1),
        "last_probe": s.last_probe,
        "reorgs": s.reorgs,
        "last_reorg": s.last_reorg,
        "genesis_hash": None if s.identity is None else s.identity.genesis_hash,
        "anchor_block": None if s.identity is None else s.identity.anchor,
        "acting": s.acting,
    }
    return state, down + degraded, details
