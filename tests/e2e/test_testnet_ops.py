"""Operating on a public network, each broken path of issue #11 on real anvil chains (some
behind the provider simulator of tests/publicnet.py): the adaptive log reader and its cache,
stuck transactions replaced at the same nonce, the deploy's dry run, journal and resume,
network presets and chain-id checks, `labelproof node` and the oracle's start-up checks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from labelproof.chain import Sender, contract_at, web3_for
from labelproof.deploy import DeployConfig, Deployment, deploy_suite
from labelproof.logs import LOG_STATS, LogReader, RangeCache
from labelproof.node import LocalNode, free_port, start_anvil
from labelproof.sending import SEND_LOG, Transactor, TxOptions, parse_fee
from tests.publicnet import PublicNet

ROOT = Path(__file__).resolve().parents[2]
ETH = 10**18
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def isolation() -> None:
    """Shadow tests/conftest.py's brownie snapshot fixture: this module runs its own anvils."""


@pytest.fixture(scope="module")
def node() -> Iterator[LocalNode]:
    node = start_anvil(accounts=3, extra=["--chain-id", "11155111"])
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def suite(node: LocalNode) -> Deployment:
    dev = node.w3.eth.accounts
    cfg = DeployConfig(oracles=(dev[1],), allow_shared_roles=True)
    return deploy_suite(node.w3, Sender(node.w3, dev[0]), cfg)


def cli_env(tmp: Path, rpc_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELPROOF_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "HOME": str(tmp),
            "LABELPROOF_RPC_URL": rpc_url,
            "LABELPROOF_WALLET_DIR": str(tmp / "wallets"),
            "LABELPROOF_PASSWORD": PASSWORD,
            "LABELPROOF_SCRYPT_N": "1024",
            "COLUMNS": "200",
        }
    )
    return env


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labelproof.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode != 0, done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# --------------------------------------------------------------------------------------------
# the log reader
# --------------------------------------------------------------------------------------------


def test_log_reader_adapts_to_a_capped_flaky_provider_and_caches(
    node: LocalNode, suite: Deployment, tmp_path: Path
) -> None:
    w3 = node.w3
    token = contract_at(w3, "RewardToken", suite.reward_token or "")
    admin = Sender(w3, w3.eth.accounts[0])
    # mints spread over 1,200 blocks
    for n in range(4):
        admin.call(token.functions.mint(w3.eth.accounts[2], n + 1), what="mint")
        w3.provider.make_request("anvil_mine", [hex(300)])  # type: ignore[arg-type]
    head = w3.eth.block_number
    direct = w3.eth.get_logs({"address": token.address, "fromBlock": 0, "toBlock": head})
    with PublicNet(node.url, rate_limit_share=0.3, drop_share=0.2, seed=3) as net:
        before = (LOG_STATS.halvings, LOG_STATS.retries)
        reader = LogReader(web3_for(net.url), chunk_size=5_000, backoff=0.01)
        logs = reader.get_logs([token.address], 0, head)
        assert [entry["logIndex"] for entry in logs] == [e["logIndex"] for e in direct]
        assert [entry["transactionHash"] for entry in logs] == [
            e["transactionHash"] for e in direct
        ]
        assert LOG_STATS.halvings > before[0] and net.figures.log_range_refused > 0
        assert reader.max_chunk <= 1_000  # a range cap is remembered, not hit again and again
        assert max(net.figures.log_ranges) <= 1_000
        assert net.figures.rate_limited + net.figures.dropped > 0

        # the cache: a second read asks the provider only for the blocks it has not seen
        cache = RangeCache(web3_for(net.url), tmp_path / "cache")
        cached_reader = LogReader(web3_for(net.url), chunk_size=1_000, cache=cache)
        first = cached_reader.get_logs([token.address], 0, head)
        served = len(net.figures.log_ranges)
        again = cached_reader.get_logs([token.address], 0, head)
        assert [e["transactionHash"] for e in again] == [e["transactionHash"] for e in first]
        # public chain id: the last REORG_DEPTH blocks are always read again, nothing older
        assert len(net.figures.log_ranges) - served == 1
        # a cache whose last block is no longer the chain's (a reorg, another chain with the
        # same genesis) is dropped, not trusted
        (path,) = (tmp_path / "cache").glob("11155111-*/*.json")
        data = json.loads(path.read_text())
        path.write_text(json.dumps({**data, "last_hash": "0x" + "00" * 32}))
        served = len(net.figures.log_ranges)
        third = cached_reader.get_logs([token.address], 0, head)
        assert [e["transactionHash"] for e in third] == [e["transactionHash"] for e in first]
        assert len(net.figures.log_ranges) - served > 1


