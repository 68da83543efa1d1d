"""Audit a deployment: rebuild every payout from public events plus the oracle's published data.

An auditor needs no trust in the oracle. From the chain (events read with chunked
``eth_getLogs`` from the deployment's block, and contract state, all pinned to one block) and
the data the oracle publishes after scoring (the report whose keccak256 is the posted
reportHash, the payout tree, the revealed labels with their salts and the gold set), this
module checks, per task:

* ``funds``: funded = claimed + refunded + held, with claimed and refunded summed from the
  Claimed/Refunded events and held the escrow's remaining obligation (budget - claimed -
  refunded as the escrow stores them); the event sums equal the stored ones; no more is claimed
  than the posted total; a cancelled or expired task owes nothing.
* ``solvency`` (per token, over every task): the escrow's token balance covers what all tasks
  still owe in that token.
* ``claims``: every Claimed event is a leaf (account, amount) of the published tree and each
  account claims once.
* ``report_hash``: keccak256 of the published report bytes is the posted reportHash.
* ``report``: the report names this chain, escrow, task, spec, gold commitment and budget, the
  posted root and total, and pays what the tree pays.
* ``root`` / ``total``: the published tree's root and the sum of its amounts are the posted
  ones; ``tree``: the tree file is a valid OpenZeppelin standard-v1 dump of (address, uint256).
* ``spec``: the published spec hashes to the on-chain specHash.
* ``gold``: the published gold set and salt open the on-chain gold commitment.
* ``reveal``: every published reveal rebuilds (annotation leaves, Merkle root, item count) to
  its annotator's latest Attested event for the task.
* ``recompute``: scoring the published reveals and gold set with the oracle's own code
  (``labelproof.oracle.scheduler.compute_payout``, the function the scheduler calls, not a
  copy of it) gives the posted reportHash, root and total.

plus ``events`` (the events agree with contract state; none are missing) and ``published``
(the published data exists and belongs to the posted payout).

The "posted" payout of a task is its final one (``PayoutFinalized``, escrow state) or, while a
proposal waits out its challenge window, the pending one: auditing during the window is what
gives a guardian time to veto.

Published data comes from the oracle's HTTP API (``--oracle URL``) or from a directory
(``--files DIR``) with this layout, one folder per task id::

    DIR/
      index.json            optional: {"format": "labelproof-published/1", "source": URL,
                            "chain_id": ..., "escrow": ..., "tasks": [ids]}
      <task id>/
        report.json         the exact bytes of GET /tasks/<id>/report (hashed as they are:
                            never reformat this file)
        tree.json           GET /tasks/<id>/tree: the payout tree, OpenZeppelin standard-v1 dump
        reveals.json        GET /tasks/<id>/reveals: {"spec", "reveals", "excluded", "gold",
                            "round", "report_hash"}, the inputs the oracle scored

:func:`export_published` writes that directory from an oracle (``--export DIR`` does it while
auditing, saving exactly the bytes the audit checked). A missing file of a task with a posted
payout is a finding, not an error: the oracle owes that data to everyone.

``python -m labelproof.audit`` exits 0 when every check holds, 1 with one line per finding,
2 (one line) for bad usage or input it cannot read (no RPC, no deployment file, no oracle).
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import math
import os
import sys
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, Protocol

import requests
from eth_utils import is_address, keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3Exception
from web3.types import FilterParams, LogReceipt

from labelproof.chain import ChainError, contract_at
from labelproof.deploy import Deployment
from labelproof.merkle import PAYOUT_ENCODING, MerkleError, StandardMerkleTree
from labelproof.oracle.onchain import (
    STATUS_CANCELLED,
    STATUS_EXPIRED,
    STATUS_FINAL,
    STATUS_FUNDED,
    OracleChain,
    hex32,
)
from labelproof.oracle.records import (
    REPORT_FORMAT,
    REVEAL_FORMAT,
    RevealError,
    parse_labels,
    receipt_of,
    reveal_root,
)
from labelproof.oracle.scheduler import NothingToPay, compute_payout
from labelproof.oracle.store import GoldRow, RevealRow, TaskRow
from labelproof.spec import (
    SpecError,
    TaskSpec,
    canonical_json,
    gold_commitment,
    spec_hash,
    verify_gold,
)

EXPORT_FORMAT = "labelproof-published/1"
REPORT_FILE = "report.json"
TREE_FILE = "tree.json"
REVEALS_FILE = "reveals.json"
INDEX_FILE = "index.json"

STATUS_NAMES = ("none", "funded", "cancelled", "final", "expired")
REFUND_KINDS = ("cancelled", "unallocated", "unclaimed", "oracle-timeout")

CHECK_EVENTS = "events"
CHECK_FUNDS = "funds"
CHECK_SOLVENCY = "solvency"
CHECK_PUBLISHED = "published"
CHECK_REPORT_HASH = "report_hash"
CHECK_REPORT = "report"
CHECK_ROOT = "root"
CHECK_TOTAL = "total"
CHECK_TREE = "tree"
CHECK_CLAIMS = "claims"
CHECK_SPEC = "spec"
CHECK_GOLD = "gold"
CHECK_REVEAL = "reveal"
CHECK_RECOMPUTE = "recompute"
CHECKS = (
    CHECK_EVENTS,
    CHECK_FUNDS,
    CHECK_SOLVENCY,
    CHECK_PUBLISHED,
    CHECK_REPORT_HASH,
    CHECK_REPORT,
    CHECK_ROOT,
    CHECK_TOTAL,
    CHECK_TREE,
    CHECK_CLAIMS,
    CHECK_SPEC,
    CHECK_GOLD,
    CHECK_REVEAL,
    CHECK_RECOMPUTE,
)

# Events the audit reads; every other event of the three contracts is skipped by topic.
_EVENTS = (
    ("escrow", "TaskCreated"),
    ("escrow", "TaskCancelled"),
    ("escrow", "PayoutFinalized"),
    ("escrow", "Claimed"),
    ("escrow", "Refunded"),
    ("registry", "Attested"),
    ("committee", "Proposed"),
    ("committee", "ProposalPending"),
    ("committee", "Vetoed"),
    ("committee", "Finalized"),
)

# A chain read can fail in any of these ways (node down, bad address, RPC error); the audit
# turns them into one line and exit code 2 rather than a traceback.
_CHAIN_ERRORS = (ChainError, Web3Exception, requests.exceptions.RequestException, OSError)


class AuditInputError(Exception):
    """Input the audit cannot read (RPC, deployment file, oracle, files); one line."""


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One mismatch: which task (None for deployment-wide checks), which check, and what."""

    check: str
    message: str
    task: int | None = None

    def line(self) -> str:
        where = "deployment" if self.task is None else f"task {self.task}"
        return f"{where}: {self.check}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "check": self.check, "message": self.message}


@dataclass(frozen=True)
class PostedPayout:
    """The payout on chain: final (escrow state) or pending in the committee."""

    kind: str  # "final" | "pending"
    root: str
    total: int
    report_hash: str
    round: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "root": self.root,
            "total": str(self.total),
            "report_hash": self.report_hash,
            "round": self.round,
        }


@dataclass(frozen=True)
class PayoutRow:
    """One annotator of a scored task: its quality and labels, what it is owed and claimed."""

    account: str
    labels: int
    quality: float
    payout: int
    claimed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "labels": self.labels,
            "quality": self.quality,
            "payout": str(self.payout),
            "claimed": str(self.claimed),
        }


