"""Parity tests: labelproof.merkle against the real @openzeppelin/merkle-tree JS library.

The claim contract only accepts proofs whose bytes match what OpenZeppelin's tooling produces,
so the JS library (run through node, from the repository's pinned node_modules) is the oracle
for roots, proofs, dumps and renders, in both directions: Python dump -> JS load, and
JS dump -> Python load.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address as reference_checksum

from labelproof import merkle
from labelproof.merkle import (
    MerkleError,
    StandardMerkleTree,
    keccak256,
    payout_tree,
    to_checksum_address,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
JS_CHECK = Path(__file__).resolve().parent / "js" / "merkle_check.mjs"
OZ_PACKAGE = REPO_ROOT / "node_modules" / "@openzeppelin" / "merkle-tree" / "package.json"
PAYOUT = ["address", "uint256"]
SIZES = [1, 2, 3, 7, 64, 257, 2000]

needs_node = pytest.mark.skipif(
    shutil.which("node") is None or not OZ_PACKAGE.exists(),
    reason="node and the repository's node_modules (npm ci) are needed for the JS oracle",
)


def run_js(tmp_path: Path, *args: Any) -> dict[str, Any]:
    """Run the JS oracle from the repo root so the pinned node_modules are the ones used."""
    done = subprocess.run(
        ["node", str(JS_CHECK), *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"node failed:\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def random_payouts(size: int, seed: int) -> list[tuple[str, int]]:
    """Seeded values covering the uint256 edge cases (0, 1, 2**256-1) and mixed magnitudes."""
    rng = random.Random(seed)
    edge = [0, 1, 2**256 - 1, 10**18]
    values: list[tuple[str, int]] = []
    for i in range(size):
        address = reference_checksum("0x" + rng.randbytes(20).hex())
        amount = (
            edge[i]
            if i < len(edge)
            else rng.choice([rng.randrange(10**6), rng.randrange(10**24), rng.randrange(2**256)])
        )
        values.append((address, amount))
    return values


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


# ---------------------------------------------------------------------------------------------
# primitives
# ---------------------------------------------------------------------------------------------


def test_keccak_is_ethereum_keccak_not_sha3() -> None:
    assert keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )


def test_pycryptodome_fallback_agrees_with_the_fast_keccak() -> None:
    """The fallback backend is only used without safe-pysha3, so check it here explicitly."""
    for data in (b"", b"abc", bytes(range(64)), bytes(200)):
        assert merkle._pycryptodome_keccak(data).digest() == keccak256(data)


def test_uint_alias_and_unsorted_option() -> None:
    values = random_payouts(10, seed=2)
    assert StandardMerkleTree.of(values, ["address", "uint"]).root == (
        StandardMerkleTree.of(values, PAYOUT).root
    )
    unsorted = StandardMerkleTree.of(values, PAYOUT, sort_leaves=False)
    assert [unsorted.tree_index(i) for i in range(10)] == list(range(18, 8, -1))
    for i, value in unsorted.entries():
        assert StandardMerkleTree.verify(unsorted.root, PAYOUT, value, unsorted.get_proof(i))


@pytest.mark.parametrize(
    "address",
    [  # EIP-55 test vectors
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ],
)
def test_checksum_matches_eip55(address: str) -> None:
    assert to_checksum_address(address.lower()) == address
    assert to_checksum_address(address.upper().replace("0X", "0x")) == address
    assert to_checksum_address(address) == address


def test_checksum_matches_eth_utils_on_random_addresses() -> None:
    rng = random.Random(55)
    for _ in range(500):
        lower = "0x" + rng.randbytes(20).hex()
        assert to_checksum_address(lower) == reference_checksum(lower)


def test_readme_example_root() -> None:
    """The root printed in the @openzeppelin/merkle-tree README for its two-leaf example."""
    tree = StandardMerkleTree.of(
        [
            ["0x1111111111111111111111111111111111111111", "5000000000000000000"],
            ["0x2222222222222222222222222222222222222222", "2500000000000000000"],
        ],
        PAYOUT,
    )
    assert tree.root == "0xd4dee0beab2d53f2cc83e567171bd2820e49898130a22622b10ead383e90bd77"


# ---------------------------------------------------------------------------------------------
# Python -> JS
# ---------------------------------------------------------------------------------------------


@needs_node
@pytest.mark.parametrize("size", SIZES)
def test_python_dump_loads_in_js_with_same_root_and_proofs(tmp_path: Path, size: int) -> None:
    tree = StandardMerkleTree.of(random_payouts(size, seed=size), PAYOUT)
    dump_path = write_json(tmp_path / "dump.json", tree.dump())

    js = run_js(tmp_path, dump_path)

    assert js["root"] == tree.root
    assert len(js["proofs"]) == size
    for i in range(size):
        assert js["proofs"][i] == tree.get_proof(i), f"proof {i} differs"
    assert tree.proofs() == js["proofs"]
    assert tree.render() == js["render"]


# ---------------------------------------------------------------------------------------------
# JS -> Python
# ---------------------------------------------------------------------------------------------


@needs_node
@pytest.mark.parametrize("size", SIZES)
def test_js_dump_loads_in_python_with_same_root_and_proofs(tmp_path: Path, size: int) -> None:
    values = [[address, str(amount)] for address, amount in random_payouts(size, seed=1000 + size)]
    js = run_js(
        tmp_path,
        "--of",
        write_json(tmp_path / "in.json", {"leafEncoding": PAYOUT, "values": values}),
    )

    loaded = StandardMerkleTree.load(js["dump"])
    assert loaded.root == js["root"]
    assert loaded.proofs() == js["proofs"]
    assert [loaded.get_proof(i) for i in range(size)] == js["proofs"]

    # Building the same values in Python gives a byte-identical dump (same JSON text, too).
    built = StandardMerkleTree.of(values, PAYOUT)
    assert built.dump() == js["dump"]
    assert json.dumps(built.dump(), separators=(",", ":")) == json.dumps(
        js["dump"], separators=(",", ":")
    )
    assert built.render() == js["render"]


@needs_node
def test_js_dump_with_lowercase_addresses_and_duplicates(tmp_path: Path) -> None:
    """JS keeps values as given; duplicates must keep JS's stable-sort leaf order."""
    base = random_payouts(40, seed=7)
    values = [[a.lower(), str(v)] for a, v in base] + [[base[3][0].lower(), str(base[3][1])]] * 2
    js = run_js(
        tmp_path,
        "--of",
        write_json(tmp_path / "in.json", {"leafEncoding": PAYOUT, "values": values}),
    )
    loaded = StandardMerkleTree.load(js["dump"])
    built = StandardMerkleTree.of(values, PAYOUT)
    assert loaded.root == built.root == js["root"]
    assert loaded.proofs() == built.proofs() == js["proofs"]
    assert [v["treeIndex"] for v in built.dump()["values"]] == [
        v["treeIndex"] for v in js["dump"]["values"]
    ]
    # Our dump canonicalises addresses to checksummed form; JS loads that to the same tree.
    js_again = run_js(tmp_path, write_json(tmp_path / "ours.json", built.dump()))
    assert js_again["root"] == js["root"]
    assert js_again["proofs"] == js["proofs"]


