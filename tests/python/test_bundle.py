"""labelproof.bundle: a proposal's inputs bundle is hash-checked, checked against the task and
recomputed with the oracle's own compute_payout; tampering shows."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from labelproof.bundle import (
    GOLD_REVEALED,
    GOLD_WITHHELD,
    BundleError,
    BundleUnavailable,
    Unverifiable,
    bundle_sources,
    check_hash,
    differences,
    fetch_matching,
    parse_bundle,
    recompute,
)
from labelproof.commitments import new_salt
from labelproof.oracle.records import (
    RevealedLabel,
    receipt_of,
    reveal_document,
    reveal_root,
)
from labelproof.oracle.scheduler import Computed, compute_payout
from labelproof.oracle.store import GoldRow, RevealRow, TaskRow
from labelproof.scoring import SCORING_VERSION
from labelproof.settlement import inputs_hash
from labelproof.spec import ScoringSpec, TaskSpec, canonical_json, gold_commitment, spec_hash

CHAIN_ID = 31337
ESCROW = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TASK_ID = 7
LABELS = ("cat", "dog")
BUDGET = 1_000 * 10**18


class Case:
    """A task with three annotators, its reveals, gold set and the oracle's own computation."""

    def __init__(self, seed: int = 1, *, gold: bool = True) -> None:
        rng = random.Random(seed)
        self.items = [f"img-{i:02d}" for i in range(12)]
        truth = {item: rng.choice(LABELS) for item in self.items}
        self.gold = {item: truth[item] for item in self.items[:4]}
        self.gold_salt = new_salt()
        commitment = gold_commitment(self.gold, self.gold_salt) if gold else bytes(32)
        self.spec = TaskSpec(
            title="Cats or dogs",
            labels=LABELS,
            items=tuple(self.items),
            scoring=ScoringSpec("dawid-skene", SCORING_VERSION, None, 1.0),
            gold_commitment="0x" + commitment.hex() if gold else None,
        )
        self.task = TaskRow(
            task_id=TASK_ID,
            requester="0x" + "11" * 20,
            token="0x" + "22" * 20,
            budget=BUDGET,
            spec_hash="0x" + spec_hash(self.spec).hex(),
            gold_commitment="0x" + commitment.hex(),
            annotation_deadline=1_000,
            reveal_deadline=2_000,
            challenge_period=3_600,
            claim_period=86_400,
            oracle_timeout=86_400,
        )
        self.attested: dict[str, tuple[str, int]] = {}
        self.reveals: list[RevealRow] = []
        for wrong in (0, 1, 3):
            account = Account.create().address
            labels = {
                item: (truth[item] if i >= wrong else _other(truth[item]))
                for i, item in enumerate(self.items)
            }
            self.reveals.append(self.reveal(account, labels))

    def reveal(self, annotator: str, labels: dict[str, str]) -> RevealRow:
        revealed = [
            RevealedLabel(item, label, new_salt()) for item, label in sorted(labels.items())
        ]
        root = reveal_root(CHAIN_ID, ESCROW, TASK_ID, annotator, revealed)
        doc = reveal_document(CHAIN_ID, ESCROW, TASK_ID, annotator, 1, root, revealed)
        body = canonical_json(doc)
        self.attested[annotator] = ("0x" + root.hex(), len(revealed))
        return RevealRow(
            task_id=TASK_ID,
            annotator=annotator,
            version=1,
            root="0x" + root.hex(),
            item_count=len(revealed),
            reveal_json=body.decode(),
            receipt=receipt_of(body),
            stored_at=0.0,
        )

    def gold_row(self) -> GoldRow:
        rows = canonical_json(sorted([k, v] for k, v in self.gold.items())).decode()
        return GoldRow(TASK_ID, rows, "0x" + self.gold_salt.hex(), 0.0)

    def computed(self, *, gold: bool = True) -> Computed:
        return compute_payout(
            chain_id=CHAIN_ID,
            escrow=ESCROW,
            task=self.task,
            spec=self.spec,
            reveals=self.reveals,
            excluded=[],
            gold=self.gold_row() if gold and self.task.has_gold else None,
        )

    def is_attested(self, annotator: str, root: bytes, count: int) -> bool:
        return self.attested.get(annotator) == ("0x" + root.hex(), count)


def _other(label: str) -> str:
    return LABELS[1 - LABELS.index(label)]


def bundle_bytes(c: Computed) -> bytes:
    return c.inputs_json.encode("utf-8")


def rewrite(data: bytes, change: Callable[[dict[str, Any]], object]) -> bytes:
    """The bundle with `change(doc)` applied, re-encoded canonically."""
    doc = json.loads(data)
    change(doc)
    return canonical_json(doc)


def test_recompute_equals_compute_payout() -> None:
    case = Case(seed=1)
    c = case.computed()
    data = bundle_bytes(c)
    check_hash(data, inputs_hash(data))
    bundle = parse_bundle(data)
    assert bundle.gold_status == GOLD_REVEALED and len(bundle.reveals) == 3
    got = recompute(
        bundle, case.task, chain_id=CHAIN_ID, escrow=ESCROW, is_attested=case.is_attested
    )
    assert got.problems == []
    assert got.computed is not None
    assert (got.root, got.total, got.report_hash) == (c.root, c.total, c.report_hash)
    assert got.computed.report == c.report and got.computed.tree_json == c.tree_json
    assert differences(got, c.root, c.total, c.report_hash, inputs_hash(data)) == []
    # the payout is real: the budget is split among the annotators
    assert 0 < c.total <= BUDGET