@dataclass
class TaskSummary:
    task_id: int
    token: str
    symbol: str
    decimals: int
    requester: str
    status: str
    funded: int
    claimed: int
    refunded: int
    held: int
    posted: PostedPayout | None = None
    claims: list[tuple[str, int]] = field(default_factory=list)
    refunds: list[tuple[str, int]] = field(default_factory=list)  # (kind, amount)
    rows: list[PayoutRow] = field(default_factory=list)
    rows_source: str | None = None  # "recomputed" or "published report"
    min_quality: float | None = None
    published: str = "not needed"  # "checked" | "missing" | "not checked" | "not needed"
    excluded: list[str] = field(default_factory=list)

    @property
    def paid_annotators(self) -> int:
        return len({account for account, _ in self.claims})

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "token": self.token,
            "symbol": self.symbol,
            "decimals": self.decimals,
            "requester": self.requester,
            "status": self.status,
            "funded": str(self.funded),
            "claimed": str(self.claimed),
            "refunded": str(self.refunded),
            "held": str(self.held),
            "posted": None if self.posted is None else self.posted.to_dict(),
            "paid_annotators": self.paid_annotators,
            "claims": [{"account": a, "amount": str(x)} for a, x in self.claims],
            "refunds": [{"kind": k, "amount": str(x)} for k, x in self.refunds],
            "rows": [r.to_dict() for r in self.rows],
            "rows_source": self.rows_source,
            "min_quality": self.min_quality,
            "published": self.published,
            "excluded": self.excluded,
        }


@dataclass(frozen=True)
class TokenSummary:
    token: str
    symbol: str
    decimals: int
    balance: int  # the escrow's balance of the token
    owed: int  # what all the token's tasks still owe
    tasks: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "symbol": self.symbol,
            "decimals": self.decimals,
            "balance": str(self.balance),
            "owed": str(self.owed),
            "tasks": self.tasks,
        }


@dataclass
class AuditResult:
    chain_id: int
    escrow: str
    block: int  # every chain read is pinned to this block
    from_block: int
    source: str | None  # where the published data came from
    tasks: list[TaskSummary]
    tokens: list[TokenSummary]
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not self.findings

    def findings_for(self, task_id: int | None) -> list[Finding]:
        return [f for f in self.findings if f.task == task_id]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "chain_id": self.chain_id,
            "escrow": self.escrow,
            "block": self.block,
            "from_block": self.from_block,
            "source": self.source,
            "checks": list(CHECKS),
            "findings": [f.to_dict() for f in self.findings],
            "tasks": [t.to_dict() for t in self.tasks],
            "tokens": [t.to_dict() for t in self.tokens],
        }

    def to_json(self) -> str:
        # Amounts are decimal strings: token amounts pass 2**53, which JSON readers in other
        # languages would round.
        return json.dumps(self.to_dict(), indent=2) + "\n"


# --------------------------------------------------------------------------------------------
# published data: the oracle's API or a directory
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """One task's published files as raw bytes (None: not published)."""

    report: bytes | None = None
    tree: bytes | None = None
    reveals: bytes | None = None

    @property
    def empty(self) -> bool:
        return self.report is None and self.tree is None and self.reveals is None


class PublishedSource(Protocol):
    description: str

    def fetch(self, task_id: int) -> Published: ...


