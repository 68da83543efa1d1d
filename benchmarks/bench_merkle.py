"""Benchmark labelproof.merkle against @openzeppelin/merkle-tree on 100,000 payout leaves.

Both sides get the very same input (seeded checksummed addresses, amounts as decimal strings,
which is what a JSON payout file holds) and do the same work: build the tree and produce the
proof of every value.  The JS run happens in the same invocation, in a node subprocess, and only
its in-process build+proofs time is compared (node start-up and file I/O are reported apart).
The outputs are then compared in full -- root, every proof and the complete standard-v1 dump --
so the speed-up is only reported for byte-identical results.

Run from anywhere:  python benchmarks/bench_merkle.py [--leaves N] [--seed S]
Writes benchmarks/results/merkle.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from labelproof.merkle import StandardMerkleTree, to_checksum_address  # noqa: E402

ENCODING = ["address", "uint256"]
RESULTS = REPO_ROOT / "benchmarks" / "results" / "merkle.json"

# Runs with cwd=REPO_ROOT so the bare import resolves to the pinned node_modules.  Proofs are
# written one per line after the clock stops, so output cost does not count against JS.
JS_BENCH = r"""
import { readFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
const [inputPath, proofsPath, dumpPath] = process.argv.slice(1);
const input = JSON.parse(readFileSync(inputPath, 'utf8'));
const t0 = performance.now();
const tree = StandardMerkleTree.of(input.values, input.leafEncoding);
const proofs = [];
for (let i = 0; i < input.values.length; i++) proofs.push(tree.getProof(i));
const seconds = (performance.now() - t0) / 1000;
const fd = openSync(proofsPath, 'w');
let chunk = '';
for (const proof of proofs) {
  chunk += proof.join(',') + '\n';
  if (chunk.length > 1 << 20) { writeSync(fd, chunk); chunk = ''; }
}
writeSync(fd, chunk);
closeSync(fd);
writeSync(openSync(dumpPath, 'w'), JSON.stringify(tree.dump()));
process.stdout.write(JSON.stringify({ seconds, root: tree.root, node: process.version }));
"""


def make_values(leaves: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    values = []
    for _ in range(leaves):
        address = to_checksum_address("0x" + rng.randbytes(20).hex())
        amount = rng.choice([rng.randrange(10**6), rng.randrange(10**24), rng.randrange(2**256)])
        values.append([address, str(amount)])
    return values


def run_js(values: list[list[str]], workdir: Path) -> tuple[dict[str, Any], Path, Path, float]:
    input_path = workdir / "input.json"
    proofs_path = workdir / "js_proofs.txt"
    dump_path = workdir / "js_dump.json"
    input_path.write_text(json.dumps({"leafEncoding": ENCODING, "values": values}))
    started = time.perf_counter()
    done = subprocess.run(
        [
            "node",
            "--input-type=module",
            "-e",
            JS_BENCH,
            str(input_path),
            str(proofs_path),
            str(dump_path),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"node benchmark failed:\n{done.stderr}")
    return json.loads(done.stdout), proofs_path, dump_path, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()

    values = make_values(args.leaves, args.seed)

    started = time.perf_counter()
    tree = StandardMerkleTree.of(values, ENCODING)
    proofs = tree.proofs()
    python_seconds = time.perf_counter() - started

    # The per-call API too, since callers serving one claim at a time use get_proof.
    started = time.perf_counter()
    single = [tree.get_proof(i) for i in range(len(values))]
    get_proof_loop_seconds = time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="bench_merkle_") as tmp:
        js, proofs_path, dump_path, js_wall = run_js(values, Path(tmp))
        same_root = js["root"] == tree.root
        with proofs_path.open() as lines:
            js_proofs = [line.rstrip("\n") for line in lines]
        same_proofs = len(js_proofs) == len(proofs) and all(
            js_line == ",".join(ours) for js_line, ours in zip(js_proofs, proofs, strict=True)
        )
        same_proofs = same_proofs and single == proofs
        ours_dump = json.dumps(tree.dump(), separators=(",", ":"), ensure_ascii=False)
        same_dump = dump_path.read_text() == ours_dump

    identical = same_root and same_proofs and same_dump
    result = {
        "leaves": args.leaves,
        "python_seconds": round(python_seconds, 3),
        "js_seconds": round(js["seconds"], 3),
        "speedup": round(js["seconds"] / python_seconds, 1),
        "identical": identical,
        "details": {
            "seed": args.seed,
            "root": tree.root,
            "same_root": same_root,
            "same_proofs": same_proofs,
            "same_dump_json": same_dump,
            "python_work": "StandardMerkleTree.of + proofs()",
            "python_get_proof_loop_seconds": round(get_proof_loop_seconds, 3),
            "js_work": "StandardMerkleTree.of + getProof(i) for every i (in-process timer)",
            "js_subprocess_wall_seconds": round(js_wall, 3),
            "python": platform.python_version(),
            "node": js["node"],
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
