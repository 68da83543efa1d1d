"""A local anvil node for demos, benchmarks and `labelproof node`.

anvil comes from the npm package @foundry-rs/anvil (node_modules/.bin); a system anvil on PATH
works too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from web3 import Web3

from labelproof.chain import PROJECT_ROOT, ChainError

# anvil's default mnemonic derives these well-known dev keys; fine for a local chain only.
DEV_MNEMONIC = "test test test test test test test test test test test junk"


def anvil_binary() -> str:
    """anvil's native binary from the npm package for this platform (started directly, so that
    stopping the process stops the chain: the package's Node launcher does not pass SIGTERM
    on), else the launcher, else an anvil on PATH."""
    import platform

    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    system = "win32" if sys.platform == "win32" else sys.platform.rstrip("0123456789")
    native = (
        PROJECT_ROOT / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil"
    )
    if native.exists() and os.access(native, os.X_OK):
        return str(native)
    local = PROJECT_ROOT / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    found = shutil.which("anvil")
    if found is None:
        raise ChainError("anvil not found: run `npm ci` (package @foundry-rs/anvil)")
    return found


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _die_with_parent() -> None:
    """In the child before exec: on Linux, anvil gets SIGTERM when its parent dies, so a
    killed `labelproof node` (or demo, or test) never leaves a chain running."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalNode:
    url: str
    process: subprocess.Popen[bytes]
    w3: Web3

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def time_travel(self, seconds: int) -> None:
        """Move the chain's clock forward and mine a block (local chains only)."""
        self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def set_balance(self, address: str, wei: int) -> None:
        self.w3.provider.make_request("anvil_setBalance", [address, hex(wei)])  # type: ignore[arg-type]


def start_anvil(
    port: int | None = None,
    *,
    accounts: int = 10,
    gas_limit: int = 30_000_000,
    log: Path | None = None,
    extra: list[str] | None = None,
) -> LocalNode:
    """Start anvil on loopback and wait until it answers."""
    port = port or free_port()
    cmd = [
        anvil_binary(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--accounts",
        str(accounts),
        "--gas-limit",
        str(gas_limit),
        "--block-base-fee-per-gas",
        "0",
        "--silent",
        *(extra or []),
    ]
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 (owned by the process)
    proc = subprocess.Popen(
        cmd,
        stdout=out,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
        preexec_fn=_die_with_parent,
    )
    url = f"http://127.0.0.1:{port}"
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ChainError(f"anvil exited with code {proc.returncode} (port {port} in use?)")
        try:
            if w3.is_connected():
                return LocalNode(url=url, process=proc, w3=w3)
        except Exception:  # not listening yet
            pass
        time.sleep(0.1)
    proc.kill()
    raise ChainError(f"anvil did not answer on {url} within 30 s")


@contextmanager
def local_node(**kwargs: object) -> Iterator[LocalNode]:
    node = start_anvil(**kwargs)  # type: ignore[arg-type]
    try:
        yield node
    finally:
        node.stop()
