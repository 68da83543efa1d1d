"""What a failed RPC call means, and how long to wait before the next try.

A relayer that treats a refused connection like a revert marks good attestations failed for
good (issue #10 saw 10 of 10 lost to an 8 s outage). Here every failure is one of:

* ``transient``: the node could not answer (connection refused or reset, a timeout, HTTP 5xx or
  429, a JSON-RPC rate limit such as -32005): try again later, with backoff; nothing is judged.
* ``revert``: the EVM ran the call and it reverted: a verdict about the call itself.
* ``rejected``: the node answered and refused (nonce too low, underpriced, insufficient funds):
  the caller decides from the message.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    TimeExhausted,
    Web3RPCError,
)

Kind = Literal["transient", "revert", "rejected"]

# JSON-RPC codes that mean "later", not "no": -32005 limit exceeded (Infura, Alchemy),
# -32603 internal error of a proxying provider, 429 as a code (some gateways).
TRANSIENT_CODES = {-32005, -32603, 429}
TRANSIENT_WORDS = (
    "rate limit",
    "too many requests",
    "limit exceeded",
    "timeout",
    "timed out",
    "temporarily unavailable",
    "connection",
    "header not found",
    "try again",
)


def classify(exc: BaseException) -> Kind:
    """Transient, revert or rejected (see the module docstring)."""
    if isinstance(exc, ContractCustomError | ContractLogicError | ContractPanicError):
        return "revert"
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        return "transient" if status >= 500 or status in (408, 429) else "rejected"
    if isinstance(exc, requests.RequestException | OSError | TimeoutError | TimeExhausted):
        return "transient"  # refused, reset, DNS, read timeout, ...
    if isinstance(exc, Web3RPCError):
        message = exc.rpc_response.get("error") if exc.rpc_response else None
        code = message.get("code") if isinstance(message, dict) else None
        text = str(exc).lower()
        if code in TRANSIENT_CODES or any(w in text for w in TRANSIENT_WORDS):
            return "transient"
        return "rejected"
    text = str(exc).lower()
    if any(w in text for w in TRANSIENT_WORDS):
        return "transient"
    return "rejected"


def backoff(failures: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds before try number ``failures + 1``: exponential, capped, with jitter so that
    several relayers behind one provider do not retry in step."""
    delay: float = min(cap, base * 2 ** max(0, failures - 1))
    return delay * random.uniform(0.8, 1.2)


def bumped(value: int, percent: float = 12.5) -> int:
    """A fee raised by at least ``percent`` (nodes refuse a replacement under +10 %, geth's
    default price bump; 12.5 % keeps room above it), and at least by 1 wei."""
    return max(value + 1, -(-value * int(1000 + percent * 10) // 1000))


class RpcUnavailable(ConnectionError):
    """The node did not answer usefully (refused, reset, timeout, HTTP 5xx / 429): transient."""


class RawRpc:
    """JSON-RPC batches over a plain keep-alive ``http.client`` connection per thread.

    The intake's hot path: a batch of three reads through web3's requests-based provider costs
    about 1.3 ms of CPU, this about a tenth of it. Only for reads whose answers the caller
    decodes itself; everything else goes through web3.
    """

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"unsupported RPC URL {url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self.local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            conn = cls(self.host, self.port, timeout=self.timeout)
            self.local.conn = conn
        return conn

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """The ``result`` of each call, in order; a call's JSON-RPC error raises ValueError
        (RpcUnavailable for a rate limit or a provider's internal error)."""
        results = self.batch_outcomes(calls)
        for outcome in results:
            if isinstance(outcome, Exception):
                raise outcome
        return results

    def batch_outcomes(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Each call's ``result``, or for a call the node answered with an error, that error
        as an exception instance (RpcUnavailable if transient, else ValueError), so one bad
        call does not spoil the others. The batch as a whole failing raises RpcUnavailable."""
        body = json.dumps(
            [
                {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                for i, (m, p) in enumerate(calls)
            ]
        ).encode()
        for attempt in (1, 2):  # a keep-alive connection the node closed: reconnect once
            conn = self._conn()
            try:
                conn.request("POST", self.path, body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                data = response.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self.local.conn = None
                if attempt == 2 or isinstance(exc, TimeoutError):
                    raise RpcUnavailable(f"{type(exc).__name__}: {exc}") from None
        if response.status >= 500 or response.status in (408, 429):
            raise RpcUnavailable(f"HTTP {response.status} from the node")
        if response.status != 200:
            raise ValueError(f"HTTP {response.status} from the node: {data[:200]!r}")
        answers = json.loads(data)
        if not isinstance(answers, list):
            error = answers.get("error") if isinstance(answers, dict) else answers
            raise RpcUnavailable(f"the node refused the batch: {error!r:.200}")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        results: list[Any] = []
        for i in range(len(calls)):
            answer = by_id.get(i)
            if answer is not None and "result" in answer:
                results.append(answer["result"])
                continue
            error = answer.get("error") if answer else "no answer"
            code = error.get("code") if isinstance(error, dict) else None
            if code in TRANSIENT_CODES:
                results.append(RpcUnavailable(f"{calls[i][0]}: {error!r:.200}"))
            else:
                results.append(ValueError(f"{calls[i][0]}: {error!r:.200}"))
        return results
