"""The package installed elsewhere (``pip install .`` into a directory outside the checkout):
its shipped ABIs talk to a deployment named by ``--deployment FILE`` or ``--escrow ADDRESS``,
with no build directory and no deployments/ of the project in reach."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from labelproof.chain import BUILD_DIR, Sender
from labelproof.deploy import DeployConfig, Deployment, deploy_suite
from labelproof.node import LocalNode, start_anvil
from labelproof.packaged import PACKAGED, PACKAGED_DIR, slim

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def isolation() -> None:
    """Shadow tests/conftest.py's brownie snapshot fixture: this module runs its own anvil."""


def test_packaged_artifacts_match_the_build() -> None:
    for name in PACKAGED:
        shipped = (PACKAGED_DIR / f"{name}.json").read_text()
        assert shipped == slim(BUILD_DIR / f"{name}.json"), (
            f"labelproof/artifacts/{name}.json is stale: run `python -m labelproof.packaged`"
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("pipbuild")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "TMPDIR": str(build)},
        timeout=300,
    )
    assert (target / "labelproof" / "artifacts" / "TaskEscrow.json").exists()
    return target


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalNode, Deployment]]:
    node = start_anvil(accounts=2)
    try:
        dev = node.w3.eth.accounts
        oracle = dev[1]
        dep = deploy_suite(node.w3, Sender(node.w3, dev[0]), DeployConfig(oracles=(oracle,)))
        yield node, dep
    finally:
        node.stop()


def run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELPROOF_")}
    # The installed copy first; its dependencies from the test's environment.
    env["PYTHONPATH"] = str(site)
    code = (
        "import sys, labelproof, labelproof.chain as c; "
        f"assert labelproof.__file__.startswith({str(site)!r}), labelproof.__file__; "
        "assert not c.BUILD_DIR.exists(), c.BUILD_DIR; "
        "from labelproof.cli import main; sys.argv = ['labelproof', *sys.argv[1:]]; main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_installed_package_talks_to_a_deployment(
    installed: Path, chain: tuple[LocalNode, Deployment], tmp_path: Path
) -> None:
    node, dep = chain
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dep_file = elsewhere / "mine.json"
    dep_file.write_text(dep.to_json())

    by_escrow = run_installed(
        installed, elsewhere, "governance", "rules", "1", "--rpc-url", node.url,
        "--escrow", dep.escrow, "--json",
    )  # fmt: skip
    assert by_escrow.returncode == 0, by_escrow.stderr
    assert dep.oracles[0] in by_escrow.stdout

    by_file = run_installed(
        installed, elsewhere, "task", "status", "1", "--rpc-url", node.url,
        "--deployment", str(dep_file),
    )  # fmt: skip
    assert by_file.returncode == 1
    assert "task 1 does not exist (this escrow has 0 tasks)" in by_file.stderr

    # without either, the installed package looks in ./deployments and says what to give
    neither = run_installed(installed, elsewhere, "task", "status", "1", "--rpc-url", node.url)
    assert neither.returncode == 1
    assert "--escrow ADDRESS or --deployment FILE" in neither.stderr
    assert str(elsewhere / "deployments") in neither.stderr

    wrong = run_installed(
        installed, elsewhere, "task", "status", "1", "--rpc-url", node.url,
        "--escrow", dep.registry,
    )  # fmt: skip
    assert wrong.returncode == 1 and "does not answer as a labelproof TaskEscrow" in wrong.stderr
    assert json.loads(dep_file.read_text())["escrow"] == dep.escrow
