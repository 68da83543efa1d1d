"""labelproof.spec: canonical bytes, spec hash, gold commitments, and strict parsing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_utils import keccak

from labelproof.spec import (
    SPEC_VERSION,
    ScoringSpec,
    SpecError,
    TaskSpec,
    canonical_gold_bytes,
    commitment_hex,
    gold_commitment,
    spec_hash,
    verify_gold,
)

SALT = bytes(range(32))
GOLD = {"b": "dog", "a": "cat"}


@pytest.fixture(autouse=True)
def isolation() -> None:
    """Shadow tests/conftest.py's chain-snapshot fixture: these tests need no chain."""


def spec_dict(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": SPEC_VERSION,
        "title": "Cats and dogs",
        "labels": ["cat", "dog"],
        "items": ["a", "b", "c"],
        "scoring": {
            "method": "dawid-skene",
            "version": "1.0.0",
            "min_quality": None,
            "gold_weight": 1.0,
        },
        "gold": {"commitment": "0x" + gold_commitment(GOLD, SALT).hex()},
    }
    data.update(changes)
    return data


def test_canonical_bytes_are_sorted_compact_utf8() -> None:
    spec = TaskSpec.from_dict(spec_dict(title="Chats et chiens é"))
    text = spec.to_json()
    assert text == json.dumps(
        spec_dict(title="Chats et chiens é"),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert "é" in text and " " not in text.replace("Chats et chiens é", "")
    assert spec.canonical_bytes() == text.encode("utf-8")
    assert spec_hash(spec) == keccak(text.encode("utf-8"))


def test_round_trip_and_whitespace_insensitive_parsing() -> None:
    spec = TaskSpec.from_dict(spec_dict())
    pretty = json.dumps(spec_dict(), indent=4)
    again = TaskSpec.from_json(pretty)
    assert again == spec
    assert spec_hash(again) == spec_hash(spec)
    assert TaskSpec.from_json(spec.to_json()).to_json() == spec.to_json()


def test_ints_and_floats_hash_the_same() -> None:
    a = TaskSpec.from_dict(spec_dict())
    data = spec_dict()
    data["scoring"]["gold_weight"] = 1
    b = TaskSpec.from_dict(data)
    assert spec_hash(a) == spec_hash(b)
    assert '"gold_weight":1.0' in b.to_json()
    built = TaskSpec(
        title="Cats and dogs",
        labels=("cat", "dog"),
        items=("a", "b", "c"),
        scoring=ScoringSpec("dawid-skene", "1.0.0", None, 1),
        gold_commitment="0x" + gold_commitment(GOLD, SALT).hex(),
    )
    assert spec_hash(built) == spec_hash(a)


def test_order_of_labels_and_items_is_part_of_the_hash() -> None:
    a = TaskSpec.from_dict(spec_dict())
    b = TaskSpec.from_dict(spec_dict(labels=["dog", "cat"]))
    assert spec_hash(a) != spec_hash(b)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"version": "labelproof-spec/2"}, "version: expected"),
        ({"title": ""}, "title: must be a non-empty string"),
        ({"title": " padded"}, "title: must not start or end with whitespace"),
        ({"labels": ["cat"]}, "labels: need at least 2 labels"),
        ({"labels": ["cat", "cat"]}, "labels: 'cat' is listed twice"),
        ({"labels": ["cat", 3]}, "labels[1]: must be a non-empty string"),
        ({"items": []}, "items: must be a non-empty list"),
        ({"extra": 1}, "spec: unknown keys ['extra']"),
        ({"gold": {"commitment": "0xABC"}}, "gold.commitment: must be 0x followed by 64"),
        ({"gold": {"commitment": "0x" + "00" * 32}}, "a zero commitment is written null"),
        ({"gold": {}}, "gold: missing keys ['commitment']"),
        ({"scoring": None}, "scoring: must be an object"),
    ],
)
def test_invalid_specs_are_refused_with_the_field_named(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError, match=None) as info:
        TaskSpec.from_dict(spec_dict(**changes))
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("scoring", "message"),
    [
        ({"method": "bayes"}, "scoring.method: must be one of"),
        ({"min_quality": 1.5}, "scoring.min_quality: must be in [0, 1]"),
        ({"min_quality": "high"}, "scoring.min_quality: must be a number or null"),
        ({"gold_weight": -1.0}, "scoring.gold_weight: must be >= 0"),
        ({"gold_weight": True}, "scoring.gold_weight: must be a number"),
        ({"gold_weight": None}, "scoring.gold_weight: must be a number"),
        ({"version": ""}, "scoring.version: must be a non-empty string"),
        ({"weights": 1}, "scoring: unknown keys ['weights']"),
    ],
)
def test_invalid_scoring_is_refused(scoring: dict[str, Any], message: str) -> None:
    data = spec_dict()
    data["scoring"].update(scoring)
    with pytest.raises(SpecError) as info:
        TaskSpec.from_dict(data)
    assert message in str(info.value)


def test_not_json_and_not_an_object() -> None:
    with pytest.raises(SpecError, match="not valid JSON"):
        TaskSpec.from_json("{nope")
    with pytest.raises(SpecError, match="must be a JSON object, got list"):
        TaskSpec.from_json("[]")
    with pytest.raises(SpecError, match="not valid JSON"):
        TaskSpec.from_json('{"title": NaN}'.replace("NaN", "nan"))


def test_gold_commitment_binds_gold_and_salt() -> None:
    canonical = canonical_gold_bytes(GOLD)
    assert canonical == b'[["a","cat"],["b","dog"]]'
    c = gold_commitment(GOLD, SALT)
    assert c == keccak(canonical + SALT)
    assert verify_gold(dict(reversed(GOLD.items())), SALT, c)  # order does not matter
    assert verify_gold(GOLD, SALT, "0x" + c.hex())
    assert not verify_gold({"a": "dog", "b": "dog"}, SALT, c)
    assert not verify_gold(GOLD, bytes(32), c)
    assert not verify_gold({}, SALT, c)
    with pytest.raises(SpecError, match="salt must be 32 bytes"):
        gold_commitment(GOLD, b"short")
    with pytest.raises(SpecError, match="gold set is empty"):
        gold_commitment({}, SALT)


def test_commitment_hex_spells_zero_as_none() -> None:
    assert commitment_hex(bytes(32)) is None
    assert commitment_hex(b"\x01" * 32) == "0x" + "01" * 32


def test_check_labels_against_the_spec() -> None:
    spec = TaskSpec.from_dict(spec_dict())
    spec.check_labels({"a": "cat", "b": "dog"})
    with pytest.raises(SpecError, match="label 'bird' for item 'a' is not in the task's label"):
        spec.check_labels({"a": "bird"})
    with pytest.raises(SpecError, match="item 'z' is not one of the task's items"):
        spec.check_labels({"z": "cat"})
    assert spec.scoring.method_code == "ds"
