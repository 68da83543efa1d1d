"""``python -m labelproof.audit`` / ``labelproof audit``: the audit's command line.

Exit 0 when every check holds, 1 with one line per finding, 2 (one line) for bad usage or input
it cannot read (no RPC, no deployment file, no oracle).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from labelproof.audit.checks import default_deployment, load_deployment_file, run_audit
from labelproof.audit.model import AuditInputError
from labelproof.audit.report import write_html


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (exit 2 from main), not usage text."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m labelproof.audit",
        description="Audit a labelproof deployment: events, funds, disputes, rulings and bonds, "
        "the oracle's published report, tree and inputs bundle, and the payout recomputed "
        "from them.",
    )
    p.add_argument(
        "--rpc-url",
        default=os.environ.get("LABELPROOF_RPC_URL", "http://127.0.0.1:8545"),
        help="JSON-RPC endpoint of the chain (env LABELPROOF_RPC_URL, default the local node)",
    )
    p.add_argument(
        "--deployment",
        type=Path,
        help="deployment record (default <deployments>/<chainId>.json, env LABELPROOF_DEPLOYMENTS)",
    )
    p.add_argument("--task", type=int, action="append", help="audit only this task id (repeatable)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--oracle", help="the oracle's base URL (http://host:port)")
    src.add_argument(
        "--files", type=Path, help="directory of published data: <id>/{report,tree,bundle}.json"
    )
    p.add_argument(
        "--export", type=Path, help="with --oracle: also save the fetched data into this directory"
    )
    p.add_argument("--html", type=Path, help="write the HTML report here")
    p.add_argument("--json", type=Path, help="write the result as JSON here")
    p.add_argument("--chunk-size", type=int, default=2_000, help="blocks per eth_getLogs")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per RPC/HTTP request")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0: every check holds; 1: one line per finding; 2: bad usage or unreadable input."""
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0) if isinstance(exc.code, int | None) else 2
    if args.export is not None and args.oracle is None:
        print("error: --export needs --oracle", file=sys.stderr)
        return 2
    if args.chunk_size < 1:
        print("error: --chunk-size must be at least 1", file=sys.stderr)
        return 2
    try:
        result = run_audit(
            args.rpc_url,
            load_deployment_file(args.deployment or default_deployment(args.rpc_url)),
            task_ids=args.task,
            oracle_url=args.oracle,
            files=args.files,
            export_to=args.export,
            chunk_size=args.chunk_size,
            timeout=args.timeout,
        )
    except AuditInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(result.to_json())
        if args.html is not None:
            write_html(result, args.html)
    except OSError as exc:
        print(f"error: cannot write the audit output: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:  # matplotlib is only needed for --html
        print(f"error: --html needs matplotlib: {exc}", file=sys.stderr)
        return 2
    for finding in result.findings:
        print(finding.line())
    if result.ok:
        claims = sum(len(t.claims) for t in result.tasks)
        print(f"ok: {len(result.tasks)} task(s), {claims} claim(s) checked at block {result.block}")
        return 0
    return 1
