"""OpenZeppelin multiproofs over a :class:`~labelproof.merkle.StandardMerkleTree`.

One multiproof proves many leaves of a tree at once, sharing the hashes their paths have in
common; the escrow's ``claimBatch`` checks it with ``MerkleProof.multiProofVerifyCalldata``. The
construction is ``getMultiProof`` of ``@openzeppelin/merkle-tree`` (v1.0.8, ``core.ts``), run
on the tree's flat node array, so the proof, the flags and the leaf order are byte for byte
what the JS library returns for the same indices:

* the leaves' tree indices are sorted descending (deepest, right-most first) and kept on a
  queue; each step takes the first node, and if the next one on the queue is its sibling the
  pair is hashed from the queue (flag ``True``), else the sibling comes from the proof (flag
  ``False``); the parent goes to the back of the queue, until only the root is left;
* the leaves are returned in that order, which is the order the contract must receive them in.

Leaves adjacent in the tree share most of their paths: a sponsor paying many accounts of one
task pays least by batching them in tree order (:func:`batches_in_tree_order`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from labelproof.merkle import MerkleError, StandardMerkleTree, keccak256

__all__ = ["MultiProof", "batches_in_tree_order", "multiproof", "process_multiproof"]


@dataclass(frozen=True)
class MultiProof:
    """What ``multiProofVerify`` takes, besides the root.

    ``values`` are the proven leaves' values (for payouts ``(account, amount)``) and ``leaves``
    their leaf hashes, both in the order the verifier consumes them.
    """

    values: list[tuple[Any, ...]]
    leaves: list[str]
    proof: list[str]
    proof_flags: list[bool]


def _node(a: bytes, b: bytes) -> bytes:
    return keccak256(a + b if a <= b else b + a)


def multiproof(tree: StandardMerkleTree, value_indices: Iterable[int]) -> MultiProof:
    """The multiproof of the values at ``value_indices`` (positions in ``tree.entries()``).

    Raises :class:`~labelproof.merkle.MerkleError` for an empty selection, an index out of
    range or one given twice (a duplicated leaf cannot be proven, as in JS).
    """
    chosen = list(value_indices)
    if not chosen:
        raise MerkleError("a multiproof needs at least one leaf")
    size = len(tree)
    for i in chosen:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < size:
            raise MerkleError(f"Index out of bounds: {i!r} (the tree has {size} values)")
    nodes = [bytes.fromhex(h[2:]) for h in tree.dump()["tree"]]
    by_tree_index = {tree.tree_index(i): i for i in chosen}
    if len(by_tree_index) != len(chosen):
        raise MerkleError("Cannot prove duplicated index")
    order = sorted(by_tree_index, reverse=True)
    queue = list(order)
    proof: list[str] = []
    flags: list[bool] = []
    head = 0
    while head < len(queue) and queue[head] > 0:
        j = queue[head]
        head += 1
        sibling = j + 1 if j & 1 else j - 1
        if head < len(queue) and queue[head] == sibling:
            flags.append(True)
            head += 1
        else:
            flags.append(False)
            proof.append("0x" + nodes[sibling].hex())
        queue.append((j - 1) >> 1)
    values = [tree.at(by_tree_index[t]) for t in order]
    return MultiProof(
        values=[v for v in values if v is not None],
        leaves=["0x" + nodes[t].hex() for t in order],
        proof=proof,
        proof_flags=flags,
    )


def process_multiproof(mp: MultiProof) -> str:
    """The root the multiproof gives, computed as ``MerkleProof.processMultiProof`` does."""
    leaves = [bytes.fromhex(x[2:]) for x in mp.leaves]
    proof = [bytes.fromhex(x[2:]) for x in mp.proof]
    if len(leaves) + len(proof) != len(mp.proof_flags) + 1:
        raise MerkleError("invalid multiproof: leaves + proof must be flags + 1")
    hashes: list[bytes] = []
    leaf_pos = hash_pos = proof_pos = 0

    def take() -> bytes:
        nonlocal leaf_pos, hash_pos
        if leaf_pos < len(leaves):
            leaf_pos += 1
            return leaves[leaf_pos - 1]
        hash_pos += 1
        return hashes[hash_pos - 1]

    for flag in mp.proof_flags:
        a = take()
        if flag:
            b = take()
        else:
            if proof_pos >= len(proof):
                raise MerkleError("invalid multiproof: it runs out of proof nodes")
            b = proof[proof_pos]
            proof_pos += 1
        hashes.append(_node(a, b))
    if proof_pos != len(proof):
        raise MerkleError("invalid multiproof: proof nodes left over")
    if mp.proof_flags:
        root = hashes[-1]
    elif leaves:
        root = leaves[0]
    else:
        root = proof[0]
    return "0x" + root.hex()


def batches_in_tree_order(
    tree: StandardMerkleTree, value_indices: Sequence[int], size: int
) -> list[list[int]]:
    """``value_indices`` cut into batches of at most ``size``, neighbours in the tree together
    (the cheapest multiproofs: adjacent leaves share their paths)."""
    if size < 1:
        raise MerkleError(f"batch size must be at least 1, got {size}")
    ordered = sorted(value_indices, key=tree.tree_index)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]
