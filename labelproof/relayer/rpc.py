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

import random
from typing import Literal

import requests
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    TimeExhausted,
    Web3RPCError,
)

from labelproof.rawrpc import TRANSIENT_CODES as TRANSIENT_CODES
from labelproof.rawrpc import RawRpc as RawRpc
from labelproof.rawrpc import RpcUnavailable as RpcUnavailable

Kind = Literal["transient", "revert", "rejected"]

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
