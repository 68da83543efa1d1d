"""Shared fixtures: role-named accounts, the deployed suite, tokens and task helpers.

Contract tests run on anvil (brownie's development network). The suite is deployed once per
module with the same code as scripts/deploy.py (labelproof.deploy) and each test runs in its
own snapshot (fn_isolation).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ["PATH"] = f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}"

DAY = 86_400


def pytest_configure(config):
    # Runs before brownie launches anvil (at session start): more accounts than brownie's 10 for
    # the role-named fixtures, and a block gas limit that fits a relayed batch of 100.
    from brownie._config import CONFIG

    settings = CONFIG.networks["development"].setdefault("cmd_settings", {})
    settings.update({"accounts": 20, "gas_limit": 30_000_000})
    if os.environ.get("LABELPROOF_ANVIL_PORT"):  # several suites on one machine
        worker = getattr(config, "workerinput", {}).get("workerid", "gw0")
        settings["port"] = int(os.environ["LABELPROOF_ANVIL_PORT"]) + 10 * int(worker[2:])


BUDGET = 1_000 * 10**18


def _tolerate_rerun_outcome() -> None:
    """`make test` reruns brownie's "Tx dropped without known replacement" receipt race with
    pytest-rerunfailures, whose report outcome "rerun" brownie's status hook does not know:
    its convert_outcome raises StopIteration and the whole session dies with INTERNALERROR.
    Give that outcome its usual letter instead; every known outcome is converted as before."""
    import importlib

    from brownie.test.managers import utils

    real = utils.convert_outcome

    def convert_outcome(value: str) -> str:
        try:
            return real(value)
        except StopIteration:
            return "R" if value == "rerun" else value

    # base.py, runner.py and master.py each imported the function by name
    for name in ("base", "runner", "master"):
        module = importlib.import_module(f"brownie.test.managers.{name}")
        if getattr(module, "convert_outcome", None) is real:
            module.convert_outcome = convert_outcome


_tolerate_rerun_outcome()


@pytest.fixture(autouse=True)
def isolation(fn_isolation):
    """Every test runs in its own chain snapshot, reverted afterwards."""


@pytest.fixture(scope="session")
def admin(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def guardian(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def oracle(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def oracles(accounts):
    return [accounts[2], accounts[3], accounts[4]]


@pytest.fixture(scope="session")
def requester(accounts):
    return accounts[5]


@pytest.fixture(scope="session")
def annotator(accounts):
    return accounts[6]


@pytest.fixture(scope="session")
def annotators(accounts):
    return [accounts[6], accounts[7], accounts[8]]


@pytest.fixture(scope="session")
def relayer(accounts):
    return accounts[9]


@pytest.fixture(scope="session")
def rando(accounts):
    return accounts[10]


@pytest.fixture(scope="session")
def arbiter(accounts):
    """The LocalArbitrator's one-member panel in the test suites (not the admin: the roles are
    kept apart as a real deployment should)."""
    return accounts[12]


@dataclass
class Suite:
    escrow: Any
    registry: Any
    committee: Any
    token: Any  # RewardToken (also the bond token of rule set 1)
    deployment: Any
    timelock: Any = None  # LabelproofTimelock: escrow admin and committee owner
    arbitrator: Any = None  # LocalArbitrator of rule set 1


def deploy_suite(
    admin,
    guardian,
    oracles,
    threshold,
    *,
    panel=None,
    quorum=1,
    **settlement,
):
    """Deploy through labelproof.deploy (the code scripts/deploy.py runs) and wrap for brownie.

    `panel` is the LocalArbitrator's members (accounts or addresses; default: accounts[12], the
    `arbiter` fixture); other keyword arguments override fields of
    labelproof.deploy.SettlementConfig (e.g. ``min_challenge_period=600``, ``proposer_bond=0``).
    """
    from brownie import (
        AttestationRegistry,
        LabelproofTimelock,
        LocalArbitrator,
        OracleCommittee,
        RewardToken,
        TaskEscrow,
        accounts,
        network,
    )

    from labelproof.chain import Sender
    from labelproof.deploy import DeployConfig, SettlementConfig
    from labelproof.deploy import deploy_suite as deploy

    members = tuple(getattr(m, "address", m) for m in (panel or [accounts[12]]))
    cfg = DeployConfig(
        admin=admin.address,
        guardian=guardian.address if guardian is not None else None,
        oracles=tuple(o.address for o in oracles),
        threshold=threshold,
        settlement=SettlementConfig(panel=members, quorum=quorum, **settlement),
    )
    dep = deploy(network.web3, Sender(network.web3, admin.address), cfg)
    return Suite(
        escrow=TaskEscrow.at(dep.escrow),
        registry=AttestationRegistry.at(dep.registry),
        committee=OracleCommittee.at(dep.committee),
        token=RewardToken.at(dep.reward_token),
        deployment=dep,
        timelock=LabelproofTimelock.at(dep.timelock),
        arbitrator=LocalArbitrator.at(dep.arbitrator),
    )


@pytest.fixture(scope="module")
def suite(admin, guardian, oracle, arbiter):
    return deploy_suite(admin, guardian, [oracle], 1, panel=[arbiter])


@pytest.fixture(scope="module")
def suite2of3(admin, guardian, oracles, arbiter):
    return deploy_suite(admin, guardian, oracles, 2, panel=[arbiter])


@pytest.fixture(scope="module")
def escrow(suite):
    return suite.escrow


@pytest.fixture(scope="module")
def registry(suite):
    return suite.registry


@pytest.fixture(scope="module")
def committee(suite):
    return suite.committee


@pytest.fixture(scope="module")
def timelock(suite):
    return suite.timelock


@pytest.fixture(scope="module")
def arbitrator(suite):
    return suite.arbitrator


@pytest.fixture(scope="module")
def usd(admin, requester):
    """A 6-decimals stablecoin look-alike."""
    from brownie import MockERC20

    token = MockERC20.deploy("Mock USD", "mUSD", 6, {"from": admin})
    token.mint(requester, 10**12 * 10**6, {"from": admin})
    return token


@pytest.fixture(scope="module")
def token(admin, requester):
    """A standard 18-decimals ERC-20 with permit."""
    from brownie import MockERC20

    token = MockERC20.deploy("Mock Token", "MOCK", 18, {"from": admin})
    token.mint(requester, 10**9 * 10**18, {"from": admin})
    return token


def task_params(
    chain,
    *,
    annotation=DAY,
    reveal=2 * DAY,
    challenge=DAY,
    claim=30 * DAY,
    timeout=7 * DAY,
    spec=b"\x01" * 32,
    gold=b"\x02" * 32,
):
    # The latest block's time, not chain.time(): anvil keeps its clock offset across brownie's
    # snapshot reverts, so wall-clock based times drift from block times between tests.
    now = chain[-1].timestamp
    return (spec, gold, now + annotation, now + reveal, challenge, claim, timeout)


def proof_for(tree, account):
    address = account.address if hasattr(account, "address") else account
    for i, value in tree.entries():
        if value[0].lower() == address.lower():
            return int(value[1]), tree.get_proof(i)
    raise KeyError(address)
