"""The annotators' web app in Debian's chromium (Playwright), against the real chain, oracle,
relayer and app server: one annotator's whole journey, recovery from a wiped browser, and bad
input (each a clear message on the page, nothing lost)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from playwright.sync_api import expect

from labelproof.chain import Sender
from labelproof.commitments import annotation_leaf, annotation_root
from labelproof.salts import derive_salts, wallet_seed
from tests.browser.conftest import DAY, ROOT, TOKEN, Screens, World, open_page
from tests.browser.wallet import TestWallet

LABELS = ("cat", "dog", "bird")


def truth_of(n: int, seed: int) -> dict[str, str]:
    rng = random.Random(seed)
    return {f"photo {i:02d}: a small animal seen at dusk": rng.choice(LABELS) for i in range(n)}


def noisy(truth: dict[str, str], wrong: int, seed: int) -> dict[str, str]:
    rng = random.Random(seed)
    out = dict(truth)
    for item in rng.sample(sorted(truth), wrong):
        out[item] = next(lbl for lbl in LABELS if lbl != truth[item])
    return out


def message(page: Any) -> Any:
    return page.locator("#message")


def label_by_keyboard(page: Any, labels: list[str]) -> None:
    expect(page.locator("#progress")).to_be_visible()  # the labeller is on the page
    for label in labels:
        page.keyboard.press(str(LABELS.index(label) + 1))


def app_root(world: World, task_id: int, account: Any, labels: dict[str, str]) -> bytes:
    """The root the app must commit: salts derived from the wallet's signature (Python side)."""
    seed = wallet_seed(account, world.dep.chain_id, world.dep.registry, world.dep.escrow, task_id)
    salts = derive_salts(seed, labels)
    return annotation_root(
        [
            annotation_leaf(
                world.dep.chain_id, world.dep.escrow, task_id, i, account.address, lbl, salts[i]
            )
            for i, lbl in labels.items()
        ]
    )


def settle(world: World, *task_ids: int) -> None:
    """After the reveal: the oracle scores and proposes; the challenge period passes; finalize.
    (A minute past each day: tasks created a few seconds apart all cross their deadlines.)"""
    world.node.time_travel(DAY + 60)
    for task_id in task_ids:
        world.wait(
            "the oracle's proposal", lambda t=task_id: world.committee.functions.isPending(t).call()
        )
    world.node.time_travel(DAY + 60)
    for task_id in task_ids:
        Sender(world.w3, world.w3.eth.accounts[6]).call(
            world.committee.functions.finalize(task_id), what="finalize"
        )


def proof_of(world: World, task_id: int, account: str) -> dict[str, Any] | None:
    r = httpx.get(f"{world.oracle.url}/tasks/{task_id}/proof/{account}")
    return r.json() if r.status_code == 200 else None


