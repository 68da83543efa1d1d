"""The batch transaction on the wire: ``attestBySig`` calldata out, its receipt's events in.

Both by hand, because web3's general paths cost the relayer more than intake does: encoding a
batch of 100 entries through ``ContractFunction`` took about 300 ms of CPU (``map_abi_data``
walks every field of every tuple through its normalisers), and fetching and decoding the
receipt's 100 events through ``get_transaction_receipt`` + ``process_receipt`` as much again.
The batcher shares the GIL with intake, so those milliseconds came out of intake's throughput.

The layouts are fixed by the ABI: ``attestBySig(SignedAttestation[])`` is a dynamic array of a
static 8-word tuple; ``Attested(uint256 indexed taskId, address indexed annotator, bytes32 root,
uint32 itemCount, uint32 version)`` and ``AttestationSkipped(uint256 indexed index, uint256
indexed taskId, address indexed annotator, bytes4 reason)``. tests/relayer/test_wire.py checks
both against web3's own encoding and decoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_typing import HexStr

from labelproof.relayer.intake import checksum_address, keccak
from labelproof.relayer.store import EntryRow

ATTEST_BY_SIG = keccak(
    b"attestBySig((uint256,address,bytes32,uint32,uint32,uint8,bytes32,bytes32)[])"
)[:4]
ATTESTED_TOPIC = keccak(b"Attested(uint256,address,bytes32,uint32,uint32)")
SKIPPED_TOPIC = keccak(b"AttestationSkipped(uint256,uint256,address,bytes4)")


def attest_by_sig_calldata(entries: Sequence[EntryRow]) -> HexStr:
    """``attestBySig(entries)`` calldata as 0x hex (what web3's ``_encode_transaction_data``
    gives for ``[e.as_tuple() for e in entries]``)."""
    words = [ATTEST_BY_SIG, (32).to_bytes(32, "big"), len(entries).to_bytes(32, "big")]
    for e in entries:
        sig = bytes.fromhex(e.signature[2:])
        words += [
            e.task_id.to_bytes(32, "big"),
            bytes(12) + bytes.fromhex(e.annotator[2:]),
            bytes.fromhex(e.root[2:]),
            e.item_count.to_bytes(32, "big"),
            e.version.to_bytes(32, "big"),
            sig[64].to_bytes(32, "big"),
            sig[:32],
            sig[32:64],
        ]
    return HexStr("0x" + b"".join(words).hex())


@dataclass(frozen=True)
class Log:
    address: str  # lower-case 0x hex
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True)
class Receipt:
    """The fields of a transaction receipt the relayer uses, from the node's JSON."""

    tx_hash: str  # 0x hex, lower case
    block: int
    block_hash: str  # 0x hex, lower case
    status: int
    gas_used: int
    logs: tuple[Log, ...]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Receipt:
        """Raises ValueError (KeyError, TypeError included) on a malformed receipt."""
        try:
            return cls(
                tx_hash=str(raw["transactionHash"]).lower(),
                block=int(raw["blockNumber"], 16),
                block_hash=str(raw["blockHash"]).lower(),
                status=int(raw["status"], 16),
                gas_used=int(raw["gasUsed"], 16),
                logs=tuple(
                    Log(
                        address=str(entry["address"]).lower(),
                        topics=tuple(bytes.fromhex(t[2:]) for t in entry["topics"]),
                        data=bytes.fromhex(entry["data"][2:]),
                    )
                    for entry in raw["logs"]
                ),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed receipt: {exc!r}") from None


def batch_outcomes(
    receipt: Receipt, registry: str
) -> tuple[dict[int, bytes], set[tuple[int, str, int, str]]]:
    """From the registry's events in ``receipt``: the skipped entries (batch index -> the
    4-byte error selector) and the recorded attestations as (task id, checksummed annotator,
    version, 0x root)."""
    registry = registry.lower()
    skipped: dict[int, bytes] = {}
    recorded: set[tuple[int, str, int, str]] = set()
    for entry in receipt.logs:
        if entry.address != registry or not entry.topics:
            continue
        topic = entry.topics[0]
        if topic == SKIPPED_TOPIC and len(entry.topics) == 4 and len(entry.data) == 32:
            skipped[int.from_bytes(entry.topics[1], "big")] = entry.data[:4]
        elif topic == ATTESTED_TOPIC and len(entry.topics) == 3 and len(entry.data) == 96:
            recorded.add(
                (
                    int.from_bytes(entry.topics[1], "big"),
                    checksum_address(entry.topics[2][12:]),
                    int.from_bytes(entry.data[64:96], "big"),
                    "0x" + entry.data[:32].hex(),
                )
            )
    return skipped, recorded