def test_hash_check_refuses_other_bytes() -> None:
    data = bundle_bytes(Case(seed=2).computed())
    check_hash(data, inputs_hash(data).upper().replace("0X", "0x"))  # case-insensitive
    with pytest.raises(BundleError, match="hashes to 0x"):
        check_hash(data + b" ", inputs_hash(data))
    pretty = json.dumps(json.loads(data), indent=2).encode()  # same content, other bytes
    with pytest.raises(BundleError, match="not the inputsHash"):
        check_hash(pretty, inputs_hash(data))


def test_tampered_label_is_detected() -> None:
    case = Case(seed=3)
    c = case.computed()
    data = bundle_bytes(c)

    def flip(doc: dict[str, Any]) -> None:
        entry = doc["reveals"][0]["labels"][5]
        entry["label"] = _other(entry["label"])

    tampered = rewrite(data, flip)
    with pytest.raises(BundleError):
        check_hash(tampered, inputs_hash(data))
    got = recompute(
        parse_bundle(tampered),
        case.task,
        chain_id=CHAIN_ID,
        escrow=ESCROW,
        is_attested=case.is_attested,
    )
    assert any("not the annotator's attested commitment" in p for p in got.problems)
    assert any("the document says root" in p for p in got.problems)


def test_wrong_root_is_a_difference() -> None:
    case = Case(seed=4)
    c = case.computed()
    got = recompute(
        parse_bundle(bundle_bytes(c)),
        case.task,
        chain_id=CHAIN_ID,
        escrow=ESCROW,
        is_attested=case.is_attested,
    )
    fake_root = "0x" + "ab" * 32
    diffs = differences(got, fake_root, c.total + 1, c.report_hash)
    assert diffs == [
        f"root {fake_root} (recomputed {c.root})",
        f"total {c.total + 1} (recomputed {c.total})",
    ]


def test_gold_that_does_not_open_the_commitment() -> None:
    case = Case(seed=5)
    data = bundle_bytes(case.computed())

    def other_salt(doc: dict[str, Any]) -> None:
        doc["gold"]["salt"] = "0x" + new_salt().hex()

    got = recompute(
        parse_bundle(rewrite(data, other_salt)),
        case.task,
        chain_id=CHAIN_ID,
        escrow=ESCROW,
        is_attested=case.is_attested,
    )
    assert any("do not open the commitment" in p for p in got.problems)


def test_withheld_gold_recomputes_without_gold() -> None:
    case = Case(seed=6)
    without = case.computed(gold=False)
    with_gold = case.computed(gold=True)
    data = bundle_bytes(without)
    bundle = parse_bundle(data)
    assert bundle.gold_status == GOLD_WITHHELD
    got = recompute(
        bundle, case.task, chain_id=CHAIN_ID, escrow=ESCROW, is_attested=case.is_attested
    )
    assert got.problems == [] and got.gold_status == GOLD_WITHHELD
    assert (got.root, got.report_hash) == (without.root, without.report_hash)
    assert got.report_hash != with_gold.report_hash


def test_bundle_for_another_task_or_unattested_reveals() -> None:
    case = Case(seed=7)
    data = bundle_bytes(case.computed())
    other_budget = replace(case.task, budget=BUDGET // 2)
    got = recompute(parse_bundle(data), other_budget, chain_id=CHAIN_ID, escrow=ESCROW)
    assert any("task.budget" in p for p in got.problems)
    nobody = recompute(
        parse_bundle(data),
        case.task,
        chain_id=CHAIN_ID,
        escrow=ESCROW,
        is_attested=lambda *_: False,
    )
    assert sum("not the annotator's attested commitment" in p for p in nobody.problems) == 3


def test_other_scoring_version_is_unverifiable() -> None:
    case = Case(seed=8)
    data = bundle_bytes(case.computed())

    def bump(doc: dict[str, Any]) -> None:
        doc["spec"]["scoring"]["version"] = "0.0.1"

    with pytest.raises(Unverifiable, match=r"version 0\.0\.1"):
        recompute(parse_bundle(rewrite(data, bump)), case.task, chain_id=CHAIN_ID, escrow=ESCROW)


def test_malformed_bundles_are_refused() -> None:
    with pytest.raises(BundleError, match="not JSON"):
        parse_bundle(b"{nope")
    with pytest.raises(BundleError, match="not a JSON object"):
        parse_bundle(b"[]")
    data = bundle_bytes(Case(seed=9).computed())
    with pytest.raises(BundleError, match="no list of reveals"):
        parse_bundle(rewrite(data, lambda d: d.pop("reveals")))


def test_fetch_matching_picks_the_bytes_with_the_hash(tmp_path: Path) -> None:
    data = bundle_bytes(Case(seed=10).computed())
    digest = inputs_hash(data)
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    (bad / f"{digest}.json").write_bytes(data + b"\n")  # one byte more: another hash
    (good / f"{digest}.json").write_bytes(data)
    sources = bundle_sources(TASK_ID, digest, directories=[bad, good])
    got, where = fetch_matching(sources, digest)
    assert got == data and where == str(good / f"{digest}.json")
    with pytest.raises(BundleUnavailable, match="hashes to 0x") as caught:
        fetch_matching(bundle_sources(TASK_ID, digest, directories=[bad]), digest)
    assert str(bad) in caught.value.detail
    with pytest.raises(BundleUnavailable, match="not found"):
        fetch_matching(bundle_sources(TASK_ID, digest, directories=[tmp_path]), digest)
