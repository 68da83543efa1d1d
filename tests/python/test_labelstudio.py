"""Label Studio in and out, on exports built as Label Studio's export documentation shows them:
several annotators per task, a cancelled (skipped) annotation, ground truth, a second Choices
control, `completed_by` as an id and as a user object, unicode text and labels, and a separate
multi-choice export."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from labelproof.labelstudio import (
    LabelStudioError,
    import_export,
    predictions_from_labels,
    read_users,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "labelstudio"
EXPORT = FIXTURES / "project-export.json"
EXPORT_MIN = FIXTURES / "project-export-min.json"
MULTI = FIXTURES / "multi-choice-export.json"
USERS = FIXTURES / "users.csv"
A1, A2, A3, A4 = ("0x" + d * 40 for d in "1234")

EXPECTED_ANSWERS = [
    ("1", A1, "Positive"),
    ("1", A2, "Positive"),
    ("1", A4, "Negative"),
    ("2", A1, "Negative"),
    ("2", A3, "Negative"),
    ("3", A2, "Neutre — ça va"),
    ("3", A4, "Neutre — ça va"),
    ("4", A2, "Positive"),
]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labelproof.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode == 2, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_json_export_answers_gold_and_skips():
    result = import_export(EXPORT, "sentiment", read_users(USERS))
    assert result.export_format == "JSON"
    assert result.answers == EXPECTED_ANSWERS
    assert result.gold == {"2": "Negative", "3": "Neutre — ça va"}
    skipped = {(s.task, s.annotation): s.reason.split(":")[0] for s in result.skipped}
    assert skipped == {
        ("1", "103"): "cancelled",
        ("2", "203"): "ground truth",
        ("3", "303"): "unknown user",
        ("3", "304"): "ground truth",
        ("4", "401"): "no choice",
    }


def test_json_min_export_gives_the_same_answers():
    result = import_export(EXPORT_MIN, "sentiment", read_users(USERS))
    assert result.export_format == "JSON_MIN"
    assert result.answers == EXPECTED_ANSWERS
    assert result.gold == {}  # JSON_MIN carries no ground-truth flag


def test_without_users_the_annotator_is_the_label_studio_user():
    result = import_export(EXPORT, "sentiment")
    assert [a[1] for a in result.answers] == ["10", "11", "13", "10", "12", "11", "13", "14", "11"]


def test_item_key_uses_task_data():
    result = import_export(EXPORT, "sentiment", None, item_key="text")
    assert result.answers[0][0] == "Très bon produit 👍, je recommande"
    with pytest.raises(LabelStudioError, match="task data has no key 'nope'"):
        import_export(EXPORT, "sentiment", None, item_key="nope")


def test_other_choices_control():
    result = import_export(EXPORT, "topic")
    assert result.answers == [("1", "11", "Produit"), ("4", "10", "Livraison")]


@pytest.mark.parametrize("export", [MULTI, EXPORT_MIN])
def test_multi_choice_is_refused(tmp_path, export):
    if export == EXPORT_MIN:
        records = json.loads(EXPORT_MIN.read_text())
        records[0]["sentiment"] = {"choices": ["Positive", "Negative"]}
        export = tmp_path / "min.json"
        export.write_text(json.dumps(records))
    with pytest.raises(LabelStudioError, match="multi-choice") as info:
        import_export(export, "sentiment")
    assert str(export) in str(info.value) and "task " in str(info.value)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "not JSON"),
        ('{"id": 1}', "expected a JSON list of tasks"),
        ("[]", "holds no tasks"),
        ("[1]", "task #0: expected an object"),
        ('[{"id": 1, "annotations": {}}]', "annotations is not a list"),
        ('[{"id": 1, "annotations": [{"id": 5, "result": [{"type": "choices"}]}]}]', "from_name"),
        (
            '[{"id": 1, "annotations": [{"id": 5, "completed_by": 2, "result": [{"from_name": '
            '"sentiment", "type": "rectanglelabels", "value": {}}]}]}]',
            "is a rectanglelabels control",
        ),
        (
            '[{"id": 1, "annotations": [{"id": 5, "completed_by": 2, "ground_truth": true, '
            '"result": [{"from_name": "sentiment", "type": "choices", "value": {"choices": '
            '["A"]}}]}, {"id": 6, "completed_by": 3, "ground_truth": true, "result": '
            '[{"from_name": "sentiment", "type": "choices", "value": {"choices": ["B"]}}]}]}]',
            "conflicts with 'A'",
        ),
    ],
)
def test_bad_exports(tmp_path, content, fragment):
    path = tmp_path / "export.json"
    path.write_text(content)
    with pytest.raises(LabelStudioError, match=fragment) as info:
        import_export(path, "sentiment")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_unknown_control_lists_the_controls():
    with pytest.raises(LabelStudioError, match="controls found: sentiment, topic"):
        import_export(EXPORT, "sentimnt")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "row 1: empty file"),
        ("who,address\n", "row 1: header must contain user and address"),
        ("user,address\n10,0x12\n", "row 2: invalid address"),
        ("user,address\n10\n", "row 2: expected user and address"),
        (f"user,address\n10,{A1}\n10,{A2}\n", "row 3: user '10' listed twice"),
    ],
)
def test_bad_users_file(tmp_path, content, fragment):
    path = tmp_path / "users.csv"
    path.write_text(content)
    with pytest.raises(LabelStudioError, match=fragment) as info:
        read_users(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "row 1: empty file"),
        ("item,label\n1,a\n", "row 1: header must contain item, label and confidence"),
        ("item,label,confidence\nabc,a,0.5\n", "row 2: item 'abc' is not a Label Studio task"),
        ("item,label,confidence\n1,a,high\n", "row 2: confidence 'high' is not a number"),
        ("item,label,confidence\n1,a,1.5\n", "row 2: confidence 1.5 not in"),
        ("item,label,confidence\n1,a\n", "row 2: expected item, label, confidence"),
        ("item,label,confidence\n", "no labels after the header"),
    ],
)
def test_bad_labels_file(tmp_path, content, fragment):
    path = tmp_path / "labels.csv"
    path.write_text(content)
    with pytest.raises(LabelStudioError, match=fragment):
        predictions_from_labels(path, "sentiment", "text", "m")


def test_cli_round_trip_import_score_export(tmp_path):
    """Export -> answers.csv + gold.csv -> `score` -> predictions for the same tasks."""
    imported = tmp_path / "imported"
    done = cli(
        "import", "label-studio", str(EXPORT), "--control", "sentiment",
        "--users", str(USERS), "--out", str(imported),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "8 answers" in done.stdout and "2 gold items" in done.stdout
    assert "cancelled" in done.stdout and "unknown user" in done.stdout
    rows = list(csv.reader((imported / "answers.csv").open(encoding="utf-8")))
    assert rows[0] == ["item", "worker", "label"] and [tuple(r) for r in rows[1:]] == [
        (i, w.lower(), lab) for i, w, lab in EXPECTED_ANSWERS
    ]
    skipped = list(csv.DictReader((imported / "skipped.csv").open(encoding="utf-8")))
    assert len(skipped) == 5 and all(s["reason"] for s in skipped)

    scored = tmp_path / "scored"
    done = cli(
        "score", str(imported / "answers.csv"), "--gold", str(imported / "gold.csv"),
        "--method", "majority-vote", "--out", str(scored),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    labels = {r["item"]: r for r in csv.DictReader((scored / "labels.csv").open())}

    predictions_path = tmp_path / "predictions.json"
    done = cli(
        "export", "label-studio", str(scored / "labels.csv"), "--control", "sentiment",
        "--to-name", "text", "--out", str(predictions_path), "--model-version", "lp-mv",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    predictions = json.loads(predictions_path.read_text(encoding="utf-8"))
    assert [p["task"] for p in predictions] == [1, 2, 3, 4]
    for p in predictions:
        row = labels[str(p["task"])]
        assert p["model_version"] == "lp-mv"
        assert p["score"] == pytest.approx(float(row["confidence"]))
        assert p["result"] == [
            {
                "from_name": "sentiment",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": [row["label"]]},
            }
        ]
    by_task = {p["task"]: p["result"][0]["value"]["choices"][0] for p in predictions}
    assert by_task[3] == "Neutre — ça va" and by_task[2] == "Negative"  # gold items


def test_cli_errors_are_one_line(tmp_path):
    one_line_error(
        cli("import", "label-studio", str(MULTI), "--control", "sentiment", "--out", str(tmp_path)),
        str(MULTI),
        "multi-choice",
    )
    one_line_error(
        cli(
            "import",
            "label-studio",
            str(EXPORT),
            "--control",
            "sentiment",
            "--users",
            str(tmp_path / "missing.csv"),
            "--out",
            str(tmp_path / "o"),
        ),
        "missing.csv",
        "cannot read",
    )
    one_line_error(
        cli(
            "export",
            "label-studio",
            str(tmp_path / "nope.csv"),
            "--control",
            "s",
            "--to-name",
            "t",
            "--out",
            str(tmp_path / "p.json"),
        ),
        "nope.csv",
    )
    assert not (tmp_path / "o").exists()
