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
changes nothing. A reveal is taken by the reveal lane (intake.py: the follower's view of the
annotator's attestation, the chain's clock read after it arrived) when it is an ordinary one,
else by the exact path here; both give the same answers. Errors are JSON
``{"error": "<one line saying what is wrong>"}``.

Status codes:

* 201 stored; 200 the same submission again (idempotent: same receipt, nothing written);
  202 one part of a reveal sent in parts stored (``"part": {"index": i, "count": n}``, each
  part within the body limit, any order; a part sent again replaces itself); the request
  bringing the last part is checked and answered as a whole reveal (201, or a refusal, after
  which the parts are discarded and the reveal starts over).
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

* 408 the request body did not arrive within ``body_timeout`` seconds (a slow or stalled
  client); 429 too many requests in flight (``Retry-After`` says when to try again): the oracle
  refuses at once rather than queueing for seconds.
* 503 the chain's RPC endpoint failed or timed out (``Retry-After``), or the oracle stopped
  acting because the RPC serves another chain than its database belongs to (a reset devnet:
  ``/health`` says what the operator should do).

Bodies are parsed here, not by FastAPI: invalid UTF-8, lone UTF-16 surrogates (``"\\ud800"``),
numbers out of any float's range and nesting too deep for the parser are all 400 or 422 with a
reason, never a 500. ``/health`` answers from memory (health.py), whatever the RPC does.

A reveal after the deadline is 409 rather than 422: nothing in the request is wrong, it came
too late for the task's state, and the same body would have been accepted earlier.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import requests
from eth_utils import is_address, to_checksum_address
from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from web3.exceptions import ProviderConnectionError, TimeExhausted

from labelproof.asgi_body import BodyLimit, send_error
from labelproof.merkle import StandardMerkleTree
from labelproof.oracle.errors import ApiError
from labelproof.oracle.health import ServiceStatus
from labelproof.oracle.health import report as health_report
from labelproof.oracle.intake import RevealIntake, RevealLane, store_job, window_closed
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
    reveal_document_bytes,
    reveal_root,
)
from labelproof.oracle.store import GoldRow, ReportRow, Store, TaskRow, Tx
from labelproof.scoring import SCORING_VERSION
from labelproof.spec import (
    SpecError,
    TaskSpec,
    canonical_gold_bytes,
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

__all__ = ["ApiContext", "ApiError", "ServiceStatus", "build_asgi", "create_app"]

# SQLite stores signed 64-bit integers: a larger task id cannot name a task this oracle holds.
MAX_TASK_ID = 2**63 - 1
# A reveal may come in at most this many parts (each within the body limit).
MAX_PARTS = 10_000
# Seconds a client is told to wait after a 429 (too busy) or a 503 (RPC trouble).
RETRY_AFTER_BUSY = 1
RETRY_AFTER_RPC = 5

# Failures of the chain's RPC endpoint (not reverts): the request may succeed later.
RPC_ERRORS: tuple[type[Exception], ...] = (
    requests.exceptions.RequestException,
    ProviderConnectionError,
    TimeExhausted,
    ConnectionError,
    TimeoutError,
)


@dataclass
class ApiContext:
    store: Store
    chain: OracleChain
    oracle: str
    max_body_bytes: int = 1_000_000
    status: ServiceStatus = field(default_factory=ServiceStatus)
    gold_grace: int = DEFAULT_GOLD_GRACE
    # Seconds a client has to send its whole request body (slowloris).
    body_timeout: float = 10.0
    # Requests handled at once (health excluded) at most; more are refused with 429 at once.
    # Below that, the gate keeps the number it admits where requests take about
    # `latency_target` seconds (see Gate), so a burst is refused rather than queued.
    max_inflight: int = 32
    # 35 ms: the AIMD limit overshoots its target, and the p99 at 32 clients was 71-77 ms with
    # this target against 106-144 ms with 50 ms, at about the same throughput (bench-services).
    latency_target: float = 0.035
    poll_interval: float = 2.0
    confirmations: int = 0
    # Seconds the reveal intake's own chain reads may take (the API client's RPC timeout).
    rpc_timeout: float = 5.0


# Module level: with postponed annotations FastAPI resolves parameter types by name here.
TaskId = Annotated[int, Path(description="the escrow's task id (below 2^63)", ge=0, le=MAX_TASK_ID)]
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


class PartIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    index: int = Field(ge=0, description="this part's number, from 0")
    count: int = Field(ge=1, le=MAX_PARTS, description="how many parts the reveal has")


class RevealIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    annotator: str = Field(description="the annotator's address (0x...)")
    labels: list[LabelIn] = Field(min_length=1)
    part: PartIn | None = Field(
        default=None,
        description="for a reveal larger than the body limit: which part of how many this is",
    )


class GoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    gold: dict[str, str] = Field(description="item -> true label")
    salt: str = Field(description="0x followed by 64 hex digits: the commitment's salt")


Model = TypeVar("Model", bound=BaseModel)

# A JSON escape of a UTF-16 surrogate; only bodies holding one need the slower full check.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_json(raw: bytes) -> Any:
    """The body as JSON, or an ApiError saying what is wrong with it (400, or 422 for text
    that is valid JSON but not valid Unicode: a lone surrogate cannot be stored or hashed)."""
    try:
        data = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"malformed JSON body: not UTF-8 ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON body: {exc}") from None
    except RecursionError:
        raise ApiError(400, "malformed JSON body: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python parses
        raise ApiError(400, f"malformed JSON body: {exc}") from None
    if _SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start : exc.end]
            raise ApiError(
                422,
                f"invalid text: the body holds a lone UTF-16 surrogate ({bad!r}); every string "
                "must be valid Unicode",
            ) from None
    return data


