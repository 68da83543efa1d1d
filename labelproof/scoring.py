"""Off-chain scoring oracle: infer item labels, score annotators, split a budget into payouts.

Answers are (item, worker, label) triples. Two inference methods are offered:

* ``"mv"``: majority vote.
* ``"ds"``: Dawid-Skene EM over per-worker confusion matrices (the default).

Gold items (requester-known answers) clamp the posterior to their known class during EM, so they
calibrate every worker's confusion matrix that touches them.

Two per-worker numbers come out of scoring:

* ``quality`` (reported, as specified): the expected share of the worker's labels that are
  correct under the posterior; on gold items the known label is used, and gold answers count
  ``gold_weight`` times (default 1.0).
* ``skill`` (what payouts are proportional to): the accuracy on the non-gold work (posterior
  tempered by 2, its class offsets calibrated on the gold items), corrected for chance, gated
  and discounted by a random guesser's noise. See ``worker_stats``, ``calibrate_class_bias``
  and ``_pay_skill`` for the choices and the measurements behind them.

Duplicate (item, worker) answers are rejected (``ScoringInputError``) by default; the
``duplicates`` policy ``"first"``/``"last"`` keeps one answer per pair instead (the oracle always
rejects). Files (CSV or Parquet) are read by ``labelproof.inputs`` through pyarrow.

The payout weight of a worker is ``labels x skill`` (in integer fixed point, 1e-9), only for
workers whose ``quality >= min_quality``; ``allocate`` splits the integer budget by largest
remainder so that payouts add up exactly to the budget.

Everything that reaches the report is an integer or a float obtained from an integer fixed-point
value, and every sum runs in a canonical (item, worker) order, so the same inputs (in any row
order) give byte-identical ``report_bytes()``. Across machines the one residual risk is numpy's
exp/log differing in the last bit on another CPU/build and a value landing exactly on a 1e-9
rounding boundary; the split itself is exact integer arithmetic.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

SCORING_VERSION = "1.1.0"

# Bundled datasets (see data/README.md).
DATA_DIR = Path(__file__).resolve().parent / "data"

# Fixed point used for every float that influences money or the report: 1e-9. Weights are
# converted to integers at this precision before the budget is split, so the split itself is
# exact integer arithmetic and identical on every machine.
FIXED_POINT = 10**9

# Floor for probabilities before taking logs (same as crowd-kit's DawidSkene).
_EPS = 1e-10

Method = Literal["mv", "ds"]
METHODS: tuple[Method, ...] = ("mv", "ds")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
StrArray = npt.NDArray[np.str_]

# Accepted CSV headers (lower-cased, stripped). The second form is the crowd_truth_infer one.
_ANSWER_HEADERS: tuple[tuple[str, str, str], ...] = (
    ("item", "worker", "label"),
    ("question", "worker", "answer"),
)
_GOLD_HEADERS: tuple[tuple[str, str], ...] = (("item", "label"), ("question", "truth"))


class ScoringInputError(ValueError):
    """Bad scoring input. The message is one line naming the source (file) and the row."""


class Answer(NamedTuple):
    item: str
    worker: str
    label: str


@dataclass(frozen=True)
class AnswerSet:
    """Answers as parallel string arrays, with the row each came from (for error messages).

    ``rows`` holds CSV line numbers for file input (header = line 1) and 1-based positions for
    in-memory input.
    """

    item: StrArray
    worker: StrArray
    label: StrArray
    rows: IntArray
    source: str = "<answers>"

    def __post_init__(self) -> None:
        n = len(self.item)
        if not (len(self.worker) == len(self.label) == len(self.rows) == n):
            raise ScoringInputError(f"{self.source}: item/worker/label arrays differ in length")

    def __len__(self) -> int:
        return len(self.item)

    @classmethod
    def from_arrays(
        cls,
        item: Iterable[Any],
        worker: Iterable[Any],
        label: Iterable[Any],
        source: str = "<answers>",
    ) -> AnswerSet:
        """Build from three sequences (values are converted with ``str``)."""
        items = _str_array(item)
        workers = _str_array(worker)
        labels = _str_array(label)
        rows = np.arange(1, len(items) + 1, dtype=np.int64)
        return cls(items, workers, labels, rows, source)

    @classmethod
    def from_rows(
        cls, rows: Iterable[tuple[Any, Any, Any]], source: str = "<answers>"
    ) -> AnswerSet:
        triples = list(rows)
        for pos, triple in enumerate(triples, start=1):
            if len(triple) != 3:
                raise ScoringInputError(
                    f"{source}: row {pos}: expected (item, worker, label), got {len(triple)} values"
                )
        return cls.from_arrays(
            (t[0] for t in triples), (t[1] for t in triples), (t[2] for t in triples), source
        )


@dataclass(frozen=True)
class GoldSet:
    """Known labels for some items, with the row each came from (for error messages)."""

    labels: dict[str, str]
    rows: dict[str, int]
    source: str = "<gold>"

    @classmethod
    def from_mapping(cls, gold: Mapping[Any, Any], source: str = "<gold>") -> GoldSet:
        labels: dict[str, str] = {}
        rows: dict[str, int] = {}
        for pos, (item, label) in enumerate(gold.items(), start=1):
            item_s, label_s = str(item).strip(), str(label).strip()
            if not item_s or not label_s:
                raise ScoringInputError(f"{source}: row {pos}: empty item or label")
            labels[item_s] = label_s
            rows[item_s] = pos
        return cls(labels, rows, source)


@dataclass(frozen=True)
class FactorizedAnswers:
    """Answers already factorized: sorted distinct ids and each answer's index into them.

    What ``labelproof.inputs`` produces from a file without ever making one Python (or numpy)
    string per answer, which is what lets 100M answers fit in memory. Answer ``i`` came from row
    ``first_row + i`` of ``source`` (CSV: the header is row 1; Parquet: rows count from 1).
    Every id is non-empty and already stripped, and every distinct id is used by some answer.
    """

    items: StrArray
    workers: StrArray
    labels: StrArray
    item_idx: IntArray
    worker_idx: IntArray
    label_idx: IntArray
    source: str
    first_row: int

    def __post_init__(self) -> None:
        n = len(self.item_idx)
        if not (len(self.worker_idx) == len(self.label_idx) == n):
            raise ScoringInputError(f"{self.source}: item/worker/label arrays differ in length")

    def __len__(self) -> int:
        return len(self.item_idx)

    def to_answer_set(self) -> AnswerSet:
        """The same answers as string arrays (what in-memory callers such as fidelity use)."""
        return AnswerSet(
            item=self.items[self.item_idx],
            worker=self.workers[self.worker_idx],
            label=self.labels[self.label_idx],
            rows=np.arange(self.first_row, self.first_row + len(self), dtype=np.int64),
            source=self.source,
        )


def _str_array(values: Iterable[Any]) -> StrArray:
    # Cells are compared after stripping surrounding whitespace ("a " and "a" are one worker).
    return np.array([str(v).strip() for v in values], dtype=np.str_)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _read_csv(
    path: Path, headers: tuple[tuple[str, ...], ...]
) -> tuple[list[int], list[list[str]]]:
    """Rows (as the accepted header's columns, in its order) and their line numbers."""
    source = str(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ScoringInputError(f"{source}: cannot open: {exc.strerror}") from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise ScoringInputError(f"{source}: row 1: empty file (no header)") from None
        except csv.Error as exc:
            raise ScoringInputError(f"{source}: row 1: malformed CSV: {exc}") from None
        except UnicodeDecodeError:
            raise ScoringInputError(f"{source}: row 1: not UTF-8 text") from None
        names = [h.strip().lower() for h in header]
        chosen = next((h for h in headers if all(c in names for c in h)), None)
        if chosen is None:
            wanted = " or ".join(",".join(h) for h in headers)
            raise ScoringInputError(
                f"{source}: row 1: missing columns: header is {','.join(names)!r}, "
                f"expected {wanted}"
            )
        cols = [names.index(c) for c in chosen]
        width = max(cols) + 1
        lines: list[int] = []
        out: list[list[str]] = []
        try:
            for record in reader:
                line = reader.line_num
                if not record or all(not cell.strip() for cell in record):
                    continue  # blank lines (e.g. a trailing one) carry no answer
                if len(record) < width:
                    raise ScoringInputError(
                        f"{source}: row {line}: expected {len(names)} fields, got {len(record)}"
                    )
                cells = [record[c].strip() for c in cols]
                for name, cell in zip(chosen, cells, strict=True):
                    if not cell:
                        raise ScoringInputError(f"{source}: row {line}: empty {name!r} cell")
                lines.append(line)
                out.append(cells)
        except csv.Error as exc:
            raise ScoringInputError(
                f"{source}: row {reader.line_num}: malformed CSV: {exc}"
            ) from None
        except UnicodeDecodeError:
            raise ScoringInputError(
                f"{source}: row {reader.line_num + 1}: not UTF-8 text"
            ) from None
    if not out:
        raise ScoringInputError(f"{source}: row 2: no data rows after the header")
    return lines, out


def load_answers(path: str | os.PathLike[str]) -> AnswerSet:
    """Read ``item,worker,label`` (or ``question,worker,answer``) CSV or Parquet as string arrays.
    Extra columns are ignored. ``score`` takes the path itself, which skips the string arrays.

    Duplicate (item, worker) pairs are handled when scoring (see ``score``), not here, so that
    in-memory input gets the same check.
    """
    from labelproof.inputs import read_answers

    answers = read_answers(path)
    return answers if isinstance(answers, AnswerSet) else answers.to_answer_set()


def load_gold(path: str | os.PathLike[str]) -> GoldSet:
    """Read ``item,label`` (or ``question,truth``) CSV or Parquet. An item listed twice is an
    error."""
    p = Path(path)
    from labelproof.inputs import is_parquet, read_parquet_rows

    if is_parquet(p):
        lines, rows = read_parquet_rows(p, _GOLD_HEADERS)
    else:
        lines, rows = _read_csv(p, _GOLD_HEADERS)
    labels: dict[str, str] = {}
    where: dict[str, int] = {}
    for line, (item, label) in zip(lines, rows, strict=True):
        if item in labels:
            raise ScoringInputError(
                f"{p}: row {line}: gold item {item!r} listed twice (first at row {where[item]})"
            )
        labels[item] = label
        where[item] = line
    return GoldSet(labels, where, str(p))


AnswersInput = (
    AnswerSet | FactorizedAnswers | str | os.PathLike[str] | Iterable[tuple[Any, Any, Any]]
)
Duplicates = Literal["reject", "first", "last"]
DUPLICATE_POLICIES: tuple[Duplicates, ...] = ("reject", "first", "last")
GoldInput = GoldSet | Mapping[Any, Any] | str | os.PathLike[str] | None


def _as_answers(answers: AnswersInput) -> AnswerSet | FactorizedAnswers:
    if isinstance(answers, AnswerSet | FactorizedAnswers):
        return answers
    if isinstance(answers, str | os.PathLike):
        from labelproof.inputs import read_answers

        return read_answers(answers)
    return AnswerSet.from_rows(answers)


def _as_gold(gold: GoldInput) -> GoldSet:
    if gold is None:
        return GoldSet({}, {}, "<gold>")
    if isinstance(gold, GoldSet):
        return gold
    if isinstance(gold, str | os.PathLike):
        return load_gold(gold)
    return GoldSet.from_mapping(gold)


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Encoded:
    """Answers as integer index arrays into sorted unique ids (sorted = deterministic order)."""

    items: StrArray  # sorted unique item ids
    workers: StrArray  # sorted unique worker ids
    labels: StrArray  # sorted unique labels (code-point order): tie-break order everywhere
    item_idx: IntArray
    worker_idx: IntArray
    label_idx: IntArray
    gold_mask: npt.NDArray[np.bool_]  # per item
    gold_label: IntArray  # per item, -1 where not gold
    duplicates_dropped: int = 0  # answers left out by the duplicates policy "first"/"last"

    @property
    def n_answers(self) -> int:
        return len(self.item_idx)


def _check_cells(ans: AnswerSet) -> None:
    # In-memory input did not go through the CSV reader's empty-cell check.
    for name, arr in (("item", ans.item), ("worker", ans.worker), ("label", ans.label)):
        empty = np.flatnonzero(np.char.str_len(arr) == 0) if len(arr) else np.array([], int)
        if len(empty):
            raise ScoringInputError(
                f"{ans.source}: row {int(ans.rows[empty[0]])}: empty {name!r} cell"
            )


def _factorize(values: StrArray) -> tuple[StrArray, IntArray]:
    """Sorted distinct values and each value's index among them (= ``np.unique(...,
    return_inverse=True)``). Native fixed-width unicode (what ``AnswerSet`` holds) goes through
    ``_factorize_code_units``, which makes no Python strings; anything else: few distinct values
    (labels, workers) use a set plus a binary search (~10x faster than sorting all the strings),
    many (items) ``np.unique``."""
    fast = _factorize_code_units(values)
    if fast is not None:
        return fast
    distinct = set(values.tolist())
    if len(distinct) <= 65_536:
        uniq = np.array(sorted(distinct), dtype=values.dtype)
        return uniq, np.searchsorted(uniq, values).astype(np.int64)
    uniq, inverse = np.unique(values, return_inverse=True)
    return uniq, inverse.astype(np.int64).ravel()


def _dense_ranks(key: IntArray, bound: int) -> tuple[IntArray, int]:
    """Rank of each key among the distinct keys (``0 <= key < bound``) and how many there are:
    a presence table when ``bound`` is small enough, else a sort (``np.unique``)."""
    if bound <= max(4 * len(key), 1 << 20):
        present = np.zeros(bound, dtype=np.bool_)
        present[key] = True
        table = np.cumsum(present, dtype=np.int64)
        return table.take(key) - 1, int(table[-1])
    uniq, inverse = np.unique(key, return_inverse=True)
    return inverse.astype(np.int64).ravel(), len(uniq)


def _factorize_code_units(values: StrArray) -> tuple[StrArray, IntArray] | None:
    """``_factorize`` for a 1-d native-endian ``<U`` array, or None for any other array.

    Such an array stores each string as a row of UCS4 code units padded with zeros, and numpy's
    string order (code-point order) is the lexicographic order of those rows. Each column's code
    units are replaced by their rank among that column's distinct units and the ranks are
    combined into one integer per string, first column most significant: equal strings get
    equal keys and the key order is the string order. Before an int64 would overflow, the key
    is replaced by its rank among the distinct keys (order-preserving). No Python strings are
    made, which is what makes this several times faster than a set of ``tolist()``.
    """
    n = len(values)
    if values.ndim != 1 or values.dtype.kind != "U" or not values.dtype.isnative or n == 0:
        return None
    width = values.dtype.itemsize // 4
    if width == 0:
        return None
    units = np.ascontiguousarray(values).view(np.uint32).reshape(n, width)
    key = np.zeros(n, dtype=np.int64)
    bound = 1  # every key is < bound
    columns = 0  # columns combined into the key so far
    for c in range(width):
        col = units[:, c].astype(np.int64)
        top = int(col.max())
        if top > 0x10FFFF:
            return None  # not a code point; leave such data to the generic path
        present = np.bincount(col, minlength=top + 1) > 0
        ranks = np.cumsum(present, dtype=np.int64) - 1
        radix = int(ranks[-1]) + 1
        if radix == 1:
            continue  # the same unit in every string (e.g. all padding): orders nothing
        if columns == 0:
            key = ranks.take(col)
        else:
            if bound * radix >= 1 << 62:
                key, bound = _dense_ranks(key, bound)
            key *= radix
            key += ranks.take(col)
        bound *= radix
        columns += 1
    # One column: its ranks are already dense (every rank below ``bound`` occurs).
    inverse, n_uniq = (key, bound) if columns <= 1 else _dense_ranks(key, bound)
    some_row = np.empty(n_uniq, dtype=np.int64)
    some_row[inverse] = np.arange(n, dtype=np.int64)
    return values[some_row], inverse


def _canonical_order(
    item_idx: IntArray,
    worker_idx: IntArray,
    label_idx: IntArray,
    n_items: int,
    n_workers: int,
    n_labels: int,
) -> tuple[IntArray, IntArray, IntArray] | None:
    """The answers' (item, worker, label) indices in (item, worker) order, from one sort of
    ``(item * n_workers + worker) * n_labels + label`` (a plain sort of int64 is several times
    faster than a stable argsort followed by three gathers). None when the packed keys would
    overflow int64 or an (item, worker) pair repeats."""
    if n_items * n_workers * n_labels >= 1 << 63:
        return None
    # In place wherever possible: at 100M answers each int64 array is 800 MB.
    packed = item_idx.astype(np.int64)  # a copy whatever the input's integer type
    packed *= n_workers
    packed += worker_idx
    packed *= n_labels
    packed += label_idx
    packed.sort()
    pair = packed // n_labels
    if (pair[1:] == pair[:-1]).any():
        return None
    label = packed
    label -= pair * n_labels
    item = pair // n_workers
    worker = pair
    worker -= item * n_workers
    return item, worker, label


def _row_of(ans: AnswerSet | FactorizedAnswers, position: int) -> int:
    """The source row of the answer at ``position`` (for error messages)."""
    if isinstance(ans, FactorizedAnswers):
        return ans.first_row + position
    return int(ans.rows[position])


def _positions(sorted_ids: StrArray, wanted: list[str]) -> dict[str, int]:
    """Index in ``sorted_ids`` of each of ``wanted`` that occurs there (a binary search each,
    rather than a dict over every id). Only strings can equal an id."""
    wanted = [name for name in wanted if isinstance(name, str)]
    if not wanted:
        return {}
    found = np.searchsorted(sorted_ids, np.array(wanted, dtype=np.str_)).tolist()
    out: dict[str, int] = {}
    for name, pos in zip(wanted, found, strict=True):
        if pos < len(sorted_ids) and str(sorted_ids[pos]) == name:
            out[name] = pos
    return out


def encode(
    ans: AnswerSet | FactorizedAnswers, gold: GoldSet, duplicates: Duplicates = "reject"
) -> Encoded:
    """Validate and index the answers; every check that needs both inputs happens here.

    ``duplicates``: what to do with a repeated (item, worker) pair: ``"reject"`` (raise
    ``ScoringInputError`` naming both rows), or keep the ``"first"`` / ``"last"`` one in input
    order. ``Encoded.duplicates_dropped`` tells how many were dropped.
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_POLICIES}, got {duplicates!r}")
    if len(ans) == 0:
        raise ScoringInputError(f"{ans.source}: row 1: no answers")
    if isinstance(ans, FactorizedAnswers):
        # Codes may be int32 (labelproof.inputs): the canonical sort below makes int64 arrays,
        # and only the rare fallback (duplicates, or keys too large to pack) converts these.
        items, workers, labels = ans.items, ans.workers, ans.labels
        item_idx, worker_idx, label_idx = ans.item_idx, ans.worker_idx, ans.label_idx
    else:
        _check_cells(ans)
        items, item_idx = _factorize(ans.item)
        workers, worker_idx = _factorize(ans.worker)
        labels, label_idx = _factorize(ans.label)

    # Duplicate (item, worker) pairs are REJECTED by default rather than de-duplicated: a second
    # answer by the same worker to the same item would count twice in the inference and in the
    # pay, and silently keeping one of them would hide an upstream bug (the oracle's ledger holds
    # one submission per pair, and it always rejects). Exports from labelling tools do hold such
    # pairs (an annotation redone, a task imported twice), so a requester may keep the first or
    # the last answer instead. The error names the duplicate row and the first occurrence.
    #
    # Canonical answer order (by item, then worker): every later sum runs in this order, so the
    # result does not depend on the order of the input rows, not even in the last float bit.
    # Usually one plain sort of packed (item, worker, label) keys gives both (see
    # ``_canonical_order``); the stable argsort below finds the duplicates to report or drop, or
    # orders inputs too large to pack.
    canonical = _canonical_order(
        item_idx, worker_idx, label_idx, len(items), len(workers), len(labels)
    )
    dropped = 0
    if canonical is not None:
        item_idx, worker_idx, label_idx = canonical
    else:
        item_idx = item_idx.astype(np.int64, copy=False)
        worker_idx = worker_idx.astype(np.int64, copy=False)
        label_idx = label_idx.astype(np.int64, copy=False)
        key = item_idx * len(workers) + worker_idx
        order = np.argsort(key, kind="stable")  # equal keys stay in input order
        sorted_key = key[order]
        repeat = sorted_key[1:] == sorted_key[:-1]
        dup = np.flatnonzero(repeat)
        if len(dup) and duplicates == "reject":
            # Report the duplicate that appears earliest in the input.
            second = order[dup + 1]
            first = order[dup]
            k = int(np.argmin(second))
            i, j = int(second[k]), int(first[k])
            raise ScoringInputError(
                f"{ans.source}: row {_row_of(ans, i)}: duplicate answer for item "
                f"{str(items[item_idx[i]])!r} by worker {str(workers[worker_idx[i]])!r} (first "
                f"at row {_row_of(ans, j)}); one answer per (item, worker) is allowed: "
                f"--duplicates first|last (duplicates='first'|'last') keeps one of them"
            )
        if len(dup):
            keep = np.ones(len(order), dtype=np.bool_)
            if duplicates == "first":
                keep[1:] = ~repeat  # the first of each run of equal keys
            else:
                keep[:-1] = ~repeat  # the last of each run
            order = order[keep]
            dropped = len(dup)
        canon = order  # key = item * workers + worker is unique now: (item, worker) order
        item_idx, worker_idx, label_idx = item_idx[canon], worker_idx[canon], label_idx[canon]
        if dropped:
            # A label (never an item or worker: each pair keeps one answer) may have been
            # given only by dropped answers: re-index the labels that are left.
            present = np.bincount(label_idx, minlength=len(labels)) > 0
            if not present.all():
                label_idx = (np.cumsum(present) - 1).take(label_idx)
                labels = labels[present]
    gold_mask = np.zeros(len(items), dtype=np.bool_)
    gold_label = np.full(len(items), -1, dtype=np.int64)
    label_pos = {str(lab): n for n, lab in enumerate(labels)}
    item_pos = _positions(items, list(gold.labels))
    for item, lab in gold.labels.items():
        if lab not in label_pos:
            raise ScoringInputError(
                f"{gold.source}: row {gold.rows.get(item, 0)}: gold label {lab!r} for item "
                f"{item!r} never appears among the answers' labels"
            )
        pos = item_pos.get(item)
        if pos is None:
            continue  # a gold item nobody answered says nothing about anyone: ignored
        gold_mask[pos] = True
        gold_label[pos] = label_pos[lab]
    return Encoded(
        items, workers, labels, item_idx, worker_idx, label_idx, gold_mask, gold_label, dropped
    )


# --------------------------------------------------------------------------------------------
# Inference
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fit:
    """Result of an inference method on encoded answers."""

    posterior: FloatArray  # (items, labels), gold rows one-hot
    log_evidence: FloatArray  # (items, labels) unnormalised log posterior (log of it for MV)
    log_confusion: FloatArray | None  # (workers * labels, labels): log P(observed | true)
    iterations: int
    converged: bool


def _clamp_gold(post: FloatArray, enc: Encoded) -> FloatArray:
    if enc.gold_mask.any():
        rows = np.flatnonzero(enc.gold_mask)
        post[rows] = 0.0
        post[rows, enc.gold_label[rows]] = 1.0
    return post


def _vote_counts(enc: Encoded) -> FloatArray:
    k = len(enc.labels)
    flat = np.bincount(enc.item_idx * k + enc.label_idx, minlength=len(enc.items) * k)
    return flat.reshape(len(enc.items), k).astype(np.float64)


def majority_vote(enc: Encoded) -> Fit:
    """Majority vote. The posterior splits evenly among tied top labels (fair to the tied
    voters); the reported label is the first of them in sorted label order."""
    counts = _vote_counts(enc)
    top = counts.max(axis=1, keepdims=True)
    winners = (counts == top).astype(np.float64)
    post = _clamp_gold(winners / winners.sum(axis=1, keepdims=True), enc)
    with np.errstate(divide="ignore"):
        log_ev = np.log(post)
    return Fit(post, log_ev, None, 0, True)


def dawid_skene(
    enc: Encoded,
    *,
    max_iter: int = 100,
    tol: float = 1e-5,
    smoothing: float = 1.0,
) -> Fit:
    """Dawid-Skene EM, vectorised (no Python loop over answers).

    * Init: soft majority vote (vote shares), gold rows clamped: deterministic, the same start
      as crowd-kit.
    * M-step: per-worker confusion counts ``C[w, observed, true] = sum posterior`` with one
      ``np.bincount`` per true class over the (worker, observed) index. ``smoothing`` adds that
      many pseudo-answers per (worker, true class) distributed like the pooled confusion of all
      workers (a Dirichlet prior centred on the average worker): a worker with few labels is
      assumed to behave like the crowd rather than getting 0/1 confusion entries that make the
      posterior overconfident. ``smoothing=0`` is plain DS (crowd-kit's estimator).
    * E-step in log space: sum of ``log P(observed | true)`` per item (``np.bincount``), plus
      the log class prior, normalised with a max shift.
    * Stop when the mean log-likelihood per answer improves by less than ``tol`` or after
      ``max_iter`` iterations; both fixed, so the result is deterministic.
    """
    n_items, n_workers, k = len(enc.items), len(enc.workers), len(enc.labels)
    n = enc.n_answers
    counts = _vote_counts(enc)
    post = _clamp_gold(counts / counts.sum(axis=1, keepdims=True), enc)

    # Answers are in canonical (item, worker) order (see ``encode``), so every sum below runs
    # in a fixed order. Arrays are used one class column at a time (contiguous 1-d gathers and
    # ``np.bincount`` sums), several times faster than gathering (answers x classes) rows.
    item_idx = enc.item_idx
    wl = enc.worker_idx * k + enc.label_idx  # row of the flattened (worker, observed) table
    n_wl = n_workers * k

    # Per-item arrays are kept transposed, (classes, items): reductions over the classes are
    # then k-1 element-wise operations on contiguous rows instead of slow short-axis reductions.
    post_t = np.ascontiguousarray(post.T)
    gold_rows = np.flatnonzero(enc.gold_mask)
    gold_cls = enc.gold_label[gold_rows]
    log_conf = np.zeros((n_wl, k))
    log_ev_t = np.zeros((k, n_items))
    prev = -math.inf
    converged = False
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        # M-step: C[(w, observed), true] = sum over w's answers `observed` of P(true).
        conf = np.empty((n_wl, k))
        for c in range(k):
            conf[:, c] = np.bincount(wl, weights=post_t[c].take(item_idx), minlength=n_wl)
        conf3 = conf.reshape(n_workers, k, k)  # [worker, observed, true]
        if smoothing > 0:
            pooled = conf3.sum(axis=0)
            pooled /= np.maximum(pooled.sum(axis=0, keepdims=True), _EPS)
            conf3 = conf3 + smoothing * pooled[None, :, :]
        conf3 = np.maximum(conf3, _EPS)
        conf3 = conf3 / conf3.sum(axis=1, keepdims=True)
        log_conf = np.log(conf3).reshape(n_wl, k)
        log_conf_t = np.ascontiguousarray(log_conf.T)
        log_prior = np.log(np.maximum(post_t.mean(axis=1), _EPS))

        # E-step in log space, normalised with a max shift.
        for c in range(k):
            log_ev_t[c] = np.bincount(item_idx, weights=log_conf_t[c].take(wl), minlength=n_items)
            log_ev_t[c] += log_prior[c]
        shift = log_ev_t[0].copy()
        for c in range(1, k):
            np.maximum(shift, log_ev_t[c], out=shift)
        unnorm = np.exp(log_ev_t - shift)
        total = unnorm[0].copy()
        for c in range(1, k):
            total += unnorm[c]
        post_t = unnorm / total
        if len(gold_rows):
            post_t[:, gold_rows] = 0.0
            post_t[gold_cls, gold_rows] = 1.0

        loglik = float((np.log(total) + shift).sum()) / n
        if loglik - prev < tol:
            converged = True
            break
        prev = loglik
    post = np.ascontiguousarray(post_t.T)
    log_ev = np.ascontiguousarray(log_ev_t.T)
    return Fit(post, log_ev, log_conf, iterations, converged)


# --------------------------------------------------------------------------------------------
# Worker scores
# --------------------------------------------------------------------------------------------


class _WorkerStats(NamedTuple):
    labels: IntArray
    gold_labels: IntArray
    quality: FloatArray
    skill: FloatArray
    class_bias: FloatArray  # per label, see ``calibrate_class_bias``


def _tempered_logits(fit: Fit, temperature: float) -> FloatArray:
    """Log evidence divided by the temperature, shifted so that each item's maximum is 0."""
    z = fit.log_evidence / temperature
    return np.asarray(z - z.max(axis=1, keepdims=True), dtype=np.float64)


def calibrate_class_bias(
    fit: Fit, enc: Encoded, temperature: float, penalty: float, *, max_iter: int = 50
) -> FloatArray:
    """Per-class logit offsets ``b`` that make the tempered posterior fit the gold items.

    Why: a crowd can be systematically wrong in one direction (on the bundled dog data, most
    annotators call the breed "3" for a quarter of the true "2" dogs). Dawid-Skene learns the
    crowd's notion of each class, so its posterior follows the crowd's bias and so does the
    credit of every worker who shares it. The gold items are the one place where the
    requester's notion is known: fitting one offset per class there, by penalised maximum
    likelihood of ``softmax(log_evidence / T + b)`` on the gold labels, moves credit back
    toward the requester's notion on the ambiguous items of the biased classes. The L2 penalty
    ``penalty * |b|^2`` (a Gaussian prior, sd ``1 / sqrt(2 penalty)``) keeps ``b`` near 0 when
    there are few gold items; it also pins the free shift of ``b`` (softmax ignores adding a
    constant), so the fit is unique. The objective is strictly convex; Newton's method with
    backtracking converges in a handful of steps, with a fixed iteration cap (deterministic).

    Measured (incentive fidelity, 30 gold draws, ``labelproof.fidelity``): dog 0.826 -> 0.85
    mean Spearman, duck unchanged. Fitting the temperature as well overfits duck's 11 gold
    items (min over draws 0.87), so the temperature stays fixed.

    Returns zeros when there is no gold, only one class, or no log evidence (majority vote).
    """
    k = len(enc.labels)
    bias = np.zeros(k)
    gold_rows = np.flatnonzero(enc.gold_mask)
    if len(gold_rows) == 0 or k < 2 or fit.log_confusion is None:
        return bias
    z0 = _tempered_logits(fit, temperature)[gold_rows]
    onehot = np.zeros_like(z0)
    onehot[np.arange(len(gold_rows)), enc.gold_label[gold_rows]] = 1.0
    counts = onehot.sum(axis=0)

    def objective(b: FloatArray) -> tuple[float, FloatArray]:
        z = z0 + b
        shift = z.max(axis=1, keepdims=True)
        e = np.exp(z - shift)
        total = e.sum(axis=1, keepdims=True)
        value = float((np.log(total) + shift).sum() - (z * onehot).sum() + penalty * (b @ b))
        return value, e / total

    value, prob = objective(bias)
    for _ in range(max_iter):
        grad = prob.sum(axis=0) - counts + 2.0 * penalty * bias
        hess = np.diag(prob.sum(axis=0)) - prob.T @ prob + 2.0 * penalty * np.eye(k)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while True:  # backtracking (Armijo); the Newton step almost always passes at t = 1
            candidate = bias - t * step
            new_value, new_prob = objective(candidate)
            if new_value <= value - 1e-4 * t * float(grad @ step) or t < 1e-6:
                break
            t /= 2.0
        moved = float(np.abs(candidate - bias).max())
        bias, value, prob = candidate, new_value, new_prob
        if moved < 1e-12:
            break
    return bias


def _credit(fit: Fit, enc: Encoded, temperature: float, bias: FloatArray) -> FloatArray:
    """P(answer is correct) for each answer, from a (possibly tempered and calibrated)
    posterior."""
    if fit.log_confusion is None or (temperature == 1.0 and not bias.any()):
        post = fit.posterior
    else:
        post = np.exp(_tempered_logits(fit, temperature) + bias)
        post /= post.sum(axis=1, keepdims=True)
    return np.asarray(post[enc.item_idx, enc.label_idx], dtype=np.float64)


def _pay_skill(
    accuracy: FloatArray, n_used: FloatArray, n_labels: int, significance: float
) -> FloatArray:
    """Chance-corrected accuracy, gated and discounted by a random guesser's noise.

    With ``c = 1 / labels`` (uniform guessing) and ``sd(n) = sqrt(c / ((1 - c) n))`` (the
    standard deviation of a guesser's chance-corrected accuracy over ``n`` answers):

        s     = (a - c) / (1 - c)                0 for a guesser, 1 for a perfect worker
        skill = s - z * sd(n_typical)            if s > z * sd(n_worker), else 0

    * Chance correction: labels no better than guessing earn nothing.
    * The gate uses the worker's own ``n``: a low-volume guesser needs proportionally more luck
      to pass it.
    * The discount uses one ``n`` for everybody (the median over workers), so it shifts every
      paid worker's per-label pay by the same amount and never reorders workers by volume.
      (A per-worker discount, i.e. paying the lower confidence bound, cost 0.01 Spearman on dog,
      whose label counts vary from 1 to 345.) Without the discount, a guesser that passes the
      gate would keep its whole lucky margin: on duck that put spammers' share at 1-3% of the
      budget; with it, at most 1.6% over 30 gold draws (0.5% on average).
    """
    if n_labels <= 1:
        return np.clip(accuracy, 0.0, 1.0)
    c = 1.0 / n_labels
    s = np.clip((accuracy - c) / (1.0 - c), 0.0, 1.0)
    n = np.maximum(n_used, 1.0)
    gate = significance * np.sqrt(c / ((1.0 - c) * n))
    n_typical = float(np.median(n)) if len(n) else 1.0
    discount = significance * math.sqrt(c / ((1.0 - c) * n_typical))
    return np.where(s > gate, np.clip(s - discount, 0.0, 1.0), 0.0)


def worker_stats(
    fit: Fit,
    enc: Encoded,
    *,
    gold_weight: float = 1.0,
    credit_temperature: float = 2.0,
    bias_penalty: float | None = 1.0,
    significance: float = 1.0,
) -> _WorkerStats:
    """Per-worker label counts, reported ``quality`` and pay ``skill``.

    ``quality``: expected share of the worker's labels that are correct under the posterior;
    answers on gold items score 1/0 against the known label and weigh ``gold_weight``.

    ``skill`` uses only answers on non-gold items (a worker with only gold answers falls back
    to those), scored with the posterior tempered by ``credit_temperature``. Why:

    * Gold answers already shape every worker's confusion matrix through clamping; adding
      their 1/0 score again mostly adds the sampling noise of a handful of gold answers per
      worker. On the bundled dog data, counting gold answers (weight 1) lowered the Spearman
      correlation between pay per label and true accuracy on the real work from 0.82 to 0.80
      (mean of 20 gold draws; duck unchanged at 0.97).
    * DS posteriors are overconfident (answers are not conditionally independent: everybody
      gets the same hard items wrong), so a near-certain posterior on a wrongly inferred item
      moves a worker's credit by a whole label. Tempering by 2 (as if the evidence counted
      half) softens that: +0.007 Spearman on dog, no change on duck.
    * A crowd biased toward one class is corrected on the gold items: see
      ``calibrate_class_bias`` (``bias_penalty=None`` turns it off).
    """
    n_w = len(enc.workers)
    is_gold_answer = enc.gold_mask[enc.item_idx]
    correct_gold = (enc.label_idx == enc.gold_label[enc.item_idx]).astype(np.float64)

    posterior_credit = np.asarray(fit.posterior[enc.item_idx, enc.label_idx], dtype=np.float64)
    score = np.where(is_gold_answer, correct_gold, posterior_credit)
    weight = np.where(is_gold_answer, gold_weight, 1.0)
    wsum = np.bincount(enc.worker_idx, weights=weight, minlength=n_w)
    quality = np.bincount(enc.worker_idx, weights=score * weight, minlength=n_w) / np.where(
        wsum > 0, wsum, 1.0
    )
    labels = np.bincount(enc.worker_idx, minlength=n_w).astype(np.int64)
    gold_labels = np.bincount(
        enc.worker_idx, weights=is_gold_answer.astype(np.float64), minlength=n_w
    ).astype(np.int64)
    if gold_weight == 0:
        # Only gold answers and no weight on them: fall back to the unweighted gold share.
        only_gold = wsum == 0
        quality = np.where(
            only_gold,
            np.bincount(enc.worker_idx, weights=correct_gold * is_gold_answer, minlength=n_w)
            / np.maximum(labels, 1),
            quality,
        )

    n_classes = len(enc.labels)
    bias = (
        np.zeros(n_classes)
        if bias_penalty is None
        else calibrate_class_bias(fit, enc, credit_temperature, bias_penalty)
    )
    credit = np.where(is_gold_answer, correct_gold, _credit(fit, enc, credit_temperature, bias))
    ng = (~is_gold_answer).astype(np.float64)
    n_ng = np.bincount(enc.worker_idx, weights=ng, minlength=n_w)
    acc_ng = np.bincount(enc.worker_idx, weights=credit * ng, minlength=n_w) / np.maximum(n_ng, 1)
    acc_all = np.bincount(enc.worker_idx, weights=credit, minlength=n_w) / np.maximum(labels, 1)
    accuracy = np.where(n_ng > 0, acc_ng, acc_all)
    n_used = np.where(n_ng > 0, n_ng, labels.astype(np.float64))
    skill = _pay_skill(accuracy, n_used, n_classes, significance)
    return _WorkerStats(labels, gold_labels, quality, skill, bias)


# --------------------------------------------------------------------------------------------
# Allocation
# --------------------------------------------------------------------------------------------


def to_fixed(x: float) -> int:
    """Float to integer fixed point (1e-9). IEEE multiply and round-half-even are exact and the
    same on every machine, so the integer is too."""
    if not math.isfinite(x):
        raise ValueError(f"weight must be finite, got {x!r}")
    return round(x * FIXED_POINT)


def allocate_fixed(budget: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split ``budget`` in proportion to integer ``weights`` by largest remainder.

    Every worker gets ``floor(budget * w / W)``; the units left over (fewer than the number of
    positive weights) go one each to the largest remainders, ties by worker id ascending. Pure
    integer arithmetic: exact and machine-independent. Payouts sum exactly to ``budget``.
    """
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise ValueError(f"budget must be an int, got {type(budget).__name__}")
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    for worker, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, int) or w < 0:
            raise ValueError(f"weight of {worker!r} must be a non-negative int, got {w!r}")
    total = sum(weights.values())
    if budget == 0:
        return dict.fromkeys(weights, 0)
    if total == 0:
        raise ValueError("no worker has a positive weight: the budget cannot be split")
    payout: dict[str, int] = {}
    remainders: list[tuple[int, str]] = []
    for worker, w in weights.items():
        q, r = divmod(budget * w, total)
        payout[worker] = q
        if w > 0:
            remainders.append((-r, worker))
    left = budget - sum(payout.values())
    remainders.sort()
    for _, worker in remainders[:left]:
        payout[worker] += 1
    return payout


def allocate(budget: int, weights: dict[str, float]) -> dict[str, int]:
    """Split an integer ``budget`` in proportion to float ``weights`` (largest remainder).

    Weights are first converted to 1e-9 fixed-point integers (``to_fixed``), so the result is
    byte-identical across machines; a weight below 5e-10 therefore counts as zero. Raises
    ``ValueError`` for a negative or non-finite weight, or when every weight is zero and the
    budget is positive.
    """
    fixed: dict[str, int] = {}
    for worker, w in weights.items():
        f = to_fixed(float(w))
        if f < 0:
            raise ValueError(f"weight of {worker!r} must be >= 0, got {w!r}")
        fixed[worker] = f
    return allocate_fixed(budget, fixed)


# --------------------------------------------------------------------------------------------
# Scoring entry point
# --------------------------------------------------------------------------------------------


class ItemLabel(NamedTuple):
    item: str
    label: str
    confidence: float  # posterior of the chosen label, 1e-9 fixed point


class WorkerScore(NamedTuple):
    worker: str
    labels: int
    quality: float  # as defined in the module docstring, 1e-9 fixed point
    payout: int
    skill: float  # what the payout is proportional to (times labels), 1e-9 fixed point
    gold_labels: int


@dataclass(frozen=True)
class ScoreResult:
    labels: list[ItemLabel]
    workers: list[WorkerScore]
    report: dict[str, Any] = field(repr=False)

    def report_bytes(self) -> bytes:
        return canonical_json(self.report)

    @property
    def payouts(self) -> dict[str, int]:
        return {w.worker: w.payout for w in self.workers}


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same object always gives the same bytes."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _sha256_rows(rows: list[Any]) -> str:
    return hashlib.sha256(canonical_json(rows)).hexdigest()


def _fixed_array(x: FloatArray) -> IntArray:
    """Vectorised ``to_fixed``: IEEE multiply, then round half to even (as Python's round)."""
    if not np.isfinite(x).all():
        raise ValueError("non-finite value")
    return np.rint(x * FIXED_POINT).astype(np.int64)


def _from_fixed(x: IntArray) -> list[float]:
    """``[v / FIXED_POINT for v in x.tolist()]``, vectorised. Identical for ``|v| < 2**53``:
    int64 -> float64 is exact there and both divisions are correctly rounded IEEE divisions."""
    if len(x) and (int(x.max()) >= 1 << 53 or int(x.min()) <= -(1 << 53)):
        return [v / FIXED_POINT for v in x.tolist()]
    result: list[float] = (x / FIXED_POINT).tolist()
    return result


def answers_hash(enc: Encoded) -> str:
    """sha256 of the canonical answers, independent of row order, header spelling, whitespace.

    Canonical bytes: ``canonical_json([items, workers, labels])`` (each the sorted list of
    distinct ids), a newline, then the (item index, worker index, label index) of every answer
    in (item, worker) order as little-endian int64 triples. Hashing index arrays instead of a
    JSON row per answer keeps this fast at millions of answers and is just as unambiguous.
    """
    return _answers_hash(enc, enc.items.tolist())


def _answers_hash(enc: Encoded, item_ids: list[str]) -> str:
    """``answers_hash`` given ``enc.items.tolist()`` (``score`` needs that list anyway)."""
    h = hashlib.sha256()
    h.update(canonical_json([item_ids, enc.workers.tolist(), enc.labels.tolist()]))
    h.update(b"\n")
    triples = np.empty((enc.n_answers, 3), dtype="<i8")
    triples[:, 0] = enc.item_idx
    triples[:, 1] = enc.worker_idx
    triples[:, 2] = enc.label_idx
    h.update(triples.data)  # C-contiguous little-endian int64 triples, no copy
    return h.hexdigest()


def gold_hash(gold: GoldSet) -> str:
    """sha256 of the canonical gold set: JSON ``[[item, label], ...]`` sorted by item."""
    return _sha256_rows([[item, gold.labels[item]] for item in sorted(gold.labels)])


def _fixed(x: float) -> float:
    return to_fixed(x) / FIXED_POINT


def score(
    answers: AnswersInput,
    gold: GoldInput = None,
    method: Method = "ds",
    budget: int = 0,
    min_quality: float | None = None,
    *,
    gold_weight: float = 1.0,
    max_iter: int = 100,
    tol: float = 1e-5,
    smoothing: float = 1.0,
    credit_temperature: float = 2.0,
    bias_penalty: float | None = 1.0,
    significance: float = 1.0,
    duplicates: Duplicates = "reject",
) -> ScoreResult:
    """Infer labels, score workers and split ``budget`` into integer payouts.

    ``duplicates``: see ``encode``. With ``"first"``/``"last"`` the report's parameters record
    the policy and how many answers it dropped; with the default ``"reject"`` the report is
    exactly what it was before the policy existed (the oracle's reports do not change).

    ``min_quality``: workers whose reported quality is below it are paid nothing. ``None``
    (default) means chance level ``1 / number of labels``: a worker whose labels are no better
    than uniform guessing is not paid whatever else happens. Payout weights are
    ``labels x skill`` (see ``worker_stats``). If no worker has a positive weight, every payout
    is 0 and the report's ``unallocated`` equals the budget (the escrow refunds it).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise ValueError(f"budget must be a non-negative int, got {budget!r}")
    if not (math.isfinite(gold_weight) and gold_weight >= 0):
        raise ValueError(f"gold_weight must be finite and >= 0, got {gold_weight!r}")
    if credit_temperature <= 0 or significance < 0 or smoothing < 0:
        raise ValueError("credit_temperature must be > 0; significance, smoothing >= 0")
    if bias_penalty is not None and not (math.isfinite(bias_penalty) and bias_penalty > 0):
        raise ValueError(f"bias_penalty must be finite and > 0 (or None), got {bias_penalty!r}")
    ans = _as_answers(answers)
    gold_set = _as_gold(gold)
    enc = encode(ans, gold_set, duplicates)
    del ans  # read from a file here, the raw codes are freed now (~1.2 GB at 100M answers)
    k = len(enc.labels)
    threshold = (1.0 / k) if min_quality is None else float(min_quality)

    if method == "mv":
        fit = majority_vote(enc)
        temperature = 1.0
    else:
        fit = dawid_skene(enc, max_iter=max_iter, tol=tol, smoothing=smoothing)
        temperature = credit_temperature
    stats = worker_stats(
        fit,
        enc,
        gold_weight=gold_weight,
        credit_temperature=temperature,
        bias_penalty=bias_penalty,
        significance=significance,
    )

    worker_ids = enc.workers.tolist()
    label_counts = [int(n) for n in stats.labels.tolist()]
    gold_counts = [int(n) for n in stats.gold_labels.tolist()]
    quality_fx = _fixed_array(stats.quality).tolist()
    skill_fx = _fixed_array(stats.skill).tolist()
    threshold_fx = to_fixed(threshold)
    weights: dict[str, int] = {}
    for worker, n, q, s in zip(worker_ids, label_counts, quality_fx, skill_fx, strict=True):
        weights[worker] = n * s if q >= threshold_fx else 0
    if budget > 0 and any(weights.values()):
        payouts = allocate_fixed(budget, weights)
    else:
        payouts = dict.fromkeys(weights, 0)

    best = fit.posterior.argmax(axis=1)  # first max = first label in sorted order
    conf_fixed = _fixed_array(fit.posterior[np.arange(len(best)), best])
    conf_fx = conf_fixed.tolist()
    label_ids = enc.labels.tolist()
    item_ids = enc.items.tolist()
    label_names = list(map(label_ids.__getitem__, best.tolist()))
    # tuple.__new__ through map builds the named tuples without a Python-level call per item.
    labels_out: list[ItemLabel] = list(
        map(
            tuple.__new__,
            repeat(ItemLabel),
            zip(item_ids, label_names, _from_fixed(conf_fixed), strict=True),
        )
    )
    workers_out = [
        WorkerScore(
            worker=worker,
            labels=n,
            quality=q / FIXED_POINT,
            payout=payouts[worker],
            skill=s / FIXED_POINT,
            gold_labels=g,
        )
        for worker, n, q, s, g in zip(
            worker_ids, label_counts, quality_fx, skill_fx, gold_counts, strict=True
        )
    ]
    paid = sum(payouts.values())
    report: dict[str, Any] = {
        "scoring_version": SCORING_VERSION,
        "method": method,
        "parameters": {
            "budget": budget,
            "min_quality": _fixed(threshold),
            "min_quality_default": min_quality is None,
            "gold_weight": _fixed(gold_weight),
            "max_iter": max_iter,
            "tol": tol,
            "smoothing": _fixed(smoothing),
            "credit_temperature": _fixed(temperature),
            "bias_penalty": None if bias_penalty is None else _fixed(bias_penalty),
            "significance": _fixed(significance),
            "fixed_point": FIXED_POINT,
        },
        "inputs": {
            "answers_sha256": _answers_hash(enc, item_ids),
            "gold_sha256": gold_hash(gold_set),
            "answers": enc.n_answers,
            "items": len(enc.items),
            "workers": len(enc.workers),
            "gold_items": int(enc.gold_mask.sum()),
            "labels": enc.labels.tolist(),
        },
        "inference": {"iterations": fit.iterations, "converged": fit.converged},
        # Per-label logit offsets fitted on the gold items (see calibrate_class_bias), 1e-9
        # fixed point; all zero without gold.
        "class_bias": dict(
            zip(
                enc.labels.tolist(),
                [v / FIXED_POINT for v in _fixed_array(stats.class_bias).tolist()],
                strict=True,
            )
        ),
        # sha256 of canonical_json([label of each item, confidence x 1e9 of each item]), items
        # in sorted id order (as in answers_hash): commits to the inferred labels.
        "labels_sha256": _sha256_rows([label_names, conf_fx]),
        "workers": {
            w.worker: {
                "labels": w.labels,
                "gold_labels": w.gold_labels,
                "quality": w.quality,
                "skill": w.skill,
                "weight": weights[w.worker],
                "payout": w.payout,
            }
            for w in workers_out
        },
        "totals": {"budget": budget, "paid": paid, "unallocated": budget - paid},
    }
    if duplicates != "reject":
        report["parameters"]["duplicates"] = duplicates
        report["inputs"]["duplicates_dropped"] = enc.duplicates_dropped
    return ScoreResult(labels_out, workers_out, report)
