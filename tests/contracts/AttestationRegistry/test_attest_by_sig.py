"""AttestationRegistry.attestBySig: relayed EIP-712 attestations signed with real keys
(labelproof.commitments.sign_attestation)."""

from dataclasses import replace

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data

from labelproof.commitments import attestation_typed_data, sign_attestation

ROOT = b"\x11" * 32
ROOT2 = b"\x22" * 32
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


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
    tx = registry.attestBySig([sig.as_tuple()], {"from": relayer})
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
    tx = registry.attestBySig([s.as_tuple() for s in sigs], {"from": rando})
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
    tx = registry.attestBySig([s.as_tuple() for s in sigs], {"from": relayer})
    assert len(tx.events["Attested"]) == 100
    assert tx.gas_used < 30_000_000
    assert registry.isAttested(tid, signers[99].address, ROOT, 100)


# --------------------------------------------------------------------------------------------
# bad signatures
# --------------------------------------------------------------------------------------------


def test_empty_batch(registry, relayer, reverts_with):
    with reverts_with("EmptyBatch"):
        registry.attestBySig([], {"from": relayer})


def test_wrong_signer(registry, sign, keys, tid, relayer, reverts_with):
    """keys[1] signs an attestation claiming to be keys[0]'s."""
    forged = replace(sign(keys[1], tid), annotator=keys[0].address)
    with reverts_with("InvalidSignature", 0, keys[0].address):
        registry.attestBySig([forged.as_tuple()], {"from": relayer})


def test_replay_on_another_task(registry, sign, keys, tid, tid2, relayer, reverts_with):
    sig = sign(keys[0], tid)
    registry.attestBySig([sig.as_tuple()], {"from": relayer})
    replayed = replace(sig, task_id=tid2)
    with reverts_with("InvalidSignature", 0, keys[0].address):
        registry.attestBySig([replayed.as_tuple()], {"from": relayer})
    assert registry.attestation(tid2, keys[0].address)[1] == 0


def test_signed_for_another_chain(registry, sign, keys, tid, relayer, chain, reverts_with):
    sig = sign(keys[0], tid, chain_id=chain.id + 1)
    with reverts_with("InvalidSignature", 0, keys[0].address):
        registry.attestBySig([sig.as_tuple()], {"from": relayer})


def test_signed_for_another_registry(
    registry, suite2of3, sign, keys, tasks2of3, relayer, reverts_with
):
    """A signature for the 2-of-3 suite's registry (same task id) is refused here, and
    accepted there."""
    other_tid = tasks2of3.create()
    sig = sign(keys[0], other_tid, verifying=suite2of3.registry.address)
    assert suite2of3.registry.address != registry.address
    with reverts_with("InvalidSignature", 0, keys[0].address):
        registry.attestBySig([sig.as_tuple()], {"from": relayer})
    suite2of3.registry.attestBySig([sig.as_tuple()], {"from": relayer})
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
def test_tampered_fields(registry, sign, keys, tid, relayer, reverts_with, field, value):
    sig = sign(keys[0], tid)
    if field == "annotator":
        value = keys[2].address
    tampered = replace(sig, **{field: value})
    with reverts_with("InvalidSignature", 0, tampered.annotator):
        registry.attestBySig([tampered.as_tuple()], {"from": relayer})


def test_malleable_high_s(registry, sign, keys, tid, relayer, reverts_with):
    """The (r, n - s, v ^ 1) twin of a valid signature is refused (OZ ECDSA s <= n/2)."""
    sig = sign(keys[0], tid)
    s = int.from_bytes(sig.s, "big")
    twin = replace(sig, s=(SECP256K1_N - s).to_bytes(32, "big"), v=55 - sig.v)
    with reverts_with("InvalidSignature", 0, keys[0].address):
        registry.attestBySig([twin.as_tuple()], {"from": relayer})


def test_invalid_v(registry, sign, keys, tid, relayer, reverts_with):
    sig = replace(sign(keys[0], tid), v=29)
    with reverts_with("InvalidSignature", 0, keys[0].address):
        registry.attestBySig([sig.as_tuple()], {"from": relayer})


def test_zero_annotator_with_garbage_signature(registry, tid, relayer, reverts_with):
    zero = "0x" + "00" * 20
    with reverts_with("InvalidSignature", 0, zero):
        registry.attestBySig(
            [(tid, zero, ROOT, 1, 1, 27, b"\x00" * 32, b"\x00" * 32)], {"from": relayer}
        )


