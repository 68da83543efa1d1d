"""Columnar input (labelproof.inputs): CSV through pyarrow and the exact csv reader behind it,
Parquet, and the --duplicates policy. Whatever path reads a file, the scores are byte-identical
and every error names the file and the row."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labelproof import inputs, scoring
from labelproof.scoring import AnswerSet, FactorizedAnswers, ScoringInputError, score

ROOT = Path(__file__).resolve().parents[2]
DUCK = ROOT / "labelproof" / "data" / "duck" / "answer.csv"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def rows_of(path: Path) -> list[tuple[str, str, str]]:
    lines = list(csv.reader(path.read_text().splitlines()))[1:]
    return [(r[0], r[1], r[2]) for r in lines]


def to_parquet(path: Path, rows: list[tuple[str, str, str]], names=("item", "worker", "label")):
    table = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
    pq.write_table(table, path, row_group_size=max(1, len(rows) // 3))
    return path


def test_csv_fast_path_gives_the_same_report_as_in_memory_rows():
    fast = inputs.read_answers(DUCK)
    assert isinstance(fast, FactorizedAnswers)
    in_memory = score(AnswerSet.from_rows(rows_of(DUCK)), method="ds", budget=10**6)
    assert score(DUCK, budget=10**6).report_bytes() == in_memory.report_bytes()


def test_parquet_gives_the_same_report_as_csv(tmp_path):
    parquet = to_parquet(tmp_path / "a.parquet", rows_of(DUCK))
    assert inputs.is_parquet(parquet) and not inputs.is_parquet(DUCK)
    assert score(parquet, budget=10**6).report_bytes() == score(DUCK, budget=10**6).report_bytes()


def test_parquet_column_names_any_case_and_integer_ids(tmp_path):
    table = pa.table({"Question": [1, 1, 2], "WORKER": [7, 8, 7], "answer": ["a", "a", "b"]})
    path = tmp_path / "ints.pq"
    pq.write_table(table, path)
    result = score(path)
    assert [x.item for x in result.labels] == ["1", "2"]
    assert [w.worker for w in result.workers] == ["7", "8"]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("item,worker,label\ni1,w1,a\n\ni2,w2,b\n", "blank line"),
        ('item,worker,label\ni1,w1,a\n"i\n2",w2,b\n', "quoted newline"),
        ("item,worker,label,extra\ni1,w1,a\ni2,w2,b,x,y\n", "a record wider than the header"),
        ("\ufeffITEM , worker,label\ni1 ,w1,a\ni2, w2 ,b\n", "BOM, case, spaces"),
        ("item,worker,label\ni1,w1,a\n,,\ni2,w2,b\n", "a record of empty cells"),
    ],
)
def test_csv_files_the_fast_path_declines_read_as_before(tmp_path, text, why):
    path = write(tmp_path / "a.csv", text)
    answers = inputs.read_answers(path)
    exact_lines, exact_rows = scoring._read_csv(path, scoring._ANSWER_HEADERS)
    materialised = answers if isinstance(answers, AnswerSet) else answers.to_answer_set()
    got = zip(materialised.item, materialised.worker, materialised.label, strict=True)
    assert [list(t) for t in got] == [list(r) for r in exact_rows], why
    assert materialised.rows.tolist() == exact_lines


def test_whitespace_variants_are_one_id(tmp_path):
    path = write(tmp_path / "a.csv", "item,worker,label\ni1,w1 ,a\ni2, w1,a\ni3,w1,a \n")
    answers = inputs.read_answers(path)
    assert isinstance(answers, FactorizedAnswers)
    assert answers.workers.tolist() == ["w1"] and answers.labels.tolist() == ["a"]


@pytest.mark.parametrize(
    ("rows", "row", "fragment"),
    [
        ([("i1", "w1", "a"), ("i2", None, "b")], 2, "empty 'worker' cell"),
        ([("i1", "w1", "a"), ("i2", "w2", "  ")], 2, "empty 'label' cell"),
        ([("i1", "w1", "a"), ("i2", "w1", "b"), ("i1", "w1", "b")], 3, "duplicate answer"),
    ],
)
def test_bad_parquet_rows(tmp_path, rows, row, fragment):
    path = to_parquet(tmp_path / "a.parquet", rows)
    with pytest.raises(ScoringInputError) as info:
        score(path)
    message = str(info.value)
    assert str(path) in message and f"row {row}:" in message and fragment in message


def test_bad_parquet_files(tmp_path):
    wrong = tmp_path / "w.parquet"
    pq.write_table(pa.table({"item": ["a"], "who": ["w"]}), wrong)
    with pytest.raises(ScoringInputError, match=r"row 1: missing columns: Parquet columns"):
        score(wrong)
    empty = tmp_path / "e.parquet"
    nothing = pa.array([], pa.string())
    pq.write_table(pa.table({"item": nothing, "worker": nothing, "label": nothing}), empty)
    with pytest.raises(ScoringInputError, match=r"row 1: no answers"):
        score(empty)
    broken = write(tmp_path / "b.parquet", "PAR1 this is not really parquet")
    with pytest.raises(ScoringInputError, match=r"b.parquet: row 1: not a readable Parquet"):
        score(broken)


def test_parquet_gold(tmp_path):
    answers = to_parquet(tmp_path / "a.parquet", rows_of(DUCK))
    truth = list(csv.reader((DUCK.parent / "truth.csv").read_text().splitlines()))[1:12]
    gold = tmp_path / "g.parquet"
    pq.write_table(
        pa.table({"question": [t[0] for t in truth], "truth": [t[1] for t in truth]}), gold
    )
    gold_csv = write(tmp_path / "g.csv", "item,label\n" + "".join(f"{q},{t}\n" for q, t in truth))
    assert score(answers, gold).report_bytes() == score(answers, gold_csv).report_bytes()
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"item": ["1", "1"], "label": ["0", "0"]}), bad)
    with pytest.raises(ScoringInputError, match=r"bad.parquet: row 2: gold item '1' listed twice"):
        score(answers, bad)
    null = tmp_path / "null.parquet"
    pq.write_table(pa.table({"item": ["1", None], "label": ["0", "0"]}), null)
    with pytest.raises(ScoringInputError, match=r"null.parquet: row 2: empty 'item' cell"):
        score(answers, null)


# --------------------------------------------------------------------------------------------
# --duplicates
# --------------------------------------------------------------------------------------------

DUPLICATED = [
    ("i1", "w1", "a"),
    ("i1", "w2", "a"),
    ("i2", "w1", "b"),
    ("i1", "w1", "c"),  # w1 again on i1: the only "c"
    ("i2", "w2", "b"),
]


def test_reject_names_the_option_and_both_rows():
    with pytest.raises(ScoringInputError) as info:
        score(DUPLICATED)
    message = str(info.value)
    assert "row 4: duplicate answer for item 'i1' by worker 'w1' (first at row 1)" in message
    assert "--duplicates first|last" in message


@pytest.mark.parametrize(("policy", "kept"), [("first", 0), ("last", 3)])
def test_first_and_last_keep_one_answer(policy, kept):
    result = score(DUPLICATED, duplicates=policy)
    rest = [r for n, r in enumerate(DUPLICATED) if n in (1, 2, 4) or n == kept]
    expected = score(rest)
    assert result.report["parameters"]["duplicates"] == policy
    assert result.report["inputs"]["duplicates_dropped"] == 1
    assert result.report["inputs"]["labels"] == expected.report["inputs"]["labels"]
    assert result.report["inputs"]["answers_sha256"] == expected.report["inputs"]["answers_sha256"]
    assert [w[:3] for w in result.workers] == [w[:3] for w in expected.workers]


def test_default_report_has_no_duplicates_keys():
    result = score([r for n, r in enumerate(DUPLICATED) if n != 3])
    assert "duplicates" not in result.report["parameters"]
    assert "duplicates_dropped" not in result.report["inputs"]
    with pytest.raises(ValueError, match="duplicates must be one of"):
        score(DUPLICATED, duplicates="keep")  # type: ignore[arg-type]


def test_duplicates_in_a_file_keep_file_order(tmp_path):
    text = "item,worker,label\n" + "".join(f"{i},{w},{lab}\n" for i, w, lab in DUPLICATED)
    path = write(tmp_path / "a.csv", text)
    with pytest.raises(ScoringInputError, match=r"a.csv: row 5: duplicate .*first at row 2"):
        score(path)
    assert score(path, duplicates="last").report["inputs"]["labels"] == ["a", "b", "c"]
    parquet = to_parquet(tmp_path / "a.parquet", DUPLICATED)
    with pytest.raises(ScoringInputError, match=r"a.parquet: row 4: duplicate .*first at row 1"):
        score(parquet)
    assert (
        score(parquet, duplicates="first").report_bytes()
        == score(path, duplicates="first").report_bytes()
    )


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labelproof.cli", "score", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_cli_duplicates_option_and_parquet(tmp_path):
    path = to_parquet(tmp_path / "a.parquet", DUPLICATED)
    done = cli(str(path), "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "--duplicates first|last" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = cli(str(path), "--duplicates", "last", "--out", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["parameters"]["duplicates"] == "last"
    assert report["inputs"]["duplicates_dropped"] == 1
    done = cli(str(path), "--duplicates", "both", "--out", str(tmp_path / "o2"))
    assert done.returncode == 2 and "--duplicates must be one of reject, first, last" in done.stderr
    assert not (tmp_path / "o2").exists()


def test_load_answers_materialises_for_in_memory_callers():
    answers = scoring.load_answers(DUCK)
    assert isinstance(answers, AnswerSet) and answers.rows[0] == 2
    assert answers.item.dtype.kind == "U" and len(answers) == len(rows_of(DUCK))
    assert np.array_equal(answers.rows, np.arange(2, len(answers) + 2))
