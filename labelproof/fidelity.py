"""Incentive fidelity of the scoring: does pay track real annotation accuracy?

Protocol (shared by the tests, the benchmark and the demo):

1. A seeded random 10% of the items (``numpy.random.default_rng(seed).choice`` over the sorted
   item ids, without replacement) are given to the scorer as gold, with their true labels.
2. The answers are scored with a budget; each worker's *pay per label* is payout / labels.
3. Each worker's *true accuracy* is measured on the non-gold items that have a true label.
4. Fidelity = Spearman rank correlation of pay per label vs true accuracy over the workers with
   at least ``min_labels`` labels (and at least one non-gold answer with a true label).
5. Spammer test: 20% extra workers (``round(0.2 x workers)``), each answering the median number
   of items a real worker answered (distinct items chosen at random) with labels drawn uniformly
   from the label set, are added and everything is scored again with the same gold. Their total
   payout as a share of the budget is reported (goal: at most 2%).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labelproof.scoring import (
    DATA_DIR,
    AnswerSet,
    FloatArray,
    GoldSet,
    load_answers,
    load_gold,
    score,
)

DATASETS = ("duck", "dog")

# Computes payouts for (answers, gold, budget); the default is ``score(...)``'s payouts.
PayFn = Callable[[AnswerSet, dict[str, str], int], Mapping[str, int]]


def load_dataset(name: str, data_dir: Path = DATA_DIR) -> tuple[AnswerSet, dict[str, str]]:
    """Answers and true labels of a bundled dataset (``duck`` or ``dog``)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; bundled: {', '.join(DATASETS)}")
    answers = load_answers(data_dir / name / "answer.csv")
    truth = load_gold(data_dir / name / "truth.csv").labels
    return answers, truth