class OracleSource:
    """Reads GET /tasks/{id}/report, /tree and /reveals from an oracle's base URL."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise AuditInputError(f"oracle URL {base_url!r} must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.description = self.base_url

    def get(self, path: str) -> bytes | None:
        """The body of GET path; None for 404 (not published yet, or unknown to the oracle)."""
        url = f"{self.base_url}{path}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            detail = exc.read()[:200].decode("utf-8", "replace").strip()
            raise AuditInputError(f"GET {url}: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AuditInputError(f"cannot read {url}: {reason}") from None

    def fetch(self, task_id: int) -> Published:
        return Published(
            report=self.get(f"/tasks/{task_id}/report"),
            tree=self.get(f"/tasks/{task_id}/tree"),
            reveals=self.get(f"/tasks/{task_id}/reveals"),
        )

    def health(self) -> dict[str, Any] | None:
        body = self.get("/health")
        try:
            data = json.loads(body) if body is not None else None
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


class FilesSource:
    """Reads DIR/<task id>/{report,tree,reveals}.json (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        if not directory.is_dir():
            raise AuditInputError(f"published-data directory {directory} does not exist")
        self.directory = directory
        self.description = str(directory)

    def index(self) -> dict[str, Any] | None:
        path = self.directory / INDEX_FILE
        if not path.exists():
            return None
        try:
            data = json.loads(_read(path))
        except ValueError as exc:
            raise AuditInputError(f"{path}: not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise AuditInputError(f"{path}: expected a JSON object")
        return data

    def fetch(self, task_id: int) -> Published:
        folder = self.directory / str(task_id)
        return Published(
            report=_read_optional(folder / REPORT_FILE),
            tree=_read_optional(folder / TREE_FILE),
            reveals=_read_optional(folder / REVEALS_FILE),
        )


class _Recorder:
    """Passes fetches through and saves what was read, so an export is what the audit saw."""

    def __init__(self, inner: OracleSource, directory: Path) -> None:
        self.inner = inner
        self.directory = directory
        self.description = inner.description
        self.saved: list[int] = []

    def fetch(self, task_id: int) -> Published:
        published = self.inner.fetch(task_id)
        if _save(self.directory, task_id, published):
            self.saved.append(task_id)
        return published


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AuditInputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_optional(path: Path) -> bytes | None:
    return _read(path) if path.exists() else None


def _save(directory: Path, task_id: int, published: Published) -> bool:
    if published.empty:
        return False
    folder = directory / str(task_id)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, body in (
            (REPORT_FILE, published.report),
            (TREE_FILE, published.tree),
            (REVEALS_FILE, published.reveals),
        ):
            if body is not None:
                # Raw bytes as served: the report's hash is over these exact bytes.
                (folder / name).write_bytes(body)
    except OSError as exc:
        raise AuditInputError(f"cannot write {folder}: {exc.strerror or exc}") from None
    return True


def _write_index(
    directory: Path, source: str, tasks: Iterable[int], health: dict[str, Any] | None
) -> None:
    path = directory / INDEX_FILE
    known: set[int] = set()
    if path.exists():
        try:
            old = json.loads(path.read_text())
            known = {int(t) for t in old.get("tasks", [])}
        except (OSError, ValueError, TypeError, AttributeError):
            known = set()  # a broken index is rewritten, not trusted
    index = {
        "format": EXPORT_FORMAT,
        "source": source,
        "chain_id": None if health is None else health.get("chain_id"),
        "escrow": None if health is None else health.get("escrow"),
        "tasks": sorted(known | set(tasks)),
        "files": [REPORT_FILE, TREE_FILE, REVEALS_FILE],
    }
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(index, indent=2) + "\n")
    except OSError as exc:
        raise AuditInputError(f"cannot write {path}: {exc.strerror or exc}") from None


def export_published(
    oracle_url: str, directory: Path, task_ids: Iterable[int], *, timeout: float = 30.0
) -> list[int]:
    """Save what the oracle publishes for `task_ids` into `directory` (layout: module
    docstring); tasks the oracle has not scored are skipped. Returns the ids saved."""
    source = OracleSource(oracle_url, timeout=timeout)
    saved = [tid for tid in task_ids if _save(directory, tid, source.fetch(tid))]
    _write_index(directory, source.description, saved, source.health())
    return saved


# --------------------------------------------------------------------------------------------
# chain: events and state
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attestation:
    root: str
    item_count: int
    version: int


@dataclass
class ChainEvents:
    created: dict[int, dict[str, Any]] = field(default_factory=dict)
    cancelled: set[int] = field(default_factory=set)
    payout_finalized: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    claims: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    refunds: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    # latest Attested event per (task, annotator): the commitment a reveal must match
    attestations: dict[tuple[int, str], Attestation] = field(default_factory=dict)
    proposed: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    pending: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    vetoed: dict[int, list[int]] = field(default_factory=dict)
    finalized: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


def get_logs_chunked(
    w3: Web3, addresses: list[str], from_block: int, to_block: int, chunk_size: int = 2_000
) -> list[LogReceipt]:
    """Every log of `addresses` in [from_block, to_block], `chunk_size` blocks per request.

    A provider that refuses a range (too many results, range limit) gets the range halved and
    asked again, down to single blocks, so the audit works against public RPCs too.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    logs: list[LogReceipt] = []
    start, size = from_block, chunk_size
    while start <= to_block:
        end = min(start + size - 1, to_block)
        params: FilterParams = {
            "fromBlock": start,
            "toBlock": end,
            "address": addresses,  # type: ignore[typeddict-item]
        }
        try:
            logs.extend(w3.eth.get_logs(params))
        except _CHAIN_ERRORS as exc:
            if end == start:
                raise AuditInputError(
                    f"eth_getLogs for block {start} failed: {_first_line(exc)}"
                ) from None
            size = max(1, (end - start + 1) // 2)
            continue
        start = end + 1
    return logs


def read_events(
    chain: OracleChain, from_block: int, to_block: int, chunk_size: int = 2_000
) -> ChainEvents:
    """Decode the escrow's, registry's and committee's events between the two blocks."""
    topics: dict[bytes, tuple[str, Any]] = {}
    addresses: list[str] = []
    for contract_name, event_name in _EVENTS:
        contract: Contract = getattr(chain, contract_name)
        event = getattr(contract.events, event_name)()
        topics[bytes(HexBytes(event.topic))] = (event_name, event)
        if contract.address not in addresses:
            addresses.append(contract.address)
    events = ChainEvents()
    for entry in get_logs_chunked(chain.w3, addresses, from_block, to_block, chunk_size):
        if not entry["topics"]:
            continue
        found = topics.get(bytes(HexBytes(entry["topics"][0])))
        if found is None:
            continue  # TaskOpened, RoleGranted, ...: not needed for the audit
        name, event = found
        args = event.process_log(entry)["args"]
        tid = int(args["taskId"])
        if name == "TaskCreated":
            events.created[tid] = {
                "requester": to_checksum_address(args["requester"]),
                "token": to_checksum_address(args["token"]),
                "budget": int(args["budget"]),
            }
        elif name == "TaskCancelled":
            events.cancelled.add(tid)
        elif name == "PayoutFinalized":
            events.payout_finalized.setdefault(tid, []).append(_payout_args(args))
        elif name == "Claimed":
            claim = (to_checksum_address(args["account"]), int(args["amount"]))
            events.claims.setdefault(tid, []).append(claim)
        elif name == "Refunded":
            kind = int(args["kind"])
            label = REFUND_KINDS[kind] if kind < len(REFUND_KINDS) else str(kind)
            events.refunds.setdefault(tid, []).append((label, int(args["amount"])))
        elif name == "Attested":
            key = (tid, to_checksum_address(args["annotator"]))
            att = Attestation(hex32(args["root"]), int(args["itemCount"]), int(args["version"]))
            old = events.attestations.get(key)
            if old is None or att.version > old.version:
                events.attestations[key] = att
        elif name == "Proposed":
            vote = _payout_args(args) | {
                "oracle": to_checksum_address(args["oracle"]),
                "round": int(args["round"]),
            }
            events.proposed.setdefault(tid, []).append(vote)
        elif name == "ProposalPending":
            pend = _payout_args(args) | {"round": int(args["round"])}
            events.pending.setdefault(tid, []).append(pend)
        elif name == "Vetoed":
            events.vetoed.setdefault(tid, []).append(int(args["round"]))
        else:  # committee Finalized
            events.finalized.setdefault(tid, []).append(_payout_args(args))
    return events


def _payout_args(args: Any) -> dict[str, Any]:
    return {
        "root": hex32(args["root"]),
        "total": int(args["total"]),
        "report_hash": hex32(args["reportHash"]),
    }


@dataclass(frozen=True)
class _StoredTask:
    """TaskEscrow.task(id) at the audited block (see ITaskEscrow.Task for the field order)."""

    payout_root: str
    claimed: int
    payout_total: int
    token: str
    status: int
    budget: int
    requester: str
    refunded: int
    spec_hash: str
    gold_commitment: str
    report_hash: str

    @classmethod
    def read(cls, escrow: Contract, task_id: int, block: int) -> _StoredTask:
        t = escrow.functions.task(task_id).call(block_identifier=block)
        return cls(
            payout_root=hex32(t[0]),
            claimed=int(t[1]),
            payout_total=int(t[2]),
            token=to_checksum_address(t[3]),
            status=int(t[5]),
            budget=int(t[6]),
            requester=to_checksum_address(t[10]),
            refunded=int(t[13]),
            spec_hash=hex32(t[14]),
            gold_commitment=hex32(t[15]),
            report_hash=hex32(t[16]),
        )


@dataclass(frozen=True)
class _TokenInfo:
    symbol: str
    decimals: int


def _token_info(w3: Web3, token: str, block: int) -> _TokenInfo:
    """Symbol and decimals for display; both are optional in ERC-20, so failures fall back."""
    contract = contract_at(w3, "IERC20Metadata", token)
    try:
        symbol = str(contract.functions.symbol().call(block_identifier=block))
    except _CHAIN_ERRORS:
        symbol = token[:10]
    try:
        decimals = int(contract.functions.decimals().call(block_identifier=block))
    except _CHAIN_ERRORS:
        decimals = 18
    return _TokenInfo(symbol, decimals)


# --------------------------------------------------------------------------------------------
# the audit
# --------------------------------------------------------------------------------------------


def _default_deployment(rpc_url: str) -> Path:
    """The deployment record of the chain at `rpc_url`, where `labelproof deploy` wrote it."""
    from labelproof.deploy import DEPLOYMENTS_DIR

    try:
        chain_id = int(
            Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30})).eth.chain_id
        )
    except Exception as exc:
        raise AuditInputError(f"cannot reach a node at {rpc_url}: {exc}") from None
    directory = Path(os.environ.get("LABELPROOF_DEPLOYMENTS") or DEPLOYMENTS_DIR)
    return directory / f"{chain_id}.json"


