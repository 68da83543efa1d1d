"""scripts/deploy.py on anvil: roles and rule set 1 from a config file, the timelock as the only
administrator, wiring, deployments/<chainId>.json, and config errors."""

import json

import pytest
from brownie import (
    AttestationRegistry,
    LabelproofTimelock,
    LocalArbitrator,
    OracleCommittee,
    RewardToken,
    TaskEscrow,
    web3,
)

from labelproof.deploy import (
    DeployConfig,
    DeployConfigError,
    Deployment,
    SettlementConfig,
    summary,
)
from labelproof.settlement import ZERO_ADDRESS, rules_dict
from scripts import deploy as deploy_script

GUARDIAN_ROLE = web3.keccak(text="GUARDIAN_ROLE")
MINTER_ROLE = web3.keccak(text="MINTER_ROLE")
PROPOSER_ROLE = web3.keccak(text="PROPOSER_ROLE")
EXECUTOR_ROLE = web3.keccak(text="EXECUTOR_ROLE")
CANCELLER_ROLE = web3.keccak(text="CANCELLER_ROLE")
ADMIN_ROLE = b"\x00" * 32
HOUR = 3_600
DAY = 24 * HOUR
ETH = 10**18
SEPARATE = "roles        admin, guardian, oracles and arbitrators are different accounts"


def test_deploy_script_sets_roles_and_writes_deployment(tmp_path, accounts, admin, capsys):
    oracles = [accounts[11], accounts[12], accounts[13]]
    panel = [accounts[17], accounts[18], accounts[19]]
    config = tmp_path / "deploy.yaml"
    config.write_text(
        'admin: "{}"\nguardian: "{}"\noracles:\n{}\nthreshold: 2\n'
        'reward_token:\n  symbol: TST\n  cap: 1000000\n  minter: "{}"\n'
        "settlement:\n  timelock_delay: 120\n  min_challenge_period: 7200\n"
        "  proposer_bond: 5000000000000000000\n  dispute_bond: 3000000000000000000\n"
        "  burn_bps: 1000\n  max_pause: 86400\n  panel:\n{}  quorum: 2\n".format(
            accounts[14].address,
            accounts[15].address,
            "".join(f'  - "{o.address}"\n' for o in oracles),
            accounts[16].address,
            "".join(f'    - "{m.address}"\n' for m in panel),
        )
    )
    dep = deploy_script.main(str(config), str(tmp_path / "deployments"))
    printed = capsys.readouterr().out
    assert SEPARATE in printed
    assert "challenge 2 h, claim 1 d, proposal window 1 d, committee grace 12 h" in printed
    assert f"governance: timelock {dep.timelock}" in printed

    written = tmp_path / "deployments" / f"{web3.eth.chain_id}.json"
    assert Deployment.from_json(written.read_text()) == dep
    data = json.loads(written.read_text())
    assert data["threshold"] == 2 and data["deployer"] == admin.address
    assert data["timelock"] == dep.timelock and data["arbitrator"] == dep.arbitrator
    assert data["bond_token"] == dep.reward_token
    assert data["settlement"]["min_challenge_period"] == 7200
    assert [m.lower() for m in data["settlement"]["panel"]] == [m.address.lower() for m in panel]

    escrow, registry = TaskEscrow.at(dep.escrow), AttestationRegistry.at(dep.registry)
    committee, token = OracleCommittee.at(dep.committee), RewardToken.at(dep.reward_token)
    timelock, arbitrator = LabelproofTimelock.at(dep.timelock), LocalArbitrator.at(dep.arbitrator)
    assert escrow.registry() == registry.address and escrow.committee() == committee.address
    assert registry.escrow() == escrow.address and committee.escrow() == escrow.address

    # governance: only the timelock administers; the configured admin proposes to it
    assert escrow.hasRole(ADMIN_ROLE, timelock)
    for someone in (accounts[14], admin):
        assert not escrow.hasRole(ADMIN_ROLE, someone)
        assert not timelock.hasRole(ADMIN_ROLE, someone)
    assert committee.owner() == timelock.address
    assert timelock.getMinDelay() == 120
    assert timelock.hasRole(PROPOSER_ROLE, accounts[14])
    assert timelock.hasRole(CANCELLER_ROLE, accounts[14])
    assert not timelock.hasRole(PROPOSER_ROLE, admin)
    assert timelock.hasRole(EXECUTOR_ROLE, ZERO_ADDRESS)  # anyone executes after the delay

    # the guardian: pause role in the escrow, veto in rule set 1; never an oracle
    assert escrow.hasRole(GUARDIAN_ROLE, accounts[15])
    assert escrow.maxPause() == DAY

    # rule set 1: oracles, threshold, guardian, arbitrator, bonds and floors
    assert committee.rulesCount() == 1
    rules = rules_dict(committee.rules(1))
    assert list(rules["oracles"]) == [o.address for o in oracles]
    assert rules["threshold"] == 2 and rules["guardian"] == accounts[15].address
    assert rules["arbitrator"] == arbitrator.address and rules["bondToken"] == token.address
    assert rules["proposerBond"] == 5 * ETH and rules["disputeBond"] == 3 * ETH
    assert rules["burnBps"] == 1000
    # local chain defaults for what the config leaves out
    assert (rules["minClaimPeriod"], rules["minProposalWindow"]) == (DAY, DAY)
    assert rules["committeeGrace"] == 12 * HOUR
    assert [int(x) for x in committee.currentRules()] == [1, 7200, DAY, DAY]
    for o in oracles:
        assert not committee.isRevoked(1, o)

    # the arbitrator: a 2-of-3 panel whose fees (none locally) go to the timelock
    assert list(arbitrator.panel()) == [m.address for m in panel]
    assert arbitrator.quorum() == 2 and arbitrator.arbitrationCost(b"") == 0

    assert token.hasRole(MINTER_ROLE, accounts[16]) and token.cap() == 1_000_000
    assert token.symbol() == "TST" and token.hasRole(ADMIN_ROLE, accounts[14])
    assert dep.versions == {
        "TaskEscrow": "2.0.0",
        "AttestationRegistry": "2.0.0",
        "OracleCommittee": "2.0.0",
    }


