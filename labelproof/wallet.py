"""Wallets: encrypted keystore (v3) files in a wallet directory, and each wallet's local data.

A wallet is ``<wallet-dir>/<name>.json``, the Web3 Secret Storage (keystore v3) format that
geth, ethers.js and eth-account all read: eth-account's ``Account.encrypt`` writes it (scrypt),
and a keystore written by ethers' ``wallet.encrypt`` (or geth) placed in the directory, or
imported with ``labelproof wallet import --keystore``, works as is. The private key never
appears on a command line or in the environment: it comes from a hidden prompt or a key file,
and is stored only encrypted.

Next to the keystore, ``<wallet-dir>/<name>.data/`` holds what the wallet must not lose and
nobody else should read before its time: an annotator's labels and leaf salts (needed for the
reveal), a requester's spec, gold set and gold salt (needed for the gold reveal). Files there
are written atomically (temporary file, fsync, rename) with mode 0600, before the transaction
that makes them matter is sent.

The scrypt work factor is 2**18 (eth-account's default). ``LABELPROOF_SCRYPT_N`` lowers it for
tests and throw-away wallets on a local chain; a keystore records its own parameters, so it
opens the same way whatever the setting.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import is_hex_address, to_checksum_address

WALLET_DIR_ENV = "LABELPROOF_WALLET_DIR"
PASSWORD_ENV = "LABELPROOF_PASSWORD"
SCRYPT_N_ENV = "LABELPROOF_SCRYPT_N"
DEFAULT_SCRYPT_N = 2**18
MIN_SCRYPT_N = 2**10

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class WalletError(Exception):
    """A wallet operation failed; the message is one line and never contains key material."""


def default_wallet_dir() -> Path:
    env = os.environ.get(WALLET_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".labelproof" / "wallets"


def looks_like_private_key(text: str) -> bool:
    """Whether `text` has the shape of a raw private key (32 bytes of hex)."""
    return bool(_KEY.fullmatch(text.strip()))


def parse_private_key(text: str, where: str = "the key") -> bytes:
    """A 32-byte secp256k1 key from hex (with or without 0x). Errors never echo the input."""
    text = text.strip()
    if not _KEY.fullmatch(text):
        raise WalletError(f"{where} is not a private key: expected 64 hex digits (0x optional)")
    key = bytes.fromhex(text[2:] if text[:2].lower() == "0x" else text)
    if not 0 < int.from_bytes(key, "big") < _SECP256K1_N:
        raise WalletError(f"{where} is out of range for a secp256k1 private key")
    return key


def scrypt_n() -> int:
    raw = os.environ.get(SCRYPT_N_ENV)
    if not raw:
        return DEFAULT_SCRYPT_N
    try:
        n = int(raw)
    except ValueError:
        raise WalletError(f"{SCRYPT_N_ENV}={raw!r} is not an integer") from None
    if n < MIN_SCRYPT_N or n & (n - 1):
        raise WalletError(f"{SCRYPT_N_ENV} must be a power of two >= {MIN_SCRYPT_N}, got {n}")
    return n


def read_password_file(path: Path) -> str:
    """The password in `path`: its first line, without the line break."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WalletError(f"{path}: cannot read password file: {exc.strerror or exc}") from None
    lines = text.splitlines()
    password = lines[0] if lines else ""
    if not password:
        raise WalletError(f"{path}: the password file is empty")
    return password


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600, exclusive: bool = False) -> None:
    """Write `data` to `path` so that a crash leaves the old file or the new one, never a mix.

    With `exclusive`, refuse to replace an existing file (the check and the rename are one step:
    a hard link, which fails if the target exists).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise WalletError(f"{path} already exists") from None
            tmp.unlink()
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_file(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    _fsync_dir(path.parent)


@dataclass(frozen=True)
class WalletInfo:
    name: str
    address: str | None  # None if the keystore does not record its address
    path: Path


class WalletStore:
    """The keystores in one directory."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = (directory or default_wallet_dir()).expanduser()

    # -- names and paths

    @staticmethod
    def check_name(name: str) -> str:
        if not _NAME.fullmatch(name):
            if looks_like_private_key(name):
                raise WalletError(
                    "that wallet name looks like a private key: never put a key on the command "
                    "line (use --key-file or the prompt)"
                )
            raise WalletError(
                f"invalid wallet name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        return name

    def path(self, name: str) -> Path:
        return self.directory / f"{self.check_name(name)}.json"

    def data_dir(self, name: str) -> Path:
        """The wallet's private data directory (salts, gold sets), created with mode 0700."""
        directory = self.directory / f"{self.check_name(name)}.data"
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        return directory

    # -- reading

    def list(self) -> list[WalletInfo]:
        if not self.directory.is_dir():
            return []
        out = []
        for path in sorted(self.directory.glob("*.json")):
            if path.name.startswith(".") or not _NAME.fullmatch(path.stem):
                continue
            try:
                keystore = _load_keystore(path)
            except WalletError:
                continue  # not a keystore: other JSON files may live here
            out.append(WalletInfo(path.stem, _keystore_address(keystore), path))
        return out

    def get(self, name: str) -> WalletInfo:
        path = self.path(name)
        if not path.exists():
            known = ", ".join(w.name for w in self.list()) or "none"
            raise WalletError(f"no wallet {name!r} in {self.directory} (wallets: {known})")
        return WalletInfo(name, _keystore_address(_load_keystore(path)), path)

    def address(self, name: str, password: str | None = None) -> str:
        """The wallet's address; a keystore without an address field needs the password."""
        info = self.get(name)
        if info.address is not None:
            return info.address
        if password is None:
            raise WalletError(f"wallet {name!r} does not record its address: give its password")
        return str(self.unlock(name, password).address)

    def unlock(self, name: str, password: str) -> LocalAccount:
        info = self.get(name)
        keystore = _load_keystore(info.path)
        try:
            key = Account.decrypt(keystore, password)
        except ValueError as exc:
            if "MAC mismatch" in str(exc):
                raise WalletError(f"wrong password for wallet {name!r}") from None
            raise WalletError(f"wallet {name!r}: cannot decrypt {info.path}: {exc}") from None
        account: LocalAccount = Account.from_key(key)
        recorded = info.address
        if recorded is not None and recorded != account.address:
            raise WalletError(
                f"wallet {name!r}: the keystore says {recorded} but its key is {account.address}"
            )
        return account

    def lock(self, name: str, wait: float = 300.0) -> int | None:
        """Take the wallet's exclusive lock (``<name>.lock``) for the rest of the process, so
        two commands from one wallet never pick the same nonce. Returns the held descriptor
        (closing it releases the lock), or None at once if another process holds it and
        `wait` is 0."""
        import fcntl

        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(
            self.directory / f".{self.check_name(name)}.lock", os.O_RDWR | os.O_CREAT, 0o600
        )
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    if wait == 0:
                        return None
                    raise WalletError(
                        f"wallet {name!r} is busy: another labelproof command is sending from "
                        f"it (waited {wait:.0f} s)"
                    ) from None
                time.sleep(0.1)

    # -- writing

    def create(self, name: str, password: str, key: bytes | None = None) -> WalletInfo:
        """Encrypt `key` (a fresh one if None) under `password` as wallet `name`."""
        path = self.path(name)
        if path.exists():
            raise WalletError(f"wallet {name!r} already exists ({path})")
        if not password:
            raise WalletError("the password must not be empty")
        account: LocalAccount = Account.from_key(key) if key is not None else Account.create()
        self._refuse_duplicate(account.address)
        keystore = Account.encrypt(account.key, password, kdf="scrypt", iterations=scrypt_n())
        self._write_keystore(path, keystore)
        return WalletInfo(name, account.address, path)

    def import_keystore(self, name: str, source: Path, password: str) -> WalletInfo:
        """Copy a keystore from elsewhere (geth, ethers.js, ...) after checking the password."""
        path = self.path(name)
        if path.exists():
            raise WalletError(f"wallet {name!r} already exists ({path})")
        keystore = _load_keystore(source)
        recorded = _keystore_address(keystore)
        self._refuse_duplicate(recorded)  # before the (slow) decryption, when it is recorded
        try:
            key = Account.decrypt(keystore, password)
        except ValueError as exc:
            if "MAC mismatch" in str(exc):
                raise WalletError(f"wrong password for keystore {source}") from None
            raise WalletError(f"{source}: cannot decrypt: {exc}") from None
        account: LocalAccount = Account.from_key(key)
        if recorded is not None and recorded != account.address:
            raise WalletError(f"{source}: says {recorded} but its key is {account.address}")
        self._refuse_duplicate(account.address)
        self._write_keystore(path, keystore)
        return WalletInfo(name, account.address, path)

    def _refuse_duplicate(self, address: str | None) -> None:
        if address is None:
            return
        for other in self.list():
            if other.address == address:
                raise WalletError(
                    f"{address} is already in this directory as wallet {other.name!r}"
                )

    def _write_keystore(self, path: Path, keystore: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(path, (json.dumps(keystore) + "\n").encode(), mode=0o600, exclusive=True)


def load_keystore_file(path: Path, password: str) -> LocalAccount:
    """Open a keystore file outside any wallet directory (``deploy --from FILE``)."""
    keystore = _load_keystore(path)
    try:
        key = Account.decrypt(keystore, password)
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise WalletError(f"wrong password for keystore {path}") from None
        raise WalletError(f"{path}: cannot decrypt: {exc}") from None
    account: LocalAccount = Account.from_key(key)
    return account


def _load_keystore(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WalletError(f"{path}: cannot read keystore: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WalletError(f"{path}: not a keystore (not JSON)") from None
    if not isinstance(data, dict) or ("crypto" not in data and "Crypto" not in data):
        raise WalletError(f"{path}: not a keystore (no crypto section)")
    if data.get("version") != 3:
        raise WalletError(f"{path}: unsupported keystore version {data.get('version')!r}")
    return data


def _keystore_address(keystore: dict[str, Any]) -> str | None:
    raw = keystore.get("address")
    if not isinstance(raw, str):
        return None
    text = raw if raw.startswith("0x") else "0x" + raw
    return to_checksum_address(text) if is_hex_address(text) else None
