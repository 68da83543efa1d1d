"""Stateful property test of the whole settlement v2 suite: a model-checked random walk.

A hypothesis rule-based machine drives the deployed contracts (escrow, registry, committee,
LocalArbitrator panel, timelock) through random sequences of: create, attest, cancel, oracle
votes (one oracle, or the whole rule set at once), bonded proposals, restart-round, veto,
dispute, panel votes (every verdict, and split panels), finalize, claim, claimMany, claimBatch
(a sponsor's multiproof batch, already-claimed entries skipped), refund,
pause, unpause, stake funding, timelocked governance (schedule, then execute after the delay:
publishRules, revokeOracle, withdrawStake, guardian grant/revoke), calls by the wrong role, and
time jumps (random lengths, or to a deadline of the moment, one second either side).

A Python model predicts every step: a success must succeed and move exactly the predicted
tokens; a failure must revert with exactly the predicted custom error and arguments. Blocks all
share one timestamp until the machine moves the clock (anvil's block-timestamp interval is 0),
so an eth_call on the latest block runs at the very second the transaction would.

Invariants, checked against the chain after every step:
- per task: the struct, the committee's proposal state and the registry window match the model;
  claimed + refunded <= budget, claimed <= payoutTotal <= budget; nothing claimed and no claim
  bit before Final; the root never changes once Final; one claim per account per task;
- per token: the escrow holds at least what all tasks still owe (and exactly the model's
  balance); every tracked account holds exactly the model's balance;
- bonds are conserved: the committee's balance of a bond token is stake(token) plus the bonds
  locked behind pending or disputed proposals, and a locked bond is never stuck (its task can
  still be finalized or refunded by ruling);
- once a proposal has been pending, the requester has been refunded at most the unallocated part
  (the unclaimed part once the claim period is over), unless the arbitrator ruled a refund;
- once Final, the claim deadline is the finalization time plus the claim period plus the paused
  time since, and the claim period is at least the floor of the task's rule set: every leaf can
  be claimed for at least the floor of unpaused time (the claim rule checks that claims inside
  the period succeed);
- the pause, the paused time, the number of rule sets and the arbitrator's dispute count match
  the model (a published rule set and a revocation are read back when they take effect, the
  refundable() view before every refund).

`make test` runs at least MIN_STEPS steps from a fixed seed and checks that every kind of
outcome happened; `make fuzz` runs LABELPROOF_FUZZ_STEPS steps from a fresh seed (it prints the
seed; LABELPROOF_FUZZ_SEED replays the run). The machine talks JSON-RPC to anvil directly, about
a millisecond a call, instead of through brownie's transaction objects.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import brownie
import hypothesis.core
import pytest
import requests
from eth_abi import decode, encode
from eth_utils import keccak
from hypothesis import HealthCheck, Verbosity, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from labelproof.merkle import StandardMerkleTree, payout_tree
from labelproof.multiproof import multiproof
from labelproof.settlement import (
    FLAG_DISPUTED,
    FLAG_EVER_PENDING,
    FLAG_VETO_USED,
    TASK_FIELDS,
    RefundKind,
    Status,
)

BUILD = Path(__file__).resolve().parents[2] / "build" / "contracts"
HOUR = 3600
DAY = 24 * HOUR
GAS = 5_000_000
MAX_UINT = 2**256 - 1
ZERO = "0x" + "00" * 20
ZERO32 = b"\x00" * 32
DEAD = "0x000000000000000000000000000000000000dead"
GUARDIAN_ROLE = keccak(text="GUARDIAN_ROLE")
PROPOSER_ROLE = keccak(text="PROPOSER_ROLE")
MINTER_ROLE = keccak(text="MINTER_ROLE")
READY_STATE = (1 << 2).to_bytes(32, "big")  # TimelockController._encodeStateBitmap(Ready)
FUNDED, CANCELLED, FINAL, EXPIRED = Status.FUNDED, Status.CANCELLED, Status.FINAL, Status.EXPIRED

# make test: EXAMPLES examples of up to STEPS steps from a fixed seed, at least MIN_STEPS in all
# (hypothesis starts with a few short examples). make fuzz: LABELPROOF_FUZZ_STEPS steps in
# examples of FUZZ_STEPS_PER_EXAMPLE, from a fresh seed or LABELPROOF_FUZZ_SEED.
EXAMPLES, STEPS, MIN_STEPS = 66, 100, 5_000
FUZZ_STEPS_PER_EXAMPLE = 100
FUZZ_STEPS = int(os.environ.get("LABELPROOF_FUZZ_STEPS", "0") or 0)

# ------------------------------------------------------------------------------------------
# raw JSON-RPC and ABI coding
# ------------------------------------------------------------------------------------------

ERRORS: dict[bytes, tuple[str, list[str]]] = {
    bytes.fromhex("08c379a0"): ("Error", ["string"]),
    bytes.fromhex("4e487b71"): ("Panic", ["uint256"]),
}


def _abi_type(param: dict[str, Any]) -> str:
    kind = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + kind[5:]
    return kind


def _norm(value: Any) -> Any:
    """One comparable form for error arguments: lower-case addresses, bytes, ints, tuples."""
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, tuple | list):
        return tuple(_norm(v) for v in value)
    return value


class Contract:
    """Encoder/decoder for one deployed contract, from brownie's build artifact."""

    def __init__(self, name: str, address: str):
        self.name = name
        self.address = address.lower()
        self.fns: dict[str, tuple[bytes, list[str], list[str]]] = {}
        for item in json.loads((BUILD / f"{name}.json").read_text())["abi"]:
            types = [_abi_type(p) for p in item.get("inputs", [])]
            selector = keccak(text=f"{item.get('name')}({','.join(types)})")[:4]
            if item["type"] == "function":
                outs = [_abi_type(p) for p in item["outputs"]]
                self.fns[item["name"]] = (selector, types, outs)
            elif item["type"] == "error":
                ERRORS[selector] = (item["name"], types)

    def data(self, fn: str, *args: Any) -> str:
        selector, types, _ = self.fns[fn]
        return "0x" + (selector + encode(types, list(args))).hex()

    def decode(self, fn: str, raw: bytes) -> Any:
        values = decode(self.fns[fn][2], raw)
        return values[0] if len(values) == 1 else values


def decode_error(data: bytes) -> tuple[Any, ...]:
    name, types = ERRORS[data[:4]]
    return (name, *_norm(decode(types, data[4:])))


class Rpc:
    """JSON-RPC to anvil over one keep-alive HTTP session."""

    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()
        self.sync = True  # eth_sendTransactionSync (receipt in the same round trip)

    def __call__(self, method: str, *params: Any) -> Any:
        reply = self.session.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        ).json()
        if "error" in reply:
            raise RpcError(reply["error"])
        return reply["result"]

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        body = [
            {"jsonrpc": "2.0", "id": k, "method": m, "params": p} for k, (m, p) in enumerate(calls)
        ]
        replies = self.session.post(self.url, json=body).json()
        return sorted(replies, key=lambda r: r["id"])

    def call(self, tx: dict[str, Any]) -> tuple[bool, bytes]:
        """(succeeded, return or revert data) of an eth_call on the latest block."""
        try:
            return True, bytes.fromhex(self("eth_call", tx, "latest")[2:])
        except RpcError as exc:
            return False, _revert_data(exc.args[0])

    def send(self, tx: dict[str, Any]) -> dict[str, Any]:
        tx = {**tx, "gas": hex(GAS)}
        if self.sync:
            try:
                return self("eth_sendTransactionSync", tx)
            except RpcError as exc:
                if exc.args[0].get("code") != -32601:  # method not found: older anvil
                    raise
                self.sync = False
        return self("eth_getTransactionReceipt", self("eth_sendTransaction", tx))


class RpcError(RuntimeError):
    pass


def _revert_data(error: dict[str, Any]) -> bytes:
    data = error.get("data")
    if isinstance(data, dict):
        data = data.get("data")
    if not isinstance(data, str) or not data.startswith("0x"):
        raise RpcError(error)
    return bytes.fromhex(data[2:])


# ------------------------------------------------------------------------------------------
# the model
# ------------------------------------------------------------------------------------------


@dataclass
class Rules:
    oracles: tuple[str, ...]
    threshold: int
    guardian: str
    arbitrator: str
    bond_token: str
    proposer_bond: int
    dispute_bond: int
    burn_bps: int
    min_challenge: int
    min_claim: int
    min_window: int
    grace: int
    revoked: int = 0  # bitmap of revoked slots

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            list(self.oracles),
            self.threshold,
            self.guardian,
            self.arbitrator,
            self.bond_token,
            self.proposer_bond,
            self.dispute_bond,
            self.burn_bps,
            self.min_challenge,
            self.min_claim,
            self.min_window,
            self.grace,
        )

    def slot(self, account: str) -> int | None:
        return self.oracles.index(account) if account in self.oracles else None

    def live(self) -> int:
        return ((1 << len(self.oracles)) - 1) & ~self.revoked

    def invalid(self) -> str | None:
        """OracleCommittee._publish's InvalidRules reason, in its order; None if valid."""
        n = len(self.oracles)
        if n == 0 or n > 32:
            return "oracles: 1 to 32"
        if self.threshold == 0 or self.threshold > n:
            return "threshold: 1 to oracles"
        if self.arbitrator == ZERO:
            return "arbitrator: zero"
        if self.bond_token == ZERO:
            return "bondToken: zero"
        if self.burn_bps > 10_000:
            return "burnBps: above 10000"
        if self.min_claim == 0:
            return "minClaimPeriod: zero"
        if self.min_challenge == 0:
            return "minChallengePeriod: zero"
        if self.grace >= self.min_window:
            return "committeeGrace: not below minProposalWindow"
        seen: set[str] = set()
        for o in self.oracles:
            if o == ZERO:
                return "oracles: zero address"
            if o in seen:
                return "oracles: duplicate"
            if o == self.guardian:
                return "guardian: also an oracle"
            seen.add(o)
        return None


