"""``labelproof merkle build``: payout CSV in, ``standard-v1`` dump out, one summary line.

Shared by the full command line (:mod:`labelproof.cli`) and the console script's lean path
(:mod:`labelproof.entry`), which runs it without importing typer or rich; both print the same
lines and exit with the same codes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from labelproof.payouts_csv import PayoutFileError, build_payout_tree


class BuildError(ValueError):
    """A one-line, user-facing reason ``merkle build`` wrote nothing (exit code 2)."""


def build_to_file(payouts: Path, out_path: Path) -> str:
    """Build the tree of ``payouts``, write its dump to ``out_path``; return the summary line."""
    try:
        tree = build_payout_tree(payouts)
    except PayoutFileError as exc:
        raise BuildError(str(exc)) from None
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with out_path.open("w", encoding="ascii", newline="\n") as out:
            out.writelines(tree.dump_chunks())
    except OSError as exc:
        raise BuildError(f"{out_path}: cannot write: {exc.strerror or exc}") from None
    total = sum(value[1] for _, value in tree.entries())
    return f"root {tree.root}  leaves {len(tree)}  total {total}  -> {out_path}"


def run_build(payouts: str, out_path: str) -> int:
    """The lean path's whole command: exit code 0, or 2 with ``error: ...`` on stderr."""
    try:
        summary = build_to_file(Path(payouts), Path(out_path))
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return 0
