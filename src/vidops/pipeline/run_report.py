"""A flow run's result on its Prefect page: test figures with their interval, the gate's
decision, the registered version with a link to it in MLflow, and the confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from vidops.registry.descriptions import TRAINING_VIEW, mlflow_ui_link, recipe_cv_sentence, version_page

RESULT_KEY = "pipeline-result"
CONFUSION_KEY = "confusion-matrix"


def mlflow_version_link(name: str, version: str, root: Path) -> str:
    """The version's page on the MLflow server in use (a Markdown link when it is up)."""
    where = mlflow_ui_link(f"{version_page(name, version)}?{TRAINING_VIEW}", root)
    if where.startswith("http"):
        return f"[{name} version {version}]({where})"
    return f"{name} version {version}: {where}"


def result_markdown(summary: dict[str, Any], root: Path) -> str:
    lines = ["# video-pipeline result", ""]
    metrics = summary.get("metrics")
    if metrics:
        low, high = metrics.get("macro_f1_ci", [None, None])
        interval = f" (95% interval {low:.3f} to {high:.3f})" if low is not None else ""
        lines += ["| test figure | value |", "| --- | --- |",
                  f"| macro F1 | {metrics['macro_f1']:.3f}{interval} |",
                  f"| accuracy | {metrics['accuracy']:.3f} |",
                  f"| weighted F1 | {metrics['weighted_f1']:.3f} |", ""]
    if summary.get("recipe_cv"):
        lines += [recipe_cv_sentence(summary["recipe_cv"]), ""]
    promotion = summary.get("promotion")
    if promotion:
        decision = "promoted to `champion`" if promotion["promoted"] else "not promoted"
        link = mlflow_version_link(promotion["model_name"], promotion["version"], root)
        what = "Registered" if promotion.get("registered", True) else "Champion, unchanged"
        lines += [f"**Gate:** {decision}: {promotion['reason']}", "", f"**{what}:** {link}", ""]
    lines += ["| stage | status | seconds |", "| --- | --- | --- |"]
    lines += [f"| {stage} | {status} | {summary['seconds'].get(stage, '')} |"
              for stage, status in summary["stages"].items()]
    if summary.get("imported"):
        lines += ["", f"Imported {summary['imported']['copied']} new clips."]
    return "\n".join(lines) + "\n"


def publish(summary: dict[str, Any], root: Path, metrics: dict[str, Any] | None) -> None:
    """The result (markdown) and, when the test split was scored (``metrics``: all of
    metrics.json), its confusion matrix (table)."""
    create_markdown_artifact(key=RESULT_KEY, markdown=result_markdown(summary, root),
                             description="test figures, gate decision, registered version")
    if metrics:
        classes, matrix = metrics.get("classes"), metrics.get("confusion_matrix")
        if classes and matrix:
            rows = [{"true label": label, **{f"predicted {c}": n for c, n in zip(classes, row,
                                                                                 strict=True)}}
                    for label, row in zip(classes, matrix, strict=True)]
            create_table_artifact(key=CONFUSION_KEY, table=rows,
                                  description="test split: rows are true labels")
