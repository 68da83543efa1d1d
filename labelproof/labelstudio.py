"""Label Studio in and out: its exports become scoring input, consensus labels go back.

Import (``labelproof import label-studio``) reads the two JSON exports Label Studio documents:

* ``JSON``: a list of tasks ``{"id", "data": {...}, "annotations": [{"id", "completed_by",
  "was_cancelled", "ground_truth", "result": [{"from_name", "to_name", "type": "choices",
  "value": {"choices": [...]}}]}]}``; ``completed_by`` is a user id, or in newer exports an
  object with ``id`` and ``email``;
* ``JSON_MIN``: one flat record per annotation ``{<data keys>, "id": task id, <control>: "label"
  (or {"choices": [...]} when several were chosen), "annotator", "annotation_id", ...}``. It
  carries no ``was_cancelled`` or ``ground_truth`` flag, so gold needs the JSON export.

Every annotation becomes one ``item,worker,label`` answer: item = task id (or a ``data`` key),
worker = the annotator (or the wallet address ``users.csv`` maps them to), label = the single
choice of the named ``Choices`` control. Cancelled (skipped) annotations, annotations without
that control, and annotators missing from ``users.csv`` are left out and reported with the
reason. Annotations flagged ``ground_truth`` go to ``gold.csv`` instead of the answers (the
requester's reference is not a worker's answer to be paid). A control with more than one choice
(``choice="multiple"``) is refused: a set of labels is not one label to infer.

Export (``labelproof export label-studio``) turns ``labels.csv`` of ``labelproof score`` into
Label Studio predictions, ``[{"task": id, "model_version", "score": confidence, "result":
[{"from_name", "to_name", "type": "choices", "value": {"choices": [label]}}]}]``: the body of the
"import predictions" API call for the tasks of the same project (each also works as a task's
``predictions`` entry).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelproof.merkle import MerkleError, to_checksum_address


class LabelStudioError(ValueError):
    """A bad export, users file or labels file; one line naming the file and the place."""


@dataclass(frozen=True)
class Skipped:
    task: str
    annotation: str
    annotator: str
    reason: str


@dataclass
class Imported:
    answers: list[tuple[str, str, str]] = field(default_factory=list)
    gold: dict[str, str] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    export_format: str = "JSON"

    def reasons(self) -> Counter[str]:
        return Counter(s.reason.split(":")[0] for s in self.skipped)


# --------------------------------------------------------------------------------------------
# users.csv
# --------------------------------------------------------------------------------------------


def read_users(path: Path) -> dict[str, str]:
    """``user,address`` rows: a Label Studio user (id or email) to a wallet address."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LabelStudioError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise LabelStudioError(f"{path}: row 1: empty file, expected a header user,address")
    names = [h.strip().lower() for h in rows[0]]
    if "user" not in names or "address" not in names:
        raise LabelStudioError(f"{path}: row 1: header must contain user and address")
    iu, ia = names.index("user"), names.index("address")
    users: dict[str, str] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(iu, ia):
            raise LabelStudioError(f"{path}: row {n}: expected user and address, got {row}")
        user, address = row[iu].strip(), row[ia].strip()
        if not user:
            raise LabelStudioError(f"{path}: row {n}: empty user")
        try:
            checksummed = to_checksum_address(address)
        except MerkleError as exc:
            raise LabelStudioError(f"{path}: row {n}: {exc}") from None
        if user in users:
            raise LabelStudioError(f"{path}: row {n}: user {user!r} listed twice")
        users[user] = checksummed
    return users


# --------------------------------------------------------------------------------------------
# import
# --------------------------------------------------------------------------------------------


def _user_keys(completed_by: Any) -> list[str]:
    """The ways a ``users.csv`` may name this annotator: id first, then email."""
    if isinstance(completed_by, Mapping):
        keys = [completed_by.get("id"), completed_by.get("email")]
    else:
        keys = [completed_by]
    return [str(k) for k in keys if k is not None and not isinstance(k, bool) and str(k)]


def _choice(value: Any, where: str, control: str, path: Path) -> str | None:
    """The single choice in a control's value, None when none was chosen."""
    if isinstance(value, Mapping):
        if "_type" in value:
            raise LabelStudioError(
                f"{path}: {where}: control {control!r} is a {value['_type']} control: only a "
                "Choices control can be imported"
            )
        value = value.get("choices")
    if isinstance(value, str):
        return value.strip() or None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LabelStudioError(
            f"{path}: {where}: control {control!r} does not hold choices: only a Choices "
            "control can be imported"
        )
    if len(value) > 1:
        raise LabelStudioError(
            f"{path}: {where}: control {control!r} has {len(value)} choices {value!r}: "
            'multi-choice (choice="multiple") is refused, scoring needs one label per answer'
        )
    if not value:
        return None
    return value[0].strip() or None


