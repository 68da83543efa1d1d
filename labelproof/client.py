"""What people do on chain: requesters fund and close tasks, annotators commit, reveal and claim.

The command line (labelproof.cli) is a thin layer over this module. Everything here follows
one rule: check first, then write what must not be lost, then send, and undo the local write
if the transaction certainly did not happen.

* Every transaction is simulated (``eth_call`` from the sender) before it is signed; a revert
  is reported with the contract's custom error decoded (``NotRequester(taskId=3, ...)``) and
  nothing is sent.
* Secrets that a transaction commits to (an annotator's leaf salts, a requester's gold salt) are
  written atomically to the wallet's data directory *before* the transaction is sent, so a
  crash or a lost connection can never leave a commitment on chain that its owner cannot open.
  If the transaction is certainly not on chain (refused before broadcast, or mined and
  reverted) that entry is removed again; if the outcome is unknown (no receipt in time) it is
  kept, and the reveal later picks whichever stored commitment the chain actually holds.
* Nothing read from the oracle is trusted: a payout proof is checked against the task's
  on-chain payout root before it is used or shown.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, cast

import httpx
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
)
from web3.logs import DISCARD
from web3.types import TxReceipt

from labelproof.chain import ChainError, artifact, contract_at, web3_for
from labelproof.commitments import (
    annotation_leaf,
    annotation_root,
    attestation_typed_data,
    new_salt,
)
from labelproof.deploy import DEPLOYMENTS_DIR, Deployment, load_deployment
from labelproof.logs import LogReader, LogReadError, RangeCache
from labelproof.merkle import StandardMerkleTree
from labelproof.sending import (
    ActionError,
    Transactor,
    TxOptions,
    TxPending,
    TxRejected,
    TxReverted,
)
from labelproof.settlement import (
    ZERO_ADDRESS,
    Proposal,
    Status,
    round_inputs_hash,
    rules_dict,
    task_dict,
)
from labelproof.spec import (
    SpecError,
    TaskSpec,
    commitment_hex,
    gold_commitment,
    spec_hash,
)
from labelproof.wallet import remove_file, write_atomic

DEPLOYMENTS_ENV = "LABELPROOF_DEPLOYMENTS"
RPC_URL_ENV = "LABELPROOF_RPC_URL"
ORACLE_URL_ENV = "LABELPROOF_ORACLE_URL"
DEFAULT_RPC_URL = "http://127.0.0.1:8545"

STATUS_NAMES = ("none", "funded", "cancelled", "final", "expired")
# ITaskEscrow.RefundKind, by value (settlement.RefundKind)
REFUND_KINDS = ("cancelled", "unallocated", "unclaimed", "oracle timeout", "ruling")
# IOracleCommittee.Verdict, by value (settlement.Verdict)
VERDICT_NAMES = ("refused to rule", "payout stands", "payout wrong", "refund the requester")
LOG_CHUNK = 10_000
PERMIT_LIFETIME = 3_600
ZERO32 = bytes(32)

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    """A progress callback that shows nothing."""


# The errors of a send live in labelproof.sending (one implementation of sending); they are
# the client's errors too.
__all__ = ["ActionError", "TxPending", "TxRejected", "TxReverted"]


# --------------------------------------------------------------------------------------------
# revert reasons
# --------------------------------------------------------------------------------------------

_ERROR_SOURCES = (
    "TaskEscrow",
    "AttestationRegistry",
    "OracleCommittee",
    "LocalArbitrator",
    "LabelproofTimelock",
    "RewardToken",
)


@cache
def _error_table() -> dict[bytes, tuple[str, list[str], list[str]]]:
    table: dict[bytes, tuple[str, list[str], list[str]]] = {}
    for name in (*_ERROR_SOURCES, "ERC20Permit"):
        try:
            abi = artifact(name).abi
        except ChainError:
            continue
        for item in abi:
            if item.get("type") != "error":
                continue
            inputs = item.get("inputs", [])
            if any(i["type"].startswith("tuple") for i in inputs):
                continue
            types = [i["type"] for i in inputs]
            selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
            table.setdefault(selector, (item["name"], [i["name"] for i in inputs], types))
    return table


def error_name(selector: Any) -> str:
    """The name of the custom error with this 4-byte selector (``StaleVersion``), or its hex."""
    try:
        raw = bytes(HexBytes(selector))[:4]
    except (TypeError, ValueError):
        return str(selector)
    entry = _error_table().get(raw)
    return entry[0] if entry is not None else "0x" + raw.hex()


def decode_revert(data: Any) -> str:
    """A contract's revert data as ``Name(arg=value, ...)``; unknown data as its hex."""
    if isinstance(data, dict):
        data = data.get("data")
    try:
        raw = bytes(HexBytes(data)) if data else b""
    except (TypeError, ValueError):
        return str(data)
    if len(raw) < 4:
        return "reverted without a reason"
    if raw[:4] == keccak(text="Error(string)")[:4]:
        try:
            return str(abi_decode(["string"], raw[4:])[0])
        except Exception:
            return "0x" + raw.hex()
    entry = _error_table().get(raw[:4])
    if entry is None:
        return "0x" + raw.hex()
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
    if isinstance(exc, ContractCustomError):
        return decode_revert(exc.data)
    if isinstance(exc, ContractPanicError):
        return f"panic: {exc.message}" if hasattr(exc, "message") else str(exc)
    if isinstance(exc, ContractLogicError):
        message = str(getattr(exc, "message", None) or exc)
        if exc.data and str(exc.data) not in ("0x", "None"):
            decoded = decode_revert(exc.data)
            if not decoded.startswith("0x"):
                return decoded
        return message.removeprefix("execution reverted: ").strip() or "reverted"
    text = str(exc) or type(exc).__name__
    # web3 RPC errors carry a dict; show its message
    match = re.search(r"'message': '([^']*)'", text)
    if match:
        return match.group(1)
    return text.splitlines()[0][:300]


# --------------------------------------------------------------------------------------------
# sending transactions
# --------------------------------------------------------------------------------------------


class Signer:
    """Sends transactions from a local key (or a node-unlocked account), in four steps whose
    failures are told apart: simulate, estimate, broadcast, wait (labelproof.sending)."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount | str,
        *,
        timeout: float | None = None,
        options: TxOptions | None = None,
    ) -> None:
        self.w3 = w3
        self.local = account if isinstance(account, LocalAccount) else None
        self.address = to_checksum_address(
            account.address if isinstance(account, LocalAccount) else account
        )
        options = options or TxOptions()
        if timeout is not None:
            options = replace(options, timeout=timeout)
        self.options = options
        self.timeout = options.timeout
        self.transactor = Transactor(w3, account, options)

    def simulate(self, fn: Any, what: str) -> bytes:
        """Run the call with eth_call from this account; a revert raises TxRejected."""
        # A raw eth_call: only whether it reverts matters, not decoding the return data (tokens
        # like USDT return nothing where the ABI says bool).
        call: dict[str, Any] = {
            "from": self.address,
            "to": fn.address,
            "data": fn._encode_transaction_data(),
        }
        try:
            return self.w3.eth.call(call)  # type: ignore[arg-type]
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            raise TxRejected(f"{what} would revert: {revert_reason(exc)}") from None
        except Exception as exc:
            raise TxRejected(f"{what}: the node refused the call: {revert_reason(exc)}") from None

    def send(self, fn: Any, what: str, *, simulate: bool = True) -> TxReceipt:
        if simulate:
            self.simulate(fn, what)
        try:
            tx: dict[str, Any] = fn.build_transaction({"from": self.address, "gas": 10**7})
            tx.pop("gas")
            for key in ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "nonce"):
                tx.pop(key, None)
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            raise TxRejected(f"{what} would revert: {revert_reason(exc)}") from None
        except Exception as exc:
            raise TxRejected(f"{what}: not sent: {revert_reason(exc)}") from None
        return self.transactor.send(tx, what)


# --------------------------------------------------------------------------------------------
# units and times
# --------------------------------------------------------------------------------------------

_AMOUNT = re.compile(r"(\d+)(?:\.(\d+))?")
_DURATION = re.compile(r"(\d+)\s*([smhdw]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}


def parse_amount(text: str, decimals: int, what: str = "amount") -> int:
    """'12.5' in token units to the integer amount in the token's smallest unit."""
    match = _AMOUNT.fullmatch(text.strip())
    if not match:
        raise ActionError(f"{what} {text!r} is not a decimal number such as 12 or 12.5")
    whole, frac = match.group(1), (match.group(2) or "").rstrip("0")
    if len(frac) > decimals:
        raise ActionError(
            f"{what} {text} has more decimals than the token's {decimals}: "
            f"the smallest unit is {format_amount(1, decimals)}"
        )
    return int(whole) * 10**decimals + (int(frac.ljust(decimals, "0")) if frac else 0)


def format_amount(value: int, decimals: int) -> str:
    if decimals == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**decimals)
    frac_text = str(frac).rjust(decimals, "0").rstrip("0")
    return f"{sign}{whole}" + (f".{frac_text}" if frac_text else "")


