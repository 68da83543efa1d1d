"""The `labelproof` command line: thin wrappers over the package.

Every command turns a bad input into one line on stderr naming what was wrong (file and row
where there is one) and a non-zero exit code, never a traceback. Usage errors (a missing
option, an unknown command) are one line too.

Commands:

* offline: ``score``, ``merkle build|proof``, ``import|export label-studio``;
* services: ``node`` (a local anvil), ``oracle serve``, ``relay serve``, ``app serve`` (the
  annotators' web app);
* operators: ``deploy``;
* everyone: ``wallet new|import|list|address|check`` (encrypted keystores, labelproof.wallet);
* requesters: ``task create|register-spec|status|reveal-gold|cancel|refund|finalize``;
* annotators: ``annotate commit|reveal``, ``rewards``, ``claim``.

Chain commands take ``--rpc-url`` (env LABELPROOF_RPC_URL) and find the contracts in
``<deployments>/<chainId>.json`` (``--deployments``, env LABELPROOF_DEPLOYMENTS). Long steps
show a spinner on stderr (only on a terminal); results go to stdout, ``--json`` where offered.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn, ParamSpec, TypeVar, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from labelproof.merkle import MerkleError, StandardMerkleTree

try:  # typer >= 0.26 carries its own copy of click
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover - older typer on click
    from click import exceptions as click_exc  # type: ignore[no-redef]

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


def to_checksum_address(address: str) -> ChecksumAddress:
    # eth_utils is imported on first use: it adds ~0.2 s to every command's start-up.
    from eth_utils import to_checksum_address as checksum

    return checksum(address)


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@merkle_app.command("build")
def merkle_build(
    payouts: Annotated[Path, typer.Argument(help="CSV with columns account,amount")],
    out_path: Annotated[Path, typer.Option("--out", help="where to write the tree (JSON)")],
) -> None:
    """Build the payout tree and write its standard-v1 dump (loads in @openzeppelin/merkle-tree)."""
    from labelproof.merkle_build import BuildError, build_to_file

    try:
        summary = build_to_file(payouts, out_path)
    except BuildError as exc:
        fail(str(exc))
    out.print(summary)


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
        Path,
        typer.Argument(help="CSV or Parquet item,worker,label (or question,worker,answer)"),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", help="directory for labels.csv, workers.csv, report.json")
    ],
    gold: Annotated[
        Path | None, typer.Option("--gold", help="CSV or Parquet item,label (or question,truth)")
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
    duplicates: Annotated[
        str,
        typer.Option(
            "--duplicates",
            help="a repeated (item, worker) answer: reject (the default), or keep the first or "
            "the last one in file order",
        ),
    ] = "reject",
) -> None:
    """Infer labels, score every worker's quality and split the budget into integer payouts."""
    from labelproof import scoring

    if duplicates not in scoring.DUPLICATE_POLICIES:
        fail(f"--duplicates must be one of reject, first, last, got {duplicates!r}")
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
        gold_set = scoring.load_gold(gold) if gold is not None else None
        # The path, not loaded answers: score() reads it (labelproof.inputs: CSV or Parquet)
        # and frees the raw columns once they are encoded.
        result = scoring.score(
            answers,
            gold_set,
            METHOD_NAMES[method],
            budget_int,
            min_q,
            duplicates=cast(scoring.Duplicates, duplicates),
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


# ---------------------------------------------------------------------------------------------
# chain commands: shared options and plumbing
# ---------------------------------------------------------------------------------------------

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from eth_typing import ChecksumAddress

    from labelproof.client import Chain, Service
    from labelproof.sending import TxOptions
    from labelproof.wallet import WalletStore

P = ParamSpec("P")
R = TypeVar("R")

RpcUrl = Annotated[
    str,
    typer.Option("--rpc-url", envvar="LABELPROOF_RPC_URL", help="JSON-RPC endpoint of the chain"),
]
DeploymentsDir = Annotated[
    Path | None,
    typer.Option(
        "--deployments",
        envvar="LABELPROOF_DEPLOYMENTS",
        help="directory of <chainId>.json deployment files (default: the project's deployments/)",
    ),
]
WalletDir = Annotated[
    Path | None,
    typer.Option(
        "--wallet-dir",
        envvar="LABELPROOF_WALLET_DIR",
        help="wallet directory (default ~/.labelproof/wallets)",
    ),
]
PasswordFile = Annotated[
    Path | None,
    typer.Option(
        "--password-file",
        help="file whose first line is the wallet password (else $LABELPROOF_PASSWORD, else a "
        "prompt)",
    ),
]
WalletName = Annotated[str, typer.Option("--wallet", help="name of the wallet to act from")]
OracleUrl = Annotated[
    str | None,
    typer.Option("--oracle", envvar="LABELPROOF_ORACLE_URL", help="the oracle's base URL"),
]
JsonOut = Annotated[bool, typer.Option("--json", help="print the result as JSON")]
TaskArg = Annotated[int, typer.Argument(help="the task id", min=1, metavar="ID")]
DEFAULT_RPC = "http://127.0.0.1:8545"


DEBUG_ENV = "LABELPROOF_DEBUG"
_USER_ERRORS = (
    ("labelproof.chain", "ChainError"),
    ("labelproof.client", "ActionError"),
    ("labelproof.deploy", "DeployConfigError"),
    ("labelproof.spec", "SpecError"),
    ("labelproof.wallet", "WalletError"),
)


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn the package's user-facing errors into one line on stderr and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except UsageError as exc:
            fail(str(exc), 2)
        except (typer.Exit, typer.Abort, click_exc.ClickException):
            raise
        except Exception as exc:
            # Only modules already imported can have raised their errors: looking them up in
            # sys.modules keeps `wallet new` from importing web3 just to name ChainError.
            user_errors = tuple(
                getattr(sys.modules[module], name)
                for module, name in _USER_ERRORS
                if module in sys.modules
            )
            if isinstance(exc, user_errors):
                fail(str(exc), 1)
            if os.environ.get(DEBUG_ENV):
                raise
            # Anything else (a node that went away mid-command, a bug) is still one line.
            text = (str(exc) or "").strip().splitlines()
            detail = f": {text[0][:300]}" if text else ""
            fail(f"unexpected {type(exc).__name__}{detail} (set {DEBUG_ENV}=1 for details)", 1)

    return wrapper


@contextmanager
def spinner(message: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr (shown on a terminal only); yields a function to update its text."""
    with err.status(escape(message)) as status:

        def say(text: str) -> None:
            status.update(escape(text))

        yield say


def wallet_store(directory: Path | None) -> WalletStore:
    from labelproof.wallet import WalletStore

    return WalletStore(directory)


def get_password(password_file: Path | None, what: str, *, confirm: bool = False) -> str:
    from labelproof.wallet import PASSWORD_ENV, read_password_file

    if password_file is not None:
        return read_password_file(password_file)
    env = os.environ.get(PASSWORD_ENV)
    if env:
        return env
    if not sys.stdin.isatty():
        raise UsageError(
            f"no password for {what}: give --password-file, set {PASSWORD_ENV}, or run in a "
            "terminal to be prompted"
        )
    password: str = typer.prompt(
        f"Password for {what}", hide_input=True, confirmation_prompt=confirm
    )
    if not password:
        raise UsageError("the password must not be empty")
    return password


_HELD_LOCKS: list[int] = []


def unlock(
    wallet_dir: Path | None, name: str, password_file: Path | None, *, lock: bool = True
) -> LocalAccount:
    """Decrypt wallet `name`; with `lock`, also hold its lock until the process ends, so that
    concurrent commands from one wallet send one after the other (no nonce races)."""
    store = wallet_store(wallet_dir)
    store.get(name)  # an unknown wallet is reported before asking for a password
    password = get_password(password_file, f"wallet {name!r}")
    with spinner(f"unlocking wallet {name}"):
        account = store.unlock(name, password)
    if lock:
        fd = store.lock(name, wait=0)
        if fd is None:
            with spinner(f"waiting for another command sending from wallet {name}"):
                fd = store.lock(name)
        _HELD_LOCKS.append(fd)  # type: ignore[arg-type]
    return account


# What the chain options of the running command said (set by @chain_options, read by
# connect()): one command runs per process.
_CHAIN_OPTIONS: dict[str, Any] = {}

_CHAIN_PARAMS: tuple[tuple[str, Any, Any], ...] = (
    (
        "escrow",
        Annotated[
            str | None,
            typer.Option(
                "--escrow",
                envvar="LABELPROOF_ESCROW",
                help="the escrow's address: use this deployment instead of <chainId>.json "
                "(its registry and committee are read from it)",
            ),
        ],
        None,
    ),
    (
        "deployment_file",
        Annotated[
            Path | None,
            typer.Option("--deployment", help="a deployment file to use instead of <chainId>.json"),
        ],
        None,
    ),
    (
        "max_fee",
        Annotated[
            str | None,
            typer.Option(
                "--max-fee",
                envvar="LABELPROOF_MAX_FEE",
                help="cap on the fee per gas, e.g. 30gwei (a stuck transaction is re-priced "
                "up to it)",
            ),
        ],
        None,
    ),
    (
        "priority_fee",
        Annotated[
            str | None,
            typer.Option(
                "--priority-fee",
                envvar="LABELPROOF_PRIORITY_FEE",
                help="tip per gas, e.g. 1.5gwei (default: the node's suggestion)",
            ),
        ],
        None,
    ),
    (
        "tx_timeout",
        Annotated[
            float,
            typer.Option(
                "--timeout",
                envvar="LABELPROOF_TX_TIMEOUT",
                help="seconds to wait for a transaction to be mined before giving up",
            ),
        ],
        120.0,
    ),
    (
        "confirmations",
        Annotated[
            int,
            typer.Option(
                "--confirmations",
                envvar="LABELPROOF_CONFIRMATIONS",
                help="blocks deep a transaction must be (1: mined; ignored on a local chain)",
            ),
        ],
        1,
    ),
)


def _with_params(
    params: tuple[tuple[str, Any, Any], ...],
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A decorator adding `params` (name, annotated type, default) to a command; their values
    go to _CHAIN_OPTIONS instead of the command."""
    import inspect

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        names = [name for name, _, _ in params]

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            _CHAIN_OPTIONS.clear()
            for name in names:
                _CHAIN_OPTIONS[name] = kwargs.pop(name, None)
            return fn(*args, **kwargs)

        sig = inspect.signature(fn, eval_str=True)
        extra = [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hint
            )
            for name, hint, default in params
        ]
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in sig.parameters.values()]
        wrapper.__signature__ = sig.replace(parameters=own + extra)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {
            **getattr(fn, "__annotations__", {}),
            **{name: hint for name, hint, _ in params},
        }
        return wrapper

    return decorate


