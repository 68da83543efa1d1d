"""Governance through the timelock: schedule, execute, cancel and list operations.

The timelock (OpenZeppelin TimelockController) owns the committee and administers the escrow,
so every change waits out its delay in public before it applies (and only to tasks created
afterwards). The admin schedules; anyone executes once the delay is over.

Operations (one call each, predecessor 0, a deterministic salt so the same operation always
has the same id, ``hashOperation(target, 0, data, 0, salt)``):

* ``publish-rules``: ``committee.publishRules(rules)`` from a YAML file (fields not given are
  copied from the current rule set);
* ``revoke-oracle``: ``committee.revokeOracle(rulesId, oracle)``;
* ``grant-guardian`` / ``revoke-guardian``: the escrow's ``GUARDIAN_ROLE`` (pause);
* ``withdraw-stake``: ``committee.withdrawStake(token, to, amount)``.

Before scheduling, the call is simulated from the timelock's address, so an operation that
could not execute (invalid rules, an oracle that is not in the rule set, more stake than there
is) is refused up front. Operations are found again from the timelock's ``CallScheduled`` and
``CallSalt`` events, so ``execute`` and ``cancel`` need only the operation id (or a prefix).

Functions for scripts: :func:`load_rules_file`, :func:`publish_rules_op`,
:func:`revoke_oracle_op`, :func:`guardian_op`, :func:`withdraw_stake_op`, :func:`schedule`,
:func:`operations`, :func:`find_operation`, :func:`execute`, :func:`cancel`,
:func:`rule_set`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import yaml
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, keccak, to_checksum_address
from hexbytes import HexBytes
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError

from labelproof.chain import contract_at
from labelproof.client import ActionError, Chain, format_amount, parse_amount, parse_duration
from labelproof.sending import revert_reason, send, span_words, tx_hash, when
from labelproof.settlement import RULES_FIELDS, ZERO32, ZERO_ADDRESS, rules_dict

SALT_DOMAIN = "labelproof-governance/1"
LOG_CHUNK = 5_000


def _quiet(_: str) -> None:
    """A progress callback that shows nothing."""


Say = Callable[[str], None]


class OperationState(IntEnum):
    """TimelockController.OperationState."""

    UNSET = 0
    WAITING = 1
    READY = 2
    DONE = 3


STATE_WORDS = {
    OperationState.UNSET: "cancelled",
    OperationState.WAITING: "waiting",
    OperationState.READY: "ready",
    OperationState.DONE: "done",
}


def timelock(chain: Chain) -> Contract:
    address = chain.deployment.timelock
    if int(address, 16) == 0:
        raise ActionError("this deployment has no timelock (deployed before settlement v2)")
    return contract_at(chain.w3, "LabelproofTimelock", address)


def salt_for(nonce: int = 0) -> str:
    """The deterministic salt: the same operation and nonce always give the same id."""
    return "0x" + bytes(keccak(abi_encode(["string", "uint256"], [SALT_DOMAIN, nonce]))).hex()


def operation_id(target: str, value: int, data: str, predecessor: str, salt_hex: str) -> str:
    """TimelockController.hashOperation, computed locally."""
    encoded = abi_encode(
        ["address", "uint256", "bytes", "bytes32", "bytes32"],
        [target, value, HexBytes(data), HexBytes(predecessor), HexBytes(salt_hex)],
    )
    return "0x" + bytes(keccak(encoded)).hex()


@dataclass(frozen=True)
class Operation:
    """One timelocked call."""

    kind: str  # publish-rules, revoke-oracle, grant-guardian, revoke-guardian, withdraw-stake
    target: str
    data: str  # 0x calldata
    summary: list[str]  # what it does, for people
    salt: str = field(default_factory=salt_for)
    value: int = 0
    predecessor: str = ZERO32

    @property
    def id(self) -> str:
        return operation_id(self.target, self.value, self.data, self.predecessor, self.salt)

    def with_nonce(self, nonce: int) -> Operation:
        return Operation(self.kind, self.target, self.data, self.summary, salt_for(nonce))


def _calldata(fn: Any) -> str:
    return str(HexBytes(fn._encode_transaction_data()).to_0x_hex())


# --------------------------------------------------------------------------------------------
# rule sets
# --------------------------------------------------------------------------------------------

_RULE_KEYS = {
    "oracles": "oracles",
    "threshold": "threshold",
    "guardian": "guardian",
    "arbitrator": "arbitrator",
    "bond_token": "bondToken",
    "proposer_bond": "proposerBond",
    "dispute_bond": "disputeBond",
    "burn_bps": "burnBps",
    "min_challenge_period": "minChallengePeriod",
    "min_claim_period": "minClaimPeriod",
    "min_proposal_window": "minProposalWindow",
    "committee_grace": "committeeGrace",
}
_PERIODS = ("minChallengePeriod", "minClaimPeriod", "minProposalWindow", "committeeGrace")
_BONDS = ("proposerBond", "disputeBond")


def rule_set(chain: Chain, rules_id: int | None = None) -> tuple[int, dict[str, Any]]:
    """(id, rules) of a published rule set (the current one by default), with ``revoked``: the
    oracles revoked in it."""
    count = int(chain.committee.functions.rulesCount().call())
    rid = count if rules_id is None else rules_id
    if not 1 <= rid <= count:
        raise ActionError(f"rule set {rid} does not exist (the committee has 1 to {count})")
    r = rules_dict(chain.committee.functions.rules(rid).call())
    r["oracles"] = [to_checksum_address(o) for o in r["oracles"]]
    for key in ("guardian", "arbitrator", "bondToken"):
        r[key] = to_checksum_address(r[key])
    for key in RULES_FIELDS:
        if key not in ("oracles", "guardian", "arbitrator", "bondToken"):
            r[key] = int(r[key])
    r["revoked"] = [o for o in r["oracles"] if chain.committee.functions.isRevoked(rid, o).call()]
    return rid, r


def describe_rules(chain: Chain, r: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, value) rows of a rule set, amounts in the bond token's units."""
    try:
        symbol, decimals = chain.token_info(r["bondToken"])
    except ActionError:
        symbol, decimals = "units", 0
    revoked = set(r.get("revoked", []))
    oracles = ", ".join(o + (" (revoked)" if o in revoked else "") for o in r["oracles"])
    guardian = r["guardian"] if int(r["guardian"], 16) else "none"
    return [
        ("oracles", oracles),
        ("threshold", f"{r['threshold']} of {len(r['oracles'])}"),
        ("guardian", guardian),
        ("arbitrator", r["arbitrator"]),
        ("bond token", f"{symbol} {r['bondToken']}"),
        ("proposer bond", f"{format_amount(r['proposerBond'], decimals)} {symbol}"),
        ("dispute bond", f"{format_amount(r['disputeBond'], decimals)} {symbol}"),
        ("burned", f"{r['burnBps'] / 100:g}% of a losing bond"),
        ("min challenge period", span_words(r["minChallengePeriod"])),
        ("min claim period", span_words(r["minClaimPeriod"])),
        ("min proposal window", span_words(r["minProposalWindow"])),
        ("committee grace", span_words(r["committeeGrace"])),
    ]


