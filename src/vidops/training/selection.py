"""``model.arch: auto``: choose an architecture by group-aware cross-validation.

Folds are built over the train and val splits together (never test), with no group on
both sides of a fold, stratified by label where the groups allow it. Every candidate
is trained on each fold's training part and scored (macro F1) on its held-out part with
the last epoch's weights: picking the epoch on the held-out part would flatter
candidates that fluctuate. Candidates run in the listed order (put the cheap ones
first); once ``train.select_budget_s`` is spent, the remaining ones are skipped and say
so. The first candidate always completes, so there is always a winner.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidops.config import ModelConfig, TrainConfig
from vidops.data.clips import UsableClip
from vidops.errors import VidopsError
from vidops.fileio import atomic_write_json
from vidops.training.devices import TrainingDevice
from vidops.training.fit import fit
from vidops.training.fit_data import FitData
from vidops.training.tracker import Tracker

log = logging.getLogger(__name__)


class SelectionError(VidopsError, RuntimeError):
    """Cross-validation is impossible on this data (fewer than two groups)."""


@dataclass(frozen=True)
class CandidateScore:
    arch: str
    status: str  # "scored", or why it was not
    fold_f1: list[float]
    mean_f1: float | None
    std_f1: float | None
    seconds: float
    mean_loss: float | None = None  # held-out cross-entropy: breaks ties of macro F1


@dataclass(frozen=True)
class Selection:
    mode: str  # "auto" or "fixed"
    winner: str
    folds: int
    groups: int
    budget_s: float
    candidates: list[CandidateScore]


def fixed(arch: str) -> Selection:
    """What the report says when ``model.arch`` names one architecture."""
    return Selection("fixed", arch, 0, 0, 0.0, [])


def group_folds(clips: list[UsableClip], n_folds: int, seed: int
                ) -> list[tuple[list[int], list[int]]]:
    """``(train indices, held-out indices)`` per fold; no group on both sides."""
    from sklearn.model_selection import StratifiedGroupKFold

    groups = [c.group for c in clips]
    k = min(n_folds, len(set(groups)))
    if k < 2:
        raise SelectionError(
            f"model.arch auto needs clips of at least 2 groups in train + val for group-aware "
            f"cross-validation, found {len(set(groups))}; name an architecture in model.arch")
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    labels = [c.label for c in clips]
    return [(list(a), list(b)) for a, b in splitter.split(np.zeros(len(clips)), labels, groups)]


def select_architecture(model_cfg: ModelConfig, cfg: TrainConfig, clips: list[UsableClip],
                        classes: list[str], hw: TrainingDevice,
                        feature_cache: Path | None = None, tracker: Tracker | None = None
                        ) -> Selection:
    """Score every candidate by cross-validation; each one is a child run of ``tracker``.

    The feature families read their per-clip features from ``feature_cache``: the first
    fold computes them, every later fold and candidate reuses them.
    """
    folds = group_folds(clips, cfg.cv_folds, cfg.seed)
    start = time.monotonic()
    scores: list[CandidateScore] = []
    for position, arch in enumerate(model_cfg.auto_candidates(hw.device.type == "cuda")):
        began, fold_f1, fold_loss, status = time.monotonic(), [], [], "scored"
        with tracker.child(f"cv-{arch}") if tracker else nullcontext() as child:
            if child:
                child.log_params({"arch": arch, "folds": len(folds)})
            for i, (train_idx, held_idx) in enumerate(folds):
                spent = time.monotonic() - start
                if position > 0 and spent > cfg.select_budget_s:
                    status = f"skipped: time budget of {cfg.select_budget_s:g} s spent after {i} folds"
                    break
                data = FitData([clips[j] for j in train_idx], [clips[j] for j in held_idx],
                               classes, feature_cache, val_held_out=True)
                result = fit(dataclasses.replace(model_cfg, arch=arch), cfg, data, hw,
                             progress=False)
                fold_f1.append(result.kept.val_f1)
                fold_loss.append(result.kept.val_loss)
                if child:
                    child.log_metrics({"fold_f1": result.kept.val_f1}, step=i + 1)
                log.info("cv %s fold %d/%d: macro F1 %.3f", arch, i + 1, len(folds),
                         result.kept.val_f1)
            complete = status == "scored"
            mean = float(np.mean(fold_f1)) if complete else None
            std = float(np.std(fold_f1)) if complete else None
            seconds = time.monotonic() - began
            if child:
                child.log_metrics({"cv_seconds": seconds,
                                   **({"cv_mean_f1": mean} if complete else {})})
                child.set_tags({"status": status})
        loss = float(np.mean(fold_loss)) if complete else None
        scores.append(CandidateScore(arch, status, fold_f1, mean, std, seconds, loss))
        log.info("cv %s: %s", arch, f"mean macro F1 {mean:.3f}" if complete else status)
    # Equal macro F1 (common on a few groups: several candidates score 1.0) goes to the
    # more confident one on the held-out clips (lower cross-entropy); then to the earlier
    # candidate: the list is ordered cheap first.
    winner = max((s for s in scores if s.mean_f1 is not None),
                 key=lambda s: (round(s.mean_f1 or 0.0, 9), -(s.mean_loss or 0.0)))
    return Selection("auto", winner.arch, len(folds), len({c.group for c in clips}),
                     cfg.select_budget_s, scores)


def selection_from_dict(data: dict) -> Selection:
    """The inverse of ``dataclasses.asdict(selection)`` (a resumed training's cached choice)."""
    candidates = [CandidateScore(**c) for c in data["candidates"]]
    return Selection(**{**data, "candidates": candidates})


def write_selection(path: Path, selection: Selection) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, dataclasses.asdict(selection))
