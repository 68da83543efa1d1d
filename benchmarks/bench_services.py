"""Benchmark the oracle service: reveal intake under load, and reveal deadline to proposal.

The oracle runs as a real process (``python -m labelproof.oracle serve``) against a local
anvil, twice in one run with the same harness, chain and data: the code of this checkout
("after") and the code of another git ref ("before", default ``main``, exported with
``git archive`` into a temporary directory). ``--skip-before`` measures this checkout only.

1. Reveal intake: one task, annotators of 100 labels each attested on chain (impersonated
   ``attest`` calls, mined in bulk). Two client processes post distinct reveals over
   keep-alive connections: first one connection each (``two_clients``), then 16 each
   (concurrency 32). Throughput counts stored reveals (201) per second of wall time; latency
   percentiles are over stored reveals; a 429 (back-pressure) is counted, and the client
   waits its Retry-After and sends the same reveal again.
2. Deadline to proposal: one task of 15,000 annotators x 100 labels = 1.5M labels over
   150,000 items (10 labels an item). Its spec and reveals are written into the oracle's
   database directly (the intake is measured above), the chain is moved past the reveal
   deadline, then the oracle is started: the time is from its first completed follower sync
   (its /health shows a synced block; the scheduler's tick follows at once) to its proposal
   being mined. Peak memory is the oracle process's peak RSS (VmHWM).

The two tasks live in two deployments of the suite on the same anvil, so that each oracle
reads at start only its own task's events. Each run's phases are timed (``timings_s``).

The "before" code runs on this checkout's interpreter, with its own dependency set emulated:
when its constraints.txt lacks httptools and uvloop they are hidden from it (a sitecustomize
on its PYTHONPATH), so uvicorn runs it on h11 and asyncio as it would have.

Keys written to benchmarks/results/services.json (read-modify-write: other keys, such as the
relayer's ``relayer_intake_per_s``, are kept): ``reveals_per_s``, ``reveal_p99_ms_c32``,
``deadline_to_proposal_s``, ``scoring_peak_mb`` (this checkout), ``oracle_before`` (the same
for the other ref) and ``oracle_details``. The machine is shared (2 cores): figures are lower
bounds.

Run:  python benchmarks/bench_services.py [--before-ref main] [--skip-before] [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eth_account import Account  # noqa: E402
from eth_utils import keccak, to_checksum_address  # noqa: E402

from labelproof.chain import Sender, contract_at  # noqa: E402
from labelproof.deploy import DeployConfig, deploy_suite  # noqa: E402
from labelproof.node import LocalNode, free_port, start_anvil  # noqa: E402
from labelproof.oracle.health import read_identity  # noqa: E402
from labelproof.oracle.records import (  # noqa: E402
    RevealedLabel,
    receipt_of,
    reveal_document_bytes,
    reveal_root,
)
from labelproof.oracle.store import RevealRow, Store  # noqa: E402
from labelproof.scoring import SCORING_VERSION  # noqa: E402
from labelproof.spec import ScoringSpec, TaskSpec, spec_hash  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "services.json"
DAY = 86_400
TOKEN = 10**18
LABELS = ("cat", "dog", "bird", "fish")
PER_ANNOTATOR = 100
ATTEST_SELECTOR = bytes(keccak(text="attest(uint256,bytes32,uint32)"))[:4]
BODY_LIMIT = 16 * 1024 * 1024  # the scoring task's spec has 150,000 items


# -- the chain


@dataclass
class Chain:
    node: LocalNode
    dep: Any
    deployment_file: Path
    keys: list[Any]  # oracle keys: [before, after]
    requester: Sender
    token: Any
    escrow: Any

    def rpc(self, method: str, params: list[Any]) -> Any:
        return rpc_batch(self.node.url, [(method, params)])[0]


def rpc_batch(url: str, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    payload = [
        {"jsonrpc": "2.0", "id": n, "method": m, "params": p} for n, (m, p) in enumerate(calls)
    ]
    answers = requests.post(url, json=payload, timeout=600).json()
    by_id = {a["id"]: a for a in answers}
    out = []
    for n in range(len(calls)):
        answer = by_id[n]
        if "error" in answer:
            raise RuntimeError(f"{calls[n][0]}: {answer['error']}")
        out.append(answer["result"])
    return out


def setup_chain(
    tmp: Path, name: str, node: LocalNode | None = None, keys: list[Any] | None = None
) -> Chain:
    """A deployment of the suite named `name`, on `node` (default: a new anvil), with the
    oracle `keys` (default: two new ones) as its committee."""
    if node is None:
        node = start_anvil(accounts=10, log=tmp / "anvil.log", extra=["--order", "fifo"])
    w3 = node.w3
    dev = list(w3.eth.accounts)
    admin = Sender(w3, dev[0])
    if keys is None:
        keys = [Account.create(), Account.create()]
        for k in keys:
            node.set_balance(k.address, 100 * TOKEN)
    # Both oracles must vote for a proposal to be pending: each one's vote is measured.
    dep = deploy_suite(
        w3,
        admin,
        DeployConfig(guardian=dev[1], oracles=tuple(k.address for k in keys), threshold=2),
    )
    deployment_file = tmp / f"deployment-{name}.json"
    deployment_file.write_text(dep.to_json())
    token = contract_at(w3, "RewardToken", dep.reward_token)
    requester = Sender(w3, dev[2])
    admin.call(token.functions.mint(requester.address, 10**9 * TOKEN), what="mint")
    escrow = contract_at(w3, "TaskEscrow", dep.escrow)
    return Chain(node, dep, deployment_file, keys, requester, token, escrow)


def create_task(
    chain: Chain, items: list[str], title: str, reveal_days: int = 2
) -> tuple[int, TaskSpec, int]:
    spec = TaskSpec(
        title=title,
        labels=LABELS,
        items=tuple(items),
        scoring=ScoringSpec("dawid-skene", SCORING_VERSION, None, 1.0),
        gold_commitment=None,
    )
    now = int(chain.node.w3.eth.get_block("latest")["timestamp"])
    budget = 1_000 * TOKEN
    reveal_deadline = now + reveal_days * DAY
    params = (
        spec_hash(spec),
        bytes(32),
        reveal_deadline - DAY,
        reveal_deadline,
        DAY,
        30 * DAY,
        7 * DAY,
    )
    chain.requester.call(
        chain.token.functions.approve(chain.escrow.address, budget), what="approve"
    )
    chain.requester.call(
        chain.escrow.functions.createTask(chain.token.address, budget, params), what="create"
    )
    return int(chain.escrow.functions.taskCount().call()), spec, reveal_deadline


@dataclass
class Reveal:
    annotator: str
    labels: list[RevealedLabel]
    root: bytes


def make_reveals(
    chain: Chain, task_id: int, items: list[str], count: int, seed: int
) -> list[Reveal]:
    """`count` annotators of PER_ANNOTATOR labels each, 80% accurate, spread evenly over the
    items; their roots attested on chain (impersonated, mined in bulk)."""
    rng = random.Random(seed)
    truth = {item: rng.choice(LABELS) for item in items}
    escrow = chain.dep.escrow
    reveals = []
    for n in range(count):
        address = to_checksum_address(bytes(keccak(f"annotator {seed} {n}".encode()))[:20])
        start = (n * PER_ANNOTATOR) % len(items)
        chosen = [items[(start + j) % len(items)] for j in range(PER_ANNOTATOR)]
        labels = sorted(
            (
                RevealedLabel(
                    item,
                    truth[item] if rng.random() < 0.8 else rng.choice(LABELS),
                    rng.randbytes(32),
                )
                for item in chosen
            ),
            key=lambda x: x.item,
        )
        root = reveal_root(chain.dep.chain_id, escrow, task_id, address, labels)
        reveals.append(Reveal(address, labels, root))
    attest_in_bulk(chain, task_id, reveals)
    return reveals


def attest_in_bulk(chain: Chain, task_id: int, reveals: list[Reveal]) -> None:
    url, registry = chain.node.url, chain.dep.registry
    chain.rpc("anvil_autoImpersonateAccount", [True])
    chain.rpc("evm_setAutomine", [False])
    try:
        for start in range(0, len(reveals), 500):
            part = reveals[start : start + 500]
            rpc_batch(url, [("anvil_setBalance", [r.annotator, hex(TOKEN)]) for r in part])
            calls = []
            for r in part:
                data = (
                    ATTEST_SELECTOR
                    + task_id.to_bytes(32, "big")
                    + r.root
                    + len(r.labels).to_bytes(32, "big")
                )
                tx = {"from": r.annotator, "to": registry, "data": "0x" + data.hex()}
                calls.append(("eth_sendTransaction", [tx | {"gas": hex(150_000)}]))
            rpc_batch(url, calls)
        while int(chain.rpc("txpool_status", [])["pending"], 16) > 0:
            chain.rpc("evm_mine", [])
    finally:
        chain.rpc("evm_setAutomine", [True])
        chain.rpc("anvil_autoImpersonateAccount", [False])
    registry_contract = contract_at(chain.node.w3, "AttestationRegistry", registry)
    last = reveals[-1]
    assert registry_contract.functions.isAttested(
        task_id, last.annotator, last.root, len(last.labels)
    ).call(), "bulk attestation failed"


# -- the oracle process


class OracleProcess:
    def __init__(self, code: Path, chain: Chain, key: Any, data_dir: Path, name: str) -> None:
        self.code, self.chain, self.key, self.data_dir, self.name = code, chain, key, data_dir, name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"oracle-{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        environ = {
            **os.environ,
            "PYTHONPATH": str(self.code),
            "LABELPROOF_ORACLE_KEY": "0x" + bytes(self.key.key).hex(),
        }
        cmd = [
            sys.executable,
            "-m",
            "labelproof.oracle",
            "serve",
            "--rpc-url",
            self.chain.node.url,
            "--deployment",
            str(self.chain.deployment_file),
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
            "--poll-interval",
            "0.5",
            "--max-body-bytes",
            str(BODY_LIMIT),
            "--log-level",
            "warning",
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=self.code, env=environ, stdout=out, stderr=out)

    def wait_synced(self, timeout: float = 600) -> float:
        """Poll /health until the first follower sync is stored; returns that moment."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"oracle {self.name} exited; see {self.log}")
            try:
                health = requests.get(self.url + "/health", timeout=5).json()
                if health.get("synced_block") is not None:
                    return time.monotonic()
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"oracle {self.name} did not sync within {timeout} s")

    def peak_rss_mb(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- reveal intake


def _client(
    port: int,
    task_id: int,
    bodies: Path,
    offset: int,
    step: int,
    threads: int,
    start_at: float,
    seconds: float,
) -> list[tuple[float, float, int]]:
    """One client process: `threads` keep-alive connections posting reveals number offset,
    offset + step, ... from `start_at` (time.time(), the same for both clients) for `seconds`;
    (start, latency, status) of every request."""
    lines = bodies.read_bytes().splitlines()[offset::step]
    lock = threading.Lock()
    position = iter(range(len(lines)))
    results: list[tuple[float, float, int]] = []
    time.sleep(max(0.0, start_at - time.time()))
    stop_at = time.time() + seconds
    path = f"/tasks/{task_id}/reveals"
    headers = {"content-type": "application/json"}

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        while time.time() < stop_at:
            with lock:
                n = next(position, None)
            if n is None:
                break
            status = 429
            while status == 429 and time.time() < stop_at:
                started = time.time()
                retry_after = 0.0
                try:
                    conn.request("POST", path, body=lines[n], headers=headers)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                    retry_after = float(response.getheader("retry-after") or 0)
                    if response.getheader("connection", "").lower() == "close":
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                except (OSError, http.client.HTTPException):
                    status = 0
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                mine.append((started, time.time() - started, status))
                if status == 429:  # back-pressure: wait as told, then send the same reveal
                    time.sleep(min(retry_after, max(0.0, stop_at - time.time())))
        with lock:
            results.extend(mine)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return results


def _client_main(args: tuple[Any, ...], out: Path) -> None:
    out.write_text(json.dumps(_client(*args)))


def intake_run(
    oracle: OracleProcess, task_id: int, bodies: Path, first: int, per_client: int, seconds: float
) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    outs = [bodies.with_name(f"{bodies.stem}-{oracle.name}-{first}-{k}.json") for k in range(2)]
    # Each client takes every other body from `first` on: distinct annotators, no overlap
    # with earlier runs (run k of n starts at a fresh slice of the pool).
    start_at = time.time() + 5  # both clients loaded and connected by then
    assert oracle.proc is not None
    pids = {"oracle": oracle.proc.pid, "anvil": oracle.chain.node.process.pid}
    procs = [
        ctx.Process(
            target=_client_main,
            args=(
                (oracle.port, task_id, bodies, first + k, 2, per_client, start_at, seconds),
                outs[k],
            ),
        )
        for k in range(2)
    ]
    for p in procs:
        p.start()
    time.sleep(max(0.0, start_at - time.time()))
    cpu_before = {name: process_cpu_s(pid) for name, pid in pids.items()}
    for p in procs:
        p.join()
    cpu = {name: process_cpu_s(pid) - cpu_before[name] for name, pid in pids.items()}
    results = [r for out in outs for r in json.loads(out.read_text())]
    stored = sorted(lat for _, lat, status in results if status == 201)
    statuses: dict[str, int] = {}
    for _, _, status in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    if not results:
        return {"stored": 0, "statuses": statuses}
    wall = max(s + lat for s, lat, _ in results) - min(s for s, _, _ in results)

    def pct(q: float) -> float:
        return round(stored[min(len(stored) - 1, int(q * len(stored)))] * 1000, 1)

    every = sorted(lat for _, lat, _ in results)
    return {
        "connections": 2 * per_client,
        "requests": len(results),
        "stored": len(stored),
        "statuses": statuses,
        "wall_s": round(wall, 3),
        "stored_per_s": round(len(stored) / wall, 1),
        "p50_ms": pct(0.50) if stored else None,
        "p99_ms": pct(0.99) if stored else None,
        "p99_ms_all_responses": round(every[min(len(every) - 1, int(0.99 * len(every)))] * 1000, 1),
        # CPU time (user + system) of the oracle process and of anvil per request answered.
        "cpu_ms_per_request": {k: round(1000 * v / len(results), 2) for k, v in cpu.items()},
    }


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reveal_body(r: Reveal) -> bytes:
    return json.dumps(
        {
            "annotator": r.annotator,
            "labels": [
                {"item": x.item, "label": x.label, "salt": "0x" + x.salt.hex()} for x in r.labels
            ],
        }
    ).encode()


# -- scoring


def seed_database(
    chain: Chain, data_dir: Path, task_id: int, spec: TaskSpec, reveals: list[Reveal]
) -> None:
    """The oracle's database as the intake would have left it: the spec and every reveal."""
    store = Store("sqlite:///" + str((data_dir / "oracle.sqlite3").resolve()))
    identity = read_identity(chain.node.w3, chain.dep.block)
    store.bind(identity.chain_id, chain.dep.escrow, identity.genesis_hash, identity.anchor)
    chain_id, escrow = chain.dep.chain_id, chain.dep.escrow
    with store.write() as tx:
        tx.add_spec(task_id, spec.to_json(), "0x" + spec_hash(spec).hex())
        for r in reveals:
            doc = reveal_document_bytes(chain_id, escrow, task_id, r.annotator, 1, r.root, r.labels)
            tx.put_reveal(
                RevealRow(
                    task_id=task_id,
                    annotator=r.annotator,
                    version=1,
                    root="0x" + r.root.hex(),
                    item_count=len(r.labels),
                    reveal_json=doc.decode(),
                    receipt=receipt_of(doc),
                    stored_at=time.time(),
                )
            )
    store.close()


def wait_vote(chain: Chain, oracle: OracleProcess, task_id: int, timeout: float) -> float:
    committee = contract_at(chain.node.w3, "OracleCommittee", chain.dep.committee)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if committee.functions.hasVoted(task_id, oracle.key.address).call():
            return time.monotonic()
        assert oracle.proc is not None
        if oracle.proc.poll() is not None:
            raise RuntimeError(f"oracle {oracle.name} exited; see {oracle.log}")
        time.sleep(0.1)
    raise RuntimeError(f"oracle {oracle.name} did not vote within {timeout} s; see {oracle.log}")


# -- the run


def export_ref(ref: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "build").symlink_to(REPO / "build")  # the same compiled contracts
    _fit_to_current_abi(into)
    if "httptools" not in (into / "constraints.txt").read_text():
        # The other ref's dependencies: without httptools and uvloop, uvicorn uses h11 and
        # asyncio's loop. Hide them from its interpreter (started with PYTHONPATH=into).
        (into / "sitecustomize.py").write_text(
            "import sys\nsys.modules['httptools'] = None\nsys.modules['uvloop'] = None\n"
        )
    return into


def _fit_to_current_abi(code: Path) -> None:
    """Both runs use this checkout's contracts, so older code must decode today's ABI. Since
    issue #8's gas work, ``OracleCommittee.pending()`` no longer returns ``inputsHash`` (the
    round's ProposalPending event carries it); an older checkout's settlement.py expects it.
    Drop the field from its struct layout: the old oracle never needs the value to vote."""
    settlement = code / "labelproof" / "settlement.py"
    text = settlement.read_text()
    start = text.find("PROPOSAL_FIELDS = (")
    if start < 0:
        return
    end = text.index(")", start)
    fields = text[start:end]
    if '"inputsHash"' not in fields:
        return  # already today's layout
    text = text[:start] + fields.replace('    "inputsHash",\n', "", 1) + text[end:]
    text = text.replace(
        'inputs_hash=_hex32(d["inputsHash"]),',
        'inputs_hash=_hex32(d.get("inputsHash", bytes(32))),',
    )
    settlement.write_text(text)


def measure(
    name: str,
    code: Path,
    key: Any,
    chains: tuple[Chain, Chain],
    tmp: Path,
    intake: tuple[int, Path, int],
    scoring: tuple[int, TaskSpec, list[Reveal]],
    seconds: float,
) -> dict[str, Any]:
    """`chains`: the intake task's deployment and the scoring task's."""
    out: dict[str, Any] = {"code": str(code)}
    timings: dict[str, float] = {}
    intake_chain, chain = chains
    task_id, bodies, pool = intake
    data = tmp / f"data-{name}"
    oracle = OracleProcess(code, intake_chain, key, data, name)
    started = time.monotonic()
    oracle.start()
    try:
        oracle.wait_synced()
        timings["intake_oracle_start_and_sync"] = time.monotonic() - started
        spec_body = bodies.with_name("intake-spec.json").read_bytes()
        r = requests.post(
            f"{oracle.url}/tasks/{task_id}/spec",
            data=spec_body,
            headers={"content-type": "application/json"},
            timeout=60,
        )
        assert r.status_code in (200, 201), r.text
        half = pool // 2
        out["two_clients"] = intake_run(oracle, task_id, bodies, 0, 1, seconds)
        out["c32"] = intake_run(oracle, task_id, bodies, half, 16, seconds)
        print(f"  {name} intake: {json.dumps(out)}", flush=True)
    finally:
        oracle.stop()
    timings["intake"] = time.monotonic() - started
    s_task, s_spec, s_reveals = scoring
    data = tmp / f"scoring-{name}"
    started = time.monotonic()
    seed_database(chain, data, s_task, s_spec, s_reveals)
    timings["seed_database"] = time.monotonic() - started
    oracle = OracleProcess(code, chain, key, data, f"{name}-scoring")
    started = time.monotonic()
    oracle.start()
    try:
        synced = oracle.wait_synced()
        timings["scoring_oracle_start_and_sync"] = synced - started
        voted = wait_vote(chain, oracle, s_task, timeout=900)
        out["deadline_to_proposal_s"] = round(voted - synced, 2)
        out["scoring_peak_mb"] = round(oracle.peak_rss_mb(), 1)
        print(
            f"  {name} scoring: {out['deadline_to_proposal_s']} s, {out['scoring_peak_mb']} MB",
            flush=True,
        )
    finally:
        oracle.stop()
    timings["scoring"] = time.monotonic() - started
    out["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    print(f"  {name} timings: {json.dumps(out['timings_s'])}", flush=True)
    out["reveals_per_s"] = max(out["two_clients"]["stored_per_s"], out["c32"]["stored_per_s"])
    out["reveal_p99_ms_c32"] = out["c32"]["p99_ms"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before-ref", default="main")
    parser.add_argument("--skip-before", action="store_true")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--seconds", type=float, default=3.0, help="per intake run")
    parser.add_argument("--annotators", type=int, default=15_000, help="scoring task")
    parser.add_argument("--intake-pool", type=int, default=8_000)
    args = parser.parse_args()
    if args.quick:
        args.annotators, args.intake_pool, args.seconds = 300, 600, 1.0
    tmp = Path(tempfile.mkdtemp(prefix="bench-services-"))
    started = time.monotonic()
    # Two deployments on one anvil, one per task: an oracle follows only its own contracts'
    # events, so at start the intake oracle does not read the scoring task's attestations
    # nor the scoring oracle the intake pool's (the reference code decodes each with web3, ~2
    # ms: most of a minute per start). What is measured is the same.
    intake_chain = setup_chain(tmp, "intake")
    chain = setup_chain(tmp, "scoring", intake_chain.node, intake_chain.keys)
    try:
        # Intake task: 1,000 items, a pool of annotators (the two runs take separate halves).
        items = [f"photo-{i:05d}" for i in range(1_000)]
        # Its reveal window stays open after the scoring task's deadline has passed.
        intake_task, intake_spec, _ = create_task(intake_chain, items, "intake", reveal_days=20)
        pool = make_reveals(intake_chain, intake_task, items, args.intake_pool, seed=1)
        bodies = tmp / "intake-bodies.jsonl"
        bodies.write_bytes(b"\n".join(reveal_body(r) for r in pool))
        bodies.with_name("intake-spec.json").write_bytes(intake_spec.canonical_bytes())
        # Scoring task: 10 labels an item.
        n_items = args.annotators * PER_ANNOTATOR // 10
        s_items = [f"img-{i:06d}" for i in range(n_items)]
        s_task, s_spec, _ = create_task(chain, s_items, "scoring")
        s_reveals = make_reveals(chain, s_task, s_items, args.annotators, seed=2)
        chain.node.time_travel(2 * DAY + 1)  # past the scoring task's reveal deadline
        setup_s = time.monotonic() - started
        print(f"setup: {setup_s:.0f} s", flush=True)
        runs: dict[str, Any] = {}
        codes = [("after", REPO, chain.keys[1])]
        if not args.skip_before:
            before = export_ref(args.before_ref, tmp / "before-code")
            codes.insert(0, ("before", before, chain.keys[0]))
        for name, code, key in codes:
            runs[name] = measure(
                name,
                code,
                key,
                (intake_chain, chain),
                tmp,
                (intake_task, bodies, len(pool)),
                (s_task, s_spec, s_reveals),
                args.seconds,
            )
    finally:
        chain.node.stop()
    keys = ("reveals_per_s", "reveal_p99_ms_c32", "deadline_to_proposal_s", "scoring_peak_mb")
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    after = runs["after"]
    results.update({k: after[k] for k in keys})
    if "before" in runs:
        results["oracle_before"] = {k: runs["before"][k] for k in keys} | {"ref": args.before_ref}
    results["oracle_details"] = {
        "labels_per_reveal": PER_ANNOTATOR,
        "scoring_labels": args.annotators * PER_ANNOTATOR,
        "scoring_annotators": args.annotators,
        "intake_seconds_per_run": args.seconds,
        "setup_s": round(setup_s, 1),
        "total_s": round(time.monotonic() - started, 1),
        "quick": args.quick,
        "runs": runs,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared), "
        f"Python {platform.python_version()}",
        "note": "deadline_to_proposal_s: from the oracle's first completed sync (the "
        "deadline already past) to its proposal mined; scoring_peak_mb: the oracle "
        "process's peak RSS",
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: results[k] for k in keys}, indent=2))
    if "before" in runs:
        print("before:", json.dumps(results["oracle_before"]))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
