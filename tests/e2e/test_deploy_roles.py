"""The deploy keeps admin, guardian, oracles and the arbitrator panel apart off a local chain:
an anvil that calls itself Sepolia (chain id 11155111) refuses shared keys unless the config
says they are meant, and a local chain only warns (the summary line)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labelproof.chain import Sender
from labelproof.deploy import DeployConfig, DeployConfigError, SettlementConfig, deploy_suite
from labelproof.node import LocalNode, start_anvil


@pytest.fixture(autouse=True)
def isolation() -> None:
    """This module runs its own anvil, not brownie's."""


@pytest.fixture(scope="module")
def sepolia() -> Iterator[LocalNode]:
    node = start_anvil(accounts=6, extra=["--chain-id", "11155111"])
    try:
        yield node
    finally:
        node.stop()


def test_shared_keys_are_refused_off_a_local_chain(sepolia: LocalNode) -> None:
    w3 = sepolia.w3
    dev = list(w3.eth.accounts)
    start = w3.eth.get_transaction_count(dev[0])
    # the defaults put the oracle, the admin and the arbitrator panel on the deployer's key
    with pytest.raises(DeployConfigError) as exc:
        deploy_suite(w3, Sender(w3, dev[0]), DeployConfig())
    message = str(exc.value)
    assert "one key would hold several roles" in message and "chain 11155111" in message
    assert f"{dev[0].lower()} is admin and oracle and arbitrator panel" in message
    assert "allow_shared_roles: true" in message
    assert w3.eth.get_transaction_count(dev[0]) == start  # refused before sending anything

    separate = DeployConfig(
        guardian=dev[1],
        oracles=(dev[2], dev[3]),
        threshold=2,
        settlement=SettlementConfig(panel=(dev[4],)),
    )
    dep = deploy_suite(w3, Sender(w3, dev[0]), separate)
    assert dep.oracles == (dev[2], dev[3]) and dep.guardian == dev[1]
    assert dep.settlement["min_claim_period"] == 30 * 86_400  # public-chain floors


def test_shared_keys_allowed_when_meant(sepolia: LocalNode) -> None:
    w3 = sepolia.w3
    dev = list(w3.eth.accounts)
    cfg = DeployConfig.from_dict({"allow_shared_roles": True}, source="deploy.yaml")
    dep = deploy_suite(w3, Sender(w3, dev[0]), cfg)
    assert dep.oracles == (dev[0],) and dep.admin == dev[0]
