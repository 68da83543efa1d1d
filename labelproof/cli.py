"""The `labelproof` command line: thin wrappers over the package.

Every command turns a bad input into one line on stderr naming what was wrong (file and row
where there is one) and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from eth_utils import is_address
from rich.console import Console

from labelproof.merkle import MerkleError, StandardMerkleTree, payout_tree

app = typer.Typer(
    name="labelproof",
    help="Verifiable pay for data annotators.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
merkle_app = typer.Typer(
    help="Payout Merkle trees (OpenZeppelin StandardMerkleTree).", no_args_is_help=True
)
app.add_typer(merkle_app, name="merkle")

out = Console(soft_wrap=True)
err = Console(stderr=True)


class UsageError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def read_payouts_csv(path: Path) -> dict[str, int]:
    """`account,amount` rows; amounts are integers in the token's smallest unit."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise UsageError(f"{path}: empty file, expected a header account,amount")
    header = [h.strip().lower() for h in rows[0]]
    if "account" not in header or "amount" not in header:
        raise UsageError(f"{path}: row 1: header must contain account and amount, got {rows[0]}")
    ia, im = header.index("account"), header.index("amount")
    payouts: dict[str, int] = {}
    seen: dict[str, int] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(ia, im):
            raise UsageError(f"{path}: row {n}: expected account and amount, got {row}")
        account, amount = row[ia].strip(), row[im].strip()
        try:
            value = int(amount)
        except ValueError:
            raise UsageError(f"{path}: row {n}: amount {amount!r} is not an integer") from None
        if not is_address(account):
            raise UsageError(f"{path}: row {n}: {account!r} is not an address (0x + 40 hex)")
        if value < 0 or value >= 2**256:
            raise UsageError(f"{path}: row {n}: amount {value} is out of uint256 range")
        key = account.lower()
        if key in seen:
            raise UsageError(f"{path}: row {n}: account {account} already on row {seen[key]}")
        seen[key] = n
        payouts[account] = value
    if not payouts:
        raise UsageError(f"{path}: no payout rows")
    try:
        payout_tree(payouts)  # validate here so the message can name the file
    except MerkleError as exc:
        raise UsageError(f"{path}: {exc}") from exc
    return payouts


@merkle_app.command("build")
def merkle_build(
    payouts: Annotated[Path, typer.Argument(help="CSV with columns account,amount")],
    out_path: Annotated[Path, typer.Option("--out", help="where to write the tree (JSON)")],
) -> None:
    """Build the payout tree and write its standard-v1 dump (loads in @openzeppelin/merkle-tree)."""
    try:
        tree = payout_tree(read_payouts_csv(payouts))
    except UsageError as exc:
        fail(str(exc))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(tree.dump(), indent=2) + "\n")
    total = sum(int(v[1]) for _, v in tree.entries())
    out.print(f"root {tree.root}  leaves {len(tree)}  total {total}  -> {out_path}")


@merkle_app.command("proof")
def merkle_proof(
    tree_path: Annotated[Path, typer.Argument(help="tree JSON written by `merkle build`")],
    account: Annotated[str, typer.Argument(help="the account to prove")],
) -> None:
    """Print the amount and proof of ACCOUNT as JSON."""
    try:
        data = json.loads(tree_path.read_text())
    except OSError as exc:
        fail(f"{tree_path}: cannot read: {exc.strerror or exc}")
    except json.JSONDecodeError as exc:
        fail(f"{tree_path}: not JSON: {exc.msg} at line {exc.lineno}")
    try:
        tree = StandardMerkleTree.load(data)
    except MerkleError as exc:
        fail(f"{tree_path}: {exc}")
    for index, value in tree.entries():
        if str(value[0]).lower() == account.lower():
            print(
                json.dumps(
                    {
                        "account": value[0],
                        "amount": str(value[1]),
                        "proof": tree.get_proof(index),
                        "root": tree.root,
                    },
                    indent=2,
                )
            )
            return
    fail(f"{account} is not in {tree_path}", code=1)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
