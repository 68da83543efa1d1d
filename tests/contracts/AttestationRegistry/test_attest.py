"""AttestationRegistry.attest, openTask / closeTask / closeAnnotation and the views."""

import pytest
from eth_abi import encode
from eth_utils import keccak

ROOT = b"\x11" * 32
ROOT2 = b"\x22" * 32
UINT32_MAX = 2**32 - 1


def digest(root: bytes, count: int) -> str:
    """bytes28(keccak256(abi.encode(root, itemCount))) as brownie returns it."""
    return "0x" + keccak(encode(["bytes32", "uint32"], [root, count]))[:28].hex()


@pytest.fixture(scope="module")
def tid(tasks):
    return tasks.create()


def test_first_attestation(registry, tid, annotator):
    assert registry.hasAttestations(tid) is False
    assert tuple(registry.attestation(tid, annotator)) == ("0x" + "00" * 28, 0)
    tx = registry.attest(tid, ROOT, 10, {"from": annotator})

    ev = tx.events["Attested"]
    assert (ev["taskId"], ev["annotator"], ev["root"], ev["itemCount"], ev["version"]) == (
        tid,
        annotator,
        "0x" + ROOT.hex(),
        10,
        1,
    )
    assert tuple(registry.attestation(tid, annotator)) == (digest(ROOT, 10), 1)
    assert registry.isAttested(tid, annotator, ROOT, 10) is True
    assert registry.isAttested(tid, annotator, ROOT, 11) is False
    assert registry.isAttested(tid, annotator, ROOT2, 10) is False
    assert registry.hasAttestations(tid) is True


def test_replacement_bumps_version(registry, tid, annotator):
    registry.attest(tid, ROOT, 10, {"from": annotator})
    tx = registry.attest(tid, ROOT2, 12, {"from": annotator})
    assert tx.events["Attested"]["version"] == 2
    assert tuple(registry.attestation(tid, annotator)) == (digest(ROOT2, 12), 2)
    assert registry.isAttested(tid, annotator, ROOT2, 12) is True
    assert registry.isAttested(tid, annotator, ROOT, 10) is False
    tx = registry.attest(tid, ROOT2, 12, {"from": annotator})  # same commitment again
    assert tx.events["Attested"]["version"] == 3


def test_annotators_and_tasks_are_independent(registry, tasks, tid, annotators):
    other = tasks.create()
    registry.attest(tid, ROOT, 1, {"from": annotators[0]})
    registry.attest(tid, ROOT2, 2, {"from": annotators[1]})
    registry.attest(other, ROOT, 3, {"from": annotators[0]})
    assert tuple(registry.attestation(tid, annotators[0])) == (digest(ROOT, 1), 1)
    assert tuple(registry.attestation(tid, annotators[1])) == (digest(ROOT2, 2), 1)
    assert tuple(registry.attestation(other, annotators[0])) == (digest(ROOT, 3), 1)
    assert tuple(registry.attestation(other, annotators[1])) == ("0x" + "00" * 28, 0)
    assert registry.isAttested(tid, annotators[2], ROOT, 1) is False


def test_attest_at_exactly_annotation_deadline(
    registry, escrow, tid, annotator, pin_time, block_time
):
    deadline = escrow.task(tid)["annotationDeadline"]
    pin_time(deadline)
    tx = registry.attest(tid, ROOT, 1, {"from": annotator})
    assert block_time(tx) == deadline


def test_max_item_count(registry, tid, annotator):
    registry.attest(tid, ROOT, UINT32_MAX, {"from": annotator})
    assert registry.isAttested(tid, annotator, ROOT, UINT32_MAX)


# --------------------------------------------------------------------------------------------
# reverts
# --------------------------------------------------------------------------------------------


def test_unknown_task(registry, annotator, reverts_with):
    with reverts_with("TaskNotOpen", 4242):
        registry.attest(4242, ROOT, 1, {"from": annotator})


def test_cancelled_task(registry, escrow, tasks, requester, annotator, reverts_with):
    t = tasks.create()
    escrow.cancelTask(t, {"from": requester})
    with reverts_with("TaskNotOpen", t):
        registry.attest(t, ROOT, 1, {"from": annotator})


def test_annotation_window_closed(registry, escrow, tid, annotator, pin_time, reverts_with):
    deadline = escrow.task(tid)["annotationDeadline"]
    pin_time(deadline + 1)
    with reverts_with("AnnotationWindowClosed", tid, deadline):
        registry.attest(tid, ROOT, 1, {"from": annotator})


