"""The auditor end to end: real oracle service processes against their own anvil.

One anvil, two deployments:

* honest: the oracle service holds the 1-of-1 oracle key, and the committee has a stake, so
  each of its proposals is backed by a 100 LPR bond. Task A is scored, finalized and partly
  claimed (funds paid, nothing refunded, the rest held); task B is cancelled (a full refund);
  task R is disputed and ruled wrong (the disputer wins the committee's bond), proposed again
  on an operator's approval, disputed again and ruled to stand (the disputer's bond goes to the
  stake), then finalized; task F is disputed and ruled "refund the requester"; task W's
  requester never reveals its gold set, so it is scored without gold ("withheld") and paid.
  This audits clean, from the API and from an exported directory, during R's dispute too, and
  the settlement history and bond flows are in the JSON and HTML outputs.
* dishonest: a 2-of-2 committee whose second oracle never votes, so the oracle service
  scores, publishes its report, tree and inputs bundle and votes, but its payout never becomes
  pending. After the committee's grace a thief proposes, with a bond, a root that is not the
  published tree's (with the published report's and bundle's hashes), nobody disputes, it is
  finalized, and the thief claims its own stolen leaf. The audit must name the root.

Then each published file of the honest task is tampered with in turn (report, the bundle's
excluded list, one reveal label, one gold label, a tree leaf), and the audit must name that
check and task with exit code 1.
"""

from __future__ import annotations

import base64
import dataclasses
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
from web3.logs import DISCARD

from labelproof import audit
from labelproof.chain import Sender, contract_at
from labelproof.deploy import DeployConfig, deploy_suite
from labelproof.merkle import payout_tree
from labelproof.node import LocalNode, free_port, start_anvil
from labelproof.settlement import Proposal, Verdict, inputs_hash
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
    repropose,
    wait_for,
)


@pytest.fixture(autouse=True)
def isolation() -> None:
    """Shadow tests/conftest.py's brownie snapshot fixture: this module runs its own anvil."""


def _env(
    node: LocalNode, tmp: Path, name: str, oracle_keys: list[LocalAccount], threshold: int = 1
) -> Env:
    """Deploy a suite whose committee is `oracle_keys` and fund a requester and a disputer."""
    w3 = node.w3
    dev = list(w3.eth.accounts)
    admin = Sender(w3, dev[0])
    dep = deploy_suite(
        w3,
        admin,
        DeployConfig(
            guardian=dev[1], oracles=tuple(k.address for k in oracle_keys), threshold=threshold
        ),
    )
    folder = tmp / name
    folder.mkdir()
    deployment_file = folder / "deployment.json"
    deployment_file.write_text(dep.to_json())
    assert dep.reward_token is not None
    token = contract_at(w3, "RewardToken", dep.reward_token)
    requester = Sender(w3, dev[2])
    admin.call(token.functions.mint(requester.address, 10 * BUDGET), what="mint")
    disputer = Sender(w3, dev[4])
    admin.call(token.functions.mint(disputer.address, 10 * BUDGET), what="mint")
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
        disputer=disputer,
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
    task_r: Task  # honest: ruled wrong, proposed again, disputed, stood, final
    task_f: Task  # honest: refunded by ruling
    task_w: Task  # honest: the gold set withheld, scored without it, final
    task_d: Task  # dishonest root
    claimed_a: list[str]  # accounts that claimed task A
    wrong_root: str
    published_root: str
    thief: LocalAccount
    pending_result: audit.AuditResult  # the dishonest task audited during its challenge window
    disputed_result: audit.AuditResult  # the honest deployment while R's first dispute is open
    published: Path  # the honest tasks exported with export_published
    disputer: str

    def args(self, env: Env, *extra: str) -> list[str]:
        return ["--rpc-url", self.node.url, "--deployment", str(env.deployment_file), *extra]


def _payouts(tree: dict[str, Any]) -> dict[str, int]:
    return {v["value"][0]: int(v["value"][1]) for v in tree["values"]}


STAKE = 500 * TOKEN
BOND = 100 * TOKEN  # the default proposer and dispute bonds


