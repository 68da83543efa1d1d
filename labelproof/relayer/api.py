"""The relayer's HTTP API, and ``serve``: uvicorn plus the batcher and watcher threads.

* ``POST /attestations`` — body ``{"task_id", "annotator", "root", "item_count", "version",
  "signature"}`` (65-byte signature, 0x hex). 202 ``{"hash", "status": "queued", ...}`` once the
  entry is on disk; the same attestation again answers 200 with its current status. Refusals
  are JSON ``{"error": sentence}``: 400 malformed JSON, 403 policy (enrollment, gas budget),
  404 no such task, 408 body too slow, 409 the chain says no (closed window, stale version),
  413 body too large, 422 bad fields or signature, 429 rate limit (``Retry-After``), 503 node
  trouble or a stale database (``Retry-After``).
* ``GET /attestations/{hash}`` — ``queued``, ``submitted``, ``confirmed`` (with transaction and
  block), ``failed`` (with the reason), or ``stale`` (the database belongs to another chain).
* ``PUT /tasks/{task_id}/enrollment`` — ``{"annotators": [...], "signature"}`` signed by the
  task's requester (policy.py).
* ``GET /health`` — ``ok`` / ``degraded`` / ``down`` with reasons, from cached state (never waits
  on the node).

Shutdown (SIGTERM, SIGINT) runs the lifespan's shutdown before uvicorn re-raises the signal:
the batcher stops, and whatever is queued gets one bounded last batch. Nothing depends on that
flush: every accepted entry is already on disk and a restart continues.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from labelproof.asgi_body import BodyLimit, BodyRefused, read_body
from labelproof.relayer import rpc
from labelproof.relayer.intake import AttestationIn, RelayError
from labelproof.relayer.service import Relay, rpc_reason

log = logging.getLogger("labelproof.relay")

MAX_BODY_BYTES = 16 * 1024  # one attestation is well under 1 KiB
MAX_ENROLLMENT_BYTES = 4 * 1024 * 1024  # 100,000 addresses
BODY_TIMEOUT = 10.0  # seconds to receive a request body
SHUTDOWN_FLUSH_SECONDS = 10.0


class EnrollmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    annotators: list[str] = Field(min_length=1, max_length=100_000)
    signature: str = Field(max_length=140)


def _error(
    status: int, message: str, retry_after: float | None = None, *, close: bool = False
) -> JSONResponse:
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
    if close:  # the body was not read to its end: the connection cannot carry another request
        headers["Connection"] = "close"
    return JSONResponse(status_code=status, content={"error": message}, headers=headers)


def create_app(relay: Relay, *, lifespan: Any = None) -> FastAPI:
    app = FastAPI(
        title="labelproof relayer",
        version="2.0.0",
        description="Signed attestations in, attestBySig batches out. Errors are "
        '{"error": message}.',
        lifespan=lifespan,
    )

    @app.exception_handler(RelayError)
    async def relay_error(_: Request, exc: RelayError) -> JSONResponse:
        return _refusal(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _invalid(exc.errors())

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        return _refusal(exc)

    @app.get("/health")
    async def health() -> JSONResponse:
        report = relay.health_report()
        return JSONResponse(status_code=200 if report["status"] != "down" else 503, content=report)

    @app.post("/attestations", status_code=202)
    def post_attestation(body: Annotated[AttestationIn, Body()]) -> JSONResponse:
        status, data = relay.submit(body)
        return JSONResponse(status_code=status, content=data)

    @app.get("/attestations/{digest}")
    def get_attestation(digest: str) -> dict[str, Any]:
        if len(digest) > 80:
            raise RelayError(404, "no such attestation (a hash is 0x and 64 hex digits)")
        return relay.status(digest)

    @app.put("/tasks/{task_id}/enrollment")
    def put_enrollment(task_id: int, body: Annotated[EnrollmentIn, Body()]) -> dict[str, Any]:
        if not 1 <= task_id < 2**256:
            raise RelayError(404, f"task {task_id} does not exist")
        return relay.enroll(task_id, body.annotators, body.signature)

    from labelproof.relayer.sponsor import mount_sponsor  # sponsored claims (POST /claims)

    mount_sponsor(app, relay)
    return app


def _refusal(exc: Exception) -> JSONResponse:
    """The answer to an exception from a route: the relayer's own refusal, 503 when the node
    could not answer, else 500 (logged)."""
    if isinstance(exc, RelayError):
        return _error(exc.status, exc.message, exc.retry_after)
    if rpc.classify(exc) == "transient":
        return _error(503, f"the relayer cannot reach its node: {rpc_reason(exc)}", 5)
    log.exception("unexpected error", exc_info=exc)
    return _error(500, f"internal error: {type(exc).__name__}")


def _intake(relay: Relay, body_timeout: float) -> ASGIApp:
    """POST /attestations without FastAPI's per-request machinery (the hot path: about half of
    intake's CPU went to routing, dependency resolution and response encoding) and without
    the replay of a body read ahead. Same answers as the FastAPI route it shadows, which stays
    for the OpenAPI description."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(scope, receive, MAX_BODY_BYTES, body_timeout)
        if body is None:
            return
        response: JSONResponse
        if isinstance(body, BodyRefused):
            response = _error(body.status, body.message, close=True)
        else:
            try:
                parsed = AttestationIn.model_validate_json(body)
            except ValidationError as exc:
                response = _invalid(exc.errors(), prefix="body")
            else:
                try:
                    status, data = await relay.submit_async(parsed)
                    response = JSONResponse(status_code=status, content=data)
                except Exception as exc:
                    response = _refusal(exc)
        await response(scope, receive, send)

    return app