def test_batch_is_all_or_nothing_with_failing_index(
    registry, sign, keys, tid, relayer, reverts_with
):
    good = [sign(keys[0], tid), sign(keys[1], tid)]
    bad = replace(sign(keys[2], tid), root=ROOT2)
    with reverts_with("InvalidSignature", 2, keys[2].address):
        registry.attestBySig([*(g.as_tuple() for g in good), bad.as_tuple()], {"from": relayer})
    with reverts_with("InvalidSignature", 1, keys[2].address):
        registry.attestBySig(
            [good[0].as_tuple(), bad.as_tuple(), good[1].as_tuple()], {"from": relayer}
        )
    for k in keys:
        assert registry.attestation(tid, k.address)[1] == 0
    assert registry.hasAttestations(tid) is False


# --------------------------------------------------------------------------------------------
# versions
# --------------------------------------------------------------------------------------------


def test_older_version_replayed_after_newer(registry, sign, keys, tid, relayer, reverts_with):
    a = keys[0].address
    v1, v2 = sign(keys[0], tid, ROOT, 1, 1), sign(keys[0], tid, ROOT2, 2, 2)
    registry.attestBySig([v1.as_tuple()], {"from": relayer})
    registry.attestBySig([v2.as_tuple()], {"from": relayer})
    with reverts_with("StaleVersion", tid, a, 1, 2):
        registry.attestBySig([v1.as_tuple()], {"from": relayer})
    assert registry.isAttested(tid, a, ROOT2, 2)


def test_same_signature_twice(registry, sign, keys, tid, relayer, reverts_with):
    sig = sign(keys[0], tid)
    registry.attestBySig([sig.as_tuple()], {"from": relayer})
    with reverts_with("StaleVersion", tid, keys[0].address, 1, 1):
        registry.attestBySig([sig.as_tuple()], {"from": relayer})


def test_newer_then_older_in_one_batch(registry, sign, keys, tid, relayer, reverts_with):
    v1, v2 = sign(keys[0], tid, ROOT, 1, 1), sign(keys[0], tid, ROOT2, 2, 2)
    with reverts_with("StaleVersion", tid, keys[0].address, 1, 2):
        registry.attestBySig([v2.as_tuple(), v1.as_tuple()], {"from": relayer})
    assert registry.attestation(tid, keys[0].address)[1] == 0


def test_version_zero(registry, sign, keys, tid, relayer, reverts_with):
    with reverts_with("StaleVersion", tid, keys[0].address, 0, 0):
        registry.attestBySig([sign(keys[0], tid, version=0).as_tuple()], {"from": relayer})


def test_signature_after_direct_attest(registry, sign, tid, relayer, new_key, reverts_with):
    """An attestation signed at version 1 cannot override a direct attest (version 1)."""
    acct, key = new_key()
    registry.attest(tid, ROOT2, 2, {"from": acct})
    with reverts_with("StaleVersion", tid, acct, 1, 1):
        registry.attestBySig([sign(key, tid).as_tuple()], {"from": relayer})
    registry.attestBySig([sign(key, tid, version=2).as_tuple()], {"from": relayer})
    assert registry.isAttested(tid, acct, ROOT, 10)


# --------------------------------------------------------------------------------------------
# window and content, through signatures
# --------------------------------------------------------------------------------------------


def test_unknown_task(registry, sign, keys, relayer, reverts_with):
    with reverts_with("TaskNotOpen", 4242):
        registry.attestBySig([sign(keys[0], 4242).as_tuple()], {"from": relayer})


def test_window_closed(registry, escrow, sign, keys, tid, relayer, pin_time, reverts_with):
    deadline = escrow.task(tid)["annotationDeadline"]
    sig = sign(keys[0], tid)
    pin_time(deadline + 1)
    with reverts_with("AnnotationWindowClosed", tid, deadline):
        registry.attestBySig([sig.as_tuple()], {"from": relayer})


def test_cancelled_task(registry, escrow, tasks, sign, keys, requester, relayer, reverts_with):
    t = tasks.create()
    escrow.cancelTask(t, {"from": requester})
    with reverts_with("TaskNotOpen", t):
        registry.attestBySig([sign(keys[0], t).as_tuple()], {"from": relayer})


def test_empty_root_and_zero_items(registry, sign, keys, tid, relayer, reverts_with):
    with reverts_with("EmptyRoot"):
        registry.attestBySig([sign(keys[0], tid, root=b"\x00" * 32).as_tuple()], {"from": relayer})
    with reverts_with("ZeroItems"):
        registry.attestBySig([sign(keys[0], tid, count=0).as_tuple()], {"from": relayer})


def test_signature_is_checked_before_the_window(registry, sign, keys, relayer, reverts_with):
    forged = replace(sign(keys[1], 4242), annotator=keys[0].address)
    with reverts_with("InvalidSignature", 0, keys[0].address):
        registry.attestBySig([forged.as_tuple()], {"from": relayer})