def _dispute(env: Env, task_id: int, verdict: Verdict | None) -> int:
    """Dispute the task's pending payout; the arbitrator's panel (the admin) rules at once
    unless `verdict` is None. Returns the dispute id."""
    receipt = env.disputer.call(env.committee.functions.dispute(task_id), what="dispute")
    (event,) = env.committee.events.Disputed().process_receipt(receipt, errors=DISCARD)
    dispute_id = int(event["args"]["disputeId"])
    if verdict is not None:
        _rule(env, dispute_id, verdict)
    return dispute_id


def _rule(env: Env, dispute_id: int, verdict: Verdict) -> None:
    arbitrator = contract_at(env.w3, "LocalArbitrator", env.dep.arbitrator)
    env.admin.call(arbitrator.functions.vote(dispute_id, int(verdict)), what="rule")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("audit")
    node = start_anvil(accounts=10, log=tmp / "anvil.log")
    oracles: list[Oracle] = []
    try:
        honest_key, service_key_d, idle_key, thief = (Account.create() for _ in range(4))
        for key in (honest_key, service_key_d, thief):
            node.set_balance(key.address, 10 * TOKEN)
        honest = _env(node, tmp, "honest", [honest_key])
        dishonest = _env(node, tmp, "dishonest", [service_key_d, idle_key], threshold=2)
        oracle_h = Oracle(honest, honest_key, "H")
        oracle_d = Oracle(dishonest, service_key_d, "D")  # votes alone: never pending
        dishonest.admin.call(dishonest.token.functions.mint(thief.address, BOND), what="mint")
        Sender(node.w3, thief).call(
            dishonest.token.functions.approve(dishonest.committee.address, BOND), what="approve"
        )
        oracles += [oracle_h, oracle_d]
        oracle_h.start()
        oracle_d.start()

        # the honest committee's stake: each of its proposals locks a 100 LPR bond
        staker = honest.admin
        honest.admin.call(honest.token.functions.mint(staker.address, STAKE), what="mint")
        staker.call(honest.token.functions.approve(honest.committee.address, STAKE), what="ok")
        staker.call(honest.committee.functions.fundStake(honest.token.address, STAKE), what="st")
        honest.disputer.call(
            honest.token.functions.approve(honest.committee.address, 2**256 - 1), what="approve"
        )

        task_a = make_task(honest, seed=31)
        task_b = make_task(honest, seed=32, accuracies=())
        honest.requester.call(honest.escrow.functions.cancelTask(task_b.task_id), what="cancel")
        task_r = make_task(honest, seed=34, accuracies=(0.95, 0.9, 0.8))
        task_f = make_task(honest, seed=35, accuracies=(0.95, 0.9, 0.8), gold_items=0)
        task_w = make_task(honest, seed=36, accuracies=(0.95, 0.9, 0.85))
        task_d = make_task(dishonest, seed=33)
        for task in (task_a, task_r, task_f):
            register_and_reveal(task, oracle_h)
        # W: spec and reveals, but the requester never reveals the gold set
        register_and_reveal(dataclasses.replace(task_w, gold=None), oracle_h)
        register_and_reveal(task_d, oracle_d)

        # -- past the reveal deadline: H proposes (1-of-1: pending at once); D scores, publishes
        # and votes, 1 of the 2 votes its committee needs
        node.time_travel(2 * DAY + 1)
        for task in (task_a, task_r, task_f):
            wait_for(
                f"the honest proposal of task {task.task_id}",
                lambda task=task: honest.committee.functions.isPending(task.task_id).call(),
                30,
                oracle_h,
            )
        wait_for(
            "the dishonest deployment's published report",
            lambda: oracle_d.http.get(f"/tasks/{task_d.task_id}/report").status_code == 200,
            30,
            oracle_d,
        )

        # -- R: disputed; audited while the dispute is open; ruled wrong. The oracle scores the
        # same payout again and proposes it once an operator approves; disputed again, it stands
        r_id = _dispute(honest, task_r.task_id, None)
        disputed_result = audit.run_audit(node.url, honest.dep, oracle_url=oracle_h.url)
        _rule(honest, r_id, Verdict.PAYOUT_WRONG)
        assert "round 1" in repropose(oracle_h, task_r.task_id)
        wait_for(
            "the honest proposal of task R in round 1",
            lambda: honest.committee.functions.isPending(task_r.task_id).call(),
            30,
            oracle_h,
        )
        _dispute(honest, task_r.task_id, Verdict.PAYOUT_STANDS)
        # -- F: disputed, ruled "refund the requester"
        _dispute(honest, task_f.task_id, Verdict.REFUND_REQUESTER)

        # -- W: past the gold deadline (reveal deadline + 1 h) H scores without gold
        node.time_travel(3_600)
        wait_for(
            "the proposal of task W without its gold set",
            lambda: honest.committee.functions.isPending(task_w.task_id).call(),
            30,
            oracle_h,
        )

        # -- past the committee's grace (12 h after the reveal deadline) anyone may propose with
        # a bond: the thief moves one annotator's payout to itself (same total) and proposes
        # that root with the published report's and bundle's hashes
        node.time_travel(11 * 3_600)
        report = oracle_d.http.get(f"/tasks/{task_d.task_id}/report")
        bundle = oracle_d.http.get(f"/tasks/{task_d.task_id}/bundle")
        published_tree = oracle_d.http.get(f"/tasks/{task_d.task_id}/tree").json()
        honest_payouts = _payouts(published_tree)
        victim = sorted(honest_payouts)[0]
        wrong = dict(honest_payouts)
        wrong[thief.address] = wrong.pop(victim)
        wrong_tree = payout_tree(wrong)
        Sender(node.w3, thief).call(
            dishonest.committee.functions.proposeBonded(
                task_d.task_id,
                HexBytes(wrong_tree.root),
                sum(wrong.values()),
                HexBytes(report.headers["x-report-hash"]),
                HexBytes(inputs_hash(bundle.content)),
            ),
            what="dishonest bonded proposal",
        )
        pending_result = audit.run_audit(node.url, dishonest.dep, oracle_url=oracle_d.url)

        # -- after the challenge windows everything finalizes; some honest annotators claim,
        # and the thief claims its stolen leaf
        node.time_travel(DAY + 1)
        anyone = Sender(node.w3, list(node.w3.eth.accounts)[3])
        for task in (task_a, task_r, task_w):
            anyone.call(honest.committee.functions.finalize(task.task_id), what="finalize")
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
        # tokens sent to the committee without fundStake: a surplus, not a finding
        honest.admin.call(
            honest.token.functions.mint(honest.committee.address, 5 * TOKEN), what="mint"
        )
        published = tmp / "published"
        ids = [t.task_id for t in (task_a, task_b, task_r, task_f, task_w)]
        saved = audit.export_published(oracle_h.url, published, ids)
        # a cancelled task has nothing published; F was scored before it was refunded
        assert saved == [task_a.task_id, task_r.task_id, task_f.task_id, task_w.task_id]
        yield World(
            node=node,
            honest=honest,
            dishonest=dishonest,
            oracle_h=oracle_h,
            oracle_d=oracle_d,
            task_a=task_a,
            task_b=task_b,
            task_r=task_r,
            task_f=task_f,
            task_w=task_w,
            task_d=task_d,
            claimed_a=claimed_a,
            wrong_root=wrong_tree.root,
            published_root=published_tree["tree"][0],
            thief=thief,
            pending_result=pending_result,
            disputed_result=disputed_result,
            published=published,
            disputer=honest.disputer.address,
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
    assert out == [out[0]] and out[0].startswith("ok: 5 task(s), 3 claim(s) checked at block ")

    data = json.loads(json_out.read_text())
    assert data["ok"] is True and data["findings"] == []
    assert {"bundle", "disputes", "bonds"} <= set(data["checks"])
    tasks = {t["task_id"]: t for t in data["tasks"]}
    a, b = tasks[world.task_a.task_id], tasks[world.task_b.task_id]
    r, f, w = (tasks[t.task_id] for t in (world.task_r, world.task_f, world.task_w))
    for t in tasks.values():
        assert int(t["funded"]) == int(t["claimed"]) + int(t["refunded"]) + int(t["held"])
        assert int(t["funded"]) == BUDGET
    assert a["status"] == "final" and a["published"] == "checked" and a["gold"] == "revealed"
    assert a["posted"]["kind"] == "final" and a["paid_annotators"] == 3
    assert int(a["claimed"]) > 0 and int(a["held"]) > 0 and int(a["refunded"]) == 0
    assert sorted(c["account"] for c in a["claims"]) == world.claimed_a
    assert a["rows_source"] == "recomputed" and len(a["rows"]) == len(world.task_a.annotators)
    assert sum(int(r["payout"]) for r in a["rows"]) == int(a["posted"]["total"])
    bundle_a = world.oracle_h.http.get(f"/tasks/{world.task_a.task_id}/bundle").content
    assert a["posted"]["inputs_hash"] == inputs_hash(bundle_a)
    [proposal] = a["settlement"]["proposals"]
    assert proposal["bonded"] is False and proposal["bond"] == str(BOND)
    assert proposal["outcome"] == "finalized" and a["settlement"]["disputes"] == []
    assert b["status"] == "cancelled" and int(b["refunded"]) == BUDGET and int(b["held"]) == 0
    assert b["refunds"] == [{"kind": "cancelled", "amount": str(BUDGET)}]

    # R: ruled wrong, proposed again, disputed again and stood, finalized in round 1
    assert r["status"] == "final" and r["published"] == "checked"
    assert r["posted"]["round"] == 1
    settled = r["settlement"]
    assert [(p["round"], p["outcome"]) for p in settled["proposals"]] == [
        (0, "ruled wrong"),
        (1, "finalized"),
    ]
    assert [d["verdict"] for d in settled["disputes"]] == ["payout-wrong", "payout-stands"]
    assert all(d["disputer"] == world.disputer for d in settled["disputes"])
    burn = "0x000000000000000000000000000000000000dEaD"
    assert [(x["label"], int(x["amount"]), x["cause"]) for x in settled["bonds"]] == [
        (world.disputer, BOND, "ruling"),  # its own bond back
        ("burned", BOND // 5, "ruling"),  # 20% of the committee's losing bond
        (world.disputer, BOND - BOND // 5, "ruling"),  # the rest of it
        ("burned", BOND // 5, "ruling"),  # then 20% of the disputer's losing bond
        ("committee stake", BOND - BOND // 5, "ruling"),  # the rest into the stake
    ]
    assert settled["bonds"][1]["to"] == burn
    # F: refunded by ruling; nothing posted, nothing held
    assert f["status"] == "expired" and f["posted"] is None and f["published"] == "not needed"
    assert f["refunds"] == [{"kind": "ruling", "amount": str(BUDGET)}]
    assert [d["verdict"] for d in f["settlement"]["disputes"]] == ["refund-requester"]
    assert f["settlement"]["proposals"][0]["outcome"] == "refunded by ruling"
    # W: the gold set was withheld: valid, reported, not a finding
    assert w["status"] == "final" and w["published"] == "checked" and w["gold"] == "withheld"
    assert w["rows_source"] == "recomputed"

    (token,) = data["tokens"]
    owed = sum(int(t["held"]) for t in tasks.values())
    assert int(token["balance"]) >= int(token["owed"]) == owed
    # the committee's bonds: 500 funded; R's first bond and F's went to the disputer (and the
    # burn), R's second dispute added 80; nothing is locked any more; 5 LPR sent directly
    (bonds,) = data["bonds"]
    assert int(bonds["stake"]) == STAKE - 2 * BOND + (BOND - BOND // 5)
    assert int(bonds["locked"]) == 0 and int(bonds["surplus"]) == 5 * TOKEN
    assert int(bonds["balance"]) == int(bonds["stake"]) + 5 * TOKEN

    # -- the HTML page: green, the settlement of R and F, three embedded PNG plots that decode
    page = html_out.read_text()
    assert 'class="ok"' in page and 'class="bad"' not in page
    for t in (world.task_r, world.task_f):
        assert f'<h2 id="settlement-{t.task_id}">' in page
    assert "payout-wrong" in page and "refund-requester" in page and "Committee bonds" in page
    assert "gold withheld" in page
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
    assert index["tasks"] == [t.task_id for t in (world.task_a, world.task_r, world.task_w)]
    assert index["escrow"] == world.honest.dep.escrow
    report = world.oracle_h.http.get(f"/tasks/{world.task_a.task_id}/report").content
    assert (export / str(world.task_a.task_id) / "report.json").read_bytes() == report
    assert (export / str(world.task_a.task_id) / "bundle.json").read_bytes() == bundle_a
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
    assert proc.stdout.startswith("ok: 5 task(s)") and proc.stderr == ""

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
    tasks_b = json.loads(json_out.read_text())["tasks"]
    assert [t["task_id"] for t in tasks_b] == [world.task_b.task_id]


def test_audit_during_an_open_dispute(world: World) -> None:
    """While R's first dispute is open its payout is posted as disputed and checked against the
    published data, the dispute has no verdict yet, and its bond is locked."""
    result = world.disputed_result
    assert result.ok, [f.line() for f in result.findings]
    r = next(t for t in result.tasks if t.task_id == world.task_r.task_id)
    assert r.posted is not None and r.posted.kind == "disputed" and r.published == "checked"
    assert r.settlement is not None
    [dispute] = r.settlement.disputes
    assert dispute.verdict is None and dispute.disputer == world.disputer and dispute.bond == BOND
    (bonds,) = result.bonds
    # A, R and F each lock 100 of the stake; R's disputer locks 100 more
    assert bonds.locked == 4 * BOND and bonds.stake == STAKE - 3 * BOND and bonds.surplus == 0


def test_a_bond_movement_the_rules_do_not_prescribe_is_named(world: World) -> None:
    """The bond checks against events as the chain gave them, with one BondSettled amount
    changed: the transaction and both movements are named."""
    from labelproof.audit.events import StoredTask

    auditor = audit.Audit(world.node.w3, world.honest.dep, None, 2_000)
    auditor.block = int(world.node.w3.eth.block_number)
    events = audit.read_events(auditor.chain, world.honest.dep.block, auditor.block)
    tid = world.task_r.task_id
    auditor.pendings = {
        tid: Proposal.from_raw(world.honest.committee.functions.pending(tid).call())
    }
    stored = StoredTask.read(world.honest.escrow, tid, auditor.block)
    assert audit.Settlement(auditor, tid, stored, events).run().disputes
    assert auditor.findings == []
    flow = events.bond_settled[tid][2]  # the disputer's 80% of the committee's bond
    events.bond_settled[tid][2] = flow | {"amount": flow["amount"] + 1}
    audit.Settlement(auditor, tid, stored, events).run()
    [finding] = auditor.findings
    assert finding.check == "bonds" and finding.task == tid
    assert f"transaction {flow['tx']} (ruling)" in finding.message
    assert f"{BOND - BOND // 5 + 1} to {world.disputer}" in finding.message
    got, prescribed = finding.message.split("prescribe")
    assert f"{BOND - BOND // 5} to {world.disputer}" in prescribed
    assert f"{BOND - BOND // 5} to {world.disputer}" not in got


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


def _exclude_an_annotator(doc: Any) -> None:
    doc["excluded"] = sorted([*doc["excluded"], doc["reveals"][0]["annotator"]])


def _bump_tree_leaf(doc: Any) -> None:
    doc["values"][0]["value"][1] = str(int(doc["values"][0]["value"][1]) + 1)


TAMPERING = {
    # file, change, whether the file is written back as canonical JSON (the report and the
    # bundle are hashed as bytes), the check that must name it, and a phrase of its message
    "report": ("report.json", _bump_payout, True, "report_hash", "the published report hashes"),
    "bundle": (
        "bundle.json",
        _exclude_an_annotator,
        True,
        "bundle",
        "the published inputs bundle hashes to",
    ),
    "reveal": ("bundle.json", _flip_reveal_label, True, "reveal", "the revealed labels"),
    "gold": ("bundle.json", _flip_gold_label, True, "gold", "the published gold set and salt"),
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
    final = (world.task_a, world.task_r, world.task_w)  # F was refunded: nothing is owed
    roots = {
        t.task_id: world.oracle_h.http.get(f"/tasks/{t.task_id}/tree").json()["tree"][0]
        for t in final
    }
    assert out == [
        f"task {tid}: published: the final payout (root {root}) has no published report, tree "
        f"or inputs bundle at {files}"
        for tid, root in roots.items()
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