# Every sending command: --max-fee, --priority-fee, --timeout, --confirmations.
def fee_options(fn: Callable[P, R]) -> Callable[P, R]:
    return _with_params(_CHAIN_PARAMS[2:])(fn)


# Every chain command: those and --escrow, --deployment.
def chain_options(fn: Callable[P, R]) -> Callable[P, R]:
    return _with_params(_CHAIN_PARAMS)(fn)


def tx_options() -> TxOptions:
    """The fee and waiting options of the running command."""
    from labelproof.sending import TxOptions, parse_fee

    opts = _CHAIN_OPTIONS
    try:
        return TxOptions(
            max_fee=None
            if opts.get("max_fee") is None
            else parse_fee(opts["max_fee"], "--max-fee"),
            priority_fee=None
            if opts.get("priority_fee") is None
            else parse_fee(opts["priority_fee"], "--priority-fee"),
            timeout=float(opts.get("tx_timeout") or 120.0),
            confirmations=int(1 if opts.get("confirmations") is None else opts["confirmations"]),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def connect(rpc_url: str, deployments: Path | None) -> Chain:
    from labelproof.client import Chain

    options = tx_options()
    with spinner(f"connecting to {rpc_url}"):
        chain = Chain.connect(
            rpc_url,
            deployments,
            escrow=_CHAIN_OPTIONS.get("escrow"),
            deployment_file=_CHAIN_OPTIONS.get("deployment_file"),
        )
    chain.tx_options = options
    return chain


def oracle_service(url: str | None, required: bool = True) -> Service | None:
    from labelproof.client import ORACLE_BUSY_RETRIES, Service

    if not url:
        if required:
            raise UsageError("give the oracle's URL with --oracle (or $LABELPROOF_ORACLE_URL)")
        return None
    return Service(url, "oracle", busy_retries=ORACLE_BUSY_RETRIES)


def key_value_table(title: str) -> Table:
    """Two columns; long values (hashes, addresses) fold rather than being cut."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    return table


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


# ---------------------------------------------------------------------------------------------
# node and deploy
# ---------------------------------------------------------------------------------------------


@app.command(
    "audit",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def audit_cmd(ctx: typer.Context) -> None:
    """Rebuild and check every payout from the chain and the published files:
    `labelproof audit [--task ID] [--oracle URL | --files DIR] [--html OUT.html] [--json OUT.json]`.
    Exit 0 when everything holds, 1 naming each mismatch. See `labelproof audit --help`."""
    from labelproof.audit import main as audit_main

    raise typer.Exit(audit_main(list(ctx.args)))


NODE_PORT = 8545


@app.command("node")
@guarded
def node_cmd(
    port: Annotated[
        int | None,
        typer.Option(
            help=f"port to listen on (default {NODE_PORT}, or a free port when that is taken, "
            "e.g. by a test run; 0: any free port)"
        ),
    ] = None,
    accounts: Annotated[int, typer.Option(help="number of funded dev accounts", min=1)] = 10,
    chain_id: Annotated[
        int | None, typer.Option("--chain-id", help="chain id (default 31337)", min=1)
    ] = None,
) -> None:
    """Run a local anvil chain on 127.0.0.1 until Ctrl-C or SIGTERM (either stops anvil)."""
    import signal

    from labelproof.node import free_port, port_in_use, start_anvil

    if port is not None and not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")
    if port is None:
        port = NODE_PORT if not port_in_use(NODE_PORT) else free_port()
        if port != NODE_PORT:
            err.print(f"port {NODE_PORT} is in use: using {port}", highlight=False)
    elif port and port_in_use(port):
        raise UsageError(f"port {port} is in use on 127.0.0.1: pick another --port")

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    extra = ["--chain-id", str(chain_id)] if chain_id else []
    with spinner("starting anvil"):
        node = start_anvil(port or None, accounts=accounts, extra=extra)
    try:
        dev = node.w3.eth.accounts
        out.print(f"anvil running at {node.url} (chain id {node.w3.eth.chain_id})", highlight=False)
        out.print(
            f"{len(dev)} funded dev accounts, e.g. {dev[0]} (--dev-account 0); Ctrl-C to stop",
            highlight=False,
        )
        out.print(f"export LABELPROOF_RPC_URL={node.url}", highlight=False)
        sys.stdout.flush()
        code = node.process.wait()
        raise UsageError(f"anvil exited with code {code}")
    except KeyboardInterrupt:
        node.stop()
        out.print("anvil stopped")


@app.command("deploy")
@guarded
@fee_options
def deploy_cmd(
    rpc_url: RpcUrl = DEFAULT_RPC,
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML or JSON deploy config (roles, token)")
    ] = None,
    network: Annotated[
        str | None,
        typer.Option(
            "--network",
            envvar="LABELPROOF_NETWORK",
            help="the chain meant: local, sepolia, base-sepolia, holesky, mainnet, ... (its "
            "chain id is checked; required off a local chain)",
        ),
    ] = None,
    broadcast: Annotated[
        bool,
        typer.Option(
            "--broadcast", help="send the transactions (default: simulate and show the plan)"
        ),
    ] = False,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="finish a half-done deployment from its journal"),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="do not ask before deploying to mainnet")
    ] = False,
    from_keystore: Annotated[
        str | None,
        typer.Option("--from", help="keystore file, or wallet name, of the deployer"),
    ] = None,
    dev_account: Annotated[
        int | None,
        typer.Option("--dev-account", help="deploy from the node's unlocked account N", min=0),
    ] = None,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
    force: Annotated[
        bool, typer.Option("--force", help="replace a deployment file whose contracts are live")
    ] = False,
) -> None:
    """Deploy the suite (token, timelock, arbitrator, escrow, registry, committee with rule set
    1): simulate it and show the plan and its cost, or with --broadcast send it, journalled,
    and write <chainId>.json."""
    from labelproof.chain import Sender
    from labelproof.client import connect_web3, deployments_dir
    from labelproof.deploy import (
        MAINNET_CHAIN_IDS,
        DeployConfig,
        Deployment,
        Journal,
        check_network,
        deploy_suite,
        journal_path,
        network_named,
        plan_deploy,
        summary,
    )
    from labelproof.wallet import load_keystore_file

    cfg = DeployConfig.from_file(config) if config is not None else DeployConfig()
    if from_keystore is not None and dev_account is not None:
        raise UsageError("give --from or --dev-account, not both")
    preset = network_named(network) if network is not None else None
    options = tx_options()
    if cfg.confirmations and _CHAIN_OPTIONS.get("confirmations") in (None, 1):
        options = replace(options, confirmations=cfg.confirmations)
    w3, chain_id = connect_web3(rpc_url)
    net = check_network(chain_id, preset)
    if chain_id in MAINNET_CHAIN_IDS and broadcast and not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"chain {chain_id} is mainnet: confirm with --yes")
        if not typer.confirm(f"Deploy to mainnet (chain {chain_id}) for real money?"):
            raise UsageError("not deployed")
    account: Any
    if from_keystore is not None:
        path = Path(from_keystore).expanduser()
        if path.suffix == ".json" or os.sep in from_keystore:
            if not path.exists():
                raise UsageError(f"--from {from_keystore}: no such keystore file")
            account = load_keystore_file(path, get_password(password_file, str(path)))
        else:
            account = unlock(wallet_dir, from_keystore, password_file)
        deployer = str(account.address)
    else:
        unlocked = list(w3.eth.accounts)
        if dev_account is None:
            if chain_id not in (31337, 1337) or not unlocked:
                raise UsageError(f"chain {chain_id} is not a local dev chain: give --from KEYSTORE")
            dev_account = 0
        if dev_account >= len(unlocked):
            raise UsageError(
                f"--dev-account {dev_account}: the node unlocks {len(unlocked)} accounts"
            )
        account = unlocked[dev_account]
        deployer = str(account)
    directory = deployments_dir(deployments)
    existing = directory / f"{chain_id}.json"
    if existing.exists() and not force and not resume:
        try:
            old = Deployment.from_json(existing.read_text())
            live = bool(w3.eth.get_code(to_checksum_address(old.escrow)))
        except (OSError, ValueError, TypeError, KeyError):
            live = False
        if live:
            raise UsageError(
                f"{existing} already records a live deployment on chain {chain_id} (escrow "
                f"{old.escrow}); use --force to replace the file"
            )
    jpath = journal_path(directory, chain_id)
    journal = Journal.open(jpath, chain_id, deployer, cfg, resume=resume)
    out.print(summary(cfg, deployer, chain_id), highlight=False)
    out.print(f"network      {net.name} (chain {chain_id})", highlight=False)
    with spinner("simulating every step"):
        plan = plan_deploy(w3, deployer, cfg, journal=journal, opts=options)
    out.print(plan.render(net), highlight=False)
    if not plan.ok:
        raise UsageError("the simulation shows the deploy would fail: nothing sent")
    if not broadcast:
        out.print("simulation only: add --broadcast to send", highlight=False)
        return
    with spinner("deploying token, timelock, arbitrator, escrow, registry and committee") as say:
        dep = deploy_suite(w3, Sender(w3, account, options=options), cfg, journal=journal, say=say)
    path = dep.write(directory)
    table = key_value_table(f"deployment on chain {dep.chain_id}")
    for name, value in (
        ("escrow", dep.escrow),
        ("registry", dep.registry),
        ("committee", dep.committee),
        ("timelock", dep.timelock),
        ("arbitrator", dep.arbitrator),
        ("reward token", dep.reward_token or "none"),
        ("bond token", dep.bond_token),
        ("block", str(dep.block)),
    ):
        table.add_row(name, net.address_link(value) if value.startswith("0x") else value)
    out.print(table)
    out.print(f"written to {path} (journal {jpath})", highlight=False)


# ---------------------------------------------------------------------------------------------
# wallets
# ---------------------------------------------------------------------------------------------

wallet_app = typer.Typer(help="Encrypted keystore (v3) wallets.", no_args_is_help=True)
app.add_typer(wallet_app, name="wallet")


@wallet_app.command("new")
@guarded
def wallet_new(
    name: Annotated[str, typer.Argument(help="a name for the wallet")],
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Create a wallet with a fresh key, encrypted under a password."""
    store = wallet_store(wallet_dir)
    store.check_name(name)
    if store.path(name).exists():
        raise UsageError(f"wallet {name!r} already exists ({store.path(name)})")
    password = get_password(password_file, f"new wallet {name!r}", confirm=True)
    with spinner("encrypting the key"):
        info = store.create(name, password)
    out.print(f"wallet {info.name}: {info.address} -> {info.path}", highlight=False)


@wallet_app.command("import")
@guarded
def wallet_import(
    name: Annotated[str, typer.Argument(help="a name for the wallet")],
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="file holding the private key as hex")
    ] = None,
    keystore: Annotated[
        Path | None,
        typer.Option("--keystore", help="an existing keystore JSON (geth, ethers.js, ...)"),
    ] = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Import a private key (from a hidden prompt or --key-file) or a keystore file."""
    from labelproof.wallet import parse_private_key

    store = wallet_store(wallet_dir)
    store.check_name(name)
    if store.path(name).exists():
        raise UsageError(f"wallet {name!r} already exists ({store.path(name)})")
    if key_file is not None and keystore is not None:
        raise UsageError("give --key-file or --keystore, not both")
    if keystore is not None:
        if not keystore.exists():
            raise UsageError(f"{keystore}: no such keystore file")
        password = get_password(password_file, f"keystore {keystore}")
        with spinner("checking the keystore"):
            info = store.import_keystore(name, keystore, password)
    else:
        if key_file is not None:
            try:
                text = key_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"{key_file}: cannot read the key file: {exc}") from None
            key = parse_private_key(text, f"{key_file}")
        else:
            if not sys.stdin.isatty():
                raise UsageError(
                    "no key: give --key-file FILE, or run in a terminal to be prompted"
                )
            key = parse_private_key(typer.prompt("Private key (hex)", hide_input=True))
        password = get_password(password_file, f"new wallet {name!r}", confirm=True)
        with spinner("encrypting the key"):
            info = store.create(name, password, key)
    out.print(f"wallet {info.name}: {info.address} -> {info.path}", highlight=False)


@wallet_app.command("list")
@guarded
def wallet_list(wallet_dir: WalletDir = None, as_json: JsonOut = False) -> None:
    """List the wallets in the wallet directory."""
    store = wallet_store(wallet_dir)
    wallets = store.list()
    if as_json:
        print_json([{"name": w.name, "address": w.address, "path": str(w.path)} for w in wallets])
        return
    if not wallets:
        out.print(f"no wallets in {store.directory}", highlight=False)
        return
    for w in wallets:
        out.print(f"{w.name:<20} {w.address or '(address not recorded)'}", highlight=False)


@wallet_app.command("address")
@guarded
def wallet_address(
    name: Annotated[str, typer.Argument(help="the wallet")],
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Print a wallet's address."""
    store = wallet_store(wallet_dir)
    info = store.get(name)
    if info.address is None:
        print(store.address(name, get_password(password_file, f"wallet {name!r}")))
    else:
        print(info.address)


