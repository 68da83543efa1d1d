"""`labelproof audit` and `labelproof oracle` hand their arguments to the modules' own parsers."""

import subprocess
import sys
from pathlib import Path

from labelproof.node import free_port

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labelproof.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_audit_help_and_unreachable_node():
    assert "--oracle" in cli("audit", "--help").stdout
    url = f"http://127.0.0.1:{free_port()}"
    done = cli("audit", "--rpc-url", url)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot reach a node at {url}" in lines[0]


def test_audit_missing_deployment_file(tmp_path):
    done = cli(
        "audit", "--rpc-url", "http://127.0.0.1:1", "--deployment", str(tmp_path / "none.json")
    )
    assert done.returncode == 2
    assert "cannot read deployment" in done.stderr and "none.json" in done.stderr


def test_oracle_serve_needs_its_settings():
    assert "--rpc-url" in cli("oracle", "serve", "--help").stdout
    done = cli("oracle", "serve")
    assert done.returncode == 2
    assert "--rpc-url" in done.stderr and "--data-dir" in done.stderr