def parse_duration(text: str, what: str) -> int:
    """'90', '30m', '12h', '3d', '1w' to seconds."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match:
        raise ActionError(f"{what} {text!r} is not a duration such as 3600, 30m, 12h, 3d or 1w")
    return int(match.group(1)) * _UNITS[match.group(2)]


def format_duration(seconds: int) -> str:
    """Seconds in the largest unit that divides them: 86400 -> '1d', 5400 -> '90m'."""
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def format_time(ts: int, now: int) -> str:
    when = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    delta = ts - now
    return f"{when} ({_human(delta)})"


def _human(delta: int) -> str:
    seconds = abs(delta)
    if seconds < 60:
        text = f"{seconds}s"
    elif seconds < 3_600:
        text = f"{seconds // 60}m"
    elif seconds < 86_400:
        text = f"{seconds // 3_600}h {seconds % 3_600 // 60}m"
    else:
        text = f"{seconds // 86_400}d {seconds % 86_400 // 3_600}h"
    return f"in {text}" if delta >= 0 else f"{text} ago"


# --------------------------------------------------------------------------------------------
# the chain and the deployment
# --------------------------------------------------------------------------------------------


def deployments_dir(option: Path | None) -> Path:
    return option if option is not None else DEPLOYMENTS_DIR


def connect_web3(rpc_url: str) -> tuple[Web3, int]:
    w3 = web3_for(rpc_url)
    try:
        chain_id = int(w3.eth.chain_id)
    except Exception as exc:
        raise ActionError(f"cannot reach a node at {rpc_url}: {revert_reason(exc)}") from None
    return w3, chain_id


def deployment_from_escrow(w3: Web3, chain_id: int, escrow: str) -> Deployment:
    """A deployment record read from the chain, given only the escrow's address."""
    if not is_address(escrow):
        raise ActionError(f"--escrow {escrow!r} is not an address")
    address = to_checksum_address(escrow)
    if not w3.eth.get_code(address):
        raise ActionError(f"--escrow {address}: no contract there on chain {chain_id}")
    contract = contract_at(w3, "TaskEscrow", address)
    try:
        registry = to_checksum_address(contract.functions.registry().call())
        committee = to_checksum_address(contract.functions.committee().call())
        version = str(contract.functions.version().call())
    except Exception as exc:
        raise ActionError(
            f"--escrow {address} does not answer as a labelproof TaskEscrow: {revert_reason(exc)}"
        ) from None
    return Deployment(
        chain_id=chain_id,
        deployer=ZERO_ADDRESS,
        block=creation_block(w3, address),
        escrow=address,
        registry=registry,
        committee=committee,
        reward_token=None,
        admin=ZERO_ADDRESS,
        guardian=ZERO_ADDRESS,
        oracles=(),
        threshold=0,
        versions={"TaskEscrow": version},
    )


def creation_block(w3: Web3, address: str) -> int:
    """The first block where `address` has code (a binary search over eth_getCode at past
    blocks); 0 when the node keeps no history to ask (a full, non-archive node)."""
    lo, hi = 0, int(w3.eth.block_number)
    try:
        while lo < hi:
            mid = (lo + hi) // 2
            if w3.eth.get_code(to_checksum_address(address), block_identifier=mid):
                hi = mid
            else:
                lo = mid + 1
    except Exception:
        return 0
    return lo


@dataclass
class TaskView:
    """A task as the escrow stores it, plus what the registry and committee say about it."""

    task_id: int
    status: str
    token: str
    requester: str
    budget: int
    claimed: int
    refunded: int
    payout_total: int
    payout_root: bytes
    report_hash: bytes
    spec_hash: bytes
    gold_commitment: bytes
    annotation_deadline: int
    reveal_deadline: int
    challenge_period: int
    claim_period: int
    oracle_timeout: int
    # The effective claim deadline (claimBase + all paused time, escrow.claimDeadline); 0
    # unless the task is final. It moves later while the escrow is paused.
    claim_deadline: int
    rules_id: int = 1
    claim_base: int = 0

    @property
    def oracle_deadline(self) -> int:
        return self.reveal_deadline + self.oracle_timeout

    @property
    def left(self) -> int:
        return self.budget - self.claimed - self.refunded


class Chain:
    """A node, the deployment recorded for its chain id, and the three contracts."""

    def __init__(self, w3: Web3, deployment: Deployment, *, tx_timeout: float = 120.0) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.chain_id = deployment.chain_id
        self.escrow: Contract = contract_at(w3, "TaskEscrow", deployment.escrow)
        self.registry: Contract = contract_at(w3, "AttestationRegistry", deployment.registry)
        self.committee: Contract = contract_at(w3, "OracleCommittee", deployment.committee)
        self.tx_options = TxOptions(timeout=tx_timeout)
        self._rules: dict[int, dict[str, Any]] = {}
        self.log_reader = LogReader(w3, chunk_size=LOG_CHUNK, cache=RangeCache(w3))

    @property
    def tx_timeout(self) -> float:
        return self.tx_options.timeout

    @classmethod
    def connect(
        cls,
        rpc_url: str,
        directory: Path | None = None,
        *,
        escrow: str | None = None,
        deployment_file: Path | None = None,
    ) -> Chain:
        """The chain at `rpc_url` and its deployment: `deployment_file`, else the one that
        `escrow` names (registry and committee read from it), else
        ``<directory>/<chainId>.json``."""
        w3, chain_id = connect_web3(rpc_url)
        if escrow is not None and deployment_file is None:
            return cls(w3, deployment_from_escrow(w3, chain_id, escrow))
        path = deployment_file or deployments_dir(directory) / f"{chain_id}.json"
        try:
            if deployment_file is not None:
                deployment = Deployment.from_json(deployment_file.read_text())
            else:
                deployment = load_deployment(chain_id, deployments_dir(directory))
        except ChainError as exc:
            raise ActionError(
                f"{exc} (or name the contracts with --escrow ADDRESS or --deployment FILE)"
            ) from None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ActionError(f"{path}: not a deployment file: {exc}") from None
        if deployment.chain_id != chain_id:
            raise ActionError(
                f"{path} is a deployment on chain {deployment.chain_id}, but {rpc_url} is "
                f"chain {chain_id}"
            )
        if escrow is not None and to_checksum_address(escrow) != deployment.escrow:
            raise ActionError(f"--escrow {escrow} is not the escrow of {path}")
        if not w3.eth.get_code(to_checksum_address(deployment.escrow)):
            raise ActionError(
                f"{path} names the escrow {deployment.escrow}, but chain {chain_id} at {rpc_url} "
                "has no contract there (a restarted local chain?): deploy again"
            )
        return cls(w3, deployment)

    def signer(self, account: LocalAccount | str) -> Signer:
        return Signer(self.w3, account, options=self.tx_options)

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def token(self, address: str) -> Contract:
        return self.w3.eth.contract(
            address=to_checksum_address(address), abi=artifact("ERC20Permit").abi
        )

    def token_info(self, address: str) -> tuple[str, int]:
        """(symbol, decimals); a contract that is not an ERC-20 is refused."""
        if not is_address(address):
            raise ActionError(f"token {address!r} is not an address")
        token = self.token(address)
        if not self.w3.eth.get_code(token.address):
            raise ActionError(f"token {address} is not a contract on chain {self.chain_id}")
        try:
            decimals = int(token.functions.decimals().call())
        except Exception:
            raise ActionError(
                f"token {address} does not answer decimals(): not an ERC-20"
            ) from None
        try:
            symbol = str(token.functions.symbol().call())
        except Exception:
            symbol = token.address[:10]
        return symbol, decimals

    def task(self, task_id: int) -> TaskView:
        if task_id <= 0 or task_id >= 2**64:
            raise ActionError(f"task {task_id} does not exist")
        t = task_dict(self.escrow.functions.task(task_id).call())
        status = int(t["status"])
        if status == Status.NONE:
            count = int(self.escrow.functions.taskCount().call())
            raise ActionError(f"task {task_id} does not exist (this escrow has {count} tasks)")
        claim_deadline = 0
        if status == Status.FINAL:
            claim_deadline = int(self.escrow.functions.claimDeadline(task_id).call())
        return TaskView(
            task_id=task_id,
            status=STATUS_NAMES[status],
            token=to_checksum_address(t["token"]),
            requester=to_checksum_address(t["requester"]),
            budget=int(t["budget"]),
            claimed=int(t["claimed"]),
            refunded=int(t["refunded"]),
            payout_total=int(t["payoutTotal"]),
            payout_root=bytes(t["payoutRoot"]),
            report_hash=bytes(t["reportHash"]),
            spec_hash=bytes(t["specHash"]),
            gold_commitment=bytes(t["goldCommitment"]),
            annotation_deadline=int(t["annotationDeadline"]),
            reveal_deadline=int(t["revealDeadline"]),
            challenge_period=int(t["challengePeriod"]),
            claim_period=int(t["claimPeriod"]),
            oracle_timeout=int(t["oracleTimeout"]),
            claim_deadline=claim_deadline,
            rules_id=int(t["rulesId"]),
            claim_base=int(t["claimBase"]),
        )

    def rules(self, rules_id: int) -> dict[str, Any]:
        """The committee's rule set `rules_id` (settlement.RULES_FIELDS), cached: rule sets
        never change once published (only revocations, read with isRevoked)."""
        cached = self._rules.get(rules_id)
        if cached is None:
            cached = rules_dict(self.committee.functions.rules(rules_id).call())
            self._rules[rules_id] = cached
        return cached

    def paused(self) -> bool:
        return bool(self.escrow.functions.paused().call())

    def max_pause(self) -> int:
        return int(self.escrow.functions.maxPause().call())

    def task_logs(self, contract: Contract, task_id: int) -> list[Any]:
        """Every event of `contract` whose first indexed argument is `task_id`, decoded and in
        chain order."""
        return self.task_events(task_id, contract)[0]

    def task_events(self, task_id: int, *contracts: Contract) -> list[list[Any]]:
        """For each of `contracts`, its events whose first indexed argument is `task_id`,
        decoded and in chain order: one adaptive eth_getLogs scan over all of them."""
        by_key: dict[tuple[str, bytes], Any] = {}
        for contract in contracts:
            abi: list[dict[str, Any]] = cast(Any, contract.abi)
            for item in abi:
                if item.get("type") != "event" or item.get("anonymous"):
                    continue
                inputs = item.get("inputs", [])
                if not inputs or not inputs[0].get("indexed") or inputs[0]["name"] != "taskId":
                    continue
                event = getattr(contract.events, item["name"])()
                by_key[(contract.address.lower(), bytes(HexBytes(event.topic)))] = event
        topic = "0x" + task_id.to_bytes(32, "big").hex()
        out: dict[str, list[Any]] = {c.address.lower(): [] for c in contracts}
        for entry in self.read_logs([c.address for c in contracts], [None, topic]):
            address = str(entry["address"]).lower()
            event = by_key.get((address, bytes(HexBytes(entry["topics"][0]))))
            if event is not None:
                out[address].append(event.process_log(entry))
        return [out[c.address.lower()] for c in contracts]

    def decoded_logs(
        self, addresses: list[str], by_topic: dict[bytes, Any], topics: list[Any] | None = None
    ) -> list[Any]:
        """The logs of `addresses` since the deployment whose first topic is a key of
        `by_topic`, decoded by its event, in chain order."""
        out: list[Any] = []
        for entry in self.read_logs(addresses, topics):
            if not entry["topics"]:
                continue
            event = by_topic.get(bytes(HexBytes(entry["topics"][0])))
            if event is not None:
                out.append(event.process_log(entry))
        return out

    def read_logs(self, addresses: list[str], topics: list[Any] | None = None) -> list[Any]:
        """Raw logs since the deployment block, through the adaptive reader and its cache."""
        start = max(0, int(self.deployment.block) - 1)
        try:
            return self.log_reader.get_logs(addresses, start, None, topics)
        except LogReadError as exc:
            raise ActionError(str(exc)) from None

    def logs(self, event: Any, **filters: Any) -> list[Any]:
        """All logs of a contract event since the deployment, decoded; `filters` match its
        arguments (checked after decoding, so every filter shares one cached scan)."""
        ev = event()
        found = self.decoded_logs([ev.address], {bytes(HexBytes(ev.topic)): ev}, [ev.topic])
        return [e for e in found if all(_same(e["args"][k], v) for k, v in filters.items())]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return bool(a == b)


