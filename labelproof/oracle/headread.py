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
waited for that read. :class:`RawHeadRead` makes it over one kept-alive HTTP connection,
without web3's middleware and requests' per-call setup (about a millisecond of CPU a call).
"""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from labelproof.oracle.onchain import RpcError

Head = tuple[int, int]  # (block number, timestamp)

_HEAD_REQUEST = json.dumps(
    {"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": ["latest", False]}
).encode()


# What a kept-alive connection closed by the other side looks like on its next use.
_STALE_CONNECTION = (
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
)


class RawHeadRead:
    """``eth_getBlockByNumber("latest")`` over one kept-alive connection (one thread only).
    Any failure closes the connection and raises RpcError (a ConnectionError: the API answers
    503 with Retry-After); the next call connects again. A kept-alive connection found closed
    is replaced once at once."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
            raise ValueError(f"not a plain http(s) RPC URL: {url!r}")
        self.url = url
        self.timeout = timeout
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._conn: http.client.HTTPConnection | None = None

    def __call__(self) -> Head:
        reused = self._conn is not None
        try:
            return self._read()
        except RpcError as exc:
            self.close()
            # A kept-alive connection the node (or a proxy) has closed since: once more on a
            # new one, as HTTP clients do (the read is idempotent). Never after a timeout,
            # which would double the wait.
            if reused and isinstance(exc.__cause__, _STALE_CONNECTION):
                try:
                    return self._read()
                except RpcError:
                    self.close()
                    raise
            raise

    def _read(self) -> Head:
        try:
            if self._conn is None:
                kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
                self._conn = kind(self._host, self._port, timeout=self.timeout)
            self._conn.request(
                "POST", self._path, _HEAD_REQUEST, {"Content-Type": "application/json"}
            )
            response = self._conn.getresponse()
            payload = response.read()
            if response.status != 200:
                raise RpcError(f"eth_getBlockByNumber: HTTP {response.status} from {self.url}")
            answer = json.loads(payload)
            if "result" not in answer:
                raise RpcError(f"eth_getBlockByNumber: {answer.get('error', answer)}")
            block = answer["result"]
            return int(block["number"], 16), int(block["timestamp"], 16)
        except RpcError:
            raise
        except (OSError, http.client.HTTPException) as exc:
            raise RpcError(f"eth_getBlockByNumber: {type(exc).__name__}: {exc}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise RpcError(f"eth_getBlockByNumber: unreadable answer: {exc}") from exc

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


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
