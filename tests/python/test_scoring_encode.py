"""Encoding fast paths: they must give exactly what the straightforward numpy code gives.

``_factorize`` ranks UCS4 code units instead of sorting strings, and ``encode`` orders answers
by sorting packed integer keys instead of a stable argsort; both are compared here with the
plain versions (``np.unique``, ``np.argsort(kind="stable")``) on strings chosen to hit code-point
order corners, padding, embedded NULs, astral characters and the key-compression branches.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelproof import scoring
from labelproof.scoring import AnswerSet, GoldSet, encode

ALPHABET = st.sampled_from(["0", "1", "2", "9", "a", "b", "Z", " ", "\x00", "é", "日", "😀"])
TEXT = st.text(ALPHABET, min_size=1, max_size=6)


def _assert_like_unique(values: np.ndarray) -> None:
    uniq, inverse = scoring._factorize(values)
    ref_uniq, ref_inverse = np.unique(values, return_inverse=True)
    assert uniq.dtype == values.dtype
    assert uniq.tolist() == ref_uniq.tolist()
    assert inverse.dtype == np.int64
    assert inverse.tolist() == ref_inverse.ravel().tolist()


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=40), st.integers(0, 3))
def test_factorize_matches_np_unique(strings: list[str], extra_width: int):
    values = np.array(strings, dtype=np.str_)
    values = values.astype(f"<U{values.dtype.itemsize // 4 + extra_width}")  # padding columns
    assert scoring._factorize_code_units(values) is not None
    _assert_like_unique(values)


@pytest.mark.parametrize(("n", "width", "symbols"), [(300, 40, 3000), (20_000, 12, 400)])
def test_factorize_compresses_long_keys(n: int, width: int, symbols: int):
    # Many distinct code units per column: the packed key must be re-ranked (a sort) before it
    # would overflow int64, then packing goes on.
    rng = np.random.default_rng(width)
    units = rng.integers(0x100, 0x100 + symbols, size=(n // 3, width))
    pool = np.array(["".join(map(chr, row)) for row in units.tolist()], dtype=np.str_)
    values = pool[rng.integers(0, len(pool), size=n)]
    values[::7] = values[::7].astype(f"<U{width // 2}")  # shorter strings: zero padding
    _assert_like_unique(values)


def test_factorize_other_arrays_take_the_generic_path():
    base = np.array(["b", "a", "10", "2", "b", "日", "a"], dtype=np.str_)
    for values in (base[::2], base.astype(">U4"), base.astype(object)):
        _assert_like_unique(values)
    assert scoring._factorize_code_units(base.astype(">U4")) is None
    assert scoring._factorize_code_units(base.astype(object)) is None


def test_canonical_order_matches_stable_argsort(monkeypatch: pytest.MonkeyPatch):
    rng = np.random.default_rng(0)
    pairs = rng.permutation(400 * 50)[:3000]
    answers = AnswerSet.from_arrays(
        [f"i{p // 50}" for p in pairs],
        [f"w{p % 50}" for p in pairs],
        rng.choice(["x", "y", "z"], size=len(pairs)).tolist(),
    )
    fast = encode(answers, GoldSet({}, {}))
    monkeypatch.setattr(scoring, "_canonical_order", lambda *args: None)
    slow = encode(answers, GoldSet({}, {}))
    for name in ("item_idx", "worker_idx", "label_idx"):
        assert np.array_equal(getattr(fast, name), getattr(slow, name))
    assert scoring.answers_hash(fast) == scoring.answers_hash(slow)
