"""The watcher: checks every pending proposal against its published inputs, and disputes the
wrong ones with its own bond.

It follows the committee's ``ProposalPending`` events (getLogs in chunks from the deployment
block; the next block to read is kept in a small state file, so a restart carries on where it
stopped and never checks a proposal twice). For each proposal still inside its challenge
window it fetches the inputs bundle by the proposal's inputsHash (a bundles directory, then
each oracle's ``/bundles/<inputsHash>`` and ``/tasks/<id>/bundle``), keeps only bytes whose
keccak256 is the inputsHash, checks the bundle against the chain and recomputes the payout
(labelproof.bundle).

When it disputes (``--dispute``, the default, and only with ``--yes``; otherwise it says what
it would do):

* **mismatch**: the recomputed root, total or report hash differ from the proposal's;
* **invalid**: the bundle contradicts the chain (spec hash, gold commitment, a reveal that is
  not its annotator's attestation, inputs that pay nobody);
* **unavailable**: no source serves the bundle ``grace`` seconds (default 600, at most half
  the challenge period) after the proposal became pending. Inputs must be public before the
  window opens; the grace only absorbs propagation and a watcher's own network trouble. Until
  then the proposal stays open and is fetched again on every pass.

It never disputes: a proposal whose bundle checks out (**ok**), one it cannot judge
(**unverifiable**: scored with another scoring version), one whose window has closed, one it
disputed itself before, or one under someone else's dispute. After someone else's dispute is
ruled, a proposal that is still pending is left alone if the arbitrator ruled that it stands,
and checked as usual if the arbitrator refused to rule. A dispute it cannot pay for (bond or
fee missing) is reported and tried again on the next pass while the window is open.

Use from Python: ``Watcher(chain, sources, state_path=..., account=..., confirm=True).poll()``
returns one :class:`Report` per proposal checked; :meth:`Watcher.run` loops.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from hexbytes import HexBytes

from labelproof import bonded
from labelproof.bundle import (
    BundleError,
    BundleUnavailable,
    Unverifiable,
    bundle_sources,
    differences,
    fetch_matching,
    verify_onchain,
)
from labelproof.client import ActionError, Chain, format_amount
from labelproof.sending import when
from labelproof.settlement import Verdict, task_dict
from labelproof.wallet import default_wallet_dir, write_atomic

STATE_FORMAT = "labelproof-watch/1"
LOG_CHUNK = 5_000
DEFAULT_GRACE = 600

OK, MISMATCH, INVALID, UNVERIFIABLE, UNAVAILABLE = (
    "ok",
    "mismatch",
    "invalid",
    "unverifiable",
    "unavailable",
)
DISPUTABLE = (MISMATCH, INVALID, UNAVAILABLE)


class WatchError(ActionError):
    """The watcher cannot run (state file of another chain, held by another watcher, ...)."""


@dataclass
class Sources:
    """Where bundles are looked up, in order: directories, then oracles."""

    oracles: list[str] = field(default_factory=list)
    directories: list[Path] = field(default_factory=list)

    def for_proposal(self, task_id: int, inputs_hash: str) -> list[str]:
        return bundle_sources(
            task_id, inputs_hash, oracles=self.oracles, directories=self.directories
        )


@dataclass
class Entry:
    """One proposal (task, round) as the state file remembers it."""

    task_id: int
    round: int
    root: str
    total: int
    report_hash: str
    inputs_hash: str
    challenge_ends: int
    proposer: str
    block: int
    finding: str | None = None  # OK, MISMATCH, INVALID, UNVERIFIABLE; None until fetched
    detail: str = ""
    source: str | None = None
    done: bool = False
    outcome: str = ""  # the last line reported
    dispute_tx: str | None = None
    others_dispute: int | None = None  # a dispute by someone else, awaiting its ruling

    @property
    def key(self) -> str:
        return f"{self.task_id}/{self.round}"


@dataclass(frozen=True)
class Report:
    """One checked proposal: ``verdict`` is ok, mismatch, invalid, unavailable, unverifiable,
    waiting, would-dispute, cannot-dispute, disputed (by this watcher), under-dispute (by
    someone else) or closed; ``line`` says it for people."""

    task_id: int
    round: int
    verdict: str
    line: str
    changed: bool
    tx: str | None = None


class State:
    """The state file: the next block to read and every proposal seen."""

    def __init__(self, path: Path, chain_id: int, committee: str, start_block: int) -> None:
        self.path = path
        self.chain_id = chain_id
        self.committee = committee
        self.next_block = start_block
        self.entries: dict[str, Entry] = {}

    @classmethod
    def load(cls, path: Path, chain_id: int, committee: str, start_block: int) -> State:
        state = cls(path, chain_id, committee, start_block)
        if not path.exists():
            return state
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != STATE_FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {STATE_FORMAT!r}")
            if int(data["chain_id"]) != chain_id or str(data["committee"]) != committee:
                raise WatchError(
                    f"{path} belongs to committee {data['committee']} on chain "
                    f"{data['chain_id']}, not {committee} on chain {chain_id}: give another "
                    "--state file"
                )
            state.next_block = int(data["next_block"])
            for raw in data.get("proposals", {}).values():
                entry = Entry(**raw)
                state.entries[entry.key] = entry
        except WatchError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WatchError(f"{path}: not a watcher state file: {exc}") from None
        return state

    def save(self) -> None:
        data = {
            "format": STATE_FORMAT,
            "chain_id": self.chain_id,
            "committee": self.committee,
            "next_block": self.next_block,
            "proposals": {k: asdict(e) for k, e in sorted(self.entries.items())},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, (json.dumps(data, indent=2) + "\n").encode(), mode=0o644)


def default_state_path(chain: Chain) -> Path:
    """``~/.labelproof/watch/<chainId>-<committee>.json`` (next to the wallet directory)."""
    base = default_wallet_dir().parent / "watch"
    return base / f"{chain.chain_id}-{chain.deployment.committee}.json"


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex()


class Watcher:
    def __init__(
        self,
        chain: Chain,
        sources: Sources,
        *,
        state_path: Path,
        account: LocalAccount | None = None,
        dispute: bool = True,
        confirm: bool = False,
        grace: int = DEFAULT_GRACE,
        fetch_timeout: float = 20.0,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.chain = chain
        self.sources = sources
        self.account = account
        self.dispute = dispute
        self.confirm = confirm
        self.grace = grace
        self.fetch_timeout = fetch_timeout
        self.say = say or (lambda _: None)
        if dispute and confirm and account is None:
            raise WatchError("disputing needs a wallet: give --from WALLET (or --no-dispute)")
        self.state_path = state_path
        self._lock = _lock(state_path)
        self.state = State.load(
            state_path,
            chain.chain_id,
            chain.deployment.committee,
            max(0, int(chain.deployment.block) - 1),
        )

    # -- one pass

    def poll(self) -> list[Report]:
        """Read new ProposalPending events, check every open proposal, save the state."""
        head = int(self.chain.w3.eth.block_number)
        self._scan(head)
        now = self.chain.now()
        reports = []
        for entry in sorted(self.state.entries.values(), key=lambda e: (e.block, e.task_id)):
            if entry.done:
                continue
            report = self._check(entry, now)
            if report is not None:
                reports.append(report)
            self.state.save()  # after every proposal: a dispute sent is never sent twice
        self.state.save()
        return reports

    def run(
        self,
        emit: Callable[[Report], None],
        *,
        interval: float = 15.0,
        once: bool = False,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        """Poll every `interval` seconds (once with `once`); `emit` gets every report (in a
        loop only those whose line changed). In a loop, a failed pass (the node or a bundle
        source went away) goes to `on_error` and the next pass tries again; with `once` it
        raises."""
        while True:
            try:
                reports = self.poll()
            except Exception as exc:
                if once or on_error is None:
                    raise
                on_error(exc)
                reports = []
            for report in reports:
                if once or report.changed:
                    emit(report)
            if once:
                return
            time.sleep(interval)

    def _scan(self, head: int) -> None:
        event = self.chain.committee.events.ProposalPending()
        topic = bytes(HexBytes(event.topic))
        start = self.state.next_block
        while start <= head:
            end = min(head, start + LOG_CHUNK - 1)
            self.say(f"reading blocks {start} to {end}")
            # the adaptive reader: a provider's range cap or hiccup is not a watcher's failure
            raw = self.chain.log_reader.get_logs(
                [self.chain.committee.address], start, end, ["0x" + topic.hex()]
            )
            for log in (event.process_log(r) for r in raw):
                args = log["args"]
                entry = Entry(
                    task_id=int(args["taskId"]),
                    round=int(args["round"]),
                    root=_hex(args["root"]),
                    total=int(args["total"]),
                    report_hash=_hex(args["reportHash"]),
                    inputs_hash=_hex(args["inputsHash"]),
                    challenge_ends=int(args["challengeEnds"]),
                    proposer=to_checksum_address(args["proposer"]),
                    block=int(log["blockNumber"]),
                )
                self.state.entries.setdefault(entry.key, entry)
            start = end + 1
            self.state.next_block = start
            self.state.save()

    # -- one proposal

    def _report(self, entry: Entry, verdict: str, text: str, tx: str | None = None) -> Report:
        line = f"task {entry.task_id} round {entry.round}: {text}"
        changed = line != entry.outcome
        entry.outcome = line
        return Report(entry.task_id, entry.round, verdict, line, changed, tx)

    def _check(self, entry: Entry, now: int) -> Report | None:
        p = bonded.pending(self.chain, entry.task_id)
        # A round has at most one pending proposal, so its round and window identify it (the
        # committee keeps no inputsHash; the entry has it from the ProposalPending event).
        same = (
            p.round == entry.round
            and p.challenge_ends == entry.challenge_ends
            and p.root == entry.root
        )
        if not same:
            entry.done = True
            if not entry.outcome:
                return None  # settled before this watcher ever looked: nothing to say
            return self._report(entry, "closed", "no longer pending (finalized, vetoed or ruled)")
        if p.disputed:
            if self._is_me(p.disputer):
                entry.done = True
                text = f"disputed by this watcher (dispute {p.dispute_id}); {self._finding(entry)}"
                return self._report(entry, "closed", text)
            # Someone else's dispute: the arbitrator decides; look again after the ruling.
            entry.others_dispute = p.dispute_id
            if entry.finding is None:
                self._fetch_and_verify(entry)
            return self._report(
                entry,
                "under-dispute",
                f"under dispute {p.dispute_id} by {p.disputer}, waiting for the ruling; "
                f"{self._finding(entry)}",
            )
        if entry.others_dispute is not None:
            verdict = self._ruling(entry)
            entry.others_dispute = None
            if verdict == Verdict.PAYOUT_STANDS:
                entry.done = True
                return self._report(
                    entry,
                    "closed",
                    "the arbitrator ruled that the payout stands: not disputing it again; "
                    + self._finding(entry),
                )
            # Refused to arbitrate: the proposal stands unjudged, so it is checked as usual.
        if now >= entry.challenge_ends:
            entry.done = True
            if not entry.outcome:
                return None
            return self._report(entry, "closed", f"challenge window closed; {self._finding(entry)}")
        if entry.finding is None:
            self._fetch_and_verify(entry)
        if entry.finding == OK:
            entry.done = True
            return self._report(entry, OK, f"ok ({entry.detail})")
        if entry.finding == UNVERIFIABLE:
            entry.done = True
            return self._report(entry, UNVERIFIABLE, f"unverifiable: {entry.detail}")
        if entry.finding is None:  # the bundle is not available (yet)
            pending_since = entry.challenge_ends - self._challenge_period(entry.task_id)
            grace = min(self.grace, (entry.challenge_ends - pending_since) // 2)
            if now < pending_since + grace:
                return self._report(
                    entry,
                    "waiting",
                    f"waiting: bundle {entry.inputs_hash} not available ({entry.detail}); "
                    f"disputes at {when(pending_since + grace, now)} if still missing",
                )
            return self._act(entry, UNAVAILABLE, f"bundle unavailable: {entry.detail}")
        return self._act(entry, entry.finding, f"{entry.finding}: {entry.detail}")

    def _finding(self, entry: Entry) -> str:
        if entry.finding is None:
            return "bundle not seen"
        return f"{entry.finding}: {entry.detail}" if entry.detail else entry.finding

    def _ruling(self, entry: Entry) -> int | None:
        """The verdict that resolved `entry`'s dispute by someone else (None if not found)."""
        logs = self.chain.committee.events.DisputeResolved().get_logs(
            from_block=entry.block,
            argument_filters={"taskId": entry.task_id, "disputeId": entry.others_dispute},
        )
        return int(logs[-1]["args"]["verdict"]) if logs else None

    def _challenge_period(self, task_id: int) -> int:
        window = self.chain.escrow.functions.payoutWindow(task_id).call()
        return int(window[4])

    def _fetch_and_verify(self, entry: Entry) -> None:
        sources = self.sources.for_proposal(entry.task_id, entry.inputs_hash)
        self.say(f"task {entry.task_id}: fetching bundle {entry.inputs_hash}")
        try:
            data, source = fetch_matching(sources, entry.inputs_hash, timeout=self.fetch_timeout)
        except BundleUnavailable as exc:
            entry.detail = exc.detail
            return
        entry.source = source
        try:
            result = verify_onchain(self.chain, entry.task_id, data, entry.inputs_hash)
        except Unverifiable as exc:
            entry.finding, entry.detail = UNVERIFIABLE, str(exc)
            return
        except BundleError as exc:  # hashes right but does not parse: invalid inputs
            entry.finding, entry.detail = INVALID, str(exc)
            return
        if result.problems:
            shown = "; ".join(result.problems[:3])
            more = len(result.problems) - 3
            entry.finding = INVALID
            entry.detail = shown + (f"; and {more} more" if more > 0 else "")
            return
        diffs = differences(result, entry.root, entry.total, entry.report_hash, entry.inputs_hash)
        if diffs:
            entry.finding, entry.detail = MISMATCH, ", ".join(diffs)
            return
        gold = "; gold withheld by the requester" if result.gold_status == "withheld" else ""
        entry.finding = OK
        entry.detail = f"recomputed root {entry.root}, total {self._amount(entry)}{gold}"

    def _amount(self, entry: Entry) -> str:
        """The proposal's total in the task's token units."""
        token = task_dict(self.chain.escrow.functions.task(entry.task_id).call())["token"]
        try:
            symbol, decimals = self.chain.token_info(to_checksum_address(token))
        except ActionError:
            return str(entry.total)
        return f"{format_amount(entry.total, decimals)} {symbol}"

    def _is_me(self, address: str) -> bool:
        return self.account is not None and address == self.account.address

    def _act(self, entry: Entry, finding: str, text: str) -> Report:
        if not self.dispute:
            return self._report(entry, finding, f"{text} (not disputing: --no-dispute)")
        who = self.account.address if self.account is not None else None
        try:
            plan = bonded.plan_dispute(self.chain, entry.task_id, who)
        except ActionError as exc:
            return self._report(entry, "cannot-dispute", f"{text}; cannot dispute: {exc}")
        if not self.confirm or self.account is None:
            bond = plan.rules.amount(plan.rules.dispute_bond)
            return self._report(
                entry,
                "would-dispute",
                f"{text}; would dispute with a bond of {bond} (give --yes to dispute)",
            )
        self.say(f"task {entry.task_id}: disputing")
        try:
            sent = bonded.dispute(self.chain, self.account, plan, self.say)
        except ActionError as exc:
            return self._report(entry, "cannot-dispute", f"{text}; dispute failed: {exc}")
        entry.done = True
        entry.dispute_tx = sent.tx
        return self._report(
            entry,
            "disputed",
            f"disputed in {sent.tx} (dispute {sent.dispute_id}, bond "
            f"{plan.rules.amount(sent.bond)}): {text}",
            sent.tx,
        )


def _lock(state_path: Path) -> int:
    """Hold an exclusive lock next to the state file for the process's lifetime."""
    lock_path = state_path.with_name(state_path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise WatchError(
            f"another watcher is using {state_path}: stop it or give another --state file"
        ) from None
    return fd
