"""Answer and gold files, CSV or Parquet, read through pyarrow's columnar readers.

Why pyarrow: the hand-written ``csv`` loop of ``labelproof.scoring`` makes a Python string per
cell (about 3 s for 1M answers, most of ``labelproof score``'s time). Here a file is parsed in
C++ and each column is dictionary-encoded there; only the *distinct* ids ever become Python or
numpy strings (``FactorizedAnswers``), which is also what lets 100M answers fit in memory.

Error messages stay exactly those of the ``csv`` reader, naming the file and the row: the fast
path takes a CSV file only when it is plain (every line one record, no empty cell, each record
no wider than the header); anything else (a blank line, a quoted newline, a short row, an empty
cell, bad UTF-8) is re-read with ``scoring._read_csv``, which either accepts it as it always did
or says which row is wrong. A Parquet file has no header line: its rows count from 1.

A file is Parquet when it starts with the Parquet magic bytes ``PAR1``, whatever its name.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from labelproof.scoring import (
    _ANSWER_HEADERS,
    AnswerSet,
    FactorizedAnswers,
    IntArray,
    ScoringInputError,
    StrArray,
    _read_csv,
)

PARQUET_MAGIC = b"PAR1"


class _NotPlain(Exception):
    """The fast CSV path cannot vouch for this file: re-read it with the exact reader."""


def is_parquet(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == PARQUET_MAGIC
    except OSError:
        return False  # the reader that follows reports the error with the file name


def read_answers(path: str | os.PathLike[str]) -> FactorizedAnswers | AnswerSet:
    """Answers from a CSV or Parquet file with ``item,worker,label`` (or
    ``question,worker,answer``) columns, any case, extra columns ignored. Cells are stripped of
    surrounding whitespace; an empty cell is an error naming its row."""
    p = Path(path)
    if is_parquet(p):
        return _read_parquet_answers(p)
    try:
        return _read_csv_fast(p)
    except _NotPlain:
        lines, rows = _read_csv(p, _ANSWER_HEADERS)
        return AnswerSet(
            item=np.array([r[0] for r in rows], dtype=np.str_),
            worker=np.array([r[1] for r in rows], dtype=np.str_),
            label=np.array([r[2] for r in rows], dtype=np.str_),
            rows=np.array(lines, dtype=np.int64),
            source=str(p),
        )


# --------------------------------------------------------------------------------------------
# Columns to (sorted distinct ids, codes)
# --------------------------------------------------------------------------------------------


def _factorize_column(column: pa.ChunkedArray) -> tuple[StrArray, IntArray, int | None]:
    """Sorted distinct stripped values, each row's index among them, and the code of the empty
    string if it occurs (None otherwise). Nulls must have been ruled out by the caller.

    Everything per row runs in Arrow or numpy; Python sees only the distinct values. The sort is
    Arrow's byte order of UTF-8, which is code-point order: the order ``scoring._factorize``
    gives, so the canonical answer order and every hash are the same whichever reader ran.
    """
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())
    encoded = pc.dictionary_encode(column)
    if encoded.num_chunks == 0:
        return np.array([], dtype=np.str_), np.array([], dtype=np.int64), None
    dictionary = encoded.chunk(encoded.num_chunks - 1).dictionary
    if not all(_same_array(chunk.dictionary, dictionary) for chunk in encoded.chunks):
        # Arrow encodes a chunked column with one memo table, so every chunk shares the final
        # dictionary and its indices are already global; unify_dictionaries (quadratic in
        # chunks x dictionary size: 8 s for 1M items in 77 chunks) only if that ever changes.
        encoded = encoded.unify_dictionaries()
        dictionary = encoded.chunk(0).dictionary
    codes = np.concatenate([chunk.indices.to_numpy() for chunk in encoded.chunks])
    # Stripping may merge entries ("a " and "a"): encode the stripped dictionary again.
    stripped = pc.dictionary_encode(pc.utf8_trim_whitespace(dictionary))
    codes = stripped.indices.to_numpy().take(codes)
    distinct = stripped.dictionary
    used = np.bincount(codes, minlength=len(distinct)) > 0
    kept = np.flatnonzero(used)
    values = distinct.take(pa.array(kept))
    order = pc.sort_indices(values).to_numpy()
    # int32 codes where they fit: at 100M answers each column is 400 MB instead of 800 MB.
    code_type = np.int32 if len(kept) < 2**31 else np.int64
    table = np.full(len(distinct), -1, dtype=code_type)
    table[kept[order]] = np.arange(len(kept), dtype=code_type)
    sorted_values = np.asarray(values.take(pa.array(order)).to_numpy(zero_copy_only=False))
    ids = sorted_values.astype(np.str_) if len(sorted_values) else np.array([], dtype=np.str_)
    codes = table.take(codes)
    empty = None
    if len(ids) and ids[0] == "":  # "" sorts first
        empty = 0
    return ids, codes, empty


def _same_array(a: pa.Array, b: pa.Array) -> bool:
    """The same array in memory (same length and buffers), without comparing values."""
    if len(a) != len(b):
        return False
    return all(
        (x is None and y is None) or (x is not None and y is not None and x.address == y.address)
        for x, y in zip(a.buffers(), b.buffers(), strict=True)
    )


def _choose(names: list[str], headers: tuple[tuple[str, ...], ...]) -> tuple[str, ...] | None:
    return next((h for h in headers if all(c in names for c in h)), None)


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


def _read_csv_fast(path: Path) -> FactorizedAnswers:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScoringInputError(f"{path}: cannot open: {exc.strerror}") from exc
    body = data.rstrip(b"\r\n")
    newline = body.find(b"\n")
    if newline < 0:
        raise _NotPlain  # header only, empty, or not newline-separated
    try:
        header_line = body[:newline].decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _NotPlain from None
    header = next(csv.reader([header_line]), [])
    names = [h.strip().lower() for h in header]
    chosen = _choose(names, _ANSWER_HEADERS)
    if chosen is None or len(set(names)) != len(names):
        raise _NotPlain
    fields = [f"f{i}" for i in range(len(names))]
    wanted = [fields[names.index(c)] for c in chosen]
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(body[newline + 1 :]),
            read_options=pa_csv.ReadOptions(column_names=fields),
            parse_options=pa_csv.ParseOptions(newlines_in_values=False),
            convert_options=pa_csv.ConvertOptions(
                include_columns=wanted,
                column_types=dict.fromkeys(fields, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
        raise _NotPlain from None
    n = table.num_rows
    # Every line after the header a record (no blank line, no quoted newline): answer i is
    # then on line i + 2, which is what the error messages below need.
    if n == 0 or body.count(b"\n") != n:
        raise _NotPlain
    columns = []
    for field in wanted:
        ids, codes, empty = _factorize_column(table.column(field))
        if empty is not None:
            raise _NotPlain  # the exact reader skips all-blank records and names the others
        columns.append((ids, codes))
    del table
    (items, item_idx), (workers, worker_idx), (labels, label_idx) = columns
    return FactorizedAnswers(
        items, workers, labels, item_idx, worker_idx, label_idx, str(path), first_row=2
    )


# --------------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------------


def _parquet_schema(
    path: Path, headers: tuple[tuple[str, ...], ...]
) -> tuple[tuple[str, ...], list[str]]:
    """The accepted header and the file's names of its columns, or a one-line error."""
    try:
        schema = pq.read_schema(path)
    except OSError as exc:
        raise ScoringInputError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    except pa.ArrowException as exc:
        raise ScoringInputError(f"{path}: row 1: not a readable Parquet file: {exc}") from None
    names = [n.strip().lower() for n in schema.names]
    chosen = _choose(names, headers)
    if chosen is None:
        wanted = " or ".join(",".join(h) for h in headers)
        raise ScoringInputError(
            f"{path}: row 1: missing columns: Parquet columns are {','.join(names)!r}, "
            f"expected {wanted}"
        )
    return chosen, [schema.names[names.index(c)] for c in chosen]


