"""The oracle's inputs bundle spliced from stored reveal bytes equals the canonical JSON of the
whole bundle (the bytes whose keccak256 every oracle of a committee proposes)."""

from __future__ import annotations

from typing import Any

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