def test_annotator_journey(world: World, browser: Any, shots: Screens) -> None:
    truth = truth_of(20, seed=1)
    task = world.create_task("animals at dusk", truth, LABELS)
    others = world.commit_others(task, [noisy(truth, 2, 2), noisy(truth, 3, 3), noisy(truth, 9, 4)])
    truth_b = truth_of(12, seed=8)  # a second task, so that one claimMany pays both
    task_b = world.create_task("a second look", truth_b, LABELS)
    others_b = world.commit_others(
        task_b, [noisy(truth_b, 1, 5), noisy(truth_b, 2, 6), noisy(truth_b, 4, 7)]
    )
    wallet = TestWallet.create(world.w3)
    world.node.set_balance(wallet.account.address, TOKEN)  # gas for the claim with the wallet
    context, page = open_page(browser, world, wallet)
    try:
        row = page.locator(f".task-row[data-task='{task.task_id}']")
        expect(row).to_contain_text("animals at dusk")
        expect(row).to_contain_text("1,000" if False else "1000.0 LPR")
        expect(row).to_contain_text("annotation")
        expect(row).to_contain_text("cat, dog, bird")
        expect(row).to_contain_text("in 23 h")  # deadlines in words
        shots(page, "tasks")

        page.click("#connect")
        expect(page.locator("#account")).to_contain_text(wallet.account.address)
        page.goto(f"{world.app.url}/#/task/{task.task_id}")
        expect(page.locator("#progress")).to_contain_text("0 of 20 labelled")
        shots(page, "task-before-labelling")

        items = list(task.spec.items)
        label_by_keyboard(page, [truth[i] for i in items[:10]])
        expect(page.locator("#progress")).to_contain_text("10 of 20 labelled")
        page.reload()  # resume after a reload
        expect(page.locator("#progress")).to_contain_text("10 of 20 labelled · item 11")
        label_by_keyboard(page, [truth[i] for i in items[10:]])
        expect(page.locator("#progress")).to_contain_text("20 of 20 labelled")
        page.keyboard.press("ArrowLeft")
        expect(page.locator("#progress")).to_contain_text("item 19")
        shots(page, "labelled")

        page.click("#commit")
        expect(message(page)).to_contain_text(
            "Committed on chain: 20 labels, version 1", timeout=90_000
        )
        root = app_root(world, task.task_id, wallet.account, truth)
        assert world.registry.functions.isAttested(
            task.task_id, wallet.account.address, root, 20
        ).call()
        assert world.w3.eth.get_transaction_count(wallet.account.address) == 0  # no gas spent
        expect(page.locator("#reminder")).to_contain_text("Reminder: reveal your labels")
        shots(page, "committed")

        # a re-commit shows what changes and asks first; "no" keeps the commitment
        page.click("#prev")  # back to item 19 of 20 (the cursor was on 19: now 18)
        page.keyboard.press("ArrowRight")
        item = items[18]
        other = next(lbl for lbl in LABELS if lbl != truth[item])
        page.keyboard.press(str(LABELS.index(other) + 1))
        page.click("#commit")
        expect(page.locator("#diff")).to_contain_text(f"{item}: {truth[item]} → {other}")
        shots(page, "recommit-asks")
        page.click("#confirm-no")
        expect(message(page)).to_contain_text("Nothing committed: your earlier commitment stands")
        assert (
            world.registry.functions.attestation(task.task_id, wallet.account.address).call()[1]
            == 1
        )
        page.click("#commit")  # asked again, and this time the change is meant
        page.click("#confirm-yes")
        expect(message(page)).to_contain_text("Committed on chain: 20 labels, version 2")
        changed = {**truth, item: other}
        root = app_root(world, task.task_id, wallet.account, changed)
        assert world.registry.functions.isAttested(
            task.task_id, wallet.account.address, root, 20
        ).call()

        with page.expect_download() as download:
            page.click("#backup")
        saved = json.loads(Path(download.value.path()).read_text())
        assert saved["labels"] == changed and saved["committed"]["root"] == "0x" + root.hex()

        page.goto(f"{world.app.url}/#/task/{task_b.task_id}")
        label_by_keyboard(page, [truth_b[i] for i in task_b.spec.items])
        page.click("#commit")
        expect(message(page)).to_contain_text("Committed on chain: 12 labels, version 1")

        world.node.time_travel(DAY + 60)  # annotation closes, the reveal window is open
        world.reveal_others(task, others)
        world.reveal_others(task_b, others_b)
        page.goto(f"{world.app.url}/#/task/{task_b.task_id}")
        page.click("#reveal")
        expect(message(page)).to_contain_text("Revealed: the oracle's receipt is 0x")
        page.goto(f"{world.app.url}/#/task/{task.task_id}")
        expect(page.locator("#phase")).to_have_text("reveal")
        expect(page.locator("#reminder")).to_be_visible()
        page.click("#reveal")
        expect(message(page)).to_contain_text("Revealed: the oracle's receipt is 0x")
        expect(page.locator("#receipt")).to_contain_text("20 labels")
        expect(page.locator("#reminder")).to_be_hidden()
        shots(page, "revealed")
        assert httpx.get(f"{world.oracle.url}/tasks/{task.task_id}").json()["reveals"] == 4

        settle(world, task.task_id, task_b.task_id)
        page.reload()
        result = page.locator("#my-result")
        expect(result).to_contain_text("quality")
        expect(result).to_contain_text("of 4")  # rank among the task's annotators
        expect(result).to_contain_text("at or above the threshold 0.333")  # 1/k, 3 labels
        shots(page, "result")

        # both tasks in one claimMany from the earnings page, with the wallet (gas)
        me = wallet.account.address
        owed = [proof_of(world, t, me) for t in (task.task_id, task_b.task_id)]
        assert all(owed)
        total = sum(int(p["amount"]) for p in owed if p)
        before = world.balance(me)
        page.goto(f"{world.app.url}/#/earnings")
        expect(page.locator(f"#earnings tr[data-task='{task_b.task_id}']")).to_contain_text(
            "claimable"
        )
        shots(page, "earnings-before-claim")
        page.click("#claim-all")
        expect(message(page)).to_contain_text(f"Claimed task {task.task_id}")
        expect(message(page)).to_contain_text(f"task {task_b.task_id}")
        assert world.balance(me) == before + total
        expect(page.locator(f"#earnings tr[data-task='{task_b.task_id}']")).to_contain_text(
            "claimed ("
        )
        tx = world.w3.eth.get_transaction(message(page).inner_text().split(" in ")[-1].rstrip("."))
        assert world.escrow.decode_function_input(tx["input"])[0].fn_name == "claimMany"
        shots(page, "claimed-both-with-wallet")

        page.goto(f"{world.app.url}/#/task/{task.task_id}")
        page.click("#claim-wallet")  # a double claim: a clear message, nothing sent
        expect(message(page)).to_contain_text("you already claimed")
        assert world.balance(me) == before + total
        shots(page, "double-claim")

        page.goto(f"{world.app.url}/#/earnings")
        expect(page.locator(f"#earnings tr[data-task='{task.task_id}']")).to_contain_text("claimed")
        shots(page, "earnings")

        # another paid annotator claims one task with its wallet (claim), a third without gas
        paid = [a for a, _, _ in others if proof_of(world, task.task_id, a.address)]
        assert len(paid) >= 2
        single, sponsored = paid[0], paid[1]
        world.node.set_balance(single.address, TOKEN)
        wallet.account = single
        page.goto(f"{world.app.url}/#/task/{task.task_id}")
        page.reload()
        expect(page.locator("#account")).to_contain_text(single.address)
        page.click("#claim-wallet")
        expect(message(page)).to_contain_text(f"Claimed task {task.task_id}")
        amount = int(proof_of(world, task.task_id, single.address)["amount"])  # type: ignore[index]
        assert world.balance(single.address) == amount
        shots(page, "claimed-with-wallet")

        paid = sponsored
        wallet.account = paid
        amount = int(proof_of(world, task.task_id, paid.address)["amount"])  # type: ignore[index]
        page.goto(f"{world.app.url}/#/task/{task.task_id}")
        page.reload()
        expect(page.locator("#account")).to_contain_text(paid.address)
        page.click("#claim-sponsored")
        expect(message(page)).to_contain_text("gas paid by")
        assert world.balance(paid.address) == amount
        assert world.w3.eth.get_balance(paid.address) == 0
        shots(page, "claimed-sponsored")
        page.click("#claim-sponsored")
        expect(message(page)).to_contain_text("you already claimed")

        # the public page, no wallet
        public = browser.new_page()
        public.goto(f"{world.app.url}/#/public/{task.task_id}")
        expect(public.locator("#public-status")).to_contain_text("claims open")
        expect(public.locator("#verdict")).to_contain_text("every check holds", timeout=120_000)
        expect(public.locator("#plot-quality")).to_be_visible()
        shots(public, "public-page")
        public.close()
    finally:
        context.close()


