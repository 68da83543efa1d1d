"""The oracle's view of the three contracts: typed reads, nothing that sends.

Struct layouts come from labelproof.settlement (``task_dict``, ``rules_dict``, ``Proposal``), so
nothing here indexes a tuple by a bare number. Oracle membership is per rule set: an oracle may
vote on a task only if it is one of ``rules(task.rulesId).oracles`` and not revoked there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.types import BlockIdentifier

from labelproof.chain import ChainError, contract_at
from labelproof.deploy import Deployment
from labelproof.oracle.store import TaskRow
from labelproof.settlement import Proposal, Status, rules_dict, task_dict

STATUS_NONE = int(Status.NONE)
STATUS_FUNDED = int(Status.FUNDED)
STATUS_CANCELLED = int(Status.CANCELLED)
STATUS_FINAL = int(Status.FINAL)
STATUS_EXPIRED = int(Status.EXPIRED)


def hex32(value: bytes) -> str:
    return "0x" + bytes(value).hex()


class RpcError(ConnectionError):
    """The node answered a read with a JSON-RPC error or an unreadable result: RPC trouble,
    not a revert (the reads below never revert)."""


def attestation_digest(root: bytes, item_count: int) -> bytes:
    """AttestationRegistry._digest: bytes28(keccak256(abi.encode(root, uint256(itemCount))))."""
    return bytes(keccak(root + item_count.to_bytes(32, "big")))[:28]


_ATTESTATION_SELECTOR = bytes(keccak(text="attestation(uint256,address)"))[:4]
_ATTESTED_TOPIC = "0x" + bytes(keccak(text="Attested(uint256,address,bytes32,uint32,uint32)")).hex()
# Blocks per eth_getLogs of a task's attestations (halved on a node's refusal).
_LOG_SPAN = 50_000
# Payout windows read at one block, kept for the reveals that arrive at the same head.
_WINDOW_CACHE_SIZE = 1024


@dataclass(frozen=True)
class PayoutWindow:
    """TaskEscrow.payoutWindow(taskId): what the committee checks before a proposal."""

    status: int
    rules_id: int
    budget: int
    reveal_deadline: int
    challenge_period: int
    oracle_timeout: int

    @property
    def oracle_deadline(self) -> int:
        """The last second a *first* proposal may become pending (none after one has been)."""
        return self.reveal_deadline + self.oracle_timeout


@dataclass(frozen=True)
class RuleSet:
    """The parts of a committee rule set the oracle uses."""

    rules_id: int
    oracles: tuple[str, ...]
    threshold: int
    guardian: str
    committee_grace: int


class OracleChain:
    """Reads from the escrow, registry and committee of one deployment."""

    def __init__(self, w3: Web3, escrow: str, deployment: Deployment | None = None) -> None:
        self.w3 = w3
        self.chain_id = int(w3.eth.chain_id)
        self.escrow: Contract = contract_at(w3, "TaskEscrow", escrow)
        # The escrow names its registry and committee (immutables), so one address is enough
        # and a deployment file that disagrees with the chain is caught here.
        registry = to_checksum_address(self.escrow.functions.registry().call())
        committee = to_checksum_address(self.escrow.functions.committee().call())
        if deployment is not None:
            if deployment.chain_id != self.chain_id:
                raise ChainError(
                    f"deployment is for chain {deployment.chain_id}, the RPC serves "
                    f"chain {self.chain_id}"
                )
            if (deployment.registry, deployment.committee) != (registry, committee):
                raise ChainError(
                    "the deployment file's registry/committee differ from what the escrow "
                    f"names on chain ({registry}, {committee})"
                )
        self.registry: Contract = contract_at(w3, "AttestationRegistry", registry)
        self.committee: Contract = contract_at(w3, "OracleCommittee", committee)
        # Rule sets never change once published (only revocations, read separately).
        self._rules: dict[int, RuleSet] = {}
        self._windows: dict[tuple[int, int], PayoutWindow] = {}

    def head(self) -> tuple[int, int]:
        """(number, timestamp) of the latest block: the chain's clock."""
        block = self.w3.eth.get_block("latest")
        return int(block["number"]), int(block["timestamp"])

    def task(self, task_id: int, block: BlockIdentifier = "latest") -> TaskRow | None:
        """The task as the escrow stores it (deadlines included, as moved by an early close);
        None if it does not exist."""
        if task_id <= 0 or task_id >= 2**256:
            return None
        t = task_dict(self.escrow.functions.task(task_id).call(block_identifier=block))
        if int(t["status"]) == STATUS_NONE:
            return None
        return TaskRow(
            task_id=task_id,
            requester=to_checksum_address(t["requester"]),
            token=to_checksum_address(t["token"]),
            budget=int(t["budget"]),
            spec_hash=hex32(t["specHash"]),
            gold_commitment=hex32(t["goldCommitment"]),
            annotation_deadline=int(t["annotationDeadline"]),
            reveal_deadline=int(t["revealDeadline"]),
            challenge_period=int(t["challengePeriod"]),
            claim_period=int(t["claimPeriod"]),
            oracle_timeout=int(t["oracleTimeout"]),
            block=None,
            rules_id=int(t["rulesId"]),
        )

    def _rpc(self, method: str, params: list[Any]) -> Any:
        """One raw JSON-RPC call: no middleware, no result formatting (the reveal path)."""
        response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response or "result" not in response:
            raise RpcError(f"{method}: {response.get('error', response)}")
        return response["result"]

    def latest_head(self) -> tuple[int, int]:
        """head(), read raw: (number, timestamp) of the latest block."""
        block = self._rpc("eth_getBlockByNumber", ["latest", False])
        try:
            return int(block["number"], 16), int(block["timestamp"], 16)
        except (KeyError, TypeError, ValueError) as exc:
            raise RpcError(f"eth_getBlockByNumber: unreadable block {block!r:.200}") from exc

    def payout_window_at(self, task_id: int, block: int) -> PayoutWindow:
        """payout_window at a block number, cached: every reveal at one head shares it."""
        key = (task_id, block)
        found = self._windows.get(key)
        if found is None:
            found = self.payout_window(task_id, block)
            if len(self._windows) >= _WINDOW_CACHE_SIZE:
                self._windows.clear()
            self._windows[key] = found
        return found

    def cached_window(self, task_id: int, block: int) -> PayoutWindow | None:
        """payout_window_at's answer if it is cached (no RPC), else None."""
        return self._windows.get((task_id, block))

    def attested_version(
        self, task_id: int, annotator: str, root: bytes, count: int, block: int
    ) -> tuple[bool, int]:
        """(is_attested, attestation_version) of the annotator at `block`, from one eth_call
        of ``attestation(taskId, annotator)``: the digest and version it returns are one
        commitment, so the version is the one the root was checked against."""
        data = (
            _ATTESTATION_SELECTOR
            + task_id.to_bytes(32, "big")
            + bytes(12)
            + bytes.fromhex(annotator[2:])
        )
        call = {"to": self.registry.address, "data": "0x" + data.hex()}
        result = self._rpc("eth_call", [call, hex(block)])
        try:
            raw = bytes.fromhex(result[2:])
        except (TypeError, ValueError) as exc:
            raise RpcError(f"eth_call attestation: unreadable result {result!r:.200}") from exc
        if len(raw) != 64:
            raise RpcError(f"eth_call attestation: {len(raw)} bytes, expected 64")
        digest, version = raw[:28], int.from_bytes(raw[32:], "big")
        matched = version != 0 and 0 < count < 2**32 and digest == attestation_digest(root, count)
        return matched, version

    def current_attestations(
        self, task_id: int, from_block: int, to_block: int
    ) -> dict[str, tuple[str, int]]:
        """annotator (lower-case hex) -> (root, item count) of its current commitment at
        `to_block`: the latest-version Attested event of each annotator of the task, from raw
        logs (decoded by hand: tens of thousands of them for a large task)."""
        latest: dict[str, tuple[int, str, int]] = {}
        topics = [_ATTESTED_TOPIC, "0x" + task_id.to_bytes(32, "big").hex()]
        start, span = max(from_block, 0), _LOG_SPAN
        while start <= to_block:
            end = min(start + span - 1, to_block)
            params = {
                "address": self.registry.address,
                "topics": topics,
                "fromBlock": hex(start),
                "toBlock": hex(end),
            }
            try:
                logs = self._rpc("eth_getLogs", [params])
            except RpcError:
                if span == 1:
                    raise
                span = max(span // 2, 1)  # the node refused the range: ask for less
                continue
            for entry in logs:
                annotator = "0x" + entry["topics"][2][-40:].lower()
                data = bytes.fromhex(entry["data"][2:])
                root = "0x" + data[:32].hex()
                count = int.from_bytes(data[32:64], "big")
                version = int.from_bytes(data[64:96], "big")
                known = latest.get(annotator)
                if known is None or version > known[0]:
                    latest[annotator] = (version, root, count)
            start = end + 1
        return {a: (root, count) for a, (_, root, count) in latest.items()}

    def payout_window(self, task_id: int, block: BlockIdentifier = "latest") -> PayoutWindow:
        raw: Any = self.escrow.functions.payoutWindow(task_id).call(block_identifier=block)
        status, rules_id, budget, reveal_deadline, challenge_period, oracle_timeout = raw
        return PayoutWindow(
            status=int(status),
            rules_id=int(rules_id),
            budget=int(budget),
            reveal_deadline=int(reveal_deadline),
            challenge_period=int(challenge_period),
            oracle_timeout=int(oracle_timeout),
        )

    def status(self, task_id: int) -> int:
        return self.payout_window(task_id).status

    def attestation_version(self, task_id: int, annotator: str, block: BlockIdentifier) -> int:
        _, version = self.registry.functions.attestation(task_id, annotator).call(
            block_identifier=block
        )
        return int(version)

    def is_attested(
        self, task_id: int, annotator: str, root: bytes, count: int, block: BlockIdentifier
    ) -> bool:
        if not 0 < count < 2**32:
            return False
        return bool(
            self.registry.functions.isAttested(task_id, annotator, root, count).call(
                block_identifier=block
            )
        )

    def pending(self, task_id: int) -> Proposal:
        """The task's settlement state in the committee's current round."""
        return Proposal.from_raw(self.committee.functions.pending(task_id).call())

    def has_voted(self, task_id: int, oracle: str) -> bool:
        return bool(self.committee.functions.hasVoted(task_id, oracle).call())

    # -- rule sets and membership

    def rules(self, rules_id: int) -> RuleSet:
        found = self._rules.get(rules_id)
        if found is None:
            r = rules_dict(self.committee.functions.rules(rules_id).call())
            found = RuleSet(
                rules_id=rules_id,
                oracles=tuple(to_checksum_address(o) for o in r["oracles"]),
                threshold=int(r["threshold"]),
                guardian=to_checksum_address(r["guardian"]),
                committee_grace=int(r["committeeGrace"]),
            )
            self._rules[rules_id] = found
        return found

    def current_rules_id(self) -> int:
        return int(self.committee.functions.rulesCount().call())

    def is_revoked(self, rules_id: int, oracle: str) -> bool:
        return bool(self.committee.functions.isRevoked(rules_id, oracle).call())

    def is_live_oracle(self, rules_id: int, oracle: str) -> bool:
        """Whether `oracle` may vote on tasks of rule set `rules_id` (a member, not revoked)."""
        oracle = to_checksum_address(oracle)
        return oracle in self.rules(rules_id).oracles and not self.is_revoked(rules_id, oracle)

    def live_mask(self, rules_id: int) -> int:
        """Bitmap (bit i = rules.oracles[i]) of the rule set's oracles that are not revoked."""
        mask = 0
        for i, oracle in enumerate(self.rules(rules_id).oracles):
            if not self.is_revoked(rules_id, oracle):
                mask |= 1 << i
        return mask

    def is_oracle(self, oracle: str) -> bool:
        """Whether `oracle` is a live oracle of the current rule set (tasks created now)."""
        return self.is_live_oracle(self.current_rules_id(), oracle)
