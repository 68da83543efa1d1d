"""The oracle's off-chain documents: stored reveals (whose hash is the receipt), the inputs
bundle (whose hash is the on-chain inputsHash) and reports (whose hash is the reportHash).

All are canonical JSON (labelproof.spec.canonical_json) built only from chain facts and the
submitted data, never from anything local to one oracle (its address, clock, database or
settings), so every oracle given the same inputs produces the same bytes and hashes.

The inputs bundle (format ``labelproof-inputs/1``) is everything needed to recompute a payout:

* ``format``, ``scoring_version`` (labelproof.scoring.SCORING_VERSION of the scorer);
* ``task``: chain_id, escrow, task_id, spec_hash, gold_commitment, budget (the chain's facts);
* ``spec``: the task spec (its canonical JSON hashes to spec_hash);
* ``reveals``: the stored reveal documents scored (labels with salts), by annotator;
* ``excluded``: annotators whose stored reveal no longer matched their final attestation;
* ``gold``: null when the task commits to no gold set; else ``{"status": "revealed",
  "commitment", "gold": [[item, label], ...], "salt"}``, or ``{"status": "withheld",
  "commitment"}`` when the requester did not reveal the gold set by the gold deadline and the
  task was scored without it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from json.encoder import encode_basestring  # what json.dumps(ensure_ascii=False) uses
from typing import Any, NamedTuple

from eth_utils import keccak, to_checksum_address
from sha3 import keccak_256

from labelproof.commitments import annotation_leaves, annotation_root
from labelproof.merkle import checksum_lower_hex
from labelproof.spec import canonical_json

REVEAL_FORMAT = "labelproof-reveal/1"
REPORT_FORMAT = "labelproof-report/2"
BUNDLE_FORMAT = "labelproof-inputs/1"

# Default seconds after the reveal deadline for the requester to reveal the gold set.
DEFAULT_GOLD_GRACE = 3600

# What became of a task's gold set when it was scored.
GOLD_NONE = "none"  # the task commits to no gold set
GOLD_REVEALED = "revealed"  # the requester revealed it in time; scored with it
GOLD_WITHHELD = "withheld"  # not revealed by the gold deadline; scored without it
WITHHELD_NOTE = (
    "the requester did not reveal the gold set to the oracle by the gold deadline (the reveal "
    "deadline plus the oracle's gold grace), so the task was scored without gold"
)


def gold_deadline(reveal_deadline: int, oracle_timeout: int, gold_grace: int) -> int:
    """The last second (chain time) at which the requester may reveal the gold set.

    ``gold_grace`` after the reveal deadline, but never more than half the task's oracle
    timeout, so that withholding the gold set can never make the oracle miss the oracle
    deadline (after which the requester would take the whole budget back).
    """
    return reveal_deadline + min(max(gold_grace, 0), oracle_timeout // 2)


_SALT = re.compile(r"0x[0-9a-fA-F]{64}")


class RevealError(ValueError):
    """A reveal is malformed; the message names the entry."""


class RevealedLabel(NamedTuple):
    # A named tuple rather than a frozen dataclass: a reveal makes one per label, and the
    # intake takes a thousand reveals a second.
    item: str
    label: str
    salt: bytes


def parse_salt(value: str, where: str) -> bytes:
    if not isinstance(value, str) or not _SALT.fullmatch(value):
        raise RevealError(f"{where}: salt must be 0x followed by 64 hex digits (32 bytes)")
    return bytes.fromhex(value[2:])


def _salt32(value: object) -> bytes | None:
    """parse_salt's bytes without its regex, or None where it would refuse: 64 characters
    that give 32 bytes are 64 hex digits (fromhex skips whitespace, so any would leave fewer)."""
    if type(value) is not str or len(value) != 66 or not value.startswith("0x"):
        return None
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


def parse_labels(entries: list[tuple[str, str, str]]) -> list[RevealedLabel]:
    """(item, label, salt hex) triples to labels sorted by item; an item listed twice is refused."""
    out: dict[str, RevealedLabel] = {}
    for n, (item, label, salt) in enumerate(entries):
        if not item or not label:
            raise RevealError(f"labels[{n}]: item and label must be non-empty strings")
        if item in out:
            raise RevealError(f"labels[{n}]: item {item!r} is revealed twice")
        raw = _salt32(salt)
        if raw is None:
            raw = parse_salt(salt, f"labels[{n}]")
        out[item] = RevealedLabel(item, label, raw)
    if not out:
        raise RevealError("labels: a reveal needs at least one label")
    return [out[item] for item in sorted(out)]


def reveal_root(
    chain_id: int, escrow: str, task_id: int, annotator: str, labels: list[RevealedLabel]
) -> bytes:
    """The annotation root the annotator must have attested to for these labels."""
    leaves = annotation_leaves(
        chain_id, escrow, task_id, annotator, ((x.item, x.label, x.salt) for x in labels)
    )
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


_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def checksum_address(address: str) -> str:
    """eth_utils.to_checksum_address of a ``0x`` + 40 hex digits address (ValueError for
    anything else), through merkle's EIP-55 (a tenth of eth_utils' time): the intake
    checksums every reveal's annotator and escrow."""
    if type(address) is not str or not _HEX_ADDRESS.fullmatch(address):
        raise ValueError(f"{address!r} is not 0x followed by 40 hex digits")
    return checksum_lower_hex(address[2:].lower().encode("ascii"))


