"""The relayer: takes annotators' EIP-712 signed attestations over HTTP, submits them in batches.

Annotators need no ETH: they sign an attestation (task, annotator, root, item count, version)
and POST it here; the relayer pays the gas of ``AttestationRegistry.attestBySig``.

* ``POST /attestations`` — body ``{"task_id", "annotator", "root", "item_count", "version",
  "signature"}`` (65-byte signature, 0x hex). Checked off chain before it is queued: the
  signature must recover to the annotator under the registry's EIP-712 domain (422 if not),
  the task must be open and its annotation window not over (409), the version must exceed the
  stored one (409). Answers 202 with ``{"hash", "status": "queued"}``; the same attestation
  again answers 200 with its current status. The hash is the EIP-712 digest.
* ``GET /attestations/{hash}`` — ``queued``, ``submitted`` (in a transaction not yet mined),
  ``confirmed`` (with the transaction hash and block) or ``failed`` (with the reason).
* ``GET /health`` — chain id, registry, relayer address, queue length.

Batches: the loop sends a batch when ``batch_size`` entries wait or the oldest has waited
``max_wait`` seconds, in one ``attestBySig``. The registry judges each entry on its own: it
records the good ones and skips a bad one (a signature that does not recover, a version that a
newer attestation overtook, a closed window) with ``AttestationSkipped(index, ..., reason)``,
so one bad entry never sinks the batch. The relayer reads the receipt: an entry with an
``Attested`` event is ``confirmed``; a skipped one is ``failed`` with the reason decoded to the
error's name (``StaleVersion``, ``InvalidSignature``, ...) in ``reason`` and a sentence in
``error``. Entries of one annotator go out in version order, so v1 and v2 both land. A batch
whose whole transaction fails (out of gas, a node error) goes back to the queue, up to three
attempts.

State is in memory: a restarted relayer has forgotten its queue. Annotators keep their salts
locally and the client removes a commitment only when the relayer reports it failed, so they
simply sign again.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import is_address, keccak, to_checksum_address
from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from web3.logs import DISCARD

from labelproof.client import Chain, Signer, TxPending, TxRejected, TxReverted, error_name
from labelproof.commitments import attestation_typed_data

log = logging.getLogger("labelproof.relay")

SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
MAX_ATTEMPTS = 3
MAX_BODY_BYTES = 16 * 1024  # one attestation is well under 1 KiB


class AttestationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    task_id: int = Field(ge=1, lt=2**256)
    annotator: str
    root: str = Field(description="0x followed by 64 hex digits")
    item_count: int = Field(ge=1, lt=2**32)
    version: int = Field(ge=1, lt=2**32)
    signature: str = Field(description="0x followed by 130 hex digits (r, s, v)")


class RelayError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Entry:
    hash: str
    task_id: int
    annotator: str
    root: bytes
    item_count: int
    version: int
    v: int
    r: bytes
    s: bytes
    received: float = field(default_factory=time.monotonic)
    status: str = "queued"
    tx_hash: str | None = None
    block: int | None = None
    error: str | None = None
    reason: str | None = None  # the registry's error name when the entry was skipped
    attempts: int = 0

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.task_id,
            self.annotator,
            self.root,
            self.item_count,
            self.version,
            self.v,
            self.r,
            self.s,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "hash": self.hash,
            "status": self.status,
            "task_id": self.task_id,
            "annotator": self.annotator,
            "root": "0x" + self.root.hex(),
            "item_count": self.item_count,
            "version": self.version,
            "tx_hash": self.tx_hash,
            "block": self.block,
            "error": self.error,
            "reason": self.reason,
        }


def _hex_bytes(value: str, size: int, what: str) -> bytes:
    text = value[2:] if value.startswith("0x") else ""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise RelayError(422, f"{what} must be 0x followed by {2 * size} hex digits")
    return raw


class Relay:
    """The queue, the checks and the batcher (thread-safe)."""

    def __init__(
        self, chain: Chain, signer: Signer, *, batch_size: int = 50, max_wait: float = 5.0
    ) -> None:
        self.chain = chain
        self.signer = signer
        self.batch_size = batch_size
        self.max_wait = max_wait
        self.entries: dict[str, Entry] = {}
        self.queue: list[str] = []
        self.lock = threading.Lock()
        self.wake = threading.Event()

    # -- intake

    def submit(self, body: AttestationIn) -> tuple[int, dict[str, Any]]:
        if not is_address(body.annotator):
            raise RelayError(422, f"annotator {body.annotator!r} is not an address")
        annotator = to_checksum_address(body.annotator)
        root = _hex_bytes(body.root, 32, "root")
        if root == bytes(32):
            raise RelayError(422, "root must not be zero")
        sig = _hex_bytes(body.signature, 65, "signature")
        r, s, v = sig[:32], sig[32:64], sig[64]
        if v < 27:
            v += 27
        if v not in (27, 28):
            raise RelayError(422, f"signature v must be 27 or 28, got {sig[64]}")
        if int.from_bytes(s, "big") > SECP256K1_HALF_N:
            raise RelayError(422, "signature s is in the upper half of the curve order (malleable)")
        data = attestation_typed_data(
            self.chain.chain_id,
            self.chain.deployment.registry,
            body.task_id,
            annotator,
            root,
            body.item_count,
            body.version,
        )
        message = encode_typed_data(full_message=data)
        digest = "0x" + keccak(b"\x19" + message.version + message.header + message.body).hex()
        try:
            signer = Account.recover_message(message, vrs=(v, r, s))
        except Exception:
            raise RelayError(422, "the signature does not recover to any address") from None
        if signer != annotator:
            raise RelayError(
                422,
                f"the signature is by {signer}, not the annotator {annotator} (signed over "
                f"another message, chain or registry?)",
            )
        with self.lock:
            known = self.entries.get(digest)
            if known is not None:
                return 200, known.as_dict()
        self._check_chain(body.task_id, annotator, body.version)
        entry = Entry(
            hash=digest,
            task_id=body.task_id,
            annotator=annotator,
            root=root,
            item_count=body.item_count,
            version=body.version,
            v=v,
            r=r,
            s=s,
        )
        with self.lock:
            known = self.entries.get(digest)
            if known is not None:
                return 200, known.as_dict()
            self.entries[digest] = entry
            self.queue.append(digest)
            queued = len(self.queue)
        log.info("queued %s (task %d, %s, v%d)", digest, entry.task_id, annotator, entry.version)
        if queued >= self.batch_size:
            self.wake.set()
        return 202, entry.as_dict()

    def _check_chain(self, task_id: int, annotator: str, version: int) -> None:
        registry = self.chain.registry
        deadline, open_ = registry.functions.window(task_id).call()
        if not open_:
            raise RelayError(409, f"task {task_id} is not open for attestations")
        now = self.chain.now()
        if now >= int(deadline):
            raise RelayError(409, f"task {task_id}'s annotation window closed at {deadline}")
        current = int(registry.functions.attestation(task_id, annotator).call()[1])
        if version <= current:
            raise RelayError(
                409,
                f"version {version} is stale: {annotator} is at version {current} for task "
                f"{task_id}; sign version {current + 1}",
            )

    def status(self, digest: str) -> dict[str, Any]:
        with self.lock:
            entry = self.entries.get(digest.lower())
            if entry is None:
                raise RelayError(404, f"no attestation {digest} at this relayer")
            return entry.as_dict()

    def queued(self) -> int:
        with self.lock:
            return len(self.queue)

    # -- batches

    def due(self) -> bool:
        with self.lock:
            if not self.queue:
                return False
            if len(self.queue) >= self.batch_size:
                return True
            oldest = self.entries[self.queue[0]].received
        return time.monotonic() - oldest >= self.max_wait

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                while self.due():
                    self.flush()
            except Exception:  # one bad round must not stop the relayer; retried next time
                log.exception("relaying a batch failed")
            self.wake.wait(0.2)
            self.wake.clear()

    def flush(self) -> list[Entry]:
        """Take one batch from the queue and send it in one attestBySig; then mark each entry
        confirmed or failed from the receipt's events (the registry records every good entry
        and skips a bad one with AttestationSkipped, so one entry can no longer sink a batch)."""
        with self.lock:
            digests = self.queue[: self.batch_size]
            del self.queue[: len(digests)]
            batch = [self.entries[d] for d in digests]
        if not batch:
            return []
        # Versions in order: two entries of one annotator can both land (v1, then v2).
        batch.sort(key=lambda e: (e.task_id, e.annotator, e.version))
        attest = self.chain.registry.functions.attestBySig
        for e in batch:
            e.status = "submitted"
            e.attempts += 1
        try:
            receipt = self.signer.send(attest([e.as_tuple() for e in batch]), "attestBySig")
        except TxPending as exc:
            for e in batch:
                e.error = str(exc)  # stays "submitted": it may still be mined
            log.warning("%s", exc)
            return batch
        except (TxRejected, TxReverted) as exc:
            # The whole transaction failed (out of gas, a node error): no entry was judged.
            with self.lock:
                for e in batch:
                    if e.attempts >= MAX_ATTEMPTS:
                        e.status, e.error = "failed", str(exc)
                    else:
                        e.status = "queued"
                        self.queue.append(e.hash)
            log.warning("batch of %d not mined: %s", len(batch), exc)
            return batch
        self._settle(batch, receipt)
        return batch

    def _settle(self, batch: list[Entry], receipt: Any) -> None:
        """Each entry's fate from the receipt: Attested (confirmed) or AttestationSkipped at
        its index (failed, with the error a direct attest would have raised)."""
        registry = self.chain.registry
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        block = int(receipt["blockNumber"])
        skipped = {
            int(ev["args"]["index"]): bytes(ev["args"]["reason"])
            for ev in registry.events.AttestationSkipped().process_receipt(receipt, errors=DISCARD)
        }
        recorded = {
            (
                int(ev["args"]["taskId"]),
                to_checksum_address(ev["args"]["annotator"]),
                int(ev["args"]["version"]),
                bytes(ev["args"]["root"]),
            )
            for ev in registry.events.Attested().process_receipt(receipt, errors=DISCARD)
        }
        confirmed = 0
        # The status goes last, under the lock: the HTTP side reads entries from other
        # threads and must never see "failed" without its reason.
        for index, e in enumerate(batch):
            if index in skipped:
                reason = error_name(skipped[index])
                error = f"skipped on chain: {self._explain(e, reason)} (transaction {tx_hash})"
                status = "failed"
                log.info("entry %s skipped: %s", e.hash, error)
            elif (e.task_id, e.annotator, e.version, e.root) in recorded:
                reason, error, status = None, None, "confirmed"
                confirmed += 1
            else:  # cannot happen with the registry's events; never report it as confirmed
                reason, status = "NotRecorded", "failed"
                error = f"neither recorded nor skipped in transaction {tx_hash}"
            with self.lock:
                e.tx_hash, e.block = tx_hash, block
                e.reason, e.error, e.status = reason, error, status
        log.info(
            "batch of %d attestations in %s: %d recorded, %d skipped",
            len(batch),
            tx_hash,
            confirmed,
            len(batch) - confirmed,
        )

    def _explain(self, e: Entry, reason: str) -> str:
        """A readable reason for a skipped entry, with what the chain holds now."""
        registry = self.chain.registry
        try:
            if reason == "StaleVersion":
                current = int(registry.functions.attestation(e.task_id, e.annotator).call()[1])
                return (
                    f"StaleVersion: version {e.version} is not above the registry's version "
                    f"{current} for {e.annotator} on task {e.task_id} (a newer attestation "
                    f"landed first); sign version {current + 1}"
                )
            if reason == "AnnotationWindowClosed":
                deadline, _ = registry.functions.window(e.task_id).call()
                return (
                    f"AnnotationWindowClosed: task {e.task_id}'s annotation window closed at "
                    f"{int(deadline)}"
                )
        except Exception:  # the explanation is a courtesy; the reason stands without it
            pass
        details = {
            "InvalidSignature": "the signature does not recover to the annotator",
            "TaskNotOpen": f"task {e.task_id} is not open for attestations",
            "EmptyRoot": "the root is zero",
            "ZeroItems": "the item count is zero",
        }
        return f"{reason}: {details[reason]}" if reason in details else reason


def create_app(relay: Relay) -> FastAPI:
    app = FastAPI(
        title="labelproof relayer",
        version="1.0.0",
        description="Signed attestations in, attestBySig batches out. Errors are "
        '{"error": message}.',
    )

    @app.exception_handler(RelayError)
    async def relay_error(_: Request, exc: RelayError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"error": exc.message})

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse(status_code=400, content={"error": "malformed JSON body"})
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')}" for e in errors]
        return JSONResponse(
            status_code=422, content={"error": "invalid request: " + "; ".join(parts[:5])}
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"error": str(exc.detail)})

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "chain_id": relay.chain.chain_id,
            "registry": relay.chain.deployment.registry,
            "escrow": relay.chain.deployment.escrow,
            "relayer": relay.signer.address,
            "queued": relay.queued(),
            "batch_size": relay.batch_size,
            "max_wait": relay.max_wait,
        }

    @app.post("/attestations", status_code=202)
    def post_attestation(body: Annotated[AttestationIn, Body()]) -> JSONResponse:
        status, data = relay.submit(body)
        return JSONResponse(status_code=status, content=data)

    @app.get("/attestations/{digest}")
    def get_attestation(digest: str) -> dict[str, Any]:
        return relay.status(digest)

    from labelproof.sponsor import mount_sponsor  # sponsored claims (POST /claims)

    mount_sponsor(app, relay)
    return app


def serve(relay: Relay, host: str, port: int, log_level: str = "info") -> None:
    """Run the HTTP API and the batcher until interrupted."""
    import uvicorn

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = threading.Event()
    worker = threading.Thread(target=relay.run, args=(stop,), name="relay-batcher", daemon=True)
    worker.start()
    from labelproof.oracle.api import BodyLimit

    app: Any = create_app(relay)
    server = uvicorn.Server(
        uvicorn.Config(BodyLimit(app, MAX_BODY_BYTES), host=host, port=port, log_level=log_level)
    )
    try:
        server.run()
    finally:
        stop.set()
        relay.wake.set()
        worker.join(timeout=30)
        # whatever is still queued is flushed once more so accepted entries are not lost
        try:
            while relay.queued():
                relay.flush()
        except Exception:
            log.exception("final flush failed")