@wallet_app.command("check")
@guarded
def wallet_check(
    name: Annotated[str, typer.Argument(help="the wallet")],
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Check that the password opens the wallet (nothing is sent anywhere)."""
    account = unlock(wallet_dir, name, password_file, lock=False)
    out.print(f"wallet {name}: the password opens {account.address}", highlight=False)


# ---------------------------------------------------------------------------------------------
# requesters
# ---------------------------------------------------------------------------------------------

task_app = typer.Typer(help="Requesters: fund, inspect and close tasks.", no_args_is_help=True)
app.add_typer(task_app, name="task")


@task_app.command("create")
@guarded
@chain_options
def task_create(
    spec: Annotated[Path, typer.Option("--spec", help="the task spec (JSON)")],
    budget: Annotated[str, typer.Option("--budget", help="budget in token units, e.g. 12.5")],
    wallet: WalletName,
    token: Annotated[
        str | None, typer.Option("--token", help="ERC-20 to pay in (default: the reward token)")
    ] = None,
    gold: Annotated[
        Path | None, typer.Option("--gold", help="gold set CSV item,label (committed, salted)")
    ] = None,
    oracle: OracleUrl = None,
    spec_out: Annotated[
        Path | None,
        typer.Option(
            "--spec-out",
            help="write the funded spec (canonical JSON, with the gold commitment) here, to "
            "publish to annotators",
        ),
    ] = None,
    annotation_period: Annotated[
        str, typer.Option(help="time from now until attestations close (3600, 30m, 12h, 3d)")
    ] = "3d",
    reveal_period: Annotated[
        str, typer.Option(help="time after the annotation deadline for reveals")
    ] = "1d",
    challenge_period: Annotated[
        str,
        typer.Option(
            help="dispute and veto window of a proposed payout (at least the protocol's floor)"
        ),
    ] = "1d",
    claim_period: Annotated[
        str, typer.Option(help="time to claim after finalization (at least the floor)")
    ] = "30d",
    oracle_timeout: Annotated[
        str,
        typer.Option(
            help="after the reveal deadline, time for a first payout to be proposed, or the "
            "budget comes back (at least the floor)"
        ),
    ] = "7d",
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
    as_json: JsonOut = False,
) -> None:
    """Fund a task: spec hash and gold commitment on chain, budget into the escrow."""
    from labelproof import client

    periods = client.Periods(
        annotation=client.parse_duration(annotation_period, "--annotation-period"),
        reveal=client.parse_duration(reveal_period, "--reveal-period"),
        challenge=client.parse_duration(challenge_period, "--challenge-period"),
        claim=client.parse_duration(claim_period, "--claim-period"),
        oracle_timeout=client.parse_duration(oracle_timeout, "--oracle-timeout"),
    )
    periods.validate()
    task_spec, gold_set, salt = client.prepare_spec(spec, gold)
    store = wallet_store(wallet_dir)
    account = unlock(wallet_dir, wallet, password_file)
    chain = connect(rpc_url, deployments)
    token_address = token or chain.deployment.reward_token
    if not token_address:
        raise UsageError("this deployment has no reward token: give --token ADDRESS")
    _, decimals = chain.token_info(token_address)
    amount = client.parse_amount(budget, decimals, "--budget")
    with spinner("funding the task") as say:
        created = client.create_task(
            chain,
            account,
            task_spec,
            gold_set,
            salt,
            token_address,
            amount,
            periods,
            store.data_dir(wallet),
            oracle_service(oracle, required=False),
            say,
        )
    if spec_out is not None:
        from labelproof.wallet import write_atomic

        write_atomic(spec_out, task_spec.canonical_bytes() + b"\n", mode=0o644)
    if as_json:
        print_json(
            {
                "task_id": created.task_id,
                "tx": created.tx_hash,
                "funding": created.funding,
                "budget": str(created.budget),
                "spec_hash": created.spec_hash,
                "record": str(created.record),
                "spec_registered": oracle is not None,
            }
        )
        return
    out.print(
        f"task {created.task_id} funded with {client.format_amount(amount, decimals)} "
        f"{created.symbol} ({created.funding}) in {created.tx_hash}",
        highlight=False,
    )
    out.print(f"spec hash {created.spec_hash}; spec and gold salt kept in {created.record}")
    if oracle:
        out.print(f"spec registered with the oracle at {oracle}", highlight=False)


@task_app.command("register-spec")
@guarded
@chain_options
def task_register_spec(
    task_id: TaskArg,
    wallet: WalletName,
    oracle: OracleUrl = None,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
) -> None:
    """Register a task's spec (from the requester's local record) with the oracle."""
    from labelproof import client

    service = oracle_service(oracle)
    assert service is not None
    store = wallet_store(wallet_dir)
    store.get(wallet)
    chain = connect(rpc_url, deployments)
    with spinner("registering the spec"):
        digest = client.register_spec_for(chain, task_id, store.data_dir(wallet), service)
    out.print(f"task {task_id}: spec {digest} registered with {oracle}", highlight=False)


@task_app.command("status")
@guarded
@chain_options
def task_status(
    task_id: TaskArg,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    as_json: JsonOut = False,
) -> None:
    """Phase, deadlines (claims extended by pauses), attestations, the rule set and its bonds,
    the current round and the settlement history (vetoes, disputes, rulings), read from chain."""
    from labelproof import client

    chain = connect(rpc_url, deployments)
    with spinner(f"reading task {task_id}"):
        s = client.task_status(chain, task_id)
    if as_json:
        print_json(s)
        return
    _print_status(s)


@task_app.command("wait")
@guarded
@chain_options
def task_wait(
    task_id: TaskArg,
    phase: Annotated[
        list[str],
        typer.Option(
            "--phase",
            help="a phase to wait for (repeatable): annotation, reveal, scoring, challenge, "
            "finalizable, disputed, claims open, ...",
        ),
    ],
    wait_timeout: Annotated[
        float, typer.Option("--wait", help="seconds to wait before giving up", min=0)
    ] = 300.0,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
) -> None:
    """Wait until the task reaches one of the phases (e.g. the oracle's proposal makes it
    `challenge`); exit 1 if it does not within --wait seconds."""
    import time

    from labelproof import client

    chain = connect(rpc_url, deployments)
    wanted = {p.strip().lower() for p in phase}
    deadline = time.monotonic() + wait_timeout
    with spinner(f"waiting for task {task_id} to reach {' or '.join(sorted(wanted))}") as say:
        while True:
            current = str(client.task_status(chain, task_id)["phase"])
            if current in wanted:
                break
            if time.monotonic() > deadline:
                raise UsageError(
                    f"task {task_id} is still in phase {current!r} after {wait_timeout:g} s"
                )
            say(f"task {task_id}: {current}")
            time.sleep(1.0)
    out.print(f"task {task_id}: {current}", highlight=False)


def _print_status(s: dict[str, Any]) -> None:
    """`task status` as a table: money, deadlines, rules and bonds, the current round and the
    settlement history."""
    from labelproof import client

    d, sym, now = s["decimals"], s["symbol"], s["now"]
    bonds = s["bonds"]

    def amount(key: str) -> str:
        return f"{client.format_amount(int(s[key]), d)} {sym}"

    def bond(value: str) -> str:
        return f"{client.format_amount(int(value), bonds['decimals'])} {bonds['symbol']}"

    def when(ts: int) -> str:
        return client.format_time(ts, now)

    table = key_value_table(f"task {s['task_id']}: {s['phase']}")
    table.add_row("status", s["status"])
    table.add_row("requester", s["requester"])
    table.add_row("token", f"{sym} {s['token']}")
    for key in ("budget", "claimed", "refunded", "left"):
        table.add_row(key, amount(key))
    if s["refund_kind"]:
        table.add_row("refundable now", f"{amount('refundable')} ({s['refund_kind']})")
    for r in s["refunds"]:
        table.add_row("refund", f"{client.format_amount(int(r['amount']), d)} {sym} ({r['kind']})")
    table.add_row("attestations", str(s["attestations"]))
    dl = s["deadlines"]
    early = " (closed early by the requester)" if s["closed_early"] else ""
    table.add_row("annotation ends", when(dl["annotation"]) + early)
    table.add_row("reveal ends", when(dl["reveal"]))
    met = " (met: a payout was proposed)" if dl["oracle_met"] else ""
    table.add_row("oracle deadline", when(dl["oracle"]) + met)
    if s["status"] == "funded":
        table.add_row("bonded proposals", f"anyone with a bond from {when(dl['bonded_proposals'])}")
    if dl["claim"]:
        extension = s["pause"]["claim_extension"]
        note = (
            f" (extended by {client.format_duration(extension)} of pauses; originally "
            f"{when(dl['claim_original'])})"
            if extension
            else ""
        )
        table.add_row("claims end", when(dl["claim"]) + note)
    if s["pause"]["paused"]:
        table.add_row("paused", "yes: claims, refunds of unclaimed pay and new tasks wait")
    rules = s["rules"]
    floors = rules["floors"]
    revoked = f", {len(rules['revoked'])} revoked" if rules["revoked"] else ""
    table.add_row(
        "rules",
        f"set {rules['id']}: {rules['threshold']} of {len(rules['oracles'])} oracles{revoked}; "
        f"guardian {rules['guardian'] or 'none'}; arbitrator {rules['arbitrator']}",
    )
    table.add_row(
        "floors",
        f"challenge {client.format_duration(floors['challenge'])}, claim "
        f"{client.format_duration(floors['claim'])}, proposal window "
        f"{client.format_duration(floors['proposal_window'])}, committee grace "
        f"{client.format_duration(rules['committee_grace'])}",
    )
    table.add_row(
        "bonds",
        f"proposer {bond(bonds['proposer_bond'])}, dispute {bond(bonds['dispute_bond'])}, "
        f"{bonds['burn_bps'] / 100:g}% of a losing bond burned",
    )
    p = s["proposal"]
    if p:
        if p["state"] == "voting":
            payout = f"leading {p['total_units']} {sym}, root {p['root']}, " if p["root"] else ""
            text = f"round {p['round']}: voting, {payout}{p['votes']} of {p['threshold']} votes"
        else:
            by = f"bonded by {p['proposer']}" if p["proposer"] else "by the committee"
            if p["state"] == "disputed":
                window = f"disputed by {p['dispute']['disputer']} (dispute {p['dispute']['id']})"
            elif p["state"] == "challenge":
                window = f"challenge ends {when(p['challenge_ends'])}"
            else:
                window = f"finalizable since {when(p['challenge_ends'])}"
            text = (
                f"round {p['round']}: {p['total_units']} {sym}, root {p['root']} ({by}, bond "
                f"{bond(p['bond'])}; {window})"
            )
        table.add_row("proposal", text)
    for h in s["history"]:
        table.add_row("history", _history_line(h, sym, d, bond))
    for flow in bonds["settled"]:
        table.add_row("bond settled", f"{bond(flow['amount'])} to {flow['label']}")
    if s["payout_root"]:
        table.add_row(
            "payout",
            f"{client.format_amount(int(s['payout_total']), d)} {sym}, root {s['payout_root']}",
        )
    table.add_row("spec hash", s["spec_hash"])
    table.add_row("gold commitment", s["gold_commitment"] or "none")
    out.print(table)


def _history_line(h: dict[str, Any], sym: str, decimals: int, bond: Callable[[str], str]) -> str:
    from labelproof import client

    event = h["event"]
    if event == "pending":
        by = f"bonded by {h['proposer']}" if h["proposer"] else "by the committee"
        total = client.format_amount(int(h["total"]), decimals)
        return f"round {h['round']}: {total} {sym} proposed {by} (bond {bond(h['bond'])})"
    if event == "vetoed":
        return f"round {h['round']}: vetoed by the guardian: {h['reason']}"
    if event == "disputed":
        return (
            f"round {h['round']}: disputed by {h['disputer']} (dispute {h['dispute_id']}, bond "
            f"{bond(h['bond'])})"
        )
    if event == "ruled":
        return f"round {h['round']}: dispute {h['dispute_id']} ruled: {h['verdict']}"
    if event == "restarted":
        return f"round {h['round']}: restarted by {h['caller']} (no payout could pass)"
    total = client.format_amount(int(h["total"]), decimals)
    return f"finalized: {total} {sym}, root {h['root']}"


@task_app.command("reveal-gold")
@guarded
@chain_options
def task_reveal_gold(
    task_id: TaskArg,
    wallet: WalletName,
    oracle: OracleUrl = None,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
) -> None:
    """Reveal the task's gold set and salt to the oracle (registers the spec too)."""
    from labelproof import client

    service = oracle_service(oracle)
    assert service is not None
    store = wallet_store(wallet_dir)
    address = store.address(wallet)
    chain = connect(rpc_url, deployments)
    with spinner("revealing the gold set") as say:
        body = client.reveal_gold(chain, address, task_id, store.data_dir(wallet), service, say)
    out.print(
        f"task {task_id}: {body.get('gold_items')} gold items revealed to {oracle} "
        f"(commitment {body.get('commitment')})",
        highlight=False,
    )


