"""Bootstrap intervals for test figures, and the paired comparison of two models.

A test split of a dozen clips moves macro F1 by 0.05 to 0.1 per clip: a point estimate
alone cannot tell progress from noise. The percentile bootstrap resamples the test
units with replacement ``RESAMPLES`` times and reads the 2.5 and 97.5 percentiles.

The unit is the video, or the group (person, camera) when the test split holds at least
``MIN_GROUPS`` groups and some group has several clips: clips of one person are not
independent, and resampling them one by one would give an interval that is too narrow.
With fewer groups than that, a group bootstrap has too few distinct resamples to mean
anything (one test person gives a zero-width interval), so videos are resampled and the
report says so. Seeds are fixed: the same predictions give the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
MIN_GROUPS = 5
LEVEL = 0.95
SEED = 20261202


@dataclass(frozen=True)
class Units:
    """Which test units the bootstrap resamples: one index array per unit."""

    kind: str  # "group" or "video"
    members: list[np.ndarray]
    note: str = ""


def resampling_units(groups: Sequence[str]) -> Units:
    by_group: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        by_group.setdefault(group, []).append(i)
    several = any(len(v) > 1 for v in by_group.values())
    videos = [np.array([i]) for i in range(len(groups))]
    if several and len(by_group) >= MIN_GROUPS:
        return Units("group", [np.array(v) for v in by_group.values()])
    if several:
        return Units("video", videos, f"{len(by_group)} test group(s) with several clips: too "
                                      f"few to resample groups (< {MIN_GROUPS}); videos are "
                                      f"resampled, so the interval is optimistic")
    return Units("video", videos)


def _weights(units: Units, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(RESAMPLES, n)`` how often each clip is drawn in each resample."""
    picks = rng.integers(0, len(units.members), size=(RESAMPLES, len(units.members)))
    weights = np.zeros((RESAMPLES, n))
    for u, members in enumerate(units.members):
        weights[:, members] += (picks == u).sum(1, keepdims=True)
    return weights


