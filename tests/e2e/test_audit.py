"""The auditor end to end: real oracle service processes against their own anvil.

One anvil, two deployments:

* honest: the oracle service holds the 1-of-1 oracle key. Task A is scored, finalized and
  partly claimed (so funds are paid, refunded-nothing and still held); task B is cancelled
  (a full refund). This audits clean, from the API and from an exported directory.
* dishonest: a test key is the 1-of-1 oracle; the oracle service runs with a key that is not
  an oracle, so it scores and publishes its report and tree but cannot propose. The test key
  proposes a root that is not the published tree's, waits out the challenge window, finalizes
  and claims its own stolen leaf. The audit must name the root.

Then each published file of the honest task is tampered with in turn (report, one reveal label,
one gold label, a tree leaf), and the audit must name that check and task with exit code 1.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes

from labelproof import audit
from labelproof.chain import Sender, contract_at
from labelproof.deploy import DeployConfig, deploy_suite
from labelproof.merkle import payout_tree
from labelproof.node import LocalNode, free_port, start_anvil
from labelproof.spec import canonical_json
from tests.e2e.test_oracle_service import (
    BUDGET,
    DAY,
    LABELS,
    ROOT,
    TOKEN,
    Env,
    Oracle,
    Task,
    make_task,
    register_and_reveal,
    wait_for,
)


@pytest.fixture(autouse=True)
def isolation() -> None:
    """Shadow tests/conftest.py's brownie snapshot fixture: this module runs its own anvil."""


def _env(node: LocalNode, tmp: Path, name: str, oracle_keys: list[LocalAccount]) -> Env:
    """Deploy a suite whose committee is `oracle_keys` (1-of-n) and fund a requester."""
    w3 = node.w3
    dev = list(w3.eth.accounts)
    admin = Sender(w3, dev[0])
    dep = deploy_suite(
        w3,
        admin,
        DeployConfig(guardian=dev[1], oracles=tuple(k.address for k in oracle_keys), threshold=1),
    )
    folder = tmp / name
    folder.mkdir()
    deployment_file = folder / "deployment.json"
    deployment_file.write_text(dep.to_json())
    assert dep.reward_token is not None
    token = contract_at(w3, "RewardToken", dep.reward_token)
    requester = Sender(w3, dev[2])
    admin.call(token.functions.mint(requester.address, 10 * BUDGET), what="mint")
    return Env(
        node=node,
        w3=w3,
        dep=dep,
        deployment_file=deployment_file,
        escrow=contract_at(w3, "TaskEscrow", dep.escrow),
        registry=contract_at(w3, "AttestationRegistry", dep.registry),
        committee=contract_at(w3, "OracleCommittee", dep.committee),
        token=token,
        admin=admin,
        guardian=Sender(w3, dev[1]),
        requester=requester,
        oracle_keys=oracle_keys,
        tmp=folder,
    )


@dataclass
class World:
    node: LocalNode
    honest: Env
    dishonest: Env
    oracle_h: Oracle
    oracle_d: Oracle
    task_a: Task  # honest, final, partly claimed
    task_b: Task  # honest, cancelled
    task_d: Task  # dishonest root
    claimed_a: list[str]  # accounts that claimed task A
    wrong_root: str
    published_root: str
    thief: LocalAccount
    pending_result: audit.AuditResult  # the dishonest task audited during its challenge window
    published: Path  # task A exported with export_published

    def args(self, env: Env, *extra: str) -> list[str]:
        return ["--rpc-url", self.node.url, "--deployment", str(env.deployment_file), *extra]


