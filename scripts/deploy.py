"""Deploy the labelproof suite to the active brownie network.

    brownie run scripts/deploy.py --network development
    brownie run scripts/deploy.py main deploy-config.yaml --network sepolia
    brownie run scripts/deploy.py main deploy.yaml deployments KEYSTORE.json --network sepolia

Roles and the settlement rules come from the optional config file (see
labelproof.deploy.DeployConfig and its ``settlement:`` section): the admin proposes changes to a
timelock, which administers the escrow and owns the committee; rule set 1 holds the oracles,
threshold, guardian, arbitrator, bonds and floors. The deployer is a keystore file when one is
given (its password from $LABELPROOF_PASSWORD, $LABELPROOF_PASSWORD_FILE or a prompt), else
brownie's first account (a dev account locally, an `accounts.load()`-ed key elsewhere). Every
transaction is journalled next to the deployment file, and a rerun resumes a half-done deploy.
"""

import os
import sys
from getpass import getpass
from pathlib import Path

from brownie import accounts, network

from labelproof.chain import Sender
from labelproof.deploy import (
    DEPLOYMENTS_DIR,
    DeployConfig,
    DeployConfigError,
    Journal,
    deploy_suite,
    journal_path,
    summary,
)
from labelproof.sending import TxOptions
from labelproof.wallet import PASSWORD_ENV, load_keystore_file, read_password_file

PASSWORD_FILE_ENV = "LABELPROOF_PASSWORD_FILE"


def _password(what: str) -> str:
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if os.environ.get(PASSWORD_FILE_ENV):
        return read_password_file(Path(os.environ[PASSWORD_FILE_ENV]))
    if not sys.stdin.isatty():
        raise DeployConfigError(
            f"no password for {what}: set {PASSWORD_ENV} or {PASSWORD_FILE_ENV}, or run in a "
            "terminal"
        )
    return getpass(f"Password for {what}: ")


def deployer_account(keystore: str | None):
    """The deploying account: a keystore file, else brownie's first account."""
    if keystore:
        path = Path(keystore).expanduser()
        return load_keystore_file(path, _password(str(path)))
    if len(accounts) == 0:
        raise DeployConfigError(
            "the network unlocks no accounts: give a keystore file (brownie run "
            "scripts/deploy.py main CONFIG OUT_DIR KEYSTORE) or `accounts.load()` one"
        )
    deployer = accounts[0]
    key = getattr(deployer, "private_key", None)
    if key is not None:
        from eth_account import Account

        return Account.from_key(key)
    return deployer.address


def main(config_path: str | None = None, out_dir: str | None = None, keystore: str | None = None):
    cfg = DeployConfig.from_file(Path(config_path)) if config_path else DeployConfig()
    w3 = network.web3
    chain_id = int(w3.eth.chain_id)
    account = deployer_account(keystore)
    sender = Sender(w3, account, options=TxOptions(confirmations=max(cfg.confirmations, 1)))
    directory = Path(out_dir) if out_dir else DEPLOYMENTS_DIR
    jpath = journal_path(directory, chain_id)
    resume = jpath.exists() and '"complete": true' not in jpath.read_text()
    journal = Journal.open(jpath, chain_id, sender.address, cfg, resume=resume)
    print(summary(cfg, sender.address, chain_id))
    if resume:
        print(f"resuming the half-done deployment in {jpath}")
    deployment = deploy_suite(w3, sender, cfg, journal=journal)
    path = deployment.write(directory)
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
