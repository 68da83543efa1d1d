"""AttestationRegistry.attestBySig: relayed EIP-712 attestations signed with real keys
(labelproof.commitments.sign_attestation). A bad entry no longer sinks the batch: it is skipped
with AttestationSkipped(index, taskId, annotator, reason), reason being the selector of the
error a direct attest would raise, and the good entries are recorded."""

from dataclasses import replace

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_utils import keccak

from labelproof.commitments import attestation_typed_data, sign_attestation

ROOT = b"\x11" * 32
ROOT2 = b"\x22" * 32
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ZERO_ADDRESS = "0x" + "00" * 20


def selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


INVALID_SIGNATURE = selector("InvalidSignature(uint256,address)")
STALE_VERSION = selector("StaleVersion(uint256,address,uint32,uint32)")
TASK_NOT_OPEN = selector("TaskNotOpen(uint256)")
WINDOW_CLOSED = selector("AnnotationWindowClosed(uint256,uint64)")
EMPTY_ROOT = selector("EmptyRoot()")
ZERO_ITEMS = selector("ZeroItems()")


def skipped(tx):
    """Every AttestationSkipped of `tx` as (index, taskId, annotator, reason)."""
    if "AttestationSkipped" not in tx.events:
        return []
    return [
        (e["index"], e["taskId"], e["annotator"], e["reason"])
        for e in tx.events["AttestationSkipped"]
    ]


def relay(registry, sigs, relayer):
    """Sends a batch; returns (tx, recorded count)."""
    tx = registry.attestBySig([s.as_tuple() for s in sigs], {"from": relayer})
    return tx, tx.return_value


@pytest.fixture(scope="module")
def keys():
    """Annotators that never hold ETH: only their keys sign."""
    return [Account.create() for _ in range(3)]


@pytest.fixture(scope="module")
def tid(tasks):
    return tasks.create()


@pytest.fixture(scope="module")
def tid2(tasks):
    return tasks.create()


@pytest.fixture
def sign(registry, chain):
    def sign_(key, task_id, root=ROOT, count=10, version=1, *, chain_id=None, verifying=None):
        return sign_attestation(
            key.key if hasattr(key, "key") else key,
            chain.id if chain_id is None else chain_id,
            verifying or registry.address,
            task_id,
            root,
            count,
            version,
        )

    return sign_


def test_digest_matches_offline_eip712(registry, chain, keys, tid):
    data = attestation_typed_data(chain.id, registry.address, tid, keys[0].address, ROOT, 10, 3)
    expected = bytes(_hash_eip191_message(encode_typed_data(full_message=data)))
    assert registry.hashAttestation(tid, keys[0].address, ROOT, 10, 3) == "0x" + expected.hex()


def test_relayed_attestation(registry, sign, keys, tid, relayer):
    sig = sign(keys[0], tid)
    tx, recorded = relay(registry, [sig], relayer)
    assert recorded == 1
    assert skipped(tx) == []
    ev = tx.events["Attested"]
    assert (ev["taskId"], ev["annotator"], ev["root"], ev["itemCount"], ev["version"]) == (
        tid,
        keys[0].address,
        "0x" + ROOT.hex(),
        10,
        1,
    )
    assert registry.isAttested(tid, keys[0].address, ROOT, 10)
    assert registry.attestation(tid, keys[0].address)[1] == 1
    assert registry.hasAttestations(tid)
    assert not registry.isAttested(tid, relayer, ROOT, 10)


def test_batch_of_several_annotators_and_tasks(registry, sign, keys, tid, tid2, rando):
    sigs = [sign(keys[0], tid), sign(keys[1], tid, ROOT2, 5), sign(keys[0], tid2, ROOT2, 7)]
    tx, recorded = relay(registry, sigs, rando)
    assert recorded == 3
    events = [
        (e["taskId"], e["annotator"], e["itemCount"], e["version"]) for e in tx.events["Attested"]
    ]
    assert events == [
        (tid, keys[0].address, 10, 1),
        (tid, keys[1].address, 5, 1),
        (tid2, keys[0].address, 7, 1),
    ]
    assert registry.isAttested(tid, keys[1].address, ROOT2, 5)
    assert registry.isAttested(tid2, keys[0].address, ROOT2, 7)


def test_versions_may_skip_and_attest_continues(registry, sign, tid, relayer, new_key):
    acct, key = new_key()
    registry.attestBySig([sign(key, tid, version=5).as_tuple()], {"from": relayer})
    assert registry.attestation(tid, acct)[1] == 5
    tx = registry.attest(tid, ROOT2, 3, {"from": acct})
    assert tx.events["Attested"]["version"] == 6


