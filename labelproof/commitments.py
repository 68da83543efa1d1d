"""Annotators' commitments: annotation leaves, their root, and EIP-712 attestations.

A leaf binds one label to one place: (chainId, escrow, taskId, item, annotator, keccak(label,
salt)). The salt keeps a label secret until the reveal; the chain id, escrow and task stop a
reveal from being replayed into another task. The annotator attests to the Merkle root of its
leaves (sorted-pair hashing, as OpenZeppelin's MerkleProof verifies) plus the item count.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address
from sha3 import keccak_256 as _keccak_256

EIP712_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
ATTESTATION_TYPES = {
    "Attestation": [
        {"name": "taskId", "type": "uint256"},
        {"name": "annotator", "type": "address"},
        {"name": "root", "type": "bytes32"},
        {"name": "itemCount", "type": "uint32"},
        {"name": "version", "type": "uint32"},
    ]
}
REGISTRY_DOMAIN_NAME = "labelproof AttestationRegistry"
REGISTRY_DOMAIN_VERSION = "1"


def new_salt() -> bytes:
    """32 fresh random bytes (a leaf salt)."""
    return os.urandom(32)


def _keccak(data: bytes) -> bytes:
    """keccak256 without eth_utils' argument checks: leaves are hashed by the million."""
    return bytes(_keccak_256(data).digest())


@lru_cache(maxsize=1 << 16)
def item_key(item: str) -> bytes:
    """Items are named by strings off chain; leaves carry their keccak256."""
    return _keccak(item.encode("utf-8"))


_STRING_OFFSET = (64).to_bytes(32, "big")


def label_hash(label: str, salt: bytes) -> bytes:
    """keccak256(abi.encode(label, salt)), the encoding written out: a head of the string's
    offset and the salt, then the string's length and its bytes padded to 32."""
    if len(salt) != 32:
        raise ValueError(f"salt must be 32 bytes, got {len(salt)}")
    text = label.encode("utf-8")
    padding = bytes(-len(text) % 32)
    return _keccak(_STRING_OFFSET + salt + len(text).to_bytes(32, "big") + text + padding)


def _address_word(address: str) -> bytes:
    raw = bytes.fromhex(address[2:]) if address[:2] in ("0x", "0X") else b""
    if len(raw) != 20:
        raise ValueError(f"{address!r} is not a 20-byte hex address")
    return bytes(12) + raw


def annotation_leaf(
    chain_id: int, escrow: str, task_id: int, item: str, annotator: str, label: str, salt: bytes
) -> bytes:
    """keccak256(abi.encode(chainId, escrow, taskId, keccak(item), annotator, labelHash)):
    six static words, written out (eth_abi's encoder is most of the cost otherwise)."""
    return _keccak(
        chain_id.to_bytes(32, "big")
        + _address_word(escrow)
        + task_id.to_bytes(32, "big")
        + item_key(item)
        + _address_word(annotator)
        + label_hash(label, salt)
    )


def annotation_leaves(
    chain_id: int,
    escrow: str,
    task_id: int,
    annotator: str,
    labelled: Iterable[tuple[str, str, bytes]],
) -> list[bytes]:
    """:func:`annotation_leaf` of every (item, label, salt) of one annotator, the words they
    share encoded once (a reveal has a handful of distinct labels for many items)."""
    head = chain_id.to_bytes(32, "big") + _address_word(escrow) + task_id.to_bytes(32, "big")
    who = _address_word(annotator)
    tails: dict[str, bytes] = {}  # label -> abi.encode's length word, bytes and padding
    leaves = []
    for item, label, salt in labelled:
        if len(salt) != 32:
            raise ValueError(f"salt must be 32 bytes, got {len(salt)}")
        tail = tails.get(label)
        if tail is None:
            text = label.encode("utf-8")
            tail = len(text).to_bytes(32, "big") + text + bytes(-len(text) % 32)
            tails[label] = tail
        hashed_label = _keccak_256(_STRING_OFFSET + salt + tail).digest()
        leaves.append(_keccak_256(head + item_key(item) + who + hashed_label).digest())
    return leaves


def _hash_pair(a: bytes, b: bytes) -> bytes:
    return _keccak(a + b) if a < b else _keccak(b + a)


def annotation_root(leaves: list[bytes]) -> bytes:
    """Merkle root over the leaves sorted by value (the order the annotator labelled in is
    private and irrelevant), pairing sorted as OpenZeppelin's MerkleProof expects."""
    if not leaves:
        raise ValueError("an annotator's root needs at least one leaf")
    level = sorted(leaves)
    k = _keccak_256
    while len(level) > 1:
        nxt = [
            k(a + b).digest() if a < b else k(b + a).digest()
            for a, b in zip(level[0::2], level[1::2], strict=False)
        ]
        if len(level) % 2:
            nxt.append(level[-1])  # an odd node moves up unchanged
        level = nxt
    return level[0]


def annotation_proof(leaves: list[bytes], leaf: bytes) -> list[bytes]:
    """The sibling path from `leaf` to :func:`annotation_root` of `leaves`, as OpenZeppelin's
    MerkleProof.verify (and AttestationRegistry.verifyAnnotation) expect it."""
    level = sorted(leaves)
    try:
        index = level.index(leaf)
    except ValueError:
        raise ValueError("leaf is not among the annotator's leaves") from None
    proof: list[bytes] = []
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        nxt = [_hash_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
        index //= 2
    return proof


@dataclass(frozen=True)
class SignedAttestation:
    task_id: int
    annotator: str
    root: bytes
    item_count: int
    version: int
    v: int
    r: bytes
    s: bytes

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI tuple AttestationRegistry.attestBySig takes."""
        return (
            self.task_id,
            self.annotator,
            self.root,
            self.item_count,
            self.version,
            self.v,
            self.r,
            self.s,
        )


def attestation_typed_data(
    chain_id: int,
    registry: str,
    task_id: int,
    annotator: str,
    root: bytes,
    item_count: int,
    version: int,
) -> dict[str, Any]:
    """The EIP-712 message (domain, types, message) an annotator signs."""
    return {
        "types": {
            "EIP712Domain": EIP712_DOMAIN_TYPE,
            **ATTESTATION_TYPES,
        },
        "primaryType": "Attestation",
        "domain": {
            "name": REGISTRY_DOMAIN_NAME,
            "version": REGISTRY_DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(registry),
        },
        "message": {
            "taskId": task_id,
            "annotator": to_checksum_address(annotator),
            "root": root,
            "itemCount": item_count,
            "version": version,
        },
    }


def sign_attestation(
    private_key: bytes | str,
    chain_id: int,
    registry: str,
    task_id: int,
    root: bytes,
    item_count: int,
    version: int,
) -> SignedAttestation:
    account = Account.from_key(private_key)
    data = attestation_typed_data(
        chain_id, registry, task_id, account.address, root, item_count, version
    )
    signed = account.sign_message(encode_typed_data(full_message=data))
    return SignedAttestation(
        task_id=task_id,
        annotator=account.address,
        root=root,
        item_count=item_count,
        version=version,
        v=signed.v,
        r=signed.r.to_bytes(32, "big"),
        s=signed.s.to_bytes(32, "big"),
    )
