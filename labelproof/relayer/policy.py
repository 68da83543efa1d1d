"""Who the relayer pays gas for, and how much.

The v2 contracts let anyone attest to any open task (issue #8 chose the cancel rule over an
on-chain enrollment list), so a relayer that pays for every valid signature pays for spam too.
The relayer's own policy:

* **Real open tasks only**: the registry's window is open and its deadline not passed (checked
  at intake, cached for a couple of seconds per task).
* **Enrollment** (``--enrollment required``): a task's requester signs the list of annotators
  this relayer may pay for (EIP-191 ``personal_sign`` over :func:`enrollment_message`) and PUTs
  it to ``/tasks/{id}/enrollment``; attestations from anyone else are refused with 403. With
  ``--enrollment open`` (the default, so a public task works as before) any annotator is served,
  within the limits below.
* **Rate limits**: token buckets per annotator address and per task (429 with ``Retry-After``).
  They live in memory: a restart refills them.
* **A gas budget per task**: accepted entries reserve an estimate (:data:`GAS_PER_ENTRY`) until
  their batch is mined, then count the share of the batch's gas they used; past the budget the
  task's attestations are refused with 403.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak, to_checksum_address

# What the relayer reserves per accepted attestation until its batch is mined (then the entry
# counts its real share of the batch's gas): the cost of a batch of one (about 61,400 gas with
# the transaction's base cost), so a reservation is never below what the entry will use. In
# full batches an entry costs about 34,300 (`make bench-gas`, attest_relayed_per_annotator).
GAS_PER_ENTRY = 64_000


@dataclass
class Bucket:
    """A token bucket: ``rate`` tokens per second, at most ``burst`` saved up."""

    rate: float
    burst: float
    tokens: float
    stamp: float = field(default_factory=time.monotonic)

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait(self, now: float) -> float:
        """Seconds until one token is available (0: now)."""
        self._refill(now)
        if self.tokens >= 1:
            return 0.0
        return (1 - self.tokens) / self.rate if self.rate > 0 else math.inf

    def take(self) -> None:
        self.tokens -= 1

    def give_back(self) -> None:
        self.tokens = min(self.burst, self.tokens + 1)


class RateLimits:
    """Per-key token buckets (per annotator, per task); thread-safe."""

    def __init__(self, per_minute: float, burst: float | None = None) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst if burst is not None else max(1.0, per_minute)
        self.buckets: dict[object, Bucket] = {}
        self.lock = threading.Lock()

    def retry_after(self, key: object) -> float:
        """0 if ``key`` may go now, else the seconds to wait."""
        with self.lock:
            bucket = self.buckets.get(key)
            if bucket is None:
                return 0.0
            return bucket.wait(time.monotonic())

    def take(self, key: object) -> None:
        with self.lock:
            bucket = self.buckets.get(key)
            if bucket is None:
                bucket = self.buckets[key] = Bucket(self.rate, self.burst, self.burst)
            bucket.wait(time.monotonic())
            bucket.take()
            if len(self.buckets) > 100_000:  # forget full buckets: they are the default
                now = time.monotonic()
                for k in [k for k, b in self.buckets.items() if b.wait(now) == 0 and k != key]:
                    if self.buckets[k].tokens >= self.buckets[k].burst:
                        del self.buckets[k]

    def refund(self, key: object) -> None:
        """Give back a token taken for a request that ended up not using it."""
        with self.lock:
            bucket = self.buckets.get(key)
            if bucket is not None:
                bucket.give_back()


def enrollment_message(chain_id: int, registry: str, task_id: int, annotators: list[str]) -> str:
    """The text a requester signs to let ``annotators`` use a relayer for ``task_id``."""
    ordered = sorted({to_checksum_address(a) for a in annotators})
    digest = "0x" + keccak(b"".join(bytes.fromhex(a[2:]) for a in ordered)).hex()
    return (
        "labelproof relayer enrollment v1\n"
        f"chain: {chain_id}\n"
        f"registry: {to_checksum_address(registry)}\n"
        f"task: {task_id}\n"
        f"annotators: {len(ordered)} {digest}"
    )


def enrollment_signer(message: str, signature: bytes) -> str:
    """The address that signed ``message`` with personal_sign."""
    return str(Account.recover_message(encode_defunct(text=message), signature=signature))