def load_deployment_file(path: Path) -> Deployment:
    try:
        return Deployment.from_json(path.read_text())
    except OSError as exc:
        raise AuditInputError(f"cannot read deployment {path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise AuditInputError(f"deployment {path} is not a deployment record: {exc}") from None


def run_audit(
    rpc: str | Web3,
    deployment: Deployment | Path,
    *,
    task_ids: Sequence[int] | None = None,
    oracle_url: str | None = None,
    files: Path | None = None,
    export_to: Path | None = None,
    chunk_size: int = 2_000,
    timeout: float = 30.0,
) -> AuditResult:
    """Audit the deployment's tasks (all, or `task_ids`) at the chain's current block.

    Published data comes from `oracle_url` or `files` (at most one); with neither, only the
    chain's own bookkeeping is checked. `export_to` (with `oracle_url`) saves the fetched data
    in the files layout. Raises AuditInputError for input that cannot be read.
    """
    if oracle_url is not None and files is not None:
        raise AuditInputError("give the oracle URL or a files directory, not both")
    if export_to is not None and oracle_url is None:
        raise AuditInputError("exporting needs the oracle URL to export from")
    dep = load_deployment_file(deployment) if isinstance(deployment, Path) else deployment
    source: PublishedSource | None = None
    recorder: _Recorder | None = None
    oracle: OracleSource | None = None
    if oracle_url is not None:
        oracle = OracleSource(oracle_url, timeout=timeout)
        source = oracle
        if export_to is not None:
            recorder = _Recorder(oracle, export_to)
            source = recorder
    elif files is not None:
        files_source = FilesSource(files)
        index = files_source.index()
        if index is not None and index.get("escrow") not in (None, dep.escrow):
            raise AuditInputError(
                f"{files} holds data for escrow {index.get('escrow')}, not {dep.escrow}"
            )
        source = files_source
    w3 = rpc if isinstance(rpc, Web3) else Web3(Web3.HTTPProvider(rpc, {"timeout": timeout}))
    try:
        if not w3.is_connected():
            raise AuditInputError(f"cannot reach the RPC endpoint {_provider_url(w3)}")
        result = _Audit(w3, dep, source, chunk_size).run(task_ids)
    except _CHAIN_ERRORS as exc:
        raise AuditInputError(f"chain read failed: {_first_line(exc)}") from None
    if recorder is not None and oracle is not None and export_to is not None:
        _write_index(export_to, oracle.description, recorder.saved, oracle.health())
    return result


class _Audit:
    def __init__(
        self, w3: Web3, dep: Deployment, source: PublishedSource | None, chunk_size: int
    ) -> None:
        self.w3 = w3
        self.dep = dep
        self.source = source
        self.chunk_size = chunk_size
        # OracleChain checks the deployment against the chain (chain id, registry, committee).
        self.chain = OracleChain(w3, dep.escrow, dep)
        self.chain_id = self.chain.chain_id
        self.escrow_address = self.chain.escrow.address
        self.findings: list[Finding] = []

    def find(self, task: int | None, check: str, message: str) -> None:
        self.findings.append(Finding(check, message, task))

    def run(self, task_ids: Sequence[int] | None) -> AuditResult:
        block = int(self.w3.eth.block_number)
        from_block = max(0, int(self.dep.block))
        events = read_events(self.chain, from_block, block, self.chunk_size)
        count = int(self.chain.escrow.functions.taskCount().call(block_identifier=block))
        all_ids = list(range(1, count + 1))
        wanted = all_ids if not task_ids else sorted(set(task_ids))
        for tid in wanted:
            if not 1 <= tid <= count:
                raise AuditInputError(
                    f"task {tid} does not exist: the escrow has {count} task(s) at block {block}"
                )
        stray = sorted(set(events.created) - set(all_ids))
        if stray:
            self.find(None, CHECK_EVENTS, f"TaskCreated events for unknown task ids {stray}")

        stored = {tid: _StoredTask.read(self.chain.escrow, tid, block) for tid in all_ids}
        tokens: dict[str, _TokenInfo] = {}
        for t in stored.values():
            if t.token not in tokens:
                tokens[t.token] = _token_info(self.w3, t.token, block)

        summaries: list[TaskSummary] = []
        for tid in wanted:
            summaries.append(self._task(tid, stored[tid], tokens[stored[tid].token], events, block))

        token_rows = self._solvency(stored, tokens, block)
        return AuditResult(
            chain_id=self.chain_id,
            escrow=self.escrow_address,
            block=block,
            from_block=from_block,
            source=None if self.source is None else self.source.description,
            tasks=summaries,
            tokens=token_rows,
            findings=self.findings,
        )

    # -- money

    def _solvency(
        self, stored: dict[int, _StoredTask], tokens: dict[str, _TokenInfo], block: int
    ) -> list[TokenSummary]:
        """Per token, over every task (not only the audited ones): balance >= obligations."""
        rows = []
        for token, info in sorted(tokens.items()):
            owed = sum(_held(t) for t in stored.values() if t.token == token)
            n = sum(1 for t in stored.values() if t.token == token)
            erc20 = contract_at(self.w3, "IERC20Metadata", token)
            balance = int(
                erc20.functions.balanceOf(self.escrow_address).call(block_identifier=block)
            )
            if balance < owed:
                self.find(
                    None,
                    CHECK_SOLVENCY,
                    f"token {token} ({info.symbol}): the escrow holds {balance} but its "
                    f"{n} task(s) still owe {owed}",
                )
            rows.append(TokenSummary(token, info.symbol, info.decimals, balance, owed, n))
        return rows

    def _task(
        self,
        tid: int,
        st: _StoredTask,
        info: _TokenInfo,
        events: ChainEvents,
        block: int,
    ) -> TaskSummary:
        created = events.created.get(tid)
        claims = events.claims.get(tid, [])
        refunds = events.refunds.get(tid, [])
        claimed_ev = sum(a for _, a in claims)
        refunded_ev = sum(a for _, a in refunds)
        funded = st.budget
        if created is None:
            self.find(
                tid,
                CHECK_EVENTS,
                f"no TaskCreated event from block {self.dep.block}: is the deployment's block "
                "right?",
            )
        else:
            funded = created["budget"]
            if created["budget"] != st.budget or created["token"] != st.token:
                self.find(
                    tid,
                    CHECK_FUNDS,
                    f"TaskCreated funded {created['budget']} of {created['token']} but the "
                    f"escrow stores a budget of {st.budget} of {st.token}",
                )
        held = _held(st)
        summary = TaskSummary(
            task_id=tid,
            token=st.token,
            symbol=info.symbol,
            decimals=info.decimals,
            requester=st.requester,
            status=STATUS_NAMES[st.status] if st.status < len(STATUS_NAMES) else str(st.status),
            funded=funded,
            claimed=claimed_ev,
            refunded=refunded_ev,
            held=held,
            claims=list(claims),
            refunds=list(refunds),
        )
        self._funds(tid, st, summary)
        posted = self._posted(tid, st, events, block)
        summary.posted = posted
        self._claims_once(tid, claims)
        if posted is None:
            if claims:
                self.find(tid, CHECK_CLAIMS, f"{len(claims)} claim(s) but no final payout")
            return summary
        if self.source is None:
            summary.published = "not checked"
            return summary
        published = self.source.fetch(tid)
        if published.empty:
            summary.published = "missing"
            self.find(
                tid,
                CHECK_PUBLISHED,
                f"the {posted.kind} payout (root {posted.root}) has no published report, tree "
                f"or reveals at {self.source.description}",
            )
            return summary
        summary.published = "checked"
        _TaskCheck(self, tid, st, posted, events, summary).run(published)
        return summary

    def _funds(self, tid: int, st: _StoredTask, s: TaskSummary) -> None:
        if s.claimed != st.claimed:
            self.find(
                tid,
                CHECK_FUNDS,
                f"Claimed events add up to {s.claimed} but the escrow records {st.claimed} claimed",
            )
        if s.refunded != st.refunded:
            self.find(
                tid,
                CHECK_FUNDS,
                f"Refunded events add up to {s.refunded} but the escrow records {st.refunded} "
                "refunded",
            )
        if s.funded != s.claimed + s.refunded + s.held:
            self.find(
                tid,
                CHECK_FUNDS,
                f"funded {s.funded} but claimed {s.claimed} + refunded {s.refunded} + held "
                f"{s.held} = {s.claimed + s.refunded + s.held}",
            )
        if st.claimed + st.refunded > st.budget:
            self.find(
                tid,
                CHECK_FUNDS,
                f"claimed {st.claimed} + refunded {st.refunded} exceed the budget {st.budget}",
            )
        if st.status == STATUS_FINAL and st.claimed > st.payout_total:
            self.find(
                tid,
                CHECK_FUNDS,
                f"claimed {st.claimed} exceeds the final payout total {st.payout_total}",
            )
        if st.status != STATUS_FINAL and st.claimed:
            self.find(tid, CHECK_FUNDS, f"{st.claimed} claimed but the task is {s.status}")
        if st.status in (STATUS_CANCELLED, STATUS_EXPIRED) and s.held:
            self.find(
                tid,
                CHECK_FUNDS,
                f"the task is {s.status} but the escrow still owes {s.held} for it",
            )

    def _claims_once(self, tid: int, claims: list[tuple[str, int]]) -> None:
        seen: dict[str, int] = {}
        for account, _ in claims:
            seen[account] = seen.get(account, 0) + 1
        for account, n in seen.items():
            if n > 1:
                self.find(tid, CHECK_CLAIMS, f"{account} claimed {n} times")

    def _posted(
        self, tid: int, st: _StoredTask, events: ChainEvents, block: int
    ) -> PostedPayout | None:
        pendings = events.pending.get(tid, [])
        if st.status == STATUS_FINAL:
            rnd = pendings[-1]["round"] if pendings else None
            posted = PostedPayout("final", st.payout_root, st.payout_total, st.report_hash, rnd)
            fin = events.payout_finalized.get(tid, [])
            on_chain = {
                "root": posted.root,
                "total": posted.total,
                "report_hash": posted.report_hash,
            }
            if len(fin) != 1 or fin[0] != on_chain:
                self.find(
                    tid,
                    CHECK_EVENTS,
                    f"the escrow's final payout {on_chain} is not the one PayoutFinalized event "
                    f"(found {fin})",
                )
            return posted
        if st.status != STATUS_FUNDED:
            return None
        p = self.chain.committee.functions.pending(tid).call(block_identifier=block)
        # Proposal struct: root, total, challengeEnds, round, voters, votes, reportHash
        if int(p[2]) == 0:
            return None
        return PostedPayout("pending", hex32(p[0]), int(p[1]), hex32(p[6]), int(p[3]))


def _held(t: _StoredTask) -> int:
    """What the escrow still owes for a task: everything neither claimed nor refunded."""
    return t.budget - t.claimed - t.refunded


class _TaskCheck:
    """The checks of one task's published data against its posted payout."""

    def __init__(
        self,
        audit: _Audit,
        tid: int,
        st: _StoredTask,
        posted: PostedPayout,
        events: ChainEvents,
        summary: TaskSummary,
    ) -> None:
        self.audit = audit
        self.tid = tid
        self.st = st
        self.posted = posted
        self.events = events
        self.summary = summary
        # Whether the published report hashes to the posted reportHash (set by _report_hash).
        self.report_matches = True

    def find(self, check: str, message: str) -> None:
        self.audit.find(self.tid, check, message)

    def run(self, pub: Published) -> None:
        report_doc = self._report_hash(pub.report)
        tree = self._tree(pub.tree)
        inputs = self._inputs(pub.reveals)
        spec = self._spec(inputs)
        gold_rows = self._gold(inputs, spec)
        reveals = self._reveals(inputs, spec)
        computed = self._recompute(inputs, spec, gold_rows, reveals, report_doc)
        if report_doc is not None:
            self._report(report_doc, tree)
        self._claims(tree, computed)
        self._rows(report_doc, computed)

    # -- report

    def _report_hash(self, body: bytes | None) -> dict[str, Any] | None:
        if body is None:
            self.find(CHECK_PUBLISHED, f"no published report for the {self.posted.kind} payout")
            return None
        actual = "0x" + bytes(keccak(body)).hex()
        self.report_matches = actual == self.posted.report_hash
        if not self.report_matches:
            self.find(
                CHECK_REPORT_HASH,
                f"posted reportHash {self.posted.report_hash} but the published report hashes "
                f"to {actual}",
            )
        try:
            doc = json.loads(body)
        except ValueError as exc:
            self.find(CHECK_REPORT, f"the published report is not valid JSON: {exc}")
            return None
        if not isinstance(doc, dict):
            self.find(CHECK_REPORT, "the published report is not a JSON object")
            return None
        return doc

    def _report(self, doc: dict[str, Any], tree: StandardMerkleTree | None) -> None:
        """The report's own claims: bound to this task, and paying what the tree pays."""
        st, posted = self.st, self.posted
        expected_task = {
            "chain_id": self.audit.chain_id,
            "escrow": self.audit.escrow_address,
            "task_id": self.tid,
            "spec_hash": st.spec_hash,
            "gold_commitment": st.gold_commitment,
            "budget": st.budget,
        }
        if doc.get("format") != REPORT_FORMAT:
            self.find(CHECK_REPORT, f"format is {doc.get('format')!r}, not {REPORT_FORMAT!r}")
        task = _obj(doc.get("task"))
        for key, want in expected_task.items():
            got = task.get(key)
            if got != want:
                self.find(CHECK_REPORT, f"the report's task.{key} is {got!r}, on chain {want!r}")
        payout = _obj(doc.get("payout"))
        if payout.get("root") != posted.root:
            self.find(
                CHECK_REPORT,
                f"the report's payout root is {payout.get('root')} but the posted root is "
                f"{posted.root}",
            )
        if payout.get("total") != posted.total:
            self.find(
                CHECK_REPORT,
                f"the report's payout total is {payout.get('total')} but the posted total is "
                f"{posted.total}",
            )
        if tree is None:
            return
        leaves = _tree_payouts(tree)
        reported = _report_payouts(doc)
        if reported is None:
            self.find(CHECK_REPORT, "the report has no scoring.workers payouts")
            return
        for account in sorted(set(leaves) | set(reported)):
            want_amount, got_amount = leaves.get(account, 0), reported.get(account, 0)
            if want_amount != got_amount:
                self.find(
                    CHECK_REPORT,
                    f"the report pays {account} {got_amount} but the published tree pays "
                    f"{want_amount}",
                )
        if payout.get("accounts") != len(leaves):
            self.find(
                CHECK_REPORT,
                f"the report counts {payout.get('accounts')} paid accounts, the tree has "
                f"{len(leaves)}",
            )

    # -- tree

    def _tree(self, body: bytes | None) -> StandardMerkleTree | None:
        if body is None:
            self.find(CHECK_PUBLISHED, f"no published tree for the {self.posted.kind} payout")
            return None
        try:
            tree = StandardMerkleTree.load(json.loads(body))
        except ValueError as exc:  # MerkleError and JSONDecodeError are both ValueErrors
            self.find(CHECK_TREE, f"the published tree is invalid: {exc}")
            return None
        if tree.leaf_encoding != list(PAYOUT_ENCODING):
            self.find(CHECK_TREE, f"leaf encoding {tree.leaf_encoding}, not {PAYOUT_ENCODING}")
            return None
        if tree.root != self.posted.root:
            self.find(
                CHECK_ROOT,
                f"posted root {self.posted.root} but the published tree's root is {tree.root}",
            )
        total = sum(int(value[1]) for _, value in tree.entries())
        if total != self.posted.total:
            self.find(
                CHECK_TOTAL,
                f"posted total {self.posted.total} but the published tree pays {total}",
            )
        leaves_per_account = Counter(to_checksum_address(value[0]) for _, value in tree.entries())
        for account in sorted(a for a, n in leaves_per_account.items() if n > 1):
            self.find(CHECK_TREE, f"the published tree has more than one leaf for {account}")
        return tree

    def _claims(self, tree: StandardMerkleTree | None, computed: Any) -> None:
        """Every claim is a leaf of the published tree (or, without a valid one, of the
        recomputed tree): claims validated on chain against a root nobody published show here."""
        claims = self.events.claims.get(self.tid, [])
        if not claims:
            return
        if tree is not None:
            against, what = tree, "the published tree"
        elif computed is not None:
            against = StandardMerkleTree.load(json.loads(computed.tree_json))
            what = "the recomputed tree"
        else:
            return
        leaves = _tree_payouts(against)
        for account, amount in claims:
            if leaves.get(account) != amount:
                owed = leaves.get(account)
                detail = "no leaf for it" if owed is None else f"a leaf of {owed} for it"
                self.find(CHECK_CLAIMS, f"{account} claimed {amount} but {what} has {detail}")

    # -- inputs: spec, gold, reveals

    def _inputs(self, body: bytes | None) -> dict[str, Any] | None:
        if body is None:
            self.find(CHECK_PUBLISHED, f"no published reveals for the {self.posted.kind} payout")
            return None
        try:
            doc = json.loads(body)
        except ValueError as exc:
            self.find(CHECK_PUBLISHED, f"the published reveals are not valid JSON: {exc}")
            return None
        if not isinstance(doc, dict):
            self.find(CHECK_PUBLISHED, "the published reveals are not a JSON object")
            return None
        meta = doc.get("report_hash")
        if meta is not None and meta != self.posted.report_hash:
            self.find(
                CHECK_PUBLISHED,
                f"the published reveals belong to report {meta}, not the posted reportHash "
                f"{self.posted.report_hash}",
            )
        excluded = doc.get("excluded")
        if isinstance(excluded, list):
            self.summary.excluded = [str(x) for x in excluded]
        return doc

    def _spec(self, inputs: dict[str, Any] | None) -> TaskSpec | None:
        if inputs is None:
            return None
        try:
            spec = TaskSpec.from_dict(inputs.get("spec"))
        except SpecError as exc:
            self.find(CHECK_SPEC, f"the published spec is invalid: {exc}")
            return None
        digest = "0x" + spec_hash(spec).hex()
        if digest != self.st.spec_hash:
            self.find(
                CHECK_SPEC,
                f"the published spec hashes to {digest} but the task's specHash is "
                f"{self.st.spec_hash}",
            )
        self.summary.min_quality = spec.scoring.min_quality
        return spec

    def _gold(self, inputs: dict[str, Any] | None, spec: TaskSpec | None) -> list[Any] | None:
        """The published gold rows ([[item, label], ...]) when they open the commitment."""
        if inputs is None:
            return None
        commitment = self.st.gold_commitment
        gold = inputs.get("gold")
        if int(commitment, 16) == 0:
            if gold is not None:
                self.find(CHECK_GOLD, "a gold set is published but the task commits to none")
            return None
        if not isinstance(gold, dict):
            self.find(CHECK_GOLD, f"the task commits to gold set {commitment}; none is published")
            return None
        rows, salt_hex = gold.get("gold"), gold.get("salt")
        if not (
            isinstance(rows, list)
            and all(isinstance(r, list) and len(r) == 2 for r in rows)
            and isinstance(salt_hex, str)
        ):
            self.find(CHECK_GOLD, "the published gold set is not {gold: [[item, label]], salt}")
            return None
        try:
            labels = {str(item): str(label) for item, label in rows}
            salt = bytes.fromhex(salt_hex.removeprefix("0x"))
            opened = "0x" + gold_commitment(labels, salt).hex()
        except (ValueError, SpecError) as exc:
            self.find(CHECK_GOLD, f"the published gold set cannot be hashed: {exc}")
            return None
        if len(labels) != len(rows):
            self.find(CHECK_GOLD, "the published gold set lists an item twice")
        if not verify_gold(labels, salt, commitment):
            self.find(
                CHECK_GOLD,
                f"the published gold set and salt hash to {opened} but the task's gold "
                f"commitment is {commitment}",
            )
        if spec is not None:
            try:
                spec.check_labels(labels, "gold")
            except SpecError as exc:
                self.find(CHECK_GOLD, str(exc))
        return rows

    def _reveals(self, inputs: dict[str, Any] | None, spec: TaskSpec | None) -> list[RevealRow]:
        """Each reveal checked against its annotator's latest attestation, as store rows for
        compute_payout (the rows are built from the published documents as they are, so a
        tampered reveal is scored as published and the recompute shows its effect too)."""
        if inputs is None:
            return []
        docs = inputs.get("reveals")
        if not isinstance(docs, list):
            self.find(CHECK_REVEAL, "the published reveals have no list of reveals")
            return []
        rows: list[RevealRow] = []
        seen: set[str] = set()
        for n, doc in enumerate(docs):
            row = self._reveal(n, doc, spec, seen)
            if row is not None:
                rows.append(row)
        return rows

    def _reveal(self, n: int, doc: Any, spec: TaskSpec | None, seen: set[str]) -> RevealRow | None:
        if not isinstance(doc, dict) or not is_address(doc.get("annotator", "")):
            self.find(CHECK_REVEAL, f"reveal #{n} is not a reveal document with an annotator")
            return None
        annotator = to_checksum_address(doc["annotator"])
        who = f"reveal of {annotator}"
        if annotator in seen:
            self.find(CHECK_REVEAL, f"{annotator} has more than one published reveal")
        seen.add(annotator)
        expected = {
            "format": REVEAL_FORMAT,
            "chain_id": self.audit.chain_id,
            "escrow": self.audit.escrow_address,
            "task_id": self.tid,
        }
        for key, want in expected.items():
            if doc.get(key) != want:
                self.find(CHECK_REVEAL, f"{who}: {key} is {doc.get(key)!r}, expected {want!r}")
        try:
            entries = doc.get("labels")
            if not isinstance(entries, list):
                raise RevealError("labels must be a list")
            labels = parse_labels(
                [(str(x["item"]), str(x["label"]), str(x["salt"])) for x in entries]
            )
        except (RevealError, KeyError, TypeError) as exc:
            self.find(CHECK_REVEAL, f"{who}: malformed labels: {exc}")
            return None
        if spec is not None:
            try:
                spec.check_labels({x.item: x.label for x in labels}, who)
            except SpecError as exc:
                self.find(CHECK_REVEAL, str(exc))
        root = (
            "0x"
            + reveal_root(
                self.audit.chain_id, self.audit.escrow_address, self.tid, annotator, labels
            ).hex()
        )
        att = self.events.attestations.get((self.tid, annotator))
        if att is None:
            self.find(CHECK_REVEAL, f"{who}: no Attested event for this annotator and task")
        else:
            if root != att.root:
                self.find(
                    CHECK_REVEAL,
                    f"{who}: the revealed labels and salts give root {root} but the latest "
                    f"attestation (version {att.version}) commits to {att.root}",
                )
            if len(labels) != att.item_count:
                self.find(
                    CHECK_REVEAL,
                    f"{who}: {len(labels)} labels revealed but the latest attestation "
                    f"commits to {att.item_count} items",
                )
            if doc.get("version") != att.version:
                self.find(
                    CHECK_REVEAL,
                    f"{who}: version {doc.get('version')!r} but the latest attestation is "
                    f"version {att.version}",
                )
        if doc.get("root") != root or doc.get("item_count") != len(labels):
            self.find(
                CHECK_REVEAL,
                f"{who}: the document says root {doc.get('root')} over {doc.get('item_count')} "
                f"items, its labels give {root} over {len(labels)}",
            )
        doc_bytes = canonical_json(doc)
        return RevealRow(
            task_id=self.tid,
            annotator=annotator,
            version=int(doc.get("version") or 0),
            root=root,
            item_count=len(labels),
            reveal_json=doc_bytes.decode("utf-8"),
            receipt=receipt_of(doc_bytes),
            stored_at=0.0,
        )

    # -- recompute

    def _recompute(
        self,
        inputs: dict[str, Any] | None,
        spec: TaskSpec | None,
        gold_rows: list[Any] | None,
        reveals: list[RevealRow],
        report_doc: dict[str, Any] | None,
    ) -> Any:
        """compute_payout, the scheduler's own function, over the published inputs."""
        if inputs is None:
            return None
        if spec is None:
            self.find(CHECK_RECOMPUTE, "cannot recompute the payout without a valid spec")
            return None
        has_gold = int(self.st.gold_commitment, 16) != 0
        if has_gold and gold_rows is None:
            self.find(CHECK_RECOMPUTE, "cannot recompute the payout without the gold set")
            return None
        st = self.st
        task = TaskRow(
            task_id=self.tid,
            requester=st.requester,
            token=st.token,
            budget=st.budget,
            spec_hash=st.spec_hash,
            gold_commitment=st.gold_commitment,
            annotation_deadline=0,  # not read by compute_payout
            reveal_deadline=0,
            challenge_period=0,
            claim_period=0,
            oracle_timeout=0,
        )
        gold = None
        if gold_rows is not None:
            gold_hex = inputs["gold"]["salt"]
            gold = GoldRow(self.tid, canonical_json(gold_rows).decode("utf-8"), gold_hex, 0.0)
        excluded = inputs.get("excluded") or []
        try:
            computed = compute_payout(
                chain_id=self.audit.chain_id,
                escrow=self.audit.escrow_address,
                task=task,
                spec=spec,
                reveals=reveals,
                excluded=[str(x) for x in excluded],
                gold=gold,
            )
        except NothingToPay as exc:
            self.find(CHECK_RECOMPUTE, f"the published inputs pay nobody ({exc})")
            return None
        except (ValueError, MerkleError) as exc:
            self.find(CHECK_RECOMPUTE, f"scoring the published inputs failed: {exc}")
            return None
        posted = self.posted
        wrong = []
        if computed.report_hash != posted.report_hash:
            wrong.append(f"report hash {computed.report_hash} (posted {posted.report_hash})")
        if computed.root != posted.root:
            wrong.append(f"root {computed.root} (posted {posted.root})")
        if computed.total != posted.total:
            wrong.append(f"total {computed.total} (posted {posted.total})")
        if wrong:
            hint = ""
            if report_doc is not None:
                diffs = _diff(report_doc, json.loads(computed.report))
                if diffs:
                    hint = "; the published report differs at " + ", ".join(diffs)
            self.find(
                CHECK_RECOMPUTE,
                "scoring the published reveals and gold set gives " + ", ".join(wrong) + hint,
            )
        elif report_doc is not None and not self.report_matches:
            # The recompute agrees with the chain, so the published report is what changed.
            diffs = _diff(report_doc, json.loads(computed.report))
            if diffs:
                self.find(
                    CHECK_REPORT,
                    "the published report differs from the recomputed one at " + ", ".join(diffs),
                )
        return computed

    # -- rows for the summary and the plots

    def _rows(self, report_doc: dict[str, Any] | None, computed: Any) -> None:
        doc: Any = None
        if computed is not None:
            doc, source = json.loads(computed.report), "recomputed"
        elif report_doc is not None:
            doc, source = report_doc, "published report"
        scoring = doc.get("scoring") if isinstance(doc, dict) else None
        workers = scoring.get("workers") if isinstance(scoring, dict) else None
        if not isinstance(workers, dict):
            return
        claimed: dict[str, int] = {}
        for account, amount in self.summary.claims:
            claimed[account] = claimed.get(account, 0) + amount
        rows = []
        for worker, w in sorted(workers.items()):
            if not isinstance(w, dict):
                continue
            account = to_checksum_address(worker) if is_address(worker) else worker
            rows.append(
                PayoutRow(
                    account=account,
                    labels=_int(w.get("labels")),
                    quality=_float(w.get("quality")),
                    payout=_int(w.get("payout")),
                    claimed=claimed.get(account, 0),
                )
            )
        self.summary.rows = rows
        self.summary.rows_source = source
        params = scoring.get("parameters") if isinstance(scoring, dict) else None
        if isinstance(params, dict) and isinstance(params.get("min_quality"), int | float):
            self.summary.min_quality = float(params["min_quality"])


def _obj(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else (a malformed field then mismatches)."""
    return value if isinstance(value, dict) else {}


def _tree_payouts(tree: StandardMerkleTree) -> dict[str, int]:
    return {to_checksum_address(value[0]): int(value[1]) for _, value in tree.entries()}


def _report_payouts(doc: dict[str, Any]) -> dict[str, int] | None:
    """Positive payouts of a report's scoring.workers (the tree holds only positive ones)."""
    scoring = doc.get("scoring")
    workers = scoring.get("workers") if isinstance(scoring, dict) else None
    if not isinstance(workers, dict):
        return None
    out: dict[str, int] = {}
    for worker, w in workers.items():
        amount = _int(w.get("payout")) if isinstance(w, dict) else 0
        if amount > 0:
            out[to_checksum_address(worker) if is_address(worker) else worker] = amount
    return out


def _diff(a: Any, b: Any, path: str = "", limit: int = 3) -> list[str]:
    """Up to `limit` paths where two JSON values differ, with both values (short)."""
    out: list[str] = []

    def walk(x: Any, y: Any, where: str) -> None:
        if len(out) >= limit:
            return
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y)):
                walk(x.get(key), y.get(key), f"{where}.{key}" if where else str(key))
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (xi, yi) in enumerate(zip(x, y, strict=True)):
                walk(xi, yi, f"{where}[{i}]")
        elif x != y:
            out.append(f"{where or '<root>'} (published {_short(x)}, recomputed {_short(y)})")

    walk(a, b, path)
    return out


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | str) and str(value).lstrip("-").isdigit() else 0


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def _provider_url(w3: Web3) -> str:
    return str(getattr(w3.provider, "endpoint_uri", None) or w3.provider)


