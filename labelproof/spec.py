"""The task spec: what a requester fixes off chain and commits to on chain as ``specHash``.

A spec names the label set, the items, the scoring method (with its version and parameters) and
a commitment to the gold set. Its canonical form is JSON with sorted keys, no spaces, UTF-8
(``ensure_ascii=False``), numbers of the float fields written as floats; ``spec_hash`` is the
keccak256 of those bytes and is what ``TaskEscrow.createTask`` takes as ``specHash``. Anyone who
holds the spec can recompute the hash, so a spec given to the oracle (or an auditor) is checked
against the chain rather than trusted.

The gold commitment is ``keccak256(canonical gold bytes || salt)`` with the canonical gold bytes
the canonical JSON of ``[[item, label], ...]`` sorted by item and a 32-byte salt: the salt keeps
a small label set from being guessed by hashing every possibility before the reveal.

Parsing is strict (unknown keys, wrong types, duplicates and out-of-range numbers are refused
with a ``SpecError`` naming the field) because a spec that two parties read differently would
give them different payouts for the same hash.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

SPEC_VERSION = "labelproof-spec/1"
METHODS = ("dawid-skene", "majority-vote")
# The spec names methods in words; labelproof.scoring takes its short codes.
METHOD_CODES = {"dawid-skene": "ds", "majority-vote": "mv"}
SALT_BYTES = 32

_HEX32 = re.compile(r"0x[0-9a-f]{64}")
_TOP_KEYS = {"version", "title", "labels", "items", "scoring", "gold"}
_SCORING_KEYS = {"method", "version", "min_quality", "gold_weight"}
_GOLD_KEYS = {"commitment"}


class SpecError(ValueError):
    """The spec (or a gold set checked against it) is invalid; the message names the field."""


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8, no NaN: equal values always give equal bytes."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


@dataclass(frozen=True)
class ScoringSpec:
    method: str
    version: str
    min_quality: float | None = None
    gold_weight: float = 1.0

    def __post_init__(self) -> None:
        # Floats, not ints: 1 and 1.0 must give the same canonical bytes ("1.0").
        if isinstance(self.gold_weight, int) and not isinstance(self.gold_weight, bool):
            object.__setattr__(self, "gold_weight", float(self.gold_weight))
        mq = self.min_quality
        if isinstance(mq, int) and not isinstance(mq, bool):
            object.__setattr__(self, "min_quality", float(mq))

    @property
    def method_code(self) -> str:
        """The method as labelproof.scoring names it ("ds" or "mv")."""
        return METHOD_CODES[self.method]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "version": self.version,
            "min_quality": self.min_quality,
            "gold_weight": self.gold_weight,
        }


@dataclass(frozen=True)
class TaskSpec:
    title: str
    labels: tuple[str, ...]
    items: tuple[str, ...]
    scoring: ScoringSpec
    gold_commitment: str | None = None  # 0x + 64 lowercase hex digits, or None (no gold set)
    version: str = SPEC_VERSION

    def __post_init__(self) -> None:
        for name in ("labels", "items"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        # Validating here as well as in from_dict means a spec built in code can never hash
        # differently from the same spec read back from its own JSON.
        _validate(self)

    # -- serialisation

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "title": self.title,
            "labels": list(self.labels),
            "items": list(self.items),
            "scoring": self.scoring.to_dict(),
            "gold": {"commitment": self.gold_commitment},
        }

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.to_dict())

    def to_json(self) -> str:
        """The canonical JSON text (what spec_hash hashes, as UTF-8)."""
        return self.canonical_bytes().decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> TaskSpec:
        try:
            data = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SpecError(f"spec is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> TaskSpec:
        if not isinstance(data, Mapping):
            raise SpecError(f"spec must be a JSON object, got {_kind(data)}")
        _keys(data, _TOP_KEYS, "spec")
        version = data["version"]
        if version != SPEC_VERSION:
            raise SpecError(f"version: expected {SPEC_VERSION!r}, got {version!r}")
        scoring = data["scoring"]
        if not isinstance(scoring, Mapping):
            raise SpecError(f"scoring: must be an object, got {_kind(scoring)}")
        _keys(scoring, _SCORING_KEYS, "scoring")
        gold = data["gold"]
        if not isinstance(gold, Mapping):
            raise SpecError(f"gold: must be an object, got {_kind(gold)}")
        _keys(gold, _GOLD_KEYS, "gold")
        commitment = gold["commitment"]
        if commitment is not None and not isinstance(commitment, str):
            raise SpecError(f"gold.commitment: must be a 0x hex string or null, got {commitment!r}")
        return cls(
            title=_string(data["title"], "title"),
            labels=_string_list(data["labels"], "labels"),
            items=_string_list(data["items"], "items"),
            scoring=ScoringSpec(
                method=_string(scoring["method"], "scoring.method"),
                version=_string(scoring["version"], "scoring.version"),
                min_quality=_number(scoring["min_quality"], "scoring.min_quality", nullable=True),
                gold_weight=_required_number(scoring["gold_weight"], "scoring.gold_weight"),
            ),
            gold_commitment=commitment,
            version=version,
        )

    # -- checks against the spec

    def check_labels(self, labels: Mapping[str, str], what: str = "labels") -> None:
        """Every item must be one of the spec's items and every label one of its labels."""
        items, allowed = set(self.items), set(self.labels)
        for item, label in labels.items():
            if item not in items:
                raise SpecError(f"{what}: item {item!r} is not one of the task's items")
            if label not in allowed:
                raise SpecError(
                    f"{what}: label {label!r} for item {item!r} is not in the task's label set "
                    f"{sorted(allowed)}"
                )


