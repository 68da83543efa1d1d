"""The offline solc set-up: the npm shim behind py-solc-x, and a native solc taking precedence."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import solcx

from labelproof import toolchain

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def solcx_dir(tmp_path, monkeypatch):
    folder = tmp_path / "solcx"
    monkeypatch.setenv("SOLCX_BINARY_PATH", str(folder))
    # hide any solc on PATH so the shim is what gets installed
    monkeypatch.setenv(
        "PATH",
        os.pathsep.join(
            p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "solc").exists()
        ),
    )
    return folder


def test_shim_installs_answers_version_and_compiles_with_imports(solcx_dir):
    path = toolchain.install_solc(ROOT, quiet=True)
    assert path == solcx_dir / "solc-v0.8.30"
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    assert "Version: 0.8.30+commit.73712a01" in out
    assert solcx.get_installed_solc_versions() == [solcx.install.Version("0.8.30")]

    source = (
        'pragma solidity 0.8.30; import "@openzeppelin/contracts/utils/Strings.sol";'
        " contract A { function f() external pure returns (string memory) {"
        " return Strings.toString(42); } }"
    )
    out = solcx.compile_standard(
        {
            "language": "Solidity",
            "sources": {"A.sol": {"content": source}},
            "settings": {
                "evmVersion": "shanghai",
                "remappings": ["@openzeppelin/=node_modules/@openzeppelin/"],
                "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
            },
        },
        solc_binary=path,
        allow_paths=str(ROOT),
        base_path=str(ROOT),
    )
    assert out["contracts"]["A.sol"]["A"]["evm"]["bytecode"]["object"]
    assert not [e for e in out.get("errors", []) if e["severity"] == "error"]


def test_missing_import_is_a_compiler_error_not_a_crash(solcx_dir):
    path = toolchain.install_solc(ROOT, quiet=True)
    src = {"language": "Solidity", "sources": {"B.sol": {"content": 'import "nope/X.sol";'}}}
    proc = subprocess.run(
        [path, "--standard-json"], input=json.dumps(src), capture_output=True, text=True
    )
    assert proc.returncode == 0
    errors = json.loads(proc.stdout)["errors"]
    assert any("nope/X.sol" in e["message"] for e in errors)


def test_install_is_idempotent(solcx_dir):
    path = toolchain.install_solc(ROOT, quiet=True)
    before = path.stat().st_mtime_ns
    toolchain.install_solc(ROOT, quiet=True)
    assert path.stat().st_mtime_ns == before


def test_stale_shim_from_another_checkout_is_rewritten(solcx_dir):
    solcx_dir.mkdir()
    stale = solcx_dir / "solc-v0.8.30"
    stale.write_text(f"#!/bin/sh\n{toolchain.SHIM_MARKER}\nexec node /gone/solc_shim.cjs\n")
    toolchain.install_solc(ROOT, quiet=True)
    assert str(ROOT / "node_modules" / "solc") in stale.read_text()


def test_native_solc_on_path_wins(solcx_dir, tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    native = bindir / "solc"
    native.write_text(
        "#!/bin/sh\necho 'solc, the solidity compiler commandline interface'\n"
        "echo 'Version: 0.8.30+commit.73712a01.Linux.g++'\n"
    )
    native.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    path = toolchain.install_solc(ROOT, quiet=True)
    assert path.is_symlink() and path.resolve() == native.resolve()


def test_wrong_native_binary_in_the_folder_is_reported(solcx_dir):
    solcx_dir.mkdir()
    other = solcx_dir / "solc-v0.8.30"
    other.write_text("#!/bin/sh\necho 'Version: 0.8.29+commit.ab55807c.Linux.g++'\n")
    other.chmod(0o755)
    with pytest.raises(toolchain.ToolchainError, match=r"does not report solc 0\.8\.30"):
        toolchain.install_solc(ROOT, quiet=True)