def reveal_document_bytes(
    chain_id: int,
    escrow: str,
    task_id: int,
    annotator: str,
    version: int,
    root: bytes,
    labels: list[RevealedLabel],
) -> bytes:
    """``canonical_json(reveal_document(...))``, written out: the keys in sorted order and
    every string escaped as json.dumps escapes it, at a fraction of the cost (the reveal
    intake stores one per request; test_oracle_records checks the two agree byte for byte).
    `labels` must be sorted by item, as parse_labels returns them."""
    enc = encode_basestring
    rows = ",".join(
        f'{{"item":{enc(x.item)},"label":{enc(x.label)},"salt":"0x{x.salt.hex()}"}}' for x in labels
    )
    text = (
        f'{{"annotator":"{checksum_address(annotator)}","chain_id":{int(chain_id)},'
        f'"escrow":"{checksum_address(escrow)}","format":"{REVEAL_FORMAT}",'
        f'"item_count":{len(labels)},"labels":[{rows}],"root":"0x{root.hex()}",'
        f'"task_id":{int(task_id)},"version":{int(version)}}}'
    )
    return text.encode("utf-8")


def receipt_of(document_bytes: bytes) -> str:
    # keccak256 (pysha3's C hash: eth_utils' keccak goes through pycryptodome, 3x slower on a
    # reveal's 12 kB).
    return "0x" + keccak_256(document_bytes).hexdigest()


def document_labels(reveal_json: str) -> list[tuple[str, str, str]]:
    """(item, label, salt) of a stored reveal, in item order."""
    doc = json.loads(reveal_json)
    return [(x["item"], x["label"], x["salt"]) for x in doc["labels"]]


def task_facts(
    *,
    chain_id: int,
    escrow: str,
    task_id: int,
    spec_hash: str,
    gold_commitment: str,
    budget: int,
) -> dict[str, Any]:
    """The chain's facts about a task that bind a bundle or report to it."""
    return {
        "chain_id": chain_id,
        "escrow": to_checksum_address(escrow),
        "task_id": task_id,
        "spec_hash": spec_hash,
        "gold_commitment": gold_commitment,
        "budget": budget,
    }


