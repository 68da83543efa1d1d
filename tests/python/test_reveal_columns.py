"""labelproof.oracle.reveal_columns: reveals read as Arrow columns give exactly the answers the
per-label reading (json.loads, numpy string arrays) gave, or are left to that reading; and a
bundle streamed into the store is served byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from labelproof.oracle import reveal_columns
from labelproof.oracle.reveal_columns import RevealColumns, _exact_answers
from labelproof.oracle.store import ReportRow, Store, StoreError
from labelproof.scoring import AnswerSet, FactorizedAnswers, ScoringInputError, score
from labelproof.spec import canonical_json

SALT = "0x" + "11" * 32


def document(annotator: str, entries: list[tuple[Any, Any]]) -> bytes:
    """A stored reveal document's shape (what the columns read: labels[].item/label)."""
    labels = [{"item": item, "label": label, "salt": SALT} for item, label in entries]
    return canonical_json(
        {"annotator": annotator, "format": "labelproof-reveal/1", "labels": labels}
    )


def read(pairs: list[tuple[str, bytes]]) -> FactorizedAnswers | AnswerSet | None:
    columns = RevealColumns("test reveals")
    for annotator, doc in pairs:
        columns.add(annotator, doc)
    return columns.answers(lambda: pairs)


def as_rows(answers: FactorizedAnswers | AnswerSet) -> AnswerSet:
    return answers.to_answer_set() if isinstance(answers, FactorizedAnswers) else answers


def assert_same_answers(pairs: list[tuple[str, bytes]]) -> FactorizedAnswers | AnswerSet | None:
    got = read(pairs)
    want = _exact_answers(pairs, "test reveals")
    if want is None:
        assert got is None
        return None
    assert got is not None
    rows = as_rows(got)
    for field in ("item", "worker", "label", "rows"):
        assert getattr(rows, field).tolist() == getattr(want, field).tolist(), field
    assert got.source == want.source
    return got


def outcome(answers: FactorizedAnswers | AnswerSet) -> bytes | str:
    try:
        return score(answers, None, method="ds", budget=10**6).report_bytes()
    except ScoringInputError as exc:
        return str(exc)


# Any text (none with surrogates: stored documents are UTF-8), so also "", trailing NULs,
# quotes, backslashes and characters beyond the BMP.
cells = st.text(max_size=6)
reveal_entries = st.lists(st.tuples(cells, cells), max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    reveals=st.lists(st.tuples(st.text(max_size=4), reveal_entries), max_size=6),
    sort=st.booleans(),
)
def test_columns_give_the_per_label_answers(
    reveals: list[tuple[str, list[tuple[str, str]]]], sort: bool
) -> None:
    """Whatever the documents hold (odd strings, repeated or unsorted annotators, empty label
    lists), the answers, and so every score and error, are the per-label reading's."""
    if sort:
        reveals = sorted(reveals)
    pairs = [(annotator, document(annotator, entries)) for annotator, entries in reveals]
    got = assert_same_answers(pairs)
    want = _exact_answers(pairs, "test reveals")
    if got is not None and want is not None:
        assert outcome(got) == outcome(want)


