"""Deploy the labelproof suite to the active brownie network.

    brownie run scripts/deploy.py --network development
    brownie run scripts/deploy.py main deploy-config.yaml --network sepolia

Roles and the settlement rules come from the optional config file (see
labelproof.deploy.DeployConfig and its ``settlement:`` section): the admin proposes changes to a
timelock, which administers the escrow and owns the committee; rule set 1 holds the oracles,
threshold, guardian, arbitrator, bonds and floors. The deployer is brownie's first account (a
dev account locally, `accounts.load()`-ed keys elsewhere).
"""

from pathlib import Path

from brownie import accounts, network

from labelproof.chain import Sender
from labelproof.deploy import DeployConfig, deploy_suite, summary


def main(config_path: str | None = None, out_dir: str | None = None):
    cfg = DeployConfig.from_file(Path(config_path)) if config_path else DeployConfig()
    w3 = network.web3
    deployer = accounts[0]
    key = getattr(deployer, "private_key", None)
    if key is not None:
        from eth_account import Account

        sender = Sender(w3, Account.from_key(key), confirmations=cfg.confirmations)
    else:
        sender = Sender(w3, deployer.address, confirmations=cfg.confirmations)
    print(summary(cfg, sender.address, w3.eth.chain_id))
    deployment = deploy_suite(w3, sender, cfg)
    path = deployment.write(Path(out_dir)) if out_dir else deployment.write()
    print(
        f"deployed: escrow {deployment.escrow}, registry {deployment.registry}, "
        f"committee {deployment.committee}, token {deployment.reward_token}"
    )
    print(
        f"governance: timelock {deployment.timelock} (escrow admin, committee owner; delay "
        f"{deployment.settlement.get('timelock_delay')} s), arbitrator {deployment.arbitrator}, "
        f"bond token {deployment.bond_token}"
    )
    print(f"wrote {path}")
    return deployment
