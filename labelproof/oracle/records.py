"""The oracle's off-chain documents: stored reveals (whose hash is the receipt) and reports.

Both are canonical JSON (labelproof.spec.canonical_json) built only from chain facts and the
submitted data, never from anything local to one oracle (its address, clock or database), so
every oracle given the same inputs produces the same bytes, receipts and report hash.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak, to_checksum_address

from labelproof.commitments import annotation_leaf, annotation_root
from labelproof.spec import canonical_json

REVEAL_FORMAT = "labelproof-reveal/1"
REPORT_FORMAT = "labelproof-report/1"

_SALT = re.compile(r"0x[0-9a-fA-F]{64}")


class RevealError(ValueError):
    """A reveal is malformed; the message names the entry."""


@dataclass(frozen=True)
class RevealedLabel:
    item: str
    label: str
    salt: bytes


def parse_salt(value: str, where: str) -> bytes:
    if not isinstance(value, str) or not _SALT.fullmatch(value):
        raise RevealError(f"{where}: salt must be 0x followed by 64 hex digits (32 bytes)")
    return bytes.fromhex(value[2:])


def parse_labels(entries: list[tuple[str, str, str]]) -> list[RevealedLabel]:
    """(item, label, salt hex) triples to labels sorted by item; an item listed twice is refused."""
    out: dict[str, RevealedLabel] = {}
    for n, (item, label, salt) in enumerate(entries):
        where = f"labels[{n}]"
        if not item or not label:
            raise RevealError(f"{where}: item and label must be non-empty strings")
        if item in out:
            raise RevealError(f"{where}: item {item!r} is revealed twice")
        out[item] = RevealedLabel(item, label, parse_salt(salt, where))
    if not out:
        raise RevealError("labels: a reveal needs at least one label")
    return [out[item] for item in sorted(out)]


def reveal_root(
    chain_id: int, escrow: str, task_id: int, annotator: str, labels: list[RevealedLabel]
) -> bytes:
    """The annotation root the annotator must have attested to for these labels."""
    leaves = [
        annotation_leaf(chain_id, escrow, task_id, x.item, annotator, x.label, x.salt)
        for x in labels
    ]
    return annotation_root(leaves)


def reveal_document(
    chain_id: int,
    escrow: str,
    task_id: int,
    annotator: str,
    version: int,
    root: bytes,
    labels: list[RevealedLabel],
) -> dict[str, Any]:
    """The stored reveal: everything an auditor needs to recompute the leaves and the root."""
    return {
        "format": REVEAL_FORMAT,
        "chain_id": chain_id,
        "escrow": to_checksum_address(escrow),
        "task_id": task_id,
        "annotator": to_checksum_address(annotator),
        "version": version,
        "root": "0x" + root.hex(),
        "item_count": len(labels),
        "labels": [
            {"item": x.item, "label": x.label, "salt": "0x" + x.salt.hex()}
            for x in sorted(labels, key=lambda x: x.item)
        ],
    }


def receipt_of(document_bytes: bytes) -> str:
    return "0x" + bytes(keccak(document_bytes)).hex()


def document_labels(reveal_json: str) -> list[tuple[str, str, str]]:
    """(item, label, salt) of a stored reveal, in item order."""
    doc = json.loads(reveal_json)
    return [(x["item"], x["label"], x["salt"]) for x in doc["labels"]]


def report_envelope(
    *,
    chain_id: int,
    escrow: str,
    task_id: int,
    spec_hash: str,
    gold_commitment: str,
    budget: int,
    receipts: list[str],
    excluded: list[str],
    root: str,
    total: int,
    accounts: int,
    scoring: dict[str, Any] | None,
) -> bytes:
    """The payout report whose keccak256 is the reportHash posted on chain.

    It binds the scoring report to this task (chain, escrow, id, spec and gold commitments) and
    to the exact reveals scored (the keccak256 of their receipts in annotator order), so a
    report cannot be replayed for another task and an auditor can tell which reveals counted.
    """
    doc = {
        "format": REPORT_FORMAT,
        "task": {
            "chain_id": chain_id,
            "escrow": to_checksum_address(escrow),
            "task_id": task_id,
            "spec_hash": spec_hash,
            "gold_commitment": gold_commitment,
            "budget": budget,
        },
        "reveals": {
            "count": len(receipts),
            "receipts_keccak": "0x" + bytes(keccak(canonical_json(receipts))).hex(),
            # Annotators whose stored reveal no longer matches their final attestation.
            "excluded": excluded,
        },
        "payout": {"root": root, "total": total, "accounts": accounts},
        "scoring": scoring,
    }
    return canonical_json(doc)
