"""The README's walkthrough, extracted from README.md itself and run as one block against a
simulated public network (tests/publicnet.py): chain id 11155111, no unlocked accounts,
eth_getLogs capped at 1,000 blocks, rate limits, dropped and delayed requests, and two stuck
transactions (the finalize and the first claim) that the sender must replace.

Everything the walkthrough does runs as real processes: deploy with a keystore (dry run,
then --broadcast), the oracle and the relayer, the task, the annotators, the proposal (waited
for, not raced), finalize, rewards, claims and the audit. What the simulator saw is printed
and written to reports/publicnet.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from labelproof.chain import artifact
from labelproof.node import LocalNode, free_port, start_anvil
from tests.publicnet import PublicNet

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SEPOLIA = 11155111


@pytest.fixture(autouse=True)
def isolation() -> None:
    """Shadow tests/conftest.py's brownie snapshot fixture: this module runs its own anvil."""


def walkthrough_block(text: str) -> str:
    """The first ```sh block after the walkthrough's heading."""
    start = text.index("## Walkthrough")
    match = re.compile(r"```sh\n(.*?)```", re.S).search(text, start)
    assert match is not None, "README.md: no ```sh block after ## Walkthrough"
    return match.group(1)


def readme_figures(text: str) -> tuple[str, str]:
    match = re.search(r"Alice .*? gets ([\d,]+\.\d+) LPR, Bob ([\d,]+\.\d+)", text, re.S)
    assert match is not None, "README.md no longer states Alice's and Bob's pay"
    return match.group(1), match.group(2)


def selector_signature(contract: str, name: str) -> str:
    """`name(types)` of a contract function, tuples spelled out, for its selector."""

    def spell(arg: dict[str, object]) -> str:
        kind = str(arg["type"])
        if kind.startswith("tuple"):
            inner = ",".join(spell(c) for c in arg["components"])  # type: ignore[attr-defined]
            return f"({inner}){kind[5:]}"
        return kind

    for item in artifact(contract).abi:
        if item.get("type") == "function" and item.get("name") == name:
            return f"{name}({','.join(spell(i) for i in item['inputs'])})"
    raise AssertionError(f"{contract} has no function {name}")


@pytest.fixture
def sepolia(tmp_path: Path) -> Iterator[tuple[LocalNode, PublicNet]]:
    node = start_anvil(accounts=1, log=tmp_path / "anvil.log", extra=["--chain-id", str(SEPOLIA)])
    hold = (
        selector_signature("OracleCommittee", "finalize"),
        selector_signature("TaskEscrow", "claim"),
    )
    try:
        with PublicNet(node.url, hold_selectors=hold) as net:
            yield node, net
    finally:
        node.stop()


def test_readme_walkthrough_on_a_simulated_public_network(
    tmp_path: Path, sepolia: tuple[LocalNode, PublicNet]
) -> None:
    _node, net = sepolia
    text = README.read_text()
    script = walkthrough_block(text)
    alice_pay, bob_pay = readme_figures(text)
    # The block starts from the repository root: give it one whose work/ is this test's.
    home = tmp_path / "repo"
    home.mkdir()
    for name in (".venv", "node_modules"):
        (home / name).symlink_to(ROOT / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABELPROOF_", "ETH_"))}
    env.update(
        {
            "HOME": str(tmp_path / "home"),
            "PYTHONPATH": str(ROOT),
            "LABELPROOF_RPC_URL": net.url,
            "LABELPROOF_NETWORK": "sepolia",
            "LABELPROOF_SCRYPT_N": "1024",  # fast keystores, for tests only
            "LABELPROOF_TX_TIMEOUT": "12",  # a stuck transaction is replaced after 3 s
            "ORACLE_PORT": str(free_port()),
            "RELAY_PORT": str(free_port()),
            "COLUMNS": "200",
        }
    )
    log = tmp_path / "walkthrough.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=home,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the services it starts end with it
        )
        try:
            code = proc.wait(timeout=420)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    output = log.read_text(errors="replace")
    work = home / "work"
    tail = output[-6000:]
    for extra in ("oracle.log", "relay.log"):
        if code != 0 and (work / extra).exists():
            tail += f"\n--- {extra}\n" + (work / extra).read_text(errors="replace")[-3000:]
    assert code == 0, f"the walkthrough failed ({code}):\n{tail}"

    # the dry run sent nothing; the broadcast wrote the deployment and its journal
    assert "simulation only: add --broadcast to send" in output
    assert (work / "deployments" / f"{SEPOLIA}.json").exists()
    journal = json.loads((work / "deployments" / f"{SEPOLIA}.journal.json").read_text())
    assert journal["complete"] and len(journal["steps"]) == 6

    # the figures the README states are the ones paid
    claimed = [f"{float(x):.2f}" for x in re.findall(r"task 1: claimed ([\d.]+) LPR", output)]
    assert claimed == [alice_pay, bob_pay], tail
    assert "ok: 1 task(s), 2 claim(s) checked" in output, tail
    assert (work / "audit.html").exists()

    figures = net.figures.as_dict()
    report = ROOT / "reports" / "publicnet.json"
    report.parent.mkdir(exist_ok=True)
    report.write_text(json.dumps({**figures, "held_calls": net.held_calls}, indent=2) + "\n")
    print("public-network simulator:", json.dumps(figures, indent=2))
    # what a hosted provider does, and that the tools got through it
    assert figures["log_range_refused"] > 0  # the 1,000-block cap was met ...
    assert figures["largest_log_range_served"] <= 1_000  # ... and every scan adapted to it
    assert figures["rate_limited"] > 0 and figures["dropped"] > 0
    assert figures["held"] == 2 and figures["replaced"] >= 2  # both stuck sends re-priced