def test_deploy_script_defaults_to_the_deployer(tmp_path, admin, capsys):
    dep = deploy_script.main(None, str(tmp_path))
    printed = capsys.readouterr().out
    assert dep.admin == admin.address and dep.guardian == ZERO_ADDRESS
    assert dep.oracles == (admin.address,) and dep.threshold == 1
    # one key holds every role: the summary says so before anything is sent
    assert "roles        WARNING: shared keys weaken the checks between roles" in printed
    assert f"{admin.address.lower()} is admin and oracle and arbitrator panel" in printed
    committee, timelock = OracleCommittee.at(dep.committee), LabelproofTimelock.at(dep.timelock)
    assert committee.owner() == timelock.address
    assert rules_dict(committee.rules(1))["guardian"] == ZERO_ADDRESS
    assert list(LocalArbitrator.at(dep.arbitrator).panel()) == [admin.address]
    assert TaskEscrow.at(dep.escrow).hasRole(ADMIN_ROLE, timelock)
    assert timelock.hasRole(PROPOSER_ROLE, admin)


def test_deploy_with_an_outside_arbitrator_and_bond_token(tmp_path, admin, accounts, token):
    outside = LocalArbitrator.deploy([accounts[17]], 1, 0, admin, {"from": admin})
    config = tmp_path / "deploy.yaml"
    config.write_text(
        f"guardian: '{accounts[1].address}'\n"
        "reward_token: false\n"
        f"settlement:\n  arbitrator: '{outside.address}'\n  bond_token: '{token.address}'\n"
    )
    dep = deploy_script.main(str(config), str(tmp_path))
    assert dep.reward_token is None
    assert dep.arbitrator == outside.address and dep.bond_token == token.address
    rules = rules_dict(OracleCommittee.at(dep.committee).rules(1))
    assert rules["arbitrator"] == outside.address and rules["bondToken"] == token.address
    assert dep.settlement["panel"] == [] and "quorum" not in dep.settlement


def test_summary_role_separation_line():
    a, g, o, p = ("0x" + c * 40 for c in "abcd")

    def cfg(settlement: SettlementConfig) -> DeployConfig:
        return DeployConfig(admin=a, guardian=g, oracles=(o,), settlement=settlement)

    apart = cfg(SettlementConfig(panel=(p,)))
    assert summary(apart, a, 31337).splitlines()[-1] == SEPARATE
    shared = cfg(SettlementConfig(panel=(g,)))
    last = summary(shared, a, 31337).splitlines()[-1]
    assert last.startswith("roles        WARNING: shared keys")
    assert f"{g} is guardian and arbitrator panel" in last
    # an outside arbitrator's panel is not ours to judge
    outside = cfg(SettlementConfig(arbitrator=a))
    assert summary(outside, a, 31337).splitlines()[-1] == SEPARATE
    public = summary(apart, a, 1)
    assert "changes wait 2 d" in public and "challenge 1 d, claim 30 d" in public


ADDR = "0x" + "11" * 20


