"""The chain side of the audit: every event it needs, read once with chunked eth_getLogs and
decoded by topic, and the stored task as the escrow holds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3Exception
from web3.types import LogReceipt

from labelproof.audit.model import REFUND_KINDS, VERDICTS, AuditInputError, label
from labelproof.chain import ChainError, contract_at
from labelproof.logs import LogReader, LogReadError
from labelproof.oracle.onchain import OracleChain
from labelproof.settlement import ZERO_ADDRESS, task_dict

# Events the audit reads; every other event of the three contracts is skipped by topic.
EVENTS = (
    ("escrow", "TaskCreated"),
    ("escrow", "TaskCancelled"),
    ("escrow", "TaskClosedEarly"),
    ("escrow", "PayoutFinalized"),
    ("escrow", "Claimed"),
    ("escrow", "Refunded"),
    ("registry", "Attested"),
    ("committee", "Proposed"),
    ("committee", "ProposalPending"),
    ("committee", "RoundRestarted"),
    ("committee", "Vetoed"),
    ("committee", "Disputed"),
    ("committee", "DisputeResolved"),
    ("committee", "BondSettled"),
    ("committee", "Finalized"),
    ("committee", "StakeFunded"),
    ("committee", "StakeWithdrawn"),
)

# Burned bonds go to this address (OracleCommittee.BURN).
BURN_ADDRESS = "0x000000000000000000000000000000000000dEaD"

# A chain read can fail in any of these ways (node down, bad address, RPC error); the audit
# turns them into one line and exit code 2 rather than a traceback.
CHAIN_ERRORS = (ChainError, Web3Exception, requests.exceptions.RequestException, OSError)


def hex32(value: Any) -> str:
    return "0x" + bytes(value).hex()


def first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


@dataclass(frozen=True)
class Attestation:
    root: str
    item_count: int
    version: int


@dataclass
class ChainEvents:
    """The decoded events, per task id. Committee entries carry ``pos`` (block, log index) and
    ``tx`` (the transaction hash), to order them and to tell which events one call emitted."""

    created: dict[int, dict[str, Any]] = field(default_factory=dict)
    cancelled: set[int] = field(default_factory=set)
    closed_early: dict[int, dict[str, Any]] = field(default_factory=dict)
    payout_finalized: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    claims: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    refunds: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    refund_txs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    # latest Attested event per (task, annotator): the commitment a reveal must match
    attestations: dict[tuple[int, str], Attestation] = field(default_factory=dict)
    proposed: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    pending: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    restarted: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    vetoed: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    disputed: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    resolved: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    bond_settled: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    finalized: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    stake_funded: dict[str, int] = field(default_factory=dict)
    stake_withdrawn: dict[str, int] = field(default_factory=dict)


def get_logs_chunked(
    w3: Web3, addresses: list[str], from_block: int, to_block: int, chunk_size: int = 2_000
) -> list[LogReceipt]:
    """Every log of `addresses` in [from_block, to_block], at most `chunk_size` blocks per
    request, through the adaptive reader (labelproof.logs): a provider that refuses a range
    gets it halved, down to single blocks, and transient errors are retried."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    try:
        return LogReader(w3, chunk_size=chunk_size).get_logs(addresses, from_block, to_block)
    except LogReadError as exc:
        raise AuditInputError(str(exc)) from None
    except CHAIN_ERRORS as exc:
        raise AuditInputError(f"eth_getLogs failed: {first_line(exc)}") from None


def read_events(
    chain: OracleChain, from_block: int, to_block: int, chunk_size: int = 2_000
) -> ChainEvents:
    """Decode the escrow's, registry's and committee's events between the two blocks."""
    topics: dict[bytes, tuple[str, Any]] = {}
    addresses: list[str] = []
    for contract_name, event_name in EVENTS:
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
        where = {
            "pos": (int(entry["blockNumber"]), int(entry["logIndex"])),
            "tx": hex32(entry["transactionHash"]),
        }
        if name in ("StakeFunded", "StakeWithdrawn"):
            book = events.stake_funded if name == "StakeFunded" else events.stake_withdrawn
            token = to_checksum_address(args["token"])
            book[token] = book.get(token, 0) + int(args["amount"])
            continue
        _task_event(events, name, int(args["taskId"]), args, where)
    return events


