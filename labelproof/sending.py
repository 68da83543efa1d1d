"""Sending the settlement transactions: calls that carry ETH, every contract's errors decoded,
exact token approvals.

A thin layer over :class:`labelproof.client.Signer` for the commands of labelproof.bonded,
labelproof.watch and labelproof.governance. The signer simulates every call before it is sent;
this module adds what those commands need on top: a ``value`` (the arbitration fee of a
dispute), revert reasons of the timelock and the arbitrator (``TimelockUnexpectedOperationState
(...)``, ``NotPanelMember(...)``), and approvals of exactly the bond about to be pulled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError
from web3.types import TxReceipt

from labelproof.chain import ChainError, artifact
from labelproof.client import (
    Chain,
    TxPending,
    TxRejected,
    TxReverted,
    decode_revert,
    format_amount,
)
from labelproof.client import revert_reason as client_revert_reason

Say = Callable[[str], None]

# Contracts whose custom errors the client's table does not hold.
_EXTRA_SOURCES = ("LabelproofTimelock", "LocalArbitrator", "OracleCommittee", "TaskEscrow")


def _quiet(_: str) -> None:
    """A progress callback that shows nothing."""


@cache
def _extra_errors() -> dict[bytes, tuple[str, list[str], list[str]]]:
    table: dict[bytes, tuple[str, list[str], list[str]]] = {}
    for name in _EXTRA_SOURCES:
        try:
            abi = artifact(name).abi
        except ChainError:
            continue
        for item in abi:
            inputs = item.get("inputs", [])
            if item.get("type") != "error" or any(i["type"].startswith("tuple") for i in inputs):
                continue
            types = [i["type"] for i in inputs]
            selector = bytes(keccak(text=f"{item['name']}({','.join(types)})")[:4])
            table.setdefault(selector, (item["name"], [i["name"] for i in inputs], types))
    return table


def decode_error(data: Any) -> str:
    """Revert data as ``Name(arg=value, ...)``, for the timelock and the arbitrator too."""
    text = decode_revert(data)
    if not text.startswith("0x"):
        return text
    raw = bytes(HexBytes(text))
    entry = _extra_errors().get(raw[:4])
    if entry is None:
        return text
    name, names, types = entry
    try:
        values = abi_decode(types, raw[4:])
    except Exception:
        return name
    parts = []
    for n, t, v in zip(names, types, values, strict=True):
        if t == "address":
            v = to_checksum_address(v)
        elif t.startswith("bytes") and isinstance(v, bytes):
            v = "0x" + v.hex()
        parts.append(f"{n}={v}")
    return f"{name}({', '.join(parts)})"


def revert_reason(exc: BaseException) -> str:
    data = getattr(exc, "data", None)
    if isinstance(exc, ContractCustomError | ContractLogicError) and data:
        text = decode_error(data)
        if not text.startswith("0x"):
            return text
    return client_revert_reason(exc)


class _WithValue:
    """A contract call that sends ``value`` wei along (the client's signer sends none)."""

    def __init__(self, fn: Any, value: int) -> None:
        self.fn = fn
        self.value = value
        self.address = fn.address

    def _encode_transaction_data(self) -> str:
        return str(self.fn._encode_transaction_data())

    def build_transaction(self, params: dict[str, Any]) -> Any:
        return self.fn.build_transaction({**params, "value": self.value})


def simulate(chain: Chain, sender: str, fn: Any, what: str, value: int = 0) -> bytes:
    """eth_call from `sender`; a revert raises TxRejected with the error decoded."""
    call: dict[str, Any] = {
        "from": to_checksum_address(sender),
        "to": fn.address,
        "data": fn._encode_transaction_data(),
    }
    if value:
        call["value"] = value
    try:
        return bytes(chain.w3.eth.call(call))  # type: ignore[arg-type]
    except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
        raise TxRejected(f"{what} would revert: {revert_reason(exc)}") from None
    except Exception as exc:
        raise TxRejected(f"{what}: the node refused the call: {revert_reason(exc)}") from None


def send(
    chain: Chain, account: LocalAccount | str, fn: Any, what: str, *, value: int = 0
) -> TxReceipt:
    """Simulate (errors decoded), then sign, send and wait with the client's signer."""
    signer = chain.signer(account)
    simulate(chain, signer.address, fn, what, value)
    return signer.send(_WithValue(fn, value) if value else fn, what, simulate=False)


def tx_hash(receipt: TxReceipt) -> str:
    return "0x" + bytes(receipt["transactionHash"]).hex()


def approve_then(
    chain: Chain,
    account: LocalAccount,
    token: Contract,
    spender: str,
    amount: int,
    fn: Any,
    what: str,
    *,
    value: int = 0,
    say: Say = _quiet,
) -> TxReceipt:
    """Approve `spender` for exactly `amount` (when the allowance is short), send `fn`, and put
    the old allowance back if `fn` certainly did not happen."""
    me = account.address
    before = int(token.functions.allowance(me, spender).call())
    approved = False
    if amount and before < amount:
        say("approving the bond")
        send(chain, account, token.functions.approve(spender, amount), "approve")
        approved = True
    try:
        say(f"sending {what}")
        return send(chain, account, fn, what, value=value)
    except (TxRejected, TxReverted):
        if approved:
            # best effort: the failure being reported matters more
            with contextlib.suppress(TxRejected, TxReverted, TxPending):
                send(chain, account, token.functions.approve(spender, before), "approve (restore)")
        raise


def token_amount(chain: Chain, token: str, amount: int) -> str:
    """``12.5 LPR``: an amount in the token's units with its symbol."""
    symbol, decimals = chain.token_info(token)
    return f"{format_amount(amount, decimals)} {symbol}"


def span_words(seconds: int) -> str:
    """``1 hour 5 minutes``: a duration in words, two units at most."""
    units = (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1))
    parts: list[str] = []
    rest = abs(seconds)
    for name, size in units:
        if rest >= size:
            n, rest = divmod(rest, size)
            parts.append(f"{n} {name}{'' if n == 1 else 's'}")
        if len(parts) == 2 or (parts and name == "second"):
            break
    return " ".join(parts) or "0 seconds"


def when(ts: int, now: int) -> str:
    """A chain timestamp in local time and in words: ``2025-12-01 15:04:05 CET (in 1 hour
    5 minutes)``. `now` is the chain's clock, which is what the contracts compare against."""
    local = datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    delta = ts - now
    if delta == 0:
        return f"{local} (now)"
    words = span_words(delta)
    return f"{local} ({'in ' + words if delta > 0 else words + ' ago'})"
