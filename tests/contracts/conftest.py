"""Helpers shared by the contract tests (on top of tests/conftest.py).

Reverts are always checked against the exact message brownie decodes from a custom error:
``"Name: arg1, arg2"`` where each argument is ``str()`` of its decoded value (addresses in lower
case, bytes32 as a Python bytes literal, ints in decimal, enums as their index). ``err`` builds
that string from natural Python values, ``reverts_with`` wraps it in ``brownie.reverts``.
"""

from __future__ import annotations

import gc
import sys
from types import SimpleNamespace

import brownie
import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_utils import keccak

DAY = 86_400
BUDGET = 1_000 * 10**18
ZERO32 = b"\x00" * 32


def _speed_up_brownie_rpc_guard() -> None:
    """brownie wraps every Rpc method (snapshot, revert, sleep, mine...) in a guard that calls
    ``inspect.stack()`` just to look at its caller's ``self``, and warn (a FutureWarning that
    pyproject.toml filters out anyway). ``inspect.stack()`` reads the source of every frame of
    pytest's deep stack: about 0.1 s per call, twice per test for fn_isolation alone. Give the
    guard the same two frames it looks at, without the source lookup. Behaviour (including the
    warning) is unchanged."""
    import importlib

    rpc_module = importlib.import_module("brownie.network.rpc")
    real = rpc_module.inspect
    if getattr(real, "_labelproof_fast", False):
        return

    class _Frame:
        __slots__ = ("frame",)

        def __init__(self, frame):
            self.frame = frame

    class _FastInspect:
        _labelproof_fast = True

        def __getattr__(self, name):
            return getattr(real, name)

        @staticmethod
        def stack(context: int = 1):
            # [0] the guard itself, [1] its caller, as inspect.stack() returns them
            return [_Frame(sys._getframe(1)), _Frame(sys._getframe(2))]

    rpc_module.inspect = _FastInspect()  # type: ignore[attr-defined]


_speed_up_brownie_rpc_guard()


@pytest.fixture(scope="module", autouse=True)
def _freeze_gc():
    """brownie runs a full ``gc.collect()`` on every snapshot revert (to drop dead weak
    references before notifying its registry); with brownie's ~150k long-lived objects that is
    ~0.15 s per test. Freezing what exists when a module starts (gc.freeze: those objects move
    to a permanent generation the collector skips) makes it ~0.02 s. Objects created by the
    tests are still collected normally."""
    gc.collect()
    gc.freeze()
    yield


ROLES = SimpleNamespace(
    ADMIN=ZERO32,  # DEFAULT_ADMIN_ROLE (escrow: the timelock; reward token: the admin)
    GUARDIAN=keccak(text="GUARDIAN_ROLE"),  # escrow pause
    MINTER=keccak(text="MINTER_ROLE"),
    # LabelproofTimelock (OZ TimelockController)
    PROPOSER=keccak(text="PROPOSER_ROLE"),
    EXECUTOR=keccak(text="EXECUTOR_ROLE"),
    CANCELLER=keccak(text="CANCELLER_ROLE"),
)
# ITaskEscrow.Status and ITaskEscrow.RefundKind
STATUS = SimpleNamespace(NONE=0, FUNDED=1, CANCELLED=2, FINAL=3, EXPIRED=4)
KIND = SimpleNamespace(CANCELLED=0, UNALLOCATED=1, UNCLAIMED=2, ORACLE_TIMEOUT=3, RULING=4)
# IOracleCommittee.Verdict (the arbitrator's rulings)
VERDICT = SimpleNamespace(REFUSED=0, PAYOUT_STANDS=1, PAYOUT_WRONG=2, REFUND_REQUESTER=3)
# IOracleCommittee.Proposal.flags
FLAGS = SimpleNamespace(EVER_PENDING=1, VETO_USED=2, DISPUTED=4)

REPORT = b"\x33" * 32  # default reportHash of the Tasks helpers
INPUTS = b"\x44" * 32  # default inputsHash of the Tasks helpers


# ------------------------------------------------------------------------------------------
# revert messages
# ------------------------------------------------------------------------------------------


def _fmt(value) -> str:
    """One error argument as brownie renders it (str() of the eth_abi-decoded value)."""
    if hasattr(value, "address"):  # brownie Account / Contract
        return value.address.lower()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.startswith("0x"):
        body = value[2:]
        if len(body) == 40:  # address
            return value.lower()
        return str(bytes.fromhex(body))  # fixed bytes given as hex
    if isinstance(value, (bytes, bytearray)):
        return str(bytes(value))
    return str(value)


def err(name: str, *args) -> str:
    return f"{name}: {', '.join(_fmt(a) for a in args)}"


def reverts_with(name: str, *args):
    return brownie.reverts(err(name, *args))  # type: ignore[attr-defined]


def reverts_ac(account, role: bytes):
    """OpenZeppelin AccessControl's AccessControlUnauthorizedAccount(account, role)."""
    return reverts_with("AccessControlUnauthorizedAccount", account, role)