# --------------------------------------------------------------------------------------------
# services: the oracle and the relayer
# --------------------------------------------------------------------------------------------


# The oracle's 503/429 with Retry-After (nothing stored, safe to send again): tries again, and
# the longest wait taken.
ORACLE_BUSY_RETRIES = 3
SERVICE_RETRY_WAIT = 15.0


def _retry_after(response: httpx.Response) -> float | None:
    """The wait a 503 or 429 asks for (seconds, capped), or None for any other answer."""
    if response.status_code not in (429, 503):
        return None
    try:
        wait = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None  # no Retry-After (or an HTTP date): not the services' "try again"
    return min(max(wait, 0.0), SERVICE_RETRY_WAIT)


class Service:
    """A JSON HTTP service whose errors are ``{"error": message}``."""

    def __init__(
        self, url: str, what: str, timeout: float = 30.0, *, busy_retries: int = 0
    ) -> None:
        self.url = url.rstrip("/")
        self.what = what
        self.http = httpx.Client(base_url=self.url, timeout=timeout)
        # How often a 503/429 with Retry-After is sent again (0: the caller decides, as the
        # relayer's watch loop does with its own deadline).
        self.busy_retries = busy_retries

    def request(
        self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201, 202)
    ) -> tuple[int, Any]:
        """One request; a 503 or 429 with ``Retry-After`` (the service stored nothing: its
        RPC is in trouble, or it is busy) is sent again after the wait it asks for, up to
        ``busy_retries`` times and :data:`SERVICE_RETRY_WAIT` seconds a wait."""
        for attempt in range(self.busy_retries + 1):
            try:
                response = self.http.request(method, path, json=body)
            except httpx.ConnectError as exc:
                raise ActionError(f"cannot reach the {self.what} at {self.url}: {exc}") from None
            except httpx.HTTPError as exc:
                raise ServiceUnsure(
                    f"{self.what} at {self.url}: {method} {path} failed: "
                    f"{exc or type(exc).__name__}"
                ) from None
            wait = _retry_after(response)
            if wait is None or attempt == self.busy_retries:
                break
            time.sleep(wait)
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code not in ok:
            message = data.get("error") if isinstance(data, dict) else None
            raise ServiceRefused(
                response.status_code,
                f"{self.what} refused {method} {path}: "
                f"{message or response.text[:200] or 'no reason given'} "
                f"(HTTP {response.status_code})",
            )
        return response.status_code, data

    def check_chain(self, chain: Chain, contract: str, address: str) -> dict[str, Any]:
        """GET /health and check the service works on this chain and deployment."""
        _, health = self.request("GET", "/health")
        if not isinstance(health, dict):
            raise ActionError(f"{self.what} at {self.url}: /health did not answer JSON")
        if int(health.get("chain_id", -1)) != chain.chain_id:
            raise ActionError(
                f"the {self.what} at {self.url} serves chain {health.get('chain_id')}, "
                f"not chain {chain.chain_id}"
            )
        served = health.get(contract)
        if not isinstance(served, str) or served.lower() != address.lower():
            raise ActionError(
                f"the {self.what} at {self.url} serves {contract} {served}, not this "
                f"deployment's {address}"
            )
        return health


