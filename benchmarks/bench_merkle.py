"""Benchmark `labelproof merkle build` against @openzeppelin/merkle-tree, whole process each.

Both sides get the very same payout CSV (100,000 seeded checksummed addresses, amounts up to
2**256) and do the same whole-process work: start, read the CSV, build the StandardMerkleTree,
write the standard-v1 dump as ``JSON.stringify(dump, null, 2) + "\\n"`` (the bytes `merkle build`
has always written). Ours is the installed ``labelproof`` command (the console script a user
runs); JS is a node script on the pinned library. Each is timed as a subprocess, wall clock,
best of ``--runs``; the CPU time (user + sys) of the best run is reported too, because this
machine's 2 cores are shared and wall time carries other processes' load (the 1-minute load
average is recorded before and after). The speed-up is reported only if the root and the dump
bytes are identical.

Run from anywhere:  python benchmarks/bench_merkle.py [--leaves N] [--seed S] [--runs R]
Writes benchmarks/results/merkle.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from labelproof.merkle import to_checksum_address  # noqa: E402

RESULTS = REPO_ROOT / "benchmarks" / "results" / "merkle.json"

# Runs with cwd=REPO_ROOT so the bare import resolves to the pinned node_modules. A plain CSV
# (header account,amount, one row a line) is what both sides read.
JS_BUILD = r"""
import { readFileSync, writeFileSync } from 'node:fs';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
const [inputPath, outPath] = process.argv.slice(1);
const lines = readFileSync(inputPath, 'utf8').split('\n');
const values = [];
for (let i = 1; i < lines.length; i++) {
  const line = lines[i].trim();
  if (line) values.push(line.split(','));
}
const tree = StandardMerkleTree.of(values, ['address', 'uint256']);
writeFileSync(outPath, JSON.stringify(tree.dump(), null, 2) + '\n');
process.stdout.write(tree.root);
"""


def make_csv(path: Path, leaves: int, seed: int) -> None:
    rng = random.Random(seed)
    rows = []
    for _ in range(leaves):
        address = to_checksum_address("0x" + rng.randbytes(20).hex())
        amount = rng.choice([rng.randrange(10**6), rng.randrange(10**24), rng.randrange(2**256)])
        rows.append(f"{address},{amount}\n")
    path.write_text("account,amount\n" + "".join(rows))


def timed(
    cmd: list[str], env: dict[str, str] | None = None, cwd: Path = REPO_ROOT
) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + sys of the child) and stdout of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def best(
    cmd: list[str], runs: int, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT
) -> dict[str, Any]:
    results = [timed(cmd, env, cwd) for _ in range(runs)]
    wall, cpu, stdout = min(results)
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "wall_s_runs": [round(r[0], 3) for r in results],
        "stdout": stdout,
    }


def labelproof_command() -> list[str]:
    script = Path(sys.executable).with_name("labelproof")
    if script.exists():
        return [str(script)]
    found = shutil.which("labelproof")
    return [found] if found else [sys.executable, "-m", "labelproof.cli"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--runs", type=int, default=3, help="best of this many, each side")
    parser.add_argument(
        "--before",
        type=Path,
        help="a checkout of an older labelproof: also time its `merkle build` (same CSV)",
    )
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_merkle_") as tmp:
        work = Path(tmp)
        payouts = work / "payouts.csv"
        make_csv(payouts, args.leaves, args.seed)
        ours_out, js_out = work / "ours.json", work / "js.json"
        build = ["merkle", "build", str(payouts), "--out", str(ours_out)]
        ours = best([*labelproof_command(), *build], args.runs)
        before = None
        if args.before is not None:
            # Run from the checkout: `python -m` puts the working directory first on sys.path.
            checkout = args.before.resolve()
            env = {**os.environ, "PYTHONPATH": str(checkout)}
            before = best(
                [sys.executable, "-m", "labelproof.cli", *build], args.runs, env, checkout
            )
            before.pop("stdout")
            before["checkout"] = str(args.before)
            ours = best([*labelproof_command(), *build], args.runs)  # rewrite our dump
        js = best(
            ["node", "--input-type=module", "-e", JS_BUILD, str(payouts), str(js_out)], args.runs
        )
        root = ours["stdout"].split()[1]
        same_root = js["stdout"].strip() == root
        same_dump = ours_out.read_bytes() == js_out.read_bytes()
        dump_bytes = ours_out.stat().st_size
    load_after = os.getloadavg()[0]
    identical = same_root and same_dump
    node_version = subprocess.run(
        ["node", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    result = {
        "leaves": args.leaves,
        "python_seconds": ours["wall_s"],
        "js_seconds": js["wall_s"],
        "speedup": round(js["wall_s"] / ours["wall_s"], 1) if identical else None,
        "speedup_cpu": round(js["cpu_s"] / ours["cpu_s"], 1) if identical else None,
        "goal_speedup": 20,
        "identical": identical,
        "details": {
            "seed": args.seed,
            "root": root,
            "same_root": same_root,
            "same_dump_bytes": same_dump,
            "dump_bytes": dump_bytes,
            "work": "whole process: start, read the payout CSV, build, write the dump "
            "(JSON.stringify(dump, null, 2) + newline)",
            "python": {k: v for k, v in ours.items() if k != "stdout"},
            "js": {k: v for k, v in js.items() if k != "stdout"},
            "runs": args.runs,
            "before": before,
            "load_average_1m": {"before": load_before, "after": load_after},
            "cores": os.cpu_count(),
            "python_version": platform.python_version(),
            "node": node_version,
            "machine": f"{platform.machine()}, {platform.system()}",
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if not identical:
        raise SystemExit("Python and JS outputs differ")


if __name__ == "__main__":
    main()