def test_recovery_from_a_wiped_browser(world: World, browser: Any, shots: Screens) -> None:
    truth = truth_of(5, seed=7)
    picture = (  # an image item: shown as a picture, labelled like any other
        "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' width='60' height='60'>"
        "<circle cx='30' cy='30' r='25' fill='orange'/></svg>"
    )
    truth = {picture: "cat", **truth}
    task = world.create_task("recovery", truth, LABELS)
    wallet = TestWallet.create(world.w3)
    context, page = open_page(browser, world, wallet)
    page.click("#connect")
    page.goto(f"{world.app.url}/#/task/{task.task_id}")
    expect(page.locator("#item img")).to_be_visible()  # the image item comes first
    label_by_keyboard(page, [truth[i] for i in task.spec.items])
    page.click("#commit")
    expect(message(page)).to_contain_text("Committed on chain: 6 labels", timeout=90_000)
    with page.expect_download() as download:
        page.click("#backup")
    backup = world.tmp / "recovery-backup.json"
    download.value.save_as(str(backup))
    shots(page, "committed")
    page.evaluate("localStorage.clear()")
    context.close()

    world.node.time_travel(DAY + 1)
    wallet.connected = False  # another device: the wallet's key, nothing else
    context, page = open_page(browser, world, wallet)  # no storage, no seed in memory
    page.click("#connect")
    page.goto(f"{world.app.url}/#/task/{task.task_id}")
    expect(page.locator("#progress")).to_contain_text("0 of 6 labelled")
    page.click("#reveal")
    expect(message(page)).to_contain_text("restore your backup file first")
    shots(page, "wiped")
    page.set_input_files("#restore", str(backup))
    expect(message(page)).to_contain_text("Restored 6 labels")
    expect(page.locator("#progress")).to_contain_text("6 of 6 labelled")
    page.click("#reveal")
    expect(message(page)).to_contain_text("Revealed: the oracle's receipt is 0x")
    shots(page, "revealed-after-restore")
    assert httpx.get(f"{world.oracle.url}/tasks/{task.task_id}").json()["reveals"] == 1
    context.close()