def test_plain_reveals_take_the_columnar_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reveals as the oracle stores them are read without the per-label path, over several
    Arrow batches, and score exactly as the per-label reading does."""
    monkeypatch.setattr(reveal_columns, "BATCH_BYTES", 2_000)  # many batches
    rng = np.random.default_rng(3)
    items = [f"img-{i:04d}\u00e9" for i in range(60)]
    pairs = []
    for n in range(40):
        annotator = "0x" + f"{n + 1:040x}"
        chosen = sorted(rng.choice(len(items), 15, replace=False).tolist())
        entries = [(items[i], ["cat", "dog", 'b"ird\\'][int(rng.integers(3))]) for i in chosen]
        pairs.append((annotator, document(annotator, entries)))
    got = assert_same_answers(pairs)
    assert isinstance(got, FactorizedAnswers)
    exact = _exact_answers(pairs, "test reveals")
    assert exact is not None
    assert outcome(got) == outcome(exact)


@pytest.mark.parametrize(
    "entries",
    [
        [("a\x00", "cat")],  # numpy drops a trailing NUL: "a\x00" and "a" are one item there
        [("a", "")],  # an empty label: the scorer's error names its row
        [(5, "cat")],  # not a string
    ],
)
def test_odd_documents_are_left_to_the_per_label_reading(entries: list[tuple[Any, Any]]) -> None:
    pairs = [
        ("0x01", document("0x01", [("a", "cat"), ("b", "dog")])),
        ("0x02", document("0x02", entries)),
    ]
    if isinstance(entries[0][0], int):
        # json.loads gives an int, which numpy's string array spells "5".
        got = read(pairs)
        assert isinstance(got, AnswerSet)
        assert got.item.tolist() == ["a", "b", "5"]
        return
    got = assert_same_answers(pairs)
    assert isinstance(got, AnswerSet)


def test_a_label_entry_without_a_label_is_refused_as_before() -> None:
    doc = canonical_json({"labels": [{"item": "a", "salt": SALT}]})
    with pytest.raises(KeyError):
        read([("0x01", doc)])


def test_no_reveals_no_answers() -> None:
    assert read([]) is None
    assert read([("0x01", document("0x01", []))]) is None


# -- the streamed bundle in the store


def report_row(bundle: bytes, inputs_hash: str, round_: int = 0) -> ReportRow:
    return ReportRow(
        task_id=4,
        round=round_,
        report=b"{}",
        tree_json="{}",
        root="0x" + "00" * 32,
        total=1,
        report_hash="0x" + "00" * 32,
        bundle=bundle,
        inputs_hash=inputs_hash,
        gold_status="none",
        created_at=0.0,
    )


def test_a_streamed_bundle_is_served_byte_for_byte(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'o.sqlite3'}")
    # 15 MB in 3,000 pieces: several rows of BUNDLE_PART bytes.
    pieces = [b'{"a":[', *[b'"' + bytes([65 + n % 26]) * 5000 + b'",' for n in range(3000)]]
    pieces.append(b"0]}")
    bundle = b"".join(pieces)
    digest = "0x" + keccak(bundle).hex()
    with store.write() as tx:
        tx.add_report(report_row(b"", digest), bundle=iter(pieces), bundle_size=len(bundle))
    with store.read() as tx:
        assert tx.bundle(digest) == bundle
        report = tx.report(4)
        assert report is not None and report.bundle == bundle
    assert json.loads(bundle)["a"][-1] == 0
    # A round scored again replaces the streamed bundle with an in-row one, and back.
    with store.write() as tx:
        tx.add_report(report_row(b"[1]", "0x" + "01" * 32))
    with store.read() as tx:
        assert tx.bundle(digest) is None
        assert tx.bundle("0x" + "01" * 32) == b"[1]"
        report = tx.report(4, 0)
        assert report is not None and report.bundle == b"[1]"


def test_a_report_read_without_its_bundle_leaves_it_unread(tmp_path: Path) -> None:
    """Status pages read a report's small fields only: a large task's bundle is hundreds of
    MB, and GET /tasks/{id} is polled."""
    store = Store(f"sqlite:///{tmp_path / 'o.sqlite3'}")
    pieces = [b'{"a":', b"[1,2]", b"}"]
    digest = "0x" + keccak(b"".join(pieces)).hex()
    with store.write() as tx:
        tx.add_report(report_row(b"", digest), bundle=iter(pieces), bundle_size=11)
    with store.read() as tx:
        light = tx.report(4, with_bundle=False)
        full = tx.report(4)
        assert tx.scored_tasks() == {4}
    assert light is not None and full is not None
    assert light.bundle is None and full.bundle_bytes == b'{"a":[1,2]}'
    assert light.report_hash == full.report_hash and light.round == full.round == 0
    with pytest.raises(StoreError, match="without its bundle"):
        light.bundle_bytes
    with pytest.raises(StoreError, match="without its bundle"), store.write() as tx:
        tx.add_report(light)  # never stored as an empty bundle by mistake


@pytest.mark.parametrize("announced", [10, 12])
def test_a_streamed_bundle_of_another_size_is_refused(tmp_path: Path, announced: int) -> None:
    store = Store(f"sqlite:///{tmp_path / 'o.sqlite3'}")
    with pytest.raises(StoreError, match="announced"), store.write() as tx:
        tx.add_report(
            report_row(b"", "0x" + "02" * 32), bundle=[b"01234", b"56789A"], bundle_size=announced
        )
    with store.read() as tx:
        assert tx.report(4) is None  # the transaction was rolled back whole


# -- the scheduler's helpers around the columns


def test_background_keccak_is_the_keccak_of_the_pieces() -> None:
    from labelproof.oracle.scheduler import BackgroundKeccak

    pieces = [bytes([n % 251]) * (n * 37 % 70_000) for n in range(200)]  # ~7 MB, many batches
    with BackgroundKeccak(b"head") as hasher:
        for piece in pieces:
            hasher.update(piece)
        digest = hasher.hexdigest()
    assert "0x" + digest == "0x" + keccak(b"head" + b"".join(pieces)).hex()
    assert hasher.hexdigest() == digest  # asked again: the same, the thread is gone
    # A caller that fails half-way still ends the hashing thread.
    with pytest.raises(RuntimeError), BackgroundKeccak() as broken:
        broken.update(b"x" * 3_000_000)
        raise RuntimeError("scoring failed")
    assert not broken._thread.is_alive()


def test_gc_paused_restores_the_collector() -> None:
    import gc

    from labelproof.oracle.scheduler import gc_paused

    assert gc.isenabled()
    with pytest.raises(ValueError), gc_paused():
        assert not gc.isenabled()
        raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()
