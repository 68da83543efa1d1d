"""The oracle's HTTP API (FastAPI): specs, reveals and gold in; reports, bundles, trees and
proofs out.

Published per task once scored (the latest round scored):

* ``GET /tasks/{id}/bundle``: the canonical inputs bundle (records.py describes its fields),
  ``application/json``; its exact bytes hash (keccak256) to the ``inputsHash`` the oracle
  proposes on chain (header ``X-Inputs-Hash``). Stored, and so served, before the proposal is
  signed.
* ``GET /bundles/{inputsHash}``: the same bytes looked up by their hash (any round or task this
  oracle scored); 404 if this oracle published no such bundle.
* ``GET /tasks/{id}/report``: the report bytes (keccak256 = reportHash); ``/tree``, ``/proof``;
  ``GET /tasks/{id}/reveals``: the bundle's JSON plus ``round``, ``report_hash``, ``inputs_hash``.

Every submission is checked against the chain before anything is stored, and a rejected one
changes nothing. Errors are JSON ``{"error": "<one line saying what is wrong>"}``.

Status codes:

* 201 stored; 200 the same submission again (idempotent: same receipt, nothing written).
* 400 malformed JSON; 413 body larger than ``max_body_bytes`` (checked on the raw bytes,
  before any parsing); 422 well-formed but invalid: a field of the wrong type or shape, a bad
  address or salt, an item or label outside the task's spec, a reveal that does not match the
  annotator's on-chain commitment, a spec whose hash is not the task's specHash, a gold set
  that does not open the gold commitment.
* 404 unknown task (not on chain), or a report, tree, proof or published reveals that do not
  exist yet.
* 409 the request is valid but the task's state refuses it: the reveal window is closed (chain
  time is past the reveal deadline as the escrow now has it, early closes included, or this
  oracle has already sealed the reveals for scoring), the gold deadline has passed (chain time
  past the reveal deadline plus the oracle's gold grace: the task is scored without gold and
  the report says the gold set was withheld), the spec is not registered yet (reveals and gold
  are checked against it), the task has no gold commitment, or the annotator already revealed
  a different label set and this one does not match a newer attestation.

A reveal after the deadline is 409 rather than 422: nothing in the request is wrong, it came
too late for the task's state, and the same body would have been accepted earlier.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from eth_utils import is_address, to_checksum_address
from fastapi import Body, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from labelproof.merkle import StandardMerkleTree
from labelproof.oracle.onchain import OracleChain
from labelproof.oracle.records import (
    DEFAULT_GOLD_GRACE,
    GOLD_NONE,
    GOLD_REVEALED,
    GOLD_WITHHELD,
    RevealError,
    gold_deadline,
    parse_labels,
    parse_salt,
    receipt_of,
    reveal_document,
    reveal_root,
)
from labelproof.oracle.store import GoldRow, RevealRow, Store, TaskRow
from labelproof.scoring import SCORING_VERSION
from labelproof.spec import (
    SpecError,
    TaskSpec,
    canonical_gold_bytes,
    canonical_json,
    commitment_hex,
    gold_commitment,
    spec_hash,
)

log = logging.getLogger("labelproof.oracle.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ServiceStatus:
    """What /health reports; the background loop updates it."""

    started_at: float = field(default_factory=time.time)
    last_tick: float | None = None
    synced_block: int | None = None
    last_error: str | None = None


@dataclass
class ApiContext:
    store: Store
    chain: OracleChain
    oracle: str
    max_body_bytes: int = 1_000_000
    status: ServiceStatus = field(default_factory=ServiceStatus)
    gold_grace: int = DEFAULT_GOLD_GRACE


# Module level: with postponed annotations FastAPI resolves parameter types by name here.
TaskId = Annotated[int, Path(description="the escrow's task id", ge=0)]
InputsHash = Annotated[
    str,
    Path(
        description="keccak256 of the bundle bytes: 0x followed by 64 hex digits",
        pattern=r"^0x[0-9a-fA-F]{64}$",
    ),
]


# -- request bodies


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    item: str = Field(min_length=1)
    label: str = Field(min_length=1)
    salt: str = Field(description="0x followed by 64 hex digits: the 32-byte leaf salt")


class RevealIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    annotator: str = Field(description="the annotator's address (0x...)")
    labels: list[LabelIn] = Field(min_length=1)


class GoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    gold: dict[str, str] = Field(description="item -> true label")
    salt: str = Field(description="0x followed by 64 hex digits: the commitment's salt")


# -- the body-size limit, before any parsing


class BodyLimit:
    """Refuses request bodies over `max_bytes` with 413 before the app reads them.

    A declared Content-Length over the limit is refused without reading; otherwise the body is
    read up to the limit (chunked bodies included) and replayed to the app.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _reply(send, 400, "invalid Content-Length header")
                return
            if size > self.max_bytes:
                await _reply(send, 413, self._too_large(size))
                return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > self.max_bytes:
                await _reply(send, 413, self._too_large(len(body)))
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self, size: int) -> str:
        return f"request body of {size} bytes exceeds the limit of {self.max_bytes} bytes"