def test_bad_input_gives_clear_messages_and_loses_nothing(
    world: World, browser: Any, shots: Screens
) -> None:
    truth = truth_of(5, seed=11)
    task = world.create_task("bad input", truth, LABELS)
    wallet = TestWallet.create(world.w3)
    context, page = open_page(browser, world, wallet)
    try:
        # a wallet on the wrong chain
        wallet.chain_id = 1
        page.click("#connect")
        expect(message(page)).to_contain_text(
            f"Your wallet is on chain 1, but this app's tasks are on chain {world.dep.chain_id}"
        )
        shots(page, "wrong-chain")
        wallet.chain_id = None
        page.click("#connect")
        page.goto(f"{world.app.url}/#/task/{task.task_id}")
        label_by_keyboard(page, [truth[i] for i in task.spec.items])
        expect(page.locator("#progress")).to_contain_text("5 of 5 labelled")

        # a rejected signature
        wallet.reject = {"eth_signTypedData_v4"}
        page.click("#commit")
        expect(message(page)).to_contain_text("You rejected the request in your wallet")
        shots(page, "rejected-signature")
        wallet.reject = set()
        assert (
            world.registry.functions.attestation(task.task_id, wallet.account.address).call()[1]
            == 0
        )

        # the relayer down: nothing lost, and it works once the relayer is back
        world.relay.stop()
        page.click("#commit")
        expect(message(page)).to_contain_text("The relayer did not take the commitment")
        expect(message(page)).to_contain_text("not reachable")
        shots(page, "relayer-down")
        page.reload()
        expect(page.locator("#progress")).to_contain_text("5 of 5 labelled")
        world.relay.start()
        page.click("#commit")
        expect(message(page)).to_contain_text("Committed on chain: 5 labels", timeout=90_000)

        # an item outside the task cannot be labelled, even from a backup file
        forged = world.tmp / "forged-backup.json"
        with page.expect_download() as download:
            page.click("#backup")
        doc = json.loads(Path(download.value.path()).read_text())
        doc["labels"]["an item not in the task"] = "cat"
        forged.write_text(json.dumps(doc))
        page.set_input_files("#restore", str(forged))
        expect(message(page)).to_contain_text("ignored 1 not in task")
        stored = page.evaluate(
            "Object.keys(localStorage).filter(k => k.startsWith('labelproof:labels:'))"
            ".map(k => localStorage.getItem(k))"
        )
        assert all("an item not in the task" not in s for s in stored)
        shots(page, "item-outside-task")

        # the oracle down at reveal time: a clear message; the reveal works once it is back
        world.node.time_travel(DAY + 1)
        page.reload()
        expect(page.locator("#reveal")).to_be_visible()
        world.oracle.stop()
        page.click("#reveal")
        expect(message(page)).to_contain_text("the oracle at")
        expect(message(page)).to_contain_text("not reachable")
        shots(page, "oracle-down")
        world.oracle.start()
        page.click("#reveal")
        expect(message(page)).to_contain_text("Revealed: the oracle's receipt is 0x")

        # a reveal after the deadline
        late = world.create_task("too late", truth, LABELS)
        page.goto(f"{world.app.url}/#/task/{late.task_id}")
        label_by_keyboard(page, [truth[i] for i in late.spec.items])
        page.click("#commit")
        expect(message(page)).to_contain_text("Committed on chain: 5 labels", timeout=90_000)
        world.node.time_travel(2 * DAY + 1)
        page.reload()
        page.click("#reveal")
        expect(message(page)).to_contain_text("Too late: the reveal window of task")
        shots(page, "reveal-after-deadline")
        expect(page.locator("#progress")).to_contain_text("5 of 5 labelled")  # nothing lost
    finally:
        context.close()


