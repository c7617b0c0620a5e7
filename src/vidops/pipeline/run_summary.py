"""The summary that ends `vidops run` and `vidops demo`: what ran, how good (with its
interval and the recipe's cross-validated figure), what the gate decided and why, and
where to look. One function, so the two entry points cannot drift apart."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path
from typing import Any

from vidops.config import load_params
from vidops.evaluation.figures import TestFigures
from vidops.registry.decision import Decision
from vidops.registry.descriptions import TRAINING_VIEW, mlflow_ui_link, recipe_cv_sentence, version_page

IN_FLOW = "VIDOPS_IN_FLOW"  # set for the stages a flow runs: the flow prints the summary


def summary_lines(summary: dict[str, Any] | None, params: Path = Path("params.yaml")
                  ) -> list[str]:
    """The lines of the summary of one run: a flow's (``video_pipeline``'s return value, whose
    stages it lists first), or None at the end of `dvc repro` (the register stage's)."""
    paths = load_params(params).paths
    out = []
    if summary is not None:
        out += ["", "== stages =="]
        out += [f"  {stage:9s} {status}" for stage, status in summary["stages"].items()]
    metrics_path, promotion_path = Path(paths.metrics), Path(paths.promotion)
    if metrics_path.is_file():
        m = TestFigures.read(metrics_path)
        f1_low, f1_high = m.macro_f1_ci
        out += ["", "== test metrics ==",
                f"  accuracy {m.accuracy:.3f}  macro F1 {m.macro_f1:.3f} "
                f"[95% CI {f1_low:.2f}, {f1_high:.2f}]  weighted F1 {m.weighted_f1:.3f}  "
                f"({m.n_clips} clips)"]
        out += [f"  {name:10s} P {f['precision']:.2f} R {f['recall']:.2f} F1 {f['f1']:.2f} "
                f"n={f['support']}" for name, f in m.per_class.items()]
        if m.recipe_cv is not None:
            out += textwrap.wrap(recipe_cv_sentence(m.recipe_cv, markdown=False), 90,
                                 initial_indent="  ", subsequent_indent="  ")
    promotion = Decision.read(promotion_path) if promotion_path.is_file() else None
    if promotion:
        out += ["", "== registry ==",
                f"  {promotion.model_name} v{promotion.version}: "
                f"{'champion' if promotion.promoted else 'challenger only'} - "
                f"{promotion.reason}"]
    out += ["", "== where to look =="]
    out += [f"  {line}" for line in (
        f"{paths.confusion}, {paths.curves}   pictures of the result",
        f"{paths.metrics}, {paths.validation}   figures and the data verdict",
        f"{paths.data_docs}/verdict.html   the data verdict as a page (Great Expectations' "
        "Data Docs beside it)",
        "dvc repro / dvc metrics show / dvc plots show   the DVC view (`make plots-offline` "
        "in the vidops checkout, once per user: the plots page then draws with no network)",
        "dvc exp show --drop '.*' --keep 'Experiment|macro_f1|accuracy|arch'   this run "
        "in the `workspace` row (`main` shows ! until dvc.lock and the reports are committed)",
        f"{_mlflow_page(promotion)}   the model version in MLflow (its runs and the "
        "registry beside it)",
        f"vidops predict {_a_test_clip(Path(paths.predictions))}   the champion on a clip",
    )]
    return out


def _mlflow_page(promotion: Decision | None) -> str:
    page = (version_page(promotion.model_name, promotion.version) if promotion
            else "#/experiments")
    return mlflow_ui_link(f"{page}?{TRAINING_VIEW}", Path.cwd()).replace("`", "")


def _a_test_clip(predictions: Path) -> str:
    """A clip of the test split to try `vidops predict` on."""
    if predictions.is_file():
        with predictions.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                return row["path"]
    return "CLIP.mp4"
