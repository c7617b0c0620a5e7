"""Logistic-regression heads fitted by scikit-learn and copied into torch buffers.

Shared by the feature families (``motion_linear``, ``flow_linear``, ``appearance_linear``,
``fusion_linear``): the model module holds ``mean`` and ``scale`` buffers and one
``nn.Linear`` named ``head``, so it is a state dict of tensors like every other vidops
model and nothing is unpickled at serving time. Logistic regression minimises log loss,
so its softmax probabilities are calibrated by construction; the gate's F1 and the
served scores are read from them.

Several streams (``fusion_linear``) are fused late: each stream gets a head of its own,
with its own standardisation and its own strength, and the fused log-probabilities are
``sum_s w_s log p_s`` renormalised, with weights ``w`` on the simplex chosen by the
held-out log loss of the streams' cross-validated predictions (inside the training clips,
the folds that chose the strengths). Since ``log p_s = z_s - logsumexp(z_s)`` and softmax
ignores a per-row constant, that fused model is one linear layer over the concatenated
standardised features, ``[w_1 W_1 | w_2 W_2]`` with bias ``sum_s w_s b_s``: the same module,
state dict and serving path as one stream, and ``w = (1, 0)`` is the first stream's model
exactly. So fusion can always fall back to its best stream. Measured (5-fold group CV over
all clips, strengths and weights chosen inside each fold, macro F1, flow / appearance /
fused): ut_set1 0.821 / 0.500 / 0.824, demo 0.958 / 0.858 / 0.967, udacity_ps7 1.000 /
0.598 / 1.000; the previous single head over both streams (each block scaled to the
first's variance, one shared C) lost to flow alone on ut_set1.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from vidops.errors import DataError

log = logging.getLogger(__name__)

WEIGHT_STEP = 0.1  # the simplex grid of the fusion weights


def block_weights(blocks: Sequence[int]) -> np.ndarray:
    """Per-feature divisors that give every block (stream) the variance of the first.

    After standardisation each feature has variance 1, so a block of 3840 appearance
    features would outweigh 870 flow features four to one in an L2 penalty shared by both;
    dividing a block of d features by sqrt(d / d_first) makes them count alike. Used where
    one network reads both streams (``fusion_temporal``).
    """
    return np.concatenate([np.full(d, np.sqrt(d / blocks[0])) for d in blocks])


@dataclass(frozen=True)
class LinearFit:
    """One standardised multinomial logistic regression, rows for every class."""

    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray  # (classes, features)
    bias: np.ndarray  # (classes,); a class absent from training gets -1e4: never predicted

    def log_proba(self, features: np.ndarray) -> np.ndarray:
        z = ((features - self.mean) / self.scale) @ self.weight.T + self.bias
        return z - np.logaddexp.reduce(z, axis=1, keepdims=True)


@dataclass(frozen=True)
class _Standardised:
    """Training features standardised, and projected onto their row space when wider than tall."""

    mean: np.ndarray
    scale: np.ndarray
    solver_input: np.ndarray
    basis: np.ndarray | None  # (rank, features) orthonormal rows; None: not projected


def _standardise(features: np.ndarray) -> _Standardised:
    mean = features.mean(0)
    scale = features.std(0)
    scale[scale == 0] = 1.0
    z = (features - mean) / scale
    if z.shape[1] > z.shape[0]:
        # The row space from the clips x clips Gram matrix (one product and a small
        # eigendecomposition: 10x faster than an SVD of the wide matrix). Directions whose
        # singular value is under 1e-4 of the largest carry nothing a fit could use, and
        # dropping them keeps the basis orthonormal to ~1e-8.
        eigenvalues, vectors = np.linalg.eigh(z @ z.T)
        if eigenvalues[-1] > 0:
            keep = eigenvalues > 1e-8 * eigenvalues[-1]
            singular = np.sqrt(eigenvalues[keep])
            basis = (vectors[:, keep] / singular).T @ z
            return _Standardised(mean, scale, vectors[:, keep] * singular, basis)
    return _Standardised(mean, scale, z, None)


def _solve(data: _Standardised, targets: np.ndarray, num_classes: int, c: float, seed: int,
           solver=None) -> tuple[LinearFit, object]:
    """L2 logistic regression at ``c`` on prepared features; ``solver``: the previous fit on
    the same features (a nearby C), whose weights start this one (fewer iterations)."""
    from sklearn.linear_model import LogisticRegression

    if solver is None:
        solver = LogisticRegression(C=c, max_iter=5000, tol=1e-6, random_state=seed,
                                    warm_start=True)
    solver.set_params(C=c)
    solver.fit(data.solver_input, targets)
    coef = solver.coef_ if data.basis is None else solver.coef_ @ data.basis
    intercept = solver.intercept_
    if len(solver.classes_) == 2:  # binary: scikit-learn keeps one row, for the second class
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    weight = np.zeros((num_classes, len(data.mean)))
    bias = np.full(num_classes, -1e4)
    weight[solver.classes_] = coef
    bias[solver.classes_] = intercept
    return LinearFit(data.mean, data.scale, weight, bias), solver


def fit_logistic(features: np.ndarray, targets: np.ndarray, num_classes: int, c: float,
                 seed: int) -> LinearFit:
    """Standardise, then L2 logistic regression with inverse strength ``c``.

    With more features than clips (thousands of pooled backbone features, tens of clips)
    the solver runs in the span of the training rows: an L2-penalised linear model's
    weights always lie there (representer theorem), so the optimum is the same and each
    iteration costs clips x clips instead of clips x features (measured 10-100x faster on
    7,680 appearance features of 60 clips, the same objective to 6 digits).
    """
    present = np.unique(targets)
    if len(present) < 2:
        raise DataError(f"need clips of at least 2 classes to fit, got {len(present)}")
    return _solve(_standardise(features), targets, num_classes, c, seed)[0]


def copy_into(model: nn.Module, fit: LinearFit) -> None:
    """Write a fit into a module's ``mean``/``scale`` buffers and ``head`` layer."""
    with torch.no_grad():
        model.mean.copy_(torch.from_numpy(fit.mean).float())
        model.scale.copy_(torch.from_numpy(fit.scale).float())
        model.head.weight.copy_(torch.from_numpy(fit.weight).float())
        model.head.bias.copy_(torch.from_numpy(fit.bias).float())


def fit_linear_head(model: nn.Module, features: np.ndarray, targets: np.ndarray,
                    num_classes: int, c: float, seed: int) -> None:
    """Fit standardisation + multinomial logistic regression; copy both into ``model``."""
    copy_into(model, fit_logistic(features, targets, num_classes, c, seed))


@dataclass(frozen=True)
class StrengthPath:
    """How the head's strength was chosen: held-out log loss per candidate C and fold."""

    grid: list[float]
    fold_losses: list[list[float]]  # per C, per fold (empty: not cross-validated)
    best: float
    why: str = ""  # when nothing was cross-validated: the reason
    # (clips, classes) held-out log-probabilities at the chosen C, each clip predicted by
    # the fold that held it out (NaN where no fold could); None when not cross-validated.
    held_out: np.ndarray | None = field(default=None, repr=False, compare=False)

    def mean_losses(self) -> list[float]:
        return _means(self.fold_losses)


def _means(fold_losses: list[list[float]]) -> list[float]:
    return [float(np.mean(x)) if x else float("inf") for x in fold_losses]


@dataclass(frozen=True)
class Extra:
    """Rows that only ever train (mirrored views of training clips): each joins a fold's
    training part when its group does, and is never held out or scored."""

    features: np.ndarray
    targets: np.ndarray
    groups: np.ndarray

    def columns(self, a: int, b: int) -> Extra:
        return Extra(self.features[:, a:b], self.targets, self.groups)


def strength_path(features: np.ndarray, targets: np.ndarray, groups: Sequence[str],
                  grid: Sequence[float], seed: int, num_classes: int | None = None,
                  extra: Extra | None = None) -> StrengthPath:
    """Held-out log loss of every C in ``grid`` by group cross-validation; the best C.

    Nested inside the training clips (never val or test), with no group on both sides:
    with tens of clips the right strength depends on the data, and log loss separates
    candidates that macro F1 scores alike. With one value in ``grid``, that value.
    ``extra`` rows train with their group's fold, never scored.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    grid = [float(c) for c in grid]
    if len(grid) == 1:
        return StrengthPath(grid, [[]], grid[0], "one value in model.heads.c")
    k = min(3, len(set(groups)), int(np.bincount(targets).max()))
    fallback = float(sorted(grid)[len(grid) // 2])
    if k < 2:
        log.info("linear head: fewer than 2 groups to choose its strength; C = %g", fallback)
        return StrengthPath(grid, [[] for _ in grid], fallback, "fewer than 2 groups to split")
    folds = list(StratifiedGroupKFold(k, shuffle=True, random_state=seed)
                 .split(features, targets, list(groups)))
    classes = num_classes or int(targets.max()) + 1
    fold_losses: list[list[float]] = [[] for _ in grid]
    held_outs = [np.full((len(targets), classes), np.nan) for _ in grid]
    for train_idx, test_idx in folds:
        if len(np.unique(targets[train_idx])) < 2:
            continue
        # Standardised and projected once per fold; the C path runs strongest first, each fit
        # starting from the previous one's weights.
        x, y = _with_extra(features[train_idx], targets[train_idx],
                           {groups[j] for j in train_idx}, extra)
        data, solver = _standardise(x), None
        for i in sorted(range(len(grid)), key=lambda i: grid[i]):
            fit, solver = _solve(data, y, classes, grid[i], seed, solver)
            # A class the fold never saw gets probability 1e-9, not e^-10000: a finite loss.
            held = np.maximum(fit.log_proba(features[test_idx]), np.log(1e-9))
            held_outs[i][test_idx] = held
            fold_losses[i].append(_log_loss(held, targets[test_idx]))
    losses = _means(fold_losses)
    best = int(np.argmin(losses))
    log.info("linear head: held-out log loss %s -> C = %g",
             ", ".join(f"C={c:g}: {x:.3f}" for c, x in zip(grid, losses, strict=True)), grid[best])
    edge = grid[best] in (min(grid), max(grid)) and np.isfinite(losses[best])
    if edge and np.isfinite(losses).all() and sorted(grid) == grid:
        # Still falling at the end of the grid: a value beyond it may be better.
        beyond = "smaller" if grid[best] == min(grid) else "larger"
        log.info("linear head: C = %g is at the %s end of model.heads.c; a %s value may fit "
                 "better (add one to the list to find out)", grid[best],
                 "low" if beyond == "smaller" else "high", beyond)
    return StrengthPath(grid, fold_losses, grid[best], held_out=held_outs[best])


def _with_extra(x: np.ndarray, y: np.ndarray, groups: set[str], extra: Extra | None
                ) -> tuple[np.ndarray, np.ndarray]:
    if extra is None:
        return x, y
    mine = np.isin(extra.groups, list(groups))
    return np.vstack([x, extra.features[mine]]), np.concatenate([y, extra.targets[mine]])


def _log_loss(log_proba: np.ndarray, targets: np.ndarray) -> float:
    normalised = log_proba - np.logaddexp.reduce(log_proba, axis=1, keepdims=True)
    return float(-normalised[np.arange(len(targets)), targets].mean())


@dataclass(frozen=True)
class StreamHeads:
    """What fitting a head per stream chose: each stream's strength path and its weight."""

    streams: list[str]
    paths: list[StrengthPath]
    weights: list[float]
    why: str = ""  # how the weights were set when they were not chosen by held-out loss
    mirrored: list[bool] = field(default_factory=list)  # per stream: trained on mirrored views too

    def summary(self) -> str:
        mirrored = self.mirrored or [False] * len(self.streams)
        return ", ".join(f"{s} C={p.best:g}" + (f" weight {w:.1f}" if len(self.streams) > 1 else "")
                         + (" with mirrored views" if m else "")
                         for s, p, w, m in zip(self.streams, self.paths, self.weights, mirrored,
                                               strict=True))

    def metrics(self) -> dict[str, float]:
        """For the tracker: ``head_c`` with one stream; per stream C and weight with several."""
        mirrored = float(any(self.mirrored))
        if len(self.streams) == 1:
            return {"head_c": self.paths[0].best, "mirrored_views": mirrored}
        return {"mirrored_views": mirrored,
                **{f"head_c_{s}": p.best for s, p in zip(self.streams, self.paths, strict=True)},
                **{f"fusion_weight_{s}": w for s, w in zip(self.streams, self.weights, strict=True)}}


