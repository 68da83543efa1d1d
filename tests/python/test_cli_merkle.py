"""`labelproof merkle build|proof`: output the JS library loads, and one-line errors."""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from labelproof.merkle import MerkleError, StandardMerkleTree, payout_tree, to_checksum_address
from labelproof.payouts_csv import _read_rows, build_payout_tree, read_payouts

ROOT = Path(__file__).resolve().parents[2]
JS_CHECK = ROOT / "tests" / "python" / "js" / "merkle_check.mjs"
A, B = "0x" + "11" * 20, "0x" + "22" * 20


# The full command line, and the console script's entry, whose plain `merkle build` skips it.
ENTRIES = ["labelproof.cli", "labelproof.entry"]


def cli(*args: str, entry: str = "labelproof.cli") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", entry, *args],
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
@pytest.mark.parametrize("entry", ENTRIES)
def test_build_bad_input_is_one_line_and_writes_nothing(tmp_path, content, message, entry):
    payouts = write(tmp_path / "p.csv", content)
    out = tmp_path / "tree.json"
    done = cli("merkle", "build", str(payouts), "--out", str(out), entry=entry)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(payouts) in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("entry", ENTRIES)
def test_build_missing_file_and_unwritable_out(tmp_path, entry):
    missing = str(tmp_path / "nope.csv")
    done = cli("merkle", "build", missing, "--out", str(tmp_path / "t.json"), entry=entry)
    assert done.returncode == 2 and "cannot read" in done.stderr
    payouts = write(tmp_path / "p.csv", f"account,amount\n{A},1\n")
    blocker = write(tmp_path / "file", "")  # a file where the output's directory should be
    done = cli("merkle", "build", str(payouts), "--out", str(blocker / "t.json"), entry=entry)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "cannot write" in lines[0]


def test_lean_entry_equals_full_cli_without_its_imports(tmp_path):
    rows = _payouts(300, 7)
    payouts = write(tmp_path / "p.csv", "account,amount\n" + "".join(f"{a},{v}\n" for a, v in rows))
    full = cli("merkle", "build", str(payouts), "--out", str(tmp_path / "full.json"))
    probe = (
        "import sys; from labelproof.entry import run; code = run(sys.argv[1:]); "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'rich', 'numpy'}); "
        "print(heavy, code)"
    )
    for form in (["--out", str(tmp_path / "lean.json")], [f"--out={tmp_path / 'lean.json'}"]):
        lean = subprocess.run(
            [sys.executable, "-c", probe, "merkle", "build", str(payouts), *form],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=True,
        )
        summary, verdict = lean.stdout.splitlines()
        assert verdict == "[] 0" and lean.stderr == ""
        assert summary == full.stdout.strip().replace("full.json", "lean.json")
        assert (tmp_path / "lean.json").read_bytes() == (tmp_path / "full.json").read_bytes()
    # anything but the plain form (here --help) is the full command line's
    done = cli("merkle", "build", "--help", entry="labelproof.entry")
    assert done.returncode == 0 and "--out" in done.stdout
    done = cli("merkle", "build", str(payouts), entry="labelproof.entry")
    assert done.returncode == 2 and "--out" in done.stderr


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


# --- the fast build path (labelproof.payouts_csv, StandardMerkleTree.of_payouts / dump_text) ---


def _payouts(count: int, seed: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        raw = "0x" + rng.randbytes(20).hex()
        address = rng.choice([raw, raw.upper().replace("0X", "0x"), to_checksum_address(raw)])
        rows.append((address, rng.choice([0, rng.randrange(10**24), rng.randrange(2**256)])))
    return rows


@pytest.mark.parametrize("count", [1, 2, 3, 64, 257])
def test_fast_build_equals_payout_tree_and_json_dumps(tmp_path, count):
    rows = _payouts(count, count)
    path = write(tmp_path / "p.csv", "account,amount\n" + "".join(f"{a},{v}\n" for a, v in rows))
    fast = build_payout_tree(path)
    reference = payout_tree(dict(rows))
    assert fast.root == reference.root
    assert fast.dump() == reference.dump()
    assert fast.dump_text() == json.dumps(reference.dump(), indent=2) + "\n"
    # the exact per-row reader agrees with the regex fast path
    assert read_payouts(path) == _read_rows(path, path.read_text())


def test_dump_text_of_other_encodings_is_json_dumps():
    tree = StandardMerkleTree.of([[1, "0x" + "ab" * 4], [2, "0x"]], ["uint8", "bytes"])
    assert tree.dump_text() == json.dumps(tree.dump(), indent=2) + "\n"


def test_of_payouts_rejects_what_of_rejects():
    good = to_checksum_address("0x" + "ab12" * 10)
    mixed = good[:2] + good[2:].swapcase()  # mixed case, checksum wrong
    with pytest.raises(MerkleError, match=r"value #1: .*bad EIP-55 checksum"):
        StandardMerkleTree.of_payouts([B, mixed], [1, 2])
    with pytest.raises(MerkleError, match=r"value #0: .*expected 0x followed by 40 hex"):
        StandardMerkleTree.of_payouts(["0x12"], [1])
    with pytest.raises(MerkleError, match=r"value #0: uint256 value -1 out of range"):
        StandardMerkleTree.of_payouts([B], [-1])
    with pytest.raises(MerkleError, match="non-zero number of leaves"):
        StandardMerkleTree.of_payouts([], [])
    with pytest.raises(MerkleError, match="1 accounts but 2 amounts"):
        StandardMerkleTree.of_payouts([B], [1, 2])
    with pytest.raises(MerkleError, match=r"value #1: uint256 value True out of range"):
        StandardMerkleTree.of_payouts([A, B], [1, True])
    # 42 characters each and 80 hex digits in all, but the first lacks "0x" and the second
    # hides one inside: the whole-list checks must not take them for two addresses
    with pytest.raises(MerkleError, match=r"value #0: .*expected 0x followed by 40 hex"):
        StandardMerkleTree.of_payouts(["ab" + "12" * 20, "0x" + "34" * 18 + "0xab"], [1, 2])


def test_build_bad_checksum_names_the_row(tmp_path):
    good = to_checksum_address("0x" + "ab12" * 10)
    mixed = good[:2] + good[2:].swapcase()
    payouts = write(tmp_path / "p.csv", f"account,amount\n{B},1\n{mixed},2\n")
    done = cli("merkle", "build", str(payouts), "--out", str(tmp_path / "t.json"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "row 3:" in lines[0] and "EIP-55" in lines[0]
    assert str(payouts) in lines[0]