def _parquet_column(path: Path, name: str) -> pa.ChunkedArray:
    """One column (read alone: the others need not be in memory at the same time)."""
    try:
        return pq.read_table(path, columns=[name]).column(0)
    except (pa.ArrowException, OSError) as exc:
        raise ScoringInputError(f"{path}: row 1: not a readable Parquet file: {exc}") from None


def _first_null_row(column: pa.ChunkedArray) -> int | None:
    if column.null_count == 0:
        return None
    return int(np.flatnonzero(pc.is_null(column).to_numpy(zero_copy_only=False))[0]) + 1


def _read_parquet_answers(path: Path) -> FactorizedAnswers:
    chosen, originals = _parquet_schema(path, _ANSWER_HEADERS)
    columns = []
    for name, original in zip(chosen, originals, strict=True):
        column = _parquet_column(path, original)
        if len(column) == 0:
            raise ScoringInputError(f"{path}: row 1: no answers")
        null_row = _first_null_row(column)
        if null_row is not None:
            raise ScoringInputError(f"{path}: row {null_row}: empty {name!r} cell")
        ids, codes, empty = _factorize_column(column)
        del column  # each column is freed once encoded
        if empty is not None:
            row = int(np.flatnonzero(codes == empty)[0]) + 1
            raise ScoringInputError(f"{path}: row {row}: empty {name!r} cell")
        columns.append((ids, codes))
    (items, item_idx), (workers, worker_idx), (labels, label_idx) = columns
    return FactorizedAnswers(
        items, workers, labels, item_idx, worker_idx, label_idx, str(path), first_row=1
    )


def read_parquet_rows(
    path: Path, headers: tuple[tuple[str, ...], ...]
) -> tuple[list[int], list[list[str]]]:
    """Small Parquet files (gold) as ``scoring._read_csv`` returns CSV: row numbers and the
    stripped cells of the accepted columns; an empty or null cell is an error naming its row."""
    chosen, originals = _parquet_schema(path, headers)
    cells = [
        [None if v is None else str(v).strip() for v in _parquet_column(path, name).to_pylist()]
        for name in originals
    ]
    if not cells[0]:
        raise ScoringInputError(f"{path}: row 1: no data rows")
    rows: list[list[str]] = []
    for n, record in enumerate(zip(*cells, strict=True), start=1):
        for name, cell in zip(chosen, record, strict=True):
            if not cell:
                raise ScoringInputError(f"{path}: row {n}: empty {name!r} cell")
        rows.append([c for c in record if c is not None])
    return list(range(1, len(rows) + 1)), rows
