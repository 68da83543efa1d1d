"""Python (labelproof.commitments) and the contracts agree on leaves, roots, proofs and EIP-712
digests; a signature made by ethers.js is accepted by the registry."""

import json
import subprocess
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from labelproof.commitments import (
    annotation_leaf,
    annotation_proof,
    annotation_root,
    attestation_typed_data,
    new_salt,
)
from tests.conftest import task_params

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def open_task(escrow, token, requester, chain):
    token.approve(escrow, 10**18, {"from": requester})
    return escrow.createTask(token, 10**18, task_params(chain), {"from": requester}).return_value


@settings(max_examples=25, deadline=None)
@given(
    task_id=st.integers(min_value=0, max_value=2**64),
    item=st.text(max_size=40),
    label=st.text(max_size=20),
    salt=st.binary(min_size=32, max_size=32),
)
def test_leaf_matches_the_contract(registry, annotator, chain, task_id, item, label, salt):
    ours = annotation_leaf(
        chain.id, registry.escrow(), task_id, item, annotator.address, label, salt
    )
    assert registry.annotationLeaf(task_id, item, annotator, label, salt) == "0x" + ours.hex()


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 101])
def test_every_label_proves_against_the_attested_root(registry, annotator, open_task, chain, n):
    labels = {f"item-{i}": ("yes", "no", "maybe")[i % 3] for i in range(n)}
    salts = {item: new_salt() for item in labels}
    leaves = {
        item: annotation_leaf(
            chain.id, registry.escrow(), open_task, item, annotator.address, label, salts[item]
        )
        for item, label in labels.items()
    }
    root = annotation_root(list(leaves.values()))
    registry.attest(open_task, root, n, {"from": annotator})
    for leaf in leaves.values():
        proof = annotation_proof(list(leaves.values()), leaf)
        assert registry.verifyAnnotation(open_task, annotator, root, n, leaf, proof)
    # a changed label is not under the root
    forged = annotation_leaf(
        chain.id,
        registry.escrow(),
        open_task,
        "item-0",
        annotator.address,
        "forged",
        salts["item-0"],
    )
    assert not registry.verifyAnnotation(
        open_task,
        annotator,
        root,
        n,
        forged,
        annotation_proof(list(leaves.values()), leaves["item-0"]),
    )
    # a wrong item count does not match the commitment
    leaf = leaves["item-0"]
    assert not registry.verifyAnnotation(
        open_task, annotator, root, n + 1, leaf, annotation_proof(list(leaves.values()), leaf)
    )


def test_eip712_digest_matches_the_contract(registry, chain):
    signer = Account.create()
    data = attestation_typed_data(
        chain.id, registry.address, 7, signer.address, b"\x42" * 32, 12, 3
    )
    message = encode_typed_data(full_message=data)
    # EIP-712 digest = keccak(0x19 || version || domain separator || struct hash)
    digest = keccak(b"\x19" + message.version + message.header + message.body)
    assert registry.hashAttestation(7, signer.address, b"\x42" * 32, 12, 3) == "0x" + digest.hex()


def test_ethers_signature_is_accepted(registry, open_task, relayer, chain):
    key = Account.create()
    root = "0x" + "ab" * 32
    payload = {
        "privateKey": "0x" + key.key.hex().removeprefix("0x"),
        "domain": {
            "name": "labelproof AttestationRegistry",
            "version": "1",
            "chainId": chain.id,
            "verifyingContract": registry.address,
        },
        "message": {
            "taskId": open_task,
            "annotator": key.address,
            "root": root,
            "itemCount": 9,
            "version": 1,
        },
    }
    out = subprocess.run(
        [
            "node",
            str(ROOT / "tests" / "python" / "js" / "sign_attestation.mjs"),
            json.dumps(payload),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    sig = json.loads(out.stdout)
    assert sig["address"] == key.address
    tx = registry.attestBySig(
        [(open_task, key.address, root, 9, 1, sig["v"], sig["r"], sig["s"])], {"from": relayer}
    )
    assert tx.events["Attested"]["annotator"] == key.address
    assert registry.isAttested(open_task, key.address, root, 9)
