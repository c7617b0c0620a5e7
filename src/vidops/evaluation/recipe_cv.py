"""Recipe cross-validation: how good the whole training recipe is on this data.

The test split of a small dataset is a dozen to a few dozen clips, and its macro F1 moves
by 0.1 between splits: most of one figure is luck. So beside it vidops estimates the
recipe itself: k folds by group over *all* usable clips (train, val and test), and in
each fold the recipe runs as train runs it, on the fold's other clips only: ``auto``'s
choice among the candidates (its own inner group folds), each head's strength and fusion
weights (their own inner folds), the final fit on everything outside the fold. Nothing
about a held-out clip is seen before it is predicted (nested: no selection bias), and
the per-clip features come from the feature cache, so no clip's features are computed
twice. The figure is the macro F1 of the pooled out-of-fold predictions, with a 95%
bootstrap interval over groups (evaluation/intervals.py) and each fold's own figure.

It costs k times the recipe's training. ``evaluate.recipe_cv: auto`` runs it when every
architecture the recipe trains fits a head on per-clip features (no epochs: seconds to
a few minutes on hundreds of clips) and the data has at most
``evaluate.recipe_cv_max_clips`` clips; neural training (epochs per fold) is left out
unless ``evaluate.recipe_cv: on`` forces it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from vidops.architectures import ARCHITECTURES
from vidops.config import EvaluateConfig, ModelConfig, TrainConfig
from vidops.data.clips import UsableClip
from vidops.evaluation.figures import RecipeCV
from vidops.evaluation.intervals import intervals
from vidops.evaluation.metrics import classification_summary
from vidops.training.dataset import FramesDataset
from vidops.training.devices import TrainingDevice, training_device
from vidops.training.fit import fit
from vidops.training.fit_data import FitData
from vidops.training.selection import SelectionError, group_folds, select_architecture

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Recipe:
    """What train does with the data: the two sections of params it reads."""

    model: ModelConfig
    train: TrainConfig


def why_not(cfg: EvaluateConfig, recipe: Recipe, clips: int, cuda: bool) -> str:
    """Why ``evaluate.recipe_cv`` skips it here ("" when it runs)."""
    if cfg.recipe_cv == "off":
        return "off: evaluate.recipe_cv is off"
    if cfg.recipe_cv == "on":
        return ""
    neural = [a for a in recipe.model.trained_archs(cuda) if not ARCHITECTURES[a].fits_a_head]
    if neural:
        return (f"off: the recipe trains {', '.join(neural)} for epochs, {cfg.recipe_cv_folds} "
                "times over would cost more than the training; evaluate.recipe_cv: on forces it")
    if clips > cfg.recipe_cv_max_clips:
        return (f"off: {clips} clips is more than evaluate.recipe_cv_max_clips "
                f"({cfg.recipe_cv_max_clips}); the test split is large enough to judge by, and "
                "evaluate.recipe_cv: on forces it")
    return ""


def run_recipe_cv(cfg: EvaluateConfig, recipe: Recipe, clips: list[UsableClip],
                  feature_cache: Path | None) -> RecipeCV:
    """Cross-validate ``recipe`` over ``clips`` (all splits), or say why it did not run."""
    hw = training_device(recipe.train, 0, 1)
    skip = why_not(cfg, recipe, len(clips), hw.device.type == "cuda")
    if skip:
        log.info("recipe cross-validation %s", skip)
        return RecipeCV(skip)
    classes = sorted({c.label for c in clips})
    try:
        folds = group_folds(clips, cfg.recipe_cv_folds, recipe.train.seed)
    except SelectionError:
        return RecipeCV(f"off: clips of {len({c.group for c in clips})} group(s); folds by "
                        "group need at least 2")
    start = time.monotonic()
    predicted: list[str] = [""] * len(clips)
    fold_f1, winners = [], []
    for i, (outer, held) in enumerate(folds):
        train_part, held_part = [clips[j] for j in outer], [clips[j] for j in held]
        try:
            arch = _choose(recipe, train_part, classes, hw, feature_cache)
        except SelectionError as err:
            return RecipeCV(f"off: fold {i + 1} cannot run the recipe: {err}")
        result = fit(dataclasses.replace(recipe.model, arch=arch), recipe.train,
                     FitData(train_part, held_part, classes, feature_cache, val_held_out=True),
                     hw, progress=False)
        answers = (_predict(result.model, held_part, classes, hw, recipe.train.batch_size)
                   if result.val_logits is None
                   else [classes[k] for k in result.val_logits.argmax(1).tolist()])
        for j, answer in zip(held, answers, strict=True):
            predicted[j] = answer
        truth = [c.label for c in held_part]
        fold_f1.append(float(classification_summary(truth, answers, classes)["macro_f1"]))
        winners.append(arch)
        log.info("recipe cv fold %d/%d (%s, %d held-out clips): macro F1 %.3f", i + 1,
                 len(folds), arch, len(held_part), fold_f1[-1])
    truth = [c.label for c in clips]
    summary = classification_summary(truth, predicted, classes)
    spread = intervals(truth, predicted, classes, [c.group for c in clips])
    out = RecipeCV("scored", len(folds), len(clips), len({c.group for c in clips}),
                   float(summary["macro_f1"]), spread["macro_f1_ci"], float(summary["accuracy"]),
                   fold_f1, winners, spread["bootstrap"])
    log.info("recipe cv: macro F1 %.3f [95%% CI %.2f, %.2f] over %d clips in %d folds (%.0f s)",
             out.macro_f1, *out.macro_f1_ci, len(clips), len(folds), time.monotonic() - start)
    return out


def _choose(recipe: Recipe, clips: list[UsableClip], classes: list[str], hw: TrainingDevice,
            feature_cache: Path | None) -> str:
    if recipe.model.arch != "auto":
        return recipe.model.arch
    return select_architecture(recipe.model, recipe.train, clips, classes, hw,
                               feature_cache).winner


def _predict(model: torch.nn.Module, clips: list[UsableClip], classes: list[str],
             hw: TrainingDevice, batch_size: int) -> list[str]:
    """The fitted model's answer for each clip, from its frames (as served); feature heads
    answer from their cached features instead (``FitResult.val_logits``)."""
    answers: list[int] = []
    model.eval()
    with torch.inference_mode():
        for frames, _ in DataLoader(FramesDataset(clips, classes), batch_size=batch_size):
            answers += model(frames.to(hw.device)).argmax(1).tolist()
    return [classes[i] for i in answers]
