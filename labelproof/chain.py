"""Chain access over web3.py: compiled artifacts, a transaction sender, receipts.

Everything outside the test suite talks to the chain through here, whichever way the account
is held: a local eth-account key (keystores, live networks) or an account the node unlocks
(anvil's dev accounts, brownie's `accounts[0]`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rlp
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams, TxReceipt

if TYPE_CHECKING:
    from labelproof.sending import TxOptions

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
    """The ABI and creation bytecode of a compiled contract: brownie's build output in a
    source checkout, else the copy shipped in the package (labelproof.packaged)."""
    from labelproof.packaged import PACKAGED_DIR

    path = build_dir / f"{name}.json"
    if not path.exists():
        path = PACKAGED_DIR / f"{name}.json"
    if not path.exists():
        raise ChainError(
            f"no build artifact {build_dir / (name + '.json')}: compile the contracts first "
            "(`brownie compile`)"
        )
    data = json.loads(path.read_text())
    return Artifact(name=name, abi=data["abi"], bytecode=data["bytecode"])


# Read-only calls a hosted provider may refuse (HTTP 429, 5xx), drop or time out are asked
# again, with backoff: 0.25 s doubling, 7 tries (about 30 s in all). web3's own default retries
# neither dropped connections (requests' ConnectionError) nor for long enough.
RPC_RETRIES = 7
RPC_BACKOFF = 0.25


def web3_for(url: str, timeout: float = 30.0) -> Web3:
    """A web3 client for `url` that retries the transient failures of hosted providers on the
    methods that are safe to ask twice (never eth_sendRawTransaction: see sending.py)."""
    import requests
    from web3.providers.rpc.utils import ExceptionRetryConfiguration

    retry = ExceptionRetryConfiguration(
        errors=(
            ConnectionError,
            TimeoutError,
            requests.ConnectionError,
            requests.HTTPError,
            requests.Timeout,
        ),
        retries=RPC_RETRIES,
        backoff_factor=RPC_BACKOFF,
    )
    return Web3(
        Web3.HTTPProvider(
            url, request_kwargs={"timeout": timeout}, exception_retry_configuration=retry
        )
    )


def create_address(deployer: str, nonce: int) -> str:
    """The address CREATE gives the contract that `deployer` deploys with `nonce`."""
    raw = rlp.encode([bytes.fromhex(deployer[2:]), nonce])
    return to_checksum_address(keccak(raw)[12:])


class Sender:
    """Sends transactions from one account, waiting for receipts and confirmations (through
    labelproof.sending: EIP-1559 fees, stuck transactions replaced); failures are ChainError."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount | str,
        *,
        confirmations: int | None = None,
        timeout: float | None = None,
        options: TxOptions | None = None,
    ) -> None:
        from labelproof.sending import Transactor, TxOptions

        options = options or TxOptions()
        if confirmations is not None:
            options = replace(options, confirmations=confirmations)
        if timeout is not None:
            options = replace(options, timeout=timeout)
        self.w3 = w3
        self.options = options
        self.transactor = Transactor(w3, account, options)
        self.address = self.transactor.address
        self.gas_used = 0  # running total, for per-role gas reports

    @property
    def confirmations(self) -> int:
        return self.options.confirmations

    @property
    def timeout(self) -> float:
        return self.options.timeout

    def nonce(self) -> int:
        return int(self.w3.eth.get_transaction_count(self.address, "pending"))

    def transact(self, tx: TxParams, *, what: str) -> TxReceipt:
        """Send `tx` and return its receipt; a revert raises ChainError naming `what`."""
        from labelproof.sending import ActionError

        try:
            receipt = self.transactor.send(dict(tx), what)  # type: ignore[arg-type]
        except ActionError as exc:
            raise ChainError(str(exc)) from exc
        self.gas_used += int(receipt["gasUsed"])
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


def _tx_of(fn: Any, sender: str, value: int) -> TxParams:
    tx: dict[str, Any] = fn.build_transaction({"from": sender, "value": value, "gas": 10**7})
    for key in ("gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "nonce"):
        tx.pop(key, None)
    return tx  # type: ignore[return-value]


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    """A web3 handle to a deployed contract, with the ABI of the compiled `name`."""
    return w3.eth.contract(address=to_checksum_address(address), abi=artifact(name).abi)


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