def _item_of(
    task_id: Any, data: Mapping[str, Any], item_key: str | None, where: str, path: Path
) -> str:
    if item_key is None:
        if task_id is None or isinstance(task_id, bool):
            raise LabelStudioError(f"{path}: {where}: task has no id")
        return str(task_id)
    if item_key not in data:
        raise LabelStudioError(f"{path}: {where}: task data has no key {item_key!r}")
    value = data[item_key]
    if isinstance(value, Mapping | list) or value is None or not str(value).strip():
        raise LabelStudioError(f"{path}: {where}: data[{item_key!r}] is not a usable item id")
    return str(value).strip()


def _load(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LabelStudioError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError:
        raise LabelStudioError(f"{path}: not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabelStudioError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, list):
        raise LabelStudioError(
            f"{path}: not a Label Studio export: expected a JSON list of tasks, got "
            f"{type(data).__name__}"
        )
    for n, entry in enumerate(data):
        if not isinstance(entry, Mapping):
            raise LabelStudioError(f"{path}: task #{n}: expected an object")
    return data


def import_export(
    path: Path,
    control: str,
    users: Mapping[str, str] | None = None,
    item_key: str | None = None,
) -> Imported:
    """Answers (and gold) of one ``Choices`` control from a JSON or JSON_MIN export."""
    tasks = _load(path)
    if not tasks:
        raise LabelStudioError(f"{path}: the export holds no tasks")
    is_full = any("annotations" in t for t in tasks)
    records = _full_records(tasks, path) if is_full else _min_records(tasks, path)
    result = Imported(export_format="JSON" if is_full else "JSON_MIN")
    gold_from: dict[str, str] = {}
    seen_control = False
    for rec in records:
        item = _item_of(rec.task_id, rec.data, item_key, rec.where, path)
        annotator = _user_keys(rec.completed_by)
        who = annotator[0] if annotator else ""

        def skip(reason: str, rec: _Record = rec, who: str = who) -> None:
            result.skipped.append(Skipped(str(rec.task_id), str(rec.annotation_id), who, reason))

        if rec.cancelled:
            skip("cancelled: the annotator skipped the task")
            continue
        has_control = control in rec.values
        seen_control = seen_control or has_control
        label = _choice(rec.values[control], rec.where, control, path) if has_control else None
        if label is None:
            skip(f"no choice: the annotation has no {control!r} choice")
            continue
        if rec.ground_truth:
            earlier = result.gold.get(item)
            if earlier is not None and earlier != label:
                raise LabelStudioError(
                    f"{path}: {rec.where}: ground truth {label!r} for item {item!r} conflicts "
                    f"with {earlier!r} ({gold_from[item]})"
                )
            result.gold[item] = label
            gold_from[item] = rec.where
            skip("ground truth: written to gold.csv")
            continue
        if not annotator:
            skip("no annotator: completed_by is missing")
            continue
        worker = who
        if users is not None:
            mapped = next((users[k] for k in annotator if k in users), None)
            if mapped is None:
                skip(f"unknown user: {who} is not in users.csv")
                continue
            worker = mapped
        result.answers.append((item, worker, label))
    if not seen_control:
        found = sorted({name for rec in records for name in rec.controls})
        if not is_full:  # JSON_MIN mixes data keys in: name only those holding a label
            found = [
                n
                for n in found
                if all(isinstance(r.values.get(n, ""), str | Mapping) for r in records)
            ]
        raise LabelStudioError(
            f"{path}: no annotation has a control named {control!r}; controls found: "
            f"{', '.join(found) or 'none'}"
        )
    return result


@dataclass(frozen=True)
class _Record:
    """One annotation, whichever export it came from."""

    task_id: Any
    data: Mapping[str, Any]
    annotation_id: Any
    completed_by: Any
    cancelled: bool
    ground_truth: bool
    values: Mapping[str, Any]  # control name -> its value ({"choices": [...]} or a label)
    where: str

    @property
    def controls(self) -> tuple[str, ...]:
        return tuple(self.values)


def _full_records(tasks: list[Any], path: Path) -> list[_Record]:
    records: list[_Record] = []
    for n, task in enumerate(tasks):
        task_id = task.get("id")
        data = task.get("data")
        if not isinstance(data, Mapping):
            data = {}
        annotations = task.get("annotations")
        if annotations is None:
            annotations = []
        if not isinstance(annotations, list):
            raise LabelStudioError(f"{path}: task {task_id} (#{n}): annotations is not a list")
        for a, ann in enumerate(annotations):
            if not isinstance(ann, Mapping):
                raise LabelStudioError(f"{path}: task {task_id} annotation #{a}: not an object")
            annotation_id = ann.get("id", f"#{a}")
            where = f"task {task_id} annotation {annotation_id}"
            results = ann.get("result")
            if results is None:
                results = []
            if not isinstance(results, list):
                raise LabelStudioError(f"{path}: {where}: result is not a list")
            values: dict[str, Any] = {}
            for r in results:
                if not isinstance(r, Mapping) or "from_name" not in r:
                    raise LabelStudioError(f"{path}: {where}: a result without from_name")
                name = str(r["from_name"])
                kind = r.get("type")
                value = r.get("value")
                if kind != "choices":
                    # Kept so that naming this control gives a clear "not a Choices" error.
                    values.setdefault(name, {"_type": kind})
                    continue
                if name in values:  # the same control twice in one annotation: two labels
                    raise LabelStudioError(
                        f"{path}: {where}: control {name!r} appears twice: multi-choice "
                        "is refused, scoring needs one label per answer"
                    )
                values[name] = value if isinstance(value, Mapping) else {"choices": value}
            records.append(
                _Record(
                    task_id,
                    data,
                    annotation_id,
                    ann.get("completed_by"),
                    bool(ann.get("was_cancelled")),
                    bool(ann.get("ground_truth")),
                    values,
                    where,
                )
            )
    return records


# Keys JSON_MIN adds to each record besides the task data and the controls.
_MIN_KEYS = frozenset(
    {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time", "agreement"}
)


def _min_records(tasks: list[Any], path: Path) -> list[_Record]:
    records: list[_Record] = []
    for n, rec in enumerate(tasks):
        annotation_id = rec.get("annotation_id", f"#{n}")
        where = f"task {rec.get('id')} annotation {annotation_id}"
        # Data keys and controls share one level: any key that is not JSON_MIN's own is either.
        # Both are offered as controls; only the named one is read.
        values = {str(k): v for k, v in rec.items() if k not in _MIN_KEYS}
        records.append(
            _Record(
                rec.get("id"),
                rec,
                annotation_id,
                rec.get("annotator"),
                bool(rec.get("was_cancelled")),
                bool(rec.get("ground_truth")),
                values,
                where,
            )
        )
    return records


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------


def write_import(result: Imported, out_dir: Path) -> list[Path]:
    """``answers.csv``, ``gold.csv`` (when there is ground truth) and ``skipped.csv``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "answers.csv"]
    with written[0].open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["item", "worker", "label"])
        w.writerows(result.answers)
    if result.gold:
        written.append(out_dir / "gold.csv")
        with written[-1].open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["item", "label"])
            w.writerows(sorted(result.gold.items()))
    written.append(out_dir / "skipped.csv")
    with written[-1].open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["task", "annotation", "annotator", "reason"])
        w.writerows((s.task, s.annotation, s.annotator, s.reason) for s in result.skipped)
    return written


# --------------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------------


def predictions_from_labels(
    labels_csv: Path, control: str, to_name: str, model_version: str
) -> list[dict[str, Any]]:
    """Label Studio predictions from ``labels.csv`` (``item,label,confidence``); the items must
    be task ids (integers), as ``import label-studio`` makes them without ``--item-key``."""
    try:
        text = labels_csv.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LabelStudioError(f"{labels_csv}: cannot read: {exc.strerror or exc}") from exc
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise LabelStudioError(f"{labels_csv}: row 1: empty file, expected item,label,confidence")
    names = [h.strip().lower() for h in rows[0]]
    if not {"item", "label", "confidence"} <= set(names):
        raise LabelStudioError(
            f"{labels_csv}: row 1: header must contain item, label and confidence (the "
            "labels.csv of `labelproof score`)"
        )
    ii, il, ic = names.index("item"), names.index("label"), names.index("confidence")
    predictions: list[dict[str, Any]] = []
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(ii, il, ic):
            raise LabelStudioError(f"{labels_csv}: row {n}: expected item, label, confidence")
        item, label, confidence = row[ii].strip(), row[il], row[ic].strip()
        try:
            task = int(item)
        except ValueError:
            raise LabelStudioError(
                f"{labels_csv}: row {n}: item {item!r} is not a Label Studio task id"
            ) from None
        try:
            score = float(confidence)
        except ValueError:
            raise LabelStudioError(
                f"{labels_csv}: row {n}: confidence {confidence!r} is not a number"
            ) from None
        if not 0.0 <= score <= 1.0:
            raise LabelStudioError(f"{labels_csv}: row {n}: confidence {score} not in [0, 1]")
        if not label.strip():
            raise LabelStudioError(f"{labels_csv}: row {n}: empty label")
        predictions.append(
            {
                "task": task,
                "model_version": model_version,
                "score": score,
                "result": [
                    {
                        "from_name": control,
                        "to_name": to_name,
                        "type": "choices",
                        "value": {"choices": [label]},
                    }
                ],
            }
        )
    if not predictions:
        raise LabelStudioError(f"{labels_csv}: row 2: no labels after the header")
    return predictions
