"""The ``labelproof`` console script: ``merkle build`` without the full command line's imports.

Importing ``labelproof.cli`` (typer, rich and every command's module) takes ~0.2 s, several times
the work of small commands and a large share of ``merkle build`` on 100k payouts, whose whole
process is benchmarked against the JS library. The plain ``merkle build PAYOUTS --out PATH``
form is therefore run by :mod:`labelproof.merkle_build`, which imports only the Merkle code;
anything else (``--help``, other options, other commands) goes to :func:`labelproof.cli.run`,
which runs the same ``merkle build`` with the same messages and exit codes.
"""

from __future__ import annotations

import sys


def _plain_merkle_build(args: list[str]) -> tuple[str, str] | None:
    """``(payouts, out)`` when ``args`` is ``merkle build`` with one path and ``--out``."""
    if args[:2] != ["merkle", "build"]:
        return None
    rest = args[2:]
    out: str | None = None
    paths: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--out" and i + 1 < len(rest) and out is None:
            out = rest[i + 1]
            i += 2
            continue
        if arg.startswith("--out=") and out is None:
            out = arg[len("--out=") :]
        elif arg.startswith("-") or paths:
            return None  # an option or a surplus argument: the full CLI explains it
        else:
            paths.append(arg)
        i += 1
    if out is None or not out or not paths:
        return None
    return paths[0], out


def run(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    plain = _plain_merkle_build(args)
    if plain is not None:
        from labelproof.merkle_build import run_build

        return run_build(*plain)
    from labelproof.cli import run as full_run

    return full_run(args)


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