class ServiceRefused(ActionError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ServiceUnsure(ActionError):
    """The request may or may not have reached the service (a timeout, a dropped connection)."""


def oracle_service(url: str) -> Service:
    return Service(url, "oracle", busy_retries=ORACLE_BUSY_RETRIES)


# --------------------------------------------------------------------------------------------
# local records (written atomically, mode 0600, in the wallet's data directory)
# --------------------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ActionError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ActionError(f"{path}: corrupt record (not JSON): {exc}") from None


def _write_json(path: Path, data: Any) -> None:
    write_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


class Snapshot:
    """A file's content before a change, to put back if the change must be undone."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.before = path.read_bytes() if path.exists() else None

    def restore(self) -> None:
        if self.before is None:
            remove_file(self.path)
        else:
            write_atomic(self.path, self.before)


def requester_record_path(data_dir: Path, chain: Chain, digest: bytes) -> Path:
    return data_dir / f"task-{chain.chain_id}-{chain.deployment.escrow}-0x{digest.hex()}.json"


def annotation_record_path(data_dir: Path, chain: Chain, task_id: int) -> Path:
    return data_dir / f"annotations-{chain.chain_id}-{chain.deployment.escrow}-{task_id}.json"


# --------------------------------------------------------------------------------------------
# input files
# --------------------------------------------------------------------------------------------


def read_pairs_csv(path: Path, columns: tuple[tuple[str, str], ...], what: str) -> dict[str, str]:
    """Two-column CSV (item, label) under one of the accepted headers; strict."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ActionError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ActionError(f"{path}: not UTF-8 text") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise ActionError(f"{path}: empty file, expected a header {','.join(columns[0])}")
    header = [h.strip().lower() for h in rows[0]]
    for key_col, value_col in columns:
        if key_col in header and value_col in header:
            ik, iv = header.index(key_col), header.index(value_col)
            break
    else:
        wanted = " or ".join(",".join(c) for c in columns)
        raise ActionError(f"{path}: row 1: header must be {wanted}, got {rows[0]}")
    out: dict[str, str] = {}
    seen: dict[str, int] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(ik, iv):
            raise ActionError(f"{path}: row {n}: expected {len(header)} columns, got {row}")
        key, value = row[ik].strip(), row[iv].strip()
        if not key or not value:
            raise ActionError(f"{path}: row {n}: empty item or label")
        if key in seen:
            raise ActionError(f"{path}: row {n}: item {key!r} already on row {seen[key]}")
        seen[key] = n
        out[key] = value
    if not out:
        raise ActionError(f"{path}: no {what} rows")
    return out


def read_labels(path: Path) -> dict[str, str]:
    return read_pairs_csv(path, (("item", "label"), ("question", "answer")), "label")


def read_gold(path: Path) -> dict[str, str]:
    return read_pairs_csv(path, (("item", "label"), ("question", "truth")), "gold")


def read_spec(path: Path) -> dict[str, Any]:
    data = _read_json(path) if path.exists() else None
    if data is None:
        raise ActionError(f"{path}: no such spec file")
    if not isinstance(data, dict):
        raise ActionError(f"{path}: the spec must be a JSON object")
    return data


# --------------------------------------------------------------------------------------------
# requester
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Floors:
    """The committee's current rule set and its floors (``committee.currentRules()``): a new
    task's periods may be longer, never shorter."""

    rules_id: int
    challenge: int
    claim: int
    oracle_timeout: int  # the rule set's minProposalWindow

    @classmethod
    def read(cls, chain: Chain) -> Floors:
        rules_id, challenge, claim, window = chain.committee.functions.currentRules().call()
        return cls(int(rules_id), int(challenge), int(claim), int(window))


@dataclass(frozen=True)
class Periods:
    annotation: int  # seconds from now to the annotation deadline
    reveal: int  # seconds from the annotation deadline to the reveal deadline
    challenge: int
    claim: int
    oracle_timeout: int

    def validate(self) -> None:
        """What holds whatever the chain: positive periods that fit the contract's types."""
        for name, value in (
            ("--annotation-period", self.annotation),
            ("--reveal-period", self.reveal),
            ("--challenge-period", self.challenge),
            ("--claim-period", self.claim),
            ("--oracle-timeout", self.oracle_timeout),
        ):
            if value <= 0:
                raise ActionError(f"{name} must be positive")
        for name, value in (
            ("--challenge-period", self.challenge),
            ("--claim-period", self.claim),
            ("--oracle-timeout", self.oracle_timeout),
        ):
            if value >= 2**32:
                raise ActionError(f"{name} is too long (at most {2**32 - 1} seconds)")

    def check_floors(self, floors: Floors) -> None:
        """The committee's floors (the escrow would revert with PeriodBelowFloor)."""
        for name, value, floor, why in (
            (
                "--challenge-period",
                self.challenge,
                floors.challenge,
                "the time anyone has to dispute a proposed payout",
            ),
            ("--claim-period", self.claim, floors.claim, "the time annotators have to claim"),
            (
                "--oracle-timeout",
                self.oracle_timeout,
                floors.oracle_timeout,
                "the time after the reveal deadline in which a first payout can be proposed",
            ),
        ):
            if value < floor:
                raise ActionError(
                    f"{name} {format_duration(value)} is below the protocol's floor of "
                    f"{format_duration(floor)} ({why}) under the committee's rule set "
                    f"{floors.rules_id}: give at least {format_duration(floor)}"
                )


def prepare_spec(
    spec_path: Path, gold_path: Path | None
) -> tuple[TaskSpec, dict[str, str] | None, bytes | None]:
    """The spec to fund, with a fresh gold commitment if a gold set is given."""
    from labelproof.scoring import SCORING_VERSION

    data = read_spec(spec_path)
    data.setdefault("gold", {"commitment": None})
    gold_field = data.get("gold")
    existing = gold_field.get("commitment") if isinstance(gold_field, dict) else None
    gold: dict[str, str] | None = None
    salt: bytes | None = None
    if gold_path is not None:
        if existing is not None:
            raise ActionError(
                f"{spec_path}: gold.commitment is already set; leave it null and give the gold "
                "set with --gold (a fresh salt is drawn for the commitment)"
            )
        gold = read_gold(gold_path)
        salt = new_salt()
        data["gold"] = {"commitment": "0x" + gold_commitment(gold, salt).hex()}
    elif existing is not None:
        raise ActionError(
            f"{spec_path}: the spec commits to a gold set but no --gold file was given: without "
            "it the gold set could never be revealed"
        )
    try:
        spec = TaskSpec.from_dict(data)
        if gold is not None:
            spec.check_labels(gold, f"{gold_path}")
    except SpecError as exc:
        raise ActionError(f"{spec_path}: {exc}") from None
    if spec.scoring.version != SCORING_VERSION:
        raise ActionError(
            f"{spec_path}: scoring.version {spec.scoring.version!r} is not the oracle's "
            f"{SCORING_VERSION!r}"
        )
    return spec, gold, salt


def supports_permit(chain: Chain, token: Contract, owner: str) -> bool:
    """Whether `token` takes ERC-2612 permits with the domain labelproof.tokens signs for."""
    try:
        token.functions.nonces(owner).call()
        separator = bytes(token.functions.DOMAIN_SEPARATOR().call())
        name = str(token.functions.name().call())
    except Exception:
        return False
    typehash = keccak(
        text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    expected = keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [typehash, keccak(text=name), keccak(text="1"), chain.chain_id, token.address],
        )
    )
    return separator == expected


@dataclass
class Created:
    task_id: int
    tx_hash: str
    funding: str  # "permit" or "approve"
    record: Path
    spec_hash: str
    budget: int
    symbol: str
    decimals: int


def create_task(
    chain: Chain,
    account: LocalAccount,
    spec: TaskSpec,
    gold: dict[str, str] | None,
    gold_salt: bytes | None,
    token_address: str,
    budget: int,
    periods: Periods,
    data_dir: Path,
    oracle: Service | None,
    say: Say = _quiet,
) -> Created:
    """Fund a task: checks, the requester's record (spec, gold, salt), then permit or approve,
    then createTask. Registers the spec with the oracle afterwards if one is given."""
    from labelproof.tokens import sign_permit

    periods.validate()
    periods.check_floors(Floors.read(chain))
    if chain.paused():
        raise ActionError(
            "the escrow is paused by its guardian: no task can be created until the pause ends "
            f"(a pause lasts at most {format_duration(chain.max_pause())})"
        )
    if oracle is not None:
        say("checking the oracle")
        oracle.check_chain(chain, "escrow", chain.deployment.escrow)
    symbol, decimals = chain.token_info(token_address)
    token = chain.token(token_address)
    me = account.address
    if budget <= 0:
        raise ActionError("--budget must be positive")
    if budget >= 2**128:
        raise ActionError("--budget is too large (at most 2^128 - 1 smallest units)")
    balance = int(token.functions.balanceOf(me).call())
    if balance < budget:
        raise ActionError(
            f"{me} holds {format_amount(balance, decimals)} {symbol}, less than the budget "
            f"{format_amount(budget, decimals)} {symbol}"
        )
    if int(chain.w3.eth.get_balance(me)) == 0:
        raise ActionError(f"{me} has no ETH to pay for gas")

    now = chain.now()
    digest = spec_hash(spec)
    commitment = gold_commitment(gold, gold_salt) if gold and gold_salt else ZERO32
    annotation_deadline = now + periods.annotation
    params = (
        digest,
        commitment,
        annotation_deadline,
        annotation_deadline + periods.reveal,
        periods.challenge,
        periods.claim,
        periods.oracle_timeout,
    )
    signer = chain.signer(account)
    escrow = chain.escrow
    use_permit = supports_permit(chain, token, me)
    record_path = requester_record_path(data_dir, chain, digest)
    record = {
        "format": "labelproof-requester/1",
        "chain_id": chain.chain_id,
        "escrow": chain.deployment.escrow,
        "requester": me,
        "spec": json.loads(spec.to_json()),
        "spec_hash": "0x" + digest.hex(),
        "gold": gold,
        "gold_salt": None if gold_salt is None else "0x" + gold_salt.hex(),
        "gold_commitment": "0x" + commitment.hex(),
        "token": token.address,
        "budget": str(budget),
        "task_id": None,
        "tx": None,
        "created_at": int(time.time()),
    }
    snapshot = Snapshot(record_path)

    if use_permit:
        deadline = now + PERMIT_LIFETIME
        say("signing the permit")
        v, r, s = sign_permit(account.key, token, escrow.address, budget, deadline)
        fn = escrow.functions.createTaskWithPermit(token.address, budget, params, deadline, v, r, s)
        signer.simulate(fn, "createTaskWithPermit")
        _write_json(record_path, record)  # the gold salt is safe before anything is sent
        say("sending createTaskWithPermit")
        try:
            receipt = signer.send(fn, "createTaskWithPermit", simulate=False)
        except (TxRejected, TxReverted):
            snapshot.restore()
            raise
    else:
        allowance = int(token.functions.allowance(me, escrow.address).call())
        _write_json(record_path, record)
        try:
            if allowance < budget:
                say(f"approving {format_amount(budget, decimals)} {symbol}")
                signer.send(token.functions.approve(escrow.address, budget), "approve")
            fn = escrow.functions.createTask(token.address, budget, params)
            say("sending createTask")
            receipt = signer.send(fn, "createTask")
        except (TxRejected, TxReverted):
            snapshot.restore()
            if allowance < budget:
                _restore_allowance(signer, token, escrow.address, allowance, say)
            raise
    events = escrow.events.TaskCreated().process_receipt(receipt, errors=DISCARD)
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    if not events:
        raise ActionError(f"createTask mined but no TaskCreated event in {tx_hash}")
    task_id = int(events[0]["args"]["taskId"])
    record["task_id"] = task_id
    record["tx"] = tx_hash
    _write_json(record_path, record)
    created = Created(
        task_id=task_id,
        tx_hash=tx_hash,
        funding="permit" if use_permit else "approve",
        record=record_path,
        spec_hash="0x" + digest.hex(),
        budget=budget,
        symbol=symbol,
        decimals=decimals,
    )
    if oracle is not None:
        say("registering the spec with the oracle")
        try:
            register_spec(oracle, task_id, spec)
        except ActionError as exc:
            raise ActionError(
                f"task {task_id} is funded (tx {tx_hash}), but registering its spec failed: "
                f"{exc}; retry with `labelproof task register-spec {task_id}`"
            ) from None
    return created


