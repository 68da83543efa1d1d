"""The written-out leaf encoding (labelproof.commitments) equals eth_abi's abi.encode, which is
what AttestationRegistry hashes; tests/contracts/test_commitments_parity.py checks the chain."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from labelproof.commitments import annotation_leaf, annotation_leaves, item_key, label_hash

addresses = st.binary(min_size=20, max_size=20).map(lambda b: to_checksum_address(b))
texts = st.text(min_size=0, max_size=80)


@settings(max_examples=300, deadline=None)
@given(
    chain_id=st.integers(0, 2**256 - 1),
    escrow=addresses,
    task_id=st.integers(0, 2**256 - 1),
    item=texts,
    annotator=addresses,
    label=texts,
    salt=st.binary(min_size=32, max_size=32),
)
def test_leaf_matches_abi_encode(
    chain_id: int, escrow: str, task_id: int, item: str, annotator: str, label: str, salt: bytes
) -> None:
    expected_label = keccak(encode(["string", "bytes32"], [label, salt]))
    assert label_hash(label, salt) == expected_label
    assert item_key(item) == keccak(text=item)
    expected = keccak(
        encode(
            ["uint256", "address", "uint256", "bytes32", "address", "bytes32"],
            [chain_id, escrow, task_id, keccak(text=item), annotator, expected_label],
        )
    )
    assert annotation_leaf(chain_id, escrow, task_id, item, annotator, label, salt) == expected
    # lower-case addresses are the same address
    lower = annotation_leaf(chain_id, escrow.lower(), task_id, item, annotator.lower(), label, salt)
    assert lower == expected
    leaves = annotation_leaves(chain_id, escrow, task_id, annotator, [(item, label, salt)] * 2)
    assert leaves == [expected, expected]