def _task_event(events: ChainEvents, name: str, tid: int, args: Any, where: dict[str, Any]) -> None:
    if name == "TaskCreated":
        events.created[tid] = {
            "requester": to_checksum_address(args["requester"]),
            "token": to_checksum_address(args["token"]),
            "budget": int(args["budget"]),
        }
    elif name == "TaskCancelled":
        events.cancelled.add(tid)
    elif name == "TaskClosedEarly":
        events.closed_early[tid] = {
            "annotation_deadline": int(args["annotationDeadline"]),
            "reveal_deadline": int(args["revealDeadline"]),
        }
    elif name == "PayoutFinalized":
        events.payout_finalized.setdefault(tid, []).append(payout_args(args))
    elif name == "Claimed":
        claim = (to_checksum_address(args["account"]), int(args["amount"]))
        events.claims.setdefault(tid, []).append(claim)
    elif name == "Refunded":
        kind = label(REFUND_KINDS, int(args["kind"]))
        events.refunds.setdefault(tid, []).append((kind, int(args["amount"])))
        events.refund_txs.setdefault(tid, []).append(
            where | {"kind": kind, "amount": int(args["amount"])}
        )
    elif name == "Attested":
        key = (tid, to_checksum_address(args["annotator"]))
        att = Attestation(hex32(args["root"]), int(args["itemCount"]), int(args["version"]))
        old = events.attestations.get(key)
        if old is None or att.version > old.version:
            events.attestations[key] = att
    elif name == "Proposed":
        vote = payout_args(args) | where
        vote |= {
            "oracle": to_checksum_address(args["oracle"]),
            "round": int(args["round"]),
            "inputs_hash": hex32(args["inputsHash"]),
        }
        events.proposed.setdefault(tid, []).append(vote)
    elif name == "ProposalPending":
        proposer = to_checksum_address(args["proposer"])
        pend = payout_args(args) | where
        pend |= {
            "round": int(args["round"]),
            "inputs_hash": hex32(args["inputsHash"]),
            "challenge_ends": int(args["challengeEnds"]),
            "proposer": None if proposer == ZERO_ADDRESS else proposer,
            "bond": int(args["bond"]),
        }
        events.pending.setdefault(tid, []).append(pend)
    elif name == "RoundRestarted":
        events.restarted.setdefault(tid, []).append(where | {"round": int(args["round"])})
    elif name == "Vetoed":
        events.vetoed.setdefault(tid, []).append(
            where
            | {
                "round": int(args["round"]),  # the new round
                "guardian": to_checksum_address(args["guardian"]),
                "reason": str(args["reason"]),
            }
        )
    elif name == "Disputed":
        events.disputed.setdefault(tid, []).append(
            where
            | {
                "round": int(args["round"]),
                "disputer": to_checksum_address(args["disputer"]),
                "dispute_id": int(args["disputeId"]),
                "bond": int(args["bond"]),
            }
        )
    elif name == "DisputeResolved":
        events.resolved.setdefault(tid, []).append(
            where
            | {
                "dispute_id": int(args["disputeId"]),
                "verdict": int(args["verdict"]),
                "verdict_name": label(VERDICTS, int(args["verdict"])),
            }
        )
    elif name == "BondSettled":
        events.bond_settled.setdefault(tid, []).append(
            where
            | {
                "token": to_checksum_address(args["token"]),
                "to": to_checksum_address(args["to"]),
                "amount": int(args["amount"]),
            }
        )
    else:  # committee Finalized
        events.finalized.setdefault(tid, []).append(payout_args(args) | where)


def payout_args(args: Any) -> dict[str, Any]:
    return {
        "root": hex32(args["root"]),
        "total": int(args["total"]),
        "report_hash": hex32(args["reportHash"]),
    }


@dataclass(frozen=True)
class StoredTask:
    """TaskEscrow.task(id) at the audited block (labelproof.settlement.TASK_FIELDS)."""

    payout_root: str
    claimed: int
    payout_total: int
    token: str
    status: int
    rules_id: int
    budget: int
    requester: str
    refunded: int
    spec_hash: str
    gold_commitment: str
    report_hash: str

    @classmethod
    def read(cls, escrow: Contract, task_id: int, block: int) -> StoredTask:
        t = task_dict(escrow.functions.task(task_id).call(block_identifier=block))
        return cls(
            payout_root=hex32(t["payoutRoot"]),
            claimed=int(t["claimed"]),
            payout_total=int(t["payoutTotal"]),
            token=to_checksum_address(t["token"]),
            status=int(t["status"]),
            rules_id=int(t["rulesId"]),
            budget=int(t["budget"]),
            requester=to_checksum_address(t["requester"]),
            refunded=int(t["refunded"]),
            spec_hash=hex32(t["specHash"]),
            gold_commitment=hex32(t["goldCommitment"]),
            report_hash=hex32(t["reportHash"]),
        )

    @property
    def held(self) -> int:
        """What the escrow still owes for the task: everything neither claimed nor refunded."""
        return self.budget - self.claimed - self.refunded


@dataclass(frozen=True)
class TokenInfo:
    symbol: str
    decimals: int


def token_info(w3: Web3, token: str, block: int) -> TokenInfo:
    """Symbol and decimals for display; both are optional in ERC-20, so failures fall back."""
    contract = contract_at(w3, "IERC20Metadata", token)
    try:
        symbol = str(contract.functions.symbol().call(block_identifier=block))
    except CHAIN_ERRORS:
        symbol = token[:10]
    try:
        decimals = int(contract.functions.decimals().call(block_identifier=block))
    except CHAIN_ERRORS:
        decimals = 18
    return TokenInfo(symbol, decimals)
