"""Optical-flow motion descriptors: what moves, which way, and how the motion field bends.

Dense flow between consecutive sampled frames, on grey frames shrunk to ``FLOW_SIZE``,
by two estimators: OpenCV's DIS (patch matching, sharp boundaries) and Farneback
(polynomial expansion, smooth fields). Their errors differ (noise on flat backgrounds,
fast rotation), and the descriptors of both together beat either alone: group
cross-validation, logistic regression, 16 frames at 160 px: 0.975 vs 0.917 (DIS) and
0.951 (Farneback) macro F1 on the demo set, 0.963 vs 0.963 and 0.891 on the people's
actions of ``udacity_ps7``. Each frame pair and estimator gives one descriptor, on the
whole frame and on a 2 x 2 grid of cells (where in the picture the motion is):

- HOF: flow orientation histogram (``BINS`` directions), each vector voting with its
  magnitude, divided by the cell's area (so it says how much motion, not only which way);
- MBH: motion boundary histograms, the orientation histograms of the gradients of the
  horizontal and of the vertical flow component (the edges of moving parts; constant
  camera motion cancels out);
- divergence and curl weighted by the flow's magnitude, as absolute mean and mean
  absolute value (scaling and rotation, which flow histograms alone blur), and the
  length of the mean flow over the mean length (coherent translation).

The descriptors are classical (HOF/MBH as in Wang et al.'s dense trajectories): no
weights, cheap on a CPU, strong on small sets of people's actions.
"""

from __future__ import annotations

import cv2
import numpy as np

from vidops.errors import DataError
from vidops.video.transforms import LUMA

FLOW_SIZE = 96  # flow is computed on SIZE x SIZE grey frames: a few ms per pair
BINS = 8  # orientations over 360 degrees (flow has a sign, unlike image gradients)
GRID = 2  # cells per side, plus the whole frame
CELLS = 1 + GRID * GRID
PER_CELL = BINS * 3 + 5  # HOF, MBH-x, MBH-y, divergence (2), curl (2), coherence
ESTIMATORS = ("dis", "farneback")
DIM = len(ESTIMATORS) * CELLS * PER_CELL
LUMA_WEIGHTS = np.array(LUMA, np.float32)


def grey_frames(clip: np.ndarray, size: int = FLOW_SIZE) -> np.ndarray:
    """``(T, H, W, 3)`` uint8 RGB -> ``(T, size, size)`` uint8 grey."""
    grey = (clip.astype(np.float32) @ LUMA_WEIGHTS).clip(0, 255).astype(np.uint8)
    return np.stack([cv2.resize(g, (size, size), interpolation=cv2.INTER_AREA) for g in grey])


def dense_flow(grey: np.ndarray, estimator: str) -> np.ndarray:
    """``(T, S, S)`` uint8 -> ``(T - 1, S, S, 2)`` float32 flow from frame t to t + 1, pixels."""
    if estimator == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        pairs = [dis.calc(grey[t], grey[t + 1], None) for t in range(len(grey) - 1)]
    elif estimator == "farneback":
        # OpenCV's documented defaults: pyramid scale 0.5, 3 levels, 15 px window.
        pairs = [cv2.calcOpticalFlowFarneback(grey[t], grey[t + 1], None, 0.5, 3, 15, 3, 5, 1.2, 0)
                 for t in range(len(grey) - 1)]
    else:
        raise ValueError(f"unknown flow estimator {estimator!r}")
    return np.stack(pairs)