def _ranks(x: FloatArray) -> FloatArray:
    """Ranks 1..n with ties given their average rank (what Spearman's rho uses)."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.flatnonzero(np.concatenate(([True], xs[1:] != xs[:-1])))
    ends = np.concatenate((starts[1:], [len(xs)]))
    avg = (starts + ends + 1) / 2.0  # mean of 1-based positions start+1 .. end
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def spearman(x: Any, y: Any) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN if either side is constant."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("spearman needs two 1-d sequences of equal length")
    if len(a) < 2:
        return float("nan")
    ra, rb = _ranks(a), _ranks(b)
    ra -= ra.mean()
    rb -= rb.mean()
    denom = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def choose_gold(
    answers: AnswerSet, truth: Mapping[str, str], fraction: float = 0.1, seed: int = 0
) -> dict[str, str]:
    """Seeded random ``fraction`` of the answered items that have a true label, as gold."""
    items = np.array(sorted(set(answers.item.tolist()) & set(truth)), dtype=np.str_)
    size = round(fraction * len(items))
    picked = np.random.default_rng(seed).choice(len(items), size=size, replace=False)
    return {str(items[i]): truth[str(items[i])] for i in sorted(picked.tolist())}


def add_spammers(
    answers: AnswerSet, fraction: float = 0.2, seed: int = 0
) -> tuple[AnswerSet, list[str]]:
    """Append ``round(fraction x workers)`` uniform-random workers (see the module docstring)."""
    rng = np.random.default_rng(seed + 1_000_003)  # independent of the gold draw
    items = np.unique(answers.item)
    labels = np.unique(answers.label)
    workers, counts = np.unique(answers.worker, return_counts=True)
    n_spam = round(fraction * len(workers))
    per = min(round(float(np.median(counts))), len(items))
    taken = set(workers.tolist())
    ids: list[str] = []
    j = 0
    while len(ids) < n_spam:
        cand = f"spammer-{j:04d}"
        if cand not in taken:
            ids.append(cand)
        j += 1
    new_item: list[str] = []
    new_label: list[str] = []
    new_worker: list[str] = []
    for sid in ids:
        picked = rng.choice(len(items), size=per, replace=False)
        new_item.extend(items[picked].tolist())
        new_label.extend(labels[rng.integers(0, len(labels), size=per)].tolist())
        new_worker.extend([sid] * per)
    first_row = int(answers.rows.max()) + 1 if len(answers) else 1
    return (
        AnswerSet(
            item=np.concatenate((answers.item, np.array(new_item, dtype=np.str_))),
            worker=np.concatenate((answers.worker, np.array(new_worker, dtype=np.str_))),
            label=np.concatenate((answers.label, np.array(new_label, dtype=np.str_))),
            rows=np.concatenate(
                (answers.rows, np.arange(first_row, first_row + len(new_item), dtype=np.int64))
            ),
            source=f"{answers.source}+spammers",
        ),
        ids,
    )


def payout_spearman(
    answers: AnswerSet,
    truth: Mapping[str, str],
    gold: Mapping[str, str],
    payouts: Mapping[str, int | float],
    min_labels: int = 20,
) -> tuple[float, int]:
    """Spearman of pay per label vs true non-gold accuracy; also the number of workers used."""
    workers, w_idx = np.unique(answers.worker, return_inverse=True)
    w_idx = w_idx.ravel()
    n_labels = np.bincount(w_idx, minlength=len(workers))
    true_label = np.array([truth.get(i, "") for i in answers.item.tolist()], dtype=np.str_)
    usable = (true_label != "") & ~np.isin(answers.item, np.array(list(gold), dtype=np.str_))
    correct = (answers.label == true_label) & usable
    n_usable = np.bincount(w_idx, weights=usable.astype(np.float64), minlength=len(workers))
    n_correct = np.bincount(w_idx, weights=correct.astype(np.float64), minlength=len(workers))
    keep = (n_labels >= min_labels) & (n_usable > 0)
    pay = np.array([float(payouts.get(str(w), 0)) for w in workers.tolist()])
    per_label = pay / np.maximum(n_labels, 1)
    accuracy = n_correct / np.maximum(n_usable, 1)
    return spearman(per_label[keep], accuracy[keep]), int(keep.sum())


def _default_pay(**score_kwargs: Any) -> PayFn:
    def pay(answers: AnswerSet, gold: dict[str, str], budget: int) -> Mapping[str, int]:
        return score(answers, GoldSet.from_mapping(gold), budget=budget, **score_kwargs).payouts

    return pay


@dataclass(frozen=True)
class FidelityResult:
    seed: int
    gold_items: int
    workers_evaluated: int
    spearman: float  # pay per label vs true accuracy, no spammers
    spammers: int
    spammer_share: float  # spammers' total payout / budget
    spearman_with_spammers: float  # same Spearman over the real workers, spammers present

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "gold_items": self.gold_items,
            "workers_evaluated": self.workers_evaluated,
            "spearman": round(self.spearman, 4),
            "spammers": self.spammers,
            "spammer_share": round(self.spammer_share, 6),
            "spearman_with_spammers": round(self.spearman_with_spammers, 4),
        }


def fidelity(
    answers: AnswerSet,
    truth: Mapping[str, str],
    *,
    seed: int = 0,
    gold_fraction: float = 0.1,
    spammer_fraction: float = 0.2,
    min_labels: int = 20,
    budget: int = 10**12,
    pay: PayFn | None = None,
    **score_kwargs: Any,
) -> FidelityResult:
    """Run the protocol of the module docstring. ``pay`` overrides how payouts are computed
    (for baselines); otherwise ``score(..., **score_kwargs)`` is used. A large default budget
    keeps integer rounding out of the ranks."""
    pay_fn = pay if pay is not None else _default_pay(**score_kwargs)
    gold = choose_gold(answers, truth, gold_fraction, seed)
    rho, n_eval = payout_spearman(answers, truth, gold, pay_fn(answers, gold, budget), min_labels)
    spammed, ids = add_spammers(answers, spammer_fraction, seed)
    payouts = pay_fn(spammed, gold, budget)
    share = sum(int(payouts.get(s, 0)) for s in ids) / budget if budget else 0.0
    real = {w: p for w, p in payouts.items() if w not in set(ids)}
    rho_spam, _ = payout_spearman(answers, truth, gold, real, min_labels)
    return FidelityResult(seed, len(gold), n_eval, rho, len(ids), share, rho_spam)