def load_rules_file(chain: Chain, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(new rules, current rules): the YAML's fields over the current rule set, checked as
    the committee checks them. Keys are snake_case (bond_token) or the struct's (bondToken);
    periods in seconds or as 3600 / 30m / 12h / 3d; bonds in the token's smallest unit, or
    as a string with the token's symbol ("100 LPR")."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ActionError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ActionError(f"{path}: not YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ActionError(f"{path}: expected a mapping of rule fields")
    by_name = {**_RULE_KEYS, **{v: v for v in _RULE_KEYS.values()}}
    unknown = sorted(str(k) for k in data if k not in by_name)
    if unknown:
        raise ActionError(f"{path}: unknown fields {unknown} (known: {', '.join(_RULE_KEYS)})")
    _, current = rule_set(chain)
    current.pop("revoked", None)
    new = dict(current)
    for key, value in data.items():
        new[by_name[key]] = value
    rules = _check_rules(chain, new, str(path))
    return rules, current


def _address(value: Any, where: str, *, zero_ok: bool = False) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**160:
        value = f"0x{value:040x}"  # YAML reads an unquoted 0x... address as an integer
    if value is None and zero_ok:
        return ZERO_ADDRESS
    if not isinstance(value, str) or not is_address(value):
        raise ActionError(f"{where} {value!r} is not an address")
    return to_checksum_address(value)


def _uint(value: Any, where: str, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**bits:
        raise ActionError(f"{where} must be a whole number from 0 to 2^{bits} - 1, got {value!r}")
    return value


def _check_rules(chain: Chain, r: dict[str, Any], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    oracles = r["oracles"]
    if not isinstance(oracles, list) or not 1 <= len(oracles) <= 32:
        raise ActionError(f"{source}: oracles must be a list of 1 to 32 addresses")
    out["oracles"] = [_address(o, f"{source}: oracle") for o in oracles]
    if len(set(out["oracles"])) != len(out["oracles"]):
        raise ActionError(f"{source}: oracles contain duplicates")
    if ZERO_ADDRESS in out["oracles"]:
        raise ActionError(f"{source}: an oracle is the zero address")
    out["threshold"] = _uint(r["threshold"], f"{source}: threshold", 8)
    if not 1 <= out["threshold"] <= len(out["oracles"]):
        raise ActionError(
            f"{source}: threshold {out['threshold']} must be between 1 and the "
            f"{len(out['oracles'])} oracles"
        )
    out["guardian"] = _address(r["guardian"], f"{source}: guardian", zero_ok=True)
    if out["guardian"] in out["oracles"]:
        raise ActionError(
            f"{source}: guardian {out['guardian']} is also an oracle; the veto exists to check "
            "the oracles"
        )
    for key in ("arbitrator", "bondToken"):
        out[key] = _address(r[key], f"{source}: {key}")
        if out[key] == ZERO_ADDRESS or not chain.w3.eth.get_code(out[key]):
            raise ActionError(f"{source}: {key} {out[key]} is not a contract on this chain")
    symbol, decimals = chain.token_info(out["bondToken"])
    for key in _BONDS:
        value = r[key]
        if isinstance(value, str):
            amount, _, unit = value.strip().partition(" ")
            if unit.strip() != symbol:
                raise ActionError(
                    f"{source}: {key} {value!r}: give the smallest unit as a number, or an "
                    f"amount with the bond token's symbol ('100 {symbol}')"
                )
            value = parse_amount(amount, decimals, f"{source}: {key}")
        out[key] = _uint(value, f"{source}: {key}", 96)
    out["burnBps"] = _uint(r["burnBps"], f"{source}: burnBps", 16)
    if out["burnBps"] > 10_000:
        raise ActionError(f"{source}: burnBps must be at most 10000 (100%)")
    for key in _PERIODS:
        value = r[key]
        if isinstance(value, str):
            value = parse_duration(value, f"{source}: {key}")
        out[key] = _uint(value, f"{source}: {key}", 32)
    for key in ("minChallengePeriod", "minClaimPeriod"):
        if out[key] == 0:
            raise ActionError(f"{source}: {key} must be positive")
    if out["committeeGrace"] >= out["minProposalWindow"]:
        raise ActionError(
            f"{source}: committeeGrace must be shorter than minProposalWindow, so that bonded "
            "proposals can come in before the oracle deadline"
        )
    return out


def _rules_tuple(r: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(r[key] for key in RULES_FIELDS)


def publish_rules_op(chain: Chain, path: Path) -> Operation:
    new, current = load_rules_file(chain, path)
    count = int(chain.committee.functions.rulesCount().call())
    changed = [key for key in RULES_FIELDS if new[key] != current[key]]
    if not changed:
        raise ActionError(f"{path}: the rule set is the same as the current rule set {count}")
    old_rows = dict(describe_rules(chain, current))
    new_rows = describe_rules(chain, new)
    summary = [f"publish rule set {count + 1} (for tasks created after it applies):"]
    for name, value in new_rows:
        before = old_rows.get(name)
        mark = f"   (was {before})" if before != value else ""
        summary.append(f"  {name:<21} {value}{mark}")
    fn = chain.committee.functions.publishRules(_rules_tuple(new))
    return Operation("publish-rules", chain.committee.address, _calldata(fn), summary)


def revoke_oracle_op(chain: Chain, rules_id: int, oracle: str) -> Operation:
    rid, r = rule_set(chain, rules_id)
    oracle = _address(oracle, "oracle")
    if oracle not in r["oracles"]:
        raise ActionError(
            f"{oracle} is not an oracle of rule set {rid} ({', '.join(r['oracles'])})"
        )
    if oracle in r["revoked"]:
        raise ActionError(f"{oracle} is already revoked in rule set {rid}")
    live = len(r["oracles"]) - len(r["revoked"]) - 1
    summary = [
        f"revoke oracle {oracle} in rule set {rid}: its votes stop counting in that rule set's "
        f"tasks ({live} live oracles left, threshold {r['threshold']})"
    ]
    fn = chain.committee.functions.revokeOracle(rid, oracle)
    return Operation("revoke-oracle", chain.committee.address, _calldata(fn), summary)


def guardian_op(chain: Chain, account: str, *, grant: bool) -> Operation:
    account = _address(account, "guardian")
    role = bytes(chain.escrow.functions.GUARDIAN_ROLE().call())
    has = bool(chain.escrow.functions.hasRole(role, account).call())
    if grant and has:
        raise ActionError(f"{account} already holds the escrow's GUARDIAN_ROLE")
    if not grant and not has:
        raise ActionError(f"{account} does not hold the escrow's GUARDIAN_ROLE")
    if grant:
        fn = chain.escrow.functions.grantRole(role, account)
        summary = [f"grant the escrow's GUARDIAN_ROLE (pause) to {account}"]
    else:
        fn = chain.escrow.functions.revokeRole(role, account)
        summary = [f"revoke the escrow's GUARDIAN_ROLE (pause) from {account}"]
    kind = "grant-guardian" if grant else "revoke-guardian"
    return Operation(kind, chain.escrow.address, _calldata(fn), summary)


def withdraw_stake_op(chain: Chain, amount: int, to: str, token: str | None = None) -> Operation:
    token = _address(token or chain.deployment.bond_token, "token")
    to = _address(to, "--to")
    symbol, decimals = chain.token_info(token)
    available = int(chain.committee.functions.stake(token).call())
    if amount <= 0:
        raise ActionError("the amount must be positive")
    if amount > available:
        raise ActionError(
            f"the committee's unlocked stake is {format_amount(available, decimals)} {symbol}, "
            f"less than {format_amount(amount, decimals)} {symbol}"
        )
    summary = [
        f"withdraw {format_amount(amount, decimals)} {symbol} of the committee's stake to {to} "
        f"(unlocked now: {format_amount(available, decimals)} {symbol})"
    ]
    fn = chain.committee.functions.withdrawStake(token, to, amount)
    return Operation("withdraw-stake", chain.committee.address, _calldata(fn), summary)


# --------------------------------------------------------------------------------------------
# scheduling and executing
# --------------------------------------------------------------------------------------------


def state_of(chain: Chain, op_id: str) -> tuple[OperationState, int]:
    """(state, ETA timestamp; 0 unset, 1 done)."""
    tl = timelock(chain)
    raw = HexBytes(op_id)
    return (
        OperationState(int(tl.functions.getOperationState(raw).call())),
        int(tl.functions.getTimestamp(raw).call()),
    )


def check_inner_call(chain: Chain, op: Operation) -> None:
    """Simulate the operation's call as the timelock would make it, now."""
    call: dict[str, Any] = {
        "from": timelock(chain).address,
        "to": op.target,
        "data": op.data,
        "value": op.value,
    }
    try:
        chain.w3.eth.call(call)  # type: ignore[arg-type]
    except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
        raise ActionError(
            f"{op.kind} would fail if executed now: {revert_reason(exc)}; not scheduled"
        ) from None


@dataclass(frozen=True)
class Scheduled:
    id: str
    eta: int
    delay: int
    tx: str


def check_schedulable(chain: Chain, proposer: str, op: Operation, nonce: int) -> int:
    """Refuse what schedule would refuse; returns the timelock's minimum delay."""
    tl = timelock(chain)
    role = bytes(tl.functions.PROPOSER_ROLE().call())
    if not tl.functions.hasRole(role, proposer).call():
        raise ActionError(
            f"{proposer} cannot schedule: only the timelock's proposers can (the deployment's "
            f"admin is {chain.deployment.admin})"
        )
    state, eta = state_of(chain, op.id)
    now = chain.now()
    if state == OperationState.DONE:
        raise ActionError(
            f"operation {op.id} was already executed; to do the same again give --nonce {nonce + 1}"
        )
    if state in (OperationState.WAITING, OperationState.READY):
        raise ActionError(f"operation {op.id} is already scheduled, for {when(eta, now)}")
    check_inner_call(chain, op)
    return int(tl.functions.getMinDelay().call())


def schedule(
    chain: Chain,
    account: LocalAccount,
    op: Operation,
    *,
    delay: int | None = None,
    nonce: int = 0,
    say: Say = _quiet,
) -> Scheduled:
    """timelock.schedule(target, 0, data, 0, salt, delay) with the minimum delay by default."""
    tl = timelock(chain)
    min_delay = check_schedulable(chain, account.address, op, nonce)
    delay = min_delay if delay is None else delay
    if delay < min_delay:
        raise ActionError(
            f"--delay {delay} s is shorter than the timelock's minimum of {span_words(min_delay)}"
        )
    on_chain = (
        "0x"
        + bytes(
            tl.functions.hashOperation(
                op.target, op.value, HexBytes(op.data), HexBytes(op.predecessor), HexBytes(op.salt)
            ).call()
        ).hex()
    )
    if on_chain != op.id:
        raise ActionError(f"the timelock hashes the operation to {on_chain}, not {op.id}")
    say(f"scheduling {op.kind}")
    fn = tl.functions.schedule(
        op.target,
        op.value,
        HexBytes(op.data),
        HexBytes(op.predecessor),
        HexBytes(op.salt),
        delay,
    )
    receipt = send(chain, account, fn, "schedule")
    _, eta = state_of(chain, op.id)
    return Scheduled(id=op.id, eta=eta, delay=delay, tx=tx_hash(receipt))


@dataclass(frozen=True)
class ScheduledOp:
    """An operation found in the timelock's events."""

    id: str
    target: str
    value: int
    data: str
    predecessor: str
    salt: str
    delay: int
    block: int
    tx: str
    state: OperationState
    eta: int
    description: str


def operations(chain: Chain, say: Say = _quiet) -> list[ScheduledOp]:
    """Every operation ever scheduled (single calls), oldest first, with its state now."""
    tl = timelock(chain)
    head = int(chain.w3.eth.block_number)
    start = max(0, int(chain.deployment.block) - 1)
    scheduled: list[Any] = []
    salts: dict[str, str] = {}
    scheduled_event, salt_event = tl.events.CallScheduled(), tl.events.CallSalt()
    by_topic = {bytes(HexBytes(e.topic)): e for e in (scheduled_event, salt_event)}
    while start <= head:
        end = min(head, start + LOG_CHUNK - 1)
        say(f"reading timelock events, blocks {start} to {end}")
        # one adaptive scan (labelproof.logs) for both events
        for raw in chain.log_reader.get_logs([tl.address], start, end):
            event = by_topic.get(bytes(HexBytes(raw["topics"][0]))) if raw["topics"] else None
            if event is scheduled_event:
                scheduled.append(event.process_log(raw))
            elif event is salt_event:
                log = event.process_log(raw)
                salts["0x" + bytes(log["args"]["id"]).hex()] = (
                    "0x" + bytes(log["args"]["salt"]).hex()
                )
        start = end + 1
    out = []
    for log in scheduled:
        args = log["args"]
        op_id = "0x" + bytes(args["id"]).hex()
        if int(args["index"]) != 0:
            continue  # batches are not made by this tool; their first call stands for them
        state, eta = state_of(chain, op_id)
        data = "0x" + bytes(args["data"]).hex()
        target = to_checksum_address(args["target"])
        out.append(
            ScheduledOp(
                id=op_id,
                target=target,
                value=int(args["value"]),
                data=data,
                predecessor="0x" + bytes(args["predecessor"]).hex(),
                salt=salts.get(op_id, ZERO32),
                delay=int(args["delay"]),
                block=int(log["blockNumber"]),
                tx="0x" + bytes(log["transactionHash"]).hex(),
                state=state,
                eta=eta,
                description=describe_call(chain, target, data),
            )
        )
    # an id scheduled again after a cancel appears twice: keep its latest scheduling
    latest = {op.id: op for op in out}
    return sorted(latest.values(), key=lambda op: op.block)


def describe_call(chain: Chain, target: str, data: str) -> str:
    """``publishRules(oracles=[...], ...)``: a timelocked call in words."""
    for contract, name in ((chain.committee, "committee"), (chain.escrow, "escrow")):
        if target != contract.address:
            continue
        try:
            fn, args = contract.decode_function_input(HexBytes(data))
        except Exception:
            break
        fname = fn.fn_name
        if fname == "publishRules":
            r = rules_dict(next(iter(args.values())))
            try:
                symbol, decimals = chain.token_info(to_checksum_address(r["bondToken"]))
            except ActionError:
                symbol, decimals = "units", 0
            bonds = "/".join(
                f"{format_amount(int(r[k]), decimals)} {symbol}"
                for k in ("proposerBond", "disputeBond")
            )
            return (
                f"committee.publishRules: {r['threshold']} of {len(r['oracles'])} oracles, bonds "
                f"{bonds} (proposer/dispute), challenge >= "
                f"{span_words(int(r['minChallengePeriod']))}, claim >= "
                f"{span_words(int(r['minClaimPeriod']))}"
            )
        if fname in ("grantRole", "revokeRole"):
            role = bytes(next(iter(args.values())))
            guardian = bytes(chain.escrow.functions.GUARDIAN_ROLE().call())
            who = to_checksum_address(list(args.values())[1])
            role_name = "GUARDIAN_ROLE" if role == guardian else "0x" + role.hex()
            return f"{name}.{fname}({role_name}, {who})"
        shown = ", ".join(
            f"{k}={to_checksum_address(v) if isinstance(v, str) and is_address(v) else v}"
            for k, v in args.items()
        )
        return f"{name}.{fname}({shown})"
    return f"call {data[:10]} on {target}"


def find_operation(chain: Chain, op_id: str, say: Say = _quiet) -> ScheduledOp:
    """The scheduled operation whose id is `op_id` or starts with it (at least 0x + 6)."""
    wanted = op_id.lower()
    if not wanted.startswith("0x"):
        wanted = "0x" + wanted
    if len(wanted) < 8:
        raise ActionError(f"operation id {op_id!r} is too short: give at least 6 hex digits")
    found = [op for op in operations(chain, say) if op.id.startswith(wanted)]
    if not found:
        raise ActionError(f"no operation {op_id} was ever scheduled on this timelock")
    if len(found) > 1:
        raise ActionError(f"{op_id} matches {len(found)} operations: give more of the id")
    return found[0]


def execute(
    chain: Chain, account: LocalAccount | str, op_id: str, say: Say = _quiet
) -> tuple[ScheduledOp, str]:
    """timelock.execute of a ready operation (anyone may); (operation, tx)."""
    op = find_operation(chain, op_id, say)
    now = chain.now()
    if op.state == OperationState.DONE:
        raise ActionError(f"operation {op.id} was already executed")
    if op.state == OperationState.UNSET:
        raise ActionError(f"operation {op.id} was cancelled: schedule it again")
    if op.state == OperationState.WAITING or op.eta > now:
        raise ActionError(
            f"operation {op.id} is not ready: it can be executed from {when(op.eta, now)}"
        )
    say(f"executing {op.description}")
    fn = timelock(chain).functions.execute(
        op.target, op.value, HexBytes(op.data), HexBytes(op.predecessor), HexBytes(op.salt)
    )
    receipt = send(chain, account, fn, "execute", value=op.value)
    return op, tx_hash(receipt)


def cancel(
    chain: Chain, account: LocalAccount, op_id: str, say: Say = _quiet
) -> tuple[ScheduledOp, str]:
    """timelock.cancel of a pending operation (the proposers may)."""
    tl = timelock(chain)
    op = find_operation(chain, op_id, say)
    if op.state not in (OperationState.WAITING, OperationState.READY):
        raise ActionError(f"operation {op.id} is {STATE_WORDS[op.state]}: nothing to cancel")
    role = bytes(tl.functions.CANCELLER_ROLE().call())
    if not tl.functions.hasRole(role, account.address).call():
        raise ActionError(f"{account.address} cannot cancel: only the timelock's proposers can")
    receipt = send(chain, account, tl.functions.cancel(HexBytes(op.id)), "cancel")
    return op, tx_hash(receipt)
