"""Offline Solidity compiler setup for py-solc-x and brownie.

py-solc-x (and brownie through it) runs whatever executable sits at
``$SOLCX_BINARY_PATH/solc-v<version>`` (default ``~/.solcx``). Where no native solc can be
downloaded we put a small shell script there that answers ``--version`` like native solc and
hands everything else to ``solc_shim.cjs``, a Node CLI over the npm ``solc`` WebAssembly build.
A native solc of the right version, on PATH or already installed there, always wins.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

SOLC_VERSION = "0.8.30"
SHIM_MARKER = "# labelproof solc shim"
_PACKAGE_DIR = Path(__file__).resolve().parent
SHIM_JS = _PACKAGE_DIR / "solc_shim.cjs"


class ToolchainError(RuntimeError):
    """The compiler could not be set up; the message says what to install."""


def solcx_folder() -> Path:
    """Where py-solc-x looks for installed compilers (same rule as solcx itself)."""
    configured = os.environ.get("SOLCX_BINARY_PATH")
    return Path(configured) if configured else Path.home() / ".solcx"


def native_version(binary: Path | str) -> str | None:
    """The full version a solc binary reports (``0.8.30+commit.73712a01``), or None."""
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"Version: (\d+\.\d+\.\d+\+commit\.[0-9a-f]+)", out)
    return match.group(1) if match else None


def _is_shim(path: Path) -> bool:
    try:
        return SHIM_MARKER in path.read_text(errors="ignore")[:512]
    except (OSError, UnicodeDecodeError):
        return False


def _shim_script(node: str, solc_module: Path, full_version: str) -> str:
    # The version answer is baked in: py-solc-x asks for it before every compilation, and
    # loading the WebAssembly compiler just to print it would cost a second each time.
    return f"""#!/bin/sh
{SHIM_MARKER} for solc {SOLC_VERSION} (npm solc, WebAssembly); regenerate with
# `python -m labelproof.toolchain` from a labelproof checkout.
if [ "$#" -eq 1 ] && [ "$1" = "--version" ]; then
  printf 'solc, the solidity compiler commandline interface\\nVersion: {full_version}\\n'
  exit 0
fi
LABELPROOF_SOLC_MODULE='{solc_module}' exec '{node}' '{SHIM_JS}' "$@"
"""


def install_solc(project_root: Path, *, quiet: bool = False) -> Path:
    """Make solc ``SOLC_VERSION`` available to py-solc-x and return its path.

    Idempotent: a native compiler already installed is left alone, and the shim is only
    rewritten when it would point somewhere else.
    """
    folder = solcx_folder()
    target = folder / f"solc-v{SOLC_VERSION}"
    say = (lambda _msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr))

    if target.exists() and not _is_shim(target):
        if (native_version(target) or "").startswith(SOLC_VERSION):
            say(f"solc {SOLC_VERSION}: native compiler at {target}")
            return target
        raise ToolchainError(f"{target} exists but does not report solc {SOLC_VERSION}")

    on_path = shutil.which("solc")
    native = Path(on_path) if on_path else None
    if (
        native
        and not _is_shim(native)
        and (native_version(native) or "").startswith(SOLC_VERSION + "+")
    ):
        folder.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            target.unlink()
        target.symlink_to(native.resolve())
        say(f"solc {SOLC_VERSION}: linked native {on_path} into {folder}")
        return target

    solc_module = project_root / "node_modules" / "solc"
    if not (solc_module / "soljson.js").exists():
        raise ToolchainError(
            f"npm package solc is missing under {project_root / 'node_modules'}: run `npm ci`"
        )
    node = shutil.which("node")
    if node is None:
        raise ToolchainError("node is not on PATH: install Node.js 20 or newer")

    probe = subprocess.run(
        [node, str(SHIM_JS), "--version"],
        capture_output=True,
        text=True,
        env={**os.environ, "LABELPROOF_SOLC_MODULE": str(solc_module)},
        check=False,
    )
    match = re.search(r"Version: (\S+)", probe.stdout)
    if probe.returncode != 0 or not match or not match.group(1).startswith(SOLC_VERSION + "+"):
        raise ToolchainError(f"npm solc does not report {SOLC_VERSION}: {probe.stderr.strip()}")

    script = _shim_script(node, solc_module, match.group(1))
    if target.exists() and target.read_text() == script:
        say(f"solc {SOLC_VERSION}: shim already in place at {target}")
        return target
    folder.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(script)
    tmp.chmod(0o755)
    tmp.replace(target)
    say(f"solc {SOLC_VERSION}: installed npm solc shim at {target}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-root", type=Path, default=Path.cwd())
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        install_solc(args.project_root.resolve(), quiet=args.quiet)
    except ToolchainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
