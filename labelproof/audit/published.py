"""One task's published data (report, tree, inputs bundle) against its posted payout: hashes,
the bundle's spec, gold set and reveals, and the payout recomputed with the oracle's own code."""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import TYPE_CHECKING, Any

from eth_utils import is_address, keccak, to_checksum_address

from labelproof.audit.events import (
    ChainEvents,
    StoredTask,
)
from labelproof.audit.model import (
    CHECK_BUNDLE,
    CHECK_CLAIMS,
    CHECK_GOLD,
    CHECK_PUBLISHED,
    CHECK_RECOMPUTE,
    CHECK_REPORT,
    CHECK_REPORT_HASH,
    CHECK_REVEAL,
    CHECK_ROOT,
    CHECK_SPEC,
    CHECK_TOTAL,
    CHECK_TREE,
    GOLD_NONE,
    GOLD_REVEALED,
    GOLD_WITHHELD,
    PayoutRow,
    PostedPayout,
    TaskSummary,
)
from labelproof.audit.sources import Published
from labelproof.merkle import PAYOUT_ENCODING, MerkleError, StandardMerkleTree
from labelproof.oracle.records import (
    BUNDLE_FORMAT,
    REPORT_FORMAT,
    REVEAL_FORMAT,
    RevealError,
    parse_labels,
    receipt_of,
    reveal_root,
)
from labelproof.oracle.scheduler import NothingToPay, compute_payout
from labelproof.oracle.store import GoldRow, RevealRow, TaskRow
from labelproof.scoring import SCORING_VERSION
from labelproof.settlement import inputs_hash
from labelproof.spec import (
    SpecError,
    TaskSpec,
    canonical_json,
    gold_commitment,
    spec_hash,
    verify_gold,
)

if TYPE_CHECKING:
    from labelproof.audit.checks import Audit