def _restore_allowance(signer: Signer, token: Contract, spender: str, value: int, say: Say) -> None:
    try:
        if int(token.functions.allowance(signer.address, spender).call()) != value:
            say("restoring the previous allowance")
            signer.send(token.functions.approve(spender, value), "approve (restore)")
    except ActionError:
        pass  # best effort: the failure being reported matters more


def register_spec(oracle: Service, task_id: int, spec: TaskSpec) -> None:
    oracle.request("POST", f"/tasks/{task_id}/spec", json.loads(spec.to_json()))


def requester_record(data_dir: Path, chain: Chain, view: TaskView) -> tuple[Path, dict[str, Any]]:
    path = requester_record_path(data_dir, chain, view.spec_hash)
    if not path.exists():
        raise ActionError(
            f"no local record of task {view.task_id}'s spec in {data_dir} (spec hash "
            f"0x{view.spec_hash.hex()}): it was created from another wallet or machine"
        )
    record = _read_json(path)
    if not isinstance(record, dict) or "spec" not in record:
        raise ActionError(f"{path}: not a requester record")
    return path, record


def record_spec(path: Path, record: dict[str, Any]) -> TaskSpec:
    try:
        return TaskSpec.from_dict(record["spec"])
    except SpecError as exc:
        raise ActionError(f"{path}: stored spec is invalid: {exc}") from None


def reveal_gold(
    chain: Chain, requester: str, task_id: int, data_dir: Path, oracle: Service, say: Say = _quiet
) -> dict[str, Any]:
    view = chain.task(task_id)
    if view.requester != requester:
        raise ActionError(f"task {task_id} belongs to requester {view.requester}, not {requester}")
    if view.gold_commitment == ZERO32:
        raise ActionError(f"task {task_id} has no gold set (its gold commitment is zero)")
    path, record = requester_record(data_dir, chain, view)
    if record.get("gold") is None or record.get("gold_salt") is None:
        raise ActionError(f"{path}: the record holds no gold set")
    salt = bytes.fromhex(str(record["gold_salt"])[2:])
    gold = {str(k): str(v) for k, v in record["gold"].items()}
    if gold_commitment(gold, salt) != view.gold_commitment:
        raise ActionError(
            f"{path}: the stored gold set does not open task {task_id}'s commitment "
            f"0x{view.gold_commitment.hex()}"
        )
    oracle.check_chain(chain, "escrow", chain.deployment.escrow)
    say("registering the spec (idempotent)")
    register_spec(oracle, task_id, record_spec(path, record))
    say("revealing the gold set")
    _, body = oracle.request(
        "POST", f"/tasks/{task_id}/gold", {"gold": gold, "salt": record["gold_salt"]}
    )
    return body if isinstance(body, dict) else {}


def register_spec_for(chain: Chain, task_id: int, data_dir: Path, oracle: Service) -> str:
    view = chain.task(task_id)
    path, record = requester_record(data_dir, chain, view)
    oracle.check_chain(chain, "escrow", chain.deployment.escrow)
    register_spec(oracle, task_id, record_spec(path, record))
    return "0x" + view.spec_hash.hex()


def simple_action(
    chain: Chain, account: LocalAccount, fn: Any, what: str, say: Say = _quiet
) -> TxReceipt:
    say(f"sending {what}")
    return chain.signer(account).send(fn, what)


@dataclass
class Cancelled:
    """What `cancelTask` did: a full refund, or (with attestations) an early close."""

    task_id: int
    kind: str  # "cancelled" | "closed early"
    refunded: int
    annotation_deadline: int
    reveal_deadline: int
    tx_hash: str


def cancel_task(chain: Chain, account: LocalAccount, task_id: int, say: Say = _quiet) -> Cancelled:
    """Cancel a task. Nobody attested: the whole budget comes back. Someone attested, before the
    annotation deadline: the task is closed early (annotation ends now, the reveal window moves
    up by as much) and the attested work is scored and paid as usual. After the annotation
    deadline with attestations: refused."""
    view = chain.task(task_id)
    if view.requester != account.address:
        raise ActionError(
            f"task {task_id} belongs to requester {view.requester}, not {account.address} "
            "(NotRequester)"
        )
    if view.status != "funded":
        raise ActionError(f"task {task_id} is {view.status}: only a funded task can be cancelled")
    now = chain.now()
    attested = bool(chain.registry.functions.hasAttestations(task_id).call())
    if attested and now >= view.annotation_deadline:
        raise ActionError(
            f"task {task_id} cannot be cancelled (AttestationsExist): annotators have attested "
            f"and its annotation window closed at {format_time(view.annotation_deadline, now)}; "
            "their work is scored and paid, and what the payout does not allocate comes back "
            "with `labelproof task refund` once it is final"
        )
    if not attested and chain.committee.functions.everPending(task_id).call():
        raise ActionError(
            f"task {task_id} cannot be cancelled (ProposalExists): a payout has been proposed "
            "for it, so it settles through the committee (a dispute can still refund you)"
        )
    say("closing the task early" if attested else "cancelling the task")
    receipt = chain.signer(account).send(chain.escrow.functions.cancelTask(task_id), "cancelTask")
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    closed = chain.escrow.events.TaskClosedEarly().process_receipt(receipt, errors=DISCARD)
    if closed:
        args = closed[0]["args"]
        return Cancelled(
            task_id,
            "closed early",
            0,
            int(args["annotationDeadline"]),
            int(args["revealDeadline"]),
            tx_hash,
        )
    refunds = chain.escrow.events.Refunded().process_receipt(receipt, errors=DISCARD)
    amount = sum(int(e["args"]["amount"]) for e in refunds)
    return Cancelled(
        task_id, "cancelled", amount, view.annotation_deadline, view.reveal_deadline, tx_hash
    )


# --------------------------------------------------------------------------------------------
# task status
# --------------------------------------------------------------------------------------------


def _popcount(x: int) -> int:
    return bin(x).count("1")


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex()


def _bond_info(chain: Chain, token: str) -> tuple[str, int]:
    try:
        return chain.token_info(token)
    except ActionError:
        return token[:10], 18


def _history(
    chain: Chain, committee_events: list[Any], rules: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The task's settlement history (proposals that became pending, vetoes, disputes and
    rulings, restarts, finalization) and its bond movements, from the committee's events."""
    history: list[dict[str, Any]] = []
    bonds: list[dict[str, Any]] = []
    dispute_rounds: dict[int, int] = {}
    committee = chain.committee.address
    for e in committee_events:
        a = e["args"]
        name = e["event"]
        base: dict[str, Any] = {"block": int(e["blockNumber"])}
        if name == "ProposalPending":
            proposer = to_checksum_address(a["proposer"])
            history.append(
                base
                | {
                    "event": "pending",
                    "round": int(a["round"]),
                    "root": _hex(a["root"]),
                    "total": str(int(a["total"])),
                    "report_hash": _hex(a["reportHash"]),
                    "inputs_hash": _hex(a["inputsHash"]),
                    "challenge_ends": int(a["challengeEnds"]),
                    "proposer": None if proposer == ZERO_ADDRESS else proposer,
                    "bond": str(int(a["bond"])),
                }
            )
        elif name == "Vetoed":
            history.append(
                base
                | {
                    "event": "vetoed",
                    "round": int(a["round"]) - 1,
                    "guardian": to_checksum_address(a["guardian"]),
                    "reason": str(a["reason"]),
                }
            )
        elif name == "Disputed":
            dispute_rounds[int(a["disputeId"])] = int(a["round"])
            history.append(
                base
                | {
                    "event": "disputed",
                    "round": int(a["round"]),
                    "disputer": to_checksum_address(a["disputer"]),
                    "dispute_id": int(a["disputeId"]),
                    "bond": str(int(a["bond"])),
                }
            )
        elif name == "DisputeResolved":
            verdict = int(a["verdict"])
            history.append(
                base
                | {
                    "event": "ruled",
                    "round": dispute_rounds.get(int(a["disputeId"])),
                    "dispute_id": int(a["disputeId"]),
                    "verdict": VERDICT_NAMES[verdict]
                    if verdict < len(VERDICT_NAMES)
                    else str(verdict),
                }
            )
        elif name == "RoundRestarted":
            history.append(
                base
                | {
                    "event": "restarted",
                    "round": int(a["round"]) - 1,
                    "caller": to_checksum_address(a["caller"]),
                }
            )
        elif name == "Finalized":
            history.append(
                base
                | {"event": "finalized", "root": _hex(a["root"]), "total": str(int(a["total"]))}
            )
        elif name == "BondSettled":
            to = to_checksum_address(a["to"])
            if to == committee:
                label = "committee stake"
            elif int(to, 16) == 0xDEAD:
                label = "burned"
            else:
                label = to
            bonds.append(
                base
                | {
                    "to": to,
                    "label": label,
                    "token": to_checksum_address(a["token"]),
                    "amount": str(int(a["amount"])),
                }
            )
    return history, bonds


