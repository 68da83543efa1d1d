"""`labelproof import|export label-studio`: Label Studio exports in, consensus labels out.

Thin over ``labelproof.labelstudio``; registered on the main app by ``labelproof.cli``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from labelproof.cli import fail, out

import_app = typer.Typer(help="Bring answers in from labelling tools.", no_args_is_help=True)
export_app = typer.Typer(
    help="Send consensus labels back to labelling tools.", no_args_is_help=True
)


@import_app.command("label-studio")
def import_label_studio(
    export: Annotated[Path, typer.Argument(help="Label Studio export, JSON or JSON_MIN")],
    control: Annotated[
        str, typer.Option("--control", help="name of the Choices control whose label is scored")
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", help="directory for answers.csv, gold.csv, skipped.csv")
    ],
    users: Annotated[
        Path | None,
        typer.Option("--users", help="CSV user,address: Label Studio user id or email -> wallet"),
    ] = None,
    item_key: Annotated[
        str | None,
        typer.Option(
            "--item-key", help="use this task data key as the item instead of the task id"
        ),
    ] = None,
) -> None:
    """Turn a Label Studio export into answers.csv (+ gold.csv from ground-truth annotations)."""
    from labelproof import labelstudio

    try:
        mapping = labelstudio.read_users(users) if users is not None else None
        result = labelstudio.import_export(export, control, mapping, item_key)
    except labelstudio.LabelStudioError as exc:
        fail(str(exc))
    if not result.answers:
        fail(f"{export}: no answers left for control {control!r} ({len(result.skipped)} skipped)")
    written = labelstudio.write_import(result, out_dir)
    items = len({a[0] for a in result.answers})
    workers = len({a[1] for a in result.answers})
    out.print(
        f"{result.export_format} export: {len(result.answers)} answers ({items} items, "
        f"{workers} workers), {len(result.gold)} gold items, {len(result.skipped)} skipped "
        f"-> {', '.join(p.name for p in written)} in {out_dir}",
        highlight=False,
    )
    for reason, count in sorted(result.reasons().items()):
        out.print(f"  skipped {count:>6}  {reason}", highlight=False)


@export_app.command("label-studio")
def export_label_studio(
    labels: Annotated[Path, typer.Argument(help="labels.csv written by `labelproof score`")],
    control: Annotated[str, typer.Option("--control", help="the Choices control (from_name)")],
    to_name: Annotated[
        str, typer.Option("--to-name", help="the object tag the control labels (to_name)")
    ],
    out_path: Annotated[Path, typer.Option("--out", help="predictions JSON to write")],
    model_version: Annotated[
        str, typer.Option("--model-version", help="model_version shown in Label Studio")
    ] = "labelproof",
) -> None:
    """Write consensus labels as Label Studio predictions (score = confidence) for the tasks of
    the project they were imported from."""
    from labelproof import labelstudio

    try:
        predictions = labelstudio.predictions_from_labels(labels, control, to_name, model_version)
    except labelstudio.LabelStudioError as exc:
        fail(str(exc))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(predictions, indent=2, ensure_ascii=False) + "\n", "utf-8")
    out.print(f"{len(predictions)} predictions -> {out_path}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
    app.add_typer(export_app, name="export")
