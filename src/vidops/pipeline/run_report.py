"""A flow run's result on its Prefect page: test figures with their interval, the gate's
decision, the registered version with a link to it in MLflow, and the confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from vidops.evaluation.figures import TestFigures
from vidops.registry.decision import Decision
from vidops.registry.descriptions import TRAINING_VIEW, mlflow_ui_link, recipe_cv_sentence, version_page

RESULT_KEY = "pipeline-result"
CONFUSION_KEY = "confusion-matrix"


def mlflow_version_link(name: str, version: str, root: Path) -> str:
    """The version's page on the MLflow server in use (a Markdown link when it is up)."""
    where = mlflow_ui_link(f"{version_page(name, version)}?{TRAINING_VIEW}", root)
    if where.startswith("http"):
        return f"[{name} version {version}]({where})"
    return f"{name} version {version}: {where}"


def result_markdown(summary: dict[str, Any], root: Path, figures: TestFigures | None = None,
                    decision: Decision | None = None) -> str:
    lines = ["# video-pipeline result", ""]
    if figures is not None:
        low, high = figures.macro_f1_ci
        lines += ["| test figure | value |", "| --- | --- |",
                  f"| macro F1 | {figures.macro_f1:.3f} (95% interval {low:.3f} to {high:.3f}) |",
                  f"| accuracy | {figures.accuracy:.3f} |",
                  f"| weighted F1 | {figures.weighted_f1:.3f} |", ""]
        if figures.recipe_cv is not None:
            lines += [recipe_cv_sentence(figures.recipe_cv), ""]
    if decision is not None:
        verdict = "promoted to `champion`" if decision.promoted else "not promoted"
        link = mlflow_version_link(decision.model_name, decision.version, root)
        what = "Registered" if decision.registered else "Champion, unchanged"
        lines += [f"**Gate:** {verdict}: {decision.reason}", "", f"**{what}:** {link}", ""]
    lines += ["| stage | status | seconds |", "| --- | --- | --- |"]
    lines += [f"| {stage} | {status} | {summary['seconds'].get(stage, '')} |"
              for stage, status in summary["stages"].items()]
    if summary.get("imported"):
        lines += ["", f"Imported {summary['imported']['copied']} new clips."]
    return "\n".join(lines) + "\n"


def publish(summary: dict[str, Any], root: Path, figures: TestFigures | None,
            decision: Decision | None) -> None:
    """The result (markdown) and, when the test split was scored, its confusion matrix
    (table)."""
    create_markdown_artifact(key=RESULT_KEY,
                             markdown=result_markdown(summary, root, figures, decision),
                             description="test figures, gate decision, registered version")
    if figures is not None and figures.classes and figures.confusion_matrix:
        create_table_artifact(key=CONFUSION_KEY,
                              table=confusion_rows(figures.classes, figures.confusion_matrix),
                              description="test split: rows are true labels")


# More classes than this: one row per class instead of a matrix. Prefect's table shows
# about five "predicted ..." columns in a 1400-pixel window; the rest scroll out of sight
# (seen in headless Chromium on a 10-class project).
WIDE = 5


def confusion_rows(classes: list[str], matrix: list[list[int]]) -> list[dict[str, Any]]:
    """The test split's confusion as table rows: the matrix up to ``WIDE`` classes; past that,
    per true class its clips, how many were right, and what it was taken for most often."""
    if len(classes) <= WIDE:
        return [{"true label": label, **{f"predicted {c}": n for c, n in zip(classes, row,
                                                                                strict=True)}}
                for label, row in zip(classes, matrix, strict=True)]
    rows = []
    for i, (label, row) in enumerate(zip(classes, matrix, strict=True)):
        mistakes = sorted(((n, classes[j]) for j, n in enumerate(row) if j != i and n),
                          reverse=True)
        # "none", not "-": Prefect renders cells as Markdown, where "-" is a bullet
        rows.append({"true label": label, "clips": sum(row), "right": row[i],
                     "taken for": ", ".join(f"{c} ({n})" for n, c in mistakes[:3]) or "none"})
    return rows
