"""Benchmark labelproof.scoring's Dawid-Skene against crowd-kit 1.4.2's DawidSkene.

1. Synthetic scale run: 1,000,000 answers, 10,000 workers, 200,000 items, 4 classes (seeded).
   Every item gets 5 answers from 5 distinct workers; worker activity is log-normal (a few
   workers answer thousands of items, many answer a few dozen); worker skill is varied: 65%
   good (accuracy 0.65-0.95), 25% mediocre (0.35-0.65), 10% uniform-random spammers. Errors of
   non-spammers go to the other classes uniformly; class prior 0.4/0.3/0.2/0.1.
   Each method runs in its own subprocess on the same data (saved once as .npz). Peak memory
   is that process's peak RSS (VmHWM, reset after the data is loaded where Linux allows) minus
   its RSS after loading, i.e. what the fit itself added.
   Timed (best of 3 for ours, best of 2 for crowd-kit; the machine is shared): ours = encode
   (string ids to indices, validation) + EM; ``score()`` end to end (adds input hashing, pay
   and the report) is timed once too. crowd-kit = ``DawidSkene(n_iter=100).fit_predict`` on a
   DataFrame with integer columns (its cheapest input). If crowd-kit takes longer than
   8 minutes it is stopped and both are measured at 100,000 answers as well.
2. The bundled real datasets (duck, dog): accuracy vs truth and time, both implementations.
3. Incentive fidelity (labelproof/fidelity.py protocol) on duck and dog, for seed 0 and over 30
   gold draws, with the two anchors computed on the same draws: pay by majority agreement, and
   pay by crowd-kit DS posterior quality (gold clamped through ``true_labels``).
4. ``whole_command``: what a user runs, on the same 1M-answer data written once as a CSV of
   string ids: ``labelproof score answers.csv --out DIR`` (the installed console script) against
   a crowd-kit script doing the same job (pandas ``read_csv``, ``DawidSkene(n_iter=100)
   .fit_predict``, write the labels as CSV), each a whole process, wall clock, best of 3 (of 2
   for crowd-kit), with its CPU time and peak RSS; accuracy of each written label file against
   the truth. Goal: >= 10x with accuracy within 0.5 pp. The 2 cores are shared, so the 1-minute
   load average is recorded.
5. ``answers_100m``: 100M answers generated on the fly (10M items, 200k workers, 10 distinct
   workers per item, 4 classes, string ids), written as Parquet in row groups of 10M answers,
   then ``labelproof score answers.parquet --out DIR`` as one process: ``wall_s`` and
   ``peak_rss_gib`` (the process's ru_maxrss), plus accuracy, CPU time and the load average.
   Goal: <= 300 s and <= 12 GiB. ``--skip-100m`` leaves it out (it takes minutes).

Sections can be run alone (``--only whole_command,answers_100m``); the others keep their last
figures in the results file.

Run from anywhere:  python benchmarks/bench_scoring.py [--answers N] [--seeds S] [--quick]
Needs numpy, pandas, pyarrow and crowd-kit==1.4.2. Writes benchmarks/results/scoring.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from labelproof import scoring  # noqa: E402
from labelproof.fidelity import choose_gold, fidelity, load_dataset  # noqa: E402
from labelproof.scoring import AnswerSet  # noqa: E402

RESULTS = REPO_ROOT / "benchmarks" / "results" / "scoring.json"
CROWDKIT_LIMIT_S = 480.0
SMALL_SCALE = 100_000


# ------------------------------------------------------------------------------------------
# Synthetic data
# ------------------------------------------------------------------------------------------


def synthetic(
    n_answers: int, n_workers: int, n_items: int, n_classes: int, seed: int
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    per_item = n_answers // n_items
    assert per_item * n_items == n_answers, "answers must be a multiple of items"
    prior = np.array([0.4, 0.3, 0.2, 0.1])[:n_classes]
    prior = prior / prior.sum()
    truth = rng.choice(n_classes, size=n_items, p=prior)

    # Activity: log-normal, at least 1 answer each, scaled to n_answers exactly.
    raw = rng.lognormal(mean=0.0, sigma=1.0, size=n_workers)
    counts = np.maximum(1, np.floor(raw / raw.sum() * n_answers)).astype(np.int64)
    while counts.sum() != n_answers:  # fix rounding drift one unit at a time, deterministically
        diff = n_answers - int(counts.sum())
        idx = rng.choice(n_workers, size=abs(diff), replace=True)
        if diff > 0:
            np.add.at(counts, idx, 1)
        else:
            np.subtract.at(counts, idx, 1)
            counts = np.maximum(counts, 1)
    counts = np.minimum(counts, n_items)
    counts[np.argmax(counts)] += n_answers - int(counts.sum())
    slots = rng.permutation(np.repeat(np.arange(n_workers), counts)).reshape(n_items, per_item)
    # Repair items that drew the same worker twice: swap with random other slots until none.
    for _ in range(100):
        srt = np.sort(slots, axis=1)
        bad_rows = np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))
        if len(bad_rows) == 0:
            break
        flat = slots.reshape(-1)
        src = bad_rows * per_item + rng.integers(0, per_item, size=len(bad_rows))
        dst = rng.integers(0, flat.size, size=len(bad_rows))
        flat[src], flat[dst] = flat[dst].copy(), flat[src].copy()
    else:
        raise RuntimeError("could not spread workers over items")
    worker = slots.reshape(-1)
    item = np.repeat(np.arange(n_items), per_item)

    kind = rng.random(n_workers)
    accuracy = np.where(
        kind < 0.65,
        rng.uniform(0.65, 0.95, n_workers),
        np.where(kind < 0.90, rng.uniform(0.35, 0.65, n_workers), 1.0 / n_classes),
    )
    spammer = kind >= 0.90
    t = truth[item]
    right = rng.random(n_answers) < accuracy[worker]
    wrong = (t + rng.integers(1, n_classes, n_answers)) % n_classes
    label = np.where(right, t, wrong)
    uniform = rng.integers(0, n_classes, n_answers)
    label = np.where(spammer[worker], uniform, label)
    return {"item": item, "worker": worker, "label": label, "truth": truth}


# ------------------------------------------------------------------------------------------
# One method in its own process (peak memory is per process)
# ------------------------------------------------------------------------------------------

CHILD = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, sys.argv[3])

def rss_mb():
    # Peak RSS since the last reset_peak() (VmHWM), else since process start (ru_maxrss).
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

def reset_peak():
    # Linux: writing 5 to clear_refs resets VmHWM, so loading the data does not set the peak.
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False

method, path = sys.argv[1], sys.argv[2]
data = np.load(path)
item, worker, label, truth = data["item"], data["worker"], data["label"], data["truth"]
out = {}
if method == "ours":
    from labelproof import scoring
    # Ids as strings, the form answers arrive in (CSV, JSON): encoding cost is counted.
    answers = scoring.AnswerSet.from_arrays(
        item.astype(str), worker.astype(str), label.astype(str), "<synthetic>")
    del item, worker, label
    reset = reset_peak()
    base = rss_mb()
    runs = []
    for _ in range(3):  # best of 3: this machine is shared, the minimum is the least noisy
        t0 = time.perf_counter()
        enc = scoring.encode(answers, scoring.GoldSet({}, {}))
        t1 = time.perf_counter()
        fit = scoring.dawid_skene(enc)
        t2 = time.perf_counter()
        runs.append((t2 - t0, t1 - t0, t2 - t1))
        if len(runs) == 1:
            peak = rss_mb()
    pred = fit.posterior.argmax(axis=1)
    items = enc.items.astype(np.int64)
    labels = enc.labels.astype(np.int64)
    acc = float((labels[pred] == truth[items]).mean())
    t3 = time.perf_counter()
    result = scoring.score(answers, None, "ds", budget=10**18)
    t4 = time.perf_counter()
    best = min(runs)
    out = {"encode_s": best[1], "em_s": best[2], "fit_s": best[0],
           "fit_s_runs": [r[0] for r in runs], "iterations": fit.iterations,
           "converged": fit.converged, "accuracy": acc, "score_end_to_end_s": t4 - t3,
           "paid": result.report["totals"]["paid"],
           "rss_after_load_mb": base, "peak_rss_mb": peak, "peak_rss_score_mb": rss_mb(),
           "peak_reset_after_load": reset}
else:
    import pandas as pd
    from crowdkit.aggregation import DawidSkene
    frame = pd.DataFrame({"task": item, "worker": worker, "label": label})
    del item, worker, label
    reset = reset_peak()
    base = rss_mb()
    runs = []
    for _ in range(2):  # best of 2
        t0 = time.perf_counter()
        model = DawidSkene(n_iter=100)
        pred = model.fit_predict(frame)
        runs.append(time.perf_counter() - t0)
        if len(runs) == 1:
            peak = rss_mb()
    acc = float((pred.to_numpy() == truth[pred.index.to_numpy()]).mean())
    out = {"fit_s": min(runs), "fit_s_runs": runs, "iterations": len(model.loss_history_),
           "accuracy": acc, "rss_after_load_mb": base, "peak_rss_mb": peak,
           "peak_reset_after_load": reset}
print(json.dumps(out))
"""