# --------------------------------------------------------------------------------------------
# HTML report
# --------------------------------------------------------------------------------------------


def _units(amount: int, decimals: int) -> float:
    return amount / 10**decimals


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float, height: float) -> Any:
    # The object-oriented API with the Agg canvas: no pyplot global state, no display needed,
    # safe to call from any thread of a server.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


MAX_PANELS = 12


def plot_payout_vs_quality(result: AuditResult) -> str:
    """One panel per scored task: each annotator's payout against its quality (base64 PNG)."""
    scored = [t for t in result.tasks if t.rows][:MAX_PANELS]
    cols = max(1, min(3, len(scored)))
    nrows = max(1, math.ceil(len(scored) / cols))
    fig = _figure(4.2 * cols, 3.4 * nrows)
    if not scored:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no scored task", ha="center", va="center")
        ax.set_axis_off()
        return _png(fig)
    for i, t in enumerate(scored):
        ax = fig.add_subplot(nrows, cols, i + 1)
        q = [r.quality for r in t.rows]
        pay = [_units(r.payout, t.decimals) for r in t.rows]
        colors = ["#2e7d32" if r.claimed else "#1f77b4" if r.payout else "#9e9e9e" for r in t.rows]
        ax.scatter(q, pay, c=colors, s=30, alpha=0.8, edgecolors="black", linewidths=0.4)
        if t.min_quality is not None:
            ax.axvline(t.min_quality, color="#c62828", linestyle="--", linewidth=1)
        ax.set_title(f"task {t.task_id} ({t.rows_source})", fontsize=9)
        ax.set_xlabel("quality", fontsize=8)
        ax.set_ylabel(f"payout ({t.symbol})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle("Payout against quality (green: claimed, red line: minimum quality)", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def plot_payout_distribution(result: AuditResult) -> str:
    """Histogram of the positive payouts, stacked by task (base64 PNG)."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(7, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    series = [
        (t, [_units(r.payout, t.decimals) for r in t.rows if r.payout > 0]) for t in result.tasks
    ]
    series = [(t, v) for t, v in series if v]
    if not series:
        ax.text(0.5, 0.5, "no payouts", ha="center", va="center")
        ax.set_axis_off()
        return _png(fig)
    values = [v for _, v in series]
    labels = [f"task {t.task_id}" for t, _ in series]
    ax.hist(
        values,
        bins=min(30, max(5, sum(len(v) for v in values) // 2)),
        stacked=True,
        label=labels,
        edgecolor="white",
    )
    ax.set_xlabel("payout (token units)")
    ax.set_ylabel("annotators")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of annotators
    ax.set_title("Distribution of payouts")
    if len(series) <= 10:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def plot_money_flow(result: AuditResult) -> str:
    """Per task: paid (claimed), refunded and held as shares of the funded budget, with the
    budget written above each bar (base64 PNG). Shares, not amounts, because tasks may be
    paid in different tokens whose units do not add up on one axis."""
    tasks = result.tasks
    fig = _figure(max(6.0, 0.7 * len(tasks) + 2.5), 4.0)
    ax = fig.add_subplot(1, 1, 1)
    if not tasks:
        ax.text(0.5, 0.5, "no tasks", ha="center", va="center")
        ax.set_axis_off()
        return _png(fig)
    x = list(range(len(tasks)))

    def share(amount: int, t: TaskSummary) -> float:
        return 100.0 * amount / t.funded if t.funded else 0.0

    paid = [share(t.claimed, t) for t in tasks]
    refunded = [share(t.refunded, t) for t in tasks]
    held = [share(t.held, t) for t in tasks]
    width = 0.6
    ax.bar(x, paid, width, color="#2e7d32", label="paid (claimed)")
    ax.bar(x, refunded, width, bottom=paid, color="#f9a825", label="refunded")
    below = [p + r for p, r in zip(paid, refunded, strict=True)]
    ax.bar(x, held, width, bottom=below, color="#1565c0", label="held")
    for i, t in enumerate(tasks):
        funded = f"{_units(t.funded, t.decimals):,.6g} {t.symbol}"
        ax.text(i, 101.5, funded, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [f"{t.task_id}\n{t.status}" for t in tasks], fontsize=7)
    ax.set_xlim(-0.7, len(tasks) - 0.3)
    ax.set_ylim(0, 125)  # headroom for the budget labels and the legend
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.set_xlabel("task")
    ax.set_ylabel("% of funded")
    ax.set_title("Money flow per task: funded = paid + refunded + held")
    ax.legend(fontsize=7, ncol=3, loc="upper center")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _png(fig)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:1.6em}
.ok{background:#e8f5e9;border:1px solid #2e7d32;color:#1b5e20;padding:.8em;border-radius:4px}
.bad{background:#ffebee;border:1px solid #c62828;color:#b71c1c;padding:.8em;border-radius:4px}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f5f5f5} td.l,th.l{text-align:left}
code{font-size:.9em} img{max-width:100%;border:1px solid #eee}
"""


def render_html(result: AuditResult) -> str:
    """A self-contained page: findings, per-task money and payouts, three embedded plots."""
    e = html.escape
    plots = [
        ("plot-payout-quality", "Payout against quality", plot_payout_vs_quality(result)),
        ("plot-payout-distribution", "Distribution of payouts", plot_payout_distribution(result)),
        ("plot-money-flow", "Money flow per task", plot_money_flow(result)),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>labelproof audit: escrow {e(result.escrow)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>labelproof audit</h1>",
        f"<p>Chain {result.chain_id}, escrow <code>{e(result.escrow)}</code>, events from block "
        f"{result.from_block}, state at block {result.block}. Published data: "
        f"{e(result.source or 'not checked')}.</p>",
        '<h2 id="findings">Findings</h2>',
    ]
    if result.ok:
        parts.append(
            f'<div class="ok">All checks hold for {len(result.tasks)} task(s): '
            f"{e(', '.join(CHECKS))}.</div>"
        )
    else:
        parts.append(f'<div class="bad">{len(result.findings)} finding(s):<ul>')
        parts.extend(f"<li><code>{e(f.line())}</code></li>" for f in result.findings)
        parts.append("</ul></div>")
    parts.append("<h2>Tasks</h2><table><tr>")
    heads = [
        "task",
        "status",
        "token",
        "funded",
        "paid",
        "refunded",
        "held",
        "posted",
        "paid annotators",
        "published",
        "checks",
    ]
    text_columns = {"status", "token", "posted", "published", "checks"}
    parts.extend(f'<th class="{"l" if h in text_columns else ""}">{e(h)}</th>' for h in heads)
    parts.append("</tr>")
    for t in result.tasks:
        bad = sorted({f.check for f in result.findings_for(t.task_id)})
        posted = "-" if t.posted is None else f"{t.posted.kind} {t.posted.root[:10]}…"
        cells = [
            str(t.task_id),
            t.status,
            t.symbol,
            _fmt(t.funded, t.decimals),
            _fmt(t.claimed, t.decimals),
            _fmt(t.refunded, t.decimals),
            _fmt(t.held, t.decimals),
            posted,
            str(t.paid_annotators),
            t.published,
            "ok" if not bad else "failed: " + ", ".join(bad),
        ]
        parts.append("<tr>")
        for h, c in zip(heads, cells, strict=True):
            cls = "l" if h in text_columns else ""
            parts.append(f'<td class="{cls}">{e(c)}</td>')
        parts.append("</tr>")
    parts.append("</table>")
    if result.tokens:
        parts.append("<h2>Escrow balance per token</h2><table><tr>")
        parts.append('<th class="l">token</th><th>balance</th><th>owed</th><th>tasks</th></tr>')
        for tok in result.tokens:
            parts.append(
                f'<tr><td class="l"><code>{e(tok.token)}</code> {e(tok.symbol)}</td>'
                f"<td>{e(_fmt(tok.balance, tok.decimals))}</td>"
                f"<td>{e(_fmt(tok.owed, tok.decimals))}</td><td>{tok.tasks}</td></tr>"
            )
        parts.append("</table>")
    parts.append("<h2>Plots</h2>")
    for pid, title, png in plots:
        parts.append(
            f'<figure id="{pid}"><img alt="{e(title)}" src="data:image/png;base64,{png}">'
            f"<figcaption>{e(title)}</figcaption></figure>"
        )
    for t in result.tasks:
        if not t.rows:
            continue
        parts.append(
            f"<h2>Task {t.task_id}: quality and payout ({e(t.rows_source or '')})</h2><table>"
            '<tr><th class="l">annotator</th><th>labels</th><th>quality</th>'
            f"<th>payout ({e(t.symbol)})</th><th>claimed</th></tr>"
        )
        for r in t.rows:
            parts.append(
                f'<tr><td class="l"><code>{e(r.account)}</code></td><td>{r.labels}</td>'
                f"<td>{r.quality:.4f}</td><td>{e(_fmt(r.payout, t.decimals))}</td>"
                f"<td>{e(_fmt(r.claimed, t.decimals))}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _fmt(amount: int, decimals: int) -> str:
    return f"{_units(amount, decimals):,.4f}"


def write_html(result: AuditResult, path: Path | str) -> Path:
    """Write :func:`render_html` to `path` and return it."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(result), encoding="utf-8")
    return out


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (exit 2 from main), not usage text."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m labelproof.audit",
        description="Audit a labelproof deployment: events, funds, the oracle's published "
        "report, tree and reveals, and the payout recomputed from them.",
    )
    p.add_argument(
        "--rpc-url",
        default=os.environ.get("LABELPROOF_RPC_URL", "http://127.0.0.1:8545"),
        help="JSON-RPC endpoint of the chain (env LABELPROOF_RPC_URL, default the local node)",
    )
    p.add_argument(
        "--deployment",
        type=Path,
        help="deployment record (default <deployments>/<chainId>.json, env LABELPROOF_DEPLOYMENTS)",
    )
    p.add_argument("--task", type=int, action="append", help="audit only this task id (repeatable)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--oracle", help="the oracle's base URL (http://host:port)")
    src.add_argument(
        "--files", type=Path, help="directory of published data: <id>/{report,tree,reveals}.json"
    )
    p.add_argument(
        "--export", type=Path, help="with --oracle: also save the fetched data into this directory"
    )
    p.add_argument("--html", type=Path, help="write the HTML report here")
    p.add_argument("--json", type=Path, help="write the result as JSON here")
    p.add_argument("--chunk-size", type=int, default=2_000, help="blocks per eth_getLogs")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per RPC/HTTP request")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0: every check holds; 1: one line per finding; 2: bad usage or unreadable input."""
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0) if isinstance(exc.code, int | None) else 2
    if args.export is not None and args.oracle is None:
        print("error: --export needs --oracle", file=sys.stderr)
        return 2
    if args.chunk_size < 1:
        print("error: --chunk-size must be at least 1", file=sys.stderr)
        return 2
    try:
        result = run_audit(
            args.rpc_url,
            load_deployment_file(args.deployment or _default_deployment(args.rpc_url)),
            task_ids=args.task,
            oracle_url=args.oracle,
            files=args.files,
            export_to=args.export,
            chunk_size=args.chunk_size,
            timeout=args.timeout,
        )
    except AuditInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(result.to_json())
        if args.html is not None:
            write_html(result, args.html)
    except OSError as exc:
        print(f"error: cannot write the audit output: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:  # matplotlib is only needed for --html
        print(f"error: --html needs matplotlib: {exc}", file=sys.stderr)
        return 2
    for finding in result.findings:
        print(finding.line())
    if result.ok:
        claims = sum(len(t.claims) for t in result.tasks)
        print(f"ok: {len(result.tasks)} task(s), {claims} claim(s) checked at block {result.block}")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
