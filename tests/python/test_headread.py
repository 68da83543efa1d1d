"""The reveal intake's shared head read (labelproof/oracle/headread.py), without a chain: a
caller never gets a read that began before it asked, concurrent callers share one, and RPC
trouble reaches every caller of the failed read."""

from __future__ import annotations

import asyncio
import base64
import json
import socketserver
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from labelproof.node import free_port
from labelproof.oracle.headread import RawHeadRead, SharedHeadReader
from labelproof.oracle.onchain import RpcError


def test_callers_share_reads_that_began_after_they_asked() -> None:
    release = [threading.Event(), threading.Event()]
    began: list[int] = []

    def read() -> tuple[int, int]:
        n = len(began)
        began.append(n)
        assert release[n].wait(10)
        return n, 1_000 + n

    async def scenario() -> tuple[list[tuple[int, int]], list[tuple[int, int]], int]:
        reader = SharedHeadReader(read, ThreadPoolExecutor(1))
        first = [asyncio.ensure_future(reader.head()) for _ in range(3)]
        while not began:  # read 0 is in flight
            await asyncio.sleep(0.001)
        later = [asyncio.ensure_future(reader.head()) for _ in range(4)]
        await asyncio.sleep(0.05)
        assert len(began) == 1  # the later callers wait for a read of their own
        release[0].set()
        firsts = await asyncio.gather(*first)
        while len(began) < 2:
            await asyncio.sleep(0.001)
        release[1].set()
        return firsts, await asyncio.gather(*later), reader.reads

    firsts, laters, reads = asyncio.run(scenario())
    assert firsts == [(0, 1_000)] * 3  # three callers, one read
    assert laters == [(1, 1_001)] * 4  # asked while read 0 was in flight: read 1, not read 0
    assert reads == 2


def test_a_failed_read_fails_its_callers_and_the_next_read_is_fresh() -> None:
    answers: list[object] = [RpcError("eth_getBlockByNumber: node down"), (7, 70)]

    def read() -> tuple[int, int]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    async def scenario() -> tuple[list[object], tuple[int, int]]:
        reader = SharedHeadReader(read, ThreadPoolExecutor(1))
        failed = await asyncio.gather(reader.head(), reader.head(), return_exceptions=True)
        return failed, await reader.head()

    failed, head = asyncio.run(scenario())
    assert all(isinstance(f, RpcError) and "node down" in str(f) for f in failed)
    assert head == (7, 70)


def test_raw_head_read_raises_rpc_errors() -> None:
    with pytest.raises(ValueError, match=r"not an http\(s\) RPC URL"):
        RawHeadRead("ipc:///tmp/geth.ipc", 1.0)
    dead = RawHeadRead(f"http://127.0.0.1:{free_port()}", 1.0)  # nothing listens there
    with pytest.raises(RpcError, match="eth_getBlockByNumber: ConnectionRefusedError"):
        dead()


def test_raw_head_read_replaces_a_kept_alive_connection_the_node_closed() -> None:
    """A node (or proxy) that closes idle connections: the next read reconnects at once
    instead of answering 503."""
    served: list[int] = []

    class OneAnswerPerConnection(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            request = self.request.recv(65536)
            assert b"eth_getBlockByNumber" in request
            served.append(1)
            body = json.dumps(
                {"jsonrpc": "2.0", "id": 1, "result": {"number": "0x2a", "timestamp": "0x64"}}
            ).encode()
            self.request.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive"
                b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            # ...and the connection is closed here, although the answer said keep-alive.

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), OneAnswerPerConnection)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        read = RawHeadRead(f"http://127.0.0.1:{server.server_address[1]}/", 2.0)
        assert [read() for _ in range(3)] == [(42, 100)] * 3
        assert len(served) == 3
    finally:
        server.shutdown()
        server.server_close()


def test_raw_reads_send_a_url_s_credentials_as_basic_auth() -> None:
    """A hosted endpoint of the form https://user:key@host/...: web3 sends the credentials,
    and so must the raw client (both the oracle's head read and the relayer's reads)."""
    seen: list[bytes] = []

    class Answer(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            seen.append(self.request.recv(65536))
            body = json.dumps(
                {"jsonrpc": "2.0", "id": 1, "result": {"number": "0x1", "timestamp": "0x2"}}
            ).encode()
            self.request.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Answer)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        assert RawHeadRead(f"http://alice:p%40ss@127.0.0.1:{port}/rpc", 2.0)() == (1, 2)
        assert RawHeadRead(f"http://127.0.0.1:{port}/rpc", 2.0)() == (1, 2)
    finally:
        server.shutdown()
        server.server_close()
    authorized, anonymous = (request.lower() for request in seen)
    assert b"authorization: basic " + base64.b64encode(b"alice:p@ss").lower() in authorized
    assert b"authorization" not in anonymous