async def _reply(send: Send, status: int, message: str) -> None:
    payload = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


# -- the app


def create_app(ctx: ApiContext) -> FastAPI:
    app = FastAPI(
        title="labelproof oracle",
        version="1.0.0",
        description=(
            "Reveals, gold sets and specs in (each checked against the chain); payout reports, "
            'Merkle trees and proofs out. Errors are JSON {"error": message}.'
        ),
    )

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"error": exc.message})

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        for e in errors:
            if e.get("type") == "json_invalid":
                ctx_info = e.get("ctx") or {}
                reason = ctx_info.get("error", e.get("msg", "invalid JSON"))
                return JSONResponse(
                    status_code=400, content={"error": f"malformed JSON body: {reason}"}
                )
        parts = []
        for e in errors[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()))
            parts.append(f"{where}: {e.get('msg')}")
        return JSONResponse(
            status_code=422,
            content={"error": "invalid request: " + "; ".join(parts)},
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"error": str(exc.detail)})

    def load_task(task_id: int) -> TaskRow:
        with ctx.store.read() as tx:
            task = tx.task(task_id)
        if task is not None:
            return task
        # The follower may not have reached the creating block yet (confirmations, polling):
        # the escrow's storage has the same immutable parameters.
        task = ctx.chain.task(task_id)
        if task is None:
            raise ApiError(404, f"task {task_id} does not exist on chain")
        with ctx.store.write() as tx:
            tx.add_task(task)
        return task

    def load_spec(task_id: int) -> TaskSpec:
        with ctx.store.read() as tx:
            row = tx.spec(task_id)
        if row is None:
            raise ApiError(
                409,
                f"task {task_id} has no spec registered with this oracle yet: the requester "
                f"must POST /tasks/{task_id}/spec first",
            )
        return TaskSpec.from_json(row[0])

    @app.get("/health", summary="liveness and sync state")
    def health() -> dict[str, Any]:
        s = ctx.status
        return {
            "status": "ok",
            "oracle": ctx.oracle,
            "chain_id": ctx.chain.chain_id,
            "escrow": ctx.chain.escrow.address,
            "committee": ctx.chain.committee.address,
            "synced_block": s.synced_block,
            "last_tick": s.last_tick,
            "last_error": s.last_error,
            "gold_grace": ctx.gold_grace,
        }

    @app.get("/tasks/{task_id}", summary="what this oracle holds and does for a task")
    def task_status(task_id: TaskId) -> dict[str, Any]:
        task = load_task(task_id)
        with ctx.store.read() as tx:
            state = tx.state(task_id)
            proposals = tx.proposals(task_id)
            report = tx.report(task_id)
            gold_revealed = tx.gold(task_id) is not None
            if report is not None:
                gold_status = report.gold_status
            elif not task.has_gold:
                gold_status = GOLD_NONE
            elif gold_revealed:
                gold_status = GOLD_REVEALED
            else:
                gold_status = GOLD_WITHHELD if state.sealed_at is not None else "awaiting"
            return {
                "task_id": task_id,
                "rules_id": task.rules_id,
                "annotation_deadline": task.annotation_deadline,
                "reveal_deadline": task.reveal_deadline,
                "oracle_deadline": task.oracle_deadline,
                "spec_registered": tx.spec(task_id) is not None,
                "reveals": len(tx.reveals(task_id)),
                "gold_required": task.has_gold,
                "gold_revealed": gold_revealed,
                "gold_grace": ctx.gold_grace,
                "gold_deadline": (
                    gold_deadline(task.reveal_deadline, task.oracle_timeout, ctx.gold_grace)
                    if task.has_gold
                    else None
                ),
                "gold_status": gold_status,
                "sealed": state.sealed_at is not None,
                "note": state.note,
                "operator_round": state.operator_round,
                "inputs_hash": None if report is None else report.inputs_hash,
                "proposals": [
                    {
                        "round": p.round,
                        "state": p.state,
                        "root": p.root,
                        "total": None if p.total is None else str(p.total),
                        "report_hash": p.report_hash,
                        "inputs_hash": p.inputs_hash,
                        "tx_hash": p.tx_hash,
                        "note": p.note,
                    }
                    for p in proposals
                ],
            }

    @app.post(
        "/tasks/{task_id}/spec",
        status_code=201,
        summary="register the task spec (checked against the on-chain specHash)",
    )
    def post_spec(
        task_id: TaskId, response: Response, body: Annotated[dict[str, Any], Body()]
    ) -> dict[str, Any]:
        task = load_task(task_id)
        try:
            spec = TaskSpec.from_dict(body)
        except SpecError as exc:
            raise ApiError(422, f"invalid spec: {exc}") from None
        digest = "0x" + spec_hash(spec).hex()
        if digest != task.spec_hash:
            raise ApiError(
                422,
                f"spec hash {digest} does not match task {task_id}'s on-chain specHash "
                f"{task.spec_hash}",
            )
        on_chain_gold = commitment_hex(bytes.fromhex(task.gold_commitment[2:]))
        if spec.gold_commitment != on_chain_gold:
            raise ApiError(
                422,
                f"the spec's gold commitment {spec.gold_commitment} differs from the task's "
                f"on-chain goldCommitment {on_chain_gold}",
            )
        if spec.scoring.version != SCORING_VERSION:
            raise ApiError(
                422,
                f"scoring version {spec.scoring.version!r} is not supported: this oracle "
                f"scores with version {SCORING_VERSION!r}",
            )
        with ctx.store.write() as tx:
            if tx.spec(task_id) is not None:
                response.status_code = 200  # same hash, so the same spec: idempotent
            else:
                tx.add_spec(task_id, spec.to_json(), digest)
        return {"task_id": task_id, "spec_hash": digest}

    @app.post(
        "/tasks/{task_id}/reveals",
        status_code=201,
        summary="reveal an annotator's labels and salts (checked against its attestation)",
    )
    def post_reveal(task_id: TaskId, body: RevealIn, response: Response) -> dict[str, Any]:
        load_task(task_id)
        if not is_address(body.annotator):
            raise ApiError(422, f"annotator {body.annotator!r} is not an address")
        annotator = to_checksum_address(body.annotator)
        try:
            labels = parse_labels([(x.item, x.label, x.salt) for x in body.labels])
        except RevealError as exc:
            raise ApiError(422, f"invalid reveal: {exc}") from None
        spec = load_spec(task_id)
        try:
            spec.check_labels({x.item: x.label for x in labels})
        except SpecError as exc:
            raise ApiError(422, f"invalid reveal: {exc}") from None
        block, now = ctx.chain.head()
        # The escrow's deadline at this block, not the stored one: an early close moves it up,
        # and the follower may not have seen that yet.
        reveal_deadline = ctx.chain.payout_window(task_id, block).reveal_deadline
        if now > reveal_deadline:
            raise ApiError(
                409,
                f"the reveal window of task {task_id} closed at {reveal_deadline} "
                f"(chain time is {now})",
            )
        chain_id, escrow = ctx.chain.chain_id, ctx.chain.escrow.address
        root = reveal_root(chain_id, escrow, task_id, annotator, labels)
        # Both reads at one block, so the version is the one the root was checked against.
        matched = ctx.chain.is_attested(task_id, annotator, root, len(labels), block)
        version = ctx.chain.attestation_version(task_id, annotator, block)
        doc = reveal_document(chain_id, escrow, task_id, annotator, version, root, labels)
        doc_bytes = canonical_json(doc)
        receipt = receipt_of(doc_bytes)
        with ctx.store.write() as tx:
            if tx.state(task_id).sealed_at is not None:
                raise ApiError(
                    409, f"the reveal window of task {task_id} is closed: reveals are sealed"
                )
            existing = tx.reveal(task_id, annotator)
            if matched:
                if existing is not None and existing.version == version:
                    # The same attestation fixes the same leaves: this is the same reveal.
                    response.status_code = 200
                    return _receipt_body(existing, duplicate=True)
                row = RevealRow(
                    task_id=task_id,
                    annotator=annotator,
                    version=version,
                    root="0x" + root.hex(),
                    item_count=len(labels),
                    reveal_json=doc_bytes.decode("utf-8"),
                    receipt=receipt,
                    stored_at=time.time(),
                )
                tx.put_reveal(row)
            elif (
                existing is not None
                and json.loads(existing.reveal_json)["labels"] != (doc["labels"])
            ):
                raise ApiError(
                    409,
                    f"annotator {annotator} already revealed a different label set for task "
                    f"{task_id} (receipt {existing.receipt}, attestation version "
                    f"{existing.version}); a new reveal must match a newer attestation",
                )
            else:
                detail = (
                    "it has no attestation"
                    if version == 0
                    else f"its attestation (version {version}) commits to another root or "
                    "item count"
                )
                raise ApiError(
                    422,
                    f"reveal does not match annotator {annotator}'s on-chain commitment for "
                    f"task {task_id}: the labels and salts give root 0x{root.hex()} over "
                    f"{len(labels)} items, but {detail}",
                )
        log.info("task %d: reveal by %s stored (receipt %s)", task_id, annotator, receipt)
        return _receipt_body(row, duplicate=False)

    @app.post(
        "/tasks/{task_id}/gold",
        status_code=201,
        summary="reveal the gold set and salt (checked against the gold commitment)",
    )
    def post_gold(task_id: TaskId, body: GoldIn, response: Response) -> dict[str, Any]:
        task = load_task(task_id)
        if not task.has_gold:
            raise ApiError(409, f"task {task_id} has no gold set (its gold commitment is zero)")
        try:
            salt = parse_salt(body.salt, "gold")
            gold_bytes = canonical_gold_bytes(body.gold)
            opened = gold_commitment(body.gold, salt)
        except (RevealError, SpecError) as exc:
            raise ApiError(422, f"invalid gold set: {exc}") from None
        if "0x" + opened.hex() != task.gold_commitment:
            raise ApiError(
                422,
                f"gold set and salt do not open task {task_id}'s gold commitment "
                f"{task.gold_commitment} (they hash to 0x{opened.hex()})",
            )
        spec = load_spec(task_id)
        try:
            spec.check_labels(body.gold, "gold")
        except SpecError as exc:
            raise ApiError(422, f"invalid gold set: {exc}") from None
        block, now = ctx.chain.head()
        window = ctx.chain.payout_window(task_id, block)
        deadline = gold_deadline(window.reveal_deadline, window.oracle_timeout, ctx.gold_grace)
        withheld = (
            f"the task is scored without gold and its report and inputs bundle say the gold "
            f"set was withheld (the gold deadline is the reveal deadline "
            f"{window.reveal_deadline} plus this oracle's gold grace of {ctx.gold_grace} s, at "
            "most half the oracle timeout)"
        )
        with ctx.store.write() as tx:
            if tx.gold(task_id) is not None:
                response.status_code = 200  # the commitment admits one opening: idempotent
            elif tx.state(task_id).sealed_at is not None:
                raise ApiError(
                    409,
                    f"too late to reveal the gold set of task {task_id}: the gold deadline "
                    f"{deadline} passed and this oracle has sealed the task for scoring; "
                    + withheld,
                )
            elif now > deadline:
                raise ApiError(
                    409,
                    f"too late to reveal the gold set of task {task_id}: the gold deadline "
                    f"{deadline} passed (chain time is {now}); " + withheld,
                )
            else:
                tx.add_gold(
                    GoldRow(task_id, gold_bytes.decode("utf-8"), "0x" + salt.hex(), time.time())
                )
        return {"task_id": task_id, "gold_items": len(body.gold), "commitment": "0x" + opened.hex()}

    def load_report(task_id: int) -> Any:
        load_task(task_id)
        with ctx.store.read() as tx:
            report = tx.report(task_id)
        if report is None:
            raise ApiError(404, f"task {task_id} has not been scored by this oracle yet")
        return report

    @app.get(
        "/tasks/{task_id}/report",
        summary="the payout report: its exact bytes hash (keccak256) to the reportHash",
    )
    def get_report(task_id: TaskId) -> Response:
        report = load_report(task_id)
        return Response(
            content=report.report,
            media_type="application/json",
            headers={
                "X-Report-Hash": report.report_hash,
                "X-Payout-Root": report.root,
                "X-Round": str(report.round),
            },
        )

    @app.get(
        "/tasks/{task_id}/bundle",
        summary="the inputs bundle: its exact bytes hash (keccak256) to the proposed inputsHash",
    )
    def get_bundle(task_id: TaskId) -> Response:
        report = load_report(task_id)
        return Response(
            content=report.bundle,
            media_type="application/json",
            headers={
                "X-Inputs-Hash": report.inputs_hash,
                "X-Report-Hash": report.report_hash,
                "X-Round": str(report.round),
            },
        )

    @app.get(
        "/bundles/{inputs_hash}",
        summary="an inputs bundle by its keccak256 (the inputsHash of a proposal)",
    )
    def get_bundle_by_hash(inputs_hash: InputsHash) -> Response:
        wanted = inputs_hash.lower()
        with ctx.store.read() as tx:
            bundle = tx.bundle(wanted)
        if bundle is None:
            raise ApiError(404, f"this oracle has published no inputs bundle with hash {wanted}")
        return Response(
            content=bundle, media_type="application/json", headers={"X-Inputs-Hash": wanted}
        )

    @app.get("/tasks/{task_id}/tree", summary="the payout tree (OpenZeppelin standard-v1 dump)")
    def get_tree(task_id: TaskId) -> Any:
        return json.loads(load_report(task_id).tree_json)

    @app.get(
        "/tasks/{task_id}/proof/{account}",
        summary="an account's payout amount (decimal string) and Merkle proof",
    )
    def get_proof(task_id: TaskId, account: str) -> dict[str, Any]:
        report = load_report(task_id)
        if not is_address(account):
            raise ApiError(422, f"{account!r} is not an address")
        wanted = to_checksum_address(account)
        tree = StandardMerkleTree.load(json.loads(report.tree_json))
        for index, value in tree.entries():
            if to_checksum_address(value[0]) == wanted:
                return {
                    "task_id": task_id,
                    "account": wanted,
                    "amount": str(int(value[1])),
                    "proof": tree.get_proof(index),
                    "root": tree.root,
                }
        raise ApiError(404, f"{wanted} has no payout in task {task_id}")

    @app.get(
        "/tasks/{task_id}/reveals",
        summary="the inputs bundle as JSON, with the round, report hash and inputs hash",
    )
    def get_reveals(task_id: TaskId) -> Any:
        report = load_report(task_id)
        inputs = json.loads(report.bundle)
        inputs["round"] = report.round
        inputs["report_hash"] = report.report_hash
        inputs["inputs_hash"] = report.inputs_hash
        return inputs

    from labelproof.oracle.app_routes import app_router  # the web app's read-only endpoints

    app.include_router(app_router(ctx))
    return app


def _receipt_body(row: RevealRow, *, duplicate: bool) -> dict[str, Any]:
    return {
        "receipt": row.receipt,
        "task_id": row.task_id,
        "annotator": row.annotator,
        "version": row.version,
        "root": row.root,
        "item_count": row.item_count,
        "stored_at": row.stored_at,
        "duplicate": duplicate,
    }


def build_asgi(ctx: ApiContext) -> ASGIApp:
    """The app wrapped in the body-size limit (outermost, so it runs before any parsing)."""
    app: Any = create_app(ctx)
    return BodyLimit(app, ctx.max_body_bytes)