@needs_node
def test_general_leaf_encoding_matches_js(tmp_path: Path) -> None:
    """Non-payout encodings go through eth_abi; check them against JS in both directions."""
    encoding = [
        "uint256",
        "string",
        "bytes32",
        "bool",
        "address[]",
        "int64",
        "bytes",
        "(address,uint8)",
    ]
    rng = random.Random(99)
    values = [
        [
            str(rng.randrange(2**256)),
            f"label-{i}-ünïcode",
            "0x" + rng.randbytes(32).hex(),
            bool(i % 2),
            [reference_checksum("0x" + rng.randbytes(20).hex()) for _ in range(i % 3)],
            str(rng.randrange(-(2**63), 2**63)),
            "0x" + rng.randbytes(i % 5).hex(),
            [reference_checksum("0x" + rng.randbytes(20).hex()), str(rng.randrange(256))],
        ]
        for i in range(13)
    ]
    js = run_js(
        tmp_path,
        "--of",
        write_json(tmp_path / "in.json", {"leafEncoding": encoding, "values": values}),
    )
    built = StandardMerkleTree.of(values, encoding)
    assert built.root == js["root"]
    assert built.proofs() == js["proofs"]
    assert built.dump() == js["dump"]
    loaded = StandardMerkleTree.load(js["dump"])
    assert loaded.root == js["root"]
    assert run_js(tmp_path, write_json(tmp_path / "ours.json", built.dump()))["root"] == js["root"]


