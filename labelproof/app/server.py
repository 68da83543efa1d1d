"""``labelproof app serve``: the annotators' web app and what it reads, on one origin.

* ``/`` and ``/static/*``: the built page (labelproof/app/static, no network at run time);
* ``/config.json``: the chain id and contract addresses the page checks the wallet against;
* ``/api/tasks``, ``/api/tasks/{id}``: the oracle's task index and specs, with what the chain
  says of each task (labelproof.client.task_status: money, deadlines, periods, phase);
* ``/api/tasks/{id}/annotators/{account}``: the account's attestation and claim on chain;
* ``/api/accounts/{account}/earnings``: every task the account attested to;
* ``/api/tasks/{id}/audit``: the audit of that task (labelproof.audit: verdict, rows, plots);
* ``/oracle/*``, ``/relayer/*``: passed to the oracle and the relayer, so the page needs no
  CORS; when one is down the page gets 502 ``{"error": "the oracle at URL is not reachable"}``.

The page sends transactions and signatures through the annotator's own wallet only; this
server holds no key.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
from eth_utils import is_address, to_checksum_address
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from web3 import Web3

from labelproof.client import ActionError, Chain
from labelproof.deploy import Deployment

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger("labelproof.app")


class AppError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Backend:
    """The chain, the oracle and the relayer as the page's server sees them."""

    def __init__(
        self, rpc_url: str, deployment: Deployment, oracle: str, relayer: str | None
    ) -> None:
        self.rpc_url = rpc_url
        self.deployment = deployment
        self.chain = Chain(
            Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30})), deployment
        )
        self.urls = {"oracle": oracle.rstrip("/"), "relayer": (relayer or "").rstrip("/")}
        self.http = httpx.Client(timeout=60)

    def call(
        self, service: str, method: str, path: str, body: bytes | None = None
    ) -> httpx.Response:
        base = self.urls[service]
        if not base:
            raise AppError(503, f"this app was started without a {service} URL")
        try:
            return self.http.request(
                method, base + path, content=body, headers={"content-type": "application/json"}
            )
        except httpx.TransportError as exc:
            raise AppError(
                502,
                f"the {service} at {base} is not reachable ({type(exc).__name__}): try again later",
            ) from None

    def oracle_json(self, path: str, *, missing_ok: bool = False) -> Any:
        r = self.call("oracle", "GET", path)
        if r.status_code == 404 and missing_ok:
            return None
        if r.status_code >= 400:
            raise AppError(r.status_code, _error_of(r, "oracle"))
        return r.json()

    def task(self, task_id: int) -> dict[str, Any]:
        from labelproof.client import task_status

        self.check_task(task_id)
        try:
            status = task_status(self.chain, task_id)
        except ActionError as exc:
            raise AppError(404, str(exc)) from None
        spec = self.oracle_json(f"/tasks/{task_id}/spec", missing_ok=True)
        status["spec"] = spec
        status["title"] = None if spec is None else spec.get("title")
        return status

    def check_task(self, task_id: int) -> None:
        try:
            count = int(self.chain.escrow.functions.taskCount().call())
        except Exception as exc:
            raise AppError(
                502, f"the chain at {self.rpc_url} is not reachable ({type(exc).__name__})"
            ) from None
        if not 1 <= task_id <= count:
            raise AppError(404, f"task {task_id} does not exist on chain (tasks 1 to {count} do)")

    def tasks(self) -> list[dict[str, Any]]:
        index = self.oracle_json("/index/tasks")["tasks"]
        out = []
        for row in index:
            try:
                out.append({**row, **self.task_summary(int(row["task_id"]))})
            except AppError as exc:
                out.append({**row, "phase": "unknown", "error": exc.message})
        return out

    def task_summary(self, task_id: int) -> dict[str, Any]:
        from labelproof.client import task_status

        s = task_status(self.chain, task_id)
        keys = ("phase", "status", "symbol", "decimals", "budget", "deadlines", "periods", "now")
        return {k: s[k] for k in keys}

    def annotator(self, task_id: int, account: str) -> dict[str, Any]:
        reg, esc = self.chain.registry, self.chain.escrow
        digest, version = reg.functions.attestation(task_id, account).call()
        return {
            "task_id": task_id,
            "account": account,
            "version": int(version),
            "digest": "0x" + bytes(digest).hex(),
            "claimed": bool(esc.functions.isClaimed(task_id, account).call()),
        }

    def earnings(self, account: str) -> list[dict[str, Any]]:
        """Every task the account attested to; amounts and proofs (checked against the posted
        root) for the final ones."""
        from labelproof.client import Service, format_amount, rewards

        attested = sorted(
            {
                int(e["args"]["taskId"])
                for e in self.chain.logs(self.chain.registry.events.Attested, annotator=account)
            }
        )
        try:
            found = rewards(self.chain, account, Service(self.urls["oracle"], "oracle"))
        except ActionError as exc:
            raise AppError(502, str(exc)) from None
        rows = {r.task_id: r for r in found}
        out = []
        for task_id in attested:
            summary = self.task_summary(task_id)
            r = rows.get(task_id)
            out.append(
                {
                    "task_id": task_id,
                    "phase": summary["phase"],
                    "symbol": summary["symbol"],
                    "state": "not final" if r is None else r.state,
                    "amount": None if r is None or r.amount is None else str(r.amount),
                    "amount_units": None
                    if r is None or r.amount is None
                    else format_amount(r.amount, r.decimals),
                    "proof": [] if r is None else r.proof,
                    "claim_deadline": None if r is None else r.claim_deadline,
                }
            )
        return out

    def audit(self, task_id: int) -> dict[str, Any]:
        from labelproof.audit import (
            AuditInputError,
            plot_money_flow,
            plot_payout_distribution,
            plot_payout_vs_quality,
            run_audit,
        )

        self.check_task(task_id)
        try:
            result = run_audit(
                self.chain.w3, self.deployment, task_ids=[task_id], oracle_url=self.urls["oracle"]
            )
        except AuditInputError as exc:
            raise AppError(502, f"the audit cannot read its inputs: {exc}") from None
        task = next((t for t in result.tasks if t.task_id == task_id), None)
        findings = [f for f in result.findings if f.task in (None, task_id)]
        return {
            "task_id": task_id,
            "verdict": "every check holds" if not findings else f"{len(findings)} finding(s)",
            "ok": not findings,
            "findings": [{"check": f.check, "message": f.message} for f in findings],
            "published": None if task is None else task.published,
            "rows": []
            if task is None
            else [
                {
                    "account": r.account,
                    "quality": r.quality,
                    "payout": str(r.payout),
                    "claimed": str(r.claimed),
                }
                for r in task.rows
            ],
            "min_quality": None if task is None else task.min_quality,
            "plots": {
                "payout_vs_quality": plot_payout_vs_quality(result),
                "payout_distribution": plot_payout_distribution(result),
                "money_flow": plot_money_flow(result),
            },
        }


