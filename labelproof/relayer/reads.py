"""What intake asks the chain about an attestation, read fresh for every request, in groups.

Per attestation the relayer needs the task's window (deadline, open), the annotator's version
in the registry and the latest block's time. Nothing is cached: a head cached even for a
second would let an entry in after its window closed on a chain whose clock jumps, and a
cached version would accept a stale one. Instead the requests that arrive while one JSON-RPC
batch is on its way share the next one (:class:`labelproof.grouping.GroupWorker`): one latest
block for the group, one ``window`` call per task, one ``attestation`` call per annotator.
Every request still gets answers read after it arrived; at 16 concurrent clients the relayer
makes one HTTP exchange for about ten attestations instead of ten.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

from labelproof.grouping import GroupWorker
from labelproof.relayer.rpc import RawRpc

WINDOW_SEL = keccak(text="window(uint256)")[:4]
ATTESTATION_SEL = keccak(text="attestation(uint256,address)")[:4]
# Attestations whose reads share one JSON-RPC batch, at most: 1 + 2 x 40 calls stays under
# the 100-call batch limit some providers set.
MAX_GROUP = 40


@dataclass(frozen=True)
class ChainFacts:
    deadline: int  # the task's annotation deadline (registry window)
    open: bool  # the registry's window is open
    version: int  # the annotator's current version for the task (0: none)
    now: int  # the latest block's timestamp


class Unreadable(ValueError):
    """The node answered something that does not decode as the registry's return values."""


class ChainReads:
    """``facts(task_id, annotator)``: one request's :class:`ChainFacts`, read in a group."""

    def __init__(self, rpc: RawRpc, registry: str) -> None:
        self.rpc = rpc
        self.registry = registry
        self.worker: GroupWorker[tuple[int, str], ChainFacts] = GroupWorker(
            "relay-chain-reads", self._read, MAX_GROUP
        )

    def facts(self, task_id: int, annotator: str) -> Future[ChainFacts]:
        """A future of the facts (or of the node's error: RpcUnavailable, ValueError)."""
        return self.worker.submit((task_id, annotator))

    def _read(self, items: list[tuple[int, str]]) -> list[ChainFacts | BaseException]:
        calls: list[tuple[str, list[Any]]] = [("eth_getBlockByNumber", ["latest", False])]
        window_call: dict[int, int] = {}
        attestation_call: dict[tuple[int, str], int] = {}
        for task_id, annotator in items:
            task_word = task_id.to_bytes(32, "big")
            if task_id not in window_call:
                window_call[task_id] = len(calls)
                calls.append(self._call(WINDOW_SEL + task_word))
            if (task_id, annotator) not in attestation_call:
                attestation_call[task_id, annotator] = len(calls)
                owner = bytes(12) + bytes.fromhex(annotator[2:])
                calls.append(self._call(ATTESTATION_SEL + task_word + owner))
        results = self.rpc.batch_outcomes(calls)
        block = results[0]
        if isinstance(block, BaseException):
            raise block
        try:
            now = int(block["timestamp"], 16)
        except (ValueError, TypeError, KeyError) as exc:
            raise Unreadable(f"the latest block: {exc}") from None
        return [
            self._facts(
                now, results[window_call[task_id]], results[attestation_call[task_id, annotator]]
            )
            for task_id, annotator in items
        ]

    def _call(self, data: bytes) -> tuple[str, list[Any]]:
        return ("eth_call", [{"to": self.registry, "data": "0x" + data.hex()}, "latest"])

    @staticmethod
    def _facts(now: int, window: Any, attestation: Any) -> ChainFacts | BaseException:
        for answer in (window, attestation):
            if isinstance(answer, BaseException):
                return answer
        try:
            return ChainFacts(
                deadline=int(window[2:66], 16),
                open=int(window[66:130], 16) != 0,
                version=int(attestation[2 + 64 : 2 + 128], 16),
                now=now,
            )
        except (ValueError, TypeError, IndexError) as exc:
            return Unreadable(f"the registry's answer: {exc}")