def validate(model: type[Model], data: Any) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid request: " + _validation_message(exc.errors())) from None


def _validation_message(errors: Any, prefix: str = "body") -> str:
    parts = []
    for e in list(errors)[:5]:
        where = ".".join(str(x) for x in (prefix, *e.get("loc", ())) if x != "")
        parts.append(f"{where}: {e.get('msg')}")
    return "; ".join(parts)


# -- the gate: every request passes it before any parsing


class Gate:
    """What every request passes before the app reads it:

    * the oracle stopped acting (its database belongs to another chain): 503 with the reason,
      except ``/health``;
    * a submission while the health probe finds the RPC down: 503 with ``Retry-After`` at
      once (it could not be checked against the chain);
    * more requests in hand than the current limit: 429 with ``Retry-After`` (back-pressure
      instead of a queue of seconds; ``/health`` is never refused). The limit adapts
      (additive increase, multiplicative decrease): every request that took longer than
      ``latency_target`` shrinks it by a tenth, every faster one grows it by 1/limit, between
      2 and ``max_inflight`` (from 8). Requests admitted are then served in about the target
      time and the rest are told to come back, instead of everyone waiting for seconds;
    * then the body limit and timeout (:class:`BodyLimit`: 413, 408).
    """

    def __init__(self, app: ASGIApp, ctx: ApiContext) -> None:
        self.app = app
        self.ctx = ctx
        self.limited = BodyLimit(app, ctx.max_body_bytes, ctx.body_timeout)
        self.inflight = 0
        # Start low and grow: a first burst is not all admitted before anything is measured.
        self.limit = float(min(8, ctx.max_inflight))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == "/health":
            await self.app(scope, receive, send)
            return
        stale = self.ctx.status.stale_reason
        if stale is not None and scope.get("path", "").startswith(("/tasks", "/bundles")):
            await send_error(send, 503, stale)
            return
        status = self.ctx.status
        if scope.get("method") == "POST" and status.rpc_down():
            # Every submission is checked against the chain: answer now, not after a timeout.
            await send_error(
                send,
                503,
                f"the chain's RPC endpoint has not answered the last {status.probe_failures} "
                f"probes ({status.probe_error}); nothing was stored: try again in "
                f"{RETRY_AFTER_RPC} s",
                retry_after=RETRY_AFTER_RPC,
            )
            return
        if self.inflight >= int(self.limit):
            await send_error(
                send,
                429,
                f"the oracle is busy ({self.inflight} requests in hand): try again in "
                f"{RETRY_AFTER_BUSY} s",
                retry_after=RETRY_AFTER_BUSY,
            )
            return
        self.inflight += 1
        started = time.monotonic()
        try:
            await self.limited(scope, receive, send)
        finally:
            self.inflight -= 1
            self._adapt(time.monotonic() - started)

    def _adapt(self, took: float) -> None:
        top = float(self.ctx.max_inflight)
        if took > self.ctx.latency_target:
            self.limit = max(min(2.0, top), self.limit * 0.9)
        else:
            self.limit = min(top, self.limit + 1.0 / max(self.limit, 1.0))


