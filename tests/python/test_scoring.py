"""Scoring oracle: inference against crowd-kit, gold clamping, allocation maths, determinism,
input errors, and incentive fidelity on the bundled real datasets (labelproof/data).

crowd-kit 1.4.2's DawidSkene is the reference implementation and runs inside the test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelproof import scoring
from labelproof.fidelity import (
    add_spammers,
    choose_gold,
    fidelity,
    load_dataset,
    payout_spearman,
    spearman,
)
from labelproof.scoring import (
    AnswerSet,
    GoldSet,
    ScoringInputError,
    allocate,
    allocate_fixed,
    load_answers,
    load_gold,
    score,
)

# The repository's conftest has a function-scoped autouse fixture (chain isolation); the
# allocation properties do not touch it, so hypothesis need not reset it between examples.
PROPERTY = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module", params=["duck", "dog"])
def dataset(request: pytest.FixtureRequest) -> tuple[str, AnswerSet, dict[str, str]]:
    answers, truth = load_dataset(request.param)
    return request.param, answers, truth


def _accuracy(result: scoring.ScoreResult, truth: dict[str, str]) -> float:
    return float(np.mean([truth[x.item] == x.label for x in result.labels]))


# ------------------------------------------------------------------------------------------
# Inference
# ------------------------------------------------------------------------------------------


def test_bundled_datasets_match_their_description(dataset):
    name, answers, truth = dataset
    expected = {"duck": (108, 39, 4212, 2), "dog": (807, 109, 8070, 4)}[name]
    got = (
        len(set(answers.item.tolist())),
        len(set(answers.worker.tolist())),
        len(answers),
        len(set(answers.label.tolist())),
    )
    assert got == expected
    assert set(truth) == set(answers.item.tolist())


def test_ds_accuracy_within_half_a_point_of_crowdkit(dataset):
    pd = pytest.importorskip("pandas")
    crowdkit = pytest.importorskip("crowdkit.aggregation")
    name, answers, truth = dataset
    frame = pd.DataFrame(
        {"task": answers.item, "worker": answers.worker, "label": answers.label.astype(int)}
    )
    reference = crowdkit.DawidSkene(n_iter=100).fit_predict(frame)
    ref_acc = float(np.mean([int(truth[t]) == int(lab) for t, lab in reference.items()]))

    ours = _accuracy(score(answers, method="ds"), truth)
    plain = _accuracy(score(answers, method="ds", smoothing=0.0), truth)
    # Measured: duck 0.8981 vs 0.8889, dog 0.8414 (0.8426 unsmoothed) vs 0.8426.
    assert ours >= ref_acc - 0.005, (name, ours, ref_acc)
    assert plain >= ref_acc - 0.005, (name, plain, ref_acc)
    # DS must beat majority vote on both (MV: duck 0.759, dog 0.818).
    assert ours > _accuracy(score(answers, method="mv"), truth)


def test_unsmoothed_ds_agrees_with_crowdkit_item_by_item(dataset):
    pd = pytest.importorskip("pandas")
    crowdkit = pytest.importorskip("crowdkit.aggregation")
    _, answers, _ = dataset
    frame = pd.DataFrame({"task": answers.item, "worker": answers.worker, "label": answers.label})
    reference = crowdkit.DawidSkene(n_iter=100).fit_predict(frame)
    ours = {x.item: x.label for x in score(answers, method="ds", smoothing=0.0).labels}
    same = np.mean([ours[str(t)] == str(lab) for t, lab in reference.items()])
    assert same >= 0.99


def test_gold_clamps_the_posterior():
    # Everybody says "a" on g1, but the requester knows it is "b".
    rows = [("g1", w, "a") for w in ("w1", "w2", "w3")]
    rows += [("i1", "w1", "a"), ("i1", "w2", "a"), ("i1", "w3", "b")]
    result = score(rows, {"g1": "b"}, method="ds")
    labels = {x.item: x for x in result.labels}
    assert labels["g1"].label == "b"
    assert labels["g1"].confidence == 1.0
    # Quality on a gold item uses the known label: all three workers were wrong there.
    without_gold = {w.worker: w.quality for w in score(rows, None, method="ds").workers}
    with_gold = {w.worker: w.quality for w in result.workers}
    assert all(with_gold[w] < without_gold[w] for w in ("w1", "w2"))
    assert result.report["inputs"]["gold_items"] == 1


def test_gold_changes_what_ds_believes_about_workers():
    # w_good and w_bad disagree everywhere; w_x sides with w_bad. Without gold, DS follows the
    # pair; gold on two items tells it w_good is the reliable one.
    items = [f"i{n}" for n in range(8)]
    rows = []
    for it in items:
        rows += [(it, "w_good", "x"), (it, "w_bad", "y"), (it, "w_x", "y")]
    plain = {x.item: x.label for x in score(rows, None, method="ds").labels}
    assert plain["i5"] == "y"
    gold = {"i0": "x", "i1": "x", "i2": "x"}
    clamped = {x.item: x.label for x in score(rows, gold, method="ds").labels}
    assert clamped["i5"] == "x"


def test_gold_weight_changes_quality_only_through_gold_answers():
    answers, truth = load_dataset("duck")
    gold = choose_gold(answers, truth, 0.1, seed=0)
    light = {w.worker: w for w in score(answers, gold, gold_weight=0.5).workers}
    heavy = {w.worker: w for w in score(answers, gold, gold_weight=4.0).workers}
    assert any(light[w].quality != heavy[w].quality for w in light)
    assert all(light[w].skill == heavy[w].skill for w in light)  # pay skill: non-gold only


def _biased_crowd() -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """80 items, half "a", half "b". Eight crowd workers call 80% of the first 16 "a" items
    "b" (hard items) and make 10% random errors elsewhere; one expert makes 15% random errors
    everywhere. Gold: 14 items, 6 of them hard."""
    rng = np.random.default_rng(7)
    rows: list[tuple[str, str, str]] = []
    truth: dict[str, str] = {}
    flip = {"a": "b", "b": "a"}
    for n in range(80):
        item, true = f"i{n:02d}", "a" if n < 40 else "b"
        truth[item] = true
        for w in range(8):
            label = true
            if n < 16 and rng.random() < 0.8:
                label = "b"
            elif rng.random() < 0.1:
                label = flip[label]
            rows.append((item, f"crowd{w}", label))
        rows.append((item, "expert", true if rng.random() < 0.85 else flip[true]))
    gold_items = [f"i{n:02d}" for n in [*range(0, 16, 3), *range(16, 80, 8)]]
    return rows, {item: truth[item] for item in gold_items}


def test_class_bias_is_fitted_on_gold_and_moves_pay_toward_the_requesters_notion():
    rows, gold = _biased_crowd()
    calibrated = score(rows, gold, budget=10**6)
    plain = score(rows, gold, budget=10**6, bias_penalty=None)
    bias = calibrated.report["class_bias"]
    # The crowd over-says "b" on true "a" items: the fit shifts the logits toward "a"; the L2
    # penalty makes the two offsets opposite (softmax ignores a common shift).
    assert bias["a"] > 0.5 and bias["b"] == -bias["a"]
    assert plain.report["class_bias"] == {"a": 0.0, "b": 0.0}
    assert plain.report["parameters"]["bias_penalty"] is None
    assert calibrated.report["parameters"]["bias_penalty"] == 1.0
    # The expert, right on the hard items, earns more; the crowd that follows the bias, less.
    assert calibrated.payouts["expert"] > plain.payouts["expert"] * 1.1
    crowd = [w for w in calibrated.payouts if w.startswith("crowd")]
    assert sum(calibrated.payouts[w] for w in crowd) < sum(plain.payouts[w] for w in crowd)
    # Quality stays what the issue defines (the posterior share), untouched by calibration.
    assert [w.quality for w in calibrated.workers] == [w.quality for w in plain.workers]


def test_class_bias_is_zero_without_gold_or_without_log_evidence():
    rows, gold = _biased_crowd()
    assert set(score(rows, None).report["class_bias"].values()) == {0.0}
    assert set(score(rows, gold, method="mv").report["class_bias"].values()) == {0.0}


def test_stronger_bias_penalty_shrinks_the_offsets():
    rows, gold = _biased_crowd()
    offsets = [score(rows, gold, bias_penalty=p).report["class_bias"]["a"] for p in (0.25, 1, 4)]
    assert offsets[0] > offsets[1] > offsets[2] > 0


@pytest.mark.parametrize("penalty", [0.0, -1.0, float("nan"), float("inf")])
def test_bias_penalty_must_be_positive_and_finite(penalty):
    with pytest.raises(ValueError, match="bias_penalty"):
        score([("i", "w", "a")], bias_penalty=penalty)


def test_majority_vote_labels_ties_and_confidence():
    rows = [
        ("i1", "w1", "a"),
        ("i1", "w2", "a"),
        ("i1", "w3", "b"),
        ("i2", "w1", "c"),
        ("i2", "w2", "b"),  # tie b/c: first in sorted label order wins
        ("i3", "w1", "c"),
    ]
    result = score(rows, method="mv")
    labels = {x.item: (x.label, x.confidence) for x in result.labels}
    assert labels["i1"] == ("a", 1.0)
    assert labels["i2"] == ("b", 0.5)
    assert labels["i3"] == ("c", 1.0)
    quality = {w.worker: w.quality for w in result.workers}
    # w1: agrees on i1 and i3, half credit on the tied i2.
    assert quality["w1"] == pytest.approx((1 + 0.5 + 1) / 3, abs=1e-9)
    assert quality["w3"] == 0.0


def test_ds_is_vectorised_and_deterministic_on_ties():
    # Perfectly symmetric data: the posterior is 50/50 everywhere, the label is the first.
    rows = [("i1", "w1", "b"), ("i1", "w2", "a")]
    result = score(rows, method="ds")
    assert result.labels[0].label == "a"


# ------------------------------------------------------------------------------------------
# Determinism and the report
# ------------------------------------------------------------------------------------------


def test_report_is_byte_identical_and_order_independent():
    answers, truth = load_dataset("dog")
    gold = choose_gold(answers, truth, 0.1, seed=3)
    first = score(answers, gold, budget=10**18)
    second = score(answers, gold, budget=10**18)
    assert first.report_bytes() == second.report_bytes()
    perm = np.random.default_rng(7).permutation(len(answers))
    shuffled = AnswerSet.from_arrays(
        answers.item[perm], answers.worker[perm], answers.label[perm], "<shuffled>"
    )
    gold_reversed = dict(reversed(list(gold.items())))
    third = score(shuffled, gold_reversed, budget=10**18)
    assert third.report_bytes() == first.report_bytes()
    blob = first.report_bytes()
    assert blob == scoring.canonical_json(json.loads(blob))  # sorted keys, no spaces
    assert b": " not in blob and b", " not in blob
    assert first.report["totals"] == {"budget": 10**18, "paid": 10**18, "unallocated": 0}
    assert len(first.report["inputs"]["answers_sha256"]) == 64


def test_report_contents():
    answers, truth = load_dataset("duck")
    result = score(answers, choose_gold(answers, truth, 0.1, 0), budget=1_000_000)
    report = result.report
    assert report["method"] == "ds"
    assert report["scoring_version"] == scoring.SCORING_VERSION
    assert report["parameters"]["min_quality"] == 0.5  # chance level for 2 labels
    assert set(report["workers"]) == {w.worker for w in result.workers}
    for w in result.workers:
        entry = report["workers"][w.worker]
        assert (entry["labels"], entry["quality"], entry["payout"]) == (
            w.labels,
            w.quality,
            w.payout,
        )
    assert sum(w.payout for w in result.workers) == 1_000_000


def test_csv_and_memory_inputs_hash_the_same(tmp_path: Path):
    path = tmp_path / "a.csv"
    path.write_text("item,worker,label\n i1 ,w1,x\ni1,w2,y\ni2,w1,x\n")
    from_file = score(path)
    from_rows = score([("i2", "w1", "x"), ("i1", "w2", "y"), ("i1", "w1", "x")])
    assert from_file.report["inputs"] == from_rows.report["inputs"]


# ------------------------------------------------------------------------------------------
# Allocation
# ------------------------------------------------------------------------------------------

worker_ids = st.text(alphabet="abcdefghij", min_size=1, max_size=4)


@PROPERTY
@given(
    budget=st.integers(min_value=0, max_value=10**30),
    weights=st.dictionaries(worker_ids, st.integers(0, 10**15), min_size=1, max_size=40),
)
def test_allocate_fixed_sums_exactly_and_is_within_one_unit(budget, weights):
    if budget > 0 and sum(weights.values()) == 0:
        with pytest.raises(ValueError):
            allocate_fixed(budget, weights)
        return
    out = allocate_fixed(budget, weights)
    assert set(out) == set(weights)
    assert sum(out.values()) == budget
    total = sum(weights.values())
    for worker, w in weights.items():
        exact_floor = budget * w // total if total else 0
        assert exact_floor <= out[worker] <= exact_floor + 1
        if w == 0:
            assert out[worker] == 0


@PROPERTY
@given(
    budget=st.integers(min_value=1, max_value=10**24),
    weights=st.dictionaries(
        worker_ids,
        st.floats(min_value=0.001, max_value=1e6, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=40,
    ),
    data=st.data(),
)
def test_allocate_is_deterministic_and_order_free(budget, weights, data):
    out = allocate(budget, weights)
    assert sum(out.values()) == budget
    shuffled = data.draw(st.permutations(list(weights)))
    again = allocate(budget, {w: weights[w] for w in shuffled})
    assert again == out
    # Equal weights: remainder units go to the smallest worker ids.
    equal = allocate(budget, dict.fromkeys(weights, 1.0))
    top = max(equal.values())
    winners = sorted(w for w in equal if equal[w] == top)
    if top != min(equal.values()):
        assert winners == sorted(equal)[: len(winners)]


def test_allocate_rejects_bad_weights():
    with pytest.raises(ValueError):
        allocate(10, {"a": -1.0})
    with pytest.raises(ValueError):
        allocate(10, {"a": float("nan")})
    with pytest.raises(ValueError):
        allocate(10, {"a": 0.0})
    with pytest.raises(ValueError):
        allocate(-1, {"a": 1.0})
    assert allocate(0, {"a": 1.0}) == {"a": 0}


@pytest.mark.parametrize("min_quality", [None, 0.6, 0.75])
def test_score_respects_min_quality(min_quality):
    answers, truth = load_dataset("duck")
    result = score(answers, choose_gold(answers, truth), budget=10**9, min_quality=min_quality)
    threshold = 0.5 if min_quality is None else min_quality
    assert sum(w.payout for w in result.workers) == 10**9
    for w in result.workers:
        if w.quality < threshold:
            assert w.payout == 0
    assert any(w.payout == 0 for w in result.workers)
    assert any(w.payout > 0 for w in result.workers)


def test_nobody_eligible_leaves_the_budget_unallocated():
    answers, _ = load_dataset("duck")
    result = score(answers, budget=1000, min_quality=1.0)
    assert all(w.payout == 0 for w in result.workers)
    assert result.report["totals"]["unallocated"] == 1000


# ------------------------------------------------------------------------------------------
# Bad input: one-line message naming file and row
# ------------------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "row", "fragment"),
    [
        ("", 1, "empty file"),
        ("item,worker\ni1,w1\n", 1, "missing columns"),
        ("item,worker,label\n", 2, "no data rows"),
        ("item,worker,label\ni1,w1,a\ni2,,a\n", 3, "empty 'worker' cell"),
        ("question,worker,answer\ni1,w1,a\ni2,w2\n", 3, "expected 3 fields"),
        ("item,worker,label\ni1,w1,a\ni2,w1,b\ni1,w1,b\n", 4, "duplicate answer"),
    ],
)
def test_bad_answers_file(tmp_path: Path, text: str, row: int, fragment: str):
    path = _write(tmp_path, "answers.csv", text)
    with pytest.raises(ScoringInputError) as info:
        score(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert f"row {row}:" in message
    assert fragment in message


def test_duplicate_pair_names_the_first_occurrence(tmp_path: Path):
    path = _write(tmp_path, "a.csv", "item,worker,label\ni1,w1,a\ni2,w1,b\ni1,w1,a\n")
    with pytest.raises(ScoringInputError, match=r"row 4: .*first at row 2"):
        score(path)


@pytest.mark.parametrize(
    ("text", "row", "fragment"),
    [
        ("", 1, "empty file"),
        ("item,truth\ni1,a\n", 1, "missing columns"),
        ("question,truth\ni1,\n", 2, "empty 'truth' cell"),
        ("item,label\ni1,a\ni1,a\n", 3, "listed twice"),
        ("item,label\ni1,a\ni2,zebra\n", 3, "never appears"),
    ],
)
def test_bad_gold_file(tmp_path: Path, text: str, row: int, fragment: str):
    answers = _write(tmp_path, "answers.csv", "item,worker,label\ni1,w1,a\ni2,w2,b\n")
    gold = _write(tmp_path, "gold.csv", text)
    with pytest.raises(ScoringInputError) as info:
        score(answers, gold)
    message = str(info.value)
    assert "\n" not in message
    assert str(gold) in message
    assert f"row {row}:" in message
    assert fragment in message


def test_bad_in_memory_input():
    with pytest.raises(ScoringInputError, match=r"<answers>: row 2: empty 'label' cell"):
        score([("i1", "w1", "a"), ("i2", "w1", " ")])
    with pytest.raises(ScoringInputError, match=r"<answers>: row 3: duplicate"):
        score([("i1", "w1", "a"), ("i2", "w1", "a"), ("i1", "w1", "b")])
    with pytest.raises(ScoringInputError, match=r"<gold>: row 1: gold label 'q'"):
        score([("i1", "w1", "a")], {"i1": "q"})
    with pytest.raises(ScoringInputError, match="no answers"):
        score([])
    assert isinstance(ScoringInputError("x"), ValueError)


def test_loaders_accept_both_header_spellings(tmp_path: Path):
    a = load_answers(_write(tmp_path, "a.csv", "\ufeffQuestion,Worker,Answer,extra\n1,2,3,z\n"))
    assert (a.item.tolist(), a.worker.tolist(), a.label.tolist()) == (["1"], ["2"], ["3"])
    g = load_gold(_write(tmp_path, "g.csv", "item,label\n1,3\n"))
    assert g.labels == {"1": "3"}
    assert isinstance(GoldSet.from_mapping({1: 3}).labels["1"], str)


# ------------------------------------------------------------------------------------------
# Incentive fidelity (protocol in labelproof/fidelity.py)
# ------------------------------------------------------------------------------------------


def test_spearman_matches_scipy_definition():
    x = [1.0, 2.0, 2.0, 5.0, 3.0]
    y = [2.0, 1.0, 4.0, 4.0, 9.0]
    scipy_stats = pytest.importorskip("scipy.stats")
    assert spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y)[0], abs=1e-12)


def _majority_agreement_pay(answers, gold, budget):
    # Baseline: pay in proportion to labels agreeing with the majority (the 0.80/0.79 anchor).
    result = score(answers, gold, method="mv", budget=0)
    return allocate(budget, {w.worker: w.quality * w.labels for w in result.workers})


# Measured on seed 0 (labelproof/fidelity.py protocol): duck 0.954, dog 0.886; over 30 gold
# draws: duck 0.958 mean (min 0.948), dog 0.853 mean (min 0.778). Dog meets its goal (0.85) at
# seed 0 and on average; duck's goal (0.97) is not reached. These floors guard regressions.
FIDELITY_FLOOR = {"duck": 0.95, "dog": 0.88}


def test_fidelity_spearman_and_spammer_share(dataset):
    name, answers, truth = dataset
    result = fidelity(answers, truth, seed=0)
    baseline = fidelity(answers, truth, seed=0, pay=_majority_agreement_pay)
    assert result.workers_evaluated == {"duck": 39, "dog": 69}[name]
    assert result.spearman >= FIDELITY_FLOOR[name], result
    assert result.spearman >= baseline.spearman + 0.003, (result, baseline)
    assert result.spammers == {"duck": 8, "dog": 22}[name]
    assert result.spammer_share <= 0.02, result
    assert result.spearman_with_spammers >= FIDELITY_FLOOR[name] - 0.01, result
    # The baseline pays spammers far more.
    assert baseline.spammer_share > result.spammer_share


def test_class_bias_calibration_is_what_lifts_dog_past_its_goal():
    answers, truth = load_dataset("dog")
    calibrated = fidelity(answers, truth, seed=0)
    plain = fidelity(answers, truth, seed=0, bias_penalty=None)
    assert calibrated.spearman >= 0.85 > plain.spearman, (calibrated, plain)
    assert calibrated.spammer_share <= 0.02


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_spammer_share_stays_below_two_percent(dataset, seed):
    _, answers, truth = dataset
    assert fidelity(answers, truth, seed=seed).spammer_share <= 0.02


def test_spammers_answer_like_a_typical_worker():
    answers, _ = load_dataset("dog")
    spammed, ids = add_spammers(answers, 0.2, seed=0)
    assert len(ids) == 22
    per = {s: int((spammed.worker == s).sum()) for s in ids}
    assert set(per.values()) == {38}  # median labels per real dog worker
    assert len(spammed) == len(answers) + 22 * 38


def test_payout_spearman_ignores_gold_and_small_workers():
    rows = [(f"i{n}", "big", "a") for n in range(25)] + [("i0", "small", "a")]
    answers = AnswerSet.from_rows(rows)
    truth = {f"i{n}": "a" for n in range(25)}
    rho, n = payout_spearman(answers, truth, {"i0": "a"}, {"big": 5, "small": 1})
    assert n == 1 and np.isnan(rho)
