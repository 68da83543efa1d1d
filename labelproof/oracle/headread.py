"""The chain's head for the reveal intake: one RPC read shared by every request waiting for it.

Each reveal must be checked against the chain's clock (the latest block's timestamp) as of a
moment after it arrived: a cached clock would let a reveal in after a jump of chain time
(``evm_increaseTime`` on a devnet, or a node that was behind). So a request never takes a head
read that began before it asked, but it does take one that began after: while one read is in
flight, every request that arrives waits for the *next* read, which begins as soon as the
current one ends and answers all of them at once. Each answer is then as fresh as a read of the
request's own, and N concurrent reveals cost about one RPC per round trip instead of N (on a
2-core machine the node's own CPU is shared with the oracle's).

The read runs in one dedicated thread; errors (RPC trouble) are raised in every request that
waited for that read. :class:`RawHeadRead` makes it through labelproof.rawrpc, without web3's
middleware and requests' per-call setup (about a millisecond of CPU a call).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from labelproof.oracle.onchain import RpcError
from labelproof.rawrpc import RawRpc, RpcUnavailable

Head = tuple[int, int]  # (block number, timestamp)


class RawHeadRead:
    """``eth_getBlockByNumber("latest")`` through :class:`labelproof.rawrpc.RawRpc` (one
    kept-alive connection, replaced once if the node closed it). Any failure raises RpcError
    (a ConnectionError: the API answers 503 with Retry-After)."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self._rpc = RawRpc(url, timeout)

    def __call__(self) -> Head:
        try:
            block = self._rpc.call("eth_getBlockByNumber", ["latest", False])
            return int(block["number"], 16), int(block["timestamp"], 16)
        except (RpcUnavailable, ValueError) as exc:
            raise RpcError(f"eth_getBlockByNumber: {exc}") from exc
        except (KeyError, TypeError) as exc:
            raise RpcError(f"eth_getBlockByNumber: unreadable answer: {exc!r}") from exc


class SharedHeadReader:
    def __init__(self, read: Callable[[], Head], executor: ThreadPoolExecutor) -> None:
        self._read = read
        self._executor = executor
        self._waiting: list[asyncio.Future[Head]] = []
        self._reader: asyncio.Task[None] | None = None
        self.reads = 0  # RPC reads made (for tests and benchmarks)

    async def head(self) -> Head:
        """(number, timestamp) of the latest block, from a read that began after this call."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Head] = loop.create_future()
        self._waiting.append(answer)
        if self._reader is None:
            self._reader = loop.create_task(self._serve())
        return await answer

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                # Everyone waiting now asked before this read begins; later arrivals wait for
                # the next one.
                batch, self._waiting = self._waiting, []
                self.reads += 1
                try:
                    head = await loop.run_in_executor(self._executor, self._read)
                except Exception as exc:
                    for answer in batch:
                        if not answer.done():
                            answer.set_exception(exc)
                    continue
                for answer in batch:
                    if not answer.done():  # a request whose client left is cancelled
                        answer.set_result(head)
        finally:
            self._reader = None