@needs_node
def test_unsorted_option_matches_js(tmp_path: Path) -> None:
    values = [[a, str(v)] for a, v in random_payouts(23, seed=23)]
    request = {"leafEncoding": PAYOUT, "values": values, "options": {"sortLeaves": False}}
    js = run_js(tmp_path, "--of", write_json(tmp_path / "in.json", request))
    built = StandardMerkleTree.of(values, PAYOUT, sort_leaves=False)
    assert built.dump() == js["dump"]
    assert built.proofs() == js["proofs"]


# ---------------------------------------------------------------------------------------------
# pure-Python behaviour
# ---------------------------------------------------------------------------------------------


def test_dump_format_and_value_order() -> None:
    payouts = {"0x" + "ab" * 20: 5, "0x" + "01" * 20: 2**255}
    tree = payout_tree(payouts)
    dump = tree.dump()
    assert list(dump) == ["format", "leafEncoding", "tree", "values"]
    assert dump["format"] == "standard-v1"
    assert dump["leafEncoding"] == ["address", "uint256"]
    assert len(dump["tree"]) == 3
    assert all(h.startswith("0x") and h == h.lower() and len(h) == 66 for h in dump["tree"])
    assert [v["value"] for v in dump["values"]] == [
        [to_checksum_address("0x" + "ab" * 20), "5"],
        [to_checksum_address("0x" + "01" * 20), str(2**255)],
    ]
    assert sorted(v["treeIndex"] for v in dump["values"]) == [1, 2]
    assert StandardMerkleTree.load(json.loads(json.dumps(dump))).root == tree.root


def test_proofs_bulk_equals_single_and_lookup_by_value() -> None:
    values = random_payouts(300, seed=3)
    tree = StandardMerkleTree.of(values, PAYOUT)
    assert tree.proofs() == [tree.get_proof(i) for i in range(len(values))]
    assert tree.get_proof(list(values[17])) == tree.get_proof(17)
    assert tree.get_proof((values[17][0].lower(), str(values[17][1]))) == tree.get_proof(17)
    assert tree.leaf_hash(values[17]) == tree.dump()["tree"][tree.tree_index(17)]
    assert list(tree.entries())[17] == (17, values[17])
    assert len(tree) == 300 and tree.at(-1) == values[-1] and tree.at(300) is None
    with pytest.raises(MerkleError, match="Leaf is not in tree"):
        tree.get_proof((values[17][0], values[17][1] + 1))
    with pytest.raises(MerkleError, match="out of bounds"):
        tree.get_proof(-1)
    with pytest.raises(MerkleError, match="out of bounds"):
        tree.get_proof(300)


def test_verify_good_and_tampered() -> None:
    values = random_payouts(57, seed=11)
    tree = StandardMerkleTree.of(values, PAYOUT)
    for i, (address, amount) in enumerate(values):
        proof = tree.get_proof(i)
        assert StandardMerkleTree.verify(tree.root, PAYOUT, [address, amount], proof)
        tampered = amount ^ 1  # stays inside uint256 even for 2**256 - 1
        assert not StandardMerkleTree.verify(tree.root, PAYOUT, [address, tampered], proof)
    address, amount = values[0]
    proof = tree.get_proof(0)
    bad_sibling = "0x" + ("00" if proof[0][2:4] != "00" else "11") + proof[0][4:]
    assert not StandardMerkleTree.verify(
        tree.root, PAYOUT, [address, amount], [bad_sibling, *proof[1:]]
    )
    assert not StandardMerkleTree.verify(tree.root, PAYOUT, [address, amount], proof[:-1])
    with pytest.raises(MerkleError, match="32-byte"):
        StandardMerkleTree.verify(tree.root, PAYOUT, [address, amount], ["0x1234"])