def test_two_versions_in_one_batch(registry, sign, keys, tid, relayer):
    v1, v2 = sign(keys[0], tid, ROOT, 1, 1), sign(keys[0], tid, ROOT2, 2, 2)
    registry.attestBySig([v1.as_tuple(), v2.as_tuple()], {"from": relayer})
    assert tuple(registry.attestation(tid, keys[0].address))[1] == 2
    assert registry.isAttested(tid, keys[0].address, ROOT2, 2)


def test_batch_of_100(registry, sign, tid, relayer):
    signers = [Account.create() for _ in range(100)]
    sigs = [sign(k, tid, ROOT, i + 1) for i, k in enumerate(signers)]
    tx, recorded = relay(registry, sigs, relayer)
    assert recorded == 100
    assert len(tx.events["Attested"]) == 100
    assert tx.gas_used < 30_000_000
    assert registry.isAttested(tid, signers[99].address, ROOT, 100)


# --------------------------------------------------------------------------------------------
# bad signatures: skipped, never recorded
# --------------------------------------------------------------------------------------------


def test_empty_batch(registry, relayer, reverts_with):
    """The only thing that reverts the call."""
    with reverts_with("EmptyBatch"):
        registry.attestBySig([], {"from": relayer})


def test_wrong_signer(registry, sign, keys, tid, relayer):
    """keys[1] signs an attestation claiming to be keys[0]'s."""
    forged = replace(sign(keys[1], tid), annotator=keys[0].address)
    tx, recorded = relay(registry, [forged], relayer)
    assert recorded == 0
    assert skipped(tx) == [(0, tid, keys[0].address, INVALID_SIGNATURE)]
    assert "Attested" not in tx.events
    assert registry.attestation(tid, keys[0].address)[1] == 0
    assert registry.attestation(tid, keys[1].address)[1] == 0
    assert registry.hasAttestations(tid) is False


def test_replay_on_another_task(registry, sign, keys, tid, tid2, relayer):
    sig = sign(keys[0], tid)
    relay(registry, [sig], relayer)
    tx, recorded = relay(registry, [replace(sig, task_id=tid2)], relayer)
    assert recorded == 0
    assert skipped(tx) == [(0, tid2, keys[0].address, INVALID_SIGNATURE)]
    assert registry.attestation(tid2, keys[0].address)[1] == 0


def test_signed_for_another_chain(registry, sign, keys, tid, relayer, chain):
    sig = sign(keys[0], tid, chain_id=chain.id + 1)
    tx, recorded = relay(registry, [sig], relayer)
    assert (recorded, skipped(tx)) == (0, [(0, tid, keys[0].address, INVALID_SIGNATURE)])


def test_signed_for_another_registry(registry, suite2of3, sign, keys, tasks2of3, relayer):
    """A signature for the 2-of-3 suite's registry (same task id) is skipped here, and
    accepted there."""
    other_tid = tasks2of3.create()
    sig = sign(keys[0], other_tid, verifying=suite2of3.registry.address)
    assert suite2of3.registry.address != registry.address
    tx, recorded = relay(registry, [sig], relayer)
    assert (recorded, skipped(tx)) == (0, [(0, other_tid, keys[0].address, INVALID_SIGNATURE)])
    tx, recorded = relay(suite2of3.registry, [sig], relayer)
    assert recorded == 1
    assert suite2of3.registry.isAttested(other_tid, keys[0].address, ROOT, 10)


@pytest.mark.parametrize(
    "field, value",
    [
        ("root", ROOT2),
        ("item_count", 11),
        ("version", 2),
        ("annotator", None),
    ],
)
def test_tampered_fields(registry, sign, keys, tid, relayer, field, value):
    sig = sign(keys[0], tid)
    if field == "annotator":
        value = keys[2].address
    tampered = replace(sig, **{field: value})
    tx, recorded = relay(registry, [tampered], relayer)
    assert recorded == 0
    assert skipped(tx) == [(0, tid, tampered.annotator, INVALID_SIGNATURE)]
    assert registry.attestation(tid, tampered.annotator)[1] == 0


def test_malleable_high_s(registry, sign, keys, tid, relayer):
    """The (r, n - s, v ^ 1) twin of a valid signature is refused (OZ ECDSA s <= n/2)."""
    sig = sign(keys[0], tid)
    s = int.from_bytes(sig.s, "big")
    twin = replace(sig, s=(SECP256K1_N - s).to_bytes(32, "big"), v=55 - sig.v)
    tx, recorded = relay(registry, [twin], relayer)
    assert (recorded, skipped(tx)) == (0, [(0, tid, keys[0].address, INVALID_SIGNATURE)])
    # the original still works afterwards
    tx, recorded = relay(registry, [sig], relayer)
    assert recorded == 1