def _invalid(errors: Any, prefix: str | None = None) -> JSONResponse:
    if any(e.get("type") == "json_invalid" for e in errors):
        return _error(400, "malformed JSON body")
    parts = []
    for e in errors:
        loc = [str(x) for x in e.get("loc", ())]
        if prefix is not None:
            loc.insert(0, prefix)
        parts.append(f"{'.'.join(loc)}: {e.get('msg')}")
    return _error(422, "invalid request: " + "; ".join(parts[:5]))


class Threads:
    """The batcher and the watcher, started and stopped with the app."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.stop = threading.Event()
        self.workers: list[threading.Thread] = []

    def start(self) -> None:
        self.relay.poll()
        for name, target in (("relay-batcher", self.relay.run), ("relay-watch", self.relay.watch)):
            t = threading.Thread(target=target, args=(self.stop,), name=name, daemon=True)
            t.start()
            self.workers.append(t)

    def shutdown(self, flush_seconds: float = SHUTDOWN_FLUSH_SECONDS) -> None:
        self.stop.set()
        self.relay.wake.set()
        for t in self.workers:
            t.join(timeout=30)
        if self.relay.stale or not self.relay.queued():
            return
        # One bounded last batch; if the node is slow it simply continues after a restart.
        done = threading.Event()

        def last_batch() -> None:
            try:
                self.relay.flush()
            except Exception:
                log.exception("last batch on shutdown failed; the queue is kept on disk")
            done.set()

        threading.Thread(target=last_batch, name="relay-last-batch", daemon=True).start()
        if not done.wait(flush_seconds):
            log.warning("last batch still running after %.0f s; leaving it on disk", flush_seconds)
        left = self.relay.queued()
        log.info("shutting down with %d attestations kept on disk for the next start", left)


def serve(
    relay: Relay,
    host: str,
    port: int,
    log_level: str = "info",
    *,
    body_timeout: float = BODY_TIMEOUT,
) -> None:
    """Run the HTTP API, the batcher and the watcher until SIGTERM / SIGINT."""
    import uvicorn

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    threads = Threads(relay)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        threads.start()
        try:
            yield
        finally:
            await asyncio.to_thread(threads.shutdown)

    config = uvicorn.Config(
        asgi_app(relay, lifespan=lifespan, body_timeout=body_timeout),
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
    )
    uvicorn.Server(config).run()
    relay.close()


def asgi_app(relay: Relay, *, lifespan: Any = None, body_timeout: float = BODY_TIMEOUT) -> ASGIApp:
    """The app behind its guards: every body is read whole within ``body_timeout`` and a size
    limit (labelproof/asgi_body.py: 16 KiB, more only for enrollment lists) before any route
    parses it; ``POST /attestations`` reads its own and skips FastAPI."""
    core = create_app(relay, lifespan=lifespan)
    small = BodyLimit(core, MAX_BODY_BYTES, body_timeout)
    large = BodyLimit(core, MAX_ENROLLMENT_BYTES, body_timeout)

    async def by_size(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith("/tasks/"):
            await large(scope, receive, send)
        else:
            await small(scope, receive, send)

    intake = _intake(relay, body_timeout)

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope.get("path") == "/attestations"
        ):
            await intake(scope, receive, send)
        else:
            await by_size(scope, receive, send)

    return route
