"""Sponsored claims: a sponsor (a relayer, the requester, anyone with ETH) pays the gas to pay
many annotators of one task, in batches of one ``TaskEscrow.claimBatch`` transaction each.

No annotator signs anything: every leaf's tokens go to the leaf's account whoever sends the
transaction. The sponsor needs the task's payout tree (the oracle publishes it at
``GET /tasks/{id}/tree``); nothing in it is trusted: its root must be the task's on-chain payout
root, or nothing is sent. Leaves are batched in tree order (neighbours share most of their
multiproof) and an account that claims by itself while a batch is in flight is skipped by the
contract (``ClaimSkipped``) rather than sinking the batch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from web3.logs import DISCARD

from labelproof.client import ActionError, Chain, Say, Service, ServiceRefused
from labelproof.merkle import MerkleError, StandardMerkleTree, to_checksum_address
from labelproof.multiproof import batches_in_tree_order, multiproof

__all__ = ["DEFAULT_BATCH", "SponsoredClaims", "fetch_payout_tree", "sponsor_claims"]

# 100 recipients of a fresh 1,024-leaf tree take about 5.4 M gas: well inside a 30 M block.
DEFAULT_BATCH = 100
ZERO_ADDRESS = "0x" + "00" * 20


def _quiet(_: str) -> None:
    pass


@dataclass
class SponsoredClaims:
    """What :func:`sponsor_claims` did: ``paid`` and ``skipped`` as (account, amount)."""

    task_id: int
    paid: list[tuple[str, int]] = field(default_factory=list)
    # already claimed: found so before sending, or reported by the contract (ClaimSkipped)
    skipped: list[tuple[str, int]] = field(default_factory=list)
    transactions: list[str] = field(default_factory=list)
    gas_used: int = 0


def fetch_payout_tree(oracle: Service, task_id: int) -> StandardMerkleTree:
    """The task's payout tree as the oracle publishes it (validated, not yet checked against
    the chain: :func:`sponsor_claims` does that)."""
    try:
        _, body = oracle.request("GET", f"/tasks/{task_id}/tree")
    except ServiceRefused as exc:
        if exc.status == 404:
            raise ActionError(f"the oracle has no payout tree for task {task_id}") from None
        raise
    try:
        return StandardMerkleTree.load(body)
    except MerkleError as exc:
        raise ActionError(
            f"the oracle's payout tree for task {task_id} is invalid: {exc}"
        ) from None


def load_tree_file(path: str) -> StandardMerkleTree:
    """A payout tree from a standard-v1 dump file."""
    try:
        with open(path, encoding="utf-8") as handle:
            return StandardMerkleTree.load(json.load(handle))
    except OSError as exc:
        raise ActionError(f"{path}: cannot read the payout tree: {exc}") from None
    except (ValueError, MerkleError) as exc:
        raise ActionError(f"{path}: not a payout tree (standard-v1 dump): {exc}") from None


def sponsor_claims(
    chain: Chain,
    sponsor: LocalAccount | str,
    task_id: int,
    tree: StandardMerkleTree,
    accounts: Sequence[str] | None = None,
    *,
    batch_size: int = DEFAULT_BATCH,
    say: Say = _quiet,
) -> SponsoredClaims:
    """Pay `accounts` (default: every unclaimed leaf with a non-zero amount) of task `task_id`
    from `sponsor`'s gas, in claimBatch transactions of at most `batch_size` leaves.

    Raises ActionError before sending anything if the escrow is paused, the task is not final
    or its claim period is over, the tree is not the task's payout tree, or an account has no
    leaf in it. Accounts that already claimed are reported in ``skipped`` and not sent.
    """
    if batch_size < 1:
        raise ActionError(f"batch size must be at least 1, got {batch_size}")
    view = chain.task(task_id)
    if view.status != "final":
        raise ActionError(f"task {task_id} is {view.status}: claims open when its payout is final")
    if "0x" + view.payout_root.hex() != tree.root.lower():
        raise ActionError(
            f"this tree's root {tree.root} is not task {task_id}'s payout root "
            f"0x{view.payout_root.hex()}: wrong task, or a tree the oracle did not post"
        )
    if chain.now() > view.claim_deadline:
        raise ActionError(f"task {task_id}'s claim period is over")
    if chain.paused():
        raise ActionError(
            "the escrow is paused by its guardian: claims resume when the pause ends; paused "
            "time is added to every claim deadline, so no claim expires meanwhile"
        )
    index = {str(value[0]).lower(): i for i, value in tree.entries()}
    if accounts is None:
        wanted = [
            i
            for i, value in tree.entries()
            if int(value[1]) > 0 and str(value[0]).lower() != ZERO_ADDRESS
        ]
    else:
        wanted = []
        for account in accounts:
            try:
                key = to_checksum_address(account).lower()
            except MerkleError as exc:
                raise ActionError(str(exc)) from None
            if key not in index:
                raise ActionError(f"{account} has no leaf in task {task_id}'s payout tree")
            wanted.append(index[key])
        wanted = list(dict.fromkeys(wanted))
    result = SponsoredClaims(task_id)
    say(f"checking which of {len(wanted)} leaves are still unclaimed")
    unclaimed = []
    for i in wanted:
        value = tree.at(i)
        assert value is not None  # i comes from the tree's own entries
        account, amount = str(value[0]), int(value[1])
        if chain.escrow.functions.isClaimed(task_id, account).call():
            result.skipped.append((account, amount))
        else:
            unclaimed.append(i)
    signer = chain.signer(sponsor)
    batches = batches_in_tree_order(tree, unclaimed, batch_size)
    for n, batch in enumerate(batches, 1):
        mp = multiproof(tree, batch)
        fn = chain.escrow.functions.claimBatch(
            task_id,
            [str(v[0]) for v in mp.values],
            [int(v[1]) for v in mp.values],
            mp.proof,
            mp.proof_flags,
        )
        say(f"task {task_id}: paying {len(batch)} accounts (batch {n} of {len(batches)})")
        receipt = signer.send(fn, "claimBatch")
        result.transactions.append("0x" + bytes(receipt["transactionHash"]).hex())
        result.gas_used += int(receipt["gasUsed"])
        for e in chain.escrow.events.Claimed().process_receipt(receipt, errors=DISCARD):
            result.paid.append((str(e["args"]["account"]), int(e["args"]["amount"])))
        for e in chain.escrow.events.ClaimSkipped().process_receipt(receipt, errors=DISCARD):
            result.skipped.append((str(e["args"]["account"]), int(e["args"]["amount"])))
    return result
