"""``python -m labelproof.oracle serve|repropose``: run the oracle, or approve a round it holds
back."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from labelproof.chain import ChainError, web3_for
from labelproof.oracle.records import DEFAULT_GOLD_GRACE
from labelproof.oracle.scheduler import MAX_AUTO_RESTARTS
from labelproof.oracle.service import (
    DB_FILE,
    KEY_ENV,
    ConfigError,
    OracleConfig,
    approve_repropose,
    serve,
)
from labelproof.oracle.store import Store, StoreError
from labelproof.sending import TxOptions, parse_fee, set_process_options
from labelproof.wallet import PASSWORD_ENV, WalletError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m labelproof.oracle", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the oracle: HTTP API plus chain follower and scheduler")
    rpc_url = os.environ.get("LABELPROOF_RPC_URL")
    s.add_argument(
        "--rpc-url",
        default=rpc_url,
        required=rpc_url is None,
        help="JSON-RPC endpoint of the chain (default $LABELPROOF_RPC_URL)",
    )
    s.add_argument("--deployment", type=Path, help="deployments/<chainId>.json")
    s.add_argument("--escrow", help="escrow address (instead of, or checked against, --deployment)")
    s.add_argument("--data-dir", type=Path, required=True, help="where the database lives")
    s.add_argument("--db-url", help=f"sqlite:///path (default <data-dir>/{DB_FILE})")
    s.add_argument("--keystore", type=Path, help=f"oracle keystore JSON (else ${KEY_ENV})")
    s.add_argument(
        "--password-file",
        type=Path,
        help=f"file holding the keystore password (else ${PASSWORD_ENV}, else a prompt)",
    )
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--poll-interval", type=float, default=2.0, help="seconds between ticks")
    s.add_argument("--confirmations", type=int, default=0, help="blocks before events count")
    s.add_argument("--start-block", type=int, help="first block to follow (default: deployment)")
    s.add_argument("--chunk-size", type=int, default=2_000, help="blocks per eth_getLogs")
    s.add_argument("--max-body-bytes", type=int, default=1_000_000)
    s.add_argument(
        "--gold-grace",
        type=int,
        default=DEFAULT_GOLD_GRACE,
        metavar="SECONDS",
        help="how long after a task's reveal deadline the requester may still reveal the gold "
        f"set (default {DEFAULT_GOLD_GRACE} s = 1 h; capped at half the task's oracle timeout). "
        "After it the oracle scores the task WITHOUT gold, its report and inputs bundle say the "
        "gold set was withheld, and a later gold reveal is refused (409). Use the same value "
        "on every oracle of a committee.",
    )
    s.add_argument(
        "--max-auto-restarts",
        type=int,
        default=MAX_AUTO_RESTARTS,
        help="split votes: how many times per task a round may have been restarted before "
        "this oracle restarts another one only with an operator's approval (default "
        f"{MAX_AUTO_RESTARTS})",
    )
    s.add_argument(
        "--archive-stale-state",
        action="store_true",
        help="if the database belongs to another chain (the devnet was reset, or --rpc-url "
        "points elsewhere), move it to <data-dir>/archive/ and start fresh; without it the "
        "oracle refuses to act and /health says why",
    )
    s.add_argument("--log-level", default="info")
    s.add_argument(
        "--max-fee",
        help="cap on the fee per gas of the oracle's transactions, e.g. 30gwei",
    )
    s.add_argument("--priority-fee", help="tip per gas, e.g. 1.5gwei (default: the node's)")
    s.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for a transaction's receipt in one tick (default 30)",
    )

    r = sub.add_parser(
        "repropose",
        help="approve a round the oracle holds back: propose a payout an arbitrator ruled "
        "wrong, or restart a split round past --max-auto-restarts",
    )
    r.add_argument("--task", type=int, required=True)
    r.add_argument(
        "--round", type=int, help="round to allow (default: the latest round the database knows)"
    )
    r.add_argument("--data-dir", type=Path, help="the oracle's data directory")
    r.add_argument("--db-url", help="sqlite:///path (instead of --data-dir)")
    return parser


def preflight(rpc_url: str, deployment: Path | None, escrow: str | None) -> None:
    """Before any contract call: the node answers, its chain is the deployment's, and the
    escrow has code there. Each failure is one line (ConfigError)."""
    from eth_utils import is_address, to_checksum_address

    from labelproof.deploy import Deployment

    w3 = web3_for(rpc_url, 10)
    try:
        chain_id = int(w3.eth.chain_id)
    except Exception as exc:
        reason = (str(exc) or type(exc).__name__).splitlines()[0][:200]
        raise ConfigError(f"cannot reach a node at {rpc_url}: {reason}") from None
    address = escrow
    if deployment is not None:
        try:
            dep = Deployment.from_json(deployment.read_text())
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"deployment {deployment}: cannot read it: {exc}") from None
        if dep.chain_id != chain_id:
            raise ConfigError(
                f"deployment {deployment} is for chain {dep.chain_id}, but {rpc_url} is chain "
                f"{chain_id}"
            )
        address = address or dep.escrow
    if address is None:
        raise ConfigError("give --deployment FILE or --escrow ADDRESS")
    if not is_address(address):
        raise ConfigError(f"escrow {address!r} is not an address")
    try:
        code = w3.eth.get_code(to_checksum_address(address))
    except Exception as exc:
        raise ConfigError(f"{rpc_url}: eth_getCode failed: {exc}") from None
    if not code:
        raise ConfigError(
            f"no contract at the escrow {address} on chain {chain_id} (a restarted local "
            "chain, or the wrong deployment?)"
        )


def oracle_key(keystore: Path | None, password_file: Path | None) -> str | None:
    """The oracle's key from its keystore, the password from the file, $LABELPROOF_PASSWORD
    or a prompt; None without a keystore (then the service reads its environment key)."""
    if keystore is None:
        return None
    from eth_account import Account

    from labelproof.wallet import read_password_file

    if password_file is not None:
        password = read_password_file(password_file)
    elif os.environ.get(PASSWORD_ENV):
        password = os.environ[PASSWORD_ENV]
    elif sys.stdin.isatty():
        password = getpass.getpass(f"Password for {keystore}: ")
    else:
        raise ConfigError(
            f"no password for {keystore}: give --password-file, set {PASSWORD_ENV}, or run in "
            "a terminal to be prompted"
        )
    try:
        keyfile = json.loads(keystore.read_text())
        return "0x" + bytes(Account.decrypt(keyfile, password)).hex()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"keystore {keystore}: cannot decrypt: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            set_process_options(
                TxOptions(
                    max_fee=None if args.max_fee is None else parse_fee(args.max_fee, "--max-fee"),
                    priority_fee=None
                    if args.priority_fee is None
                    else parse_fee(args.priority_fee, "--priority-fee"),
                    timeout=args.timeout,
                )
            )
            preflight(args.rpc_url, args.deployment, args.escrow)
            key = oracle_key(args.keystore, args.password_file)
            serve(
                OracleConfig(
                    rpc_url=args.rpc_url,
                    data_dir=args.data_dir,
                    deployment=args.deployment,
                    escrow=args.escrow,
                    keystore=None if key else args.keystore,
                    password_file=None if key else args.password_file,
                    private_key=key,
                    receipt_timeout=args.timeout,
                    db_url=args.db_url,
                    host=args.host,
                    port=args.port,
                    poll_interval=args.poll_interval,
                    confirmations=args.confirmations,
                    start_block=args.start_block,
                    chunk_size=args.chunk_size,
                    max_body_bytes=args.max_body_bytes,
                    log_level=args.log_level,
                    gold_grace=args.gold_grace,
                    max_auto_restarts=args.max_auto_restarts,
                    archive_stale_state=args.archive_stale_state,
                )
            )
            return 0
        if args.db_url is None and args.data_dir is None:
            print("error: give --data-dir or --db-url", file=sys.stderr)
            return 2
        url = args.db_url or "sqlite:///" + str((args.data_dir / DB_FILE).resolve())
        round_ = approve_repropose(Store(url), args.task, args.round)
        print(f"task {args.task}: re-proposing approved for round {round_}")
        return 0
    except (ConfigError, StoreError, ChainError, WalletError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
