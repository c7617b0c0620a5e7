"""Stage evaluate: score the trained model on the test split with scikit-learn."""

from __future__ import annotations

import csv
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from vidops.data.clips import load_frames, usable_clips
from vidops.errors import VidopsError
from vidops.evaluation.figures import TestFigures
from vidops.evaluation.intervals import intervals
from vidops.evaluation.metrics import classification_summary
from vidops.evaluation.plots import plot_confusion
from vidops.evaluation.recipe_cv import Recipe, run_recipe_cv
from vidops.evaluation.video_level import video_level_probs
from vidops.fileio import atomic_write, atomic_write_json, digest_file, home_project
from vidops.models.artifact import load_model_dir, model_identity
from vidops.registry.tracking import tracking_uri
from vidops.stages.context import StageContext


class EvaluateError(VidopsError, RuntimeError):
    """There is nothing to evaluate on."""


@dataclass(frozen=True)
class EvaluateResult:
    metrics: TestFigures
    run_id: str


def run_evaluate(ctx: StageContext) -> EvaluateResult:
    """Score the test split; ``paths.metrics`` gets every figure, ``paths.scores`` the short
    flat set DVC users read (`dvc metrics show`, `dvc exp show`): the headline figures and
    their intervals, nothing nested, no prose.

    The recipe train ran (params' model and train sections) is also cross-validated over
    all usable clips (evaluation/recipe_cv.py, as ``evaluate.recipe_cv`` says):
    ``cv_macro_f1`` and its interval beside the test figures.
    """
    cfg, paths, root = ctx.params.evaluate, ctx.paths, ctx.root
    manifest_path, model_dir, metrics_path = paths.manifest, paths.model, paths.metrics
    predictions_path = paths.predictions
    recipe = Recipe(ctx.params.model, ctx.params.train)
    usable = usable_clips(manifest_path, paths.frames, paths.validation)
    test = [c for c in usable if c.split == "test"]
    if not test:
        raise EvaluateError(f"{manifest_path}: no usable clip in the test split")
    identity = model_identity(model_dir)  # a half-replaced folder is refused before it is scored
    loaded = load_model_dir(model_dir)
    frames = load_frames(test)
    probs = loaded.predict_proba(frames, cfg.batch_size)
    predicted = [loaded.classes[i] for i in probs.argmax(1)]
    truth = [c.label for c in test]
    # Score over every class either side knows, so a class the model never saw counts.
    classes = sorted(set(loaded.classes) | set(truth))
    groups = [c.group for c in test]
    metrics = classification_summary(truth, predicted, classes)
    metrics.update(intervals(truth, predicted, classes, groups))
    metrics["level"] = "clip"  # the top level is what the gate compares (one centred view)
    if cfg.views > 1:
        video_probs = video_level_probs(loaded, test, cfg.views, cfg.batch_size, frames, probs)
        video_pred = [loaded.classes[i] for i in video_probs.argmax(1)]
        metrics["video_level"] = {"views": cfg.views,
                                  **classification_summary(truth, video_pred, classes),
                                  **intervals(truth, video_pred, classes, groups)}
    low, high = metrics["macro_f1_ci"]
    boot = metrics["bootstrap"]
    how = (f"all {'right' if metrics['accuracy'] else 'wrong'}, Jeffreys-prior interval"
           if "macro_f1_ci" in boot else f"{boot['units']} {boot['unit']}s resampled")
    plot_confusion(metrics["confusion_matrix"], classes, paths.confusion,
                   f"test split: macro F1 {metrics['macro_f1']:.3f} [95% CI {low:.2f}, {high:.2f}]"
                   f"\n{len(test)} clips, {how}")
    _write_predictions(predictions_path, test, truth, predicted, probs, loaded.classes)
    started = time.monotonic()
    cv = run_recipe_cv(cfg, recipe, usable, home_project(root) / recipe.train.feature_cache)
    cv_seconds = time.monotonic() - started
    metrics["recipe_cv"] = dataclasses.asdict(cv)
    # metrics.json goes last and names what it scored: the model folder's files and the
    # predictions written with it. register checks both, so a kill between these writes,
    # or a model trained after this evaluation, is refused instead of registered.
    metrics["scored"] = {"model_files": identity.files,
                         "predictions": digest_file(predictions_path)}
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(paths.scores, {**short_scores(metrics), **cv.scores(),
                       # what model.arch auto chose: `dvc exp show` lists it beside the figures
                       "arch": loaded.arch})
    written = TestFigures.of(metrics)
    written.write(metrics_path)

    run_id = identity.run_id
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(root))
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items() if isinstance(v, float)})
        video = metrics.get("video_level", {})
        mlflow.log_metrics({f"test_video_{k}": v for k, v in video.items() if isinstance(v, float)})
        for prefix, figures in (("test", metrics), ("test_video", video)):
            for name in ("accuracy", "macro_f1"):
                if f"{name}_ci" in figures:
                    low, high = figures[f"{name}_ci"]
                    mlflow.log_metrics({f"{prefix}_{name}_ci_low": low,
                                        f"{prefix}_{name}_ci_high": high})
        mlflow.log_dict({"most_confused": metrics["most_confused"]}, "evaluation/most_confused.json")
        mlflow.set_tag("recipe_cv", cv.status)
        mlflow.log_metrics({**cv.scores(), "cv_seconds": cv_seconds})
        for fold, f1 in enumerate(cv.fold_f1, start=1):
            mlflow.log_metric("cv_fold_macro_f1", f1, step=fold)
        for name, figures in metrics["per_class"].items():
            mlflow.log_metric(f"test_f1_{name}", figures["f1"])
        for path in (metrics_path, paths.confusion, predictions_path):
            mlflow.log_artifact(str(path), artifact_path="evaluation")
    return EvaluateResult(written, run_id)


def short_scores(metrics: dict) -> dict[str, float | int]:
    """The headline figures, flat: clip level, then video level under ``video_``."""
    out: dict[str, float | int] = {}
    for prefix, figures in (("", metrics), ("video_", metrics.get("video_level", {}))):
        for name in ("accuracy", "macro_f1", "weighted_f1"):
            if name in figures:
                out[f"{prefix}{name}"] = round(figures[name], 4)
            if f"{name}_ci" in figures:
                low, high = figures[f"{name}_ci"]
                out[f"{prefix}{name}_ci_low"], out[f"{prefix}{name}_ci_high"] = (
                    round(low, 4), round(high, 4))
    out["test_clips"] = metrics["n_clips"]
    return out


def _write_predictions(path: Path, clips, truth, predicted, probs, classes) -> None:
    def write(handle) -> None:
        writer = csv.writer(handle)
        writer.writerow(["clip_id", "path", "label", "predicted", "score", "correct",
                         *[f"p_{c}" for c in classes]])
        for clip, true, pred, row in zip(clips, truth, predicted, probs, strict=True):
            writer.writerow([clip.clip_id, clip.path, true, pred, f"{row.max():.4f}",
                             int(true == pred), *[f"{p:.4f}" for p in row]])

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, write, text=True)