def _current_round(
    chain: Chain,
    task_id: int,
    view: TaskView,
    p: Proposal,
    rules: dict[str, Any],
    committee_events: list[Any],
    now: int,
) -> dict[str, Any] | None:
    """The committee's current round for a funded task: votes so far, or the pending (or
    disputed) proposal with its bond."""
    if view.status != "funded":
        return None
    if not p.challenge_ends and not p.voters and not p.disputed:
        return None
    threshold = int(rules["threshold"])
    entry: dict[str, Any] = {
        "round": p.round,
        "threshold": threshold,
        "voted": _popcount(p.voters),
        "veto_used": p.veto_used,
        "ever_pending": p.ever_pending,
        "proposer": None,
        "bond": str(p.bond),
        "dispute": None,
    }
    if p.challenge_ends:
        # The committee keeps no inputsHash: the round's ProposalPending event has it.
        inputs_hash = round_inputs_hash(committee_events, p.round)
        votes = int(
            chain.committee.functions.votes(
                task_id, p.root, p.total, p.report_hash, inputs_hash or ZERO32
            ).call()
        )
        entry |= {
            "state": "disputed"
            if p.disputed
            else "challenge"
            if now < p.challenge_ends
            else ("finalizable"),
            "root": p.root,
            "total": str(p.total),
            "report_hash": p.report_hash,
            "inputs_hash": inputs_hash,
            "challenge_ends": p.challenge_ends,
            "votes": votes,
            "proposer": p.proposer if p.bonded else None,
        }
        if p.disputed:
            entry["dispute"] = {
                "disputer": p.disputer,
                "bond": str(p.dispute_bond),
                "id": p.dispute_id,
            }
        return entry
    # Voting: the round's leading payout, from its Proposed events (live votes as counted then).
    tallies: dict[tuple[str, int, str, str], int] = {}
    for e in committee_events:
        if e["event"] != "Proposed" or int(e["args"]["round"]) != p.round:
            continue
        a = e["args"]
        key = (_hex(a["root"]), int(a["total"]), _hex(a["reportHash"]), _hex(a["inputsHash"]))
        tallies[key] = int(a["votes"])
    entry |= {"state": "voting", "votes": 0, "root": None, "total": None}
    if tallies:
        (root, total, report_hash, inputs_hash), votes = max(tallies.items(), key=lambda x: x[1])
        entry |= {
            "votes": votes,
            "root": root,
            "total": str(total),
            "report_hash": report_hash,
            "inputs_hash": inputs_hash,
            "payouts": len(tallies),
        }
    return entry


def task_status(chain: Chain, task_id: int) -> dict[str, Any]:
    """Everything the chain says about a task: phase, money, deadlines (the claim deadline as
    extended by pauses), the rule set with its floors and bonds, the committee's current round
    and the settlement history (pending, vetoed, disputed and ruled rounds, bond movements)."""
    view = chain.task(task_id)
    now = chain.now()
    symbol, decimals = chain.token_info(view.token)
    rules = chain.rules(view.rules_id)
    p = Proposal.from_raw(chain.committee.functions.pending(task_id).call())
    committee_events, escrow_events, registry_events = chain.task_events(
        task_id, chain.committee, chain.escrow, chain.registry
    )
    attested = {
        to_checksum_address(e["args"]["annotator"])
        for e in registry_events
        if e["event"] == "Attested"
    }
    refundable, kind = chain.escrow.functions.refundable(task_id).call()
    paused = chain.paused()
    paused_time = int(chain.escrow.functions.pausedTime().call())
    history, bond_flows = _history(chain, committee_events, rules)
    current = _current_round(chain, task_id, view, p, rules, committee_events, now)
    bond_token = to_checksum_address(rules["bondToken"])
    bond_symbol, bond_decimals = _bond_info(chain, bond_token)
    if current is not None:
        current["total_units"] = (
            None if current["total"] is None else format_amount(int(current["total"]), decimals)
        )

    finalized = [e for e in escrow_events if e["event"] == "PayoutFinalized"]
    closed_early = [e for e in escrow_events if e["event"] == "TaskClosedEarly"]
    refunds = [
        {
            "kind": REFUND_KINDS[int(e["args"]["kind"])]
            if int(e["args"]["kind"]) < len(REFUND_KINDS)
            else str(int(e["args"]["kind"])),
            "amount": str(int(e["args"]["amount"])),
        }
        for e in escrow_events
        if e["event"] == "Refunded"
    ]
    original_claim = int(finalized[-1]["args"]["claimDeadline"]) if finalized else None
    ruled_refund = any(r["kind"] == "ruling" for r in refunds)
    guardian = to_checksum_address(rules["guardian"])
    oracles = [to_checksum_address(o) for o in rules["oracles"]]
    revoked = [o for o in oracles if chain.committee.functions.isRevoked(view.rules_id, o).call()]
    return {
        "task_id": task_id,
        "phase": _phase(view, now, p, ruled_refund, paused),
        "status": view.status,
        "requester": view.requester,
        "token": view.token,
        "symbol": symbol,
        "decimals": decimals,
        "budget": str(view.budget),
        "claimed": str(view.claimed),
        "refunded": str(view.refunded),
        "left": str(view.left),
        "refundable": str(int(refundable)),
        "refund_kind": REFUND_KINDS[int(kind)] if int(refundable) else None,
        "refunds": refunds,
        "payout_total": str(view.payout_total),
        "payout_root": None if view.payout_root == ZERO32 else "0x" + view.payout_root.hex(),
        "report_hash": None if view.report_hash == ZERO32 else "0x" + view.report_hash.hex(),
        "spec_hash": "0x" + view.spec_hash.hex(),
        "gold_commitment": commitment_hex(view.gold_commitment),
        "attestations": len(attested),
        "proposal": current,
        "history": history,
        "rules": {
            "id": view.rules_id,
            "oracles": oracles,
            "revoked": revoked,
            "threshold": int(rules["threshold"]),
            "guardian": None if guardian == ZERO_ADDRESS else guardian,
            "arbitrator": to_checksum_address(rules["arbitrator"]),
            "committee_grace": int(rules["committeeGrace"]),
            "floors": {
                "challenge": int(rules["minChallengePeriod"]),
                "claim": int(rules["minClaimPeriod"]),
                "proposal_window": int(rules["minProposalWindow"]),
            },
        },
        "bonds": {
            "token": bond_token,
            "symbol": bond_symbol,
            "decimals": bond_decimals,
            "proposer_bond": str(int(rules["proposerBond"])),
            "dispute_bond": str(int(rules["disputeBond"])),
            "burn_bps": int(rules["burnBps"]),
            "locked": str(p.bond + p.dispute_bond) if view.status == "funded" else "0",
            "settled": bond_flows,
        },
        "pause": {
            "paused": paused,
            "paused_time": paused_time,
            # how much later claims close than when the payout became final
            "claim_extension": (
                view.claim_deadline - original_claim
                if original_claim is not None and view.claim_deadline
                else 0
            ),
        },
        "closed_early": bool(closed_early),
        "now": now,
        "deadlines": {
            "annotation": view.annotation_deadline,
            "reveal": view.reveal_deadline,
            "oracle": view.oracle_deadline,
            "oracle_met": p.ever_pending or view.status == "final",
            "bonded_proposals": view.reveal_deadline + int(rules["committeeGrace"]),
            "claim": view.claim_deadline or None,
            "claim_original": original_claim,
        },
        "periods": {
            "challenge": view.challenge_period,
            "claim": view.claim_period,
            "oracle_timeout": view.oracle_timeout,
        },
    }


def _phase(view: TaskView, now: int, p: Proposal, ruled_refund: bool, paused: bool) -> str:
    if view.status == "cancelled":
        return "cancelled"
    if view.status == "expired":
        return "refunded by ruling" if ruled_refund else "expired"
    if view.status == "final":
        if now > view.claim_deadline:
            return "claims closed"
        return "claims paused" if paused else "claims open"
    if now <= view.annotation_deadline:
        return "annotation"
    if now <= view.reveal_deadline:
        return "reveal"
    if p.disputed:
        return "disputed"
    if p.challenge_ends:
        return "challenge" if now < p.challenge_ends else "finalizable"
    if not p.ever_pending and now > view.oracle_deadline:
        return "timed out"
    return "scoring"


# --------------------------------------------------------------------------------------------
# annotator: commit and reveal
# --------------------------------------------------------------------------------------------


@dataclass
class Committed:
    task_id: int
    root: str
    item_count: int
    version: int
    via: str
    tx_hash: str | None
    relay_hash: str | None
    record: Path
    confirmed: bool
    note: str | None = None  # what happened on the way, when the relayer did not simply deliver


def _check_open(chain: Chain, task_id: int) -> TaskView:
    view = chain.task(task_id)
    if view.status != "funded":
        raise ActionError(f"task {task_id} is {view.status}: it takes no attestations")
    deadline, open_ = chain.registry.functions.window(task_id).call()
    now = chain.now()
    if not open_:
        raise ActionError(f"task {task_id} is not open for attestations")
    if now >= int(deadline):
        raise ActionError(
            f"task {task_id}'s annotation window closed at {format_time(int(deadline), now)}"
        )
    return view


