"""Settlement commands of the `labelproof` command line: disputes, bonded proposals, the
watcher, governance through the timelock, the arbitrator panel's vote and the committee stake.

* ``dispute TASK_ID``: dispute a pending proposal with the rule set's bond;
* ``propose TASK_ID --bundle URL_OR_FILE``: a bonded, permissionless proposal recomputed from a
  published inputs bundle;
* ``watch``: check every pending proposal against its bundle, dispute the wrong ones;
* ``governance schedule|execute|cancel|status|rules``: timelocked changes;
* ``arbitrate DISPUTE_ID RULING``: a LocalArbitrator panel member's vote;
* ``stake fund|show``: the stake that backs committee proposals.

Commands send from ``--from WALLET`` (a wallet name, or a keystore file) and take the same
``--rpc-url`` / ``--deployments`` / ``--wallet-dir`` / ``--password-file`` as the others. The
logic lives in labelproof.bonded, labelproof.bundle, labelproof.watch and
labelproof.governance; this module only parses, confirms and prints.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from labelproof.cli import (
    DEFAULT_RPC,
    DeploymentsDir,
    JsonOut,
    PasswordFile,
    RpcUrl,
    TaskArg,
    UsageError,
    WalletDir,
    chain_options,
    connect,
    err,
    get_password,
    guarded,
    key_value_table,
    out,
    print_json,
    spinner,
    unlock,
)

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from labelproof.client import Chain
    from labelproof.governance import Operation

FromWallet = Annotated[
    str,
    typer.Option(
        "--from", "--wallet", help="wallet name (or keystore file) to send from", show_default=False
    ),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="send without asking for confirmation")]


def _account(
    source: str, wallet_dir: Path | None, password_file: Path | None, *, lock: bool = True
) -> LocalAccount:
    """A wallet by name, or a keystore file (a path ending in .json or containing a /)."""
    from labelproof.wallet import load_keystore_file

    path = Path(source).expanduser()
    if path.suffix == ".json" or os.sep in source:
        if not path.exists():
            raise UsageError(f"--from {source}: no such keystore file")
        return load_keystore_file(path, get_password(password_file, str(path)))
    return unlock(wallet_dir, source, password_file, lock=lock)


def _confirm(yes: bool, what: str) -> None:
    """Go ahead with --yes, or after a yes at the terminal; refuse without a terminal."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"not sent: give --yes to {what} (no terminal to confirm on)")
    if not typer.confirm(f"{what[0].upper()}{what[1:]}?", default=False):
        err.print("nothing sent", highlight=False)
        raise typer.Exit(1)


def _lines(lines: list[str]) -> None:
    for line in lines:
        out.print(line, highlight=False)


# ---------------------------------------------------------------------------------------------
# dispute and propose
# ---------------------------------------------------------------------------------------------