def _error_of(r: httpx.Response, service: str) -> str:
    try:
        body = r.json()
        if isinstance(body, dict) and "error" in body:
            return f"the {service} says: {body['error']}"
    except ValueError:
        pass
    return f"the {service} answered {r.status_code}: {r.text[:200]}"


def _account(text: str) -> str:
    if not is_address(text):
        raise AppError(422, f"{text!r} is not an address")
    return to_checksum_address(text)


def create_app(backend: Backend) -> FastAPI:
    app = FastAPI(title="labelproof app", docs_url=None, redoc_url=None)
    dep = backend.deployment

    @app.exception_handler(AppError)
    async def app_error(_: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"error": exc.message})

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "chain_id": dep.chain_id}

    @app.get("/config.json")
    def config() -> dict[str, Any]:
        return {
            "chain_id": dep.chain_id,
            "escrow": dep.escrow,
            "registry": dep.registry,
            "oracle": backend.urls["oracle"],
            "relayer": backend.urls["relayer"] or None,
        }

    @app.get("/api/tasks")
    def tasks() -> dict[str, Any]:
        return {"tasks": backend.tasks()}

    @app.get("/api/tasks/{task_id}")
    def task(task_id: int) -> dict[str, Any]:
        return backend.task(task_id)

    @app.get("/api/tasks/{task_id}/annotators/{account}")
    def annotator(task_id: int, account: str) -> dict[str, Any]:
        return backend.annotator(task_id, _account(account))

    @app.get("/api/accounts/{account}/earnings")
    def earnings(account: str) -> dict[str, Any]:
        return {"account": _account(account), "tasks": backend.earnings(_account(account))}

    @app.get("/api/tasks/{task_id}/audit")
    def audit(task_id: int) -> dict[str, Any]:
        return backend.audit(task_id)

    async def forward(service: str, path: str, request: Request) -> Response:
        body = await request.body()
        query = ("?" + request.url.query) if request.url.query else ""
        r = await run_in_threadpool(
            backend.call, service, request.method, "/" + path + query, body or None
        )
        return Response(
            content=r.content,
            status_code=r.status_code,
            media_type=r.headers.get("content-type", "application/json"),
        )

    @app.api_route("/oracle/{path:path}", methods=["GET", "POST"])
    async def oracle(path: str, request: Request) -> Response:
        return await forward("oracle", path, request)

    @app.api_route("/relayer/{path:path}", methods=["GET", "POST"])
    async def relayer(path: str, request: Request) -> Response:
        return await forward("relayer", path, request)

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def serve(backend: Backend, host: str, port: int, log_level: str = "info") -> None:
    import uvicorn

    uvicorn.run(create_app(backend), host=host, port=port, log_level=log_level)
