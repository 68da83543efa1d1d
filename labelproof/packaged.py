"""The compiled contracts an installed package needs, shipped inside it.

A source checkout reads brownie's ``build/contracts``; an installed package (``pip install
.`` elsewhere) has no build directory, so the ABIs and creation bytecode of the contracts the
client, the services and ``labelproof deploy`` use are package data under
``labelproof/artifacts/``. ``make setup`` refreshes them after every compile
(``python -m labelproof.packaged``), and a test fails when they differ from the build.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PACKAGED_DIR = Path(__file__).resolve().parent / "artifacts"
PACKAGED = (
    "AttestationRegistry",
    "ERC20Permit",
    "IERC20Metadata",
    "LabelproofTimelock",
    "LocalArbitrator",
    "OracleCommittee",
    "RewardToken",
    "TaskEscrow",
)


def slim(build_file: Path) -> str:
    """What an installed package keeps of a brownie build file: name, ABI, bytecode."""
    data = json.loads(build_file.read_text())
    kept = {"contractName": data["contractName"], "abi": data["abi"], "bytecode": data["bytecode"]}
    return json.dumps(kept, indent=1, sort_keys=True) + "\n"


def export(build_dir: Path, target: Path = PACKAGED_DIR) -> list[Path]:
    """Write the packaged artifacts from `build_dir`; only files whose content changed are
    rewritten (a recompile that changes nothing leaves the tree clean)."""
    target.mkdir(parents=True, exist_ok=True)
    changed: list[Path] = []
    for name in PACKAGED:
        text = slim(build_dir / f"{name}.json")
        path = target / f"{name}.json"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    return changed


def main() -> int:
    from labelproof.chain import BUILD_DIR

    if not BUILD_DIR.exists():
        print(f"error: no build at {BUILD_DIR}: run `brownie compile` first", file=sys.stderr)
        return 1
    for path in export(BUILD_DIR):
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