@guarded
@chain_options
def dispute_cmd(
    task_id: TaskArg,
    from_wallet: FromWallet,
    yes: Yes = False,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Dispute a task's pending proposal with a bond.

    Puts up the rule set's dispute bond and pays the arbitrator's fee; the arbitrator then
    rules."""
    from labelproof import bonded

    account = _account(from_wallet, wallet_dir, password_file)
    chain = connect(rpc_url, deployments)
    with spinner(f"checking task {task_id}'s proposal"):
        plan = bonded.plan_dispute(chain, task_id, account.address)
    _lines(plan.describe())
    _confirm(yes, f"dispute task {task_id}'s proposal")
    with spinner("disputing") as say:
        sent = bonded.dispute(chain, account, plan, say)
    out.print(
        f"task {task_id}: disputed in {sent.tx}: dispute {sent.dispute_id} at arbitrator "
        f"{sent.arbitrator}, bond {plan.rules.amount(sent.bond)}",
        highlight=False,
    )


@guarded
@chain_options
def propose_cmd(
    task_id: TaskArg,
    bundle: Annotated[
        str, typer.Option("--bundle", help="the inputs bundle: a URL or a file", show_default=False)
    ],
    from_wallet: FromWallet,
    published_url: Annotated[
        str | None,
        typer.Option(
            "--published-url", help="where the bundle is published, when --bundle is a file"
        ),
    ] = None,
    oracle: Annotated[
        str | None,
        typer.Option(
            "--oracle",
            envvar="LABELPROOF_ORACLE_URL",
            help="an oracle serving /bundles/<inputsHash> (counts as a publication)",
        ),
    ] = None,
    yes: Yes = False,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Propose a task's payout with a bond, recomputed from its inputs bundle.

    Anyone may, after the committee's grace period. Publishes nothing: the bundle must already
    be retrievable over HTTP by whoever wants to check the proposal."""
    from labelproof import bonded
    from labelproof.bundle import (
        BundleUnavailable,
        bundle_sources,
        fetch,
        fetch_matching,
        is_url,
        verify_onchain,
    )
    from labelproof.sending import when
    from labelproof.settlement import inputs_hash

    account = _account(from_wallet, wallet_dir, password_file)
    chain = connect(rpc_url, deployments)
    with spinner(f"checking task {task_id}"):
        bonded.check_proposable(chain, task_id)
    with spinner(f"fetching {bundle}"):
        data = fetch(bundle)
    digest = inputs_hash(data)
    public = [bundle] if is_url(bundle) else []
    public += [published_url] if published_url else []
    public += bundle_sources(task_id, digest, oracles=[oracle] if oracle else [])[:1]
    if not public:
        raise UsageError(
            "the bundle must be retrievable by anyone who checks the proposal: give --bundle "
            "as a URL, --published-url URL, or --oracle URL serving /bundles/<inputsHash>"
        )
    with spinner("checking the bundle is published"):
        try:
            _, where = fetch_matching(public, digest)
        except BundleUnavailable as exc:
            raise UsageError(
                f"the bundle {digest} is not retrievable where it should be published "
                f"({exc.detail}): publish it first, nobody could check the proposal otherwise"
            ) from None
    with spinner("recomputing the payout from the bundle"):
        result = verify_onchain(chain, task_id, data, digest)
    if result.problems:
        raise UsageError(
            f"the bundle does not fit task {task_id} on chain: " + "; ".join(result.problems[:3])
        )
    assert result.computed is not None
    c = result.computed
    with spinner("checking the proposal"):
        plan = bonded.plan_bonded_proposal(
            chain, task_id, account.address, c.root, c.total, c.report_hash, digest
        )
    _lines([*plan.describe(), f"bundle published at {where}"])
    _confirm(yes, f"propose task {task_id}'s payout with a bond")
    with spinner("proposing") as say:
        sent = bonded.propose_bonded(chain, account, plan, say)
    out.print(
        f"task {task_id}: proposed in {sent.tx} (round {sent.round}, bond "
        f"{plan.rules.amount(sent.bond)}); challenge window ends "
        f"{when(sent.challenge_ends, chain.now())}",
        highlight=False,
    )


# ---------------------------------------------------------------------------------------------
# the watcher
# ---------------------------------------------------------------------------------------------


@guarded
@chain_options
def watch_cmd(
    oracle: Annotated[
        str | None,
        typer.Option(
            "--oracle", envvar="LABELPROOF_ORACLE_URL", help="oracle serving /bundles/<hash>"
        ),
    ] = None,
    bundles: Annotated[
        Path | None, typer.Option("--bundles", help="directory of <inputsHash>.json bundles")
    ] = None,
    from_wallet: Annotated[
        str | None,
        typer.Option("--from", "--wallet", help="wallet that disputes (and pays the bond)"),
    ] = None,
    dispute: Annotated[
        bool, typer.Option("--dispute/--no-dispute", help="dispute wrong proposals")
    ] = True,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="really dispute (else: say what it would do)")
    ] = False,
    once: Annotated[bool, typer.Option("--once", help="one pass, then exit (cron, tests)")] = False,
    interval: Annotated[float, typer.Option(help="seconds between passes", min=0.1)] = 15.0,
    grace: Annotated[
        int,
        typer.Option(
            help="seconds a proposal's bundle may be missing before that alone is disputed",
            min=0,
        ),
    ] = 600,
    state: Annotated[
        Path | None,
        typer.Option("--state", help="state file (default ~/.labelproof/watch/<chain>-<addr>)"),
    ] = None,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Check pending proposals against their inputs bundles; dispute the wrong ones.

    One line per proposal checked: ok, mismatch (what differs), invalid (the bundle
    contradicts the chain), waiting (bundle not published yet), disputed (tx). Disputes a
    mismatch, an invalid bundle, or a bundle still missing --grace seconds into the challenge
    window; only with --yes (else it says what it would do)."""
    from labelproof.watch import Report, Sources, Watcher, default_state_path

    if oracle is None and bundles is None:
        raise UsageError("give where bundles are: --oracle URL and/or --bundles DIR")
    if bundles is not None and not bundles.is_dir():
        raise UsageError(f"--bundles {bundles}: not a directory")
    account = None
    if from_wallet is not None:
        account = _account(from_wallet, wallet_dir, password_file, lock=False)
    elif dispute and yes:
        raise UsageError("--yes disputes from a wallet: give --from WALLET (or --no-dispute)")
    chain = connect(rpc_url, deployments)
    watcher = Watcher(
        chain,
        Sources(oracles=[oracle] if oracle else [], directories=[bundles] if bundles else []),
        state_path=state or default_state_path(chain),
        account=account,
        dispute=dispute,
        confirm=yes,
        grace=grace,
    )
    seen = 0

    def emit(report: Report) -> None:
        nonlocal seen
        seen += 1
        out.print(report.line, highlight=False)
        sys.stdout.flush()

    if not once:
        mode = "disputing" if dispute and yes else "reporting only"
        err.print(
            f"watching committee {chain.deployment.committee} on chain {chain.chain_id} "
            f"({mode}; state {watcher.state_path}); Ctrl-C to stop",
            highlight=False,
        )

    def failed(exc: Exception) -> None:
        text = (str(exc) or type(exc).__name__).splitlines()[0][:300]
        err.print(f"pass failed, trying again in {interval:g} s: {text}", highlight=False)

    try:
        watcher.run(emit, interval=interval, once=once, on_error=failed)
    except KeyboardInterrupt:
        err.print("stopped", highlight=False)
        return
    if once and not seen:
        err.print(
            f"no pending proposal to check (read up to block {watcher.state.next_block - 1})",
            highlight=False,
        )


# ---------------------------------------------------------------------------------------------
# governance
# ---------------------------------------------------------------------------------------------

governance_app = typer.Typer(
    help="Governance through the timelock: schedule, execute, cancel, status, rules.",
    no_args_is_help=True,
)
schedule_app = typer.Typer(
    help="Schedule a change; anyone executes it after the timelock's delay.",
    no_args_is_help=True,
)
governance_app.add_typer(schedule_app, name="schedule")

Delay = Annotated[
    int | None,
    typer.Option("--delay", help="seconds before it can execute (default: the minimum)", min=0),
]
Nonce = Annotated[
    int,
    typer.Option(
        "--nonce", help="salt nonce: schedule an operation already done once again", min=0
    ),
]


def _schedule(
    build: Any,
    from_wallet: str,
    delay: int | None,
    nonce: int,
    yes: bool,
    rpc_url: str,
    deployments: Path | None,
    wallet_dir: Path | None,
    password_file: Path | None,
) -> None:
    from labelproof import governance
    from labelproof.sending import span_words, when

    account = _account(from_wallet, wallet_dir, password_file)
    chain: Chain = connect(rpc_url, deployments)
    with spinner("preparing the operation"):
        op: Operation = build(chain).with_nonce(nonce)
        min_delay = governance.check_schedulable(chain, account.address, op, nonce)
    wait = min_delay if delay is None else delay
    _lines([*op.summary, f"operation {op.id}", f"executable {span_words(wait)} after scheduling"])
    _confirm(yes, f"schedule {op.kind}")
    with spinner("scheduling") as say:
        done = governance.schedule(chain, account, op, delay=delay, nonce=nonce, say=say)
    out.print(
        f"scheduled {op.kind} as operation {done.id} in {done.tx}; executable from "
        f"{when(done.eta, chain.now())}: labelproof governance execute {done.id}",
        highlight=False,
    )


@schedule_app.command("publish-rules")
@guarded
@chain_options
def schedule_publish_rules(
    rules_file: Annotated[Path, typer.Argument(help="YAML of the new rule set's fields")],
    from_wallet: FromWallet,
    delay: Delay = None,
    nonce: Nonce = 0,
    yes: Yes = False,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Publish a new rule set, for tasks created after it applies.

    Fields left out of the YAML keep their current values. Keys: oracles, threshold, guardian,
    arbitrator, bond_token, proposer_bond, dispute_bond, burn_bps, min_challenge_period,
    min_claim_period, min_proposal_window, committee_grace (periods as 3600, 30m, 12h, 3d;
    bonds in the smallest unit or as '100 LPR')."""
    from labelproof import governance

    _schedule(
        lambda chain: governance.publish_rules_op(chain, rules_file),
        from_wallet,
        delay,
        nonce,
        yes,
        rpc_url,
        deployments,
        wallet_dir,
        password_file,
    )