def bundle_ends(
    *,
    task: dict[str, Any],
    scoring_version: str,
    spec: dict[str, Any],
    excluded: list[str],
    gold_status: str,
    gold_rows: list[list[str]] | None = None,
    gold_salt: str | None = None,
) -> tuple[bytes, bytes]:
    """The inputs bundle's bytes before its first reveal document and after its last: the
    bundle is ``head + b",".join(reveal documents) + tail``.

    Canonical JSON nests canonical JSON, so splicing the stored reveal documents (canonical
    bytes) between the two gives the same bundle byte for byte as encoding the whole object,
    without ever holding the reveals twice (the scheduler streams them through a hash and
    into the database; see scheduler.score_documents)."""
    gold: dict[str, Any] | None
    if gold_status == GOLD_NONE:
        gold = None
    elif gold_status == GOLD_REVEALED:
        gold = {
            "status": GOLD_REVEALED,
            "commitment": task["gold_commitment"],
            "gold": gold_rows,
            "salt": gold_salt,
        }
    elif gold_status == GOLD_WITHHELD:
        gold = {"status": GOLD_WITHHELD, "commitment": task["gold_commitment"]}
    else:
        raise ValueError(f"unknown gold status {gold_status!r}")
    # The keys in canonical (sorted) order, "reveals" spliced in place.
    head = canonical_json({"excluded": sorted(excluded), "format": BUNDLE_FORMAT, "gold": gold})
    tail = canonical_json({"scoring_version": scoring_version, "spec": spec, "task": task})
    return head[:-1] + b',"reveals":[', b"]," + tail[1:]


def inputs_bundle(
    *,
    task: dict[str, Any],
    scoring_version: str,
    spec: dict[str, Any],
    reveals: list[dict[str, Any]] | None = None,
    excluded: list[str],
    gold_status: str,
    gold_rows: list[list[str]] | None = None,
    gold_salt: str | None = None,
    reveal_documents: list[bytes] | None = None,
) -> bytes:
    """The canonical inputs bundle; its keccak256 is the inputsHash proposed on chain.

    The reveals come as dicts (``reveals``) or, without parsing them again, as their stored
    canonical bytes (``reveal_documents``); see ``bundle_ends``.
    """
    if reveal_documents is None:
        reveal_documents = [canonical_json(r) for r in reveals or []]
    elif reveals is not None:
        raise ValueError("give the reveals as dicts or as stored documents, not both")
    head, tail = bundle_ends(
        task=task,
        scoring_version=scoring_version,
        spec=spec,
        excluded=excluded,
        gold_status=gold_status,
        gold_rows=gold_rows,
        gold_salt=gold_salt,
    )
    return b"".join(bundle_pieces(head, tail, reveal_documents))


def bundle_pieces(head: bytes, tail: bytes, reveal_documents: Iterable[bytes]) -> Iterator[bytes]:
    """The inputs bundle's bytes in pieces, as they come (``bundle_ends``): the scheduler hashes
    and stores a large bundle from these without joining it."""
    yield head
    for n, document in enumerate(reveal_documents):
        if n:
            yield b","
        yield document
    yield tail


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
    inputs_hash: str,
    gold_status: str,
) -> bytes:
    """The payout report whose keccak256 is the reportHash posted on chain.

    It binds the scoring report to this task (chain, escrow, id, spec and gold commitments), to
    the exact reveals scored (the keccak256 of their receipts in annotator order) and to the
    inputs bundle (its keccak256), so a report cannot be replayed for another task and an
    auditor can tell which reveals counted. ``gold.status`` says whether the gold set was
    used, and, when the requester withheld it, says so in words.
    """
    gold: dict[str, Any] = {"status": gold_status}
    if gold_status == GOLD_WITHHELD:
        gold["note"] = WITHHELD_NOTE
    doc = {
        "format": REPORT_FORMAT,
        "task": task_facts(
            chain_id=chain_id,
            escrow=escrow,
            task_id=task_id,
            spec_hash=spec_hash,
            gold_commitment=gold_commitment,
            budget=budget,
        ),
        "inputs": {"format": BUNDLE_FORMAT, "hash": inputs_hash},
        "gold": gold,
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
