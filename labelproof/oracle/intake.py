"""The reveal intake's fast path (POST /tasks/{id}/reveals), for the common reveal: one piece,
well formed, for a task and annotator the oracle already knows.

Where the time went (issue #10): two JSON-RPC round trips per reveal (the latest block, then
an ``eth_call`` of the annotator's attestation), each costing the oracle a web3 request and the
node its own CPU on the same cores; a request model of 100 label objects; a worker-thread hop;
and the hashing and encoding done with general-purpose helpers. Here instead:

* the chain's clock comes from a head read shared by every reveal waiting for one, and always
  begun after the reveal arrived (headread.py), so the deadline check is as exact as before;
  the escrow's deadline is read at that block (an early close counts) and cached per block;
* the annotator's commitment comes from the follower's stored ``Attested`` events. Accepting
  from that view is sound because the scheduler checks every stored reveal against the
  chain's final attestations when it scores (a reveal whose attestation was replaced is left
  out and listed as excluded); a reveal the follower's view does not match (an attestation it
  has not read yet, or a newer version) is not refused here but decided by the exact path,
  which asks the chain at the block;
* the body's shape is checked by hand, the reveal document written out directly
  (records.reveal_document_bytes) and the work done on the event loop, the store's group
  commit awaited without parking a thread (reveals over INLINE_LABELS labels are hashed in a
  worker thread so that /health never waits behind one).

Anything else (a malformed body, an unknown task or annotator, a label outside the spec, a
reveal in parts, any refusal other than the closed window) returns None and the API's exact
path (api.store_reveal, unchanged) decides, so every status and message stays what it was.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from labelproof.asgi_body import replaying
from labelproof.oracle.errors import ApiError
from labelproof.oracle.headread import Head, RawHeadRead, SharedHeadReader
from labelproof.oracle.onchain import OracleChain
from labelproof.oracle.records import (
    RevealedLabel,
    RevealError,
    checksum_address,
    parse_labels,
    receipt_of,
    reveal_document_bytes,
    reveal_root,
)
from labelproof.oracle.store import RevealRow, Store, Tx

# SQLite stores signed 64-bit integers (api.MAX_TASK_ID): larger ids are the app's to refuse.
MAX_TASK_ID = 2**63 - 1
# Reveals with more labels than this are parsed and hashed in a worker thread, not on the
# event loop (about 10 ms of CPU per 1,000 labels).
INLINE_LABELS = 1_000

Result = tuple[int, dict[str, Any]]
SpecSets = tuple[Any, frozenset[str], frozenset[str]]  # (TaskSpec, items, labels)
T = TypeVar("T")


def plain_reveal(data: Any) -> tuple[str, list[tuple[str, str, str]]] | None:
    """(annotator, [(item, label, salt)]) of a body the RevealIn model accepts as it stands:
    exactly ``annotator`` and a non-empty ``labels`` of objects of exactly non-empty string
    ``item`` and ``label`` and string ``salt``. None for anything else, including a reveal in
    parts: the model then says what is wrong, or the exact path takes it."""
    if type(data) is not dict or len(data) != 2:
        return None
    annotator, labels = data.get("annotator"), data.get("labels")
    if type(annotator) is not str or type(labels) is not list or not labels:
        return None
    entries = []
    for x in labels:
        if type(x) is not dict or len(x) != 3:
            return None
        item, label, salt = x.get("item"), x.get("label"), x.get("salt")
        if type(item) is not str or type(label) is not str or type(salt) is not str:
            return None
        if not item or not label:
            return None
        entries.append((item, label, salt))
    return annotator, entries


def receipt_body(row: RevealRow, *, duplicate: bool) -> dict[str, Any]:
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


def store_job(
    task_id: int,
    annotator: str,
    matched: bool,
    version: int,
    root: bytes,
    item_count: int,
    doc_bytes: bytes,
    receipt: str,
) -> Callable[[Tx], Result]:
    """The write of a checked reveal, run in the store's group commit (both paths): 201
    stored, 200 the same reveal again, or the refusal (409 sealed or conflicting, 422 not
    matching the commitment)."""

    def store(tx: Tx) -> Result:
        if tx.state(task_id).sealed_at is not None:
            raise ApiError(
                409, f"the reveal window of task {task_id} is closed: reveals are sealed"
            )
        existing = tx.reveal(task_id, annotator)
        if matched:
            if existing is not None and existing.version == version:
                # The same attestation fixes the same leaves: this is the same reveal.
                return 200, receipt_body(existing, duplicate=True)
            row = RevealRow(
                task_id=task_id,
                annotator=annotator,
                version=version,
                root="0x" + root.hex(),
                item_count=item_count,
                reveal_json=doc_bytes.decode("utf-8"),
                receipt=receipt,
                stored_at=time.time(),
            )
            tx.put_reveal(row)
            tx.clear_parts(task_id, annotator)
            return 201, receipt_body(row, duplicate=False)
        if existing is not None and (
            json.loads(existing.reveal_json)["labels"] != json.loads(doc_bytes)["labels"]
        ):
            raise ApiError(
                409,
                f"annotator {annotator} already revealed a different label set for task "
                f"{task_id} (receipt {existing.receipt}, attestation version "
                f"{existing.version}); a new reveal must match a newer attestation",
            )
        detail = (
            "it has no attestation"
            if version == 0
            else f"its attestation (version {version}) commits to another root or item count"
        )
        raise ApiError(
            422,
            f"reveal does not match annotator {annotator}'s on-chain commitment for "
            f"task {task_id}: the labels and salts give root 0x{root.hex()} over "
            f"{item_count} items, but {detail}",
        )

    return store


def window_closed(task_id: int, reveal_deadline: int, now: int) -> ApiError:
    return ApiError(
        409,
        f"the reveal window of task {task_id} closed at {reveal_deadline} (chain time is {now})",
    )


class RevealIntake:
    """The fast path. `load_spec` is the API's spec cache (ApiError 409 when none is
    registered); the chain reads this path makes (the head, and the escrow's payout window
    once per block) run in one thread of their own, with `rpc_timeout` seconds at most."""

    def __init__(
        self,
        store: Store,
        chain: OracleChain,
        load_spec: Callable[[int], SpecSets],
        rpc_timeout: float,
    ) -> None:
        self.store = store
        self.chain = chain
        self.load_spec = load_spec
        self.reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oracle-intake-reads")
        self.heads = SharedHeadReader(_head_read(chain, rpc_timeout), self.reads)
        self.accepted = 0  # reveals this path stored or found stored (tests, benchmarks)

    async def try_store(self, task_id: int, data: Any) -> Result | None:
        """(status, body) of the reveal, or None when the exact path must decide it. Raises
        ApiError for a closed reveal window (as the exact path would, same message)."""
        fields = plain_reveal(data)
        if fields is None:
            return None
        raw_annotator, entries = fields
        # The exact path's order of checks is kept: unknown task (404), bad address, malformed
        # labels, no spec (409), labels outside the spec, then the reveal window.
        try:  # 0x and 40 hex digits (any case: is_address takes it), else the exact path
            annotator = checksum_address(raw_annotator)
        except ValueError:
            return None
        with self.store.read() as tx:
            known = tx.task(task_id) is not None
            attested = tx.latest_attestation(task_id, annotator)
        if not known or attested is None or attested.item_count != len(entries):
            return None
        labels = await self._cpu(len(entries), _parse, entries)
        if labels is None:
            return None
        _, items, allowed = self.load_spec(task_id)
        for x in labels:
            if x.item not in items or x.label not in allowed:
                return None
        block, now = await self.heads.head()
        window = self.chain.cached_window(task_id, block)
        if window is None:
            loop = asyncio.get_running_loop()
            window = await loop.run_in_executor(
                self.reads, self.chain.payout_window_at, task_id, block
            )
        if now > window.reveal_deadline:
            raise window_closed(task_id, window.reveal_deadline, now)
        prepared = await self._cpu(
            len(labels), self._document, task_id, annotator, attested.version, labels, attested.root
        )
        if prepared is None:
            return None  # the follower's view does not match: ask the chain
        job = store_job(task_id, annotator, True, attested.version, *prepared)
        result = await asyncio.wrap_future(self.store.group_submit(job))
        self.accepted += 1
        return result

    def _document(
        self, task_id: int, annotator: str, version: int, labels: list[RevealedLabel], root: str
    ) -> tuple[bytes, int, bytes, str] | None:
        """(root, item count, document bytes, receipt) if the labels open the attested root."""
        chain_id, escrow = self.chain.chain_id, self.chain.escrow.address
        computed = reveal_root(chain_id, escrow, task_id, annotator, labels)
        if "0x" + computed.hex() != root:
            return None
        doc = reveal_document_bytes(chain_id, escrow, task_id, annotator, version, computed, labels)
        return computed, len(labels), doc, receipt_of(doc)

    async def _cpu(self, labels: int, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the loop for an ordinary reveal, in a worker thread for a big one."""
        if labels <= INLINE_LABELS:
            return fn(*args)
        return await run_in_threadpool(fn, *args)