NO_RULES = Rules((), 0, ZERO, ZERO, ZERO, 0, 0, 0, 0, 0, 0, 0)


@dataclass(frozen=True)
class Payout:
    leaves: tuple[tuple[str, int], ...]
    total: int
    root: bytes
    report: bytes
    inputs: bytes
    proofs: dict[str, list[bytes]]

    @property
    def key(self) -> tuple[bytes, int, bytes, bytes]:
        return (self.root, self.total, self.report, self.inputs)

    def amount(self, account: str) -> int | None:
        return dict(self.leaves).get(account)


@functools.cache
def _tree(leaves: tuple[tuple[str, int], ...]) -> tuple[bytes, dict[str, list[bytes]]]:
    tree = payout_tree(dict(leaves))
    proofs = {}
    for index, (account, _amount) in tree.entries():
        proofs[account.lower()] = [bytes.fromhex(h[2:]) for h in tree.get_proof(index)]
    return bytes.fromhex(tree.root[2:]), proofs


@functools.cache
def _full_tree(leaves: tuple[tuple[str, int], ...]) -> StandardMerkleTree:
    return payout_tree(dict(leaves))


def make_payout(tid: int, variant: int, leaves: dict[str, int], total: int, inputs=True) -> Payout:
    items = tuple(leaves.items())
    root, proofs = _tree(items)
    report = keccak(text=f"report {tid} {variant}")
    inputs_hash = keccak(text=f"inputs {tid} {variant}") if inputs else ZERO32
    return Payout(items, total, root, report, inputs_hash, proofs)


@dataclass
class Proposal:
    """The committee's state for one task id (exists for ids without a task too)."""

    round: int = 0
    voters: int = 0
    flags: int = 0
    tallies: dict[tuple[Any, ...], int] = field(default_factory=dict)
    payout: Payout | None = None
    ends: int = 0
    proposer: str = ZERO
    bond: int = 0
    disputer: str = ZERO
    dispute_bond: int = 0
    dispute_id: int = 0


@dataclass
class Task:
    tid: int
    token: str
    budget: int
    rules_id: int
    annotation: int
    reveal: int
    challenge: int
    claim_period: int
    timeout: int
    candidates: list[Payout]
    status: int = FUNDED
    open: bool = True  # the registry's window
    attested: bool = False
    versions: dict[str, int] = field(default_factory=dict)
    claimed: int = 0
    refunded: int = 0
    payout: Payout | None = None
    final_at: int = 0
    claimed_by: set[str] = field(default_factory=set)
    refund_ruled: bool = False
    closed: bool = False  # the unclaimed rest was refunded: claims closed for good


@dataclass
class Op:
    """A timelock operation: scheduled, ready at `ready`, applied by `apply` when executed."""

    target: str
    data: str
    salt: bytes
    ready: int
    kind: str
    args: tuple[Any, ...]
    done: bool = False

    @property
    def id(self) -> bytes:
        return keccak(
            encode(
                ["address", "uint256", "bytes", "bytes32", "bytes32"],
                [self.target, 0, bytes.fromhex(self.data[2:]), ZERO32, self.salt],
            )
        )


@dataclass
class Dispute:
    tid: int
    votes: dict[str, int] = field(default_factory=dict)
    solved: bool = False


@dataclass
class World:
    """The deployed suite and the accounts, shared by every run of the machine."""

    rpc: Rpc
    escrow: Contract
    registry: Contract
    committee: Contract
    arbitrator: Contract
    timelock: Contract
    reward: Contract
    mock: Contract
    usd: Contract
    admin: str
    guardian: str
    guardian2: str
    oracles: list[str]
    requester: str
    annotators: list[str]
    actors: list[str]
    panel: list[str]
    quorum: int
    min_delay: int
    max_pause: int
    rules1: Rules
    snapshot: str = ""
    start: int = 0
    balances: dict[tuple[str, str], int] = field(default_factory=dict)
    stake: dict[str, int] = field(default_factory=dict)

    @property
    def tokens(self) -> list[Contract]:
        return [self.mock, self.usd, self.reward]

    @property
    def bond_tokens(self) -> list[Contract]:
        return [self.reward, self.mock]

    @property
    def tracked(self) -> list[str]:
        return [
            self.requester,
            *self.annotators,
            *self.actors,
            self.admin,
            DEAD,
            self.escrow.address,
            self.committee.address,
        ]


def popcount(x: int) -> int:
    return bin(x).count("1")


st_i = st.integers(0, 255)
st_budget = st.integers(0, 10**22)
# which candidate payout a vote or bonded proposal carries: mostly the honest one
VARIANTS = (0, 0, 0, 0, 0, 1, 1, 2, 3, 4)