@pytest.mark.parametrize(
    "data, message",
    [
        ({"admin": "0x123"}, "admin '0x123' is not an address"),
        ({"oracles": ["nope"]}, "oracle 'nope' is not an address"),
        ({"oracles": [ADDR, ADDR]}, "oracles contain duplicates"),
        ({"threshold": 3, "oracles": [ADDR]}, "threshold 3 must be between 1"),
        ({"threshold": 0}, "threshold 0 must be between 1"),
        ({"guardian": ADDR, "oracles": [ADDR]}, "is also an oracle"),
        ({"confirmations": -1}, "confirmations must be >= 0"),
        ({"colour": "red"}, "unknown keys ['colour']"),
        ({"reward_token": {"cap": 0}}, "reward_token.cap must be positive"),
        ({"reward_token": {"decimals": 6}}, "reward_token:"),
        ({"settlement": {"colour": 1}}, "settlement: "),
        ({"settlement": {"burn_bps": 10_001}}, "settlement.burn_bps must be at most 10000"),
        ({"settlement": {"max_pause": -1}}, "settlement.max_pause must be a whole number >= 0"),
        ({"settlement": {"proposer_bond": "lots"}}, "settlement.proposer_bond must be a whole"),
        ({"settlement": {"min_challenge_period": 0}}, "min_challenge_period must be positive"),
        ({"settlement": {"min_claim_period": 0}}, "settlement.min_claim_period must be positive"),
        ({"settlement": {"dispute_bond": 2**96}}, "bonds must be below 2**96"),
        (
            {"settlement": {"committee_grace": DAY, "min_proposal_window": DAY}},
            "committee_grace must be shorter than min_proposal_window",
        ),
        ({"settlement": {"quorum": 2}}, "quorum 2 must be between 1 and the 1 panel members"),
        ({"settlement": {"panel": [ADDR, ADDR]}}, "settlement.panel contains duplicates"),
        ({"settlement": {"panel": ["nope"]}}, "settlement.panel member 'nope' is not an address"),
        ({"settlement": {"arbitrator": "0x12"}}, "settlement.arbitrator '0x12' is not an"),
        ({"settlement": {"bond_token": "x"}}, "settlement.bond_token 'x' is not an address"),
        (
            {"reward_token": False, "settlement": {}},
            "settlement.bond_token is required when no reward token is deployed",
        ),
    ],
)
def test_bad_config_is_refused_with_a_clear_message(data, message):
    with pytest.raises(DeployConfigError) as exc:
        DeployConfig.from_dict(data, source="deploy.yaml")
    assert message in str(exc.value)
    assert str(exc.value).startswith("deploy.yaml: ")


@pytest.mark.parametrize(
    "text, message",
    [
        # YAML reads these as integers: they were once padded into addresses nobody meant
        ("admin: 0x1234\n", "admin: '0x1234' is a YAML int, not an address"),
        ("guardian: 0\n", "guardian: '0x0' is a YAML int, not an address"),
        (
            f"oracles: [{ADDR}]\n",
            "oracle: '0x1111111111111111111111111111111111111111' is a YAML int",
        ),
        (f"settlement:\n  arbitrator: {ADDR}\n", "settlement.arbitrator: "),
        (f"settlement:\n  panel:\n    - {ADDR}\n", "settlement.panel member: "),
        (f"reward_token:\n  minter: {ADDR}\n", "reward_token.minter: "),
        ("oracles: 0x12\n", "oracles: expected a list of quoted addresses"),
        # a mixed-case address with a wrong checksum is a typo, not an address
        ("admin: '0xaBaBaBaBABabABabAbAbABAbABabababaBaBABaB'\n", "has a wrong checksum"),
        ("guardian: '0x0000000000000000000000000000000000000000'\n", "the zero address"),
    ],
)
def test_yaml_numbers_and_bad_checksums_are_refused(tmp_path, text, message):
    config = tmp_path / "deploy.yaml"
    config.write_text(text)
    with pytest.raises(DeployConfigError) as exc:
        DeployConfig.from_file(config)
    assert message in str(exc.value)
    assert str(exc.value).startswith(f"{config}: ")


def test_quoted_addresses_are_read_as_written(tmp_path):
    config = tmp_path / "deploy.yaml"
    config.write_text(f"settlement:\n  arbitrator: '{ADDR}'\n  panel:\n    - \"{ADDR}\"\n")
    cfg = DeployConfig.from_file(config)
    assert cfg.settlement.arbitrator == ADDR and cfg.settlement.panel == (ADDR,)


def test_unreadable_config_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(DeployConfigError, match="expected a mapping"):
        DeployConfig.from_file(bad)
    with pytest.raises(DeployConfigError, match="cannot read deploy config"):
        DeployConfig.from_file(tmp_path / "missing.yaml")


def test_deploy_script_with_a_keystore_and_confirmations(tmp_path, monkeypatch, accounts):
    """The brownie script deploys from a keystore (no unlocked account needed), and
    `confirmations: 2` does not wait for blocks a local chain never mines by itself."""
    from eth_account import Account

    key = Account.create()
    keystore = tmp_path / "deployer.json"
    keystore.write_text(json.dumps(Account.encrypt(key.key, "pw", kdf="scrypt", iterations=1024)))
    web3.provider.make_request("anvil_setBalance", [key.address, hex(10 * ETH)])
    monkeypatch.setenv("LABELPROOF_PASSWORD", "pw")
    config = tmp_path / "deploy.yaml"
    config.write_text(f"oracles: ['{accounts[11].address}']\nconfirmations: 2\n")
    out = tmp_path / "deployments"
    dep = deploy_script.main(str(config), str(out), str(keystore))
    assert dep.deployer == key.address and dep.admin == key.address
    journal = json.loads((out / f"{web3.eth.chain_id}.journal.json").read_text())
    assert journal["complete"] and journal["deployer"] == key.address

    monkeypatch.delenv("LABELPROOF_PASSWORD")
    with pytest.raises(DeployConfigError, match="no password for"):
        deploy_script.main(str(config), str(tmp_path / "other"), str(keystore))