# --------------------------------------------------------------------------------------------
# sending: EIP-1559, a stuck transaction replaced at the same nonce
# --------------------------------------------------------------------------------------------


def test_stuck_transaction_is_replaced_at_the_same_nonce(
    node: LocalNode, suite: Deployment
) -> None:
    w3 = node.w3
    key = Account.create()
    node.set_balance(key.address, ETH)
    token = contract_at(w3, "RewardToken", suite.reward_token or "")
    with PublicNet(node.url, hold_selectors=("approve(address,uint256)",)) as net:
        remote = web3_for(net.url)
        options = TxOptions(timeout=30, bump_after=0.5, priority_fee=parse_fee("1gwei"))
        sender = Transactor(remote, key, options)
        replaced = SEND_LOG.replaced
        tx = token.functions.approve(suite.escrow, 5).build_transaction(
            {"from": key.address, "gas": 100_000}
        )
        receipt = sender.send(
            {k: tx[k] for k in ("to", "data", "value")},
            "approve",  # type: ignore[literal-required]
        )
    assert receipt["status"] == 1
    assert net.figures.held == 1 and net.figures.replaced == 1
    assert SEND_LOG.replaced == replaced + 1
    mined = w3.eth.get_transaction(receipt["transactionHash"])
    assert mined["nonce"] == 0 and mined["type"] == 2
    assert mined["maxPriorityFeePerGas"] > parse_fee("1gwei")  # re-priced, +12.5% at least
    assert token.functions.allowance(key.address, suite.escrow).call() == 5


def test_fee_options_are_checked() -> None:
    assert parse_fee("30gwei") == 30 * 10**9 and parse_fee("1.5") == 1_500_000_000
    assert parse_fee("100wei") == 100
    for bad in ("lots", "-1gwei", "0.5wei"):
        with pytest.raises(ValueError):
            parse_fee(bad)
    with pytest.raises(ValueError, match="--priority-fee must not exceed --max-fee"):
        TxOptions(max_fee=1, priority_fee=2)
    with pytest.raises(ValueError, match="--timeout must be positive"):
        TxOptions(timeout=0)


def test_bad_fee_flags_are_one_line(node: LocalNode, suite: Deployment, tmp_path: Path) -> None:
    env = cli_env(tmp_path, node.url)
    done = cli(env, "task", "status", "1", "--escrow", suite.escrow, "--max-fee", "lots")
    one_line_error(done, "--max-fee 'lots' is not an amount")


# --------------------------------------------------------------------------------------------
# deploy: dry run, journal, resume, networks
# --------------------------------------------------------------------------------------------


def new_wallet(env: dict[str, str], node: LocalNode, name: str) -> str:
    done = cli(env, "wallet", "new", name)
    assert done.returncode == 0, done.stderr
    address = cli(env, "wallet", "address", name).stdout.strip()
    node.set_balance(address, 10 * ETH)
    return address


