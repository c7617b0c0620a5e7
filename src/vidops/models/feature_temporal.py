"""``fusion_temporal``: a small temporal network over the per-frame appearance and flow rows.

For hundreds of clips, where a linear head on time-pooled features leaves order and
interactions unused: each stream's rows are resampled to ``STEPS`` time steps and
concatenated per step, standardised (each stream weighted alike, as in the linear head),
projected to ``model.temporal.hidden`` units, passed through a residual temporal convolution, and
pooled by mean and max over time into a linear classifier. It trains in seconds on the
cached rows (the backbone stays frozen), with the train section's epochs, learning rate,
weight decay, batch size and early stopping on val macro F1.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidops.models.feature_linear import ROW_DIMS, FeatureStreams

STEPS = 8  # every stream is resampled to this many time steps


def resample_rows(rows: np.ndarray, steps: int = STEPS) -> np.ndarray:
    """``(R, D)`` -> ``(steps, D)`` by linear interpolation at the centres of ``steps`` bins."""
    r = len(rows)
    where = np.clip((np.arange(steps) + 0.5) * r / steps - 0.5, 0, r - 1)
    low = np.floor(where).astype(int)
    high = np.minimum(low + 1, r - 1)
    weight = (where - low)[:, None]
    return ((1 - weight) * rows[low] + weight * rows[high]).astype(np.float32)


class FeatureTemporal(FeatureStreams):
    """``(B, T, H, W, 3)`` uint8 -> stream rows -> ``(B, STEPS, D)`` -> temporal net -> logits."""

    def __init__(self, num_classes: int, streams: tuple[str, ...], backbone: str,
                 backbone_frames: int, hidden: int, dropout: float) -> None:
        super().__init__(streams, backbone, backbone_frames)
        self.blocks = [ROW_DIMS[s] for s in streams]
        dim = sum(self.blocks)
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.proj = nn.Linear(dim, hidden)
        self.temporal = nn.Conv1d(hidden, hidden, kernel_size=3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden, num_classes)

    def sequence(self, rows: dict[str, np.ndarray]) -> np.ndarray:
        """Each stream's rows of one clip -> ``(STEPS, D)``."""
        return np.concatenate([resample_rows(rows[s]) for s in self.streams], axis=1)

    def logits(self, seq: torch.Tensor) -> torch.Tensor:
        """``(B, STEPS, D)`` float -> ``(B, classes)``."""
        x = (seq.to(self.mean.device) - self.mean) / self.scale
        x = self.dropout(F.gelu(self.proj(x)))
        x = x + F.gelu(self.temporal(x.transpose(1, 2))).transpose(1, 2)
        return self.head(self.dropout(torch.cat([x.mean(1), x.amax(1)], dim=1)))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        seqs = np.stack([self.sequence(rows) for rows in self.clip_rows(clips)])
        return self.logits(torch.from_numpy(seqs))