@pytest.fixture(scope="session")
def ROLE():
    return ROLES


@pytest.fixture(scope="session")
def S():
    return STATUS


@pytest.fixture(scope="session")
def K():
    return KIND


@pytest.fixture(scope="session")
def V():
    return VERDICT


@pytest.fixture(scope="session", name="err")
def err_fixture():
    return err


@pytest.fixture(scope="session", name="reverts_with")
def reverts_with_fixture():
    return reverts_with


@pytest.fixture(scope="session", name="reverts_ac")
def reverts_ac_fixture():
    return reverts_ac


# ------------------------------------------------------------------------------------------
# time
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pin_time():
    """The next mined block (the next transaction) gets exactly this timestamp."""

    return _pin


def _pin(timestamp: int) -> None:
    response = brownie.web3.provider.make_request(
        "evm_setNextBlockTimestamp",  # type: ignore[arg-type]
        [int(timestamp)],
    )
    assert "error" not in response, response


@pytest.fixture(scope="session")
def warp(chain):
    """Mine an empty block at `timestamp`; later transactions come at or after it. Prefer this
    to ``chain.sleep(target - chain.time())``: brownie's clock can run a second ahead of
    anvil's, which lands such a sleep one second short of the target."""

    return lambda timestamp: _warp(chain, timestamp)


def _warp(chain, timestamp: int) -> None:
    if brownie.web3.eth.get_block("latest")["timestamp"] < timestamp:
        _pin(timestamp)
        chain.mine()  # also resyncs brownie's clock from the new block


def block_time(tx) -> int:
    return brownie.web3.eth.get_block(tx.block_number)["timestamp"]


@pytest.fixture(scope="session", name="block_time")
def block_time_fixture():
    return block_time


# ------------------------------------------------------------------------------------------
# accounts and signatures
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def as_contract():
    """A brownie account that sends transactions from a contract's address (anvil
    impersonation; gas is free on this network, base fee 0)."""

    def impersonate(contract):
        address = contract.address if hasattr(contract, "address") else contract
        return brownie.accounts.at(address, force=True)

    return impersonate


@pytest.fixture
def new_key(accounts):
    """A fresh eth-account key, funded with 1 ETH, usable as a brownie sender.

    Returns (brownie LocalAccount, private key bytes)."""

    def new():
        acct = Account.create()
        accounts[11].transfer(acct.address, 10**18)
        return brownie.accounts.add(acct.key), bytes(acct.key)

    return new


def permit_typed_data(
    token, owner, spender, value, nonce, deadline, *, chain_id=None, name=None, version="1"
):
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {
            "name": name if name is not None else token.name(),
            "version": version,
            "chainId": chain_id if chain_id is not None else brownie.chain.id,
            "verifyingContract": token.address,
        },
        "message": {
            "owner": str(owner),
            "spender": str(spender),
            "value": value,
            "nonce": nonce,
            "deadline": deadline,
        },
    }


def sign_permit(key, token, spender, value, deadline, *, nonce=None, **domain):
    """An ERC-2612 permit signed by `key` (real secp256k1 signature). Returns (v, r, s)."""
    owner = Account.from_key(key).address
    if nonce is None:
        nonce = token.nonces(owner)
    data = permit_typed_data(token, owner, spender, value, nonce, deadline, **domain)
    signed = Account.sign_message(encode_typed_data(full_message=data), key)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def typed_data_digest(data) -> bytes:
    return bytes(_hash_eip191_message(encode_typed_data(full_message=data)))


@pytest.fixture(scope="session")
def permit():
    return SimpleNamespace(sign=sign_permit, typed_data=permit_typed_data, digest=typed_data_digest)


# ------------------------------------------------------------------------------------------
# tasks
# ------------------------------------------------------------------------------------------


def params(
    chain,
    *,
    annotation=DAY,
    reveal=2 * DAY,
    challenge=DAY,
    claim=30 * DAY,
    timeout=7 * DAY,
    spec=b"\x01" * 32,
    gold=b"\x02" * 32,
    now=None,
):
    now = chain.time() if now is None else now
    return (spec, gold, now + annotation, now + reveal, challenge, claim, timeout)


def tree_of(payouts):
    from labelproof.merkle import payout_tree

    return payout_tree({(a.address if hasattr(a, "address") else a): v for a, v in payouts.items()})


def leaf(tree, account):
    """(amount, proof) of `account`'s leaf."""
    address = account.address if hasattr(account, "address") else account
    for i, value in tree.entries():
        if value[0].lower() == address.lower():
            return int(value[1]), tree.get_proof(i)
    raise KeyError(address)


