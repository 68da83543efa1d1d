"""`labelproof merkle build|proof`: output the JS library loads, and one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from labelproof.merkle import StandardMerkleTree

ROOT = Path(__file__).resolve().parents[2]
JS_CHECK = ROOT / "tests" / "python" / "js" / "merkle_check.mjs"
A, B = "0x" + "11" * 20, "0x" + "22" * 20


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labelproof.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_build_then_proof_and_js_agrees(tmp_path):
    payouts = write(tmp_path / "p.csv", f"account,amount\n{A},100\n{B},250\n")
    tree_path = tmp_path / "tree.json"
    done = cli("merkle", "build", str(payouts), "--out", str(tree_path))
    assert done.returncode == 0, done.stderr
    tree = StandardMerkleTree.load(json.loads(tree_path.read_text()))
    assert tree.root in done.stdout and "leaves 2" in done.stdout and "total 350" in done.stdout

    js = subprocess.run(
        ["node", str(JS_CHECK), str(tree_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert json.loads(js.stdout)["root"] == tree.root

    done = cli("merkle", "proof", str(tree_path), B.upper().replace("0X", "0x"))
    assert done.returncode == 0, done.stderr
    proof = json.loads(done.stdout)
    assert proof["amount"] == "250" and proof["root"] == tree.root
    assert StandardMerkleTree.verify(tree.root, ["address", "uint256"], [B, 250], proof["proof"])


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty file"),
        ("who,amount\n", "row 1: header must contain account and amount"),
        (f"account,amount\n{A},ten\n", "row 2: amount 'ten' is not an integer"),
        (f"account,amount\n{A},-1\n", "row 2: amount -1 is out of uint256 range"),
        ("account,amount\n0x12,1\n", "row 2: '0x12' is not an address"),
        (
            f"account,amount\n{A},1\n{A.upper().replace('0X', '0x')},2\n",
            "row 3: account 0x1111111111111111111111111111111111111111 already on row 2",
        ),
        (f"account,amount\n{A}\n", "row 2: expected account and amount"),
        ("account,amount\n\n", "no payout rows"),
    ],
)
def test_build_bad_input_is_one_line_and_writes_nothing(tmp_path, content, message):
    payouts = write(tmp_path / "p.csv", content)
    out = tmp_path / "tree.json"
    done = cli("merkle", "build", str(payouts), "--out", str(out))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(payouts) in lines[0]
    assert not out.exists()


def test_build_missing_file(tmp_path):
    done = cli("merkle", "build", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "t.json"))
    assert done.returncode == 2 and "cannot read" in done.stderr


def test_proof_errors(tmp_path):
    payouts = write(tmp_path / "p.csv", f"account,amount\n{A},1\n")
    tree_path = tmp_path / "tree.json"
    assert cli("merkle", "build", str(payouts), "--out", str(tree_path)).returncode == 0
    done = cli("merkle", "proof", str(tree_path), B)
    assert done.returncode == 1 and f"{B} is not in" in done.stderr
    broken = write(tmp_path / "broken.json", "{not json")
    done = cli("merkle", "proof", str(broken), A)
    assert done.returncode == 2 and "not JSON" in done.stderr
    tampered = json.loads(tree_path.read_text())
    tampered["values"][0]["value"][1] = "2"
    done = cli("merkle", "proof", str(write(tmp_path / "t2.json", json.dumps(tampered))), A)
    assert done.returncode == 2 and "t2.json" in done.stderr