def _head_read(chain: OracleChain, timeout: float) -> Callable[[], Head]:
    """A raw read over the chain client's HTTP endpoint, or the client's own read for any
    other provider (IPC)."""
    url = getattr(chain.w3.provider, "endpoint_uri", None)
    try:
        return RawHeadRead(str(url), timeout)
    except ValueError:
        return chain.latest_head


def _parse(entries: list[tuple[str, str, str]]) -> list[RevealedLabel] | None:
    try:
        return parse_labels(entries)
    except RevealError:
        return None


_REVEALS_PATH = re.compile(r"/tasks/(0|[1-9][0-9]{0,18})/reveals")
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


class RevealLane:
    """ASGI, in front of the FastAPI app: ``POST /tasks/{id}/reveals`` goes to
    :meth:`RevealIntake.try_store` first, without FastAPI's routing, middleware and request
    objects (a third of the event loop's time per reveal). Whatever the fast path leaves (None,
    a body that does not parse, an id out of range) goes to the app with the body replayed, so
    the app's exact path and messages decide it. `refuse` turns an exception into the response
    the app's exception handlers give for it."""

    def __init__(
        self,
        app: ASGIApp,
        intake: RevealIntake,
        parse: Callable[[bytes], Any],
        refuse: Callable[[Exception], Response],
    ) -> None:
        self.app = app
        self.intake = intake
        self.parse = parse
        self.refuse = refuse

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        match = None
        if scope["type"] == "http" and scope.get("method") == "POST":
            match = _REVEALS_PATH.fullmatch(scope.get("path", ""))
        if match is None or int(match[1]) > MAX_TASK_ID:
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        response: Response | None = None
        try:
            data = self.parse(body)
        except Exception:
            data = _UNPARSED  # the app says what is wrong with it
        if data is not _UNPARSED:
            try:
                result = await self.intake.try_store(int(match[1]), data)
            except Exception as exc:
                response = self.refuse(exc)
            else:
                if result is not None:
                    response = JSONResponse(result[1], status_code=result[0])
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, replaying(body, receive), send)


_UNPARSED = object()