def _histograms(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Magnitude-weighted orientation histograms, ``(P, S, S)`` -> ``(P, CELLS, BINS)``,
    per pixel: one ``bincount`` over (pair, cell, bin) for all pairs at once."""
    pairs, s = dx.shape[0], dx.shape[1]
    magnitude = np.hypot(dx, dy)
    # Bins centred on the principal directions (right, down-right, down ...): a motion
    # straight along an axis falls in one bin instead of splitting over two.
    angle = (np.arctan2(dy, dx) + np.pi / BINS) % (2 * np.pi)
    bins = np.minimum((angle / (2 * np.pi / BINS)).astype(np.int64), BINS - 1)
    slot = (np.arange(pairs)[:, None, None] * (GRID * GRID + 1) + _cell_of(s)) * BINS + bins
    sums = np.bincount(slot.ravel(), magnitude.ravel().astype(np.float64),
                       pairs * (GRID * GRID + 1) * BINS).reshape(pairs, GRID * GRID + 1, BINS)
    step = s // GRID
    whole = sums.sum(1, keepdims=True) / (s * s)
    return np.concatenate([whole, sums[:, :GRID * GRID] / (step * step)], axis=1)


def _cell_of(s: int) -> np.ndarray:
    """``(S, S)`` grid cell of each pixel (row-major), ``GRID * GRID`` outside every cell."""
    step = s // GRID
    index = np.minimum(np.arange(s) // step, GRID)
    cell = index[:, None] * GRID + index[None, :]
    return np.where((index[:, None] < GRID) & (index[None, :] < GRID), cell, GRID * GRID)


def _cells(values: np.ndarray) -> np.ndarray:
    """``(P, S, S, K)`` -> ``(P, CELLS, K)`` means over the whole frame and each grid cell."""
    pairs, s = values.shape[:2]
    step = s // GRID
    inside = values[:, :GRID * step, :GRID * step].reshape(pairs, GRID, step, GRID, step, -1)
    cells = inside.mean((2, 4)).reshape(pairs, GRID * GRID, -1)
    return np.concatenate([values.mean((1, 2))[:, None], cells], axis=1)


def pair_descriptors(flows: np.ndarray) -> np.ndarray:
    """``(P, S, S, 2)`` flow -> ``(P, DIM / len(ESTIMATORS))`` descriptors, one per frame pair."""
    u, v = flows[..., 0], flows[..., 1]
    du_dy, du_dx = np.gradient(u, axis=(1, 2))
    dv_dy, dv_dx = np.gradient(v, axis=(1, 2))
    divergence = du_dx + dv_dy
    curl = dv_dx - du_dy
    magnitude = np.hypot(u, v)
    # Statistics weighted by the flow's magnitude describe the moving part, not the
    # still background that dilutes plain means (a small spinning shape in a big frame).
    fields = np.stack([magnitude, magnitude * divergence, magnitude * curl, u, v,
                       magnitude * np.abs(divergence), magnitude * np.abs(curl)], axis=-1)
    sums = _cells(fields)  # (P, CELLS, 7) means
    moving = sums[..., :1] + 1e-3
    weighted = sums[..., 1:3] / moving  # magnitude-weighted mean divergence and curl
    # Their absolute values tell rotation and scaling whatever the direction (a linear
    # head cannot take absolute values itself); the mean flow's length over the mean
    # length says how coherent (translation) or mixed (rotation, scaling) the motion is.
    stats = np.concatenate([np.abs(weighted), sums[..., 5:7] / moving,
                            np.hypot(sums[..., 3:4], sums[..., 4:5]) / moving], axis=-1)
    parts = [_histograms(u, v), _histograms(du_dx, du_dy), _histograms(dv_dx, dv_dy), stats]
    return np.concatenate(parts, axis=-1).reshape(len(flows), -1).astype(np.float32)


def _mirror_columns() -> np.ndarray:
    """Where each column of a mirrored clip's descriptor comes from in the clip's own."""
    mirrored_cell = [0, *[i * GRID + (GRID - 1 - j) + 1 for i in range(GRID) for j in range(GRID)]]
    # Flipping x maps (u, v) to (-u, v) and the flow's x-derivatives change sign with it:
    # HOF vectors (u, v) and MBH-y vectors (v_x, v_y) turn from angle a to pi - a, MBH-x
    # vectors (u_x, u_y) to -a. Bins are centred on multiples of 2 pi / BINS, so a bin
    # maps onto one bin. Divergence, |curl| and the coherence are unchanged.
    half = BINS // 2
    within = np.concatenate([[(half - b) % BINS for b in range(BINS)],
                             [BINS + (-b) % BINS for b in range(BINS)],
                             [2 * BINS + (half - b) % BINS for b in range(BINS)],
                             np.arange(3 * BINS, PER_CELL)])
    per_estimator = np.concatenate([c * PER_CELL + within for c in mirrored_cell])
    return np.concatenate([e * CELLS * PER_CELL + per_estimator for e in range(len(ESTIMATORS))])


MIRROR_COLUMNS = _mirror_columns()


def mirror_descriptors(rows: np.ndarray) -> np.ndarray:
    """``(R, DIM)`` descriptors of a clip -> those of the clip flipped left to right, without
    computing its flow again: the estimators are mirror-symmetric up to their numerics, so
    the descriptors of the flipped clip are a permutation of the clip's (measured on three
    ut_set1 clips: pooled rows correlate 0.995 to 0.999 with those computed on the flipped
    frames, 0.85 to 0.92 without the permutation)."""
    return rows[:, MIRROR_COLUMNS]


def flow_descriptors(clip: np.ndarray) -> np.ndarray:
    """``(T, H, W, 3)`` uint8 RGB -> ``(R, DIM)`` float32, one row per consecutive pair of
    distinct frames (``R <= T - 1``; one row of no motion when every frame is the same).

    A frame equal to the one before it is skipped: a clip shorter than ``extract.num_frames``
    is stretched by repeating frames (``extract.short_clip``), and the pair of a frame
    with its copy says "no motion" about a moment that moved; how many such pairs a clip
    has depends on its length, not on its class.
    """
    if len(clip) < 2:
        raise DataError(f"flow descriptors need at least 2 frames per clip, got {len(clip)} "
                         "(raise extract.num_frames)")
    distinct = [0, *(t for t in range(1, len(clip)) if not np.array_equal(clip[t], clip[t - 1]))]
    grey = grey_frames(clip[distinct] if len(distinct) > 1 else clip[:2])
    per_estimator = [pair_descriptors(dense_flow(grey, name)) for name in ESTIMATORS]
    return np.concatenate(per_estimator, axis=1)