def test_invalid_v(registry, sign, keys, tid, relayer):
    sig = replace(sign(keys[0], tid), v=29)
    tx, recorded = relay(registry, [sig], relayer)
    assert (recorded, skipped(tx)) == (0, [(0, tid, keys[0].address, INVALID_SIGNATURE)])


def test_zero_annotator_with_garbage_signature(registry, tid, relayer):
    tx = registry.attestBySig(
        [(tid, ZERO_ADDRESS, ROOT, 1, 1, 27, b"\x00" * 32, b"\x00" * 32)], {"from": relayer}
    )
    assert tx.return_value == 0
    assert skipped(tx) == [(0, tid, ZERO_ADDRESS, INVALID_SIGNATURE)]
    assert registry.attestation(tid, ZERO_ADDRESS)[1] == 0


def test_bad_entries_do_not_sink_the_batch(registry, sign, keys, tid, relayer, new_key):
    """Good entries around bad ones are recorded; each bad one is reported by its index."""
    extra, extra_key = new_key()
    good = [sign(keys[0], tid), sign(keys[1], tid, ROOT2, 4)]
    forged = replace(sign(keys[2], tid), root=ROOT2)
    empty = sign(extra_key, tid, root=b"\x00" * 32)
    tx, recorded = relay(registry, [good[0], forged, good[1], empty], relayer)
    assert recorded == 2
    assert skipped(tx) == [
        (1, tid, keys[2].address, INVALID_SIGNATURE),
        (3, tid, extra.address, EMPTY_ROOT),
    ]
    assert [(e["annotator"], e["itemCount"]) for e in tx.events["Attested"]] == [
        (keys[0].address, 10),
        (keys[1].address, 4),
    ]
    assert registry.isAttested(tid, keys[0].address, ROOT, 10)
    assert registry.isAttested(tid, keys[1].address, ROOT2, 4)
    assert registry.attestation(tid, keys[2].address)[1] == 0
    assert registry.attestation(tid, extra.address)[1] == 0
    assert registry.hasAttestations(tid) is True


def test_all_bad_batch_records_nothing(registry, sign, keys, tid, relayer):
    bad = [replace(sign(k, tid), item_count=99) for k in keys]
    tx, recorded = relay(registry, bad, relayer)
    assert recorded == 0
    assert skipped(tx) == [(i, tid, k.address, INVALID_SIGNATURE) for i, k in enumerate(keys)]
    assert registry.hasAttestations(tid) is False


# --------------------------------------------------------------------------------------------
# versions
# --------------------------------------------------------------------------------------------


def test_older_version_replayed_after_newer(registry, sign, keys, tid, relayer):
    a = keys[0].address
    v1, v2 = sign(keys[0], tid, ROOT, 1, 1), sign(keys[0], tid, ROOT2, 2, 2)
    relay(registry, [v1], relayer)
    relay(registry, [v2], relayer)
    tx, recorded = relay(registry, [v1], relayer)
    assert (recorded, skipped(tx)) == (0, [(0, tid, a, STALE_VERSION)])
    assert registry.isAttested(tid, a, ROOT2, 2)


def test_same_signature_twice(registry, sign, keys, tid, relayer):
    sig = sign(keys[0], tid)
    relay(registry, [sig], relayer)
    tx, recorded = relay(registry, [sig], relayer)
    assert (recorded, skipped(tx)) == (0, [(0, tid, keys[0].address, STALE_VERSION)])


def test_same_signature_twice_in_one_batch(registry, sign, keys, tid, relayer):
    sig = sign(keys[0], tid)
    tx, recorded = relay(registry, [sig, sig], relayer)
    assert recorded == 1
    assert skipped(tx) == [(1, tid, keys[0].address, STALE_VERSION)]


def test_newer_then_older_in_one_batch(registry, sign, keys, tid, relayer):
    """The newer one is recorded, the older one after it is stale."""
    v1, v2 = sign(keys[0], tid, ROOT, 1, 1), sign(keys[0], tid, ROOT2, 2, 2)
    tx, recorded = relay(registry, [v2, v1], relayer)
    assert recorded == 1
    assert skipped(tx) == [(1, tid, keys[0].address, STALE_VERSION)]
    assert registry.attestation(tid, keys[0].address)[1] == 2
    assert registry.isAttested(tid, keys[0].address, ROOT2, 2)


