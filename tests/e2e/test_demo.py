"""`make demo` end to end (on the smaller duck set to keep the suite fast): anvil, the oracle
and relayer services as processes, every annotator claiming, the second task's dishonest payout
disputed by the watcher process and ruled wrong, the correct one finalized and claimed, and the
audit passing."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DUCK = ROOT / "labelproof" / "data" / "duck"


@pytest.fixture(autouse=True)
def isolation() -> None:
    """The demo runs its own chain."""


def test_demo_runs_a_task_to_a_passing_audit(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "labelproof.demo",
            "--answers",
            str(DUCK / "answer.csv"),
            "--truth",
            str(DUCK / "truth.csv"),
            "--work-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "39 commitments on chain" in out
    assert re.search(r"open it in the app: http://127\.0\.0\.1:\d+/#/task/1 \(annotation;", out)
    assert "audit passed" in out and "FINDING" not in out
    assert "Spearman(payout claimed per label, true accuracy)" in out
    rho = float(out.split("with >= 20 labels: ")[1].split()[0])
    assert rho > 0.9  # duck: pay follows true accuracy closely
    html = (tmp_path / "audit.html").read_text()
    assert html.count("data:image/png;base64,") >= 3
    assert "escrow holds 0.000000 LPR" in out

    # the second task: governance, a dishonest payout caught, ruled wrong, replaced, paid
    assert "executed: rule set 2 applies to tasks created from now on" in out
    assert re.search(r"watcher: task 2 round 0: disputed in 0x[0-9a-f]{64} .*mismatch: root", out)
    assert "arbiter-2: dispute 0 (task 2): voted payout-wrong" in out and "ruling applied" in out
    assert "the rogue's bond went to the watcher (80 LPR) and 20 LPR was burned" in out
    assert re.search(r"watcher: task 2 round 1: ok \(recomputed root", out)
    claimed, annotators, owed = map(
        int, re.search(r"(\d+) of (\d+) annotators claimed \((\d+) were owed pay\)", out).groups()
    )
    assert annotators == 12 and claimed == owed > 0
    assert "the rogue holds 0 LPR" in out


def test_demo_refuses_a_missing_dataset(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "labelproof.demo", "--answers", str(tmp_path / "nope.csv")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {tmp_path / 'nope.csv'} does not exist"