def _error(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = None if retry_after is None else {"Retry-After": str(retry_after)}
    return JSONResponse(status_code=status, content={"error": message}, headers=headers)


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
        return _error(exc.status, exc.message, exc.retry_after)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid request: " + _validation_message(exc.errors(), prefix=""))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    async def rpc_trouble(_: Request, exc: Exception) -> JSONResponse:
        return _rpc_unavailable(exc)

    for kind in RPC_ERRORS:
        app.add_exception_handler(kind, rpc_trouble)  # type: ignore[arg-type]

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        return _unexpected(exc)

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

    # A registered spec never changes (its hash is on chain): parsed once per task, with the
    # sets every reveal is checked against.
    specs: dict[int, tuple[TaskSpec, frozenset[str], frozenset[str]]] = {}

    def load_spec(task_id: int) -> tuple[TaskSpec, frozenset[str], frozenset[str]]:
        found = specs.get(task_id)
        if found is not None:
            return found
        with ctx.store.read() as tx:
            row = tx.spec(task_id)
        if row is None:
            raise ApiError(
                409,
                f"task {task_id} has no spec registered with this oracle yet: the requester "
                f"must POST /tasks/{task_id}/spec first",
            )
        spec = TaskSpec.from_json(row[0])
        found = (spec, frozenset(spec.items), frozenset(spec.labels))
        specs[task_id] = found
        return found

    # The fast path of POST /tasks/{id}/reveals, put in front of the app by build_asgi.
    app.state.reveal_intake = RevealIntake(ctx.store, ctx.chain, load_spec, ctx.rpc_timeout)

    @app.get("/health", summary="liveness, sync state and problems, from memory (never the RPC)")
    async def health() -> dict[str, Any]:
        s = ctx.status
        state, reasons, details = health_report(
            s, poll_interval=ctx.poll_interval, confirmations=ctx.confirmations
        )
        return {
            "status": state,
            "reasons": reasons,
            "oracle": ctx.oracle,
            "chain_id": ctx.chain.chain_id,
            "escrow": ctx.chain.escrow.address,
            "committee": ctx.chain.committee.address,
            "synced_block": s.synced_block,
            "last_tick": s.last_tick,
            "last_error": s.last_error,
            "gold_grace": ctx.gold_grace,
            **details,
        }

    @app.get("/tasks/{task_id}", summary="what this oracle holds and does for a task")
    def task_status(task_id: TaskId) -> dict[str, Any]:
        task = load_task(task_id)
        with ctx.store.read() as tx:
            state = tx.state(task_id)
            proposals = tx.proposals(task_id)
            report = tx.report(task_id, with_bundle=False)
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
                "reveals": tx.reveal_count(task_id),
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
    async def post_spec(task_id: TaskId, request: Request) -> JSONResponse:
        body = parse_json(await request.body())
        status, payload = await run_in_threadpool(register_spec, task_id, body)
        return JSONResponse(payload, status_code=status)

    def register_spec(task_id: int, body: Any) -> tuple[int, dict[str, Any]]:
        task = load_task(task_id)
        try:
            spec = TaskSpec.from_dict(body)
            digest = "0x" + spec_hash(spec).hex()
        except (SpecError, ValueError, OverflowError) as exc:
            raise ApiError(422, f"invalid spec: {exc}") from None
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
        status = 201
        with ctx.store.write() as tx:
            if tx.spec(task_id) is not None:
                status = 200  # same hash, so the same spec: idempotent
            else:
                tx.add_spec(task_id, spec.to_json(), digest)
        return status, {"task_id": task_id, "spec_hash": digest}

    @app.post(
        "/tasks/{task_id}/reveals",
        status_code=201,
        summary="reveal an annotator's labels and salts (checked against its attestation)",
    )
    async def post_reveal(task_id: TaskId, request: Request) -> JSONResponse:
        # The exact path: with build_asgi, only the reveals the lane (intake.py) left to it.
        body = validate(RevealIn, parse_json(await request.body()))
        status, payload = await run_in_threadpool(store_reveal, task_id, body)
        return JSONResponse(payload, status_code=status)

    def stage_part(
        task_id: int, annotator: str, part: PartIn, entries: list[tuple[str, str, str]]
    ) -> list[tuple[str, str, str]] | dict[str, Any]:
        """Keep one part of a reveal; all of its labels once every part is in, else what is
        still missing."""
        if part.index >= part.count:
            raise ApiError(422, f"invalid reveal: part.index {part.index} >= part.count")

        def stage(tx: Tx) -> list[tuple[str, str, str]] | dict[str, Any]:
            if tx.state(task_id).sealed_at is not None:
                raise ApiError(
                    409, f"the reveal window of task {task_id} is closed: reveals are sealed"
                )
            counts = tx.part_counts(task_id, annotator)
            if counts and counts != {part.count}:
                raise ApiError(
                    422,
                    f"invalid reveal: part.count {part.count} differs from the {counts.pop()} "
                    f"parts of the reveal by {annotator} already begun",
                )
            tx.put_part(task_id, annotator, part.count, part.index, json.dumps(entries))
            received = tx.part_indexes(task_id, annotator)
            if len(received) < part.count:
                missing = [n for n in range(part.count) if n not in received][:20]
                return {
                    "task_id": task_id,
                    "annotator": annotator,
                    "received": len(received),
                    "count": part.count,
                    "missing": missing,
                }
            return [
                tuple(e)
                for n in range(part.count)
                for e in json.loads(tx.part(task_id, annotator, n))
            ]  # type: ignore[misc]

        return ctx.store.group_write(stage)

    def clear_parts(task_id: int, annotator: str) -> None:
        with ctx.store.write() as tx:
            tx.clear_parts(task_id, annotator)

    def store_reveal(task_id: int, body: RevealIn) -> tuple[int, dict[str, Any]]:
        load_task(task_id)
        if not is_address(body.annotator):
            raise ApiError(422, f"annotator {body.annotator!r} is not an address")
        annotator = to_checksum_address(body.annotator)
        entries = [(x.item, x.label, x.salt) for x in body.labels]
        try:
            labels = parse_labels(entries)
        except RevealError as exc:
            raise ApiError(422, f"invalid reveal: {exc}") from None
        spec, items, allowed = load_spec(task_id)
        for x in labels:
            if x.item not in items or x.label not in allowed:
                try:
                    spec.check_labels({x.item: x.label})
                except SpecError as exc:
                    raise ApiError(422, f"invalid reveal: {exc}") from None
        block, now = ctx.chain.latest_head()
        # The escrow's deadline at this block, not the stored one: an early close moves it up,
        # and the follower may not have seen that yet.
        reveal_deadline = ctx.chain.payout_window_at(task_id, block).reveal_deadline
        if now > reveal_deadline:
            raise window_closed(task_id, reveal_deadline, now)
        if body.part is not None:
            assembled = stage_part(task_id, annotator, body.part, entries)
            if isinstance(assembled, dict):
                return 202, assembled  # parts still missing
            try:
                labels = parse_labels(assembled)
            except RevealError as exc:
                clear_parts(task_id, annotator)
                raise ApiError(
                    422, f"invalid reveal (assembled from its parts, now discarded): {exc}"
                ) from None
        chain_id, escrow = ctx.chain.chain_id, ctx.chain.escrow.address
        root = reveal_root(chain_id, escrow, task_id, annotator, labels)
        # One read gives the commitment and its version, so the version is the one the root
        # was checked against.
        matched, version = ctx.chain.attested_version(task_id, annotator, root, len(labels), block)
        doc_bytes = reveal_document_bytes(
            chain_id, escrow, task_id, annotator, version, root, labels
        )
        receipt = receipt_of(doc_bytes)
        store = store_job(
            task_id, annotator, matched, version, root, len(labels), doc_bytes, receipt
        )

        # Committed with the reveals that arrive meanwhile: one fsync for many receipts.
        try:
            status, receipt_body = ctx.store.group_write(store)
        except ApiError:
            if body.part is not None:
                clear_parts(task_id, annotator)  # a refused assembly starts over
            raise
        if status == 201:
            log.debug("task %d: reveal by %s stored (receipt %s)", task_id, annotator, receipt)
        return status, receipt_body

    @app.post(
        "/tasks/{task_id}/gold",
        status_code=201,
        summary="reveal the gold set and salt (checked against the gold commitment)",
    )
    async def post_gold(task_id: TaskId, request: Request) -> JSONResponse:
        body = validate(GoldIn, parse_json(await request.body()))
        status, payload = await run_in_threadpool(store_gold, task_id, body)
        return JSONResponse(payload, status_code=status)

    def store_gold(task_id: int, body: GoldIn) -> tuple[int, dict[str, Any]]:
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
        spec = load_spec(task_id)[0]
        try:
            spec.check_labels(body.gold, "gold")
        except SpecError as exc:
            raise ApiError(422, f"invalid gold set: {exc}") from None
        block, now = ctx.chain.latest_head()
        window = ctx.chain.payout_window_at(task_id, block)
        deadline = gold_deadline(window.reveal_deadline, window.oracle_timeout, ctx.gold_grace)
        withheld = (
            f"the task is scored without gold and its report and inputs bundle say the gold "
            f"set was withheld (the gold deadline is the reveal deadline "
            f"{window.reveal_deadline} plus this oracle's gold grace of {ctx.gold_grace} s, at "
            "most half the oracle timeout)"
        )
        status = 201
        with ctx.store.write() as tx:
            if tx.gold(task_id) is not None:
                status = 200  # the commitment admits one opening: idempotent
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
        return status, {
            "task_id": task_id,
            "gold_items": len(body.gold),
            "commitment": "0x" + opened.hex(),
        }

    def load_report(task_id: int, *, with_bundle: bool = False) -> ReportRow:
        load_task(task_id)
        with ctx.store.read() as tx:
            report = tx.report(task_id, with_bundle=with_bundle)
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
        report = load_report(task_id, with_bundle=True)
        return Response(
            content=report.bundle_bytes,
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
        report = load_report(task_id, with_bundle=True)
        inputs = json.loads(report.inputs_json)
        inputs["round"] = report.round
        inputs["report_hash"] = report.report_hash
        inputs["inputs_hash"] = report.inputs_hash
        return inputs

    from labelproof.oracle.app_routes import app_router  # the web app's read-only endpoints

    app.include_router(app_router(ctx))
    return app


def _rpc_unavailable(exc: BaseException) -> JSONResponse:
    reason = (str(exc) or type(exc).__name__).splitlines()[0][:200]
    return _error(
        503,
        f"the chain's RPC endpoint failed ({type(exc).__name__}: {reason}); nothing was "
        f"stored: try again in {RETRY_AFTER_RPC} s",
        RETRY_AFTER_RPC,
    )


def _unexpected(exc: Exception) -> JSONResponse:
    # web3 raises its own errors for a node that answers with a JSON-RPC error or garbage:
    # RPC trouble too. Anything else is a bug, logged with its traceback by the server.
    if type(exc).__module__.startswith(("web3", "urllib3", "requests")):
        return _rpc_unavailable(exc)
    log.error("unexpected %s: %s", type(exc).__name__, exc)
    return _error(500, f"internal error ({type(exc).__name__}); see the oracle's log")


def error_response(exc: Exception) -> JSONResponse:
    """What the app's exception handlers answer for `exc` (for the reveal lane, which runs
    outside the app)."""
    if isinstance(exc, ApiError):
        return _error(exc.status, exc.message, exc.retry_after)
    if isinstance(exc, RPC_ERRORS):
        return _rpc_unavailable(exc)
    return _unexpected(exc)


def build_asgi(ctx: ApiContext) -> ASGIApp:
    """The app behind the gate (outermost, so it runs before any parsing), with the reveal
    lane (intake.py) in front of FastAPI's routing."""
    app: Any = create_app(ctx)
    lane = RevealLane(app, app.state.reveal_intake, parse_json, error_response)
    return Gate(lane, ctx)
