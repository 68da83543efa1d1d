"""Chain access over web3.py: compiled artifacts, a transaction sender, receipts.

Everything outside the test suite talks to the chain through here, whichever way the account
is held: a local eth-account key (keystores, live networks) or an account the node unlocks
(anvil's dev accounts, brownie's `accounts[0]`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import rlp
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams, TxReceipt

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = PROJECT_ROOT / "build" / "contracts"


class ChainError(RuntimeError):
    """A chain operation failed; the message says which and why."""


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str


@cache
def artifact(name: str, build_dir: Path = BUILD_DIR) -> Artifact:
    """The ABI and creation bytecode of a compiled contract (brownie's build output)."""
    path = build_dir / f"{name}.json"
    if not path.exists():
        raise ChainError(
            f"no build artifact {path}: compile the contracts first (`brownie compile`)"
        )
    data = json.loads(path.read_text())
    return Artifact(name=name, abi=data["abi"], bytecode=data["bytecode"])


def create_address(deployer: str, nonce: int) -> str:
    """The address CREATE gives the contract that `deployer` deploys with `nonce`."""
    raw = rlp.encode([bytes.fromhex(deployer[2:]), nonce])
    return to_checksum_address(keccak(raw)[12:])


class Sender:
    """Sends transactions from one account, waiting for receipts and confirmations."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount | str,
        *,
        confirmations: int = 0,
        timeout: float = 120.0,
    ) -> None:
        self.w3 = w3
        self._local = account if isinstance(account, LocalAccount) else None
        self.address = to_checksum_address(
            account.address if isinstance(account, LocalAccount) else account
        )
        self.confirmations = confirmations
        self.timeout = timeout
        self.gas_used = 0  # running total, for per-role gas reports

    def nonce(self) -> int:
        return int(self.w3.eth.get_transaction_count(self.address, "pending"))

    def transact(self, tx: TxParams, *, what: str) -> TxReceipt:
        """Send `tx` and return its receipt; a revert raises ChainError naming `what`."""
        tx = dict(tx)  # type: ignore[assignment]
        tx.setdefault("from", self.address)
        tx.setdefault("chainId", self.w3.eth.chain_id)
        try:
            if "gas" not in tx:
                tx["gas"] = int(self.w3.eth.estimate_gas(tx) * 1.2) + 10_000
            if self._local is None:
                tx_hash = self.w3.eth.send_transaction(tx)
            else:
                tx.setdefault("nonce", self.nonce())  # type: ignore[typeddict-item]
                if "gasPrice" not in tx and "maxFeePerGas" not in tx:
                    tx["gasPrice"] = self.w3.eth.gas_price
                signed = self._local.sign_transaction(tx)  # type: ignore[arg-type]
                tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.timeout)
        except Exception as exc:  # web3 raises many types; the caller needs one with context
            raise ChainError(f"{what} failed: {_reason(exc)}") from exc
        if receipt["status"] != 1:
            raise ChainError(f"{what} reverted in transaction {HexBytes(tx_hash).hex()}")
        self.gas_used += int(receipt["gasUsed"])
        self._wait_confirmations(receipt)
        return receipt

    def call(self, fn: Any, *, what: str, value: int = 0) -> TxReceipt:
        """Send a contract function call built with web3 (``contract.functions.f(...)``)."""
        return self.transact(_tx_of(fn, self.address, value), what=what)

    def deploy(self, name: str, *args: Any, build_dir: Path = BUILD_DIR) -> Contract:
        """Deploy a compiled contract and return a web3 handle to it."""
        art = artifact(name, build_dir)
        factory = self.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        receipt = self.transact(
            _tx_of(factory.constructor(*args), self.address, 0), what=f"deploying {name}"
        )
        address = receipt["contractAddress"]
        if address is None:
            raise ChainError(f"deploying {name} returned no contract address")
        return self.w3.eth.contract(address=address, abi=art.abi)

    def _wait_confirmations(self, receipt: TxReceipt) -> None:
        if self.confirmations <= 0:
            return

        target = receipt["blockNumber"] + self.confirmations
        deadline = time.monotonic() + self.timeout
        while self.w3.eth.block_number < target:
            if time.monotonic() > deadline:
                raise ChainError(f"timed out waiting for {self.confirmations} confirmations")
            time.sleep(1)


def _tx_of(fn: Any, sender: str, value: int) -> TxParams:
    tx: dict[str, Any] = fn.build_transaction({"from": sender, "value": value, "gas": 10**7})
    tx.pop("gas")
    return tx  # type: ignore[return-value]


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    """A web3 handle to a deployed contract, with the ABI of the compiled `name`."""
    return w3.eth.contract(address=to_checksum_address(address), abi=artifact(name).abi)


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