class TaskCheck:
    """The checks of one task's published data (report, tree, inputs bundle) against its
    posted payout."""

    def __init__(
        self,
        audit: Audit,
        tid: int,
        st: StoredTask,
        posted: PostedPayout,
        events: ChainEvents,
        summary: TaskSummary,
    ) -> None:
        self.audit = audit
        self.tid = tid
        self.st = st
        self.posted = posted
        self.events = events
        self.summary = summary
        # Whether the published report hashes to the posted reportHash (set by _report_hash).
        self.report_matches = True
        self.bundle_bytes: bytes | None = None

    def find(self, check: str, message: str) -> None:
        self.audit.find(self.tid, check, message)

    def run(self, pub: Published) -> None:
        report_doc = self._report_hash(pub.report)
        tree = self._tree(pub.tree)
        bundle = self._bundle(pub.bundle)
        spec = self._spec(bundle)
        gold_status, gold_rows = self._gold(bundle, spec)
        self.summary.gold = gold_status
        reveals = self._reveals(bundle, spec)
        computed = self._recompute(bundle, spec, gold_status, gold_rows, reveals, report_doc)
        if report_doc is not None:
            self._report(report_doc, tree, gold_status)
        self._claims(tree, computed)
        self._rows(report_doc, computed)

    # -- report

    def _report_hash(self, body: bytes | None) -> dict[str, Any] | None:
        if body is None:
            self.find(CHECK_PUBLISHED, f"no published report for the {self.posted.kind} payout")
            return None
        actual = "0x" + bytes(keccak(body)).hex()
        self.report_matches = actual == self.posted.report_hash
        if not self.report_matches:
            self.find(
                CHECK_REPORT_HASH,
                f"posted reportHash {self.posted.report_hash} but the published report hashes "
                f"to {actual}",
            )
        try:
            doc = json.loads(body)
        except ValueError as exc:
            self.find(CHECK_REPORT, f"the published report is not valid JSON: {exc}")
            return None
        if not isinstance(doc, dict):
            self.find(CHECK_REPORT, "the published report is not a JSON object")
            return None
        return doc

    def _report(
        self, doc: dict[str, Any], tree: StandardMerkleTree | None, gold_status: str | None
    ) -> None:
        """The report's own claims: bound to this task and its inputs bundle, and paying what
        the tree pays."""
        st, posted = self.st, self.posted
        expected_task = {
            "chain_id": self.audit.chain_id,
            "escrow": self.audit.escrow_address,
            "task_id": self.tid,
            "spec_hash": st.spec_hash,
            "gold_commitment": st.gold_commitment,
            "budget": st.budget,
        }
        if doc.get("format") != REPORT_FORMAT:
            self.find(CHECK_REPORT, f"format is {doc.get('format')!r}, not {REPORT_FORMAT!r}")
        task = _obj(doc.get("task"))
        for key, want in expected_task.items():
            got = task.get(key)
            if got != want:
                self.find(CHECK_REPORT, f"the report's task.{key} is {got!r}, on chain {want!r}")
        reported_inputs = _obj(doc.get("inputs")).get("hash")
        if posted.inputs_hash is not None and reported_inputs != posted.inputs_hash:
            self.find(
                CHECK_REPORT,
                f"the report names inputs bundle {reported_inputs} but the posted inputsHash "
                f"is {posted.inputs_hash}",
            )
        reported_gold = _obj(doc.get("gold")).get("status")
        if gold_status is not None and reported_gold != gold_status:
            self.find(
                CHECK_REPORT,
                f"the report says the gold set was {reported_gold!r}, the inputs bundle "
                f"{gold_status!r}",
            )
        payout = _obj(doc.get("payout"))
        if payout.get("root") != posted.root:
            self.find(
                CHECK_REPORT,
                f"the report's payout root is {payout.get('root')} but the posted root is "
                f"{posted.root}",
            )
        if payout.get("total") != posted.total:
            self.find(
                CHECK_REPORT,
                f"the report's payout total is {payout.get('total')} but the posted total is "
                f"{posted.total}",
            )
        if tree is None:
            return
        leaves = _tree_payouts(tree)
        reported = _report_payouts(doc)
        if reported is None:
            self.find(CHECK_REPORT, "the report has no scoring.workers payouts")
            return
        for account in sorted(set(leaves) | set(reported)):
            want_amount, got_amount = leaves.get(account, 0), reported.get(account, 0)
            if want_amount != got_amount:
                self.find(
                    CHECK_REPORT,
                    f"the report pays {account} {got_amount} but the published tree pays "
                    f"{want_amount}",
                )
        if payout.get("accounts") != len(leaves):
            self.find(
                CHECK_REPORT,
                f"the report counts {payout.get('accounts')} paid accounts, the tree has "
                f"{len(leaves)}",
            )

    # -- tree

    def _tree(self, body: bytes | None) -> StandardMerkleTree | None:
        if body is None:
            self.find(CHECK_PUBLISHED, f"no published tree for the {self.posted.kind} payout")
            return None
        try:
            tree = StandardMerkleTree.load(json.loads(body))
        except ValueError as exc:  # MerkleError and JSONDecodeError are both ValueErrors
            self.find(CHECK_TREE, f"the published tree is invalid: {exc}")
            return None
        if tree.leaf_encoding != list(PAYOUT_ENCODING):
            self.find(CHECK_TREE, f"leaf encoding {tree.leaf_encoding}, not {PAYOUT_ENCODING}")
            return None
        if tree.root != self.posted.root:
            self.find(
                CHECK_ROOT,
                f"posted root {self.posted.root} but the published tree's root is {tree.root}",
            )
        total = sum(int(value[1]) for _, value in tree.entries())
        if total != self.posted.total:
            self.find(
                CHECK_TOTAL,
                f"posted total {self.posted.total} but the published tree pays {total}",
            )
        leaves_per_account = Counter(to_checksum_address(value[0]) for _, value in tree.entries())
        for account in sorted(a for a, n in leaves_per_account.items() if n > 1):
            self.find(CHECK_TREE, f"the published tree has more than one leaf for {account}")
        return tree

    def _claims(self, tree: StandardMerkleTree | None, computed: Any) -> None:
        """Every claim is a leaf of the published tree (or, without a valid one, of the
        recomputed tree): claims validated on chain against a root nobody published show here."""
        claims = self.events.claims.get(self.tid, [])
        if not claims:
            return
        if tree is not None:
            against, what = tree, "the published tree"
        elif computed is not None:
            against = StandardMerkleTree.load(json.loads(computed.tree_json))
            what = "the recomputed tree"
        else:
            return
        leaves = _tree_payouts(against)
        for account, amount in claims:
            if leaves.get(account) != amount:
                owed = leaves.get(account)
                detail = "no leaf for it" if owed is None else f"a leaf of {owed} for it"
                self.find(CHECK_CLAIMS, f"{account} claimed {amount} but {what} has {detail}")

    # -- the inputs bundle: spec, gold, reveals

    def _bundle(self, body: bytes | None) -> dict[str, Any] | None:
        """The published inputs bundle: its bytes hash to the posted inputsHash and it names
        this task."""
        if body is None:
            self.find(
                CHECK_PUBLISHED, f"no published inputs bundle for the {self.posted.kind} payout"
            )
            return None
        self.bundle_bytes = body
        actual = inputs_hash(body)
        if self.posted.inputs_hash is not None and actual != self.posted.inputs_hash:
            self.find(
                CHECK_BUNDLE,
                f"posted inputsHash {self.posted.inputs_hash} but the published inputs bundle "
                f"hashes to {actual}",
            )
        try:
            doc = json.loads(body)
        except ValueError as exc:
            self.find(CHECK_BUNDLE, f"the published inputs bundle is not valid JSON: {exc}")
            return None
        if not isinstance(doc, dict):
            self.find(CHECK_BUNDLE, "the published inputs bundle is not a JSON object")
            return None
        if doc.get("format") != BUNDLE_FORMAT:
            self.find(CHECK_BUNDLE, f"format is {doc.get('format')!r}, not {BUNDLE_FORMAT!r}")
        st = self.st
        task = _obj(doc.get("task"))
        for key, want in {
            "chain_id": self.audit.chain_id,
            "escrow": self.audit.escrow_address,
            "task_id": self.tid,
            "spec_hash": st.spec_hash,
            "gold_commitment": st.gold_commitment,
            "budget": st.budget,
        }.items():
            if task.get(key) != want:
                self.find(
                    CHECK_BUNDLE, f"the bundle's task.{key} is {task.get(key)!r}, on chain {want!r}"
                )
        excluded = doc.get("excluded")
        if isinstance(excluded, list):
            self.summary.excluded = [str(x) for x in excluded]
        return doc

    def _spec(self, bundle: dict[str, Any] | None) -> TaskSpec | None:
        if bundle is None:
            return None
        try:
            spec = TaskSpec.from_dict(bundle.get("spec"))
        except SpecError as exc:
            self.find(CHECK_SPEC, f"the published spec is invalid: {exc}")
            return None
        digest = "0x" + spec_hash(spec).hex()
        if digest != self.st.spec_hash:
            self.find(
                CHECK_SPEC,
                f"the published spec hashes to {digest} but the task's specHash is "
                f"{self.st.spec_hash}",
            )
        self.summary.min_quality = spec.scoring.min_quality
        return spec

    def _gold(
        self, bundle: dict[str, Any] | None, spec: TaskSpec | None
    ) -> tuple[str | None, list[Any] | None]:
        """The bundle's gold status, and its rows ([[item, label], ...]) when they were revealed
        and open the commitment. A withheld gold set (the requester never revealed it in time)
        is valid: the task was scored without it, and the report says so."""
        if bundle is None:
            return None, None
        commitment = self.st.gold_commitment
        gold = bundle.get("gold")
        if int(commitment, 16) == 0:
            if gold is not None:
                self.find(CHECK_GOLD, "a gold set is published but the task commits to none")
            return GOLD_NONE, None
        if not isinstance(gold, dict):
            self.find(CHECK_GOLD, f"the task commits to gold set {commitment}; none is published")
            return None, None
        if gold.get("commitment") != commitment:
            self.find(
                CHECK_GOLD,
                f"the bundle's gold commitment is {gold.get('commitment')!r}, on chain "
                f"{commitment}",
            )
        status = gold.get("status")
        if status == GOLD_WITHHELD:
            if "gold" in gold or "salt" in gold:
                self.find(CHECK_GOLD, "the gold set is marked withheld but rows are published")
            return GOLD_WITHHELD, None
        if status != GOLD_REVEALED:
            self.find(CHECK_GOLD, f"unknown gold status {status!r} (revealed or withheld)")
            return None, None
        rows, salt_hex = gold.get("gold"), gold.get("salt")
        if not (
            isinstance(rows, list)
            and all(isinstance(r, list) and len(r) == 2 for r in rows)
            and isinstance(salt_hex, str)
        ):
            self.find(CHECK_GOLD, "the published gold set is not {gold: [[item, label]], salt}")
            return GOLD_REVEALED, None
        try:
            labels = {str(item): str(lab) for item, lab in rows}
            salt = bytes.fromhex(salt_hex.removeprefix("0x"))
            opened = "0x" + gold_commitment(labels, salt).hex()
        except (ValueError, SpecError) as exc:
            self.find(CHECK_GOLD, f"the published gold set cannot be hashed: {exc}")
            return GOLD_REVEALED, None
        if len(labels) != len(rows):
            self.find(CHECK_GOLD, "the published gold set lists an item twice")
        if not verify_gold(labels, salt, commitment):
            self.find(
                CHECK_GOLD,
                f"the published gold set and salt hash to {opened} but the task's gold "
                f"commitment is {commitment}",
            )
        if spec is not None:
            try:
                spec.check_labels(labels, "gold")
            except SpecError as exc:
                self.find(CHECK_GOLD, str(exc))
        return GOLD_REVEALED, rows

    def _reveals(self, bundle: dict[str, Any] | None, spec: TaskSpec | None) -> list[RevealRow]:
        """Each reveal checked against its annotator's latest attestation, as store rows for
        compute_payout (the rows are built from the published documents as they are, so a
        tampered reveal is scored as published and the recompute shows its effect too)."""
        if bundle is None:
            return []
        docs = bundle.get("reveals")
        if not isinstance(docs, list):
            self.find(CHECK_REVEAL, "the published inputs bundle has no list of reveals")
            return []
        rows: list[RevealRow] = []
        seen: set[str] = set()
        for n, doc in enumerate(docs):
            row = self._reveal(n, doc, spec, seen)
            if row is not None:
                rows.append(row)
        return rows

    def _reveal(self, n: int, doc: Any, spec: TaskSpec | None, seen: set[str]) -> RevealRow | None:
        if not isinstance(doc, dict) or not is_address(doc.get("annotator", "")):
            self.find(CHECK_REVEAL, f"reveal #{n} is not a reveal document with an annotator")
            return None
        annotator = to_checksum_address(doc["annotator"])
        who = f"reveal of {annotator}"
        if annotator in seen:
            self.find(CHECK_REVEAL, f"{annotator} has more than one published reveal")
        seen.add(annotator)
        expected = {
            "format": REVEAL_FORMAT,
            "chain_id": self.audit.chain_id,
            "escrow": self.audit.escrow_address,
            "task_id": self.tid,
        }
        for key, want in expected.items():
            if doc.get(key) != want:
                self.find(CHECK_REVEAL, f"{who}: {key} is {doc.get(key)!r}, expected {want!r}")
        try:
            entries = doc.get("labels")
            if not isinstance(entries, list):
                raise RevealError("labels must be a list")
            labels = parse_labels(
                [(str(x["item"]), str(x["label"]), str(x["salt"])) for x in entries]
            )
        except (RevealError, KeyError, TypeError) as exc:
            self.find(CHECK_REVEAL, f"{who}: malformed labels: {exc}")
            return None
        if spec is not None:
            try:
                spec.check_labels({x.item: x.label for x in labels}, who)
            except SpecError as exc:
                self.find(CHECK_REVEAL, str(exc))
        root = (
            "0x"
            + reveal_root(
                self.audit.chain_id, self.audit.escrow_address, self.tid, annotator, labels
            ).hex()
        )
        att = self.events.attestations.get((self.tid, annotator))
        if att is None:
            self.find(CHECK_REVEAL, f"{who}: no Attested event for this annotator and task")
        else:
            if root != att.root:
                self.find(
                    CHECK_REVEAL,
                    f"{who}: the revealed labels and salts give root {root} but the latest "
                    f"attestation (version {att.version}) commits to {att.root}",
                )
            if len(labels) != att.item_count:
                self.find(
                    CHECK_REVEAL,
                    f"{who}: {len(labels)} labels revealed but the latest attestation "
                    f"commits to {att.item_count} items",
                )
            if doc.get("version") != att.version:
                self.find(
                    CHECK_REVEAL,
                    f"{who}: version {doc.get('version')!r} but the latest attestation is "
                    f"version {att.version}",
                )
        if doc.get("root") != root or doc.get("item_count") != len(labels):
            self.find(
                CHECK_REVEAL,
                f"{who}: the document says root {doc.get('root')} over {doc.get('item_count')} "
                f"items, its labels give {root} over {len(labels)}",
            )
        doc_bytes = canonical_json(doc)
        return RevealRow(
            task_id=self.tid,
            annotator=annotator,
            version=int(doc.get("version") or 0),
            root=root,
            item_count=len(labels),
            reveal_json=doc_bytes.decode("utf-8"),
            receipt=receipt_of(doc_bytes),
            stored_at=0.0,
        )

    # -- recompute

    def _recompute(
        self,
        bundle: dict[str, Any] | None,
        spec: TaskSpec | None,
        gold_status: str | None,
        gold_rows: list[Any] | None,
        reveals: list[RevealRow],
        report_doc: dict[str, Any] | None,
    ) -> Any:
        """compute_payout, the scheduler's own function, over the published inputs bundle: it
        must give the posted reportHash, root, total and inputsHash (the same bundle bytes)."""
        if bundle is None:
            return None
        version = bundle.get("scoring_version")
        if version != SCORING_VERSION:
            self.find(
                CHECK_RECOMPUTE,
                f"the bundle was scored with scoring {version!r} but this auditor runs "
                f"{SCORING_VERSION!r}: install that version to recompute the payout",
            )
            return None
        if spec is None:
            self.find(CHECK_RECOMPUTE, "cannot recompute the payout without a valid spec")
            return None
        if gold_status is None or (gold_status == GOLD_REVEALED and gold_rows is None):
            self.find(CHECK_RECOMPUTE, "cannot recompute the payout without the gold set")
            return None
        st = self.st
        task = TaskRow(
            task_id=self.tid,
            requester=st.requester,
            token=st.token,
            budget=st.budget,
            spec_hash=st.spec_hash,
            gold_commitment=st.gold_commitment,
            annotation_deadline=0,  # not read by compute_payout
            reveal_deadline=0,
            challenge_period=0,
            claim_period=0,
            oracle_timeout=0,
            rules_id=st.rules_id,
        )
        gold = None
        if gold_rows is not None:
            salt = bundle["gold"]["salt"]
            gold = GoldRow(self.tid, canonical_json(gold_rows).decode("utf-8"), salt, 0.0)
        excluded = bundle.get("excluded") or []
        try:
            computed = compute_payout(
                chain_id=self.audit.chain_id,
                escrow=self.audit.escrow_address,
                task=task,
                spec=spec,
                reveals=reveals,
                excluded=[str(x) for x in excluded],
                gold=gold,
            )
        except NothingToPay as exc:
            self.find(CHECK_RECOMPUTE, f"the published inputs pay nobody ({exc})")
            return None
        except (ValueError, MerkleError) as exc:
            self.find(CHECK_RECOMPUTE, f"scoring the published inputs failed: {exc}")
            return None
        posted = self.posted
        wrong = []
        if computed.report_hash != posted.report_hash:
            wrong.append(f"report hash {computed.report_hash} (posted {posted.report_hash})")
        if computed.root != posted.root:
            wrong.append(f"root {computed.root} (posted {posted.root})")
        if computed.total != posted.total:
            wrong.append(f"total {computed.total} (posted {posted.total})")
        if posted.inputs_hash is not None and computed.inputs_hash != posted.inputs_hash:
            wrong.append(f"inputs hash {computed.inputs_hash} (posted {posted.inputs_hash})")
        if wrong:
            hint = ""
            if report_doc is not None:
                diffs = _diff(report_doc, json.loads(computed.report))
                if diffs:
                    hint = "; the published report differs at " + ", ".join(diffs)
            self.find(
                CHECK_RECOMPUTE,
                "scoring the published inputs bundle gives " + ", ".join(wrong) + hint,
            )
        elif report_doc is not None and not self.report_matches:
            # The recompute agrees with the chain, so the published report is what changed.
            diffs = _diff(report_doc, json.loads(computed.report))
            if diffs:
                self.find(
                    CHECK_REPORT,
                    "the published report differs from the recomputed one at " + ", ".join(diffs),
                )
        kept = computed.bundle  # compute_payout keeps the bundle it builds
        if self.bundle_bytes is not None and kept is not None and kept != self.bundle_bytes:
            diffs = _diff(json.loads(self.bundle_bytes), json.loads(kept))
            where = ", ".join(diffs) if diffs else "its encoding (not canonical JSON)"
            self.find(
                CHECK_BUNDLE,
                f"the published inputs bundle is not the canonical one its contents give: {where}",
            )
        return computed

    # -- rows for the summary and the plots

    def _rows(self, report_doc: dict[str, Any] | None, computed: Any) -> None:
        doc: Any = None
        source = None
        if computed is not None:
            doc, source = json.loads(computed.report), "recomputed"
        elif report_doc is not None:
            doc, source = report_doc, "published report"
        scoring = doc.get("scoring") if isinstance(doc, dict) else None
        workers = scoring.get("workers") if isinstance(scoring, dict) else None
        if not isinstance(workers, dict):
            return
        claimed: dict[str, int] = {}
        for account, amount in self.summary.claims:
            claimed[account] = claimed.get(account, 0) + amount
        rows = []
        for worker, w in sorted(workers.items()):
            if not isinstance(w, dict):
                continue
            account = to_checksum_address(worker) if is_address(worker) else worker
            rows.append(
                PayoutRow(
                    account=account,
                    labels=_int(w.get("labels")),
                    quality=_float(w.get("quality")),
                    payout=_int(w.get("payout")),
                    claimed=claimed.get(account, 0),
                )
            )
        self.summary.rows = rows
        self.summary.rows_source = source
        params = scoring.get("parameters") if isinstance(scoring, dict) else None
        if isinstance(params, dict) and isinstance(params.get("min_quality"), int | float):
            self.summary.min_quality = float(params["min_quality"])


