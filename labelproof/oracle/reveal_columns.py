"""A task's reveals as scoring input: (item, worker, label) codes, with no Python object per label.

At 1.5M labels (15,000 reveals of 100), parsing each stored reveal with ``json.loads`` made a
dict and two strings per label, then numpy string arrays of them (the worker column alone,
42-character addresses repeated per label, was 250 MB) which ``scoring.encode`` factorized
again: about 4 s and 700 MB. Here the documents are parsed by Arrow's JSON reader in batches
(``labels[].item`` and ``labels[].label`` only; salts and the rest are skipped in C++), each
column is dictionary-encoded in C++, and only the *distinct* items and labels become strings:
``scoring.FactorizedAnswers``, which ``scoring.score`` takes without factorizing.

The answers are exactly the ones the per-label path gave, in the same order, so every score,
report and hash is the same: worker ids are the annotators (one per reveal, in the order
given, repeated over its labels), items and labels the documents' strings, sorted in
code-point order (Arrow's byte order of UTF-8, numpy's order of ``<U`` strings). Whenever the
two readings could differ, the documents are read again the per-label way
(``_exact_answers``): a document Arrow does not read with this shape (a non-string item, a
missing key), an empty string, or a string ending in NUL (which a numpy ``<U`` array drops).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from labelproof.scoring import AnswerSet, FactorizedAnswers, IntArray, StrArray

# Documents parsed per Arrow call: big enough that the per-call cost vanishes, small enough
# that the batch's joined bytes stay a few MB.
BATCH_BYTES = 8 << 20

_SCHEMA = pa.schema(
    [
        (
            "labels",
            pa.list_(pa.struct([("item", pa.string()), ("label", pa.string())])),
        )
    ]
)
_PARSE = pa_json.ParseOptions(explicit_schema=_SCHEMA, unexpected_field_behavior="ignore")


class _Unreadable(Exception):
    """Arrow's reading may differ from ``json.loads``'s: use the exact path."""


Documents = Callable[[], Iterable[tuple[str, bytes]]]


class RevealColumns:
    """Collects reveal documents (canonical JSON bytes) one at a time, in worker order, and
    gives the scoring input of all of them. Holds only the current batch's documents and the
    parsed item and label columns (about 20 bytes a label), so the caller can stream the
    documents from the database."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.annotators: list[str] = []
        self._batch: list[bytes] = []
        self._batch_bytes = 0
        self._chunks: list[pa.Array] = []  # list<struct<item, label>>, one per batch
        self._unreadable = False

    def add(self, annotator: str, document: bytes) -> None:
        self.annotators.append(annotator)
        if self._unreadable:
            return
        self._batch.append(document)
        self._batch_bytes += len(document)
        if self._batch_bytes >= BATCH_BYTES:
            self._flush()

    def _flush(self) -> None:
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        if not batch or self._unreadable:
            return
        try:
            self._chunks.append(_parse(batch))
        except _Unreadable:
            self._unreadable = True
            self._chunks = []

    def answers(self, again: Documents) -> FactorizedAnswers | AnswerSet | None:
        """The answers of every document added; None when there are none. ``again`` gives
        the same (annotator, document) pairs once more, for the exact path."""
        if not self.annotators:
            return None
        self._flush()
        fast = None if self._unreadable else self._factorized()
        if fast is not None:
            return fast
        self._chunks = []
        return _exact_answers(again(), self.source)

    def _factorized(self) -> FactorizedAnswers | AnswerSet | None:
        annotators = self.annotators
        column = pa.concat_arrays(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        if len(column) != len(annotators) or column.null_count:
            return None
        counts = _integers(pc.list_value_length(column))
        if not counts.all():
            return None
        workers = np.array(annotators, dtype=np.str_)
        if any(not a or a[-1] == "\x00" for a in annotators) or not all(
            a < b for a, b in itertools.pairwise(annotators)
        ):
            return None  # unsorted, repeated or odd worker ids: the exact path sorts it out
        entries = pc.list_flatten(column)
        if entries.null_count:
            return None
        item_codes = _sorted_codes(pc.struct_field(entries, [0]))
        label_codes = _sorted_codes(pc.struct_field(entries, [1]))
        if item_codes is None or label_codes is None:
            return None
        del column, entries
        self._chunks = []
        items, item_idx = item_codes
        labels, label_idx = label_codes
        worker_idx = np.repeat(np.arange(len(workers), dtype=np.int64), counts)
        return FactorizedAnswers(
            items, workers, labels, item_idx, worker_idx, label_idx, self.source, first_row=1
        )


def _parse(documents: list[bytes]) -> pa.Array:
    data = b"\n".join(documents)  # canonical JSON has no raw newline: one document a line
    block = max(1 << 20, max(len(d) for d in documents) + 1)  # a block holds whole lines
    try:
        table = pa_json.read_json(
            pa.BufferReader(data),
            read_options=pa_json.ReadOptions(block_size=block),
            parse_options=_PARSE,
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise _Unreadable(str(exc)) from None
    if table.num_rows != len(documents):
        raise _Unreadable("a document was not read as one row")
    column = table.column("labels").combine_chunks()
    return column


def _integers(array: pa.Array) -> npt.NDArray[np.integer[Any]]:
    """A null-free Arrow integer array as numpy, viewing its data buffer. (Any ``to_numpy``
    makes pyarrow import pandas: 0.3 s or more, paid by the oracle's first scoring.)"""
    if array.null_count:
        raise ValueError("nulls in an integer array")
    kind = "i" if pa.types.is_signed_integer(array.type) else "u"
    dtype = np.dtype(f"{kind}{array.type.bit_width // 8}")
    data = array.buffers()[1]
    return np.frombuffer(data, dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)


def _sorted_codes(values: pa.Array) -> tuple[StrArray, IntArray] | None:
    """Sorted distinct strings and each value's index among them; None when a value is empty
    or ends in NUL (the exact path decides those)."""
    if values.null_count:
        return None  # a label entry without an item or label
    encoded = pc.dictionary_encode(values)
    dictionary = encoded.dictionary
    sorted_positions = pc.sort_indices(dictionary)
    distinct = dictionary.take(sorted_positions).to_pylist()
    if any(not v or v[-1] == "\x00" for v in distinct):
        return None
    order = _integers(sorted_positions)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    codes = rank.take(_integers(encoded.indices))
    return np.array(distinct, dtype=np.str_), codes


def _exact_answers(documents: Iterable[tuple[str, bytes]], source: str) -> AnswerSet | None:
    """The per-label reading (what the oracle did before RevealColumns), for the documents
    Arrow's reading might not match."""
    annotators: list[str] = []
    items: list[str] = []
    labels: list[str] = []
    counts: list[int] = []
    for annotator, document in documents:
        annotators.append(annotator)
        entries = json.loads(document)["labels"]
        items.extend([e["item"] for e in entries])
        labels.extend([e["label"] for e in entries])
        counts.append(len(entries))
    if not items:
        return None
    return AnswerSet(
        item=np.array(items, dtype=np.str_),
        worker=np.repeat(np.array(annotators, dtype=np.str_), counts),
        label=np.array(labels, dtype=np.str_),
        rows=np.arange(1, len(items) + 1, dtype=np.int64),
        source=source,
    )
