"""labelproof.multiproof against @openzeppelin/merkle-tree's getMultiProof (the JS library run
in node), plus its own checks: the root it gives, batching in tree order and bad input."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from labelproof.merkle import MerkleError, payout_tree
from labelproof.multiproof import (
    MultiProof,
    batches_in_tree_order,
    multiproof,
    process_multiproof,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
JS_CHECK = Path(__file__).resolve().parent / "js" / "multiproof_check.mjs"
OZ_PACKAGE = REPO_ROOT / "node_modules" / "@openzeppelin" / "merkle-tree" / "package.json"

needs_node = pytest.mark.skipif(
    shutil.which("node") is None or not OZ_PACKAGE.exists(),
    reason="node and the repository's node_modules (npm ci) are needed for the JS oracle",
)


def tree_of(n: int, seed: int = 1):
    rng = random.Random(seed)
    accounts = [Account.from_key(rng.randbytes(32)).address for _ in range(n)]
    return payout_tree({a: rng.randrange(1, 10**24) for a in accounts})


def selections(n: int, rng: random.Random) -> list[list[int]]:
    out = [[0], list(range(n)), [n - 1]]
    for _ in range(6):
        out.append(rng.sample(range(n), rng.randint(1, n)))
    return out


@needs_node
@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 257])
def test_same_multiproof_as_js(tmp_path: Path, size: int) -> None:
    tree = tree_of(size, seed=size)
    chosen = selections(size, random.Random(size))
    path = tmp_path / "input.json"
    path.write_text(json.dumps({"dump": tree.dump(), "selections": chosen}))
    done = subprocess.run(
        ["node", str(JS_CHECK), str(path)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
        timeout=120,
    )
    js: list[dict[str, Any]] = json.loads(done.stdout)
    for selection, expected in zip(chosen, js, strict=True):
        mp = multiproof(tree, selection)
        assert expected["verified"] is True
        assert mp.proof == expected["proof"], selection
        assert mp.proof_flags == expected["proofFlags"], selection
        assert [[v[0], str(v[1])] for v in mp.values] == expected["leaves"], selection
        assert process_multiproof(mp) == tree.root


def test_root_of_every_selection() -> None:
    tree = tree_of(100)
    rng = random.Random(5)
    for chosen in selections(100, rng):
        mp = multiproof(tree, chosen)
        assert process_multiproof(mp) == tree.root
        assert len(mp.leaves) + len(mp.proof) == len(mp.proof_flags) + 1
        assert [tree.leaf_hash(v) for v in mp.values] == mp.leaves


def test_tampered_multiproof_gives_another_root() -> None:
    tree = tree_of(20)
    mp = multiproof(tree, [1, 5, 9])
    raised = MultiProof(
        mp.values,
        [tree.leaf_hash((mp.values[0][0], mp.values[0][1] + 1)), *mp.leaves[1:]],
        mp.proof,
        mp.proof_flags,
    )
    assert process_multiproof(raised) != tree.root
    with pytest.raises(MerkleError, match="leaves \\+ proof must be flags \\+ 1"):
        process_multiproof(MultiProof(mp.values, mp.leaves, mp.proof[:-1], mp.proof_flags))


def test_adjacent_leaves_need_fewer_proof_nodes() -> None:
    tree = tree_of(1024)
    adjacent = batches_in_tree_order(tree, range(1024), 100)
    assert [len(b) for b in adjacent] == [100] * 10 + [24]
    assert sorted(i for b in adjacent for i in b) == list(range(1024))
    scattered = random.Random(3).sample(range(1024), 100)
    assert len(multiproof(tree, adjacent[3]).proof) < len(multiproof(tree, scattered).proof) / 4


def test_bad_selections() -> None:
    tree = tree_of(5)
    with pytest.raises(MerkleError, match="at least one leaf"):
        multiproof(tree, [])
    with pytest.raises(MerkleError, match="Index out of bounds: 5"):
        multiproof(tree, [0, 5])
    with pytest.raises(MerkleError, match="Index out of bounds: -1"):
        multiproof(tree, [-1])
    with pytest.raises(MerkleError, match="Cannot prove duplicated index"):
        multiproof(tree, [2, 2])
    with pytest.raises(MerkleError, match="batch size must be at least 1"):
        batches_in_tree_order(tree, [0], 0)