def fusion_weights(held_outs: Sequence[np.ndarray], targets: np.ndarray,
                   step: float = WEIGHT_STEP) -> list[float]:
    """Simplex weights minimising the held-out log loss of ``sum_s w_s log p_s``.

    Only clips every stream predicted count. Ties go to the earlier grid point, which puts
    more weight on the earlier stream.
    """
    rows = np.all([np.isfinite(h).all(axis=1) for h in held_outs], axis=0)
    if not rows.any():
        return [1.0 / len(held_outs)] * len(held_outs)
    steps = round(1 / step)
    best, best_loss = None, np.inf
    for cut in itertools.product(range(steps, -1, -1), repeat=len(held_outs) - 1):
        if sum(cut) > steps:
            continue
        weights = [n / steps for n in cut] + [(steps - sum(cut)) / steps]
        fused = sum(w * h[rows] for w, h in zip(weights, held_outs, strict=True))
        loss = _log_loss(fused, targets[rows])
        if loss < best_loss - 1e-12:
            best, best_loss = weights, loss
    assert best is not None
    return best


@dataclass(frozen=True)
class HeadSearch:
    """How a head's strength is chosen: each inverse L2 strength of ``grid`` scored by
    held-out log loss over group folds drawn with ``seed``, for ``num_classes`` outputs."""

    num_classes: int
    grid: Sequence[float]
    seed: int


def fit_stream_heads(model: nn.Module, features: np.ndarray, targets: np.ndarray,
                     groups: Sequence[str], search: HeadSearch,
                     streams: Sequence[tuple[str, int]],
                     extras: Sequence[Extra | None] | None = None,
                     decide: bool = False) -> StreamHeads:
    """One head per stream (``streams``: name and column count, in column order), fused
    late into ``model``'s one linear layer with weights chosen by held-out log loss (see
    the module doc).

    ``extras``: per stream, rows that train every fit and are never scored (mirrored
    views), or None. ``decide``: each stream keeps its extra rows only where its strength
    path's held-out log loss is lower with them than without (the same folds, scored on
    the clips as they are): a data set whose classes are left and right loses nothing.
    """
    num_classes, grid, seed = search.num_classes, search.grid, search.seed
    bounds = list(itertools.pairwise(np.cumsum([0, *(width for _, width in streams)])))
    parts = [features[:, a:b] for a, b in bounds]
    extras = list(extras) if extras is not None else [None] * len(parts)
    paths, used = [], []
    for (stream, _), x, extra in zip(streams, parts, extras, strict=True):
        path = strength_path(x, targets, groups, grid, seed, num_classes, extra)
        if extra is not None and decide:
            plain = strength_path(x, targets, groups, grid, seed, num_classes)
            with_, without = min(path.mean_losses()), min(plain.mean_losses())
            log.info("%s: mirrored views: held-out log loss %.3f with, %.3f without -> %s",
                     stream, with_, without, "with" if with_ < without else "without")
            if not with_ < without:
                path, extra = plain, None
        paths.append(path)
        used.append(extra)
    why = ""
    if len(parts) == 1:
        weights = [1.0]
    elif all(p.held_out is not None for p in paths):
        weights = fusion_weights([p.held_out for p in paths], targets)  # type: ignore[misc]
    else:
        weights = [1.0 / len(parts)] * len(parts)
        why = f"equal weights: {next(p.why for p in paths if p.held_out is None)}"
    fits = [fit_logistic(*_with_extra(x, targets, set(groups), e), num_classes, p.best, seed)
            for x, e, p in zip(parts, used, paths, strict=True)]
    fused_fit = LinearFit(
        np.concatenate([f.mean for f in fits]), np.concatenate([f.scale for f in fits]),
        np.hstack([w * f.weight for w, f in zip(weights, fits, strict=True)]),
        sum(w * f.bias for w, f in zip(weights, fits, strict=True)))
    copy_into(model, fused_fit)
    if len(parts) > 1:
        log.info("late fusion: weights %s (%s)", ", ".join(
            f"{s} {w:.1f} (C={p.best:g})" for (s, _), w, p in zip(streams, weights, paths, strict=True)),
            why or "held-out log loss")
    return StreamHeads([s for s, _ in streams], paths, weights, why, [e is not None for e in used])
