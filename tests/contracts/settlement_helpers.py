"""Helpers for the settlement v2 tests (disputes, bonds, the arbitrator panel, governance).

The shared fixtures (tests/conftest.py, tests/contracts/conftest.py) deploy suites whose
LocalArbitrator has a one-member panel; the dispute tests here want a k-of-m panel, so they
deploy their own suite through the same ``deploy_suite`` and bind the shared ``Tasks`` helper to
it (:func:`tasks_for`).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from eth_utils import keccak

from labelproof.settlement import Proposal

BURN = "0x000000000000000000000000000000000000dEaD"
ZERO_ADDRESS = "0x" + "00" * 20
ZERO32 = b"\x00" * 32
HOUR = 3_600
DAY = 86_400
BUDGET = 1_000 * 10**18
REPORT = b"\x33" * 32
INPUTS = b"\x44" * 32
# rule set 1 of labelproof.deploy (SettlementConfig defaults) on a local chain
PROPOSER_BOND = 100 * 10**18
DISPUTE_BOND = 100 * 10**18
BURN_BPS = 2_000
MIN_CHALLENGE = HOUR
MIN_CLAIM = DAY
MIN_PROPOSAL_WINDOW = DAY
COMMITTEE_GRACE = 12 * HOUR
MAX_PAUSE = 7 * DAY
TIMELOCK_DELAY = 60


def h(value: bytes) -> str:
    """bytes32 as brownie returns it from a call or an event: 0x-prefixed lower-case hex."""
    return "0x" + bytes(value).hex()


def selector(signature: str) -> str:
    """The 4-byte selector of an error or function signature, as brownie returns a bytes4."""
    return "0x" + keccak(text=signature)[:4].hex()


def burned(amount: int, bps: int = BURN_BPS) -> int:
    """The share of a losing bond the committee burns."""
    return amount * bps // 10_000


_CONFTEST_ALIAS = "labelproof_tests_contracts_conftest"


def _contracts_conftest() -> Any:
    """tests/contracts/conftest.py as pytest loaded it (it is not importable by package name:
    tests/contracts has no __init__.py). pytest imports it as the top-level module `conftest`,
    which a later directory's conftest (tests/python/) replaces in sys.modules when a worker
    collects both; then the file is loaded once more under its own alias."""
    path = (Path(__file__).parent / "conftest.py").resolve()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve() == path:
            return module
    spec = importlib.util.spec_from_file_location(_CONFTEST_ALIAS, path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_CONFTEST_ALIAS] = module
    spec.loader.exec_module(module)
    return module


def tasks_for(chain: Any, suite: Any, oracles: list[Any], token: Any, requester: Any) -> Any:
    """The shared Tasks helper bound to `suite`."""
    tasks_cls = _contracts_conftest().Tasks
    return tasks_cls(chain, suite.escrow, suite.committee, oracles, token, requester)


def governance_for(chain: Any, suite: Any, proposer: Any, executor: Any) -> Any:
    """The shared Governance helper (timelock schedule + execute) bound to `suite`."""
    return _contracts_conftest().Governance(chain, suite.timelock, proposer, executor)


def deploy_panel_suite(
    admin: Any,
    guardian: Any,
    oracles: list[Any],
    threshold: int,
    panel: list[Any],
    quorum: int,
    **settlement: Any,
) -> Any:
    """A suite (labelproof.deploy) whose LocalArbitrator is `quorum` of `panel`."""
    from tests.conftest import deploy_suite

    return deploy_suite(
        admin, guardian, oracles, threshold, panel=panel, quorum=quorum, **settlement
    )


def proposal(committee: Any, task_id: int) -> Proposal:
    return Proposal.from_raw(committee.pending(task_id))


class Bonds:
    """Bond-token bookkeeping for one suite: the bond token is the suite's RewardToken, which
    the admin mints."""

    def __init__(self, suite: Any, minter: Any) -> None:
        self.token = suite.token
        self.committee = suite.committee
        self.minter = minter

    def fund(self, account: Any, amount: int) -> None:
        """Mint `amount` to `account` and approve the committee to pull any amount."""
        self.token.mint(account, amount, {"from": self.minter})
        self.token.approve(self.committee, 2**256 - 1, {"from": account})

    def stake(self, amount: int) -> None:
        """Add `amount` to the committee's stake (funded by the minter)."""
        self.token.mint(self.minter, amount, {"from": self.minter})
        self.token.approve(self.committee, amount, {"from": self.minter})
        self.committee.fundStake(self.token, amount, {"from": self.minter})

    def balances(self, *accounts: Any) -> list[int]:
        return [int(self.token.balanceOf(a)) for a in accounts]

    def locked(self, task_ids: list[int]) -> int:
        """Bonds locked behind the tasks' proposals and disputes."""
        total = 0
        for tid in task_ids:
            p = proposal(self.committee, tid)
            total += p.bond + p.dispute_bond
        return total

    def assert_conserved(self, task_ids: list[int]) -> None:
        """The committee holds exactly its free stake plus every locked bond."""
        held = int(self.token.balanceOf(self.committee))
        assert held == int(self.committee.stake(self.token)) + self.locked(task_ids)


def rule(arbitrator: Any, dispute_id: int, ruling: int, members: list[Any]) -> Any:
    """Panel members vote `ruling` one by one until the quorum applies it; returns the
    transaction of the deciding vote."""
    need = int(arbitrator.quorum())
    tx = None
    for member in members[:need]:
        tx = arbitrator.vote(dispute_id, ruling, {"from": member})
    return tx
