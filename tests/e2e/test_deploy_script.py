"""scripts/deploy.py on anvil: roles from a config file, wiring, deployments/<chainId>.json."""

import json

import pytest
from brownie import AttestationRegistry, OracleCommittee, RewardToken, TaskEscrow, web3

from labelproof.deploy import DeployConfig, DeployConfigError, Deployment
from scripts import deploy as deploy_script

ORACLE_ROLE = web3.keccak(text="ORACLE_ROLE")
GUARDIAN_ROLE = web3.keccak(text="GUARDIAN_ROLE")
MINTER_ROLE = web3.keccak(text="MINTER_ROLE")
ADMIN_ROLE = b"\x00" * 32


def test_deploy_script_sets_roles_and_writes_deployment(tmp_path, accounts, admin):
    oracles = [accounts[11], accounts[12], accounts[13]]
    config = tmp_path / "deploy.yaml"
    config.write_text(
        "admin: {}\nguardian: {}\noracles:\n{}\nthreshold: 2\n"
        "reward_token:\n  symbol: TST\n  cap: 1000000\n  minter: {}\n".format(
            accounts[14].address,
            accounts[15].address,
            "".join(f"  - {o.address}\n" for o in oracles),
            accounts[16].address,
        )
    )
    dep = deploy_script.main(str(config), str(tmp_path / "deployments"))

    written = tmp_path / "deployments" / f"{web3.eth.chain_id}.json"
    assert Deployment.from_json(written.read_text()) == dep
    data = json.loads(written.read_text())
    assert data["threshold"] == 2 and data["deployer"] == admin.address

    escrow, registry = TaskEscrow.at(dep.escrow), AttestationRegistry.at(dep.registry)
    committee, token = OracleCommittee.at(dep.committee), RewardToken.at(dep.reward_token)
    assert escrow.registry() == registry.address and escrow.committee() == committee.address
    assert registry.escrow() == escrow.address and committee.escrow() == escrow.address
    assert committee.threshold() == 2
    for o in oracles:
        assert committee.hasRole(ORACLE_ROLE, o)
    assert not committee.hasRole(ORACLE_ROLE, admin)
    assert escrow.hasRole(GUARDIAN_ROLE, accounts[15]) and committee.hasRole(
        GUARDIAN_ROLE, accounts[15]
    )
    assert escrow.hasRole(ADMIN_ROLE, accounts[14]) and not escrow.hasRole(ADMIN_ROLE, admin)
    assert token.hasRole(MINTER_ROLE, accounts[16]) and token.cap() == 1_000_000
    assert token.symbol() == "TST"
    assert dep.versions == {
        "TaskEscrow": "1.0.0",
        "AttestationRegistry": "1.0.0",
        "OracleCommittee": "1.0.0",
    }


def test_deploy_script_defaults_to_the_deployer(tmp_path, admin):
    dep = deploy_script.main(None, str(tmp_path))
    assert dep.admin == dep.guardian == admin.address
    assert dep.oracles == (admin.address,) and dep.threshold == 1


@pytest.mark.parametrize(
    "data, message",
    [
        ({"admin": "0x123"}, "admin '0x123' is not an address"),
        ({"oracles": ["nope"]}, "oracle 'nope' is not an address"),
        ({"oracles": ["0x" + "11" * 20, "0x" + "11" * 20]}, "oracles contain duplicates"),
        ({"threshold": 3, "oracles": ["0x" + "11" * 20]}, "threshold 3 must be between 1"),
        ({"threshold": 0}, "threshold 0 must be between 1"),
        ({"confirmations": -1}, "confirmations must be >= 0"),
        ({"colour": "red"}, "unknown keys ['colour']"),
        ({"reward_token": {"cap": 0}}, "reward_token.cap must be positive"),
        ({"reward_token": {"decimals": 6}}, "reward_token:"),
    ],
)
def test_bad_config_is_refused_with_a_clear_message(data, message):
    with pytest.raises(DeployConfigError) as exc:
        DeployConfig.from_dict(data, source="deploy.yaml")
    assert message in str(exc.value)
    assert str(exc.value).startswith("deploy.yaml: ")


def test_unreadable_config_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(DeployConfigError, match="expected a mapping"):
        DeployConfig.from_file(bad)
    with pytest.raises(DeployConfigError, match="cannot read deploy config"):
        DeployConfig.from_file(tmp_path / "missing.yaml")