def commit_annotations(
    chain: Chain,
    account: LocalAccount,
    task_id: int,
    labels: dict[str, str],
    data_dir: Path,
    *,
    spec: TaskSpec | None = None,
    relay: Service | None = None,
    wait: bool = True,
    wait_timeout: float = 120.0,
    relay_patience: float = 15.0,
    fallback_direct: bool = True,
    say: Say = _quiet,
    salts: dict[str, bytes] | None = None,
) -> Committed:
    """`salts`: one per item (derived from a wallet signature, labelproof.salts); fresh random
    ones when not given."""
    view = _check_open(chain, task_id)
    if spec is not None:
        if spec_hash(spec) != view.spec_hash:
            raise ActionError(
                f"the spec's hash 0x{spec_hash(spec).hex()} is not task {task_id}'s specHash "
                f"0x{view.spec_hash.hex()}"
            )
        try:
            spec.check_labels(labels)
        except SpecError as exc:
            raise ActionError(str(exc)) from None
    me = account.address
    if relay is not None:
        say("checking the relayer")
        relay.check_chain(chain, "registry", chain.deployment.registry)
    if salts is None:
        salts = {item: new_salt() for item in labels}
    elif set(salts) != set(labels):
        raise ActionError("the salts given do not cover exactly the labelled items")
    leaves = [
        annotation_leaf(
            chain.chain_id, chain.deployment.escrow, task_id, item, me, label, salts[item]
        )
        for item, label in labels.items()
    ]
    root = annotation_root(leaves)
    count = len(leaves)
    if count >= 2**32:
        raise ActionError("too many labels for one attestation (at most 2^32 - 1)")
    current = int(chain.registry.functions.attestation(task_id, me).call()[1])
    version = current + 1

    path = annotation_record_path(data_dir, chain, task_id)
    record: dict[str, Any] = (
        _read_json(path)
        if path.exists()
        else {
            "format": "labelproof-annotations/1",
            "chain_id": chain.chain_id,
            "escrow": chain.deployment.escrow,
            "registry": chain.deployment.registry,
            "task_id": task_id,
            "annotator": me,
            "commitments": [],
        }
    )
    if record.get("annotator") != me:
        raise ActionError(f"{path} belongs to {record.get('annotator')}, not {me}")
    entry: dict[str, Any] = {
        "version": version,
        "root": "0x" + root.hex(),
        "item_count": count,
        "labels": [
            {"item": item, "label": labels[item], "salt": "0x" + salts[item].hex()}
            for item in sorted(labels)
        ],
        "via": "relay" if relay is not None else "direct",
        "status": "sending",
        "tx": None,
        "relay_hash": None,
        "created_at": int(time.time()),
    }
    snapshot = Snapshot(path)

    def save() -> None:
        _write_json(path, record)

    if relay is None:
        fn = chain.registry.functions.attest(task_id, root, count)
        signer = chain.signer(account)
        signer.simulate(fn, "attest")
        record["commitments"].append(entry)
        save()  # the salts are on disk before the commitment can be on chain
        say("sending attest")
        try:
            receipt = signer.send(fn, "attest", simulate=False)
        except (TxRejected, TxReverted):
            snapshot.restore()
            raise
        except TxPending:
            entry["status"] = "unknown"
            save()
            raise
        entry["status"] = "attested"
        entry["tx"] = "0x" + bytes(receipt["transactionHash"]).hex()
        save()
        return Committed(
            task_id, entry["root"], count, version, "direct", entry["tx"], None, path, True
        )

    data = attestation_typed_data(
        chain.chain_id, chain.deployment.registry, task_id, me, root, count, version
    )
    signed = account.sign_message(encode_typed_data(full_message=data))
    body = {
        "task_id": task_id,
        "annotator": me,
        "root": "0x" + root.hex(),
        "item_count": count,
        "version": version,
        "signature": "0x" + bytes(signed.signature).hex(),
    }
    record["commitments"].append(entry)
    save()
    say("sending the signed attestation to the relayer")
    try:
        _, answer = relay.request("POST", "/attestations", body)
    except ServiceUnsure:
        entry["status"] = "unknown"
        save()
        raise
    except ActionError:
        snapshot.restore()
        raise
    relay_hash = str(answer.get("hash")) if isinstance(answer, dict) else None
    entry["status"] = "relayed"
    entry["relay_hash"] = relay_hash
    save()
    result = Committed(
        task_id, entry["root"], count, version, "relay", None, relay_hash, path, False
    )
    if not wait or relay_hash is None:
        return result
    watch = _CommitWatch(chain, account, relay, body, relay_hash, relay_patience, say)
    outcome = watch.run(wait_timeout, fallback_direct)
    entry["status"] = "attested"
    entry["tx"] = outcome.tx_hash
    if outcome.via != "relay":
        entry["via"] = outcome.via
    entry["note"] = outcome.note
    save()
    result.tx_hash, result.confirmed = outcome.tx_hash, True
    result.via, result.note = outcome.via, outcome.note
    return result


@dataclass
class _Delivered:
    via: str  # relay | direct
    tx_hash: str | None
    note: str | None


class _CommitWatch:
    """Follows a relayed commitment until the chain has it.

    The chain is the judge: the registry's ``isAttested`` for this root ends the watch whoever
    sent it. While the relayer cannot be reached or no longer knows the entry (a restart with a
    fresh database), the same signed body is sent to it again; if the relayer reports the entry
    failed, stays unreachable for three times ``patience`` or the wait runs out, the annotator
    attests directly when it has ETH for gas (without ETH it keeps resubmitting until the wait
    runs out). Every step is said, and the result names the path taken.
    """

    def __init__(
        self,
        chain: Chain,
        account: LocalAccount,
        relay: Service,
        body: dict[str, Any],
        relay_hash: str,
        patience: float,
        say: Say,
    ) -> None:
        self.chain = chain
        self.account = account
        self.relay = relay
        self.body = body
        self.relay_hash = relay_hash
        self.patience = patience
        self.say = say
        self.root = bytes.fromhex(body["root"][2:])
        self.resubmits = 0

    def on_chain(self) -> bool:
        task, me, count = self.body["task_id"], self.account.address, self.body["item_count"]
        return bool(self.chain.registry.functions.isAttested(task, me, self.root, count).call())

    def _resubmit(self) -> str | None:
        """Send the same signature again; None if the relayer took it, else why not."""
        try:
            self.relay.request("POST", "/attestations", self.body)
        except ActionError as exc:
            return str(exc)
        self.resubmits += 1
        self.say(f"resubmitted the same signature to the relayer (time {self.resubmits})")
        return None

    def run(self, wait_timeout: float, fallback_direct: bool) -> _Delivered:
        self.say("waiting for the relayer's batch to reach the chain")
        deadline = time.monotonic() + wait_timeout
        trouble_since: float | None = None
        last_resubmit = 0.0
        problem = ""
        tx_hash: str | None = None
        while True:
            if self.on_chain():
                note = None
                if self.resubmits:
                    note = (
                        f"the relayer lost track of the attestation; the same signature was "
                        f"resubmitted {self.resubmits} time(s) and it landed"
                    )
                return _Delivered("relay", tx_hash, note)
            state: Any = None
            try:
                _, state = self.relay.request("GET", f"/attestations/{self.relay_hash}")
            except ServiceRefused as exc:
                problem = str(exc)
                if exc.status == 404:
                    # A relayer that restarted without our entry: hand it the signature again.
                    problem = f"the relayer no longer knows {self.relay_hash}"
                    if self._resubmit() is None:
                        trouble_since = None
                        continue
            except ActionError as exc:
                problem = str(exc)
            status = state.get("status") if isinstance(state, dict) else None
            now = time.monotonic()
            if status in ("queued", "submitted", "confirmed"):
                trouble_since = None
                tx_hash = state.get("tx_hash") or tx_hash
            elif status == "failed":
                if self.on_chain():
                    continue
                return self._fallback(
                    f"the relayer could not submit the attestation: {state.get('error')}",
                    fallback_direct,
                )
            else:
                if status == "stale":
                    problem = f"the relayer serves another chain now: {state.get('error')}"
                trouble_since = trouble_since or now
                if now - trouble_since >= self.patience and now - last_resubmit >= self.patience:
                    last_resubmit = now
                    self._resubmit()
                if now - trouble_since >= 3 * self.patience and self._can_attest(fallback_direct):
                    return self._fallback(
                        f"the relayer has failed for {now - trouble_since:.0f} s: {problem}",
                        fallback_direct,
                    )
            if now > deadline:
                return self._fallback(
                    f"the relayer accepted the attestation ({self.relay_hash}) but it is not on "
                    f"chain after {wait_timeout:.0f} s",
                    fallback_direct,
                )
            time.sleep(0.25)

    def _can_attest(self, allowed: bool) -> bool:
        """Whether a direct attest is possible; if not, the watch waits for the relayer."""
        return allowed and int(self.chain.w3.eth.get_balance(self.account.address)) > 0

    def _fallback(self, why: str, allowed: bool) -> _Delivered:
        me = self.account.address
        if not allowed:
            raise TxPending(f"{why}; the salts are kept: commit again, or attest directly")
        if int(self.chain.w3.eth.get_balance(me)) == 0:
            raise TxPending(
                f"{why}; {me} has no ETH to attest directly. The signed attestation stays valid "
                "until the annotation window closes: run the commit again with a working relayer"
            )
        self.say(f"{why}: attesting directly from {me}")
        fn = self.chain.registry.functions.attest(
            self.body["task_id"], self.root, self.body["item_count"]
        )
        try:
            receipt = self.chain.signer(self.account).send(fn, "attest")
        except (TxRejected, TxReverted):
            if self.on_chain():  # the relayer's batch landed meanwhile
                return _Delivered("relay", None, f"{why}; then the relayer's batch landed")
            raise
        tx = "0x" + bytes(receipt["transactionHash"]).hex()
        return _Delivered("direct", tx, f"{why}; attested directly instead (your own gas)")