def _obj(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else (a malformed field then mismatches)."""
    return value if isinstance(value, dict) else {}


def _tree_payouts(tree: StandardMerkleTree) -> dict[str, int]:
    return {to_checksum_address(value[0]): int(value[1]) for _, value in tree.entries()}


def _report_payouts(doc: dict[str, Any]) -> dict[str, int] | None:
    """Positive payouts of a report's scoring.workers (the tree holds only positive ones)."""
    scoring = doc.get("scoring")
    workers = scoring.get("workers") if isinstance(scoring, dict) else None
    if not isinstance(workers, dict):
        return None
    out: dict[str, int] = {}
    for worker, w in workers.items():
        amount = _int(w.get("payout")) if isinstance(w, dict) else 0
        if amount > 0:
            out[to_checksum_address(worker) if is_address(worker) else worker] = amount
    return out


def _diff(a: Any, b: Any, path: str = "", limit: int = 3) -> list[str]:
    """Up to `limit` paths where two JSON values differ, with both values (short)."""
    out: list[str] = []

    def walk(x: Any, y: Any, where: str) -> None:
        if len(out) >= limit:
            return
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y)):
                walk(x.get(key), y.get(key), f"{where}.{key}" if where else str(key))
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (xi, yi) in enumerate(zip(x, y, strict=True)):
                walk(xi, yi, f"{where}[{i}]")
        elif x != y:
            out.append(f"{where or '<root>'} (published {_short(x)}, recomputed {_short(y)})")

    walk(a, b, path)
    return out


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | str) and str(value).lstrip("-").isdigit() else 0


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan
