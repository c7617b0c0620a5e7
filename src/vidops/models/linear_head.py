"""A logistic-regression head fitted by scikit-learn and copied into torch buffers.

Shared by the feature families (``motion_linear``, ``flow_linear``, ``appearance_linear``,
``fusion_linear``): the model module holds ``mean`` and ``scale`` buffers and one
``nn.Linear`` named ``head``, so it is a state dict of tensors like every other vidops
model and nothing is unpickled at serving time. Logistic regression minimises log loss,
so its softmax probabilities are calibrated by construction; the gate's F1 and the
served scores are read from them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vidops.errors import DataError

log = logging.getLogger(__name__)


def block_weights(blocks: Sequence[int]) -> np.ndarray:
    """Per-feature divisors that give every block (stream) the variance of the first.

    After standardisation each feature has variance 1, so a block of 3840 appearance
    features would outweigh 870 flow features four to one in the L2 penalty and the
    logits; dividing a block of d features by sqrt(d / d_first) makes them count alike.
    Measured (group CV, flow + appearance): 0.78 -> 0.89 macro F1 on udacity_ps7 (a
    naive concatenation did worse than flow alone), 0.79 -> 0.85 on the demo set.
    """
    return np.concatenate([np.full(d, np.sqrt(d / blocks[0])) for d in blocks])


def fit_linear_head(model: nn.Module, features: np.ndarray, targets: np.ndarray,
                    num_classes: int, c: float, seed: int,
                    blocks: Sequence[int] | None = None) -> None:
    """Fit standardisation + multinomial logistic regression; copy both into ``model``."""
    from sklearn.linear_model import LogisticRegression

    present = np.unique(targets)
    if len(present) < 2:
        raise DataError(f"need clips of at least 2 classes to fit, got {len(present)}")
    mean, scale = _standardise(features, blocks)
    clf = LogisticRegression(C=c, max_iter=5000, random_state=seed)
    clf.fit((features - mean) / scale, targets)
    weight = np.zeros((num_classes, features.shape[1]))
    bias = np.full(num_classes, -1e4)  # a class absent from training is never predicted
    coef, intercept = clf.coef_, clf.intercept_
    if len(clf.classes_) == 2:  # binary: scikit-learn keeps one row, for the second class
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    weight[clf.classes_] = coef
    bias[clf.classes_] = intercept
    with torch.no_grad():
        model.mean.copy_(torch.from_numpy(mean).float())
        model.scale.copy_(torch.from_numpy(scale).float())
        model.head.weight.copy_(torch.from_numpy(weight).float())
        model.head.bias.copy_(torch.from_numpy(bias).float())


def _standardise(features: np.ndarray, blocks: Sequence[int] | None) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features)
    scale = scaler.scale_.copy()
    if blocks and len(blocks) > 1:
        scale *= block_weights(blocks)
    return scaler.mean_, scale


@dataclass(frozen=True)
class StrengthPath:
    """How the head's strength was chosen: held-out log loss per candidate C and fold."""

    grid: list[float]
    fold_losses: list[list[float]]  # per C, per fold (empty: not cross-validated)
    best: float
    why: str = ""  # when nothing was cross-validated: the reason

    def mean_losses(self) -> list[float]:
        return _means(self.fold_losses)


def _means(fold_losses: list[list[float]]) -> list[float]:
    return [float(np.mean(x)) if x else float("inf") for x in fold_losses]


def strength_path(features: np.ndarray, targets: np.ndarray, groups: Sequence[str],
                  grid: Sequence[float], seed: int,
                  blocks: Sequence[int] | None = None) -> StrengthPath:
    """Held-out log loss of every C in ``grid`` by group cross-validation; the best C.

    Nested inside the training clips (never val or test), with no group on both sides:
    with tens of clips the right strength depends on the data, and log loss separates
    candidates that macro F1 scores alike. With one value in ``grid``, that value.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedGroupKFold

    grid = [float(c) for c in grid]
    if len(grid) == 1:
        return StrengthPath(grid, [[]], grid[0], "one value in model.head_c")
    k = min(3, len(set(groups)), int(np.bincount(targets).max()))
    fallback = float(sorted(grid)[len(grid) // 2])
    if k < 2:
        log.info("linear head: fewer than 2 groups to choose its strength; C = %g", fallback)
        return StrengthPath(grid, [[] for _ in grid], fallback, "fewer than 2 groups to split")
    folds = list(StratifiedGroupKFold(k, shuffle=True, random_state=seed)
                 .split(features, targets, list(groups)))
    labels = np.unique(targets)
    fold_losses = []
    for c in grid:
        held_out = []
        for train_idx, test_idx in folds:
            if len(np.unique(targets[train_idx])) < 2:
                continue
            mean, scale = _standardise(features[train_idx], blocks)
            clf = LogisticRegression(C=c, max_iter=5000, random_state=seed)
            clf.fit((features[train_idx] - mean) / scale, targets[train_idx])
            probs = np.full((len(test_idx), len(labels)), 1e-9)
            probs[:, np.searchsorted(labels, clf.classes_)] = clf.predict_proba(
                (features[test_idx] - mean) / scale)
            held_out.append(float(log_loss(targets[test_idx], probs, labels=labels)))
        fold_losses.append(held_out)
    losses = _means(fold_losses)
    best = grid[int(np.argmin(losses))]
    log.info("linear head: held-out log loss %s -> C = %g",
             ", ".join(f"C={c:g}: {x:.3f}" for c, x in zip(grid, losses, strict=True)), best)
    return StrengthPath(grid, fold_losses, best)