def test_deploy_dry_run_then_interrupted_broadcast_resumes_without_redeploying(
    tmp_path: Path,
) -> None:
    node = start_anvil(accounts=1, extra=["--chain-id", "84532"])
    try:
        w3 = node.w3
        deployments = tmp_path / "deployments"
        with PublicNet(node.url, stall_after=2) as net:
            env = cli_env(tmp_path, net.url)
            deployer = new_wallet(env, node, "deployer")
            oracle = Account.create().address
            config = tmp_path / "deploy.yaml"
            config.write_text(f"oracles: ['{oracle}']\nallow_shared_roles: true\n")
            base = ("deploy", "--from", "deployer", "--config", str(config))
            base += ("--deployments", str(deployments))

            # chain 84532 without --network: refused, with the preset named
            one_line_error(cli(env, *base), "chain 84532", "--network base-sepolia")
            one_line_error(
                cli(env, *base, "--network", "sepolia"),
                "--network sepolia is chain 11155111, but the node answers chain 84532",
            )
            dry = cli(env, *base, "--network", "base-sepolia")
            assert dry.returncode == 0, dry.stderr
            assert "simulation only: add --broadcast to send" in dry.stdout
            assert "https://sepolia.basescan.org/address/" in dry.stdout
            assert w3.eth.get_transaction_count(deployer) == 0 and not deployments.exists()

            # the provider stalls after two transactions: the third is never mined
            stalled = cli(env, *base, "--network", "base-sepolia", "--broadcast", "--timeout", "4")
            assert stalled.returncode == 1, stalled.stdout
            assert "not mined within 4 s" in stalled.stderr
        journal_file = deployments / "84532.journal.json"
        journal = json.loads(journal_file.read_text())
        states = {key: step["state"] for key, step in journal["steps"].items()}
        assert states == {
            "RewardToken": "mined",
            "LabelproofTimelock": "mined",
            "LocalArbitrator": "sent",
        }
        assert w3.eth.get_transaction_count(deployer) == 2

        env = cli_env(tmp_path, node.url)  # the provider is back
        again = cli(env, *base, "--network", "base-sepolia", "--broadcast")
        one_line_error(again, "half done", "--resume")
        resumed = cli(env, *base, "--network", "base-sepolia", "--broadcast", "--resume")
        assert resumed.returncode == 0, resumed.stderr
        # six creations, one per nonce: nothing deployed twice, the stalled one sent once
        assert w3.eth.get_transaction_count(deployer) == 6
        journal = json.loads(journal_file.read_text())
        assert journal["complete"] and all(s["state"] == "mined" for s in journal["steps"].values())
        stalled_step = journal["steps"]["LocalArbitrator"]
        assert stalled_step["mined_in"] in stalled_step["hashes"]
        dep = Deployment.from_json((deployments / "84532.json").read_text())
        assert dep.reward_token == journal["steps"]["RewardToken"]["address"]
        assert contract_at(w3, "TaskEscrow", dep.escrow).functions.registry().call() == (
            dep.registry
        )
        one_line_error(
            cli(env, *base, "--network", "base-sepolia", "--broadcast", "--resume"),
            "complete: nothing to resume",
        )
    finally:
        node.stop()


def test_mainnet_asks_before_it_sends(tmp_path: Path) -> None:
    node = start_anvil(accounts=1, extra=["--chain-id", "1"])
    try:
        env = cli_env(tmp_path, node.url)
        new_wallet(env, node, "deployer")
        args = ("deploy", "--from", "deployer", "--network", "mainnet", "--broadcast")
        done = cli(env, *args, "--deployments", str(tmp_path / "d"))
        one_line_error(done, "chain 1 is mainnet: confirm with --yes")
        assert node.w3.eth.get_transaction_count(node.w3.eth.accounts[0]) == 0
    finally:
        node.stop()


# --------------------------------------------------------------------------------------------
# services: `labelproof node`, the oracle's start-up
# --------------------------------------------------------------------------------------------


def test_node_picks_a_free_port_and_sigterm_stops_anvil(tmp_path: Path) -> None:
    env = cli_env(tmp_path, "http://127.0.0.1:1")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "labelproof.cli", "node", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert f"anvil running at http://127.0.0.1:{port}" in first, first
        assert Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}")).eth.chain_id == 31337
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        # nothing answers on the port any more (a bind test would trip over TIME_WAIT)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        if proc.poll() is None:
            proc.kill()


def oracle(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labelproof.oracle", "serve", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def test_oracle_checks_rpc_chain_and_password_first(
    node: LocalNode, suite: Deployment, tmp_path: Path
) -> None:
    env = cli_env(tmp_path, node.url)
    dep_file = tmp_path / "dep.json"
    dep_file.write_text(suite.to_json())
    data = ("--data-dir", str(tmp_path / "oracle"))
    down = oracle(env, "--rpc-url", "http://127.0.0.1:1", "--deployment", str(dep_file), *data)
    one_line_error(down, "cannot reach a node at http://127.0.0.1:1")

    other = start_anvil(accounts=1)  # chain 31337
    try:
        wrong = oracle(env, "--rpc-url", other.url, "--deployment", str(dep_file), *data)
        one_line_error(wrong, "is for chain 11155111, but", "is chain 31337")
        empty = oracle(env, "--rpc-url", other.url, "--escrow", suite.escrow, *data)
        one_line_error(empty, "no contract at the escrow")
    finally:
        other.stop()

    keystore = tmp_path / "oracle.json"
    keystore.write_text(json.dumps(Account.encrypt(Account.create().key, PASSWORD)))
    no_password = {k: v for k, v in env.items() if k != "LABELPROOF_PASSWORD"}
    args = ("--deployment", str(dep_file), "--keystore", str(keystore), *data)
    one_line_error(oracle(no_password, *args), "no password for", "LABELPROOF_PASSWORD")
    bad = {**env, "LABELPROOF_PASSWORD": "wrong"}
    one_line_error(oracle(bad, *args), "cannot decrypt")
