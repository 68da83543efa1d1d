"""A public test network, simulated: a JSON-RPC proxy in front of anvil that behaves like a
hosted provider.

* No unlocked accounts: ``eth_accounts`` is empty and ``eth_sendTransaction`` is refused, so
  everything must be signed locally (keystores).
* ``eth_getLogs`` over more than ``log_range`` blocks (1,000) is refused with the error text a
  hosted provider returns.
* A share of the requests that providers answer idempotently is refused with HTTP 429 (with a
  ``-32005`` body), dropped (the connection closed without an answer) or delayed.
* The first signed transaction calling each of ``hold_selectors`` is "stuck": the proxy
  answers with its hash but does not pass it on, as a mempool that dropped an underpriced
  transaction would; a replacement at the same nonce (or the same transaction sent again)
  goes through.

* Time passes with blocks: ``evm_increaseTime(seconds)`` (the stand-in for waiting) mines one
  block per ``block_time`` seconds, so the chain grows past the log range cap as a public one
  does. 300 s rather than Ethereum's 12: anvil mines thousands of blocks slowly (1,000 take
  seconds, 3,600 more than a minute), and a three-day wait of 864 blocks is enough to take
  every later scan past 1,000 blocks.

It counts what it did in :class:`Figures`, which the tests report.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak
from hexbytes import HexBytes

from labelproof.node import free_port

RANGE_ERROR = {
    "code": -32600,
    "message": "eth_getLogs is limited to a 1000 block range",
}
RATE_ERROR = {
    "code": -32005,
    "message": "daily request count exceeded, request rate limited",
}
# Read-only methods a provider may refuse or drop, and that web3's HTTP retry and labelproof's
# log reader ask again. Sends are never dropped here: a dropped send is a stuck transaction,
# which `hold_every` simulates.
FLAKY = frozenset(
    {
        "eth_blockNumber",
        "eth_getLogs",
        "eth_call",
        "eth_getBalance",
        "eth_getCode",
        "eth_getTransactionReceipt",
        "eth_getTransactionCount",
        "eth_getBlockByNumber",
        "eth_estimateGas",
    }
)


@dataclass
class Figures:
    requests: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    log_range_refused: int = 0  # eth_getLogs over the range cap, refused
    rate_limited: int = 0  # HTTP 429 answers
    dropped: int = 0  # connections closed without an answer
    delayed: int = 0
    refused_accounts: int = 0  # eth_accounts / eth_sendTransaction asked for
    blocks_mined: int = 0  # blocks that passing time produced
    held: int = 0  # signed transactions "stuck" (answered, not passed on)
    replaced: int = 0  # transactions at a held nonce sent again with a higher fee
    log_ranges: list[int] = field(default_factory=list)  # block span of each eth_getLogs served

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        spans = data.pop("log_ranges")
        data["log_requests_served"] = len(spans)
        data["largest_log_range_served"] = max(spans, default=0)
        return data


class PublicNet:
    """The proxy: ``url`` is what clients use, ``upstream`` the anvil behind it."""

    def __init__(
        self,
        upstream: str,
        *,
        log_range: int = 1_000,
        rate_limit_share: float = 0.04,
        drop_share: float = 0.02,
        delay_share: float = 0.05,
        max_delay: float = 0.2,
        hold_selectors: tuple[str, ...] = (),
        stall_after: int | None = None,
        block_time: int | None = 300,
        seed: int = 11,
    ) -> None:
        self.upstream = upstream
        self.log_range = log_range
        self.rate_limit_share = rate_limit_share
        self.drop_share = drop_share
        self.delay_share = delay_share
        self.max_delay = max_delay
        self.hold_selectors = {
            bytes(keccak(text=signature)[:4]): signature for signature in hold_selectors
        }
        self.held_calls: list[str] = []
        # After this many signed transactions, every further one is answered and dropped: a
        # provider that lost its connection to the network mid-deploy.
        self.stall_after = stall_after
        self._raw_seen = 0
        self.block_time = block_time
        self.random = random.Random(seed)
        self.figures = Figures()
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._held: dict[tuple[str, int], str] = {}  # (sender, nonce) -> held hash
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> PublicNet:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the behaviour

    def _roll(self) -> float:
        with self._lock:
            return self.random.random()

    def answer(
        self, call: dict[str, Any], agent: str = "python"
    ) -> tuple[int, dict[str, Any] | None]:
        """(HTTP status, JSON body or None to drop the connection) for one call. Faults go to
        labelproof's own clients (web3.py, httpx), whose retries are under test; cast has its
        own."""
        method = str(call.get("method"))
        with self._lock:
            self.figures.requests += 1
            self.figures.by_method[method] = self.figures.by_method.get(method, 0) + 1
        ident = call.get("id")
        if method in ("eth_accounts",):
            with self._lock:
                self.figures.refused_accounts += 1
            return 200, {"jsonrpc": "2.0", "id": ident, "result": []}
        if method in ("eth_sendTransaction", "eth_sign", "personal_sign"):
            with self._lock:
                self.figures.refused_accounts += 1
            return 200, _error(
                ident, -32601, f"the method {method} does not exist/is not available"
            )
        if method in FLAKY and ("python" in agent.lower() or "web3" in agent.lower()):
            roll = self._roll()
            if roll < self.rate_limit_share:
                with self._lock:
                    self.figures.rate_limited += 1
                return 429, _error(ident, **RATE_ERROR)
            if roll < self.rate_limit_share + self.drop_share:
                with self._lock:
                    self.figures.dropped += 1
                return 0, None
            if roll < self.rate_limit_share + self.drop_share + self.delay_share:
                with self._lock:
                    self.figures.delayed += 1
                time.sleep(self.max_delay * self._roll())
        if method == "evm_increaseTime" and self.block_time:
            seconds = int(str((call.get("params") or [0])[0]), 0)
            blocks = max(1, seconds // self.block_time)
            with self._lock:
                self.figures.blocks_mined += blocks
            mine = {"jsonrpc": "2.0", "id": ident, "method": "anvil_mine"}
            return 200, self._forward({**mine, "params": [hex(blocks), hex(self.block_time)]})
        if method == "eth_getLogs":
            span = self._log_span(call)
            if span > self.log_range:
                with self._lock:
                    self.figures.log_range_refused += 1
                return 200, _error(ident, **RANGE_ERROR)
            with self._lock:
                self.figures.log_ranges.append(span)
        if method == "eth_sendRawTransaction" and self.stall_after is not None:
            raw = bytes.fromhex(str(call["params"][0])[2:])
            with self._lock:
                self._raw_seen += 1
                stalled = self._raw_seen > self.stall_after
                if stalled:
                    self.figures.held += 1
            if stalled:
                return 200, {"jsonrpc": "2.0", "id": ident, "result": "0x" + keccak(raw).hex()}
        if method == "eth_sendRawTransaction" and (self.hold_selectors or self._held):
            held = self._maybe_hold(call)
            if held is not None:
                return 200, {"jsonrpc": "2.0", "id": ident, "result": held}
        return 200, self._forward(call)

    def _forward(self, call: dict[str, Any]) -> dict[str, Any]:
        response = self._session.post(self.upstream, json=call, timeout=60)
        body: dict[str, Any] = response.json()
        return body

    def _block(self, tag: Any) -> int:
        if isinstance(tag, str) and tag.startswith("0x"):
            return int(tag, 16)
        if tag in (None, "latest", "pending", "safe", "finalized"):
            head = self._forward({"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber"})
            return int(head["result"], 16)
        return 0  # earliest

    def _log_span(self, call: dict[str, Any]) -> int:
        params = (call.get("params") or [{}])[0]
        if "blockHash" in params:
            return 1
        return self._block(params.get("toBlock")) - self._block(params.get("fromBlock")) + 1

    def _maybe_hold(self, call: dict[str, Any]) -> str | None:
        raw = bytes.fromhex(str(call["params"][0])[2:])
        tx_hash = "0x" + keccak(raw).hex()
        try:
            sender = Account.recover_transaction(raw)
            if raw[0] >= 0xC0:  # legacy: an RLP list
                import rlp

                fields = rlp.decode(raw)
                nonce, data = int.from_bytes(fields[0], "big"), bytes(fields[5])
            else:
                decoded = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
                nonce, data = int(decoded["nonce"]), bytes(HexBytes(decoded["data"]))
        except Exception:
            return None
        key = (sender.lower(), nonce)
        with self._lock:
            if key in self._held:
                if self._held[key] != tx_hash:
                    self.figures.replaced += 1
                return None  # the replacement (or a rebroadcast) goes through
            signature = self.hold_selectors.pop(data[:4], None)
            if signature is None:
                return None
            self._held[key] = tx_hash
            self.figures.held += 1
            self.held_calls.append(signature)
        return tx_hash

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        net = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                payload = json.loads(self.rfile.read(length) or b"null")
                calls = payload if isinstance(payload, list) else [payload]
                answers: list[dict[str, Any]] = []
                status = 200
                for call in calls:
                    code, body = net.answer(call, self.headers.get("user-agent", ""))
                    if body is None:  # drop: close without a word (shutdown: the
                        # handler's file objects would keep a plain close() from closing)
                        self.close_connection = True
                        with contextlib.suppress(OSError):
                            self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    status = max(status, code)
                    answers.append(body)
                data = json.dumps(answers if isinstance(payload, list) else answers[0]).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _error(ident: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}}
