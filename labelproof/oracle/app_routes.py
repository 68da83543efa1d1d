"""Read-only endpoints for the annotators' web app (labelproof.app): the task index, a task's
spec, and a task's results per annotator (quality, threshold, payout, rank and why).

Mounted on the oracle's API by ``create_app``; errors are the API's ``{"error": ...}``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path

from labelproof.spec import TaskSpec

if TYPE_CHECKING:
    from labelproof.oracle.api import ApiContext

# Module level: with postponed annotations FastAPI resolves parameter types by name here.
TaskId = Annotated[int, Path(description="the escrow's task id", ge=0)]


def app_router(ctx: ApiContext) -> APIRouter:
    from labelproof.oracle.api import ApiError

    router = APIRouter()

    def spec_of(task_id: int) -> TaskSpec | None:
        with ctx.store.read() as tx:
            row = tx.spec(task_id)
        return None if row is None else TaskSpec.from_json(row[0])

    @router.get("/index/tasks", summary="every task this oracle follows, with its spec summary")
    def index() -> dict[str, Any]:
        with ctx.store.read() as tx:
            tasks = tx.tasks()
            specs = {t.task_id: tx.spec(t.task_id) for t in tasks}
            scored_ids = tx.scored_tasks()
            scored = {t.task_id: t.task_id in scored_ids for t in tasks}
        out = []
        for t in sorted(tasks, key=lambda t: t.task_id):
            row = specs[t.task_id]
            spec = None if row is None else TaskSpec.from_json(row[0])
            out.append(
                {
                    "task_id": t.task_id,
                    "title": None if spec is None else spec.title,
                    "labels": None if spec is None else list(spec.labels),
                    "item_count": None if spec is None else len(spec.items),
                    "spec_registered": spec is not None,
                    "scored": scored[t.task_id],
                    "token": t.token,
                    "budget": str(t.budget),
                    "annotation_deadline": t.annotation_deadline,
                    "reveal_deadline": t.reveal_deadline,
                }
            )
        return {"tasks": out}

    @router.get("/tasks/{task_id}/spec", summary="the task's registered spec (items and labels)")
    def get_spec(task_id: TaskId) -> Any:
        spec = spec_of(task_id)
        if spec is None:
            raise ApiError(404, f"task {task_id} has no spec registered with this oracle")
        return json.loads(spec.to_json())

    @router.get(
        "/tasks/{task_id}/results",
        summary="per annotator: quality, the minimum quality, payout, rank and why",
    )
    def results(task_id: TaskId) -> dict[str, Any]:
        with ctx.store.read() as tx:
            report = tx.report(task_id, with_bundle=False)
            reveals = tx.reveals(task_id)
        if report is None:
            raise ApiError(404, f"task {task_id} has not been scored by this oracle yet")
        doc = json.loads(report.report)
        return {"task_id": task_id, "round": report.round, **results_of(doc, reveals)}

    return router


def results_of(doc: dict[str, Any], reveals: list[Any]) -> dict[str, Any]:
    """Rank by quality (1 = best); an unpaid annotator is told why."""
    scoring = doc.get("scoring") or {}
    params = scoring.get("parameters") or {}
    threshold = float(params.get("min_quality", 0))  # already rounded to the fixed point
    workers: dict[str, dict[str, Any]] = scoring.get("workers") or {}
    ordered = sorted(workers.items(), key=lambda kv: (-float(kv[1]["quality"]), kv[0]))
    excluded = {str(a).lower() for a in doc.get("excluded") or []}
    rows = []
    for rank, (account, w) in enumerate(ordered, start=1):
        quality = float(w["quality"])
        payout = int(w["payout"])
        if payout > 0:
            why = f"quality {quality:.3f} is at or above the threshold {threshold:.3f}"
        elif quality < threshold:
            why = f"below the quality threshold {threshold:.3f} (quality {quality:.3f})"
        else:
            why = "no share of the budget was left for this quality"
        rows.append(
            {
                "account": account,
                "rank": rank,
                "quality": quality,
                "labels": int(w.get("labels", 0)),
                "payout": str(payout),
                "why": why,
            }
        )
    revealed = {str(r.annotator).lower() for r in reveals}
    for account in sorted(revealed - {a.lower() for a in workers}):
        why = "excluded from scoring" if account in excluded else "not scored"
        rows.append(
            {
                "account": account,
                "rank": None,
                "quality": None,
                "labels": 0,
                "payout": "0",
                "why": why,
            }
        )
    return {"threshold": threshold, "annotators": len(workers), "results": rows}
