"""``python -m labelproof.relayer serve``: the relayer with its key from the environment (the
form tests and process supervisors use; ``labelproof relay serve`` takes a wallet instead)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from eth_account import Account

from labelproof.client import ActionError, Chain
from labelproof.relayer.api import serve
from labelproof.relayer.service import Relay, RelayConfig
from labelproof.relayer.store import Store, StoreError

KEY_ENV = "LABELPROOF_RELAYER_KEY"
GWEI = 10**9


def add_options(p: argparse.ArgumentParser) -> None:
    d = RelayConfig()
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--max-wait", type=float, default=d.max_wait)
    p.add_argument("--stuck-after", type=float, default=d.stuck_after)
    p.add_argument("--min-priority-fee-gwei", type=float, default=d.min_priority_fee / GWEI)
    p.add_argument("--max-fee-cap-gwei", type=float, default=None)
    p.add_argument("--rate-per-address", type=float, default=d.rate_per_address)
    p.add_argument("--rate-per-task", type=float, default=d.rate_per_task)
    p.add_argument("--task-gas-budget", type=int, default=d.task_gas_budget)
    p.add_argument("--enrollment", choices=("open", "required"), default=d.enrollment)
    p.add_argument("--reorg-depth", type=int, default=d.reorg_depth)
    p.add_argument("--poll-interval", type=float, default=d.poll_interval)
    p.add_argument("--archive-stale-state", action="store_true")


def config_from(args: argparse.Namespace) -> RelayConfig:
    cap = args.max_fee_cap_gwei
    return RelayConfig(
        batch_size=args.batch_size,
        max_wait=args.max_wait,
        stuck_after=args.stuck_after,
        min_priority_fee=int(args.min_priority_fee_gwei * GWEI),
        max_fee_cap=None if cap is None else int(cap * GWEI),
        rate_per_address=args.rate_per_address,
        rate_per_task=args.rate_per_task,
        task_gas_budget=args.task_gas_budget,
        enrollment=args.enrollment,
        reorg_depth=args.reorg_depth,
        poll_interval=args.poll_interval,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labelproof.relayer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help=f"run the relayer (key in ${KEY_ENV})")
    s.add_argument("--rpc-url", required=True)
    s.add_argument("--deployments", type=Path, required=True, help="directory of <chainId>.json")
    s.add_argument("--db-url", required=True, help="sqlite:///path")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8600)
    s.add_argument("--rpc-timeout", type=float, default=5.0)
    s.add_argument("--log-level", default="info")
    s.add_argument("--body-timeout", type=float, default=10.0, help="seconds to send a body")
    add_options(s)
    args = parser.parse_args(argv)
    key = os.environ.get(KEY_ENV)
    if not key:
        print(f"error: set ${KEY_ENV} to the relayer's private key", file=sys.stderr)
        return 2
    try:
        chain = Chain.connect(args.rpc_url, args.deployments)
        chain = with_timeout(chain, args.rpc_timeout)
        relay = Relay(
            chain,
            Account.from_key(key),
            Store(args.db_url),
            config_from(args),
            archive_stale_state=args.archive_stale_state,
        )
    except (ActionError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    serve(relay, args.host, args.port, args.log_level, body_timeout=args.body_timeout)
    return 0


def with_timeout(chain: Chain, seconds: float) -> Chain:
    """The same deployment over a provider whose calls give up after ``seconds`` (a hung node
    must make intake answer 503 quickly, not hold every worker thread)."""
    from web3 import Web3

    url = chain.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": seconds}))
    return Chain(w3, chain.deployment)


if __name__ == "__main__":
    sys.exit(main())
