"""Sponsored claims: the relayer submits an annotator's claim and pays its gas.

``claim(taskId, account, amount, proof)`` pays the leaf's ``account`` whoever sends it, so a
sponsor needs no signature from the annotator: the worst a caller can do is make the relayer
pay gas for a claim that was owed anyway. Every request is simulated first, so a bad proof, a
double claim or a closed window is refused (409/422) without spending gas.

Mounted on the relayer's app (``mount_sponsor``): one annotator's claim per request, sent at
once. A sponsor paying many annotators of one task uses the escrow's ``claimBatch`` instead
(labelproof.sponsor, ``labelproof claim-batch``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from eth_utils import is_address, to_checksum_address
from fastapi import Body, FastAPI
from pydantic import BaseModel, ConfigDict, Field

from labelproof.client import ActionError, Signer, TxPending, TxRejected, TxReverted
from labelproof.relayer.intake import RelayError

if TYPE_CHECKING:
    from labelproof.relayer import Relay


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    task_id: int = Field(ge=1)
    account: str
    amount: str = Field(description="the leaf's amount, a decimal string")
    proof: list[str]


class Sponsor:
    """Sends claims from the relayer's own account. Its batches persist their nonces
    (labelproof.relayer.service), so a claim is sent only while holding the relayer's nonce
    lock: it never takes the nonce of a batch being signed or broadcast."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.signer = Signer(relay.w3, relay.account)

    def send(self, body: ClaimIn) -> dict[str, Any]:
        if not is_address(body.account):
            raise RelayError(422, f"account {body.account!r} is not an address")
        account = to_checksum_address(body.account)
        if not body.amount.isdigit():
            raise RelayError(422, f"amount {body.amount!r} is not a decimal integer")
        try:
            proof = [bytes.fromhex(p.removeprefix("0x")) for p in body.proof]
        except ValueError:
            raise RelayError(422, "proof: every element must be 32 bytes of hex") from None
        if any(len(p) != 32 for p in proof):
            raise RelayError(422, "proof: every element must be 32 bytes of hex")
        escrow = self.relay.chain.escrow
        if escrow.functions.isClaimed(body.task_id, account).call():
            raise RelayError(409, f"task {body.task_id}: {account} has already claimed")
        fn = escrow.functions.claim(body.task_id, account, int(body.amount), proof)
        with self.relay.nonce_lock:
            try:
                receipt = self.signer.send(fn, "claim")
            except TxRejected as exc:
                raise RelayError(409, str(exc)) from None
            except (TxReverted, TxPending, ActionError) as exc:
                raise RelayError(502, str(exc)) from None
        return {
            "task_id": body.task_id,
            "account": account,
            "amount": body.amount,
            "tx_hash": "0x" + bytes(receipt["transactionHash"]).hex(),
            "sponsor": self.signer.address,
        }


def mount_sponsor(app: FastAPI, relay: Relay) -> None:
    sponsor = Sponsor(relay)

    @app.post("/claims", summary="submit a payout claim for its account (the relayer pays gas)")
    def post_claim(body: Annotated[ClaimIn, Body()]) -> dict[str, Any]:
        return sponsor.send(body)