def _task_tx(
    what: str,
    build: Callable[[Chain], Any],
    wallet: str,
    rpc_url: str,
    deployments: Path | None,
    wallet_dir: Path | None,
    password_file: Path | None,
) -> tuple[Chain, Any]:
    from labelproof import client

    account = unlock(wallet_dir, wallet, password_file)
    chain = connect(rpc_url, deployments)
    with spinner(f"sending {what}") as say:
        receipt = client.simple_action(chain, account, build(chain), what, say)
    return chain, receipt


@task_app.command("cancel")
@guarded
@chain_options
def task_cancel(
    task_id: TaskArg,
    wallet: WalletName,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Cancel a task: nobody attested yet, the whole budget goes back; someone did, the task is
    closed early (annotation ends now, reveals and scoring follow sooner, the attested work is
    paid and the rest of the budget comes back after finalization)."""
    from labelproof import client

    account = unlock(wallet_dir, wallet, password_file)
    chain = connect(rpc_url, deployments)
    with spinner("cancelling the task") as say:
        done = client.cancel_task(chain, account, task_id, say)
    view = chain.task(task_id)
    sym, d = chain.token_info(view.token)
    if done.kind == "cancelled":
        out.print(
            f"task {task_id} cancelled: {client.format_amount(done.refunded, d)} {sym} back to "
            f"{view.requester} (cancelled) in {done.tx_hash}",
            highlight=False,
        )
        return
    now = chain.now()
    out.print(
        f"task {task_id} closed early in {done.tx_hash}: annotators had attested, so the budget "
        "is not refunded now; the annotation window closed and reveals end "
        f"{client.format_time(done.reveal_deadline, now)}. The attested work is scored and "
        "paid as usual; what the payout does not allocate comes back with `labelproof task "
        "refund` once it is final (everything, if no payout is proposed by "
        f"{client.format_time(done.reveal_deadline + view.oracle_timeout, now)}).",
        highlight=False,
    )


@task_app.command("refund")
@guarded
@chain_options
def task_refund(
    task_id: TaskArg,
    wallet: WalletName,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Pay the requester whatever is refundable now (unallocated, unclaimed, or everything when
    no payout was ever proposed by the oracle deadline)."""
    chain, receipt = _task_tx(
        "refund",
        lambda c: c.escrow.functions.refund(task_id),
        wallet,
        rpc_url,
        deployments,
        wallet_dir,
        password_file,
    )
    _print_refund(chain, task_id, receipt, "refunded")


@task_app.command("finalize")
@guarded
@chain_options
def task_finalize(
    task_id: TaskArg,
    wallet: WalletName,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Make the agreed payout final once its challenge window is over (anyone may)."""
    from labelproof import client

    chain, _ = _task_tx(
        "finalize",
        lambda c: c.committee.functions.finalize(task_id),
        wallet,
        rpc_url,
        deployments,
        wallet_dir,
        password_file,
    )
    view = chain.task(task_id)
    sym, d = chain.token_info(view.token)
    out.print(
        f"task {task_id} final: {client.format_amount(view.payout_total, d)} {sym} to claim "
        f"until {client.format_time(view.claim_deadline, chain.now())}",
        highlight=False,
    )


def _print_refund(chain: Chain, task_id: int, receipt: Any, verb: str) -> None:
    from web3.logs import DISCARD

    from labelproof import client

    events = chain.escrow.events.Refunded().process_receipt(receipt, errors=DISCARD)
    view = chain.task(task_id)
    sym, d = chain.token_info(view.token)
    amount = sum(int(e["args"]["amount"]) for e in events)
    kind = client.REFUND_KINDS[int(events[0]["args"]["kind"])] if events else "none"
    out.print(
        f"task {task_id} {verb}: {client.format_amount(amount, d)} {sym} back to "
        f"{view.requester} ({kind})",
        highlight=False,
    )


# ---------------------------------------------------------------------------------------------
# annotators
# ---------------------------------------------------------------------------------------------

annotate_app = typer.Typer(help="Annotators: commit to labels, reveal them.", no_args_is_help=True)
app.add_typer(annotate_app, name="annotate")


@annotate_app.command("commit")
@guarded
@chain_options
def annotate_commit(
    task: Annotated[int, typer.Option("--task", help="the task id", min=1)],
    labels: Annotated[Path, typer.Option("--labels", help="CSV item,label")],
    wallet: WalletName,
    relay: Annotated[
        str | None,
        typer.Option("--relay", envvar="LABELPROOF_RELAY_URL", help="relayer URL (no ETH needed)"),
    ] = None,
    spec: Annotated[
        Path | None, typer.Option("--spec", help="the task spec, to check items and labels")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="wait until the relayer's batch is mined")
    ] = True,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the relayer")] = 120.0,
    relay_patience: Annotated[
        float,
        typer.Option(
            help="seconds of relayer trouble before the same signature is sent again (three "
            "times as long before attesting directly)",
            min=0.1,
        ),
    ] = 15.0,
    fallback_direct: Annotated[
        bool,
        typer.Option(
            "--fallback-direct/--no-fallback-direct",
            help="if the relayer fails, attest directly when this wallet has ETH for gas",
        ),
    ] = True,
    derive_salts: Annotated[
        bool,
        typer.Option(
            "--derive-salts",
            help="derive the salts from a signature of the wallet (as the web app does), so "
            "`annotate reveal --labels` can re-create them anywhere",
        ),
    ] = False,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Commit to your labels: fresh (or wallet-derived) salts, the root of your leaves,
    attested on chain."""
    from labelproof import client
    from labelproof.spec import SpecError, TaskSpec

    label_map = client.read_labels(labels)
    task_spec = None
    if spec is not None:
        try:
            task_spec = TaskSpec.from_json(spec.read_bytes())
        except OSError as exc:
            raise UsageError(f"{spec}: cannot read: {exc.strerror or exc}") from None
        except SpecError as exc:
            raise UsageError(f"{spec}: {exc}") from None
    store = wallet_store(wallet_dir)
    account = unlock(wallet_dir, wallet, password_file)
    chain = connect(rpc_url, deployments)
    relay_service = client.Service(relay, "relayer") if relay else None
    salts = None
    if derive_salts:
        from labelproof.salts import derive_salts as derive
        from labelproof.salts import wallet_seed

        dep = chain.deployment
        seed = wallet_seed(account, chain.chain_id, dep.registry, dep.escrow, task)
        salts = derive(seed, label_map)
    with spinner("committing") as say:
        done = client.commit_annotations(
            chain,
            account,
            task,
            label_map,
            store.data_dir(wallet),
            spec=task_spec,
            relay=relay_service,
            wait=wait,
            wait_timeout=timeout,
            relay_patience=relay_patience,
            fallback_direct=fallback_direct,
            say=say,
            salts=salts,
        )
    if done.tx_hash:
        where = f"in {done.tx_hash}"
    elif done.confirmed:
        where = "on chain"
    else:
        where = f"queued at the relayer as {done.relay_hash}"
    out.print(
        f"task {task}: {done.item_count} labels committed (root {done.root}, version "
        f"{done.version}, {done.via}) {where}",
        highlight=False,
    )
    if done.note:
        out.print(f"note: {done.note}", highlight=False)
    out.print(f"labels and salts kept in {done.record}: you need them to reveal", highlight=False)


@annotate_app.command("reveal")
@guarded
@chain_options
def annotate_reveal(
    task: Annotated[int, typer.Option("--task", help="the task id", min=1)],
    wallet: WalletName,
    oracle: OracleUrl = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="CSV item,label committed with wallet-derived salts (--derive-salts or the "
            "web app): the salts are re-derived, no local record needed",
        ),
    ] = None,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Reveal your committed labels and salts to the oracle (checked against the chain)."""
    from labelproof import client

    service = oracle_service(oracle)
    assert service is not None
    if labels is not None:
        label_map = client.read_labels(labels)
        account = unlock(wallet_dir, wallet, password_file)
        chain = connect(rpc_url, deployments)
        with spinner("revealing") as say:
            body = client.reveal_derived(chain, account, task, label_map, service, say)
        out.print(
            f"task {task}: {body.get('item_count')} labels revealed to {oracle} (salts derived "
            f"from the wallet), receipt {body.get('receipt')}",
            highlight=False,
        )
        return
    store = wallet_store(wallet_dir)
    address = store.address(wallet)
    chain = connect(rpc_url, deployments)
    with spinner("revealing") as say:
        body = client.reveal_annotations(chain, address, task, store.data_dir(wallet), service, say)
    out.print(
        f"task {task}: {body.get('item_count')} labels revealed to {oracle}, receipt "
        f"{body.get('receipt')}",
        highlight=False,
    )


@app.command("rewards")
@guarded
@chain_options
def rewards_cmd(
    wallet: WalletName,
    oracle: OracleUrl = None,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    as_json: JsonOut = False,
) -> None:
    """What the wallet can claim across final tasks (proofs checked against the chain)."""
    from labelproof import client

    address = wallet_store(wallet_dir).address(wallet)
    chain = connect(rpc_url, deployments)
    with spinner("reading rewards") as say:
        rows = client.rewards(chain, address, oracle_service(oracle, required=False), say)
    if as_json:
        print_json({"account": address, "rewards": [r.as_dict() for r in rows]})
        return
    if not rows:
        out.print(f"{address}: no final task you attested to", highlight=False)
        return
    table = Table(title=f"rewards of {address}", title_justify="left")
    for col in ("task", "amount", "state", "claim until"):
        table.add_column(col, overflow="fold")
    now = chain.now()
    for r in rows:
        amount = "?" if r.amount is None else f"{client.format_amount(r.amount, r.decimals)}"
        table.add_row(
            str(r.task_id),
            f"{amount} {r.symbol}",
            r.state,
            client.format_time(r.claim_deadline, now),
        )
    out.print(table)
    if oracle is None and any(r.state == "unknown" for r in rows):
        out.print("give --oracle URL to see amounts and claim", highlight=False)


@app.command("claim")
@guarded
@chain_options
def claim_cmd(
    wallet: WalletName,
    task: Annotated[int | None, typer.Option("--task", help="claim this task", min=1)] = None,
    all_tasks: Annotated[bool, typer.Option("--all", help="claim every claimable task")] = False,
    oracle: OracleUrl = None,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Claim your payouts: one task, or all of them in one claimMany."""
    from labelproof import client

    if (task is None) == (not all_tasks):
        raise UsageError("give --task ID or --all (one of them)")
    service = oracle_service(oracle)
    account = unlock(wallet_dir, wallet, password_file)
    chain = connect(rpc_url, deployments)
    with spinner("finding claimable payouts") as say:
        rows = client.rewards(chain, account.address, service, say)
    if task is not None:
        row = next((r for r in rows if r.task_id == task), None)
        if row is None:
            raise UsageError(
                f"task {task}: nothing to claim for {account.address} (not final, or never "
                "attested)"
            )
        if row.state != "claimable":
            raise UsageError(f"task {task}: nothing to claim for {account.address} ({row.state})")
        chosen = [row]
    else:
        chosen = [r for r in rows if r.state == "claimable"]
        if not chosen:
            out.print(f"{account.address}: nothing to claim", highlight=False)
            return
    with spinner("claiming") as say:
        receipt = client.claim(chain, account, chosen, say)
    tx = "0x" + bytes(receipt["transactionHash"]).hex()
    for r in chosen:
        assert r.amount is not None
        out.print(
            f"task {r.task_id}: claimed {client.format_amount(r.amount, r.decimals)} {r.symbol}",
            highlight=False,
        )
    out.print(f"in {tx}", highlight=False)


@app.command("claim-batch")
@guarded
def claim_batch_cmd(
    wallet: Annotated[str, typer.Option("--wallet", help="the sponsor's wallet (pays the gas)")],
    task: Annotated[int, typer.Option("--task", help="the task whose annotators to pay", min=1)],
    account: Annotated[
        list[str] | None,
        typer.Option("--account", help="pay this account (repeatable); default: every unclaimed"),
    ] = None,
    tree_file: Annotated[
        Path | None,
        typer.Option("--tree", help="the payout tree (standard-v1 JSON); default: the oracle's"),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="leaves per transaction", min=1, max=1000)
    ] = 100,
    oracle: OracleUrl = None,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Pay many annotators of one task from your gas (claimBatch): tokens go to each leaf's
    account, nobody has to sign; already-claimed accounts are skipped."""
    from labelproof import client, sponsor

    if tree_file is not None:
        tree = sponsor.load_tree_file(str(tree_file))
    else:
        service = oracle_service(oracle)
        assert service is not None
        with spinner(f"fetching task {task}'s payout tree"):
            tree = sponsor.fetch_payout_tree(service, task)
    sender = unlock(wallet_dir, wallet, password_file)
    chain = connect(rpc_url, deployments)
    with spinner("paying") as say:
        done = sponsor.sponsor_claims(
            chain, sender, task, tree, account or None, batch_size=batch_size, say=say
        )
    symbol, decimals = chain.token_info(chain.task(task).token)
    total = sum(amount for _, amount in done.paid)
    out.print(
        f"task {task}: paid {len(done.paid)} accounts "
        f"{client.format_amount(total, decimals)} {symbol} in {len(done.transactions)} "
        f"transaction(s), {done.gas_used:,} gas",
        highlight=False,
    )
    for who, amount in done.skipped:
        out.print(
            f"  skipped {who}: already claimed ({client.format_amount(amount, decimals)} {symbol})",
            highlight=False,
        )
    for tx in done.transactions:
        out.print(f"in {tx}", highlight=False)


# ---------------------------------------------------------------------------------------------
# relayer
# ---------------------------------------------------------------------------------------------

relay_app = typer.Typer(help="The relayer of signed attestations.", no_args_is_help=True)
app.add_typer(relay_app, name="relay")


@relay_app.command("serve")
@guarded
@chain_options
def relay_serve(
    wallet: WalletName,
    rpc_url: RpcUrl = DEFAULT_RPC,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8600,
    batch_size: Annotated[
        int, typer.Option(help="attestations per attestBySig transaction", min=1, max=200)
    ] = 50,
    max_wait: Annotated[
        float, typer.Option(help="seconds the oldest attestation waits for a batch", min=0)
    ] = 5.0,
    db: Annotated[
        str | None,
        typer.Option(
            help="sqlite:///path of the relayer's database (default: in the wallet's "
            "data directory, one per chain)"
        ),
    ] = None,
    stuck_after: Annotated[
        float, typer.Option(help="seconds a batch may stay pending before its fee is raised")
    ] = 60.0,
    max_fee_cap_gwei: Annotated[
        float | None,
        typer.Option(
            help="no fee raise goes above this max fee per gas (gwei; default: --max-fee)"
        ),
    ] = None,
    rate_per_address: Annotated[
        float, typer.Option(help="attestations a minute one annotator may send", min=0.01)
    ] = 30.0,
    rate_per_task: Annotated[
        float, typer.Option(help="attestations a minute one task may get", min=0.01)
    ] = 6000.0,
    task_gas_budget: Annotated[
        int, typer.Option(help="gas the relayer spends at most per task", min=1)
    ] = 200_000_000,
    enrollment: Annotated[
        str,
        typer.Option(
            help="open: any annotator; required: only those the task's requester "
            "enrolled (PUT /tasks/{id}/enrollment)"
        ),
    ] = "open",
    archive_stale_state: Annotated[
        bool,
        typer.Option(
            help="if the database belongs to another chain (a reset), move it aside and start fresh"
        ),
    ] = False,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
    log_level: Annotated[str, typer.Option(help="uvicorn and relay log level")] = "info",
) -> None:
    """Take signed attestations over HTTP and submit them in batches (pays the gas)."""
    from labelproof.relayer.__main__ import with_timeout
    from labelproof.relayer.api import serve
    from labelproof.relayer.service import Relay, RelayConfig
    from labelproof.relayer.store import Store, StoreError

    if not 0 < port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, got {port}")
    if enrollment not in ("open", "required"):
        raise UsageError(f"--enrollment must be open or required, got {enrollment!r}")
    account = unlock(wallet_dir, wallet, password_file, lock=False)
    chain = with_timeout(connect(rpc_url, deployments), 5.0)
    if int(chain.w3.eth.get_balance(account.address)) == 0:
        raise UsageError(f"the relayer {account.address} has no ETH to pay for gas")
    if db is None:
        path = wallet_store(wallet_dir).data_dir(wallet) / f"relayer-{chain.chain_id}.db"
        db = f"sqlite:///{path.resolve()}"
    # The common fee flags (--max-fee, --priority-fee) set the relayer's cap and tip floor;
    # its own persisted transaction manager (labelproof.relayer.service) applies them.
    fees = tx_options()
    cap = fees.max_fee if max_fee_cap_gwei is None else int(max_fee_cap_gwei * 10**9)
    config = RelayConfig(
        batch_size=batch_size,
        max_wait=max_wait,
        stuck_after=stuck_after,
        max_fee_cap=cap,
        rate_per_address=rate_per_address,
        rate_per_task=rate_per_task,
        task_gas_budget=task_gas_budget,
        enrollment=enrollment,
        **({} if fees.priority_fee is None else {"min_priority_fee": fees.priority_fee}),
    )
    try:
        relay = Relay(chain, account, Store(db), config, archive_stale_state=archive_stale_state)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    err.print(
        f"relaying for registry {chain.deployment.registry} on chain {chain.chain_id} from "
        f"{account.address} at http://{host}:{port} (state in {db})",
        highlight=False,
    )
    if relay.stale:
        err.print(f"[bold red]not relaying:[/] {relay.stale}", highlight=False)
    serve(relay, host, port, log_level)


# settlement: dispute, propose, watch, governance, arbitrate, stake (labelproof.cli_settlement).
# Under `python -m labelproof.cli` this module is __main__: name it so that the import below
# finds it instead of loading a second copy.
sys.modules.setdefault("labelproof.cli", sys.modules[__name__])
from labelproof.cli_settlement import register as _register_settlement  # noqa: E402

_register_settlement(app)
from labelproof.cli_data import register as _register_data  # noqa: E402

_register_data(app)  # import|export label-studio (labelproof.cli_data)

from labelproof.app.cli import register as _register_app  # noqa: E402

_register_app(app)


def run(argv: list[str] | None = None) -> int:
    """Run the command line on `argv`; every error is one line on stderr."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["wallet"] and any(_looks_like_key(a) for a in args[1:]):
        err.print(
            "[bold red]error:[/] refusing a private key on the command line (it would stay in "
            "your shell history and the process list): use --key-file FILE or the prompt",
            highlight=False,
            soft_wrap=True,
        )
        return 2
    try:
        code = app(args=args, prog_name="labelproof", standalone_mode=False)
    except click_exc.NoArgsIsHelpError as exc:
        out.print(exc.ctx.get_help(), highlight=False, markup=False)
        return 0
    except click_exc.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        err.print(
            f"[bold red]error:[/] {escape(exc.format_message())}{escape(hint)}",
            highlight=False,
            soft_wrap=True,
        )
        return exc.exit_code
    except click_exc.ClickException as exc:
        err.print(f"[bold red]error:[/] {escape(exc.format_message())}", highlight=False)
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt, EOFError):
        err.print("[bold red]error:[/] interrupted", highlight=False)
        return 130
    return int(code or 0) if isinstance(code, int) else 0


def _looks_like_key(arg: str) -> bool:
    from labelproof.wallet import looks_like_private_key

    value = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
    return looks_like_private_key(value)


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
