"""Relayer intake: signed attestations accepted per second by the real relayer process.

A local anvil with a v2 deployment and one open task; the relayer runs as `python -m
labelproof.relayer serve` (durable SQLite state, synchronous=FULL, every policy check on: the
task's window, the annotator's on-chain version, the latest block, rate limits with ceilings
set above the load, the gas budget). Attestations are signed before the clock starts, each by
a fresh annotator, and sent by CLIENTS client threads over keep-alive connections; the batcher
runs meanwhile (batches of 100). Counted: 202 answers per second of wall time, with the p50 and
p99 latency of one request. Every answer must be a 202; the run fails otherwise.

Before (issue #10): 44 attestations/s with p99 512 ms, from the in-memory relayer (pure-Python
signature recovery, three RPC reads per request) on the same kind of machine.

Run:  python benchmarks/bench_relayer.py [--count N] [--clients C]
Writes the key ``relayer_intake_per_s`` (and ``relayer_intake_*`` details) into
benchmarks/results/services.json by read-modify-write (other benchmarks write other keys).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ["PATH"] = f"{REPO_ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}"

from eth_account import Account  # noqa: E402

from labelproof.node import free_port  # noqa: E402
from labelproof.relayer.__main__ import KEY_ENV  # noqa: E402
from labelproof.testing.chain_env import TOKEN, make_env, open_task, signed_body  # noqa: E402

RESULTS = REPO_ROOT / "benchmarks" / "results" / "services.json"
BEFORE_PER_S = 44.0  # issue #10's measurement of the in-memory relayer
BEFORE_P99_MS = 512.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _start_relayer(
    env: Any, tmp: Path, count: int, max_wait: float
) -> tuple[subprocess.Popen[bytes], int]:
    key = Account.create()
    env.node.set_balance(key.address, 1_000 * TOKEN)
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "labelproof.relayer",
        "serve",
        "--rpc-url",
        env.rpc,
        "--deployments",
        str(env.deployments),
        "--db-url",
        f"sqlite:///{tmp / 'relayer.db'}",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--batch-size",
        "100",
        "--max-wait",
        str(max_wait),
        "--rate-per-task",
        str(100 * count),
        "--task-gas-budget",
        str(100_000 * count),
    ]
    environ = {**os.environ, "PYTHONPATH": str(REPO_ROOT), KEY_ENV: key.key.hex()}
    log = (tmp / "relayer.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=environ, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"relayer exited:\n{(tmp / 'relayer.log').read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("relayer did not start")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _send(port: int, bodies: list[bytes], latencies: list[float], statuses: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    for body in bodies:
        started = time.perf_counter()
        conn.request("POST", "/attestations", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        statuses.append(response.status)


def run(count: int, clients: int, max_wait: float = 1.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-relayer-") as tmp_name:
        tmp = Path(tmp_name)
        env = make_env(tmp)
        proc = None
        try:
            task = open_task(env)
            bodies = [json.dumps(signed_body(env, task)).encode() for _ in range(count)]
            proc, port = _start_relayer(env, tmp, count, max_wait)
            warm = [json.dumps(signed_body(env, task)).encode() for _ in range(20)]
            _send(port, warm, [], [])
            latencies: list[float] = []
            statuses: list[int] = []
            shares = [bodies[i::clients] for i in range(clients)]
            threads = [
                threading.Thread(target=_send, args=(port, share, latencies, statuses))
                for share in shares
            ]
            cpu_before = _cpu_seconds(proc.pid)
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            seconds = time.perf_counter() - started
            cpu = _cpu_seconds(proc.pid) - cpu_before
            refused = [s for s in statuses if s != 202]
            if refused:
                raise SystemExit(f"{len(refused)} requests not accepted: {sorted(set(refused))}")
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=60)
            env.node.stop()
    per_s = count / seconds
    cpu_ms = 1000 * cpu / count
    return {
        "relayer_intake_per_s": round(per_s, 1),
        "relayer_intake_p50_ms": round(1000 * _percentile(latencies, 0.50), 2),
        "relayer_intake_p99_ms": round(1000 * _percentile(latencies, 0.99), 2),
        "relayer_intake_clients": clients,
        # CPU the relayer process spent per accepted attestation (batcher included): the
        # figure the machine's load does not change; 1000 / it is the one-core ceiling.
        "relayer_intake_cpu_ms": round(cpu_ms, 2),
        "relayer_intake_cpu_ceiling_per_s": round(1000 / cpu_ms, 1) if cpu_ms else None,
        "relayer_intake_requests": count,
        "relayer_intake_before_per_s": BEFORE_PER_S,
        "relayer_intake_before_p99_ms": BEFORE_P99_MS,
        "relayer_intake_speedup": round(per_s / BEFORE_PER_S, 1),
        "relayer_intake_machine": f"{platform.machine()}, {os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.1f} at the start",
    }


def write(results: dict[str, Any]) -> None:
    """Read-modify-write: keep the keys other benchmarks put in services.json."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {}
    if RESULTS.exists():
        try:
            data = json.loads(RESULTS.read_text())
        except ValueError:
            data = {}
    data.update(results)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(RESULTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections")
    parser.add_argument(
        "--max-wait",
        type=float,
        default=1.0,
        help="the relayer's --max-wait (a large value keeps the batcher idle during the run)",
    )
    args = parser.parse_args()
    results = run(args.count, args.clients, args.max_wait)
    write(results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
