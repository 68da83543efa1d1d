"""The `labelproof` command line: thin wrappers over the package.

Every command turns a bad input into one line on stderr naming what was wrong (file and row
where there is one) and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, Literal, NoReturn

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


METHOD_NAMES: dict[str, Literal["ds", "mv"]] = {"dawid-skene": "ds", "majority-vote": "mv"}


@app.command("score")
def score_cmd(
    answers: Annotated[
        Path, typer.Argument(help="CSV item,worker,label (or question,worker,answer)")
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", help="directory for labels.csv, workers.csv, report.json")
    ],
    gold: Annotated[
        Path | None, typer.Option("--gold", help="CSV item,label (or question,truth)")
    ] = None,
    method: Annotated[str, typer.Option(help="dawid-skene or majority-vote")] = "dawid-skene",
    budget: Annotated[
        str, typer.Option(help="integer amount to split (smallest token unit)")
    ] = "0",
    min_quality: Annotated[
        str | None,
        typer.Option(
            "--min-quality", help="quality below which a worker is not paid (default: chance level)"
        ),
    ] = None,
) -> None:
    """Infer labels, score every worker's quality and split the budget into integer payouts."""
    from labelproof import scoring

    if method not in METHOD_NAMES:
        fail(f"--method must be one of {', '.join(METHOD_NAMES)}, got {method!r}")
    try:
        budget_int = int(budget)
    except ValueError:
        fail(f"--budget {budget!r} is not an integer amount")
    if budget_int < 0:
        fail(f"--budget must be >= 0, got {budget_int}")
    min_q: float | None = None
    if min_quality is not None:
        try:
            min_q = float(min_quality)
        except ValueError:
            fail(f"--min-quality {min_quality!r} is not a number")
        if not 0.0 <= min_q <= 1.0:
            fail(f"--min-quality must be between 0 and 1, got {min_q}")
    try:
        answer_set = scoring.load_answers(answers)
        gold_set = scoring.load_gold(gold) if gold is not None else None
        result = scoring.score(
            answer_set,
            gold_set,
            METHOD_NAMES[method],
            budget_int,
            min_q,
        )
    except scoring.ScoringInputError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.filename}: cannot read: {exc.strerror}")

    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "labels.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item", "label", "confidence"])
        w.writerows((x.item, x.label, f"{x.confidence:.9f}") for x in result.labels)
    with (out_dir / "workers.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["worker", "labels", "quality", "payout"])
        w.writerows((x.worker, x.labels, f"{x.quality:.9f}", x.payout) for x in result.workers)
    (out_dir / "report.json").write_bytes(result.report_bytes())

    paid = [x for x in result.workers if x.payout > 0]
    out.print(
        f"{len(result.labels)} items, {len(result.workers)} workers, method {method}; "
        f"{len(paid)} paid, {sum(x.payout for x in paid)} of {budget_int} allocated -> {out_dir}"
    )
    for x in sorted(result.workers, key=lambda x: -x.payout)[:5]:
        out.print(
            f"  {x.worker:<24} labels {x.labels:>6}  quality {x.quality:.3f}  payout {x.payout}"
        )


@app.command(
    "oracle",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def oracle_cmd(ctx: typer.Context) -> None:
    """Run the oracle service: `labelproof oracle serve --rpc-url URL --deployment FILE ...`
    (HTTP API, chain follower, scheduler), or `labelproof oracle repropose --task N`. See
    `labelproof oracle serve --help`."""
    from labelproof.oracle.__main__ import main as oracle_main

    raise typer.Exit(oracle_main(list(ctx.args)))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