def _payouts(tree: dict[str, Any]) -> dict[str, int]:
    return {v["value"][0]: int(v["value"][1]) for v in tree["values"]}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("audit")
    node = start_anvil(accounts=10, log=tmp / "anvil.log")
    oracles: list[Oracle] = []
    try:
        honest_key, service_key_d, thief = (Account.create() for _ in range(3))
        for key in (honest_key, service_key_d, thief):
            node.set_balance(key.address, 10 * TOKEN)
        honest = _env(node, tmp, "honest", [honest_key])
        dishonest = _env(node, tmp, "dishonest", [thief])
        oracle_h = Oracle(honest, honest_key, "H")
        oracle_d = Oracle(dishonest, service_key_d, "D")  # not an oracle: proposals revert
        oracles += [oracle_h, oracle_d]
        oracle_h.start()
        oracle_d.start()

        task_a = make_task(honest, seed=31)
        task_b = make_task(honest, seed=32, accuracies=())
        honest.requester.call(honest.escrow.functions.cancelTask(task_b.task_id), what="cancel")
        task_d = make_task(dishonest, seed=33)
        register_and_reveal(task_a, oracle_h)
        register_and_reveal(task_d, oracle_d)

        # -- past the reveal deadline: H proposes (1-of-1: pending at once); D only publishes
        node.time_travel(2 * DAY + 1)
        wait_for(
            "the honest proposal",
            lambda: honest.committee.functions.isPending(task_a.task_id).call(),
            30,
            oracle_h,
        )
        wait_for(
            "the dishonest deployment's published report",
            lambda: oracle_d.http.get(f"/tasks/{task_d.task_id}/report").status_code == 200,
            30,
            oracle_d,
        )

        # -- the dishonest oracle moves one annotator's payout to itself (same total) and
        # proposes that root with the published report's hash
        report = oracle_d.http.get(f"/tasks/{task_d.task_id}/report")
        published_tree = oracle_d.http.get(f"/tasks/{task_d.task_id}/tree").json()
        honest_payouts = _payouts(published_tree)
        victim = sorted(honest_payouts)[0]
        wrong = dict(honest_payouts)
        wrong[thief.address] = wrong.pop(victim)
        wrong_tree = payout_tree(wrong)
        Sender(node.w3, thief).call(
            dishonest.committee.functions.propose(
                task_d.task_id,
                HexBytes(wrong_tree.root),
                sum(wrong.values()),
                HexBytes(report.headers["x-report-hash"]),
            ),
            what="dishonest propose",
        )
        pending_result = audit.run_audit(node.url, dishonest.dep, oracle_url=oracle_d.url)

        # -- after the challenge window both finalize; some honest annotators claim, and the
        # thief claims its stolen leaf
        node.time_travel(DAY + 1)
        anyone = Sender(node.w3, list(node.w3.eth.accounts)[3])
        anyone.call(honest.committee.functions.finalize(task_a.task_id), what="finalize A")
        anyone.call(dishonest.committee.functions.finalize(task_d.task_id), what="finalize D")
        by_address = {ann.address: ann for ann in task_a.annotators}
        tree_a = oracle_h.http.get(f"/tasks/{task_a.task_id}/tree").json()
        claimed_a = sorted(_payouts(tree_a))[:3]
        for account in claimed_a:
            proof = oracle_h.http.get(f"/tasks/{task_a.task_id}/proof/{account}").json()
            Sender(node.w3, by_address[account].account).call(
                honest.escrow.functions.claim(
                    task_a.task_id, account, int(proof["amount"]), proof["proof"]
                ),
                what="claim",
            )
        amount = wrong[thief.address]
        Sender(node.w3, thief).call(
            dishonest.escrow.functions.claim(
                task_d.task_id, thief.address, amount, wrong_tree.get_proof([thief.address, amount])
            ),
            what="thief claims",
        )
        published = tmp / "published"
        saved = audit.export_published(oracle_h.url, published, [task_a.task_id, task_b.task_id])
        assert saved == [task_a.task_id]  # a cancelled task has nothing published
        yield World(
            node=node,
            honest=honest,
            dishonest=dishonest,
            oracle_h=oracle_h,
            oracle_d=oracle_d,
            task_a=task_a,
            task_b=task_b,
            task_d=task_d,
            claimed_a=claimed_a,
            wrong_root=wrong_tree.root,
            published_root=published_tree["tree"][0],
            thief=thief,
            pending_result=pending_result,
            published=published,
        )
    finally:
        for o in oracles:
            o.stop()
        node.stop()


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    code = audit.main(args)
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def _checks(result: audit.AuditResult, task: int) -> set[str]:
    return {f.check for f in result.findings if f.task == task}


# --------------------------------------------------------------------------------------------
# honest
# --------------------------------------------------------------------------------------------


