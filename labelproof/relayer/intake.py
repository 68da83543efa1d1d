"""Checking one signed attestation off chain: its fields, its EIP-712 digest and its signer.

Pure functions, no chain access, on the intake's hot path (about 40 µs an attestation):

* the digest is computed from a precomputed domain separator (the same bytes as
  ``eth_account``'s ``encode_typed_data``, about twenty times faster);
* keccak256 is pysha3's C function, not eth_hash's pycryptodome backend (ctypes, about 8 µs a
  hash against 1 µs);
* the signer is recovered by libsecp256k1 through coincurve directly (what eth_keys' coincurve
  backend calls, without its objects), and compared as 20 bytes; only an address that goes
  into an answer is checksummed.

The rules are the registry's ``attestBySig`` (and OpenZeppelin's ``ECDSA.tryRecover``): v is 27
or 28 (0 and 1 are taken as 27 and 28 and stored normalised), s in the lower half of the curve
order, r and s that recover a key, and that key's address is the annotator's.
"""

from __future__ import annotations

from dataclasses import dataclass

from coincurve import PublicKey
from eth_utils import is_address
from pydantic import BaseModel, ConfigDict, Field
from sha3 import keccak_256

from labelproof.commitments import (
    ATTESTATION_TYPES,
    EIP712_DOMAIN_TYPE,
    REGISTRY_DOMAIN_NAME,
    REGISTRY_DOMAIN_VERSION,
)
from labelproof.merkle import checksum_lower_hex

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


def keccak(data: bytes) -> bytes:
    return bytes(keccak_256(data).digest())


def checksum_address(raw: bytes) -> str:
    """EIP-55 of 20 address bytes (``eth_utils.to_checksum_address``'s answer, a tenth of its
    time)."""
    return checksum_lower_hex(raw.hex().encode("ascii"))


def address_bytes(text: str) -> bytes | None:
    """The 20 bytes of an address in any form eth_utils accepts (40 hex digits, 0x-prefixed or
    not, any case), or None."""
    if not is_address(text):
        return None
    return bytes.fromhex(text[-40:])


def _type_string(name: str, fields: list[dict[str, str]]) -> bytes:
    return f"{name}({','.join(f['type'] + ' ' + f['name'] for f in fields)})".encode()


ATTESTATION_TYPEHASH = keccak(_type_string("Attestation", ATTESTATION_TYPES["Attestation"]))
DOMAIN_TYPEHASH = keccak(_type_string("EIP712Domain", EIP712_DOMAIN_TYPE))


def domain_separator(chain_id: int, registry: str) -> bytes:
    return keccak(
        DOMAIN_TYPEHASH
        + keccak(REGISTRY_DOMAIN_NAME.encode())
        + keccak(REGISTRY_DOMAIN_VERSION.encode())
        + chain_id.to_bytes(32, "big")
        + bytes(12)
        + _registry_bytes(registry)
    )


def _registry_bytes(registry: str) -> bytes:
    raw = address_bytes(registry)
    if raw is None:
        raise ValueError(f"registry {registry!r} is not an address")
    return raw


def attestation_digest(
    separator: bytes,
    task_id: int,
    annotator: str | bytes,
    root: bytes,
    item_count: int,
    version: int,
) -> bytes:
    """The EIP-712 digest the annotator signs (``annotator`` as 0x hex or its 20 bytes)."""
    owner = annotator if isinstance(annotator, bytes) else bytes.fromhex(annotator[2:])
    struct = keccak(
        ATTESTATION_TYPEHASH
        + task_id.to_bytes(32, "big")
        + bytes(12)
        + owner
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


def recover_address(digest: bytes, r: bytes, s: bytes, recovery_id: int) -> bytes | None:
    """The 20-byte address whose key signed ``digest`` as (r, s, recovery id 0/1), or None if
    the signature recovers no key (r or s zero or not below the curve order, no such point)."""
    try:
        key = PublicKey.from_signature_and_message(
            r + s + bytes([recovery_id]), digest, hasher=None
        )
    except ValueError:
        return None
    return keccak(key.format(compressed=False)[1:])[12:]


def check_signature(body: AttestationIn, separator: bytes) -> Checked:
    """The attestation with its digest, or RelayError(422) saying what is wrong with it."""
    owner = address_bytes(body.annotator)
    if owner is None:
        raise RelayError(422, f"annotator {body.annotator!r} is not an address")
    annotator = checksum_address(owner)
    root = _hex_bytes(body.root, 32, "root")
    if root == bytes(32):
        raise RelayError(422, "root must not be zero")
    sig = _hex_bytes(body.signature, 65, "signature")
    r, s, v = sig[:32], sig[32:64], sig[64]
    if v < 27:
        v += 27
    if v not in (27, 28):
        raise RelayError(422, f"signature v must be 27 or 28, got {sig[64]}")
    if int.from_bytes(s, "big") > SECP256K1_HALF_N:
        raise RelayError(422, "signature s is in the upper half of the curve order (malleable)")
    digest = attestation_digest(separator, body.task_id, owner, root, body.item_count, body.version)
    recovered = recover_address(digest, r, s, v - 27)
    if recovered is None:
        raise RelayError(422, "the signature does not recover to any address")
    if recovered != owner:
        raise RelayError(
            422,
            f"the signature is by {checksum_address(recovered)}, not the annotator {annotator} "
            "(signed over another message, chain or registry?)",
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