@pytest.mark.parametrize("n", [1, 3, 20])
def test_app_derives_the_same_commitment_in_the_browser(world: World, browser: Any, n: int) -> None:
    """The bundle's functions, run in chromium, give Python's leaves, root, digest and salts."""
    from eth_account.messages import encode_typed_data
    from eth_utils import keccak

    from labelproof.commitments import attestation_typed_data
    from labelproof.salts import derive_salt, salt_message, seed_from_signature

    account = Account.create()
    labels = {f"item {i} ✓": LABELS[i % 3] for i in range(n)}
    task_id = 7
    dep = world.dep
    signature = bytes(
        account.sign_message(
            __import__("eth_account").messages.encode_defunct(
                text=salt_message(dep.chain_id, dep.registry, dep.escrow, task_id, account.address)
            )
        ).signature
    )
    seed = seed_from_signature(signature)
    salts = {i: derive_salt(seed, i) for i in labels}
    leaves = [
        annotation_leaf(dep.chain_id, dep.escrow, task_id, i, account.address, lbl, salts[i])
        for i, lbl in labels.items()
    ]
    root = annotation_root(leaves)
    digest = encode_typed_data(
        full_message=attestation_typed_data(
            dep.chain_id, dep.registry, task_id, account.address, root, n, 2
        )
    )
    expected_digest = keccak(b"\x19\x01" + digest.header + digest.body)
    page = browser.new_page()
    page.goto(world.app.url + "/")
    page.wait_for_function("window.labelproof !== undefined")
    got = page.evaluate(
        """([c, reg, esc, task, who, labels, sig]) => {
            const L = window.labelproof;
            const seed = L.seedFromSignature(sig);
            const items = Object.keys(labels);
            const salts = Object.fromEntries(items.map(i => [i, L.deriveSalt(seed, i)]));
            const { root, leaves } = L.commitment(c, esc, task, who, labels, salts);
            const digest = L.attestationDigest(c, reg, task, who, root, items.length, 2);
            return { message: L.saltMessage(c, reg, esc, task, who), seed, salts, root, leaves,
                     digest };
        }""",
        [
            dep.chain_id,
            dep.registry,
            dep.escrow,
            task_id,
            account.address,
            labels,
            "0x" + signature.hex(),
        ],
    )
    page.close()
    assert got["message"] == salt_message(
        dep.chain_id, dep.registry, dep.escrow, task_id, account.address
    )
    assert got["seed"] == "0x" + seed.hex()
    assert got["salts"] == {i: "0x" + s.hex() for i, s in salts.items()}
    assert sorted(got["leaves"]) == sorted("0x" + leaf.hex() for leaf in leaves)
    assert got["root"] == "0x" + root.hex()
    assert got["digest"] == "0x" + expected_digest.hex()


def _cli(world: World, wallet_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELPROOF_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "LABELPROOF_RPC_URL": world.node.url,
            "LABELPROOF_DEPLOYMENTS": str(world.tmp / "deployments"),
            "LABELPROOF_WALLET_DIR": str(wallet_dir),
            "LABELPROOF_PASSWORD": "cli parity",
            "LABELPROOF_SCRYPT_N": "1024",
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "labelproof.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=180,
        check=False,
    )


