"""Checking one signed attestation off chain: its fields, its EIP-712 digest and its signer.

Pure functions, no chain access: the digest is computed from a precomputed domain separator
(the same bytes as ``eth_account``'s ``encode_typed_data``, about twenty times faster), so
intake spends its time on the signature recovery and the database, not on encoding.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_keys import keys
from eth_keys.exceptions import BadSignature
from eth_utils import is_address, keccak, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field

from labelproof.commitments import (
    ATTESTATION_TYPES,
    EIP712_DOMAIN_TYPE,
    REGISTRY_DOMAIN_NAME,
    REGISTRY_DOMAIN_VERSION,
)

SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


class AttestationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    task_id: int = Field(ge=1, lt=2**256)
    annotator: str = Field(max_length=64)
    root: str = Field(description="0x followed by 64 hex digits", max_length=80)
    item_count: int = Field(ge=1, lt=2**32)
    version: int = Field(ge=1, lt=2**32)
    signature: str = Field(description="0x followed by 130 hex digits (r, s, v)", max_length=140)


class RelayError(Exception):
    """A refusal: an HTTP status, a sentence, and for 429/503 the seconds to wait."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class Checked:
    """An attestation whose signature recovers to its annotator."""

    digest: str  # 0x + 64 hex: the EIP-712 digest, the entry's key
    task_id: int
    annotator: str  # checksummed
    root: str  # 0x + 64 hex, lower case
    item_count: int
    version: int
    signature: str  # 0x + 130 hex, v normalised to 27/28


def _type_string(name: str, fields: list[dict[str, str]]) -> bytes:
    return f"{name}({','.join(f['type'] + ' ' + f['name'] for f in fields)})".encode()


ATTESTATION_TYPEHASH = keccak(_type_string("Attestation", ATTESTATION_TYPES["Attestation"]))
DOMAIN_TYPEHASH = keccak(_type_string("EIP712Domain", EIP712_DOMAIN_TYPE))


def domain_separator(chain_id: int, registry: str) -> bytes:
    return keccak(
        DOMAIN_TYPEHASH
        + keccak(text=REGISTRY_DOMAIN_NAME)
        + keccak(text=REGISTRY_DOMAIN_VERSION)
        + chain_id.to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(to_checksum_address(registry)[2:])
    )


def attestation_digest(
    separator: bytes, task_id: int, annotator: str, root: bytes, item_count: int, version: int
) -> bytes:
    struct = keccak(
        ATTESTATION_TYPEHASH
        + task_id.to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(annotator[2:])
        + root
        + item_count.to_bytes(32, "big")
        + version.to_bytes(32, "big")
    )
    return keccak(b"\x19\x01" + separator + struct)


def _hex_bytes(value: str, size: int, what: str) -> bytes:
    text = value[2:] if value.startswith("0x") else ""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise RelayError(422, f"{what} must be 0x followed by {2 * size} hex digits")
    return raw


def check_signature(body: AttestationIn, separator: bytes) -> Checked:
    """The attestation with its digest, or RelayError(422) saying what is wrong with it."""
    if not is_address(body.annotator):
        raise RelayError(422, f"annotator {body.annotator!r} is not an address")
    annotator = to_checksum_address(body.annotator)
    root = _hex_bytes(body.root, 32, "root")
    if root == bytes(32):
        raise RelayError(422, "root must not be zero")
    sig = _hex_bytes(body.signature, 65, "signature")
    r, s, v = sig[:32], sig[32:64], sig[64]
    if v < 27:
        v += 27
    if v not in (27, 28):
        raise RelayError(422, f"signature v must be 27 or 28, got {sig[64]}")
    s_value = int.from_bytes(s, "big")
    if s_value > SECP256K1_HALF_N:
        raise RelayError(422, "signature s is in the upper half of the curve order (malleable)")
    r_value = int.from_bytes(r, "big")
    digest = attestation_digest(
        separator, body.task_id, annotator, root, body.item_count, body.version
    )
    try:
        signer = keys.Signature(vrs=(v - 27, r_value, s_value)).recover_public_key_from_msg_hash(
            digest
        )
        recovered = signer.to_checksum_address()
    except (BadSignature, ValueError):
        raise RelayError(422, "the signature does not recover to any address") from None
    if recovered != annotator:
        raise RelayError(
            422,
            f"the signature is by {recovered}, not the annotator {annotator} (signed over "
            f"another message, chain or registry?)",
        )
    return Checked(
        digest="0x" + digest.hex(),
        task_id=body.task_id,
        annotator=annotator,
        root="0x" + root.hex(),
        item_count=body.item_count,
        version=body.version,
        signature="0x" + (r + s + bytes([v])).hex(),
    )