def spec_hash(spec: TaskSpec) -> bytes:
    """keccak256 of the canonical spec bytes: the on-chain ``specHash``."""
    return bytes(keccak(spec.canonical_bytes()))


def canonical_gold_bytes(gold: Mapping[str, str]) -> bytes:
    """Canonical JSON of ``[[item, label], ...]`` sorted by item."""
    rows = []
    for item, label in gold.items():
        if not isinstance(item, str) or not isinstance(label, str) or not item or not label:
            raise SpecError(f"gold: items and labels must be non-empty strings, got {item!r}")
        rows.append([item, label])
    if not rows:
        raise SpecError("gold: the gold set is empty")
    return canonical_json(sorted(rows))


def gold_commitment(gold: Mapping[str, str], salt: bytes) -> bytes:
    """keccak256(canonical gold bytes || salt); the salt must be 32 bytes."""
    if len(salt) != SALT_BYTES:
        raise SpecError(f"gold salt must be {SALT_BYTES} bytes, got {len(salt)}")
    return bytes(keccak(canonical_gold_bytes(gold) + salt))


def verify_gold(gold: Mapping[str, str], salt: bytes, commitment: bytes | str) -> bool:
    """Whether (gold, salt) opens ``commitment`` (bytes or 0x hex)."""
    expected = _commitment_bytes(commitment)
    try:
        return gold_commitment(gold, salt) == expected
    except SpecError:
        return False


def commitment_hex(commitment: bytes) -> str | None:
    """The spec's form of an on-chain commitment: None for zero (no gold set)."""
    return None if commitment == bytes(32) else "0x" + commitment.hex()


def _commitment_bytes(commitment: bytes | str) -> bytes:
    if isinstance(commitment, bytes):
        return commitment
    if not _HEX32.fullmatch(commitment.lower()):
        raise SpecError(f"commitment {commitment!r} is not 0x followed by 64 hex digits")
    return bytes.fromhex(commitment[2:])


def _validate(spec: TaskSpec) -> None:
    if spec.version != SPEC_VERSION:
        raise SpecError(f"version: expected {SPEC_VERSION!r}, got {spec.version!r}")
    _string(spec.title, "title")
    for field, values in (("labels", spec.labels), ("items", spec.items)):
        if not isinstance(values, tuple):
            raise SpecError(f"{field}: must be a tuple of strings")
        _string_list(list(values), field)
    if len(spec.labels) < 2:
        raise SpecError(f"labels: need at least 2 labels to choose from, got {len(spec.labels)}")
    s = spec.scoring
    if s.method not in METHODS:
        raise SpecError(f"scoring.method: must be one of {list(METHODS)}, got {s.method!r}")
    _string(s.version, "scoring.version")
    if s.min_quality is not None:
        _number(s.min_quality, "scoring.min_quality", nullable=False)
        if not 0.0 <= s.min_quality <= 1.0:
            raise SpecError(f"scoring.min_quality: must be in [0, 1], got {s.min_quality}")
    _required_number(s.gold_weight, "scoring.gold_weight")
    if s.gold_weight < 0:
        raise SpecError(f"scoring.gold_weight: must be >= 0, got {s.gold_weight}")
    c = spec.gold_commitment
    # Lowercase only: the canonical bytes must be one string per commitment, and a zero
    # commitment is spelled null so "no gold set" has a single spelling too.
    if c is not None:
        if not isinstance(c, str) or not _HEX32.fullmatch(c):
            raise SpecError(
                f"gold.commitment: must be 0x followed by 64 lowercase hex digits, got {c!r}"
            )
        if c == "0x" + "00" * 32:
            raise SpecError("gold.commitment: a zero commitment is written null")


def _keys(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    missing = sorted(allowed - set(data))
    if missing:
        raise SpecError(f"{where}: missing keys {missing}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise SpecError(f"{where}: unknown keys {unknown}")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{field}: must be a non-empty string, got {value!r}")
    if value != value.strip():
        raise SpecError(f"{field}: must not start or end with whitespace, got {value!r}")
    return value


def _string_list(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise SpecError(f"{field}: must be a non-empty list of strings")
    out = tuple(_string(v, f"{field}[{n}]") for n, v in enumerate(value))
    seen: set[str] = set()
    for v in out:
        if v in seen:
            raise SpecError(f"{field}: {v!r} is listed twice")
        seen.add(v)
    return out


def _number(value: Any, field: str, *, nullable: bool) -> float | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{field}: must be a number{' or null' if nullable else ''}, got {value!r}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer too large for any float (10**400)
        finite = False
    if not finite:
        shown = f"an integer of {len(str(abs(value)))} digits" if isinstance(value, int) else value
        raise SpecError(f"{field}: must be a finite number within a float's range, got {shown}")
    # Stored as float so that 1 and 1.0 give the same canonical bytes ("1.0").
    return float(value)


def _required_number(value: Any, field: str) -> float:
    number = _number(value, field, nullable=False)
    assert number is not None  # nullable=False never returns None
    return number
