"""The web app's commitments (labelproof/app/src/commitments.mjs, run in node) equal Python's:
the salt message, seed and salts (labelproof.salts), the annotation leaves and root
(labelproof.commitments), and the EIP-712 attestation digest. The same functions run in
chromium from the built bundle in tests/browser/test_app.py."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_utils import keccak

from labelproof.commitments import annotation_leaf, annotation_root, attestation_typed_data
from labelproof.salts import derive_salt, salt_message, seed_from_signature

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "python" / "js" / "app_parity.mjs"
ALPHABET = "abcXYZ09 _-./:é✓猫\u200d🐈"


def _text(rng: random.Random, lo: int, hi: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(lo, hi)))


def _cases(n: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    cases = []
    for k in range(n):
        account = Account.from_key(keccak(text=f"parity {seed} {k}"))
        chain_id = rng.choice([1, 31337, 2**64 + 5])
        registry = Account.create().address.lower()  # any case: both sides checksum it
        escrow = Account.create().address
        task_id = rng.choice([0, 1, rng.randint(2, 2**200)])
        items = {_text(rng, 0, 12) for _ in range(rng.randint(1, 9))}
        labels = {item: _text(rng, 0, 6) for item in items}
        message = salt_message(chain_id, registry, escrow, task_id, account.address)
        signature = bytes(account.sign_message(encode_defunct(text=message)).signature)
        cases.append(
            {
                "chainId": str(chain_id),  # as strings: JSON numbers lose digits in JS
                "registry": registry,
                "escrow": escrow,
                "taskId": str(task_id),
                "annotator": account.address,
                "labels": labels,
                "signature": "0x" + signature.hex(),
                "version": rng.randint(1, 2**32 - 1),
            }
        )
    return cases


def _python(c: dict[str, object]) -> dict[str, object]:
    chain_id, registry, escrow = int(c["chainId"]), str(c["registry"]), str(c["escrow"])  # type: ignore[call-overload]
    task_id, who = int(c["taskId"]), str(c["annotator"])  # type: ignore[call-overload]
    labels: dict[str, str] = c["labels"]  # type: ignore[assignment]
    seed = seed_from_signature(bytes.fromhex(str(c["signature"])[2:]))
    salts = {i: derive_salt(seed, i) for i in labels}
    leaves = [
        annotation_leaf(chain_id, escrow, task_id, i, who, lbl, salts[i])
        for i, lbl in labels.items()
    ]
    root = annotation_root(leaves)
    typed = encode_typed_data(
        full_message=attestation_typed_data(
            chain_id, registry, task_id, who, root, len(leaves), int(c["version"])
        )  # type: ignore[call-overload]
    )
    return {
        "message": salt_message(chain_id, registry, escrow, task_id, who),
        "seed": "0x" + seed.hex(),
        "salts": {i: "0x" + s.hex() for i, s in salts.items()},
        # sorted: JS objects list integer-like keys ("9") first; the root sorts leaves anyway
        "leaves": sorted("0x" + leaf.hex() for leaf in leaves),
        "root": "0x" + root.hex(),
        "digest": "0x" + keccak(b"\x19\x01" + typed.header + typed.body).hex(),
    }


def test_node_computes_what_python_computes() -> None:
    if shutil.which("node") is None:
        pytest.fail("node is not installed")
    cases = _cases(60, seed=2026)
    done = subprocess.run(
        ["node", str(SCRIPT)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert len(got) == len(cases)
    for case, js in zip(cases, got, strict=True):
        js["leaves"] = sorted(js["leaves"])
        assert js == _python(case), case


def test_salts_differ_per_task_and_item() -> None:
    account = Account.create()
    a = seed_from_signature(
        bytes(
            account.sign_message(
                encode_defunct(
                    text=salt_message(1, account.address, account.address, 1, account.address)
                )
            ).signature
        )
    )
    b = seed_from_signature(
        bytes(
            account.sign_message(
                encode_defunct(
                    text=salt_message(1, account.address, account.address, 2, account.address)
                )
            ).signature
        )
    )
    assert a != b
    assert derive_salt(a, "x") != derive_salt(a, "y")
    with pytest.raises(ValueError, match="65 bytes"):
        seed_from_signature(b"\x00" * 64)