def annotation_record(data_dir: Path, chain: Chain, task_id: int) -> tuple[Path, dict[str, Any]]:
    path = annotation_record_path(data_dir, chain, task_id)
    if not path.exists():
        raise ActionError(
            f"no labels and salts for task {task_id} in {data_dir}: commit with this wallet first"
        )
    record = _read_json(path)
    if not isinstance(record, dict) or not isinstance(record.get("commitments"), list):
        raise ActionError(f"{path}: not an annotation record")
    return path, record


def reveal_annotations(
    chain: Chain, annotator: str, task_id: int, data_dir: Path, oracle: Service, say: Say = _quiet
) -> dict[str, Any]:
    view = chain.task(task_id)
    path, record = annotation_record(data_dir, chain, task_id)
    now = chain.now()
    if view.status == "funded" and now > view.reveal_deadline:
        raise ActionError(
            f"task {task_id}'s reveal window closed at {format_time(view.reveal_deadline, now)}"
        )
    say("finding the commitment the chain holds")
    chosen: dict[str, Any] | None = None
    for entry in reversed(record["commitments"]):
        root = bytes.fromhex(str(entry["root"])[2:])
        if chain.registry.functions.isAttested(
            task_id, annotator, root, int(entry["item_count"])
        ).call():
            chosen = entry
            break
    if chosen is None:
        version = int(chain.registry.functions.attestation(task_id, annotator).call()[1])
        state = "has no attestation" if version == 0 else f"holds attestation version {version}"
        raise ActionError(
            f"none of the {len(record['commitments'])} commitments in {path} is on chain: task "
            f"{task_id} {state} for {annotator}"
        )
    oracle.check_chain(chain, "escrow", chain.deployment.escrow)
    say("revealing labels and salts to the oracle")
    _, body = oracle.request(
        "POST", f"/tasks/{task_id}/reveals", {"annotator": annotator, "labels": chosen["labels"]}
    )
    receipt = body.get("receipt") if isinstance(body, dict) else None
    chosen["status"] = "attested"
    chosen["revealed"] = receipt
    _write_json(path, record)
    return body if isinstance(body, dict) else {}


def reveal_derived(
    chain: Chain,
    account: LocalAccount,
    task_id: int,
    labels: dict[str, str],
    oracle: Service,
    say: Say = _quiet,
) -> dict[str, Any]:
    """Reveal labels whose salts derive from the wallet's signature (labelproof.salts): no
    record on disk needed, so a commitment made in the web app (or on another machine) can be
    revealed from its labels alone."""
    from labelproof.salts import derive_salts, wallet_seed

    me = account.address
    view = chain.task(task_id)
    now = chain.now()
    if view.status == "funded" and now > view.reveal_deadline:
        raise ActionError(
            f"task {task_id}'s reveal window closed at {format_time(view.reveal_deadline, now)}"
        )
    say("deriving the salts from the wallet's signature")
    dep = chain.deployment
    salts = derive_salts(
        wallet_seed(account, chain.chain_id, dep.registry, dep.escrow, task_id), labels
    )
    root = annotation_root(
        [
            annotation_leaf(chain.chain_id, dep.escrow, task_id, item, me, label, salts[item])
            for item, label in labels.items()
        ]
    )
    if not chain.registry.functions.isAttested(task_id, me, root, len(labels)).call():
        version = int(chain.registry.functions.attestation(task_id, me).call()[1])
        state = "has no attestation" if version == 0 else f"holds attestation version {version}"
        raise ActionError(
            f"these {len(labels)} labels with salts derived from {me}'s signature give root "
            f"0x{root.hex()}, which is not on chain: task {task_id} {state} for {me} (were "
            "they committed with derived salts, and are the labels exactly those committed?)"
        )
    oracle.check_chain(chain, "escrow", dep.escrow)
    say("revealing labels and salts to the oracle")
    _, body = oracle.request(
        "POST",
        f"/tasks/{task_id}/reveals",
        {
            "annotator": me,
            "labels": [
                {"item": item, "label": labels[item], "salt": "0x" + salts[item].hex()}
                for item in sorted(labels)
            ],
        },
    )
    return body if isinstance(body, dict) else {}


# --------------------------------------------------------------------------------------------
# annotator: rewards and claims
# --------------------------------------------------------------------------------------------


@dataclass
class Reward:
    task_id: int
    token: str
    symbol: str
    decimals: int
    state: str  # claimable, claimed, expired, no payout, unknown, proof mismatch
    amount: int | None
    proof: list[str]
    claim_deadline: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "token": self.token,
            "symbol": self.symbol,
            "state": self.state,
            "amount": None if self.amount is None else str(self.amount),
            "amount_units": None
            if self.amount is None
            else format_amount(self.amount, self.decimals),
            "claim_deadline": self.claim_deadline,
        }


def rewards(chain: Chain, account: str, oracle: Service | None, say: Say = _quiet) -> list[Reward]:
    """The wallet's payouts across every final task it attested to."""
    say("reading attestations and final payouts")
    # One scan (cached between runs) for the three events, filtered here by account.
    events = [
        chain.registry.events.Attested(),
        chain.escrow.events.PayoutFinalized(),
        chain.escrow.events.Claimed(),
    ]
    logs = chain.decoded_logs(
        [chain.registry.address, chain.escrow.address],
        {bytes(HexBytes(e.topic)): e for e in events},
        [[e.topic for e in events]],
    )
    mine: set[int] = set()
    final: set[int] = set()
    claimed: dict[int, int] = {}
    for e in logs:
        args = e["args"]
        if e["event"] == "Attested" and _same(args["annotator"], account):
            mine.add(int(args["taskId"]))
        elif e["event"] == "PayoutFinalized":
            final.add(int(args["taskId"]))
        elif e["event"] == "Claimed" and _same(args["account"], account):
            claimed[int(args["taskId"])] = int(args["amount"])
    now = chain.now()
    out: list[Reward] = []
    tokens: dict[str, tuple[str, int]] = {}
    for task_id in sorted(mine & final):
        view = chain.task(task_id)
        if view.token not in tokens:
            tokens[view.token] = chain.token_info(view.token)
        symbol, decimals = tokens[view.token]
        reward = Reward(
            task_id, view.token, symbol, decimals, "unknown", None, [], view.claim_deadline
        )
        if chain.escrow.functions.isClaimed(task_id, account).call():
            reward.state = "claimed"
            reward.amount = claimed.get(task_id)
        elif oracle is not None:
            say(f"fetching the proof for task {task_id}")
            try:
                _, body = oracle.request("GET", f"/tasks/{task_id}/proof/{account}")
            except ServiceRefused as exc:
                if exc.status != 404:
                    raise
                body = None
            if body is None:
                reward.state = "no payout"
            else:
                amount = int(body["amount"])
                proof = [str(p) for p in body["proof"]]
                root = "0x" + view.payout_root.hex()
                if not StandardMerkleTree.verify(
                    root, ["address", "uint256"], [account, amount], proof
                ):
                    reward.state = "proof mismatch"
                else:
                    reward.amount, reward.proof = amount, proof
                    reward.state = "claimable" if now <= view.claim_deadline else "expired"
        elif now > view.claim_deadline:
            reward.state = "expired"
        out.append(reward)
    return out


def claim(
    chain: Chain,
    account: LocalAccount,
    chosen: list[Reward],
    say: Say = _quiet,
) -> TxReceipt:
    me = account.address
    if chain.paused():
        raise ActionError(
            "the escrow is paused by its guardian: claims resume when the pause ends (at most "
            f"{format_duration(chain.max_pause())} after it began); paused time is added to "
            "every claim deadline, so no claim expires meanwhile"
        )
    signer = chain.signer(account)
    if len(chosen) == 1:
        r = chosen[0]
        fn = chain.escrow.functions.claim(r.task_id, me, r.amount, r.proof)
        say(f"claiming task {r.task_id}")
        return signer.send(fn, "claim")
    requests = [(r.task_id, r.amount, r.proof) for r in chosen]
    say(f"claiming {len(chosen)} tasks in one claimMany")
    return signer.send(chain.escrow.functions.claimMany(me, requests), "claimMany")


def iter_chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