def test_version_zero(registry, sign, keys, tid, relayer):
    tx, recorded = relay(registry, [sign(keys[0], tid, version=0)], relayer)
    assert (recorded, skipped(tx)) == (0, [(0, tid, keys[0].address, STALE_VERSION)])
    assert registry.hasAttestations(tid) is False


def test_signature_after_direct_attest(registry, sign, tid, relayer, new_key):
    """An attestation signed at version 1 cannot override a direct attest (version 1)."""
    acct, key = new_key()
    registry.attest(tid, ROOT2, 2, {"from": acct})
    tx, recorded = relay(registry, [sign(key, tid)], relayer)
    assert (recorded, skipped(tx)) == (0, [(0, tid, acct.address, STALE_VERSION)])
    assert registry.isAttested(tid, acct, ROOT2, 2)
    tx, recorded = relay(registry, [sign(key, tid, version=2)], relayer)
    assert recorded == 1
    assert registry.isAttested(tid, acct, ROOT, 10)


# --------------------------------------------------------------------------------------------
# window and content, through signatures
# --------------------------------------------------------------------------------------------


def test_unknown_task(registry, sign, keys, relayer):
    tx, recorded = relay(registry, [sign(keys[0], 4242)], relayer)
    assert (recorded, skipped(tx)) == (0, [(0, 4242, keys[0].address, TASK_NOT_OPEN)])


def test_window_closed(registry, escrow, sign, keys, tid, relayer, pin_time):
    deadline = escrow.task(tid)["annotationDeadline"]
    sig = sign(keys[0], tid)
    pin_time(deadline + 1)
    tx, recorded = relay(registry, [sig], relayer)
    assert (recorded, skipped(tx)) == (0, [(0, tid, keys[0].address, WINDOW_CLOSED)])
    assert registry.attestation(tid, keys[0].address)[1] == 0


def test_window_closed_only_for_its_task(registry, sign, keys, tasks, tid, relayer, pin_time):
    """An entry for a closed task next to one for an open task: only the closed one is
    skipped."""
    late = tasks.create(annotation=3 * 86_400, reveal=4 * 86_400)
    deadline = tasks.task(tid)["annotationDeadline"]
    pin_time(deadline + 1)
    tx, recorded = relay(registry, [sign(keys[0], tid), sign(keys[0], late)], relayer)
    assert recorded == 1
    assert skipped(tx) == [(0, tid, keys[0].address, WINDOW_CLOSED)]
    assert registry.isAttested(late, keys[0].address, ROOT, 10)


def test_cancelled_task(registry, escrow, tasks, sign, keys, requester, relayer):
    t = tasks.create()
    escrow.cancelTask(t, {"from": requester})
    tx, recorded = relay(registry, [sign(keys[0], t)], relayer)
    assert (recorded, skipped(tx)) == (0, [(0, t, keys[0].address, TASK_NOT_OPEN)])


def test_empty_root_and_zero_items(registry, sign, keys, tid, relayer):
    tx, recorded = relay(
        registry,
        [sign(keys[0], tid, root=b"\x00" * 32), sign(keys[1], tid, count=0)],
        relayer,
    )
    assert recorded == 0
    assert skipped(tx) == [
        (0, tid, keys[0].address, EMPTY_ROOT),
        (1, tid, keys[1].address, ZERO_ITEMS),
    ]


def test_signature_is_checked_before_the_window(registry, sign, keys, relayer):
    forged = replace(sign(keys[1], 4242), annotator=keys[0].address)
    tx, recorded = relay(registry, [forged], relayer)
    assert (recorded, skipped(tx)) == (0, [(0, 4242, keys[0].address, INVALID_SIGNATURE)])


def test_reason_matches_the_direct_attest_error(registry, reverts_with, annotator):
    """The reported selectors are those of the registry's own errors (ABI)."""
    from brownie import AttestationRegistry

    errors = {
        item["name"]: "0x"
        + keccak(text=f"{item['name']}({','.join(i['type'] for i in item['inputs'])})")[:4].hex()
        for item in AttestationRegistry.abi
        if item["type"] == "error"
    }
    assert errors["InvalidSignature"] == INVALID_SIGNATURE
    assert errors["StaleVersion"] == STALE_VERSION
    assert errors["TaskNotOpen"] == TASK_NOT_OPEN
    assert errors["AnnotationWindowClosed"] == WINDOW_CLOSED
    assert errors["EmptyRoot"] == EMPTY_ROOT
    assert errors["ZeroItems"] == ZERO_ITEMS
    with reverts_with("TaskNotOpen", 4242):
        registry.attest(4242, ROOT, 1, {"from": annotator})