class Tasks:
    """Task helpers bound to one suite (escrow, committee, its oracles)."""

    def __init__(self, chain, escrow, committee, oracles, token, requester):
        self.chain = chain
        self.escrow = escrow
        self.committee = committee
        self.oracles = oracles
        self.token = token
        self.requester = requester

    params = staticmethod(params)
    tree = staticmethod(tree_of)
    leaf = staticmethod(leaf)

    def create(self, budget=BUDGET, tok=None, sender=None, **kw):
        tok = tok or self.token
        sender = sender or self.requester
        tok.approve(self.escrow, budget, {"from": sender})
        tx = self.escrow.createTask(tok, budget, params(self.chain, **kw), {"from": sender})
        return tx.return_value

    def task(self, task_id):
        """The stored task as a dict keyed by field name (settlement.TASK_FIELDS)."""
        from labelproof.settlement import task_dict

        return task_dict(self.escrow.task(task_id))

    def rules(self, task_id):
        """The committee rule set the task was created under, as a dict (settlement.rules_dict)."""
        from labelproof.settlement import rules_dict

        return rules_dict(self.committee.rules(self.task(task_id)["rulesId"]))

    def threshold(self, task_id):
        return int(self.rules(task_id)["threshold"])

    def pending(self, task_id):
        """The committee's settlement state of the task (settlement.Proposal)."""
        from labelproof.settlement import Proposal

        return Proposal.from_raw(self.committee.pending(task_id))

    def past_reveal(self, task_id):
        t = self.task(task_id)
        _warp(self.chain, t["revealDeadline"] + 1)

    def propose(self, task_id, root, total, report=REPORT, inputs=INPUTS, voters=None):
        """Votes of `voters` (default: as many oracles as the task's rule-set threshold) past
        the reveal deadline; returns the last transaction."""
        self.past_reveal(task_id)
        voters = voters or self.oracles[: self.threshold(task_id)]
        tx = None
        for o in voters:
            tx = self.committee.propose(task_id, root, total, report, inputs, {"from": o})
        return tx

    def past_challenge(self, task_id):
        """Mine a block at the pending proposal's challengeEnds (finalize is allowed from it)."""
        _warp(self.chain, self.pending(task_id).challenge_ends)

    def finalize(self, task_id, payouts, total=None, report=REPORT, inputs=INPUTS, sender=None):
        """Propose (threshold oracles), wait out the challenge window and finalize.
        Returns (tree, finalize tx)."""
        tree = tree_of(payouts)
        total = sum(payouts.values()) if total is None else total
        self.propose(task_id, tree.root, total, report, inputs)
        self.past_challenge(task_id)
        tx = self.committee.finalize(task_id, {"from": sender or self.oracles[0]})
        return tree, tx

    def final(self, payouts, budget=BUDGET, tok=None, total=None, inputs=INPUTS, **kw):
        """A created and finalized task: (task id, tree)."""
        tid = self.create(budget, tok=tok, **kw)
        tree, _ = self.finalize(tid, payouts, total=total, inputs=inputs)
        return tid, tree


class Governance:
    """Changes through the LabelproofTimelock: the admin schedules, anyone executes after the
    delay. ``call(contract, "fn", *args)`` does both (warping past the delay) and returns the
    execute transaction; ``schedule`` alone returns (operation id, calldata, salt)."""

    def __init__(self, chain, timelock, proposer, executor):
        self.chain = chain
        self.timelock = timelock
        self.proposer = proposer
        self.executor = executor
        self._salt = 0

    def delay(self):
        return int(self.timelock.getMinDelay())

    def schedule(self, target, fn, *args, delay=None):
        data = getattr(target, fn).encode_input(*args)
        self._salt += 1
        salt = self._salt.to_bytes(32, "big")
        delay = self.delay() if delay is None else delay
        self.timelock.schedule(target, 0, data, ZERO32, salt, delay, {"from": self.proposer})
        op = self.timelock.hashOperation(target, 0, data, ZERO32, salt)
        return op, data, salt

    def execute(self, target, data, salt, sender=None):
        return self.timelock.execute(
            target, 0, data, ZERO32, salt, {"from": sender or self.executor}
        )

    def call(self, target, fn, *args, sender=None):
        op, data, salt = self.schedule(target, fn, *args)
        _warp(self.chain, int(self.timelock.getTimestamp(op)))
        return self.execute(target, data, salt, sender)


def _governance(chain, suite, admin, rando):
    return Governance(chain, suite.timelock, admin, rando)


@pytest.fixture(scope="module")
def gov(chain, suite, admin, rando):
    """Timelock governance of the 1-of-1 suite (see Governance)."""
    return _governance(chain, suite, admin, rando)


@pytest.fixture(scope="module")
def gov2of3(chain, suite2of3, admin, rando):
    """Timelock governance of the 2-of-3 suite."""
    return _governance(chain, suite2of3, admin, rando)


@pytest.fixture(scope="module")
def tasks(chain, escrow, committee, oracle, token, requester):
    """Task helpers on the 1-of-1 suite (module scoped, so module fixtures can build tasks
    once; each test still runs in its own snapshot)."""
    return Tasks(chain, escrow, committee, [oracle], token, requester)


@pytest.fixture(scope="module")
def tasks2of3(chain, suite2of3, oracles, token, requester):
    """Task helpers on the 2-of-3 suite."""
    return Tasks(chain, suite2of3.escrow, suite2of3.committee, oracles, token, requester)
