"""The oracle's inputs bundle spliced from stored reveal bytes equals the canonical JSON of the
whole bundle (the bytes whose keccak256 every oracle of a committee proposes)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from labelproof.oracle.records import (
    BUNDLE_FORMAT,
    GOLD_NONE,
    GOLD_REVEALED,
    GOLD_WITHHELD,
    inputs_bundle,
)
from labelproof.spec import canonical_json

texts = st.text(min_size=1, max_size=12)
reveal = st.fixed_dictionaries(
    {
        "annotator": texts,
        "labels": st.lists(
            st.fixed_dictionaries({"item": texts, "label": texts, "salt": texts}), max_size=4
        ),
        "version": st.integers(0, 2**32),
    }
)


@settings(max_examples=200, deadline=None)
@given(
    reveals=st.lists(reveal, max_size=5),
    excluded=st.lists(texts, max_size=3),
    gold_status=st.sampled_from([GOLD_NONE, GOLD_REVEALED, GOLD_WITHHELD]),
    gold_rows=st.lists(st.lists(texts, min_size=2, max_size=2), max_size=3),
)
def test_spliced_bundle_is_the_canonical_bundle(
    reveals: list[dict[str, Any]],
    excluded: list[str],
    gold_status: str,
    gold_rows: list[list[str]],
) -> None:
    task = {"chain_id": 1, "escrow": "0x" + "ab" * 20, "task_id": 7, "gold_commitment": "0x01"}
    spec = {"title": "t\u00e9", "items": ["a", "b"], "scoring": {"gold_weight": 1.0}}
    common: dict[str, Any] = {
        "task": task,
        "scoring_version": "1.1.0",
        "spec": spec,
        "excluded": excluded,
        "gold_status": gold_status,
        "gold_rows": gold_rows,
        "gold_salt": "0x" + "11" * 32,
    }
    spliced = inputs_bundle(**common, reveal_documents=[canonical_json(r) for r in reveals])
    gold: Any = None
    if gold_status == GOLD_REVEALED:
        gold = {
            "status": GOLD_REVEALED,
            "commitment": "0x01",
            "gold": gold_rows,
            "salt": "0x" + "11" * 32,
        }
    elif gold_status == GOLD_WITHHELD:
        gold = {"status": GOLD_WITHHELD, "commitment": "0x01"}
    expected = canonical_json(
        {
            "format": BUNDLE_FORMAT,
            "scoring_version": "1.1.0",
            "task": task,
            "spec": spec,
            "reveals": reveals,
            "excluded": sorted(excluded),
            "gold": gold,
        }
    )
    assert spliced == expected
    assert inputs_bundle(**common, reveals=reveals) == expected


def test_compute_payout_scores_what_the_reveals_say() -> None:
    """The scheduler's column building (numpy arrays, repeated workers) scores exactly what
    AnswerSet.from_rows over the same (item, worker, label) rows scores."""
    import random

    from labelproof.merkle import payout_tree
    from labelproof.oracle.records import RevealedLabel, reveal_document
    from labelproof.oracle.scheduler import compute_payout
    from labelproof.oracle.store import RevealRow, TaskRow
    from labelproof.scoring import AnswerSet, score
    from labelproof.spec import ScoringSpec, TaskSpec

    rng = random.Random(7)
    items = [f"img-{i:03d}" for i in range(40)]
    labels = ("cat", "dog", "bird")
    truth = {i: rng.choice(labels) for i in items}
    spec = TaskSpec("t", labels, tuple(items), ScoringSpec("dawid-skene", "1.1.0", None, 1.0))
    escrow = "0x" + "ab" * 20
    reveals, rows = [], []
    for n in range(12):
        annotator = "0x" + f"{n + 1:040x}"
        chosen = rng.sample(items, 25)
        revealed = sorted(
            (
                RevealedLabel(i, truth[i] if rng.random() < 0.8 else rng.choice(labels), b"\1" * 32)
                for i in chosen
            ),
            key=lambda x: x.item,
        )
        doc = canonical_json(reveal_document(1, escrow, 3, annotator, 1, b"\0" * 32, revealed))
        reveals.append(RevealRow(3, annotator, 1, "0x" + "00" * 32, 25, doc.decode(), "0x01", 0.0))
        rows += [(x.item, annotator, x.label) for x in revealed]
    task = TaskRow(3, escrow, escrow, 10**21, "0x" + "00" * 32, "0x" + "00" * 32, 0, 0, 0, 0, 0)
    computed = compute_payout(
        chain_id=1, escrow=escrow, task=task, spec=spec, reveals=reveals, excluded=[], gold=None
    )
    expected = score(AnswerSet.from_rows(rows), None, method="ds", budget=10**21)
    payouts = {w: a for w, a in expected.payouts.items() if a > 0}
    assert computed.root == payout_tree(payouts).root
    assert computed.total == sum(payouts.values())
    assert computed.inputs_hash == "0x" + keccak(computed.bundle).hex()


_TEXT = st.text(min_size=1, max_size=12)  # any code point but lone surrogates, quotes included


@given(
    entries=st.dictionaries(_TEXT, _TEXT, min_size=1, max_size=8),
    salt=st.binary(min_size=32, max_size=32),
    version=st.integers(0, 2**32 - 1),
    task_id=st.integers(1, 2**63 - 1),
)
@settings(max_examples=200, deadline=None)
def test_reveal_document_bytes_is_the_canonical_json_of_the_document(
    entries: dict[str, str], salt: bytes, version: int, task_id: int
) -> None:
    """The intake writes the stored reveal out by hand; its bytes (and so the receipt) must be
    canonical_json(reveal_document(...)) exactly, whatever the items and labels hold."""
    from labelproof.oracle.records import (
        RevealedLabel,
        parse_labels,
        receipt_of,
        reveal_document,
        reveal_document_bytes,
    )

    labels = parse_labels([(i, v, "0x" + salt.hex()) for i, v in entries.items()])
    assert labels == sorted(RevealedLabel(i, v, salt) for i, v in entries.items())
    annotator, escrow = "0x" + "ab" * 20, "0x" + "Cd" * 20
    args = (31337, escrow, task_id, annotator, version, bytes(range(32)), labels)
    expected = canonical_json(reveal_document(*args))
    assert reveal_document_bytes(*args) == expected
    assert receipt_of(expected) == "0x" + keccak(expected).hex()


def test_parse_labels_refuses_what_the_salt_pattern_refuses() -> None:
    """The salt check without its regex refuses exactly what the pattern refuses."""
    from labelproof.oracle.records import RevealError, parse_labels

    good = "0x" + "aB" * 32
    assert parse_labels([("i", "l", good)])[0].salt == bytes.fromhex("ab" * 32)
    for bad in (
        "0x" + "ab" * 31,  # 31 bytes
        "0x" + "ab" * 33,
        "0X" + "ab" * 32,
        "ab" * 33,
        "0x" + "ab" * 31 + " a",  # whitespace fromhex would skip
        "0x" + "a b" * 21 + "a",
        "0x" + "gg" * 32,
        "0x" + "\uff10" * 64,  # full-width digits
    ):
        with pytest.raises(RevealError, match=r"labels\[0\]: salt must be 0x followed by 64"):
            parse_labels([("i", "l", bad)])


@given(raw=st.binary(min_size=20, max_size=20), case=st.sampled_from(["lower", "upper", "mixed"]))
@settings(max_examples=200, deadline=None)
def test_checksum_address_is_eth_utils(raw: bytes, case: str) -> None:
    from eth_utils import to_checksum_address

    from labelproof.oracle.records import checksum_address

    expected = to_checksum_address(raw)
    given_as = {"lower": expected.lower(), "upper": "0x" + expected[2:].upper(), "mixed": expected}
    assert checksum_address(given_as[case]) == expected
    for bad in (expected[2:], "0X" + expected[2:], expected + "0", expected[:-1] + "g", b"\0" * 20):
        with pytest.raises(ValueError, match="is not 0x followed by 40 hex digits"):
            checksum_address(bad)  # type: ignore[arg-type]