def test_single_leaf_tree_has_empty_proof() -> None:
    tree = payout_tree({"0x" + "42" * 20: 1})
    assert tree.get_proof(0) == [] and tree.proofs() == [[]]
    assert tree.root == tree.leaf_hash(("0x" + "42" * 20, 1))
    assert StandardMerkleTree.verify(tree.root, PAYOUT, ["0x" + "42" * 20, 1], [])


def test_load_rejects_tampering() -> None:
    dump = StandardMerkleTree.of(random_payouts(9, seed=5), PAYOUT).dump()

    wrong_amount = json.loads(json.dumps(dump))
    wrong_amount["values"][5]["value"][1] = str(int(wrong_amount["values"][5]["value"][1]) ^ 1)
    with pytest.raises(MerkleError, match=r"values\[5\].*does not contain the expected value"):
        StandardMerkleTree.load(wrong_amount)

    wrong_node = json.loads(json.dumps(dump))
    wrong_node["tree"][1] = "0x" + "00" * 32
    with pytest.raises(MerkleError, match="Merkle tree is invalid"):
        StandardMerkleTree.load(wrong_node)

    with pytest.raises(MerkleError, match="Unknown format"):
        StandardMerkleTree.load({**dump, "format": "simple-v1"})
    with pytest.raises(MerkleError, match="Expected leaf encoding"):
        StandardMerkleTree.load({k: v for k, v in dump.items() if k != "leafEncoding"})
    internal = json.loads(json.dumps(dump))
    internal["values"][0]["treeIndex"] = 0
    with pytest.raises(MerkleError, match="not a leaf"):
        StandardMerkleTree.load(internal)


# ---------------------------------------------------------------------------------------------
# payout_tree validation
# ---------------------------------------------------------------------------------------------

GOOD = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
OTHER = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"


def test_payout_tree_matches_of() -> None:
    payouts = {GOOD.lower(): 10, OTHER: 0}
    tree = payout_tree(payouts)
    assert tree.root == StandardMerkleTree.of([[GOOD, 10], [OTHER, 0]], PAYOUT).root
    assert tree.at(0) == (GOOD, 10)


@pytest.mark.parametrize(
    ("payouts", "pattern"),
    [
        ({GOOD: 1, OTHER: 2, GOOD.lower(): 3}, r"payout #2 .*duplicate account .*payout #0"),
        ({GOOD: 1, GOOD.upper().replace("0X", "0x"): 3}, r"payout #1 .*duplicate account"),
        ({GOOD: 1, OTHER: -5}, rf"payout #1 \('{OTHER}': -5\).*\[0, 2\*\*256\)"),
        ({OTHER: 2**256}, rf"payout #0 \('{OTHER}': {2**256}\).*\[0, 2\*\*256\)"),
        ({OTHER: True}, r"payout #0 .*must be an int, got bool"),
        ({OTHER: 1.5}, r"payout #0 .*must be an int, got float"),
        ({OTHER: "100"}, r"payout #0 .*must be an int, got str"),
        ({GOOD: 1, "0x1234": 1}, r"payout #1 \('0x1234': 1\).*invalid address"),
        ({"5aaeb6053f3e94c9b9a09f33669435e7ef1beaed": 1}, r"payout #0 .*invalid address"),
        ({"0x" + "zz" * 20: 1}, r"payout #0 .*invalid address"),
        ({GOOD.replace("aA", "Aa"): 1}, r"payout #0 .*bad EIP-55 checksum"),
        ({}, r"payouts is empty"),
    ],
)
def test_payout_tree_rejects(payouts: dict[str, Any], pattern: str) -> None:
    with pytest.raises(MerkleError, match=pattern):
        payout_tree(payouts)


def test_merkle_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        payout_tree({})


def test_of_rejects_bad_values_with_position() -> None:
    with pytest.raises(MerkleError, match=r"value #1: .*out of range"):
        StandardMerkleTree.of([[GOOD, 1], [OTHER, -1]], PAYOUT)
    with pytest.raises(MerkleError, match=r"value #0: .*has 1 fields.*needs 2"):
        StandardMerkleTree.of([[GOOD]], PAYOUT)
    with pytest.raises(MerkleError, match="non-zero number of leaves"):
        StandardMerkleTree.of([], PAYOUT)
    with pytest.raises(MerkleError, match=r"value #0: cannot ABI-encode"):
        StandardMerkleTree.of([["x"]], ["bool"])