def test_replacement_after_deadline_refused(registry, escrow, tid, annotator, warp, reverts_with):
    registry.attest(tid, ROOT, 1, {"from": annotator})
    deadline = escrow.task(tid)["annotationDeadline"]
    warp(deadline + 1)
    with reverts_with("AnnotationWindowClosed", tid, deadline):
        registry.attest(tid, ROOT2, 2, {"from": annotator})
    assert registry.isAttested(tid, annotator, ROOT, 1)


def test_empty_root(registry, tid, annotator, reverts_with):
    with reverts_with("EmptyRoot"):
        registry.attest(tid, b"\x00" * 32, 1, {"from": annotator})


def test_zero_items(registry, tid, annotator, reverts_with):
    with reverts_with("ZeroItems"):
        registry.attest(tid, ROOT, 0, {"from": annotator})
    assert registry.hasAttestations(tid) is False


def test_version_exhausted(registry, tid, new_key, relayer, chain, reverts_with):
    """A signed attestation at version 2**32-1 leaves no next version for attest()."""
    from labelproof.commitments import sign_attestation

    acct, key = new_key()
    sig = sign_attestation(key, chain.id, registry.address, tid, ROOT, 1, UINT32_MAX)
    registry.attestBySig([sig.as_tuple()], {"from": relayer})
    with reverts_with("StaleVersion", tid, acct, UINT32_MAX, UINT32_MAX):
        registry.attest(tid, ROOT2, 2, {"from": acct})
    assert registry.isAttested(tid, acct, ROOT, 1)


def test_check_order_window_before_content(registry, tasks, annotator, reverts_with):
    with reverts_with("TaskNotOpen", 4242):
        registry.attest(4242, b"\x00" * 32, 0, {"from": annotator})


# --------------------------------------------------------------------------------------------
# openTask / closeTask (escrow only) and views
# --------------------------------------------------------------------------------------------


def test_open_and_close_from_escrow(registry, escrow, as_contract, annotator, chain):
    sender = {"from": as_contract(escrow)}
    deadline = chain.time() + 1000
    tx = registry.openTask(777, deadline, sender)
    assert (tx.events["TaskOpened"]["taskId"], tx.events["TaskOpened"]["annotationDeadline"]) == (
        777,
        deadline,
    )
    assert tuple(registry.window(777)) == (deadline, True)
    registry.attest(777, ROOT, 1, {"from": annotator})

    tx = registry.closeTask(777, sender)
    assert tx.events["TaskClosed"]["taskId"] == 777
    assert tuple(registry.window(777)) == (deadline, False)
    assert registry.hasAttestations(777) is True  # closing keeps the record


def test_close_annotation_from_escrow(
    registry, escrow, as_contract, annotator, chain, pin_time, reverts_with
):
    """closeAnnotation (the escrow closing a task early): the deadline becomes now, the task
    stays open for nothing but the record."""
    sender = {"from": as_contract(escrow)}
    registry.openTask(778, chain.time() + 10_000, sender)
    registry.attest(778, ROOT, 1, {"from": annotator})
    now = chain[-1].timestamp + 5
    pin_time(now)
    tx = registry.closeAnnotation(778, sender)
    ev = tx.events["AnnotationClosed"]
    assert (ev["taskId"], ev["annotationDeadline"]) == (778, now)
    assert tuple(registry.window(778)) == (now, True)
    pin_time(now + 1)
    with reverts_with("AnnotationWindowClosed", 778, now):
        registry.attest(778, ROOT2, 2, {"from": annotator})


@pytest.mark.parametrize("who", ["admin", "guardian", "oracle", "requester", "annotator", "rando"])
def test_open_close_only_escrow(registry, who, request, reverts_with):
    caller = request.getfixturevalue(who)
    with reverts_with("NotEscrow", caller):
        registry.openTask(777, 2**40, {"from": caller})
    with reverts_with("NotEscrow", caller):
        registry.closeTask(1, {"from": caller})
    with reverts_with("NotEscrow", caller):
        registry.closeAnnotation(1, {"from": caller})


def test_views(registry, escrow):
    assert registry.escrow() == escrow
    assert registry.version() == "2.0.0"
    assert tuple(registry.window(999)) == (0, False)
    assert registry.hasAttestations(999) is False
    assert (
        registry.ATTESTATION_TYPEHASH()
        == "0x"
        + keccak(
            text="Attestation(uint256 taskId,address annotator,bytes32 root,uint32 itemCount,"
            "uint32 version)"
        ).hex()
    )
