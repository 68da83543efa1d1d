"""Wallets: keystore v3 files that ethers.js opens and that we open from ethers.js, passwords,
and no private key ever taken from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from labelproof.wallet import (
    SCRYPT_N_ENV,
    WalletError,
    WalletStore,
    looks_like_private_key,
    parse_private_key,
    scrypt_n,
    write_atomic,
)

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pässword with spaces"
MESSAGE = "labelproof interop check"


@pytest.fixture(autouse=True)
def isolation() -> None:
    """No chain here (shadows tests/conftest.py's brownie snapshot fixture)."""


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SCRYPT_N_ENV, "1024")


def cli(
    *args: str, wallet_dir: Path, password: str | None = PASSWORD, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELPROOF_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "LABELPROOF_WALLET_DIR": str(wallet_dir),
            SCRYPT_N_ENV: "1024",
        }
    )
    if password is not None:
        env["LABELPROOF_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "labelproof.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert done.returncode != 0, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def node(script: str, *args: str) -> str:
    """Run a CommonJS snippet with the project's ethers v6 (node_modules)."""
    done = subprocess.run(
        ["node", "-e", script, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


ETHERS_OPEN = """
const { Wallet } = require('ethers');
const fs = require('fs');
(async () => {
  const json = fs.readFileSync(process.argv[1], 'utf8');
  const w = await Wallet.fromEncryptedJson(json, process.argv[2]);
  const sig = await w.signMessage(process.argv[3]);
  console.log(JSON.stringify({ address: w.address, key: w.privateKey, sig }));
})().catch((e) => { console.error(e.message); process.exit(1); });
"""

ETHERS_MAKE = """
const { Wallet } = require('ethers');
(async () => {
  const w = Wallet.createRandom();
  const json = await w.encrypt(process.argv[1]);
  const sig = await w.signMessage(process.argv[2]);
  console.log(JSON.stringify({ keystore: JSON.parse(json), address: w.address, sig }));
})().catch((e) => { console.error(e.message); process.exit(1); });
"""


def test_our_keystore_opens_in_ethers(tmp_path: Path) -> None:
    done = cli("wallet", "new", "alice", wallet_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "alice.json"
    assert (path.stat().st_mode & 0o777) == 0o600
    keystore = json.loads(path.read_text())
    assert keystore["version"] == 3 and keystore["crypto"]["kdf"] == "scrypt"
    address = cli("wallet", "address", "alice", wallet_dir=tmp_path).stdout.strip()
    assert address in done.stdout

    ethers = json.loads(node(ETHERS_OPEN, str(path), PASSWORD, MESSAGE))
    assert ethers["address"] == address
    ours = WalletStore(tmp_path).unlock("alice", PASSWORD)
    assert ethers["key"] == "0x" + bytes(ours.key).hex()
    signed = ours.sign_message(encode_defunct(text=MESSAGE))
    assert ethers["sig"] == "0x" + bytes(signed.signature).hex()  # RFC 6979: identical


def test_ethers_keystore_works_here(tmp_path: Path) -> None:
    made = json.loads(node(ETHERS_MAKE, PASSWORD, MESSAGE))
    assert made["keystore"]["Crypto"]["kdfparams"]["n"] == 131072  # ethers' own default
    wallets = tmp_path / "wallets"
    wallets.mkdir()
    # dropped into the wallet directory as is
    (wallets / "bob.json").write_text(json.dumps(made["keystore"]))
    listed = cli("wallet", "list", "--json", wallet_dir=wallets)
    assert listed.returncode == 0, listed.stderr
    assert [(w["name"], w["address"]) for w in json.loads(listed.stdout)] == [
        ("bob", made["address"])
    ]
    shown = cli("wallet", "address", "bob", wallet_dir=wallets)
    assert shown.stdout.strip() == made["address"]
    account = WalletStore(wallets).unlock("bob", PASSWORD)
    assert account.address == made["address"]
    signed = account.sign_message(encode_defunct(text=MESSAGE))
    assert "0x" + bytes(signed.signature).hex() == made["sig"]
    assert (
        Account.recover_message(encode_defunct(text=MESSAGE), signature=made["sig"])
        == (made["address"])
    )

    # or imported from elsewhere: checked with its password first
    source = tmp_path / "ethers.json"
    source.write_text(json.dumps(made["keystore"]))
    other = tmp_path / "other"
    wrong = cli(
        "wallet", "import", "carol", "--keystore", str(source), wallet_dir=other, password="nope"
    )
    one_line_error(wrong, "wrong password for keystore")
    assert not (other / "carol.json").exists()
    done = cli("wallet", "import", "carol", "--keystore", str(source), wallet_dir=other)
    assert done.returncode == 0, done.stderr
    assert made["address"] in done.stdout
    assert json.loads((other / "carol.json").read_text()) == made["keystore"]  # as is
    dup = cli("wallet", "import", "dave", "--keystore", str(source), wallet_dir=other)
    one_line_error(dup, "already in this directory as wallet 'carol'")


def test_wrong_password_is_one_clear_error(tmp_path: Path) -> None:
    store = WalletStore(tmp_path)
    info = store.create("erin", PASSWORD)
    with pytest.raises(WalletError, match=r"^wrong password for wallet 'erin'$"):
        store.unlock("erin", "Pässword with spaces")
    assert store.unlock("erin", PASSWORD).address == info.address
    done = cli("wallet", "check", "erin", wallet_dir=tmp_path, password="wrong")
    one_line_error(done, "wrong password for wallet 'erin'")
    done = cli("wallet", "check", "erin", wallet_dir=tmp_path)
    assert done.returncode == 0 and info.address in done.stdout, done.stderr
    key_file = tmp_path / "key.txt"
    key_file.write_text("0x" + "11" * 32 + "\n")
    done = cli(
        "wallet", "import", "frank", "--key-file", str(key_file), wallet_dir=tmp_path, password=""
    )
    one_line_error(done, "no password", "--password-file")
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD + "\n")
    done = cli(
        "wallet",
        "import",
        "frank",
        "--key-file",
        str(key_file),
        "--password-file",
        str(password_file),
        wallet_dir=tmp_path,
        password=None,
    )
    assert done.returncode == 0, done.stderr
    assert store.unlock("frank", PASSWORD).key == bytes.fromhex("11" * 32)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    done = cli("wallet", "new", "gina", "--password-file", str(empty), wallet_dir=tmp_path)
    one_line_error(done, "the password file is empty")


def test_no_raw_key_on_the_command_line(tmp_path: Path) -> None:
    key = "0x" + "ab" * 32
    for args in (
        ("wallet", "import", "x", key),
        ("wallet", "import", "x", key[2:]),
        ("wallet", "import", "x", f"--key={key}"),
        ("wallet", "import", "x", "--key", key),
        ("wallet", "new", key),
    ):
        done = cli(*args, wallet_dir=tmp_path)
        line = one_line_error(done, "refusing a private key on the command line")
        assert "ab" * 32 not in done.stderr + done.stdout, line
    assert not tmp_path.exists() or not list(tmp_path.iterdir())
    # without a key file and without a terminal there is no way in but the prompt: refused
    one_line_error(cli("wallet", "import", "x", wallet_dir=tmp_path), "no key", "--key-file")
    # a bad key file is named, its content never echoed
    bad = tmp_path.parent / f"{tmp_path.name}-bad.txt"
    bad.write_text("0x" + "zz" * 32)
    line = one_line_error(
        cli("wallet", "import", "x", "--key-file", str(bad), wallet_dir=tmp_path),
        "is not a private key",
    )
    assert "zz" not in line.replace(str(bad), "")
    zero = tmp_path.parent / f"{tmp_path.name}-zero.txt"
    zero.write_text("00" * 32)
    one_line_error(
        cli("wallet", "import", "x", "--key-file", str(zero), wallet_dir=tmp_path), "out of range"
    )
    assert not (tmp_path / "x.json").exists()


def test_names_duplicates_and_atomic_files(tmp_path: Path) -> None:
    store = WalletStore(tmp_path)
    for bad in ("../evil", "", "a/b", ".hidden", "x" * 65):
        with pytest.raises(WalletError, match="invalid wallet name"):
            store.check_name(bad)
    one_line_error(cli("wallet", "new", "../evil", wallet_dir=tmp_path), "invalid wallet name")
    store.create("one", PASSWORD)
    one_line_error(cli("wallet", "new", "one", wallet_dir=tmp_path), "already exists")
    key = Account.create().key
    store.create("two", PASSWORD, bytes(key))
    with pytest.raises(WalletError, match="already in this directory as wallet 'two'"):
        store.create("three", PASSWORD, bytes(key))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.json", "two.json"]
    one_line_error(cli("wallet", "address", "nobody", wallet_dir=tmp_path), "no wallet 'nobody'")
    listed = cli("wallet", "list", wallet_dir=tmp_path)
    assert "one" in listed.stdout and "two" in listed.stdout
    # other JSON in the directory is not a wallet
    (tmp_path / "notes.json").write_text("{}")
    assert [w.name for w in store.list()] == ["one", "two"]

    target = tmp_path / "data" / "record.json"
    write_atomic(target, b"first")
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second" and (target.stat().st_mode & 0o777) == 0o600
    with pytest.raises(WalletError, match="already exists"):
        write_atomic(target, b"third", exclusive=True)
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["record.json"]  # no temp files left


def test_key_parsing_and_kdf_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_private_key(" 0x" + "01" * 32 + "\n") == bytes([1]) * 32
    assert looks_like_private_key("AB" * 32) and not looks_like_private_key("ab" * 31)
    with pytest.raises(WalletError, match="out of range"):
        parse_private_key("ff" * 32)
    monkeypatch.setenv(SCRYPT_N_ENV, "1000")
    with pytest.raises(WalletError, match="power of two"):
        scrypt_n()
    monkeypatch.delenv(SCRYPT_N_ENV)
    assert scrypt_n() == 2**18


def test_password_prompt_is_hidden_and_confirmed(tmp_path: Path) -> None:
    """On a terminal the password is prompted for, hidden, twice; a mismatch asks again."""
    import select

    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELPROOF_")}
    env.update({"PYTHONPATH": str(ROOT), "LABELPROOF_WALLET_DIR": str(tmp_path)})
    env[SCRYPT_N_ENV] = "1024"
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "labelproof.cli", "wallet", "new", "tty"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    seen = b""
    transcript = bytearray()

    def expect(token: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 30
        while token not in seen:
            assert time.monotonic() < deadline, f"no {token!r} in {seen!r}"
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    break
                seen += data
                transcript.extend(data)
        assert token in seen, seen
        seen = seen[seen.index(token) + len(token) :]

    try:
        prompt, again = b"Password for new wallet 'tty': ", b"Repeat for confirmation: "
        for wait_for, typed in (
            (prompt, b"first"),
            (again, b"second"),
            (b"do not match", b""),
            (prompt, PASSWORD.encode()),
            (again, PASSWORD.encode()),
        ):
            expect(wait_for)
            if typed:
                os.write(master, typed + b"\n")
        expect(b"-> ")
        assert proc.wait(timeout=30) == 0
        for typed in (b"first", b"second", PASSWORD.encode()):
            assert typed not in transcript  # hidden: never echoed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert WalletStore(tmp_path).unlock("tty", PASSWORD).address
