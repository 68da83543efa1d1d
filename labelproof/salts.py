"""Salts derived from a wallet signature, so that the same wallet re-creates them anywhere.

The annotator signs (EIP-191 ``personal_sign``) a fixed text that names the chain, the
registry, the escrow, the task and the annotator; the salts follow from that signature:

    seed   = keccak256(signature)                      (the 65 bytes r ‖ s ‖ v)
    salt_i = keccak256(seed ‖ keccak256(item_i))       (64 bytes hashed: abi.encodePacked)

Wallets sign with deterministic ECDSA (RFC 6979: eth-account, MetaMask, hardware wallets), so
the same wallet gives the same signature, hence the same salts, on any device: a wiped browser
or a lost laptop loses no commitment. The text is domain-separated (its first line, the chain,
the contracts and the task), so a signature asked for elsewhere cannot stand in for it, and the
seed of one task says nothing about another's. Anyone holding the signature can compute the
salts and so learn the labels before the reveal: the text says so, and the app keeps it only in
memory. The web app (labelproof/app/src/commitments.mjs) derives exactly the same bytes.
"""

from __future__ import annotations

from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from labelproof.commitments import item_key

SALT_MESSAGE_FORMAT = "labelproof salt seed v1"


def salt_message(chain_id: int, registry: str, escrow: str, task_id: int, annotator: str) -> str:
    """The exact text the wallet signs (personal_sign) to derive a task's salts."""
    return (
        f"{SALT_MESSAGE_FORMAT}\n"
        f"chain: {chain_id}\n"
        f"registry: {to_checksum_address(registry)}\n"
        f"escrow: {to_checksum_address(escrow)}\n"
        f"task: {task_id}\n"
        f"annotator: {to_checksum_address(annotator)}\n"
        "Signing derives the secret salts of your labels for this task. Anyone holding this "
        "signature can read your labels before the reveal: sign it only in a labelproof app."
    )


def seed_from_signature(signature: bytes) -> bytes:
    if len(signature) != 65:
        raise ValueError(f"a wallet signature is 65 bytes, got {len(signature)}")
    return keccak(signature)


def derive_salt(seed: bytes, item: str) -> bytes:
    if len(seed) != 32:
        raise ValueError(f"a salt seed is 32 bytes, got {len(seed)}")
    return keccak(seed + item_key(item))


def derive_salts(seed: bytes, items: list[str] | set[str] | dict[str, str]) -> dict[str, bytes]:
    return {item: derive_salt(seed, item) for item in items}


def sign_salt_message(
    account: LocalAccount, chain_id: int, registry: str, escrow: str, task_id: int
) -> bytes:
    """What a wallet's personal_sign returns for the task's salt message (65 bytes)."""
    text = salt_message(chain_id, registry, escrow, task_id, account.address)
    return bytes(account.sign_message(encode_defunct(text=text)).signature)


def wallet_seed(
    account: LocalAccount, chain_id: int, registry: str, escrow: str, task_id: int
) -> bytes:
    return seed_from_signature(sign_salt_message(account, chain_id, registry, escrow, task_id))
