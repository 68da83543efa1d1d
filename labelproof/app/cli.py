"""``labelproof app serve``: serve the annotators' web app (see labelproof.app.server)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(root: typer.Typer) -> None:
    """Add ``app serve`` to the ``labelproof`` command line."""
    from labelproof.cli import guarded

    app_app = typer.Typer(help="The annotators' web app.", no_args_is_help=True)
    app_app.command("serve")(guarded(app_serve))
    root.add_typer(app_app, name="app")


def app_serve(
    deployment: Annotated[
        Path, typer.Option("--deployment", help="the deployment file (deployments/<chainId>.json)")
    ],
    oracle: Annotated[str, typer.Option("--oracle", help="the oracle service's URL")],
    relayer: Annotated[
        str | None, typer.Option("--relayer", help="the relayer's URL (gasless commits, claims)")
    ] = None,
    rpc_url: Annotated[
        str, typer.Option("--rpc-url", envvar="LABELPROOF_RPC_URL", help="JSON-RPC of the chain")
    ] = "http://127.0.0.1:8545",
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8700,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
) -> None:
    """Serve the web app: annotators label, commit (no gas), reveal and claim in a browser."""
    from labelproof.app.server import Backend, serve
    from labelproof.cli import UsageError
    from labelproof.deploy import Deployment

    if not 0 < port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, got {port}")
    try:
        dep = Deployment.from_json(deployment.read_text())
    except OSError as exc:
        raise UsageError(f"{deployment}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise UsageError(f"{deployment}: not a deployment file: {exc}") from None
    backend = Backend(rpc_url, dep, oracle, relayer)
    try:
        chain_id = int(backend.chain.w3.eth.chain_id)
    except Exception as exc:
        raise UsageError(f"cannot reach the chain at {rpc_url}: {exc}") from None
    if chain_id != dep.chain_id:
        raise UsageError(
            f"{deployment} is for chain {dep.chain_id}, but {rpc_url} is chain {chain_id}"
        )
    typer.echo(
        f"labelproof app at http://{host}:{port}/ (chain {chain_id}, oracle {oracle})", err=True
    )
    serve(backend, host, port, log_level)
