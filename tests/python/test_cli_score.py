"""`labelproof score`: the three output files, determinism, and one-line errors."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DUCK = ROOT / "labelproof" / "data" / "duck"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labelproof.cli", "score", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


@pytest.fixture
def gold(tmp_path):
    rows = list(csv.reader((DUCK / "truth.csv").read_text().splitlines()))[1:]
    path = tmp_path / "gold.csv"
    path.write_text("item,label\n" + "".join(f"{q},{t}\n" for q, t in rows[::10]))
    return path


def test_score_writes_labels_workers_and_report(tmp_path, gold):
    out = tmp_path / "out"
    done = cli(
        str(DUCK / "answer.csv"), "--gold", str(gold), "--budget", "1000000", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    labels = list(csv.DictReader((out / "labels.csv").open()))
    workers = list(csv.DictReader((out / "workers.csv").open()))
    assert len(labels) == 108 and set(labels[0]) == {"item", "label", "confidence"}
    assert len(workers) == 39 and set(workers[0]) == {"worker", "labels", "quality", "payout"}
    assert sum(int(w["payout"]) for w in workers) == 1_000_000
    report = json.loads((out / "report.json").read_text())
    assert report["method"] and "39 workers" in done.stdout

    again = tmp_path / "again"
    assert (
        cli(
            str(DUCK / "answer.csv"),
            "--gold",
            str(gold),
            "--budget",
            "1000000",
            "--out",
            str(again),
        ).returncode
        == 0
    )
    assert (again / "report.json").read_bytes() == (out / "report.json").read_bytes()
    assert (again / "workers.csv").read_bytes() == (out / "workers.csv").read_bytes()


def test_majority_vote_method(tmp_path):
    done = cli(
        str(DUCK / "answer.csv"),
        "--method",
        "majority-vote",
        "--budget",
        "10",
        "--out",
        str(tmp_path / "mv"),
    )
    assert done.returncode == 0, done.stderr
    assert "majority-vote" in done.stdout


def _one_line_error(done, *fragments):
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_missing_columns(tmp_path):
    bad = tmp_path / "a.csv"
    bad.write_text("question,worker\n1,2\n")
    _one_line_error(cli(str(bad), "--out", str(tmp_path / "o")), str(bad), "row 1", "missing")


def test_empty_file(tmp_path):
    bad = tmp_path / "a.csv"
    bad.write_text("")
    _one_line_error(cli(str(bad), "--out", str(tmp_path / "o")), str(bad), "empty")


def test_gold_label_never_seen(tmp_path):
    bad_gold = tmp_path / "g.csv"
    bad_gold.write_text("item,label\n1,7\n")
    done = cli(str(DUCK / "answer.csv"), "--gold", str(bad_gold), "--out", str(tmp_path / "o"))
    _one_line_error(done, str(bad_gold), "row 2")
    assert not (tmp_path / "o").exists()


def test_non_numeric_budget(tmp_path):
    done = cli(str(DUCK / "answer.csv"), "--budget", "ten", "--out", str(tmp_path / "o"))
    _one_line_error(done, "--budget 'ten' is not an integer")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--method", "vote"], "--method must be one of"),
        (["--budget", "-5"], "--budget must be >= 0"),
        (["--min-quality", "high"], "--min-quality 'high' is not a number"),
        (["--min-quality", "2"], "--min-quality must be between 0 and 1"),
    ],
)
def test_bad_options(tmp_path, args, fragment):
    _one_line_error(cli(str(DUCK / "answer.csv"), *args, "--out", str(tmp_path / "o")), fragment)


def test_missing_answers_file(tmp_path):
    missing = tmp_path / "nope.csv"
    _one_line_error(cli(str(missing), "--out", str(tmp_path / "o")), "nope.csv")