def test_the_cli_reveals_what_the_app_committed(world: World, browser: Any, shots: Screens) -> None:
    """Salts derived from the same wallet are the same in the browser and in the CLI: the app
    commits, and `labelproof annotate reveal --labels` reveals from the labels alone; then the
    CLI commits with --derive-salts and reveals again with no record on disk."""
    from labelproof.wallet import WalletStore

    truth = truth_of(4, seed=21)
    task = world.create_task("cli parity", truth, LABELS)
    wallet = TestWallet.create(world.w3)
    context, page = open_page(browser, world, wallet)
    page.click("#connect")
    page.goto(f"{world.app.url}/#/task/{task.task_id}")
    label_by_keyboard(page, [truth[i] for i in task.spec.items])
    page.click("#commit")
    expect(message(page)).to_contain_text("Committed on chain: 4 labels", timeout=90_000)
    shots(page, "committed-in-the-app")
    context.close()

    wallet_dir = world.tmp / "cli-wallets"
    os.environ["LABELPROOF_SCRYPT_N"] = "1024"
    try:
        WalletStore(wallet_dir).create("annotator", "cli parity", bytes(wallet.account.key))
    finally:
        del os.environ["LABELPROOF_SCRYPT_N"]
    labels_csv = world.tmp / "cli-labels.csv"
    labels_csv.write_text("item,label\n" + "".join(f'"{i}",{lbl}\n' for i, lbl in truth.items()))
    world.node.time_travel(DAY + 1)
    done = _cli(
        world, wallet_dir, "annotate", "reveal", "--task", str(task.task_id), "--wallet",
        "annotator", "--labels", str(labels_csv), "--oracle", world.oracle.url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "4 labels revealed" in done.stdout and "salts derived from the wallet" in done.stdout

    # and the other way: committed by the CLI with derived salts, no record needed to reveal
    task2 = world.create_task("cli parity 2", truth, LABELS)
    world.node.set_balance(wallet.account.address, TOKEN)
    done = _cli(
        world, wallet_dir, "annotate", "commit", "--task", str(task2.task_id), "--wallet",
        "annotator", "--labels", str(labels_csv), "--derive-salts", "--relay", world.relay.url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    root = app_root(world, task2.task_id, wallet.account, truth)
    assert world.registry.functions.isAttested(
        task2.task_id, wallet.account.address, root, 4
    ).call()
    for record in (wallet_dir / "annotator.data").rglob("*.json"):
        record.unlink()  # the salts kept on disk are not needed
    wrong = world.tmp / "cli-wrong.csv"
    first = next(iter(truth))
    other = next(lbl for lbl in LABELS if lbl != truth[first])
    wrong.write_text(
        labels_csv.read_text().replace(f'"{first}",{truth[first]}', f'"{first}",{other}')
    )
    world.node.time_travel(DAY + 1)
    done = _cli(
        world, wallet_dir, "annotate", "reveal", "--task", str(task2.task_id), "--wallet",
        "annotator", "--labels", str(wrong), "--oracle", world.oracle.url,
    )  # fmt: skip
    assert done.returncode == 1 and "which is not on chain" in done.stderr, done.stderr
    done = _cli(
        world, wallet_dir, "annotate", "reveal", "--task", str(task2.task_id), "--wallet",
        "annotator", "--labels", str(labels_csv), "--oracle", world.oracle.url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_service_endpoints_refuse_bad_input_clearly(world: World) -> None:
    """The oracle's app endpoints and the relayer's sponsored claims, spoken to directly."""
    r = httpx.get(f"{world.oracle.url}/tasks/999/spec")
    assert r.status_code == 404 and "no spec registered" in r.json()["error"]
    task = world.create_task("endpoints", truth_of(3, seed=5), LABELS)
    r = httpx.get(f"{world.oracle.url}/tasks/{task.task_id}/results")
    assert r.status_code == 404 and "not been scored" in r.json()["error"]
    index = httpx.get(f"{world.oracle.url}/index/tasks").json()["tasks"]
    row = next(t for t in index if t["task_id"] == task.task_id)
    assert row["title"] == "endpoints" and row["item_count"] == 3 and row["labels"] == list(LABELS)
    someone = Account.create().address
    claim = {"task_id": task.task_id, "account": someone, "amount": "5", "proof": []}
    r = httpx.post(f"{world.relay.url}/claims", json=claim)
    assert r.status_code == 409 and "claim would revert" in r.json()["error"], r.text
    r = httpx.post(f"{world.relay.url}/claims", json={**claim, "account": "0x12"})
    assert r.status_code == 422 and "is not an address" in r.json()["error"]
    r = httpx.post(f"{world.relay.url}/claims", json={**claim, "proof": ["0x12"]})
    assert r.status_code == 422 and "32 bytes" in r.json()["error"]
    r = httpx.get(f"{world.app.url}/api/tasks/999")
    assert r.status_code == 404, r.text


def test_app_serve_refuses_bad_input(world: World) -> None:
    missing = world.tmp / "nope.json"
    done = _cli(world, world.tmp, "app", "serve", "--deployment", str(missing), "--oracle", "x")
    assert done.returncode == 2 and f"{missing}: cannot read" in done.stderr, done.stderr
    other = world.tmp / "other-chain.json"
    record = json.loads((world.tmp / "deployments" / f"{world.dep.chain_id}.json").read_text())
    other.write_text(json.dumps({**record, "chain_id": 5}))
    done = _cli(world, world.tmp, "app", "serve", "--deployment", str(other), "--oracle", "x")
    assert done.returncode == 2 and "is for chain 5, but" in done.stderr, done.stderr