class Machine(RuleBasedStateMachine):
    W: World
    runs = checks = 0  # steps = checks - runs: invariants run after __init__ and every step
    stats: Counter[str] = Counter()

    def __init__(self):
        super().__init__()
        Machine.runs += 1
        w = self.W
        w.rpc("evm_revert", w.snapshot)  # every run starts from the same deployed suite
        w.snapshot = w.rpc("evm_snapshot")
        self.rpc = w.rpc
        self.now = w.start
        self.bal = dict(w.balances)
        self.stake = dict(w.stake)
        self.rulesets = {0: NO_RULES, 1: copy.deepcopy(w.rules1)}
        self.tasks: dict[int, Task] = {}
        self.props: dict[int, Proposal] = {}
        self.disputes: list[Dispute] = []
        self.ops: list[Op] = []
        self.pauses: list[list[int | None]] = []  # [start, end or None]
        self.guardians = {w.guardian}
        self.forced: int | None = None  # the task `advance` works on

    # -------------------------------------------------------------------- chain access
    def act(self, expected, sender: str, c: Contract, fn: str, *args: Any, what: str = "") -> bool:
        """Send fn(*args) if the model expects success (it must succeed); otherwise check
        with eth_call that it reverts with exactly `expected`. Returns whether it was sent."""
        tx = {"from": sender, "to": c.address, "data": c.data(fn, *args)}
        label = what or fn
        if expected is not None:
            ok, data = self.rpc.call(tx)
            got = None if ok else decode_error(data)
            assert got == _norm(expected), (
                f"{c.name}.{fn}{args} from {sender} at {self.now}: "
                f"the model expects revert {expected}, the chain gives {got or 'success'}"
            )
            self.stats[f"{label}:{expected[0]}"] += 1
            return False
        receipt = self.rpc.send(tx)
        if receipt["status"] != "0x1":
            ok, data = self.rpc.call(tx)
            reason = decode_error(data) if not ok else "reverted (not reproducible by eth_call)"
            raise AssertionError(
                f"{c.name}.{fn}{args} from {sender} at {self.now}: the model expects success, "
                f"the chain reverts {reason}"
            )
        self.stats[f"{label}:ok"] += 1
        return True

    def view(self, c: Contract, fn: str, *args: Any) -> Any:
        ok, data = self.rpc.call({"to": c.address, "data": c.data(fn, *args)})
        assert ok, f"{c.name}.{fn}{args} reverted: {decode_error(data)}"
        return c.decode(fn, data)

    def views(self, calls: list[tuple[Contract, str, tuple[Any, ...]]]) -> list[Any]:
        replies = self.rpc.batch(
            [
                ("eth_call", [{"to": c.address, "data": c.data(fn, *args)}, "latest"])
                for c, fn, args in calls
            ]
        )
        out = []
        for (c, fn, args), reply in zip(calls, replies, strict=True):
            assert "result" in reply, f"{c.name}.{fn}{args}: {reply.get('error')}"
            out.append(c.decode(fn, bytes.fromhex(reply["result"][2:])))
        return out

    def move(self, token: str, frm: str, to: str, amount: int) -> None:
        if amount:
            self.bal[(token, frm)] -= amount
            self.bal[(token, to)] = self.bal.get((token, to), 0) + amount

    # -------------------------------------------------------------------- model helpers
    def tid(self, i: int) -> int:
        n = len(self.tasks)
        return n + 1 if n == 0 or i % 23 == 22 else i % n + 1

    def target(self, i: int, wanted) -> int:
        """Mostly a task in the state the rule needs (`wanted(task, proposal)`), else any id."""
        if self.forced is not None:
            return self.forced
        ids = [tid for tid, t in self.tasks.items() if wanted(t, self.prop(tid))]
        return ids[i // 4 % len(ids)] if ids and i % 4 else self.tid(i)

    def attestable(self, t: Task, p: Proposal) -> bool:
        return t.open and self.now <= t.annotation

    def cancellable(self, t: Task, p: Proposal) -> bool:
        return t.status == FUNDED

    def proposable(self, t: Task, p: Proposal) -> bool:
        return t.status == FUNDED and self.now > t.reveal and not p.ends

    def round_stuck(self, t: Task, p: Proposal) -> bool:
        """Every live oracle voted and nothing is pending, or too few oracles are live."""
        r = self.rulesets[t.rules_id]
        live = r.live()
        return not p.ends and (popcount(live) < r.threshold or (live and p.voters & live == live))

    def restartable(self, t: Task, p: Proposal) -> bool:
        return t.status == FUNDED and not p.ends and p.voters != 0

    def challengeable(self, t: Task, p: Proposal) -> bool:
        return p.ends != 0 and self.now < p.ends and not p.flags & FLAG_DISPUTED

    def finalizable(self, t: Task, p: Proposal) -> bool:
        return p.ends != 0

    def alive(self, t: Task, p: Proposal) -> bool:
        return t.status == FUNDED or (t.status == FINAL and t.claimed + t.refunded < t.budget)

    def claimable_by(self, t: Task, who: str) -> bool:
        return (
            t.status == FINAL
            and t.payout is not None
            and t.payout.amount(who) is not None
            and who not in t.claimed_by
            and self.now <= self.claim_deadline(t)
        )

    def final(self, t: Task, p: Proposal) -> bool:
        return t.status == FINAL

    def refundable_now(self, t: Task, p: Proposal) -> bool:
        return self.refundable(t)[0] > 0

    def prop(self, tid: int) -> Proposal:
        return self.props.setdefault(tid, Proposal())

    def rules_of(self, tid: int) -> Rules:
        t = self.tasks.get(tid)
        return self.rulesets[t.rules_id] if t else NO_RULES

    def paused_time(self, at: int) -> int:
        """Seconds paused up to `at` (a pause lasts at most max_pause)."""
        total = 0
        for start, end in self.pauses:
            assert start is not None
            stop = start + self.W.max_pause if end is None else end
            if at > start:
                total += min(at, stop) - start
        return total

    def paused(self) -> bool:
        if not self.pauses:
            return False
        start, end = self.pauses[-1]
        assert start is not None
        return end is None and self.now < start + self.W.max_pause

    def last_pause_end(self) -> int | None:
        if not self.pauses:
            return None
        start, end = self.pauses[-1]
        assert start is not None
        if end is not None:
            return end
        return start + self.W.max_pause if self.now >= start + self.W.max_pause else None

    def claim_deadline(self, t: Task) -> int:
        """The effective deadline a claim is checked against (claimBase + paused time); the
        unclaimed refund sets claimBase to 0, which leaves it in the past for good."""
        if t.closed:
            return self.paused_time(self.now)
        return (
            t.final_at + t.claim_period + self.paused_time(self.now) - self.paused_time(t.final_at)
        )

    def unpaused_since(self, t: Task) -> int:
        """Seconds of unpaused time since the task became Final."""
        return self.now - t.final_at - self.paused_time(self.now) + self.paused_time(t.final_at)

    def claim_period_over(self, t: Task) -> bool:
        return not self.paused() and self.now > self.claim_deadline(t)

    def refundable(self, t: Task) -> tuple[int, int]:
        p = self.prop(t.tid)
        if t.status == FINAL:
            assert t.payout is not None
            if self.claim_period_over(t):
                return t.budget - t.claimed - t.refunded, RefundKind.UNCLAIMED
            # once the unclaimed rest is out too, nothing is left (not a negative amount)
            return max(0, t.budget - t.payout.total - t.refunded), RefundKind.UNALLOCATED
        if (
            t.status == FUNDED
            and self.now > t.reveal + t.timeout
            and not p.flags & FLAG_EVER_PENDING
        ):
            return t.budget - t.refunded, RefundKind.ORACLE_TIMEOUT
        return 0, RefundKind.UNALLOCATED

    def proposal_error(self, tid: int, payout: Payout):
        """OracleCommittee._checkProposal, in its order."""
        if payout.inputs == ZERO32:
            return ("EmptyInputsHash",)
        t = self.tasks.get(tid)
        if t is None or t.status != FUNDED:
            return ("TaskNotFunded", tid)
        if self.now <= t.reveal:
            return ("RevealWindowOpen", tid, t.reveal)
        if payout.total > t.budget:
            return ("PayoutExceedsBudget", tid, payout.total, t.budget)
        p = self.prop(tid)
        if p.flags & FLAG_DISPUTED:
            return ("UnderDispute", tid, p.dispute_id)
        if p.ends:
            return ("ProposalAlreadyPending", tid)
        if not p.flags & FLAG_EVER_PENDING and self.now > t.reveal + t.timeout:
            return ("ProposalTooLate", tid, t.reveal + t.timeout)
        return None

    def challengeable_error(self, tid: int):
        p = self.prop(tid)
        if p.ends == 0:
            return ("NoPendingProposal", tid)
        if p.flags & FLAG_DISPUTED:
            return ("UnderDispute", tid, p.dispute_id)
        if self.now >= p.ends:
            return ("ChallengeWindowClosed", tid, p.ends)
        return None

    def make_pending(self, t: Task, payout: Payout, proposer: str, bond: int) -> None:
        p = self.prop(t.tid)
        p.payout, p.ends, p.proposer, p.bond = payout, self.now + t.challenge, proposer, bond
        p.flags |= FLAG_EVER_PENDING

    def new_round(self, p: Proposal) -> None:
        p.round += 1
        p.payout, p.ends, p.voters, p.proposer, p.bond = None, 0, 0, ZERO, 0

    def bond_out(self, token: str, to: str, amount: int) -> None:
        self.move(token, self.W.committee.address, to, amount)

    def return_bond(self, t: Task, p: Proposal) -> None:
        token = self.rulesets[t.rules_id].bond_token
        bond, p.bond = p.bond, 0
        if p.proposer == ZERO:
            self.stake[token] += bond
        else:
            self.bond_out(token, p.proposer, bond)

    def forfeit(self, token: str, amount: int, burn_bps: int, winner: str | None) -> None:
        """A losing bond: burn_bps burned, the rest to `winner` (None: the stake)."""
        burned = amount * burn_bps // 10_000
        self.bond_out(token, DEAD, burned)
        if winner is None:
            self.stake[token] += amount - burned
        else:
            self.bond_out(token, winner, amount - burned)

    def candidates(self, tid: int, budget: int, share: int) -> list[Payout]:
        a = self.W.annotators
        total = budget * share // 100
        honest = {a[0]: total // 3, a[1]: total // 3, a[2]: total - 2 * (total // 3)}
        other = {a[0]: budget - budget // 4, a[1]: budget // 4}
        # promises more than its total: the total caps what leaves the task
        over = {a[0]: budget - budget // 3, a[1]: budget // 3, a[2]: 1}
        return [
            make_payout(tid, 0, honest, total),
            make_payout(tid, 1, other, budget),
            make_payout(tid, 2, over, budget // 2),
            make_payout(tid, 3, honest, budget + 1),  # PayoutExceedsBudget
            make_payout(tid, 4, honest, total, inputs=False),  # EmptyInputsHash
        ]

    def payout_for(self, tid: int, v: int) -> Payout:
        t = self.tasks.get(tid)
        if t is not None:
            return t.candidates[VARIANTS[v]]
        return make_payout(tid, 0, {self.W.annotators[0]: 1}, 1)

    def make_rules(self, seed: int) -> Rules:
        """A rule set drawn from `seed`: valid three times in four."""
        w, r = self.W, random.Random(seed)
        oracles = r.sample(w.oracles, r.randint(1, 3))
        min_window = r.choice([DAY, 2 * DAY])
        rules = Rules(
            oracles=tuple(oracles),
            threshold=r.randint(1, len(oracles)),
            guardian=r.choice([w.guardian, w.guardian2, ZERO]),
            arbitrator=w.arbitrator.address,
            bond_token=r.choice([w.reward.address, w.mock.address]),
            proposer_bond=r.choice([0, 10**18, 100 * 10**18, r.randint(1, 10**20)]),
            dispute_bond=r.choice([0, 10**18, 100 * 10**18]),
            burn_bps=r.choice([0, 2_000, 10_000, r.randint(0, 10_000)]),
            min_challenge=r.choice([HOUR, 1, 2 * HOUR]),
            min_claim=r.choice([DAY, 1, 3 * DAY]),
            min_window=min_window,
            grace=r.choice([12 * HOUR, 0, min_window - 1]),
        )
        defect = r.randrange(48)
        if defect == 0:
            rules.threshold = 0
        elif defect == 1:
            rules.threshold = len(oracles) + 1
        elif defect == 2:
            rules.burn_bps = 10_001
        elif defect == 3:
            rules.min_claim = 0
        elif defect == 4:
            rules.min_challenge = 0
        elif defect == 5:
            rules.grace = rules.min_window
        elif defect == 6:
            rules.oracles = (*oracles, oracles[0])
        elif defect == 7:
            rules.guardian = oracles[-1]
        elif defect == 8:
            rules.oracles = ()
        elif defect == 9:
            rules.oracles = (*oracles, ZERO)
        elif defect == 10:
            rules.bond_token = ZERO
        elif defect == 11:
            rules.arbitrator = ZERO
        return rules

    # -------------------------------------------------------------------- rules: tasks
    @rule(
        k=st.integers(0, 2),
        budget=st_budget,
        share=st.integers(0, 100),
        shape=st.integers(0, 1023),
        bad=st.integers(0, 15),
    )
    def create(self, k, budget, share, shape, bad):
        w, now = self.W, self.now
        token = w.tokens[k]
        rid = max(self.rulesets)
        r = self.rulesets[rid]
        ann = now + (1, HOUR, DAY, 2 * DAY)[shape & 3]
        rev = ann + (1, HOUR, DAY, 3 * DAY)[shape >> 2 & 3]
        challenge = r.min_challenge + (0, 1, HOUR, DAY)[shape >> 4 & 3]
        claim = r.min_claim + (0, 1, DAY, 5 * DAY)[shape >> 6 & 3]
        timeout = r.min_window + (0, 1, HOUR, DAY)[shape >> 8 & 3]
        if bad == 1:
            challenge = r.min_challenge - 1
        elif bad == 2:
            claim = r.min_claim - 1
        elif bad == 3:
            timeout = r.min_window - 1
        elif bad == 4:
            ann = now
        elif bad == 5:
            rev = ann
        tid = len(self.tasks) + 1
        spec = keccak(text=f"spec {tid}")
        params = (spec, ZERO32, ann, rev, challenge, claim, timeout)
        err: tuple[Any, ...] | None = None
        if self.paused():
            err = ("EnforcedPause",)
        elif budget == 0:
            err = ("ZeroBudget",)
        elif ann <= now or rev <= ann:
            err = ("InvalidDeadlines", ann, rev, now)
        elif challenge < r.min_challenge:
            err = ("PeriodBelowFloor", "challengePeriod", challenge, r.min_challenge)
        elif claim < r.min_claim:
            err = ("PeriodBelowFloor", "claimPeriod", claim, r.min_claim)
        elif timeout < r.min_window:
            err = ("PeriodBelowFloor", "oracleTimeout", timeout, r.min_window)
        if self.act(err, w.requester, w.escrow, "createTask", token.address, budget, params):
            self.tasks[tid] = Task(
                tid, token.address, budget, rid, ann, rev, challenge, claim, timeout,
                self.candidates(tid, budget, share),
            )  # fmt: skip
            self.move(token.address, w.requester, w.escrow.address, budget)

    @rule(i=st_i, j=st.integers(0, 2), v=st.integers(0, 9))
    def attest(self, i, j, v):
        w, tid = self.W, self.target(i, self.attestable)
        who = w.annotators[j]
        t = self.tasks.get(tid)
        root = ZERO32 if v == 0 else keccak(text=f"labels {tid} {who} {v}")
        items = 0 if v == 1 else 4
        err: tuple[Any, ...] | None = None
        if t is None or not t.open:
            err = ("TaskNotOpen", tid)
        elif self.now > t.annotation:
            err = ("AnnotationWindowClosed", tid, t.annotation)
        elif root == ZERO32:
            err = ("EmptyRoot",)
        elif items == 0:
            err = ("ZeroItems",)
        if self.act(err, who, w.registry, "attest", tid, root, items):
            assert t is not None
            t.attested = True
            t.versions[who] = t.versions.get(who, 0) + 1
            assert self.view(w.registry, "attestation", tid, who)[1] == t.versions[who]

    @rule(i=st_i, wrong=st.booleans())
    def cancel(self, i, wrong):
        w, tid, now = self.W, self.target(i, self.cancellable), self.now
        who = w.actors[0] if wrong else w.requester
        t = self.tasks.get(tid)
        err: tuple[Any, ...] | None = None
        if t is None:
            err = ("UnknownTask", tid)
        elif who != w.requester:
            err = ("NotRequester", tid, who)
        elif t.status != FUNDED:
            err = ("WrongStatus", tid, t.status)
        elif t.attested and now >= t.annotation:
            err = ("AttestationsExist", tid)
        elif not t.attested and self.prop(tid).flags & FLAG_EVER_PENDING:
            err = ("ProposalExists", tid)  # it must settle through the committee
        if not self.act(err, who, w.escrow, "cancelTask", tid):
            return
        assert t is not None
        if t.attested:  # closed early: the reveal window keeps its length
            t.reveal -= t.annotation - now
            t.annotation = now
        else:
            self.move(t.token, w.escrow.address, w.requester, t.budget - t.refunded)
            t.status, t.refunded, t.open = CANCELLED, t.budget, False

    # -------------------------------------------------------------------- rules: proposals
    def _vote(self, tid: int, who: str, payout: Payout, label: str) -> bool:
        w = self.W
        err = self.proposal_error(tid, payout)
        t = self.tasks.get(tid)
        p = self.prop(tid)
        if err is None:
            assert t is not None
            r = self.rulesets[t.rules_id]
            slot = r.slot(who)
            if slot is None or r.revoked >> slot & 1:
                err = ("NotOracle", tid, who)
            elif p.voters >> slot & 1:
                err = ("AlreadyVoted", tid, p.round, who)
        args = (tid, payout.root, payout.total, payout.report, payout.inputs)
        if not self.act(err, who, w.committee, "propose", *args, what=label):
            return False
        assert t is not None and slot is not None
        bit = 1 << slot
        p.voters |= bit
        key = (p.round, payout.key)
        p.tallies[key] = p.tallies.get(key, 0) | bit
        if popcount(p.tallies[key] & ~r.revoked) >= r.threshold:
            p.voters = p.tallies[key]  # pending: the round's bitmap holds the payout's voters
            bond = min(self.stake[r.bond_token], r.proposer_bond)
            self.stake[r.bond_token] -= bond
            self.make_pending(t, payout, ZERO, bond)
            self.stats["committee proposal pending"] += 1
        return True

    @rule(i=st_i, o=st.integers(0, 3), v=st.integers(0, 9))
    def vote(self, i, o, v):
        tid = self.target(i, self.proposable)
        who = [*self.W.oracles, self.W.actors[1]][o]
        self._vote(tid, who, self.payout_for(tid, v), "propose")

    @rule(i=st_i, v=st.integers(0, 9))
    def vote_all(self, i, v):
        """Every oracle of the task's rule set votes for the same payout, in turn."""
        tid = self.target(i, self.proposable)
        r = self.rules_of(tid)
        live = [o for n, o in enumerate(r.oracles) if r.live() >> n & 1]
        for who in live + [o for o in r.oracles if o not in live] or self.W.oracles[:1]:
            if not self._vote(tid, who, self.payout_for(tid, v), "propose(all)"):
                break
            if self.prop(tid).ends:
                break

    @rule(i=st_i, a=st.integers(0, 1), v=st.integers(0, 9))
    def propose_bonded(self, i, a, v):
        w, tid = self.W, self.target(i, self.proposable)
        who = w.actors[a]
        payout = self.payout_for(tid, v)
        err = self.proposal_error(tid, payout)
        r = self.rules_of(tid)
        t = self.tasks.get(tid)
        if err is None:
            assert t is not None
            if self.now <= t.reveal + r.grace:
                err = ("CommitteeGrace", tid, t.reveal + r.grace)
        args = (tid, payout.root, payout.total, payout.report, payout.inputs)
        if self.act(err, who, w.committee, "proposeBonded", *args):
            assert t is not None
            self.make_pending(t, payout, who, r.proposer_bond)
            self.move(r.bond_token, who, w.committee.address, r.proposer_bond)

    @rule(i=st_i)
    def restart_round(self, i):
        w, tid = self.W, self.target(i, self.restartable)
        p, r = self.prop(tid), self.rules_of(tid)
        err: tuple[Any, ...] | None = None
        if p.flags & FLAG_DISPUTED:
            err = ("UnderDispute", tid, p.dispute_id)
        elif p.ends:
            err = ("ProposalAlreadyPending", tid)
        elif tid not in self.tasks or self.tasks[tid].status != FUNDED:
            err = ("TaskNotFunded", tid)
        else:
            live = r.live()
            live_count, live_voted = popcount(live), popcount(p.voters & live)
            if live_voted < live_count and live_count >= r.threshold:
                err = ("RoundCanProceed", tid, live_voted, live_count)
        if self.act(err, w.actors[0], w.committee, "restartRound", tid):
            self.new_round(p)

    @rule(i=st_i, g=st.integers(0, 3))
    def veto(self, i, g):
        w, tid = self.W, self.target(i, self.challengeable)
        who = [w.guardian, w.guardian2, w.actors[0], w.oracles[0]][g]
        p, r = self.prop(tid), self.rules_of(tid)
        err: tuple[Any, ...] | None = None
        if who != r.guardian:
            err = ("NotGuardian", tid, who)
        else:
            err = self.challengeable_error(tid)
            if err is None and p.flags & FLAG_VETO_USED:
                err = ("VetoUsed", tid)
        if self.act(err, who, w.committee, "veto", tid, "wrong labels"):
            p.flags |= FLAG_VETO_USED
            self.return_bond(self.tasks[tid], p)
            self.new_round(p)

    @rule(i=st_i, a=st.integers(0, 1))
    def dispute(self, i, a):
        w, tid = self.W, self.target(i, self.challengeable)
        who = w.actors[a]
        err = self.challengeable_error(tid)
        if self.act(err, who, w.committee, "dispute", tid):
            p, r = self.prop(tid), self.rules_of(tid)
            p.flags |= FLAG_DISPUTED
            p.disputer, p.dispute_bond, p.dispute_id = who, r.dispute_bond, len(self.disputes)
            self.move(r.bond_token, who, w.committee.address, r.dispute_bond)
            self.disputes.append(Dispute(tid))

    @rule(d=st_i, m=st.integers(0, 3), ruling=st.integers(0, 4))
    def arbitrate(self, d, m, ruling):
        """One panel vote, mostly on an open dispute."""
        open_ = [k for k, x in enumerate(self.disputes) if not x.solved]
        did = open_[d % len(open_)] if open_ and d % 4 else d % (len(self.disputes) + 1)
        self.panel_vote(did, [*self.W.panel, self.W.actors[0]][m], ruling)

    def panel_vote(self, did: int, who: str, ruling: int) -> None:
        """The vote that reaches the quorum applies the ruling."""
        w = self.W
        err: tuple[Any, ...] | None = None
        if who not in w.panel:
            err = ("NotPanelMember", who)
        elif did >= len(self.disputes):
            err = ("UnknownDispute", did)
        elif self.disputes[did].solved:
            err = ("AlreadySolved", did)
        elif ruling > 3:
            err = ("InvalidRuling", did, ruling)
        elif who in self.disputes[did].votes:
            err = ("AlreadyVoted", did, who)
        else:
            x = self.disputes[did]
            count = 1 + sum(1 for r in x.votes.values() if r == ruling)
            t = self.tasks[x.tid]
            if count >= w.quorum and ruling == 3 and t.status != FUNDED:
                err = ("WrongStatus", t.tid, t.status)
        if not self.act(err, who, w.arbitrator, "vote", did, ruling):
            return
        x = self.disputes[did]
        x.votes[who] = ruling
        if sum(1 for r in x.votes.values() if r == ruling) >= w.quorum:
            x.solved = True
            self.apply_ruling(x.tid, ruling)

    def apply_ruling(self, tid: int, ruling: int) -> None:
        t, p = self.tasks[tid], self.prop(tid)
        r = self.rulesets[t.rules_id]
        token = r.bond_token
        disputer, dispute_bond = p.disputer, p.dispute_bond
        p.flags &= ~FLAG_DISPUTED
        p.disputer, p.dispute_bond, p.dispute_id = ZERO, 0, 0
        self.stats[f"verdict {ruling}"] += 1
        if ruling == 0:  # refused: bond back, the proposal stands
            self.bond_out(token, disputer, dispute_bond)
        elif ruling == 1:  # the payout stands: the disputer's bond goes to the proposer side
            self.forfeit(
                token, dispute_bond, r.burn_bps, None if p.proposer == ZERO else p.proposer
            )
        else:  # wrong: the proposer's bond pays the disputer; a new round
            bond, p.bond = p.bond, 0
            self.bond_out(token, disputer, dispute_bond)
            self.forfeit(token, bond, r.burn_bps, disputer)
            self.new_round(p)
        if ruling == 3:
            self.move(t.token, self.W.escrow.address, self.W.requester, t.budget - t.refunded)
            t.status, t.refunded, t.refund_ruled = EXPIRED, t.budget, True

    @rule(i=st_i, a=st.integers(0, 1))
    def finalize(self, i, a):
        w, tid = self.W, self.target(i, self.finalizable)
        p, t = self.prop(tid), self.tasks.get(tid)
        err: tuple[Any, ...] | None = None
        if p.ends == 0:
            err = ("NoPendingProposal", tid)
        elif p.flags & FLAG_DISPUTED:
            err = ("UnderDispute", tid, p.dispute_id)
        elif self.now < p.ends:
            err = ("ChallengeWindowOpen", tid, p.ends)
        elif t is None or t.status != FUNDED:
            err = ("WrongStatus", tid, t.status if t else 0)
        elif self.now <= t.reveal:
            err = ("RevealWindowOpen", tid, t.reveal)
        if not self.act(err, w.actors[a], w.committee, "finalize", tid):
            return
        assert t is not None
        payout = p.payout
        self.return_bond(t, p)
        self.new_round(p)
        t.status, t.payout, t.final_at = FINAL, payout, self.now

    # -------------------------------------------------------------------- rules: money out
    def claim_error(self, t: Task | None, tid: int, who: str, amount: int, valid: bool, done):
        if t is None:
            return ("UnknownTask", tid)
        if t.status != FINAL:
            return ("NotFinal", tid)
        if self.now > self.claim_deadline(t):
            return ("ClaimPeriodOver", tid, self.claim_deadline(t))
        if who in t.claimed_by or (tid, who) in done:
            return ("AlreadyClaimed", tid, who)
        if not valid:
            return ("InvalidProof", tid, who, amount)
        assert t.payout is not None
        remaining = t.payout.total - t.claimed - done.get(tid, 0)
        if amount > remaining:
            return ("ClaimExceedsPayout", tid, amount, remaining)
        return None

    def leaf(self, t: Task | None, who: str, bad: bool) -> tuple[int, list[bytes], bool]:
        """(amount, proof, valid) of `who`'s claim on `t`: its leaf, or a wrong one."""
        payout = t.payout if t else None
        if payout is None:
            return 1, [], False
        amount = payout.amount(who)
        if amount is None:  # not in the tree: borrow another leaf's proof
            return 1, payout.proofs[payout.leaves[0][0]], False
        return amount + bad, payout.proofs[who], not bad

    @rule(i=st_i, j=st.integers(0, 3), bad=st.integers(0, 7))
    def claim(self, i, j, bad):
        w, tid = self.W, self.target(i, self.final)
        who = [*w.annotators, w.actors[1]][j]
        t = self.tasks.get(tid)
        amount, proof, valid = self.leaf(t, who, bad == 0)
        err = ("EnforcedPause",) if self.paused() else None
        err = err or self.claim_error(t, tid, who, amount, valid, {})
        if t is not None and t.status == FINAL and valid and who not in t.claimed_by:
            # a leaf the total covers is claimable for at least the floor of unpaused time
            floor = self.rulesets[t.rules_id].min_claim
            if not self.paused() and self.unpaused_since(t) <= floor and err is not None:
                assert err[0] == "ClaimExceedsPayout", err
        if self.act(err, w.actors[1], w.escrow, "claim", tid, who, amount, proof):
            assert t is not None
            t.claimed += amount
            t.claimed_by.add(who)
            self.move(t.token, w.escrow.address, who, amount)

    @rule(j=st.integers(0, 2), i1=st_i, i2=st_i, bad=st.integers(0, 7))
    def claim_many(self, j, i1, i2, bad):
        w = self.W
        who = w.annotators[j]
        requests_, done, err = [], {}, None
        if self.paused():
            err = ("EnforcedPause",)
        # mostly one or two tasks the annotator can still claim from, sometimes any ids
        tids = [self.target(i1, lambda t, p: self.claimable_by(t, who))]
        if i2 % 3 and self.forced is None:
            tids.append(
                self.target(i2, lambda t, p: self.claimable_by(t, who) and t.tid != tids[0])
            )
        for n, tid in enumerate(tids):
            t = self.tasks.get(tid)
            amount, proof, valid = self.leaf(t, who, bad == 0 and n == len(tids) - 1)
            requests_.append((tid, amount, proof))
            if err is None:
                err = self.claim_error(t, tid, who, amount, valid, done)
                done[(tid, who)] = True
                done[tid] = done.get(tid, 0) + amount
        if self.act(err, w.actors[0], w.escrow, "claimMany", who, requests_):
            for tid, amount, _ in requests_:
                t = self.tasks[tid]
                t.claimed += amount
                t.claimed_by.add(who)
                self.move(t.token, w.escrow.address, who, amount)

    @rule(i=st_i, mask=st.integers(1, 15), bad=st.integers(0, 7))
    def claim_batch(self, i, mask, bad):
        """A sponsor's claimBatch of some of a task's leaves (one multiproof): entries already
        claimed are skipped with ClaimSkipped, the rest are paid to their accounts."""
        w = self.W
        tid = self.target(i, lambda t, p: t.status == FINAL and self.now <= self.claim_deadline(t))
        t = self.tasks.get(tid)
        payout = t.payout if t else None
        err = ("EnforcedPause",) if self.paused() else None
        if payout is None:
            entries: list[tuple[str, int]] = [(w.annotators[0], 1)]
            proof: list[bytes] = []
            flags: list[bool] = []
        else:
            tree = _full_tree(payout.leaves)
            chosen = [k for k in range(len(tree)) if mask >> (k % 4) & 1] or [0]
            mp = multiproof(tree, chosen)
            model_key = {a.lower(): a for a, _ in payout.leaves}
            entries = [(model_key[v[0].lower()], int(v[1])) for v in mp.values]
            if bad == 0:  # one amount raised: the multiproof no longer holds
                entries[0] = (entries[0][0], entries[0][1] + 1)
            proof = [bytes.fromhex(h[2:]) for h in mp.proof]
            flags = mp.proof_flags
        if err is None:
            if t is None:
                err = ("UnknownTask", tid)
            elif t.status != FINAL:
                err = ("NotFinal", tid)
            elif self.now > self.claim_deadline(t):
                err = ("ClaimPeriodOver", tid, self.claim_deadline(t))
            elif bad == 0:
                err = ("InvalidMultiProof", tid)
        paying = [(a, m) for a, m in entries if t is None or a not in t.claimed_by]
        paid = sum(m for _, m in paying)
        if err is None:
            assert t is not None and t.payout is not None
            remaining = t.payout.total - t.claimed
            if paid > remaining:
                err = ("ClaimExceedsPayout", tid, paid, remaining)
        accounts = [a for a, _ in entries]
        amounts = [m for _, m in entries]
        if self.act(err, w.actors[1], w.escrow, "claimBatch", tid, accounts, amounts, proof, flags):
            assert t is not None
            t.claimed += paid
            for a, m in paying:
                t.claimed_by.add(a)
                self.move(t.token, w.escrow.address, a, m)
            self.stats[f"claimBatch:skipped {len(entries) - len(paying)}"] += 1

    @rule(i=st_i)
    def refund(self, i):
        w, tid = self.W, self.target(i, self.refundable_now)
        t = self.tasks.get(tid)
        if t is None:
            self.act(("UnknownTask", tid), w.actors[0], w.escrow, "refund", tid)
            return
        amount, kind = self.refundable(t)
        assert tuple(self.view(w.escrow, "refundable", tid)) == (amount, kind), (tid, amount, kind)
        err = ("NothingToRefund", tid) if amount == 0 else None
        if self.act(err, w.actors[0], w.escrow, "refund", tid, what=f"refund({kind.name})"):
            t.refunded += amount
            if kind == RefundKind.ORACLE_TIMEOUT:
                t.status = EXPIRED
            t.closed = t.closed or kind == RefundKind.UNCLAIMED
            self.move(t.token, w.escrow.address, w.requester, amount)

    # -------------------------------------------------------------------- rules: guardian
    @rule(g=st.integers(0, 2))
    def pause(self, g):
        w = self.W
        who = [w.guardian, w.guardian2, w.actors[0]][g]
        last = self.last_pause_end()
        err: tuple[Any, ...] | None = None
        if who not in self.guardians:
            err = ("AccessControlUnauthorizedAccount", who, GUARDIAN_ROLE)
        elif self.paused():
            err = ("EnforcedPause",)
        elif last is not None and self.now < last + w.max_pause:
            err = ("PauseCooldown", last + w.max_pause)
        if self.act(err, who, w.escrow, "pause"):
            self.pauses.append([self.now, None])

    @rule(g=st.integers(0, 2))
    def unpause(self, g):
        w = self.W
        who = [w.guardian, w.guardian2, w.actors[0]][g]
        err: tuple[Any, ...] | None = None
        if who not in self.guardians:
            err = ("AccessControlUnauthorizedAccount", who, GUARDIAN_ROLE)
        elif not self.paused():
            err = ("ExpectedPause",)
        if self.act(err, who, w.escrow, "unpause"):
            self.pauses[-1][1] = self.now

    @rule(a=st.integers(0, 1), k=st.integers(0, 1), amount=st.integers(0, 300 * 10**18))
    def fund_stake(self, a, k, amount):
        w = self.W
        token = w.bond_tokens[k].address
        if self.act(None, w.actors[a], w.committee, "fundStake", token, amount):
            self.stake[token] += amount
            self.move(token, w.actors[a], w.committee.address, amount)

    # -------------------------------------------------------------------- rules: governance
    @rule(
        kind=st.integers(0, 7),
        seed=st.integers(0, 2**32),
        wrong=st.integers(0, 3),
        d=st.integers(0, 5),
    )
    def schedule(self, kind, seed, wrong, d):
        w = self.W
        who = w.actors[0] if wrong == 0 else w.admin
        delay = w.min_delay + (0, 0, 0, 1, HOUR, -1)[d]
        if kind <= 2:
            rules = self.make_rules(seed)
            op = (w.committee, "publishRules", (rules.as_tuple(),), (rules,))
        elif kind <= 4:
            rid = 1 + seed % (max(self.rulesets) + 1)  # sometimes one not published yet
            candidates = [*self.rulesets.get(rid, NO_RULES).oracles, w.actors[0]]
            oracle = candidates[seed // 7 % len(candidates)]
            op = (w.committee, "revokeOracle", (rid, oracle), (rid, oracle))
        elif kind == 5:
            token = w.bond_tokens[seed % 2].address
            amount = (self.stake[token] * (seed // 2 % 3)) // 2 + seed // 6 % 2
            op = (w.committee, "withdrawStake", (token, w.admin, amount), (token, amount))
        elif kind == 6:
            op = (w.escrow, "grantRole", (GUARDIAN_ROLE, w.guardian2), (w.guardian2,))
        else:
            who_ = [w.guardian2, w.guardian][seed % 2]
            op = (w.escrow, "revokeRole", (GUARDIAN_ROLE, who_), (who_,))
        target, fn, args, model_args = op
        salt = keccak(text=f"op {len(self.ops)}")
        data = target.data(fn, *args)
        err: tuple[Any, ...] | None = None
        if who != w.admin:
            err = ("AccessControlUnauthorizedAccount", who, PROPOSER_ROLE)
        elif delay < w.min_delay:
            err = ("TimelockInsufficientDelay", delay, w.min_delay)
        call = (target.address, 0, bytes.fromhex(data[2:]), ZERO32, salt, delay)
        if self.act(err, who, w.timelock, "schedule", *call, what=f"schedule({fn})"):
            self.ops.append(Op(target.address, data, salt, self.now + delay, fn, model_args))

    @rule(i=st_i, a=st.integers(0, 1))
    def execute(self, i, a):
        w = self.W
        if not self.ops:
            return
        waiting = [op for op in self.ops if not op.done]
        op = waiting[i // 4 % len(waiting)] if waiting and i % 4 else self.ops[i % len(self.ops)]
        if i % 4 and not op.done and 0 < op.ready - self.now <= HOUR:
            self.jump_to(op.ready + (i >> 7) - 1)  # wait out the delay, give or take a second
        err: tuple[Any, ...] | None = None
        if op.done or self.now < op.ready:
            err = ("TimelockUnexpectedOperationState", op.id, READY_STATE)
        elif op.kind == "publishRules":
            reason = op.args[0].invalid()
            err = None if reason is None else ("InvalidRules", reason)
        elif op.kind == "revokeOracle":
            rid, oracle = op.args
            if self.rulesets.get(rid, NO_RULES).slot(oracle) is None or rid == 0:
                err = ("NotOracle", 0, oracle)
        elif op.kind == "withdrawStake":
            token, amount = op.args
            if amount > self.stake[token]:
                err = ("InsufficientStake", token, self.stake[token], amount)
        call = (op.target, 0, bytes.fromhex(op.data[2:]), ZERO32, op.salt)
        if not self.act(err, [w.actors[0], w.admin][a], w.timelock, "execute", *call,
                        what=f"execute({op.kind})"):  # fmt: skip
            return
        op.done = True
        if op.kind == "publishRules":
            rid = max(self.rulesets) + 1
            self.rulesets[rid] = copy.deepcopy(op.args[0])
            onchain = self.view(w.committee, "rules", rid)
            assert _norm(onchain) == _norm(self.rulesets[rid].as_tuple())
        elif op.kind == "revokeOracle":
            rid, oracle = op.args
            r = self.rulesets[rid]
            slot = r.slot(oracle)
            assert slot is not None
            r.revoked |= 1 << slot
            assert self.view(w.committee, "isRevoked", rid, oracle) is True
        elif op.kind == "withdrawStake":
            token, amount = op.args
            self.stake[token] -= amount
            self.bond_out(token, w.admin, amount)
        elif op.kind == "grantRole":
            self.guardians.add(op.args[0])
        else:
            self.guardians.discard(op.args[0])

    @rule(k=st.integers(0, 12), g=st.integers(0, 4))
    def unauthorized(self, k, g):
        """Privileged calls from accounts that do not hold the privilege."""
        w = self.W
        who = [w.admin, w.guardian, w.oracles[0], w.actors[0], w.requester][g]
        root = keccak(text="root")
        calls = [
            (
                w.committee,
                "publishRules",
                (w.rules1.as_tuple(),),
                ("OwnableUnauthorizedAccount", who),
            ),
            (w.committee, "revokeOracle", (1, w.oracles[0]), ("OwnableUnauthorizedAccount", who)),
            (
                w.committee,
                "withdrawStake",
                (w.reward.address, who, 0),
                ("OwnableUnauthorizedAccount", who),
            ),
            (w.escrow, "recordPayout", (1, root, 0, root), ("NotCommittee", who)),
            (w.escrow, "refundByRuling", (1,), ("NotCommittee", who)),
            (w.committee, "rule", (0, 1), ("UnknownDispute", who, 0)),
            (w.registry, "openTask", (1, self.now + DAY), ("NotEscrow", who)),
            (w.registry, "closeTask", (1,), ("NotEscrow", who)),
            (w.registry, "closeAnnotation", (1,), ("NotEscrow", who)),
            (
                w.escrow,
                "grantRole",
                (GUARDIAN_ROLE, who),
                ("AccessControlUnauthorizedAccount", who, ZERO32),
            ),
            (w.timelock, "updateDelay", (0,), ("TimelockUnauthorizedCaller", who)),
            (
                w.timelock,
                "grantRole",
                (PROPOSER_ROLE, who),
                ("AccessControlUnauthorizedAccount", who, ZERO32),
            ),
            (w.reward, "mint", (who, 1), ("AccessControlUnauthorizedAccount", who, MINTER_ROLE)),
        ]
        c, fn, args, err = calls[k]
        if fn == "mint" and who == w.admin:  # the admin is the reward token's minter
            who = w.actors[0]
            err = ("AccessControlUnauthorizedAccount", who, MINTER_ROLE)
        self.act(err, who, c, fn, *args, what=f"unauthorized {fn}")

    # -------------------------------------------------------------------- rules: time
    def boundaries(self, i: int) -> list[int]:
        """Deadlines worth landing on: of task i, of the pause, of timelock operations."""
        marks = []
        t = self.tasks.get(self.tid(i))
        if t is not None:
            r, p = self.rulesets[t.rules_id], self.prop(t.tid)
            marks += [t.annotation, t.reveal, t.reveal + r.grace, t.reveal + t.timeout]
            if p.ends:
                marks.append(p.ends)
            if t.status == FINAL and not t.closed:  # the end of the claim period and its floor
                marks.append(self.claim_deadline(t))
                marks.append(self.claim_deadline(t) - t.claim_period + r.min_claim)
        if self.pauses:
            start = self.pauses[-1][0]
            assert start is not None
            marks.append(start + self.W.max_pause)
            last = self.last_pause_end()
            if last is not None:
                marks.append(last + self.W.max_pause)
        marks += [op.ready for op in self.ops if not op.done]
        return [m for m in marks if m >= self.now]

    @rule(kind=st.integers(0, 4), i=st_i, d=st.integers(0, 1000))
    def jump(self, kind, i, d):
        if kind == 0:
            target = self.now + 1 + d % 120
        elif kind == 1:
            target = self.now + HOUR * (1 + d % 12)
        elif kind == 2:
            target = self.now + DAY * (1 + d % 8)
        else:  # onto a deadline, one second before, on it or after
            marks = self.boundaries(i)
            target = marks[d % len(marks)] + (d // 7) % 3 - 1 if marks else self.now + 1
        self.jump_to(target)

    def jump_to(self, target: int) -> None:
        if target > self.now:
            self.rpc("evm_mine", {"timestamp": target, "blocks": 1})
            self.now = target
            self.stats["jump"] += 1

    @rule(i=st_i, r=st.integers(0, 3))
    def advance(self, i, r):
        """Moves task i one stage along its lifecycle: random steps alone seldom line up the
        votes, waits and claims that take a task to the end."""
        # disputes first (they wait for the panel), then any task that can still move
        disputed = [k for k, p in self.props.items() if p.flags & FLAG_DISPUTED]
        tid = disputed[i % len(disputed)] if disputed and r < 2 else self.target(i, self.alive)
        self.stats["advance"] += 1
        self.forced = tid
        try:
            self._advance(tid, i, r)
        finally:
            self.forced = None

    # listed three times: hypothesis picks rules uniformly, and a lifecycle takes many steps
    advance_again = advance_once_more = advance

    def _advance(self, tid: int, i: int, r: int) -> None:
        w = self.W
        t, p = self.tasks.get(tid), self.prop(tid)
        if self.paused() and w.guardian in self.guardians:
            self.unpause(g=0)
        elif t is None:
            self.create(k=r % 3, budget=10**18 * (r + 1), share=60 + 10 * r, shape=i, bad=0)
        elif t.status == FUNDED:
            if not t.attested and self.now <= t.annotation and r:
                self.attest(i=i, j=r % 3, v=2)
            elif self.now <= t.reveal:
                self.jump_to(t.reveal + 1)
            elif p.flags & FLAG_DISPUTED:  # the panel agrees on a verdict
                for member in w.panel:
                    if not self.disputes[p.dispute_id].solved:
                        self.panel_vote(p.dispute_id, member, i % 4)
            elif p.ends and self.now < p.ends and r < 2:
                self.dispute(i=i, a=i % 2)
            elif p.ends and self.now < p.ends and r == 2:
                guardian = self.rulesets[t.rules_id].guardian
                self.veto(i=i, g=0 if guardian == w.guardian else 1)
            elif p.ends:
                if self.now < p.ends:
                    self.jump_to(p.ends)
                else:
                    self.finalize(i=i, a=0)
            elif not p.flags & FLAG_EVER_PENDING and self.now > t.reveal + t.timeout:
                self.refund(i=i)
            elif self.round_stuck(t, p):
                self.restart_round(i=i)
            elif r < 2 and self.rulesets[t.rules_id].live():
                self.vote_all(i=i, v=0)
            elif r == 2 and self.rulesets[t.rules_id].live():
                # split votes: every live oracle that has not voted picks its own payout
                rules = self.rulesets[t.rules_id]
                for slot, oracle in enumerate(rules.oracles):
                    if rules.live() >> slot & 1 and not p.voters >> slot & 1 and not p.ends:
                        self._vote(tid, oracle, t.candidates[slot], "propose(split)")
            elif self.now <= t.reveal + self.rulesets[t.rules_id].grace:
                self.jump_to(t.reveal + self.rulesets[t.rules_id].grace + 1)
            else:
                self.propose_bonded(i=i, a=r % 2, v=0)
        elif t.status == FINAL:
            assert t.payout is not None
            unclaimed = [a for a, _ in t.payout.leaves if a not in t.claimed_by]
            if unclaimed and not self.claim_period_over(t) and r == 1:
                self.claim_many(j=w.annotators.index(unclaimed[0]), i1=i, i2=0, bad=1)
            elif unclaimed and not self.claim_period_over(t) and r:
                self.claim(i=i, j=w.annotators.index(unclaimed[0]), bad=1)
            elif not self.claim_period_over(t):
                self.jump_to(self.claim_deadline(t) + 1)
            else:
                self.refund(i=i)
        else:
            self.refund(i=i)

    # -------------------------------------------------------------------- invariants
    @invariant()
    def chain_matches_model(self):
        Machine.checks += 1
        w = self.W
        calls: list[tuple[Contract, str, tuple[Any, ...]]] = [
            (w.escrow, "paused", ()),
            (w.escrow, "pausedTime", ()),
            (w.committee, "rulesCount", ()),
            (w.arbitrator, "disputeCount", ()),
        ]
        calls += [(w.committee, "stake", (c.address,)) for c in w.bond_tokens]
        pairs = [(c, a) for c in w.tokens for a in w.tracked]
        calls += [(c, "balanceOf", (a,)) for c, a in pairs]
        per_task = 5 + len(w.annotators)
        for tid in self.tasks:
            calls += [
                (w.escrow, "task", (tid,)),
                (w.committee, "pending", (tid,)),
                (w.escrow, "claimDeadline", (tid,)),
                (w.registry, "window", (tid,)),
                (w.registry, "hasAttestations", (tid,)),
            ]
            calls += [(w.escrow, "isClaimed", (tid, a)) for a in w.annotators]
        got = self.views(calls)
        paused, paused_time, rules_count, dispute_count, *rest = got
        assert paused == self.paused()
        assert paused_time == self.paused_time(self.now)
        assert rules_count == max(self.rulesets)
        assert dispute_count == len(self.disputes)
        stakes, rest = rest[:2], rest[2:]
        for c, s in zip(w.bond_tokens, stakes, strict=True):
            assert s == self.stake[c.address], ("stake", c.name)
        balances, rest = rest[: len(pairs)], rest[len(pairs) :]
        onchain = {(c.address, a): v for (c, a), v in zip(pairs, balances, strict=True)}
        for pair, value in onchain.items():
            assert value == self.bal.get(pair, 0), ("balance", pair, value, self.bal.get(pair))

        owed: Counter[str] = Counter()
        locked: Counter[str] = Counter()
        for n, (tid, t) in enumerate(self.tasks.items()):
            raw, pending, deadline, window, has_att, *bits = rest[n * per_task : (n + 1) * per_task]
            c = dict(zip(TASK_FIELDS, raw, strict=True))
            self.check_task(t, c, pending, deadline)
            assert tuple(window) == (t.annotation, t.open)
            assert has_att == t.attested
            for a, bit in zip(w.annotators, bits, strict=True):
                assert bit == (a in t.claimed_by), ("claim bit", tid, a)
                assert not bit or t.status == FINAL
            owed[t.token] += c["budget"] - c["claimed"] - c["refunded"]
            bond_token = self.rulesets[t.rules_id].bond_token
            locked[bond_token] += pending[8] + pending[10]  # bond + disputeBond
            if pending[2] != 0 or pending[5] & FLAG_DISPUTED:
                # a locked bond can still come out: by finalize, or a refund ruling
                status = Status(c["status"]).name
                assert c["status"] == FUNDED, f"task {tid}: bond locked behind a {status} task"
        for token in w.tokens:
            held = onchain[(token.address, w.escrow.address)]
            assert held >= owed[token.address], ("escrow short", token.name, held, owed)
        for token, s in zip(w.bond_tokens, stakes, strict=True):
            held = onchain[(token.address, w.committee.address)]
            assert held == s + locked[token.address], ("bonds not conserved", token.name, held, s)

    def check_task(self, t: Task, c: dict[str, Any], pending: tuple[Any, ...], deadline: int):
        tid = t.tid
        assert c["status"] == t.status, (tid, c["status"], t.status)
        assert (c["budget"], c["claimed"], c["refunded"]) == (t.budget, t.claimed, t.refunded)
        assert c["claimed"] + c["refunded"] <= c["budget"]
        assert c["claimed"] <= c["payoutTotal"] <= c["budget"]
        assert (c["annotationDeadline"], c["revealDeadline"]) == (t.annotation, t.reveal)
        assert c["rulesId"] == t.rules_id
        floor = self.rulesets[t.rules_id].min_claim
        assert c["claimPeriod"] >= floor
        if t.status == FINAL:
            assert t.payout is not None
            assert bytes(c["payoutRoot"]) == t.payout.root  # never changes once Final
            assert c["payoutTotal"] == t.payout.total
            if t.closed:
                assert deadline == 0 and c["claimBase"] == 0
            else:
                assert deadline == self.claim_deadline(t)
                paused_since = self.paused_time(self.now) - self.paused_time(t.final_at)
                assert deadline - t.final_at - paused_since >= floor
        else:
            assert bytes(c["payoutRoot"]) == ZERO32 and c["payoutTotal"] == 0
            assert c["claimed"] == 0 and deadline == 0  # no claim before Final
        p = self.prop(tid)
        assert pending[2:6] == (p.ends, p.round, p.voters, p.flags), (tid, pending, p)
        assert pending[7:12] == (
            p.proposer, p.bond, p.disputer, p.dispute_bond, p.dispute_id,
        )  # fmt: skip
        if p.payout is not None:
            assert (bytes(pending[0]), pending[1]) == (p.payout.root, p.payout.total)
        # after the first proposal, no refund beyond the unallocated part (the unclaimed part
        # once the claim period is over), unless the arbitrator ruled a refund
        if pending[5] & FLAG_EVER_PENDING and not t.refund_ruled:
            if t.status == FINAL:
                over = self.unpaused_since(t) > t.claim_period
                cap = c["budget"] - (c["claimed"] if over else c["payoutTotal"])
                assert c["refunded"] <= cap, (tid, c["refunded"], cap)
            else:
                assert c["refunded"] == 0, (
                    f"task {tid}: {Status(c['status']).name} with {c['refunded']} refunded "
                    "after a proposal was pending, without a refund ruling"
                )


def _view(rpc: Rpc, c: Contract, fn: str, *args: Any) -> Any:
    ok, data = rpc.call({"to": c.address, "data": c.data(fn, *args)})
    assert ok, (c.name, fn, args)
    return c.decode(fn, data)


# ------------------------------------------------------------------------------------------
# the deployed world
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(accounts):
    from labelproof.chain import Sender
    from labelproof.deploy import DeployConfig, SettlementConfig, deploy_suite

    a = [x.address.lower() for x in accounts]
    admin, guardian, oracles, requester = a[0], a[1], a[2:5], a[5]
    annotators, actors, panel, guardian2 = a[6:9], a[9:11], a[11:14], a[14]
    w3 = brownie.network.web3
    sender = Sender(w3, accounts[0].address)
    cfg = DeployConfig(
        admin=admin,
        guardian=guardian,
        oracles=tuple(oracles),
        threshold=2,
        settlement=SettlementConfig(panel=tuple(panel), quorum=2),
    )
    dep = deploy_suite(w3, sender, cfg)
    mock = sender.deploy("MockERC20", "Mock Token", "MOCK", 18).address
    usd = sender.deploy("MockERC20", "Mock USD", "mUSD", 6).address
    rpc = Rpc(w3.provider.endpoint_uri)
    w = World(
        rpc=rpc,
        escrow=Contract("TaskEscrow", dep.escrow),
        registry=Contract("AttestationRegistry", dep.registry),
        committee=Contract("OracleCommittee", dep.committee),
        arbitrator=Contract("LocalArbitrator", dep.arbitrator),
        timelock=Contract("LabelproofTimelock", dep.timelock),
        reward=Contract("RewardToken", dep.reward_token),
        mock=Contract("MockERC20", mock),
        usd=Contract("MockERC20", usd),
        admin=admin,
        guardian=guardian,
        guardian2=guardian2,
        oracles=oracles,
        requester=requester,
        annotators=annotators,
        actors=actors,
        panel=panel,
        quorum=2,
        min_delay=dep.settlement["timelock_delay"],
        max_pause=dep.settlement["max_pause"],
        rules1=NO_RULES,
    )
    w.rules1 = Rules(*_norm(_view(rpc, w.committee, "rules", 1)))

    def send(who, c, fn, *args):
        receipt = rpc.send({"from": who, "to": c.address, "data": c.data(fn, *args)})
        assert receipt["status"] == "0x1", (c.name, fn)

    for c in (w.mock, w.usd):
        for who in (requester, *actors):
            send(admin, c, "mint", who, 10**30)
    send(admin, w.reward, "mint", requester, 5 * 10**26)
    for who in actors:
        send(admin, w.reward, "mint", who, 10**26)
    for c in w.tokens:
        send(requester, c, "approve", w.escrow.address, MAX_UINT)
    for c in w.bond_tokens:
        for who in actors:
            send(who, c, "approve", w.committee.address, MAX_UINT)
    send(actors[0], w.committee, "fundStake", w.reward.address, 250 * 10**18)

    # time moves only when the machine moves it: every block has the previous one's timestamp
    rpc("anvil_setBlockTimestampInterval", 0)
    rpc("evm_mine")
    w.start = int(rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    for c in w.tokens:
        for who in w.tracked:
            w.balances[(c.address, who)] = _view(rpc, c, "balanceOf", who)
    for c in w.bond_tokens:
        w.stake[c.address] = _view(rpc, w.committee, "stake", c.address)
    yield w
    rpc("anvil_removeBlockTimestampInterval")


def _run(examples: int, steps: int, seed: int | None) -> None:
    """`examples` runs of the machine: from `seed`, or from the test's fixed seed if None."""
    # brownie's own state_machine wrapper fails in the compiled brownie 1.22.2 (a type check on
    # its internal class), so this drives hypothesis directly; each run reverts to the snapshot.
    # hypothesis's pytest option --hypothesis-seed sets the same module global.
    debug = bool(os.environ.get("LABELPROOF_FUZZ_DEBUG"))
    hypothesis.core.global_force_seed = seed  # type: ignore[assignment]
    try:
        run_state_machine_as_test(
            Machine,
            settings=settings(
                max_examples=examples,
                stateful_step_count=steps,
                deadline=None,
                database=None,
                derandomize=seed is None,
                suppress_health_check=list(HealthCheck),
                verbosity=Verbosity.debug if debug else Verbosity.normal,
            ),
        )
    finally:
        hypothesis.core.global_force_seed = None


def _bind(world: World) -> None:
    """Every run of the machine starts from the chain as it is now. The snapshot is taken here,
    after brownie's own for the test: reverting to an older one would drop brownie's."""
    world.snapshot = world.rpc("evm_snapshot")
    Machine.W = world


@pytest.mark.slow
def test_settlement_state_machine(world):
    _bind(world)
    Machine.runs = Machine.checks = 0
    Machine.stats = Counter()
    started = time.perf_counter()
    if FUZZ_STEPS:
        # fresh seeds until the steps are done (hypothesis starts every run with a few short
        # examples, so runs are counted in steps, not examples)
        target, steps = FUZZ_STEPS, FUZZ_STEPS_PER_EXAMPLE
        seed = int(os.environ.get("LABELPROOF_FUZZ_SEED") or random.randrange(2**32))
        print(f"stateful: seed {seed} (LABELPROOF_FUZZ_SEED={seed} replays this run)")
        while Machine.checks - Machine.runs < target:  # the seeds after it, till enough steps
            remaining = target - (Machine.checks - Machine.runs)
            _run(-(-remaining // steps) + 10, steps, seed)
            seed += 1
    else:
        target, steps = MIN_STEPS, STEPS
        _run(EXAMPLES, STEPS, None)
    elapsed = time.perf_counter() - started
    stats, done = Machine.stats, Machine.checks - Machine.runs
    print(
        f"\nstateful: {done} steps in {elapsed:.0f} s ({done / elapsed:.0f}/s), "
        f"{Machine.runs} examples of up to {steps}"
    )
    for key in sorted(stats):
        print(f"  {key:55} {stats[key]}")
    # the runs really went that deep: every kind of outcome the brief names happened
    assert done >= target, f"{done} steps, {target} wanted"
    for needed in (
        "createTask:ok", "attest:ok", "cancelTask:ok", "propose:ok", "propose(all):ok",
        "proposeBonded:ok", "restartRound:ok", "veto:ok", "dispute:ok", "verdict 0",
        "verdict 1", "verdict 2", "verdict 3", "finalize:ok", "claim:ok", "claimMany:ok",
        "refund(UNALLOCATED):ok", "refund(UNCLAIMED):ok", "refund(ORACLE_TIMEOUT):ok",
        "pause:ok", "unpause:ok", "claim:EnforcedPause", "claim:ClaimPeriodOver",
        "execute(publishRules):ok", "execute(revokeOracle):ok", "schedule(publishRules):ok",
        "execute(publishRules):InvalidRules", "fundStake:ok",
    ):  # fmt: skip
        assert stats[needed] > 0, f"no {needed} in {done} steps"