def run_child(method: str, npz: Path, timeout: float | None) -> dict[str, Any] | None:
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, method, str(npz), str(REPO_ROOT)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"{method} failed:\n{exc.stderr}") from exc
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def scale_run(n_answers: int, seed: int, tmp: Path, limit: float | None) -> dict[str, Any]:
    n_items = n_answers // 5
    n_workers = max(10, n_answers // 100)
    data = synthetic(n_answers, n_workers, n_items, 4, seed)
    npz = tmp / f"synthetic_{n_answers}.npz"
    np.savez(npz, **data)
    print(f"[scale {n_answers:,}] data ready; running ours", flush=True)
    ours = run_child("ours", npz, None)
    assert ours is not None
    print(f"[scale {n_answers:,}] ours: {ours['fit_s']:.2f}s; running crowd-kit", flush=True)
    ck = run_child("crowdkit", npz, limit)
    row: dict[str, Any] = {
        "answers": n_answers,
        "workers": n_workers,
        "items": n_items,
        "classes": 4,
        "seed": seed,
        "ours": ours,
        "crowdkit": ck if ck is not None else {"timed_out_after_s": limit},
    }
    if ck is not None:
        row["speedup_fit"] = ck["fit_s"] / ours["fit_s"]
        row["speedup_score_end_to_end"] = ck["fit_s"] / ours["score_end_to_end_s"]
        row["accuracy_delta_pp"] = 100 * (ours["accuracy"] - ck["accuracy"])
        row["peak_memory_delta_mb"] = {
            "ours": ours["peak_rss_mb"] - ours["rss_after_load_mb"],
            "crowdkit": ck["peak_rss_mb"] - ck["rss_after_load_mb"],
        }
    print(f"[scale {n_answers:,}] {json.dumps(row)}", flush=True)
    return row


# ------------------------------------------------------------------------------------------
# Whole commands (what a user runs)
# ------------------------------------------------------------------------------------------

CROWDKIT_COMMAND = r"""
import sys
import pandas as pd
from crowdkit.aggregation import DawidSkene
answers, out = sys.argv[1], sys.argv[2]
frame = pd.read_csv(answers, dtype=str).rename(columns={"item": "task"})
labels = DawidSkene(n_iter=100).fit_predict(frame)
labels.rename("label").to_csv(out, index_label="item")
"""


def run_process(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Wall seconds, CPU seconds and peak RSS (GiB) of one whole process."""
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: wait4 cannot deadlock
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=errors, env=env
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}):\n{message}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_gib": usage.ru_maxrss / 2**20,  # Linux: KiB
    }


def labelproof_command() -> list[str]:
    script = Path(sys.executable).with_name("labelproof")
    if script.exists():
        return [str(script)]
    found = shutil.which("labelproof")
    return [found] if found else [sys.executable, "-m", "labelproof.cli"]


def label_accuracy(labels_csv: Path, truth: np.ndarray, prefix: str = "i") -> float:
    """Share of items whose written label ``c<k>`` equals the truth (item ids ``i<n>``)."""
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    table = pa_csv.read_csv(labels_csv)
    items = pc.cast(pc.utf8_slice_codeunits(table["item"], len(prefix)), "int64").to_numpy()
    labels = pc.cast(pc.utf8_slice_codeunits(table["label"], 1), "int64").to_numpy()
    if len(items) != len(truth):
        raise RuntimeError(f"{labels_csv}: {len(items)} labels for {len(truth)} items")
    return float((labels == truth[items]).mean())


def write_answers_csv(path: Path, data: dict[str, np.ndarray]) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    def ids(prefix: str, values: np.ndarray) -> Any:
        return pc.binary_join_element_wise(prefix, pc.cast(pa.array(values), "string"), "")

    table = pa.table(
        {
            "item": ids("i", data["item"]),
            "worker": ids("w", data["worker"]),
            "label": ids("c", data["label"]),
        }
    )
    pa_csv.write_csv(table, path, pa_csv.WriteOptions(quoting_style="none"))


def whole_command(n_answers: int, seed: int, tmp: Path, limit: float) -> dict[str, Any]:
    n_items = n_answers // 5
    n_workers = max(10, n_answers // 100)
    data = synthetic(n_answers, n_workers, n_items, 4, seed)
    answers = tmp / "answers.csv"
    write_answers_csv(answers, data)
    load_before = os.getloadavg()[0]
    ours_runs = [
        run_process([*labelproof_command(), "score", str(answers), "--out", str(tmp / "ours")])
        for _ in range(3)
    ]
    ours_acc = label_accuracy(tmp / "ours" / "labels.csv", data["truth"])
    print(f"[whole {n_answers:,}] ours {[round(r['wall_s'], 2) for r in ours_runs]}", flush=True)
    ck_runs = []
    for _ in range(2):
        started = time.perf_counter()
        ck_runs.append(
            run_process([sys.executable, "-c", CROWDKIT_COMMAND, str(answers), str(tmp / "ck.csv")])
        )
        if time.perf_counter() - started > limit:
            break
    ck_acc = label_accuracy(tmp / "ck.csv", data["truth"])
    load_after = os.getloadavg()[0]
    ours = min(ours_runs, key=lambda r: r["wall_s"])
    ck = min(ck_runs, key=lambda r: r["wall_s"])
    row: dict[str, Any] = {
        "answers": n_answers,
        "items": n_items,
        "workers": n_workers,
        "classes": 4,
        "seed": seed,
        "input": "CSV item,worker,label of string ids (i<n>, w<n>, c<k>), "
        f"{answers.stat().st_size} bytes",
        "ours_command": "labelproof score answers.csv --out DIR",
        "crowdkit_command": "pandas.read_csv + DawidSkene(n_iter=100).fit_predict + to_csv",
        "ours": {**ours, "wall_s_runs": [r["wall_s"] for r in ours_runs], "accuracy": ours_acc},
        "crowdkit": {**ck, "wall_s_runs": [r["wall_s"] for r in ck_runs], "accuracy": ck_acc},
        "speedup_wall": ck["wall_s"] / ours["wall_s"],
        "speedup_cpu": ck["cpu_s"] / ours["cpu_s"],
        "accuracy_delta_pp": 100 * (ours_acc - ck_acc),
        "goal_speedup": 10,
        "goal_accuracy_within_pp": 0.5,
        "load_average_1m": {"before": load_before, "after": load_after, "cores": os.cpu_count()},
    }
    print(f"[whole {n_answers:,}] {json.dumps(row)}", flush=True)
    return row


# ------------------------------------------------------------------------------------------
# 100M answers
# ------------------------------------------------------------------------------------------


def generate_parquet(
    path: Path,
    n_items: int,
    n_workers: int,
    per_item: int,
    n_classes: int,
    seed: int,
    items_per_group: int = 1_000_000,
) -> np.ndarray:
    """Write the answers as Parquet, one row group per ``items_per_group`` items, never holding
    more than one group in memory; returns the true class of every item (int8).

    Each item's workers are ``(r + j * s) mod n_workers`` for ``j < per_item`` with a random
    start ``r`` and step ``1 <= s < n_workers / per_item``: distinct within the item. Worker
    skill as in ``synthetic``: 65% good (0.65-0.95), 25% mediocre (0.35-0.65), 10% spammers.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    prior = np.array([0.4, 0.3, 0.2, 0.1])[:n_classes]
    prior = prior / prior.sum()
    kind = rng.random(n_workers)
    accuracy = np.where(
        kind < 0.65,
        rng.uniform(0.65, 0.95, n_workers),
        np.where(kind < 0.90, rng.uniform(0.35, 0.65, n_workers), 1.0 / n_classes),
    )
    spammer = kind >= 0.90
    truth = np.empty(n_items, dtype=np.int8)
    worker_names = pc.binary_join_element_wise(
        "w", pc.cast(pa.array(np.arange(n_workers)), "string"), ""
    )
    label_names = pa.array([f"c{k}" for k in range(n_classes)])
    schema = pa.schema([("item", pa.string()), ("worker", pa.string()), ("label", pa.string())])
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        for start in range(0, n_items, items_per_group):
            count = min(items_per_group, n_items - start)
            t = rng.choice(n_classes, size=count, p=prior)
            truth[start : start + count] = t
            base = rng.integers(0, n_workers, count)
            step = rng.integers(1, n_workers // per_item, count)
            worker = (base[:, None] + np.arange(per_item)[None, :] * step[:, None]) % n_workers
            worker = worker.reshape(-1)
            tt = np.repeat(t, per_item)
            n = len(tt)
            right = rng.random(n) < accuracy[worker]
            wrong = (tt + rng.integers(1, n_classes, n)) % n_classes
            label = np.where(right, tt, wrong)
            label = np.where(spammer[worker], rng.integers(0, n_classes, n), label)
            items = pc.binary_join_element_wise(
                "i", pc.cast(pa.array(np.arange(start, start + count)), "string"), ""
            )
            table = pa.table(
                {
                    "item": pc.take(items, pa.array(np.repeat(np.arange(count), per_item))),
                    "worker": pc.take(worker_names, pa.array(worker)),
                    "label": pc.take(label_names, pa.array(label)),
                },
                schema=schema,
            )
            writer.write_table(table, row_group_size=len(tt))
            del table, items, worker, label, tt, right, wrong
    return truth


def answers_100m(seed: int, tmp: Path, n_items: int, n_workers: int) -> dict[str, Any]:
    per_item, classes = 10, 4
    path = tmp / "answers.parquet"
    started = time.perf_counter()
    truth = generate_parquet(path, n_items, n_workers, per_item, classes, seed)
    generate_s = time.perf_counter() - started
    print(f"[100m] generated {path.stat().st_size:,} bytes in {generate_s:.0f}s", flush=True)
    load_before = os.getloadavg()[0]
    run = run_process([*labelproof_command(), "score", str(path), "--out", str(tmp / "out")])
    load_after = os.getloadavg()[0]
    accuracy = label_accuracy(tmp / "out" / "labels.csv", truth)
    row = {
        "answers": n_items * per_item,
        "items": n_items,
        "workers": n_workers,
        "per_item": per_item,
        "classes": classes,
        "seed": seed,
        "command": "labelproof score answers.parquet --out DIR (one process)",
        "parquet_bytes": path.stat().st_size,
        "generate_and_write_s": generate_s,
        "wall_s": run["wall_s"],
        "cpu_s": run["cpu_s"],
        "peak_rss_gib": run["peak_rss_gib"],
        # Share of one core the process got: below 1 means other processes' load stretched
        # wall_s (cpu_s is the single-core work; the EM itself is single-threaded).
        "cpu_share": run["cpu_s"] / run["wall_s"],
        "accuracy": accuracy,
        "goal_wall_s": 300,
        "goal_peak_rss_gib": 12,
        "load_average_1m": {"before": load_before, "after": load_after, "cores": os.cpu_count()},
    }
    print(f"[100m] {json.dumps(row)}", flush=True)
    return row


# ------------------------------------------------------------------------------------------
# Real datasets and fidelity
# ------------------------------------------------------------------------------------------


def _frame(answers: AnswerSet) -> Any:
    import pandas as pd

    return pd.DataFrame({"task": answers.item, "worker": answers.worker, "label": answers.label})


def real_datasets() -> dict[str, Any]:
    from crowdkit.aggregation import DawidSkene

    out: dict[str, Any] = {}
    for name in ("duck", "dog"):
        answers, truth = load_dataset(name)
        frame = _frame(answers)
        row: dict[str, Any] = {}
        for label, fn in (
            ("ours", lambda a=answers: score_labels(a)),
            ("ours_unsmoothed", lambda a=answers: score_labels(a, smoothing=0.0)),
            ("crowdkit", lambda f=frame: DawidSkene(n_iter=100).fit_predict(f).to_dict()),
        ):
            times = []
            labels: dict[str, str] = {}
            for _ in range(5):
                t0 = time.perf_counter()
                labels = fn()
                times.append(time.perf_counter() - t0)
            acc = float(np.mean([truth[str(i)] == str(lab) for i, lab in labels.items()]))
            row[label] = {"accuracy": acc, "time_s_median_of_5": float(np.median(times))}
        mv = score_labels(answers, method="mv")
        row["majority_vote_accuracy"] = float(np.mean([truth[i] == lab for i, lab in mv.items()]))
        row["speedup"] = row["crowdkit"]["time_s_median_of_5"] / row["ours"]["time_s_median_of_5"]
        out[name] = row
        print(f"[{name}] {json.dumps(row)}", flush=True)
    return out


def score_labels(answers: AnswerSet, **kwargs: Any) -> dict[str, str]:
    return {x.item: x.label for x in scoring.score(answers, **kwargs).labels}


def majority_agreement_pay(answers: AnswerSet, gold: dict[str, str], budget: int) -> Any:
    result = scoring.score(answers, gold, method="mv", budget=0)
    return scoring.allocate(budget, {w.worker: w.quality * w.labels for w in result.workers})


def crowdkit_posterior_pay(answers: AnswerSet, gold: dict[str, str], budget: int) -> Any:
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    frame = _frame(answers)
    proba = DawidSkene(n_iter=100).fit_predict_proba(frame, true_labels=pd.Series(gold))
    lookup = proba.stack()
    credit = lookup.reindex(pd.MultiIndex.from_arrays([answers.item, answers.label])).to_numpy()
    credit = np.nan_to_num(credit.astype(float))
    known = np.array([gold.get(i, "") for i in answers.item.tolist()])
    is_gold = known != ""
    credit = np.where(is_gold, (answers.label == known).astype(float), credit)
    workers, idx = np.unique(answers.worker, return_inverse=True)
    n = np.bincount(idx.ravel())
    q = np.bincount(idx.ravel(), weights=credit) / n
    return scoring.allocate(budget, {str(w): float(q[k] * n[k]) for k, w in enumerate(workers)})


def fidelity_figures(seeds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("duck", "dog"):
        answers, truth = load_dataset(name)
        row: dict[str, Any] = {}
        variants: tuple[tuple[str, Any, dict[str, Any]], ...] = (
            ("ours", None, {}),
            # Ablation: the same scoring without the gold-calibrated class offsets.
            ("ours_without_class_bias", None, {"bias_penalty": None}),
            ("anchor_majority_agreement", majority_agreement_pay, {}),
            ("anchor_crowdkit_ds_posterior", crowdkit_posterior_pay, {}),
        )
        for label, pay, kwargs in variants:
            runs = [fidelity(answers, truth, seed=s, pay=pay, **kwargs) for s in range(seeds)]
            rho = np.array([r.spearman for r in runs])
            share = np.array([r.spammer_share for r in runs])
            rho_spam = np.array([r.spearman_with_spammers for r in runs])
            goal = 0.97 if name == "duck" else 0.85
            row[label] = {
                "seed0": runs[0].as_dict(),
                "spearman_mean": float(rho.mean()),
                "spearman_sd": float(rho.std()),
                "spearman_min": float(rho.min()),
                "spearman_max": float(rho.max()),
                "draws_meeting_goal": int((rho >= goal).sum()),
                "spammer_share_mean": float(share.mean()),
                "spammer_share_max": float(share.max()),
                "spearman_with_spammers_mean": float(rho_spam.mean()),
            }
        row["goal_spearman"] = 0.97 if name == "duck" else 0.85
        row["goal_spammer_share_max"] = 0.02
        row["gold_draws"] = seeds
        row["gold_items"] = len(choose_gold(answers, truth, 0.1, 0))
        out[name] = row
        print(f"[fidelity {name}] {json.dumps(row)}", flush=True)
    return out


SECTIONS = ("scale", "whole_command", "real_datasets", "fidelity", "answers_100m")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--seeds", type=int, default=30, help="gold draws for fidelity")
    parser.add_argument("--quick", action="store_true", help="100k answers, 5 gold draws")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--skip-100m", action="store_true", help="leave out answers_100m")
    parser.add_argument("--items-100m", type=int, default=10_000_000)
    parser.add_argument("--workers-100m", type=int, default=200_000)
    args = parser.parse_args()
    if args.quick:
        args.answers, args.seeds = SMALL_SCALE, 5
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.skip_100m:
        only.discard("answers_100m")

    import crowdkit
    import pandas as pd
    import pyarrow

    result: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    result.update(
        {
            "benchmark": "scoring: labelproof Dawid-Skene vs crowd-kit DawidSkene",
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "numpy": np.__version__,
                "pandas": pd.__version__,
                "pyarrow": pyarrow.__version__,
                "crowdkit": getattr(crowdkit, "__version__", "1.4.2"),
                "cores": os.cpu_count(),
                "memory_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
            },
            "scoring_version": scoring.SCORING_VERSION,
            "parameters": {
                "ours": "score() defaults: smoothing=1.0, max_iter=100, tol=1e-5 (mean log-lik "
                "per answer, crowd-kit's rule), credit_temperature=2.0, bias_penalty=1.0, "
                "significance=1.0, min_quality=1/labels",
                "crowdkit": "DawidSkene(n_iter=100), default tol=1e-5",
            },
        }
    )

    def save() -> None:
        # Re-read first: another run of this script (another section) may have saved since.
        merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        merged.update({k: v for k, v in result.items() if k not in SECTIONS or k in only})
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")

    if "scale" in only:
        with tempfile.TemporaryDirectory() as tmp:
            scale = [scale_run(args.answers, args.seed, Path(tmp), CROWDKIT_LIMIT_S)]
            if "timed_out_after_s" in scale[0]["crowdkit"] and args.answers > SMALL_SCALE:
                scale.append(scale_run(SMALL_SCALE, args.seed, Path(tmp), None))
        result["scale"] = scale
        save()
    if "whole_command" in only:
        with tempfile.TemporaryDirectory() as tmp:
            result["whole_command"] = whole_command(
                args.answers, args.seed, Path(tmp), CROWDKIT_LIMIT_S
            )
        save()
    if "real_datasets" in only:
        result["real_datasets"] = real_datasets()
        save()
    if "fidelity" in only:
        result["fidelity"] = fidelity_figures(args.seeds)
        save()
    if "answers_100m" in only:
        with tempfile.TemporaryDirectory(prefix="bench_100m_") as tmp:
            result["answers_100m"] = answers_100m(
                args.seed, Path(tmp), args.items_100m, args.workers_100m
            )
        save()
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
