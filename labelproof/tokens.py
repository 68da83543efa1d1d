"""ERC-20 helpers: ERC-2612 permits signed with eth-account."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

from labelproof.commitments import EIP712_DOMAIN_TYPE


def sign_permit(
    private_key: bytes | str,
    token: Any,
    spender: str,
    value: int,
    deadline: int,
) -> tuple[int, bytes, bytes]:
    """Sign an ERC-2612 permit for `token` (a web3 contract) and return (v, r, s)."""
    owner = Account.from_key(private_key)
    w3 = token.w3
    data = {
        "types": {
            "EIP712Domain": EIP712_DOMAIN_TYPE,
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {
            "name": token.functions.name().call(),
            "version": "1",
            "chainId": w3.eth.chain_id,
            "verifyingContract": token.address,
        },
        "message": {
            "owner": owner.address,
            "spender": spender,
            "value": value,
            "nonce": token.functions.nonces(owner.address).call(),
            "deadline": deadline,
        },
    }
    signed = owner.sign_message(encode_typed_data(full_message=data))
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")