@schedule_app.command("revoke-oracle")
@guarded
@chain_options
def schedule_revoke_oracle(
    rules_id: Annotated[int, typer.Argument(help="the rule set", min=1)],
    oracle: Annotated[str, typer.Argument(help="the oracle's address")],
    from_wallet: FromWallet,
    delay: Delay = None,
    nonce: Nonce = 0,
    yes: Yes = False,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Revoke an oracle in a rule set: its votes stop counting in that rule set's tasks."""
    from labelproof import governance

    _schedule(
        lambda chain: governance.revoke_oracle_op(chain, rules_id, oracle),
        from_wallet,
        delay,
        nonce,
        yes,
        rpc_url,
        deployments,
        wallet_dir,
        password_file,
    )


def _guardian_command(grant: bool) -> Any:
    verb = "grant" if grant else "revoke"

    @guarded
    @chain_options
    def command(
        account: Annotated[str, typer.Argument(help="the guardian's address")],
        from_wallet: FromWallet,
        delay: Delay = None,
        nonce: Nonce = 0,
        yes: Yes = False,
        rpc_url: RpcUrl = DEFAULT_RPC,
        deployments: DeploymentsDir = None,
        wallet_dir: WalletDir = None,
        password_file: PasswordFile = None,
    ) -> None:
        from labelproof import governance

        _schedule(
            lambda chain: governance.guardian_op(chain, account, grant=grant),
            from_wallet,
            delay,
            nonce,
            yes,
            rpc_url,
            deployments,
            wallet_dir,
            password_file,
        )

    command.__doc__ = (
        f"{verb.capitalize()} the escrow's GUARDIAN_ROLE (may pause claims for a bounded time)."
    )
    return command


schedule_app.command("grant-guardian")(_guardian_command(True))
schedule_app.command("revoke-guardian")(_guardian_command(False))


@schedule_app.command("withdraw-stake")
@guarded
@chain_options
def schedule_withdraw_stake(
    amount: Annotated[str, typer.Argument(help="amount in token units, e.g. 50 or 12.5")],
    to: Annotated[str, typer.Option("--to", help="who receives it", show_default=False)],
    from_wallet: FromWallet,
    token: Annotated[
        str | None, typer.Option("--token", help="stake token (default: the bond token)")
    ] = None,
    delay: Delay = None,
    nonce: Nonce = 0,
    yes: Yes = False,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Withdraw unlocked committee stake."""
    from labelproof import client, governance

    def build(chain: Chain) -> Operation:
        address = token or chain.deployment.bond_token
        _, decimals = chain.token_info(address)
        units = client.parse_amount(amount, decimals, "amount")
        return governance.withdraw_stake_op(chain, units, to, address)

    _schedule(
        build, from_wallet, delay, nonce, yes, rpc_url, deployments, wallet_dir, password_file
    )


OpId = Annotated[str, typer.Argument(help="operation id (or its first hex digits)")]


@governance_app.command("execute")
@guarded
@chain_options
def governance_execute(
    operation: OpId,
    from_wallet: FromWallet,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Execute a scheduled operation once its delay is over (anyone may)."""
    from labelproof import governance

    account = _account(from_wallet, wallet_dir, password_file)
    chain = connect(rpc_url, deployments)
    with spinner("executing") as say:
        op, tx = governance.execute(chain, account, operation, say)
    out.print(f"executed {op.id} ({op.description}) in {tx}", highlight=False)
    if op.target == chain.committee.address and op.description.startswith("committee.publishRules"):
        count = int(chain.committee.functions.rulesCount().call())
        out.print(f"rule set {count} is now current for new tasks", highlight=False)


@governance_app.command("cancel")
@guarded
@chain_options
def governance_cancel(
    operation: OpId,
    from_wallet: FromWallet,
    yes: Yes = False,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Cancel a scheduled operation (the timelock's proposers may)."""
    from labelproof import governance

    account = _account(from_wallet, wallet_dir, password_file)
    chain = connect(rpc_url, deployments)
    with spinner("finding the operation") as say:
        op = governance.find_operation(chain, operation, say)
    out.print(f"operation {op.id}: {op.description}", highlight=False)
    _confirm(yes, "cancel it")
    with spinner("cancelling") as say:
        op, tx = governance.cancel(chain, account, op.id, say)
    out.print(f"cancelled {op.id} in {tx}", highlight=False)


@governance_app.command("status")
@guarded
@chain_options
def governance_status(
    show_all: Annotated[
        bool, typer.Option("--all", help="also operations done or cancelled")
    ] = False,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    as_json: JsonOut = False,
) -> None:
    """Scheduled operations with their ETA (local time, and in words)."""
    from labelproof import governance
    from labelproof.sending import span_words, when

    chain = connect(rpc_url, deployments)
    with spinner("reading the timelock") as say:
        ops = governance.operations(chain, say)
        min_delay = int(governance.timelock(chain).functions.getMinDelay().call())
    now = chain.now()
    live = (governance.OperationState.WAITING, governance.OperationState.READY)
    shown = [op for op in ops if show_all or op.state in live]
    if as_json:
        print_json(
            {
                "timelock": chain.deployment.timelock,
                "min_delay": min_delay,
                "now": now,
                "operations": [
                    {
                        "id": op.id,
                        "state": governance.STATE_WORDS[op.state],
                        "eta": op.eta if op.eta > 1 else None,
                        "description": op.description,
                        "target": op.target,
                        "data": op.data,
                        "salt": op.salt,
                        "tx": op.tx,
                    }
                    for op in shown
                ],
            }
        )
        return
    out.print(
        f"timelock {chain.deployment.timelock}: changes wait {span_words(min_delay)}",
        highlight=False,
    )
    if not shown:
        out.print("no pending operations" + ("" if show_all else " (--all for past ones)"))
        return
    for op in shown:
        if op.state in live:
            eta = f"executable from {when(op.eta, now)}"
        else:
            eta = f"scheduled in block {op.block}"
        out.print(f"{op.id}  {governance.STATE_WORDS[op.state]}, {eta}", highlight=False)
        out.print(f"  {op.description}", highlight=False)


@governance_app.command("rules")
@guarded
@chain_options
def governance_rules(
    rules_id: Annotated[
        int | None, typer.Argument(help="rule set id (default: the current one)", min=1)
    ] = None,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    as_json: JsonOut = False,
) -> None:
    """Print a rule set of the committee."""
    from labelproof import governance

    chain = connect(rpc_url, deployments)
    with spinner("reading the rule set"):
        rid, rules = governance.rule_set(chain, rules_id)
        count = int(chain.committee.functions.rulesCount().call())
    if as_json:
        print_json({"id": rid, "current": rid == count, **rules})
        return
    title = f"rule set {rid}" + (" (current)" if rid == count else f" (current: {count})")
    table = key_value_table(title)
    for name, value in governance.describe_rules(chain, rules):
        table.add_row(name, value)
    out.print(table)


# ---------------------------------------------------------------------------------------------
# arbitrator panel and stake
# ---------------------------------------------------------------------------------------------


@guarded
@chain_options
def arbitrate_cmd(
    dispute_id: Annotated[int, typer.Argument(help="the arbitrator's dispute id", min=0)],
    ruling: Annotated[
        str,
        typer.Argument(
            help="refused (0), payout-stands (1), payout-wrong (2), refund-requester (3)"
        ),
    ],
    from_wallet: FromWallet,
    arbitrator: Annotated[
        str | None,
        typer.Option("--arbitrator", help="LocalArbitrator address (default: the deployment's)"),
    ] = None,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Vote on a dispute as a LocalArbitrator panel member.

    The vote that reaches the quorum applies the ruling to the committee."""
    from labelproof import bonded

    verdict = bonded.parse_ruling(ruling)
    account = _account(from_wallet, wallet_dir, password_file)
    chain = connect(rpc_url, deployments)
    with spinner("voting") as say:
        cast = bonded.arbitrate(chain, account, dispute_id, verdict, arbitrator, say)
    name = bonded.ruling_name(int(cast.ruling))
    about = f" (task {cast.task_id})" if cast.task_id else ""
    state = (
        "ruling applied"
        if cast.applied
        else f"{cast.votes} of {cast.quorum} votes needed, not decided yet"
    )
    out.print(f"dispute {dispute_id}{about}: voted {name} in {cast.tx}; {state}", highlight=False)


stake_app = typer.Typer(help="The committee's stake behind its proposals.", no_args_is_help=True)


@stake_app.command("fund")
@guarded
@chain_options
def stake_fund(
    amount: Annotated[str, typer.Argument(help="amount in token units, e.g. 500 or 12.5")],
    from_wallet: FromWallet,
    token: Annotated[
        str | None, typer.Option("--token", help="stake token (default: the bond token)")
    ] = None,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
    wallet_dir: WalletDir = None,
    password_file: PasswordFile = None,
) -> None:
    """Add to the committee's stake, which backs committee proposals (anyone may)."""
    from labelproof import bonded, client

    account = _account(from_wallet, wallet_dir, password_file)
    chain = connect(rpc_url, deployments)
    address = token or chain.deployment.bond_token
    symbol, decimals = chain.token_info(address)
    units = client.parse_amount(amount, decimals, "amount")
    with spinner("funding the stake") as say:
        done = bonded.fund_stake(chain, account, address, units, say)
    out.print(
        f"staked {client.format_amount(units, decimals)} {symbol} in {done.tx}; the committee's "
        f"unlocked stake is {client.format_amount(done.stake, decimals)} {symbol}",
        highlight=False,
    )


@stake_app.command("show")
@guarded
@chain_options
def stake_show(
    token: Annotated[
        str | None, typer.Option("--token", help="stake token (default: the bond token)")
    ] = None,
    rpc_url: RpcUrl = DEFAULT_RPC,
    deployments: DeploymentsDir = None,
) -> None:
    """The committee's unlocked stake."""
    from labelproof import bonded, client

    chain = connect(rpc_url, deployments)
    address = token or chain.deployment.bond_token
    symbol, decimals = chain.token_info(address)
    stake = bonded.stake_of(chain, address)
    out.print(
        f"committee {chain.deployment.committee}: {client.format_amount(stake, decimals)} "
        f"{symbol} unlocked stake",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add the settlement commands to the `labelproof` app."""
    app.command("dispute")(dispute_cmd)
    app.command("propose")(propose_cmd)
    app.command("watch")(watch_cmd)
    app.command("arbitrate")(arbitrate_cmd)
    app.add_typer(governance_app, name="governance")
    app.add_typer(stake_app, name="stake")
