"""The ``account,amount`` payout CSV of ``labelproof merkle build``, read and built in one pass.

What used to make ``merkle build`` slow (a profile of 100k payouts): the tree was built twice
(once to validate, once to write), every address went through ``eth_utils.is_address`` and then
two EIP-55 checksums, and the dump went through the generic JSON encoder. Here a plain file is
checked by one regex pass and split into columns in C, the tree is built once by
``StandardMerkleTree.of_payouts`` (whose whole-list checks compute the one checksum per address
the dump needs, and reject a mixed-case address whose checksum is wrong), and the dump is written
by ``StandardMerkleTree.dump_text``. Any other file is read row by row by the csv module, so
every message names the file and the row.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from labelproof.merkle import UINT256_LIMIT, MerkleError, StandardMerkleTree

_HEX_DIGITS = frozenset("0123456789abcdef")
# A plain file: header exactly account,amount, then one `0x<40 hex>,<digits>` row per line.
_PLAIN_BODY = re.compile(r"(?:0x[0-9a-fA-F]{40},[0-9]{1,78}\r?\n)*")


class PayoutFileError(ValueError):
    """A bad payout file; the message is one line naming the file (and the row)."""


def _is_hex_address(lower: str) -> bool:
    return len(lower) == 42 and lower.startswith("0x") and _HEX_DIGITS.issuperset(lower[2:])


def read_payouts(path: Path) -> tuple[list[tuple[str, int]], list[int]]:
    """``(account as written, amount)`` pairs in file order, and the row of each."""
    accounts, amounts, lines = read_payout_columns(path)
    return list(zip(accounts, amounts, strict=True)), lines


def read_payout_columns(path: Path) -> tuple[list[str], list[int], list[int]]:
    """``read_payouts`` as columns: the accounts as written, the amounts, the row of each."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise PayoutFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError:
        raise PayoutFileError(f"{path}: not UTF-8 text") from None
    plain = _read_plain(text)
    if plain is not None:
        accounts, amounts = plain
        return accounts, amounts, list(range(2, len(accounts) + 2))
    values, lines = _read_rows(path, text)
    return [v[0] for v in values], [v[1] for v in values], lines


def _read_plain(text: str) -> tuple[list[str], list[int]] | None:
    """The columns of a plain file, checked by one C-level regex pass and split in C, not a loop
    over csv records; None when the file is not plain (then ``_read_rows`` reads it and names
    whatever row is wrong)."""
    header, newline, body = text.partition("\n")
    if not newline or header.strip().lower().replace(" ", "") != "account,amount":
        return None
    if body and not body.endswith("\n"):
        body += "\n"
    if _PLAIN_BODY.fullmatch(body) is None:
        return None
    if "\r" in body:
        body = body.replace("\r\n", "\n")
    # The body matched row by row, so it is exactly "account,amount\n" repeated: splitting at
    # both separators alternates accounts and amounts, with a trailing "" (all C-level).
    cells = body.replace(",", "\n").split("\n")
    accounts = cells[0:-1:2]
    if not accounts or len(set(map(str.lower, accounts))) != len(accounts):
        return None  # nothing to pay, or an account listed twice: let _read_rows say where
    amounts = list(map(int, cells[1::2]))
    if max(amounts) >= UINT256_LIMIT:
        return None
    return accounts, amounts


def _read_rows(path: Path, text: str) -> tuple[list[tuple[str, int]], list[int]]:
    rows = csv.reader(text.splitlines())
    header = next(rows, None)
    if header is None:
        raise PayoutFileError(f"{path}: empty file, expected a header account,amount")
    names = [h.strip().lower() for h in header]
    if "account" not in names or "amount" not in names:
        raise PayoutFileError(
            f"{path}: row 1: header must contain account and amount, got {header}"
        )
    ia, im = names.index("account"), names.index("amount")
    width = max(ia, im)
    values: list[tuple[str, int]] = []
    lines: list[int] = []
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, start=2):
        if len(row) <= width:
            if not any(cell.strip() for cell in row):
                continue  # a blank line
            raise PayoutFileError(f"{path}: row {n}: expected account and amount, got {row}")
        account, amount = row[ia].strip(), row[im].strip()
        if not account and not amount and not any(cell.strip() for cell in row):
            continue  # a line of empty cells
        try:
            value = int(amount)
        except ValueError:
            raise PayoutFileError(f"{path}: row {n}: amount {amount!r} is not an integer") from None
        lower = account.lower()
        if not _is_hex_address(lower):
            raise PayoutFileError(f"{path}: row {n}: {account!r} is not an address (0x + 40 hex)")
        if not 0 <= value < UINT256_LIMIT:
            raise PayoutFileError(f"{path}: row {n}: amount {value} is out of uint256 range")
        first = seen.setdefault(lower, n)
        if first != n:
            raise PayoutFileError(f"{path}: row {n}: account {account} already on row {first}")
        values.append((account, value))
        lines.append(n)
    if not values:
        raise PayoutFileError(f"{path}: no payout rows")
    return values, lines


def build_payout_tree(path: Path) -> StandardMerkleTree:
    """The ``(address, uint256)`` claim tree of a payout CSV (the same tree as
    ``merkle.payout_tree`` of its rows, built once)."""
    accounts, amounts, lines = read_payout_columns(path)
    try:
        return StandardMerkleTree.of_payouts(accounts, amounts)
    except MerkleError as exc:
        # "value #k: ..." from `of`: name the row instead.
        message = str(exc)
        head, sep, rest = message.partition(": ")
        if sep and head.startswith("value #") and head[7:].isdigit():
            message = f"row {lines[int(head[7:])]}: {rest}"
        raise PayoutFileError(f"{path}: {message}") from None