def test_honest_deployment_audits_clean(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html_out, json_out, export = tmp_path / "a.html", tmp_path / "a.json", tmp_path / "export"
    code, out, err = _run(
        world.args(
            world.honest,
            "--oracle",
            world.oracle_h.url,
            "--html",
            str(html_out),
            "--json",
            str(json_out),
            "--export",
            str(export),
        ),
        capsys,
    )
    assert code == 0, [*out, err]
    assert out == [out[0]] and out[0].startswith("ok: 2 task(s), 3 claim(s) checked at block ")

    data = json.loads(json_out.read_text())
    assert data["ok"] is True and data["findings"] == []
    tasks = {t["task_id"]: t for t in data["tasks"]}
    a, b = tasks[world.task_a.task_id], tasks[world.task_b.task_id]
    for t in (a, b):
        assert int(t["funded"]) == int(t["claimed"]) + int(t["refunded"]) + int(t["held"])
        assert int(t["funded"]) == BUDGET
    assert a["status"] == "final" and a["published"] == "checked"
    assert a["posted"]["kind"] == "final" and a["paid_annotators"] == 3
    assert int(a["claimed"]) > 0 and int(a["held"]) > 0 and int(a["refunded"]) == 0
    assert sorted(c["account"] for c in a["claims"]) == world.claimed_a
    assert a["rows_source"] == "recomputed" and len(a["rows"]) == len(world.task_a.annotators)
    assert sum(int(r["payout"]) for r in a["rows"]) == int(a["posted"]["total"])
    assert b["status"] == "cancelled" and int(b["refunded"]) == BUDGET and int(b["held"]) == 0
    assert b["refunds"] == [{"kind": "cancelled", "amount": str(BUDGET)}]
    (token,) = data["tokens"]
    assert int(token["balance"]) >= int(token["owed"]) == int(a["held"])

    # -- the HTML page: green, three embedded PNG plots that decode
    page = html_out.read_text()
    assert 'class="ok"' in page and 'class="bad"' not in page
    for pid in ("plot-payout-quality", "plot-payout-distribution", "plot-money-flow"):
        assert f'<figure id="{pid}">' in page
    images = page.split('src="data:image/png;base64,')[1:]
    assert len(images) == 3
    from PIL import Image

    for chunk in images:
        png = base64.b64decode(chunk.split('"', 1)[0])
        with Image.open(io.BytesIO(png)) as img:
            assert img.format == "PNG" and img.size[0] > 200

    # -- the export holds what the audit read, and audits clean from files too, also through
    # `python -m labelproof.audit`
    index = json.loads((export / "index.json").read_text())
    assert index["tasks"] == [world.task_a.task_id]
    assert index["escrow"] == world.honest.dep.escrow
    report = world.oracle_h.http.get(f"/tasks/{world.task_a.task_id}/report").content
    assert (export / str(world.task_a.task_id) / "report.json").read_bytes() == report
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "labelproof.audit",
            *world.args(world.honest, "--files", str(export)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("ok: 2 task(s)")

    # -- one task only
    code, out, _ = _run(
        world.args(
            world.honest,
            "--files",
            str(world.published),
            "--task",
            str(world.task_b.task_id),
            "--json",
            str(json_out),
        ),
        capsys,
    )
    assert code == 0
    tasks = json.loads(json_out.read_text())["tasks"]
    assert [t["task_id"] for t in tasks] == [world.task_b.task_id]


# --------------------------------------------------------------------------------------------
# dishonest oracle
# --------------------------------------------------------------------------------------------


def test_dishonest_root_is_named(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tid = world.task_d.task_id
    # During the challenge window the pending proposal is already caught.
    pending = world.pending_result
    assert not pending.ok
    assert pending.tasks[0].posted is not None and pending.tasks[0].posted.kind == "pending"
    assert "root" in _checks(pending, tid)

    html_out = tmp_path / "d.html"
    code, out, err = _run(
        world.args(world.dishonest, "--oracle", world.oracle_d.url, "--html", str(html_out)),
        capsys,
    )
    assert code == 1, err
    assert out and all(line.startswith(f"task {tid}: ") for line in out), out
    expected = (
        f"task {tid}: root: posted root {world.wrong_root} but the published tree's root is "
        f"{world.published_root}"
    )
    assert expected in out
    # The recompute agrees with the published tree, not with the chain; and the thief's claim
    # is no leaf of the published tree.
    assert any(
        line.startswith(f"task {tid}: recompute: ") and world.wrong_root in line for line in out
    )
    assert any(
        line.startswith(f"task {tid}: claims: {world.thief.address} claimed") for line in out
    )
    page = html_out.read_text()
    assert 'class="bad"' in page and "published tree&#x27;s root" in page
    assert page.count('src="data:image/png;base64,') == 3


# --------------------------------------------------------------------------------------------
# tampered files
# --------------------------------------------------------------------------------------------


def _edit_json(path: Path, change: Callable[[Any], None], *, canonical: bool = False) -> None:
    doc = json.loads(path.read_bytes())
    change(doc)
    path.write_bytes(canonical_json(doc) if canonical else json.dumps(doc).encode())


def _other(label: str) -> str:
    return LABELS[1 - LABELS.index(label)]


def _bump_payout(doc: Any) -> None:
    workers = doc["scoring"]["workers"]
    worker = sorted(w for w in workers if workers[w]["payout"] > 0)[0]
    workers[worker]["payout"] += 1


def _flip_reveal_label(doc: Any) -> None:
    doc["reveals"][0]["labels"][0]["label"] = _other(doc["reveals"][0]["labels"][0]["label"])


def _flip_gold_label(doc: Any) -> None:
    doc["gold"]["gold"][0][1] = _other(doc["gold"]["gold"][0][1])


def _bump_tree_leaf(doc: Any) -> None:
    doc["values"][0]["value"][1] = str(int(doc["values"][0]["value"][1]) + 1)


TAMPERING = {
    # file, change, whether the file is canonical JSON (the report is hashed as bytes),
    # the check that must name it, and a phrase of its message
    "report": ("report.json", _bump_payout, True, "report_hash", "the published report hashes"),
    "reveal": ("reveals.json", _flip_reveal_label, False, "reveal", "the revealed labels"),
    "gold": ("reveals.json", _flip_gold_label, False, "gold", "the published gold set and salt"),
    "tree leaf": ("tree.json", _bump_tree_leaf, False, "tree", "the published tree is invalid"),
}


@pytest.mark.parametrize("what", list(TAMPERING))
def test_tampered_file_is_named(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], what: str
) -> None:
    name, change, canonical, check, phrase = TAMPERING[what]
    tid = world.task_a.task_id
    files = tmp_path / "published"
    shutil.copytree(world.published, files)
    _edit_json(files / str(tid) / name, change, canonical=canonical)

    code, out, err = _run(world.args(world.honest, "--files", str(files)), capsys)
    assert code == 1, err
    assert all(line.startswith(f"task {tid}: ") for line in out), out
    named = [line for line in out if line.startswith(f"task {tid}: {check}: ")]
    assert named and phrase in named[0], out

    if what == "reveal":
        annotator = json.loads((files / str(tid) / name).read_bytes())["reveals"][0]["annotator"]
        assert f"reveal of {annotator}" in named[0]
    if what == "report":
        # The recompute agrees with the chain, so the report names the edited payout.
        assert any(line.startswith(f"task {tid}: report: ") and ".payout" in line for line in out)


def test_rebuilt_tree_with_a_changed_leaf_is_named(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A consistent tree (every node rehashed) that pays a claimed account more."""
    tid = world.task_a.task_id
    files = tmp_path / "published"
    shutil.copytree(world.published, files)
    tree_file = files / str(tid) / "tree.json"
    payouts = _payouts(json.loads(tree_file.read_text()))
    account = world.claimed_a[0]
    payouts[account] += 5
    tree_file.write_text(json.dumps(payout_tree(payouts).dump()))

    code, out, _ = _run(world.args(world.honest, "--files", str(files)), capsys)
    assert code == 1
    checks = {line.split(": ")[1] for line in out}
    assert {"root", "total", "claims", "report"} <= checks, out
    assert any(f"claims: {account} claimed" in line for line in out)


def test_missing_published_data_is_a_finding(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = tmp_path / "empty"
    files.mkdir()
    code, out, _ = _run(world.args(world.honest, "--files", str(files)), capsys)
    assert code == 1
    assert out == [
        f"task {world.task_a.task_id}: published: the final payout (root "
        f"{world.oracle_h.http.get(f'/tasks/{world.task_a.task_id}/tree').json()['tree'][0]}) "
        f"has no published report, tree or reveals at {files}"
    ]


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------


def test_bad_usage_and_unreadable_input_exit_2(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dep = str(world.honest.deployment_file)
    rpc = world.node.url
    dead = f"http://127.0.0.1:{free_port()}"
    cases = {
        "no arguments": [],
        "both sources": ["--rpc-url", rpc, "--deployment", dep, "--oracle", dead, "--files", "x"],
        "no deployment file": ["--rpc-url", rpc, "--deployment", str(tmp_path / "none.json")],
        "not a deployment": ["--rpc-url", rpc, "--deployment", str(world.published / "index.json")],
        "no files dir": ["--rpc-url", rpc, "--deployment", dep, "--files", str(tmp_path / "no")],
        "oracle down": ["--rpc-url", rpc, "--deployment", dep, "--oracle", dead],
        "rpc down": ["--rpc-url", dead, "--deployment", dep],
        "unknown task": ["--rpc-url", rpc, "--deployment", dep, "--task", "99"],
        "export without oracle": ["--rpc-url", rpc, "--deployment", dep, "--export", "x"],
        "other escrow's files": [
            "--rpc-url",
            rpc,
            "--deployment",
            str(world.dishonest.deployment_file),
            "--files",
            str(world.published),
        ],
    }
    for name, args in cases.items():
        code, out, err = _run(args, capsys)
        assert code == 2, (name, out, err)
        assert out == [] and len(err.strip().splitlines()) == 1, (name, err)
        assert err.startswith("error: "), (name, err)
    assert audit.main(["--help"]) == 0
    capsys.readouterr()
