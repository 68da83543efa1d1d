"""Sending transactions: one implementation for every command, service and deploy.

:class:`Transactor` signs EIP-1559 transactions (a node-unlocked account sends them through
``eth_sendTransaction`` with the same fields), waits for the receipt, and when none comes in
``bump_after`` seconds replaces the transaction at the same nonce with fees raised by 12.5%
(nodes want at least 10% on both fees), never above ``--max-fee``. :class:`TxOptions` holds
the four options every sending command takes (``--max-fee``, ``--priority-fee``,
``--timeout``, ``--confirmations``). :class:`labelproof.client.Signer` and
:class:`labelproof.chain.Sender` both send through it.

On top, for the commands of labelproof.bonded, labelproof.watch and labelproof.governance:
calls that carry ETH, revert reasons of the timelock and the arbitrator (``TimelockUnexpected
OperationState(...)``, ``NotPanelMember(...)``), and approvals of exactly the bond about to be
pulled.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    TransactionNotFound,
)
from web3.types import TxReceipt

from labelproof.chain import ChainError, artifact

if TYPE_CHECKING:
    from labelproof.client import Chain


class ActionError(Exception):
    """A user-facing failure: one line saying what is wrong; nothing was left half-done."""


class TxRejected(ActionError):
    """The transaction was not broadcast (it would revert, or the node refused it)."""


class TxReverted(ActionError):
    """The transaction was mined and reverted: nothing changed but the gas."""


class TxPending(ActionError):
    """The transaction was broadcast but no receipt came in time: it may still be mined."""


# Local chains: no reorgs and automining, so there are no further confirmations to wait for.
LOCAL_CHAIN_IDS = (31337, 1337)
GWEI = 10**9
BUMP_NUM, BUMP_DEN = 9, 8  # +12.5% per replacement; nodes accept a replacement from +10%
_FEE = re.compile(r"(\d+(?:\.\d+)?)\s*(wei|gwei|ether|eth)?", re.IGNORECASE)
_FEE_UNITS = {"wei": 1, "gwei": GWEI, "ether": 10**18, "eth": 10**18}


def parse_fee(text: str, what: str = "fee") -> int:
    """``30gwei``, ``1.5 gwei``, ``100wei`` or a bare number of gwei, in wei."""
    match = _FEE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"{what} {text!r} is not an amount such as 30gwei, 1.5gwei or 100wei")
    number, unit = match.group(1), (match.group(2) or "gwei").lower()
    whole, _, frac = number.partition(".")
    scale = _FEE_UNITS[unit]
    wei = int(whole) * scale + (int(frac.ljust(18, "0")[:18]) * scale // 10**18 if frac else 0)
    if frac and (int(frac.ljust(18, "0")[:18]) * scale) % 10**18:
        raise ValueError(f"{what} {text!r} is finer than one wei")
    return wei


def hex0x(value: Any) -> str:
    return "0x" + bytes(HexBytes(value)).hex()


def format_gwei(wei: int) -> str:
    return f"{wei / GWEI:.4g} gwei"


@dataclass(frozen=True)
class TxOptions:
    """How a command sends: fee caps, how long it waits, how deep a receipt must be."""

    max_fee: int | None = None  # cap on maxFeePerGas, wei; None: 2 x base fee + tip
    priority_fee: int | None = None  # maxPriorityFeePerGas, wei; None: the node's suggestion
    timeout: float = 120.0  # seconds from the first broadcast to giving up (TxPending)
    confirmations: int = 1  # 1: mined; N: N-1 blocks on top (ignored on local chains)
    bump_after: float | None = None  # seconds before a replacement; None: timeout / 4
    max_replacements: int = 5

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("--timeout must be positive")
        if self.confirmations < 0:
            raise ValueError("--confirmations must be >= 0")
        if (
            self.max_fee is not None
            and self.priority_fee is not None
            and self.priority_fee > self.max_fee
        ):
            raise ValueError("--priority-fee must not exceed --max-fee")

    def bump_interval(self) -> float:
        return self.bump_after if self.bump_after is not None else max(self.timeout / 4, 1.0)


_PROCESS_OPTIONS: list[TxOptions] = []


def set_process_options(options: TxOptions) -> None:
    """The fee options a service was started with (``oracle serve --max-fee ...``), for the
    parts of it that sign their own transactions: see :func:`process_options`."""
    _PROCESS_OPTIONS[:] = [options]


def process_options() -> TxOptions:
    return _PROCESS_OPTIONS[0] if _PROCESS_OPTIONS else TxOptions()


@dataclass
class SendLog:
    """What the senders of this process did: replacements (stuck transactions re-priced)."""

    sent: int = 0
    replaced: int = 0
    events: list[str] = field(default_factory=list)


SEND_LOG = SendLog()


def _reason_of(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def fee_fields(w3: Web3, opts: TxOptions) -> dict[str, int]:
    """EIP-1559 fees for the next block: maxFeePerGas = 2 x base fee + tip, capped at
    `opts.max_fee`; a cap below what the next block needs is refused (it would never mine)."""
    block = w3.eth.get_block("latest")
    base = int(block.get("baseFeePerGas", 0) or 0)
    tip = opts.priority_fee
    if tip is None:
        try:
            tip = int(w3.eth.max_priority_fee)
        except Exception:  # a node without eth_maxPriorityFeePerGas
            tip = GWEI
    max_fee = 2 * base + tip
    if opts.max_fee is not None:
        if opts.max_fee < base:
            raise TxRejected(
                f"--max-fee {format_gwei(opts.max_fee)} is below the current base fee "
                f"{format_gwei(base)}: the transaction could not be mined"
            )
        max_fee = min(max_fee, opts.max_fee)
        tip = min(tip, max_fee)
    return {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip}


def bumped_fees(fees: dict[str, int], w3: Web3, opts: TxOptions) -> dict[str, int] | None:
    """The fees of a replacement, or None when the cap leaves no room for one."""
    fresh = fee_fields(w3, TxOptions(priority_fee=opts.priority_fee))
    tip = max(
        fees["maxPriorityFeePerGas"] * BUMP_NUM // BUMP_DEN + 1, fresh["maxPriorityFeePerGas"]
    )
    top = max(fees["maxFeePerGas"] * BUMP_NUM // BUMP_DEN + 1, fresh["maxFeePerGas"], tip)
    if opts.max_fee is not None and top > opts.max_fee:
        return None
    return {"maxFeePerGas": top, "maxPriorityFeePerGas": tip}


class Transactor:
    """Sends one account's transactions: EIP-1559, replaced at the same nonce when stuck."""

    def __init__(
        self, w3: Web3, account: LocalAccount | str, options: TxOptions | None = None
    ) -> None:
        self.w3 = w3
        self.local = account if isinstance(account, LocalAccount) else None
        self.address = to_checksum_address(
            account.address if isinstance(account, LocalAccount) else account
        )
        self.options = options or TxOptions()
        self._chain_id: int | None = None

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def prepare(self, tx: dict[str, Any], *, nonce: int | None = None) -> dict[str, Any]:
        """`tx` with sender, chain id, nonce, gas (estimated + 20%) and EIP-1559 fees."""
        tx = {k: v for k, v in tx.items() if k not in ("gasPrice",)}
        tx["from"] = self.address
        tx["chainId"] = self.chain_id
        if "gas" not in tx:
            tx["gas"] = int(self.w3.eth.estimate_gas(tx) * 1.2) + 10_000  # type: ignore[arg-type]
        tx["nonce"] = (
            nonce
            if nonce is not None
            else int(self.w3.eth.get_transaction_count(self.address, "pending"))
        )
        tx.update(fee_fields(self.w3, self.options))
        tx["type"] = 2
        return tx

    def sign(self, tx: dict[str, Any]) -> bytes | None:
        """The raw signed transaction, or None for a node-unlocked account."""
        if self.local is None:
            return None
        return bytes(self.local.sign_transaction(tx).raw_transaction)

    def broadcast(self, tx: dict[str, Any], raw: bytes | None) -> HexBytes:
        """Send; a signed transaction is sent again on a transient failure (the same bytes:
        at most one of them can ever be mined), and "already known" counts as sent."""
        if raw is None:
            send = {k: v for k, v in tx.items() if k != "type"}
            return HexBytes(self.w3.eth.send_transaction(send))  # type: ignore[arg-type]
        from labelproof.logs import transient

        for attempt in range(5):
            try:
                return HexBytes(self.w3.eth.send_raw_transaction(raw))
            except Exception as exc:
                text = str(exc).lower()
                if "already known" in text or "known transaction" in text:
                    return HexBytes(keccak(raw))
                if attempt == 4 or not transient(exc):
                    raise
                SEND_LOG.events.append(f"broadcast retried: {_reason_of(exc)}")
                time.sleep(0.25 * 2**attempt)
        raise AssertionError("unreachable")

    def send(
        self,
        tx: dict[str, Any],
        what: str,
        *,
        on_signed: Callable[[dict[str, Any], bytes | None, str], None] | None = None,
    ) -> TxReceipt:
        """Prepare, sign, send and wait; a stuck transaction is replaced at the same nonce.

        `on_signed(tx, raw, hash)` runs before every broadcast (a deploy journals it there).
        Raises TxRejected (not sent), TxReverted (mined, reverted) or TxPending (no receipt
        within the timeout; the last hash is in the message)."""
        try:
            tx = self.prepare(tx)
            raw = self.sign(tx)
        except TxRejected:
            raise
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            raise TxRejected(f"{what} would revert: {revert_reason(exc)}") from None
        except Exception as exc:
            raise TxRejected(f"{what}: not sent: {self._why(exc)}") from None
        hashes: list[HexBytes] = []
        try:
            if raw is not None and on_signed is not None:
                on_signed(tx, raw, "0x" + bytes(keccak(raw)).hex())
            hashes.append(self.broadcast(tx, raw))
        except Exception as exc:
            raise TxRejected(f"{what}: not sent: {self._why(exc)}") from None
        if raw is None and on_signed is not None:  # the node signed: its hash comes back
            on_signed(tx, None, hex0x(hashes[-1]))
        SEND_LOG.sent += 1
        return self.wait(tx, hashes, what, on_signed=on_signed)

    def wait(
        self,
        tx: dict[str, Any],
        hashes: list[HexBytes],
        what: str,
        *,
        on_signed: Callable[[dict[str, Any], bytes | None, str], None] | None = None,
    ) -> TxReceipt:
        """Wait for any of `hashes` (one nonce), replacing the transaction when it is stuck."""
        opts = self.options
        start = time.monotonic()
        last_bump = start
        replacements = 0
        delay = 0.1
        while True:
            for h in reversed(hashes):
                receipt = self._receipt(h)
                if receipt is not None:
                    return self._settle(receipt, what)
            now = time.monotonic()
            if now - start > opts.timeout:
                raise TxPending(
                    f"{what}: transaction {hex0x(hashes[-1])} sent but not mined within "
                    f"{opts.timeout:.0f} s; it may still be (rerun to wait for it, or raise "
                    "--max-fee)"
                )
            if now - last_bump >= opts.bump_interval() and replacements < opts.max_replacements:
                last_bump = now
                replaced = self._replace(tx, what, on_signed)
                if replaced is not None:
                    tx, h = replaced
                    hashes.append(h)
                    replacements += 1
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def _replace(
        self,
        tx: dict[str, Any],
        what: str,
        on_signed: Callable[[dict[str, Any], bytes | None, str], None] | None,
    ) -> tuple[dict[str, Any], HexBytes] | None:
        try:
            if int(self.w3.eth.get_transaction_count(self.address, "latest")) > tx["nonce"]:
                return None  # the nonce is used: one of the hashes is mined, its receipt is near
            fees = bumped_fees(tx, self.w3, self.options)
            if fees is None:
                return None  # the cap leaves no room: keep waiting
            new = {**tx, **fees}
            raw = self.sign(new)
            if raw is not None and on_signed is not None:
                on_signed(new, raw, "0x" + bytes(keccak(raw)).hex())
            h = self.broadcast(new, raw)
            if raw is None and on_signed is not None:
                on_signed(new, None, hex0x(h))
        except Exception as exc:  # "nonce too low" (mined meanwhile), "underpriced": keep waiting
            SEND_LOG.events.append(f"{what}: replacement not sent: {_reason_of(exc)}")
            return None
        SEND_LOG.replaced += 1
        SEND_LOG.events.append(
            f"{what}: nonce {tx['nonce']} stuck, replaced with max fee "
            f"{format_gwei(new['maxFeePerGas'])} in {hex0x(h)}"
        )
        return new, h

    def _receipt(self, h: HexBytes) -> TxReceipt | None:
        try:
            return self.w3.eth.get_transaction_receipt(h)
        except TransactionNotFound:
            return None
        except Exception:  # a flaky provider: ask again on the next turn
            return None

    def _settle(self, receipt: TxReceipt, what: str) -> TxReceipt:
        tx_hash = hex0x(receipt["transactionHash"])
        if receipt["status"] != 1:
            raise TxReverted(f"{what} reverted in transaction {tx_hash}")
        self.wait_confirmations(receipt, what)
        return receipt

    def wait_confirmations(self, receipt: TxReceipt, what: str) -> None:
        depth = self.options.confirmations
        if depth <= 1 or self.chain_id in LOCAL_CHAIN_IDS:
            return
        target = int(receipt["blockNumber"]) + depth - 1
        deadline = time.monotonic() + self.options.timeout
        while int(self.w3.eth.block_number) < target:
            if time.monotonic() > deadline:
                raise TxPending(
                    f"{what}: mined in block {receipt['blockNumber']} but not {depth} blocks "
                    f"deep within {self.options.timeout:.0f} s"
                )
            time.sleep(1)

    def _why(self, exc: BaseException) -> str:
        reason = revert_reason(exc)
        try:
            broke = int(self.w3.eth.get_balance(self.address)) == 0
        except Exception:
            broke = False
        if broke:
            reason = f"{self.address} has no ETH to pay for gas ({reason})"
        return reason


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
    from labelproof.client import decode_revert

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
    from labelproof.client import revert_reason as client_revert_reason

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
    from labelproof.client import format_amount

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
