"""A proposal's inputs bundle: fetch it, check it hashes to the proposal's inputsHash, check it
against the chain, and recompute the payout from it.

Every proposal carries ``inputsHash``, the keccak256 of the canonical JSON bundle of everything
its payout was computed from: the task spec, every scored reveal with its salts, the annotators
left out, the gold set with its salt (or a ``withheld`` status when the requester never revealed
it and the task was scored without it), and the scoring version. With the bundle anyone can
recompute ``(root, total, reportHash)`` with the oracle's own function
(:func:`labelproof.oracle.scheduler.compute_payout`) and compare it with what was proposed.

Two kinds of finding:

* **problems**: the bundle contradicts the chain (its spec does not hash to the task's
  specHash, its gold set does not open the gold commitment, a reveal is not its annotator's
  attested commitment, ...). A payout computed from such inputs is wrong whatever it says.
* **differences**: the recomputed root, total or report hash differ from the proposed ones.

A bundle this installation cannot judge (scored with another scoring version) raises
:class:`Unverifiable` instead.

Functions for scripts: :func:`fetch`, :func:`fetch_matching`, :func:`parse_bundle`,
:func:`check_hash`, :func:`task_row`, :func:`recompute`, :func:`verify_onchain`,
:func:`differences`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_utils import is_address, to_checksum_address

from labelproof.client import ActionError, Chain
from labelproof.merkle import MerkleError
from labelproof.oracle.records import (
    REVEAL_FORMAT,
    RevealError,
    parse_labels,
    receipt_of,
    reveal_root,
)
from labelproof.oracle.scheduler import Computed, NothingToPay, compute_payout
from labelproof.oracle.store import GoldRow, RevealRow, TaskRow
from labelproof.scoring import SCORING_VERSION
from labelproof.settlement import ZERO32, inputs_hash, task_dict
from labelproof.spec import SpecError, TaskSpec, canonical_json, spec_hash, verify_gold

MAX_BUNDLE_BYTES = 256 * 1024 * 1024
GOLD_NONE, GOLD_REVEALED, GOLD_WITHHELD = "none", "revealed", "withheld"

# Whether (annotator, root, item count) is the annotator's current attestation for the task.
IsAttested = Callable[[str, bytes, int], bool]


class BundleError(ActionError):
    """The bundle cannot be fetched, does not parse, or does not hash as it should."""


class BundleUnavailable(BundleError):
    """No source served bytes hashing to the inputsHash; `detail` says what each one did."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail or message


class Unverifiable(BundleError):
    """This installation cannot recompute the payout (another scoring version)."""