def _scores(truth: np.ndarray, pred: np.ndarray, k: int, weights: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and macro F1 of every resample, over all ``k`` classes as the point estimate
    (scikit-learn's, a class never seen nor predicted at 0). A class a resample happens to
    miss (its only group not drawn) keeps its F1 on the whole test split: leaving it out
    would average over the other classes only, and when it is the class the model gets
    wrong, every such resample reads higher than the estimate and the interval sits above it."""
    cells = np.zeros((len(weights), k * k))
    np.add.at(cells.T, truth * k + pred, weights.T)
    observed = np.zeros((1, k * k))
    np.add.at(observed.T, truth * k + pred, 1.0)
    _, _, per_class = _per_class_f1(observed.reshape(1, k, k))
    return _from_confusion(cells.reshape(-1, k, k), absent=per_class[0])


def _per_class_f1(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tp = np.diagonal(confusion, axis1=1, axis2=2)
    seen = confusion.sum(2) + confusion.sum(1)
    return tp, seen > 0, np.divide(2 * tp, seen, out=np.zeros_like(tp), where=seen > 0)


def _from_confusion(confusion: np.ndarray, absent: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(R, K, K)`` confusion matrices (rows: truth) -> accuracy and macro F1 of each.

    ``absent``: per class, the F1 a matrix without that class counts for it (every class
    in the average); None: such classes are left out of that matrix's average."""
    tp, present, f1 = _per_class_f1(confusion)
    if absent is None:
        macro = (f1 * present).sum(1) / np.maximum(present.sum(1), 1)
    else:
        macro = np.where(present, f1, absent[None, :]).mean(1)
    accuracy = tp.sum(1) / np.maximum(confusion.sum((1, 2)), 1e-12)
    return accuracy, macro


def _posterior_macro_f1(truth: np.ndarray, pred: np.ndarray, k: int,
                        rng: np.random.Generator) -> np.ndarray:
    """Macro F1 drawn from a posterior over each class's row of the confusion matrix.

    For answers without an error (or without a right one) the bootstrap has nothing to
    resample. Each true class's row instead gets a Dirichlet posterior: its observed
    counts plus a prior of half a clip on "right" and half a clip spread over the other
    classes, so that its recall follows Jeffreys' Beta(right + 1/2, wrong + 1/2), the
    same family of interval as Wilson's for accuracy. 9 of 9 right over 3 classes gives
    a lower end of 0.65, 24 of 24 over 4 classes 0.81, 100 of 100 over 2 classes 0.96.
    """
    counts = np.zeros((k, k))
    np.add.at(counts, (truth, pred), 1)
    prior = np.full((k, k), 0.5 / (k - 1))
    np.fill_diagonal(prior, 0.5)
    confusion = np.zeros((RESAMPLES, k, k))
    for i in np.flatnonzero(counts.sum(1)):
        confusion[:, i] = rng.dirichlet(counts[i] + prior[i], RESAMPLES) * counts[i].sum()
    return _from_confusion(confusion)[1]


def _encode(classes: Sequence[str], *labels: Sequence[str]) -> list[np.ndarray]:
    index = {c: i for i, c in enumerate(classes)}
    return [np.array([index[x] for x in seq]) for seq in labels]


def _interval(values: np.ndarray) -> list[float]:
    tail = (1 - LEVEL) / 2 * 100
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]


def intervals(truth: Sequence[str], pred: Sequence[str], classes: Sequence[str],
              groups: Sequence[str]) -> dict:
    """``accuracy_ci`` and ``macro_f1_ci`` ([low, high]) and how they were made."""
    units = resampling_units(groups)
    t, p = _encode(classes, truth, pred)
    accuracy, macro = _scores(t, p, len(classes), _weights(units, len(t), np.random.default_rng(SEED)))
    out = {"accuracy_ci": _interval(accuracy), "macro_f1_ci": _interval(macro),
           "bootstrap": {"resamples": RESAMPLES, "level": LEVEL, "unit": units.kind,
                         "units": len(units.members)}}
    notes = [units.note] if units.note else []
    hits = int((t == p).sum())
    if hits in (0, len(t)) and len(t):
        # Every resample of all-right (or all-wrong) answers is the same: the bootstrap
        # cannot see an error rate it never observed and would claim a zero-width interval.
        # Counted in the resampled units: all of them right (or none), never clips over groups.
        n = len(units.members) if units.kind == "group" else len(t)
        out["accuracy_ci"] = wilson(n if hits else 0, n)
        low, high = _interval(_posterior_macro_f1(t, p, len(classes), np.random.default_rng(SEED)))
        # As for Jeffreys' interval at the boundary: the observed end stays in the interval.
        out["macro_f1_ci"] = [low, 1.0] if hits else [0.0, high]
        out["bootstrap"]["macro_f1_ci"] = "jeffreys posterior"  # not a bootstrap: say so
        notes.append(f"all {len(t)} test clips {'right' if hits else 'wrong'}: no resample can "
                     "show another outcome, so accuracy_ci is the Wilson score interval over the "
                     "resampled units and macro_f1_ci comes from a Jeffreys-prior posterior over "
                     "each class's predictions")
    if notes:
        out["bootstrap"]["note"] = "; ".join(notes)
    return out


def wilson(successes: int, n: int, z: float = 1.959964) -> list[float]:
    """Wilson score interval of a proportion (95% by default); sensible at 0 and n."""
    if n <= 0:
        return [0.0, 1.0]
    if not 0 <= successes <= n:
        raise ValueError(f"wilson: {successes} successes of {n} is not a proportion")
    phat = successes / n
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [float(max(0.0, centre - half)), float(min(1.0, centre + half))]


@dataclass(frozen=True)
class PairedDifference:
    difference: float  # macro F1 of a minus macro F1 of b, on the same clips
    ci: list[float]  # its bootstrap interval, the same resamples for both models
    unit: str
    units: int


def paired_difference(truth: Sequence[str], pred_a: Sequence[str], pred_b: Sequence[str],
                      classes: Sequence[str], groups: Sequence[str]) -> PairedDifference:
    """Macro F1 of ``a`` minus that of ``b``, both scored on each resample of the same units.

    Pairing removes the luck of the test split that both models share: a clip both get
    right or both get wrong moves neither side of the difference.
    """
    units = resampling_units(groups)
    t, a, b = _encode(classes, truth, pred_a, pred_b)
    weights = _weights(units, len(t), np.random.default_rng(SEED))
    _, macro_a = _scores(t, a, len(classes), weights)
    _, macro_b = _scores(t, b, len(classes), weights)
    ones = np.ones((1, len(t)))
    point = float(_scores(t, a, len(classes), ones)[1][0] - _scores(t, b, len(classes), ones)[1][0])
    return PairedDifference(point, _interval(macro_a - macro_b), units.kind, len(units.members))