# --------------------------------------------------------------------------------------------
# fetching
# --------------------------------------------------------------------------------------------


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def fetch(source: str, *, timeout: float = 30.0) -> bytes:
    """The bytes at an http(s) URL or in a file, exactly as served (never re-encoded)."""
    if is_url(source):
        try:
            with httpx.stream("GET", source, timeout=timeout, follow_redirects=True) as r:
                if r.status_code != 200:
                    raise BundleUnavailable(f"{source}: HTTP {r.status_code}")
                chunks: list[bytes] = []
                size = 0
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if size > MAX_BUNDLE_BYTES:
                        raise BundleError(f"{source}: larger than {MAX_BUNDLE_BYTES} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise BundleUnavailable(f"{source}: {exc or type(exc).__name__}") from None
    path = Path(source).expanduser()
    try:
        if path.stat().st_size > MAX_BUNDLE_BYTES:
            raise BundleError(f"{path}: larger than {MAX_BUNDLE_BYTES} bytes")
        return path.read_bytes()
    except FileNotFoundError:
        raise BundleUnavailable(f"{path}: no such file") from None
    except OSError as exc:
        raise BundleUnavailable(f"{path}: cannot read: {exc.strerror or exc}") from None


def bundle_sources(
    task_id: int,
    inputs_hash_hex: str,
    *,
    oracles: Sequence[str] = (),
    directories: Sequence[Path] = (),
) -> list[str]:
    """Where a proposal's bundle may be: ``<dir>/<inputsHash>.json`` (or without ``.json``),
    then each oracle's ``/bundles/<inputsHash>`` and ``/tasks/<id>/bundle``."""
    out: list[str] = []
    for directory in directories:
        out += [str(directory / f"{inputs_hash_hex}.json"), str(directory / inputs_hash_hex)]
    for oracle in oracles:
        base = oracle.rstrip("/")
        out += [f"{base}/bundles/{inputs_hash_hex}", f"{base}/tasks/{task_id}/bundle"]
    return out


def fetch_matching(
    sources: Sequence[str], expected: str, *, timeout: float = 30.0
) -> tuple[bytes, str]:
    """The first bytes among `sources` whose keccak256 is `expected`, and where they came
    from. Bytes that hash to anything else are not the bundle (an oracle's /tasks/{id}/bundle
    may serve a later round's); BundleUnavailable lists what each source did."""
    tried: list[str] = []
    for source in sources:
        try:
            data = fetch(source, timeout=timeout)
        except BundleError as exc:
            tried.append(str(exc))
            continue
        actual = inputs_hash(data)
        if actual == expected.lower():
            return data, source
        tried.append(f"{source}: hashes to {actual}")
    # A directory without the file is the usual case, not worth a word.
    detail = "; ".join(t for t in tried if "no such file" not in t) or "not found"
    if not sources:
        detail = "no source given"
    raise BundleUnavailable(f"no source serves the bundle {expected} ({detail})", detail)


def check_hash(data: bytes, expected: str) -> None:
    """Raise BundleError unless keccak256(data) is `expected` (a proposal's inputsHash)."""
    actual = inputs_hash(data)
    if actual != expected.lower():
        raise BundleError(f"the bundle hashes to {actual}, not the inputsHash {expected.lower()}")


# --------------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    raw: bytes
    inputs_hash: str
    spec: TaskSpec
    reveals: list[Any]  # reveal documents as published
    excluded: list[str]
    gold_status: str  # GOLD_NONE, GOLD_REVEALED or GOLD_WITHHELD
    gold_rows: list[list[str]] | None
    gold_salt: str | None
    scoring_version: str
    format: str | None
    doc: dict[str, Any]


def parse_bundle(data: bytes) -> Bundle:
    """The bundle's parts. Only the shape is checked here; :func:`recompute` judges content."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"the bundle is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BundleError("the bundle is not a JSON object")
    try:
        spec = TaskSpec.from_dict(doc.get("spec"))
    except SpecError as exc:
        raise BundleError(f"the bundle's spec is invalid: {exc}") from None
    reveals = doc.get("reveals")
    if not isinstance(reveals, list):
        raise BundleError("the bundle has no list of reveals")
    excluded = doc.get("excluded") or []
    if not isinstance(excluded, list) or not all(isinstance(x, str) for x in excluded):
        raise BundleError("the bundle's excluded is not a list of addresses")
    status, rows, salt = _gold(doc.get("gold"))
    version = doc.get("scoring_version")
    if version is None and isinstance(doc.get("scoring"), dict):
        version = doc["scoring"].get("version")
    fmt = doc.get("format")
    return Bundle(
        raw=bytes(data),
        inputs_hash=inputs_hash(data),
        spec=spec,
        reveals=reveals,
        excluded=[str(x) for x in excluded],
        gold_status=status,
        gold_rows=rows,
        gold_salt=salt,
        scoring_version=str(version) if version is not None else spec.scoring.version,
        format=str(fmt) if fmt is not None else None,
        doc=doc,
    )


def _gold(value: Any) -> tuple[str, list[list[str]] | None, str | None]:
    """(status, rows, salt) of the bundle's gold entry: null, {gold, salt} or withheld."""
    if value is None:
        return GOLD_NONE, None, None
    if value == GOLD_WITHHELD:
        return GOLD_WITHHELD, None, None
    if not isinstance(value, dict):
        raise BundleError("the bundle's gold is neither null, {gold, salt} nor withheld")
    status = value.get("status")
    if status == GOLD_WITHHELD:
        return GOLD_WITHHELD, None, None
    if status == GOLD_NONE:
        return GOLD_NONE, None, None
    rows, salt = value.get("gold"), value.get("salt")
    if isinstance(rows, dict):
        rows = [[k, v] for k, v in sorted(rows.items())]
    if not (
        isinstance(rows, list)
        and all(isinstance(r, list) and len(r) == 2 for r in rows)
        and isinstance(salt, str)
    ):
        raise BundleError("the bundle's gold is not {gold: [[item, label], ...], salt}")
    return GOLD_REVEALED, [[str(a), str(b)] for a, b in rows], salt


# --------------------------------------------------------------------------------------------
# the task on chain
# --------------------------------------------------------------------------------------------


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex()


def task_row(chain: Chain, task_id: int) -> TaskRow:
    """The task's parameters from the escrow, as the oracle's store row (compute_payout's
    argument)."""
    if not 0 < task_id < 2**64:
        raise ActionError(f"task {task_id} does not exist")
    t = task_dict(chain.escrow.functions.task(task_id).call())
    if int(t["status"]) == 0:
        raise ActionError(f"task {task_id} does not exist")
    return TaskRow(
        task_id=task_id,
        requester=to_checksum_address(t["requester"]),
        token=to_checksum_address(t["token"]),
        budget=int(t["budget"]),
        spec_hash=_hex(t["specHash"]),
        gold_commitment=_hex(t["goldCommitment"]),
        annotation_deadline=int(t["annotationDeadline"]),
        reveal_deadline=int(t["revealDeadline"]),
        challenge_period=int(t["challengePeriod"]),
        claim_period=int(t["claimPeriod"]),
        oracle_timeout=int(t["oracleTimeout"]),
    )


def registry_check(chain: Chain, task_id: int) -> IsAttested:
    """IsAttested against the registry (attestations are frozen after the annotation
    deadline, so the latest block answers for every proposal)."""

    def check(annotator: str, root: bytes, count: int) -> bool:
        if not 0 < count < 2**32:
            return False
        fn = chain.registry.functions.isAttested(task_id, annotator, root, count)
        return bool(fn.call())

    return check


# --------------------------------------------------------------------------------------------
# recomputing
# --------------------------------------------------------------------------------------------


@dataclass
class Recomputed:
    """What the bundle says the payout is, and how the bundle disagrees with the chain."""

    computed: Computed | None
    problems: list[str] = field(default_factory=list)
    gold_status: str = GOLD_NONE

    @property
    def root(self) -> str | None:
        return None if self.computed is None else self.computed.root

    @property
    def total(self) -> int | None:
        return None if self.computed is None else self.computed.total

    @property
    def report_hash(self) -> str | None:
        return None if self.computed is None else self.computed.report_hash


def recompute(
    bundle: Bundle,
    task: TaskRow,
    *,
    chain_id: int,
    escrow: str,
    is_attested: IsAttested | None = None,
) -> Recomputed:
    """Check the bundle against the task and recompute its payout with compute_payout.

    `is_attested` checks every reveal against the registry; without it (offline) only the
    bundle's own consistency is checked. Raises Unverifiable when the task's scoring version is
    not this installation's."""
    escrow = to_checksum_address(escrow)
    out = Recomputed(computed=None, gold_status=bundle.gold_status)
    spec = bundle.spec
    if spec.scoring.version != SCORING_VERSION:
        raise Unverifiable(
            f"task {task.task_id} is scored with version {spec.scoring.version}, this labelproof "
            f"implements {SCORING_VERSION}: use a matching release to check it"
        )
    facts = bundle.doc.get("task")
    if facts is not None:
        want = {
            "chain_id": chain_id,
            "escrow": escrow,
            "task_id": task.task_id,
            "spec_hash": task.spec_hash,
            "gold_commitment": task.gold_commitment,
            "budget": task.budget,
        }
        got = facts if isinstance(facts, dict) else {}
        for key, value in want.items():
            if got.get(key) != value:
                out.problems.append(
                    f"the bundle's task.{key} is {got.get(key)!r}, on chain {value!r}"
                )
    digest = "0x" + spec_hash(spec).hex()
    if digest != task.spec_hash:
        out.problems.append(f"the spec hashes to {digest}, the task's specHash is {task.spec_hash}")
    if bundle.scoring_version != spec.scoring.version:
        out.problems.append(
            f"scoring version {bundle.scoring_version}, the spec says {spec.scoring.version}"
        )
    gold = _gold_row(bundle, task, out.problems)
    reveals = _reveal_rows(bundle, task, chain_id, escrow, is_attested, out.problems)
    try:
        out.computed = compute_payout(
            chain_id=chain_id,
            escrow=escrow,
            task=task,
            spec=spec,
            reveals=reveals,
            excluded=list(bundle.excluded),
            gold=gold,
        )
    except NothingToPay as exc:
        out.problems.append(f"the inputs pay nobody ({exc})")
    except (ValueError, MerkleError) as exc:
        out.problems.append(f"scoring the inputs failed: {exc}")
    return out


def _gold_row(bundle: Bundle, task: TaskRow, problems: list[str]) -> GoldRow | None:
    if not task.has_gold:
        if bundle.gold_status != GOLD_NONE:
            problems.append(f"the bundle's gold is {bundle.gold_status}; the task commits to none")
        return None
    commitment = (
        bundle.doc["gold"].get("commitment") if isinstance(bundle.doc.get("gold"), dict) else None
    )
    if commitment is not None and commitment != task.gold_commitment:
        problems.append(
            f"the bundle's gold commitment is {commitment}, on chain {task.gold_commitment}"
        )
    if bundle.gold_status == GOLD_WITHHELD:
        return None  # the requester never revealed it: the task is scored without gold
    if bundle.gold_status == GOLD_NONE or bundle.gold_rows is None or bundle.gold_salt is None:
        problems.append(
            f"the task commits to gold set {task.gold_commitment}; the bundle has neither the "
            "gold set nor a withheld status"
        )
        return None
    rows = bundle.gold_rows
    labels = {item: label for item, label in rows}
    try:
        salt = bytes.fromhex(bundle.gold_salt.removeprefix("0x"))
        opens = verify_gold(labels, salt, task.gold_commitment)
    except (ValueError, SpecError) as exc:
        problems.append(f"the gold set cannot be hashed: {exc}")
        return None
    if len(labels) != len(rows):
        problems.append("the gold set lists an item twice")
    if not opens:
        problems.append(f"the gold set and salt do not open the commitment {task.gold_commitment}")
    try:
        bundle.spec.check_labels(labels, "gold")
    except SpecError as exc:
        problems.append(str(exc))
    return GoldRow(task.task_id, canonical_json(rows).decode("utf-8"), bundle.gold_salt, 0.0)


def _reveal_rows(
    bundle: Bundle,
    task: TaskRow,
    chain_id: int,
    escrow: str,
    is_attested: IsAttested | None,
    problems: list[str],
) -> list[RevealRow]:
    """Each reveal as the oracle's store row (built from the document as published, so a
    tampered reveal is scored as published), after checking it opens an attestation."""
    rows: list[RevealRow] = []
    seen: set[str] = set()
    for n, doc in enumerate(bundle.reveals):
        if not isinstance(doc, dict) or not is_address(doc.get("annotator", "")):
            problems.append(f"reveal #{n} is not a reveal document with an annotator")
            continue
        annotator = to_checksum_address(doc["annotator"])
        who = f"the reveal of {annotator}"
        if annotator in seen:
            problems.append(f"{annotator} has more than one reveal")
        seen.add(annotator)
        expected = {
            "format": REVEAL_FORMAT,
            "chain_id": chain_id,
            "escrow": escrow,
            "task_id": task.task_id,
        }
        for key, want in expected.items():
            if doc.get(key) != want:
                problems.append(f"{who}: {key} is {doc.get(key)!r}, expected {want!r}")
        try:
            entries = doc.get("labels")
            if not isinstance(entries, list):
                raise RevealError("labels must be a list")
            labels = parse_labels(
                [(str(x["item"]), str(x["label"]), str(x["salt"])) for x in entries]
            )
        except (RevealError, KeyError, TypeError) as exc:
            problems.append(f"{who}: malformed labels: {exc}")
            continue
        try:
            bundle.spec.check_labels({x.item: x.label for x in labels}, who)
        except SpecError as exc:
            problems.append(str(exc))
        root = reveal_root(chain_id, escrow, task.task_id, annotator, labels)
        root_hex = "0x" + root.hex()
        if doc.get("root") != root_hex or doc.get("item_count") != len(labels):
            problems.append(
                f"{who}: the document says root {doc.get('root')} over {doc.get('item_count')} "
                f"items, its labels give {root_hex} over {len(labels)}"
            )
        if is_attested is not None and not is_attested(annotator, root, len(labels)):
            problems.append(
                f"{who}: its labels and salts (root {root_hex}, {len(labels)} items) are not "
                "the annotator's attested commitment"
            )
        doc_bytes = canonical_json(doc)
        rows.append(
            RevealRow(
                task_id=task.task_id,
                annotator=annotator,
                version=int(doc.get("version") or 0),
                root=root_hex,
                item_count=len(labels),
                reveal_json=doc_bytes.decode("utf-8"),
                receipt=receipt_of(doc_bytes),
                stored_at=0.0,
            )
        )
    return rows


def differences(
    recomputed: Recomputed,
    root: str,
    total: int,
    report_hash: str,
    inputs_hash_hex: str | None = None,
) -> list[str]:
    """How a proposal's (root, total, reportHash, inputsHash) differ from the recomputed
    ones. The inputs hash differs when the bundle is not the canonical encoding of its own
    contents (compute_payout re-encodes them)."""
    c = recomputed.computed
    if c is None:
        return []
    out = []
    again = getattr(c, "inputs_hash", None)
    if inputs_hash_hex is not None and again is not None and again != inputs_hash_hex.lower():
        out.append(f"inputsHash {inputs_hash_hex} (the bundle's contents re-encode to {again})")
    if c.root.lower() != root.lower():
        out.append(f"root {root} (recomputed {c.root})")
    if c.total != total:
        out.append(f"total {total} (recomputed {c.total})")
    if c.report_hash.lower() != report_hash.lower():
        out.append(f"reportHash {report_hash} (recomputed {c.report_hash})")
    return out


def verify_onchain(chain: Chain, task_id: int, data: bytes, expected_hash: str) -> Recomputed:
    """Hash check, then the bundle checked against task `task_id` on chain and recomputed."""
    if expected_hash.lower() == ZERO32:
        raise BundleError("the proposal has no inputsHash")
    check_hash(data, expected_hash)
    return recompute(
        parse_bundle(data),
        task_row(chain, task_id),
        chain_id=chain.chain_id,
        escrow=chain.deployment.escrow,
        is_attested=registry_check(chain, task_id),
    )
