"""Per-frame CNN encoders with temporal heads.

Inputs are raw ``(B, T, H, W, 3)`` uint8 RGB clips as extraction writes them; the models
normalise internally so that training, evaluation and serving cannot disagree on it.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from vidops.architectures import IMAGENET

# ImageNet statistics: conventional, and harmless for from-scratch training.
MEAN, STD = IMAGENET.mean, IMAGENET.std


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


GRID = 2  # features keep a coarse GRID x GRID layout: where things move matters


class FrameEncoder(nn.Module):
    """``(N, C, H, W)`` float -> ``(N, D)`` features; four conv blocks, pooled to a grid."""

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        widths = [in_channels, width, 2 * width, 4 * width, 4 * width]
        self.blocks = nn.Sequential(*[_block(a, b) for a, b in itertools.pairwise(widths)])
        self.pool = nn.AdaptiveAvgPool2d(GRID)
        self.out_dim = widths[-1] * GRID * GRID

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.blocks(x)).flatten(1)


def frame_differences(x: torch.Tensor, gap: int = 1, scale: float = 1.0) -> torch.Tensor:
    """``(B, T, C, H, W)`` -> ``scale`` x signed difference to the frame ``gap`` steps earlier.

    The first ``gap`` frames have no earlier partner and get zeros.
    Motion is what tells video classes apart; a from-scratch CNN on a few hundred clips
    finds it far more easily in explicit differences than by comparing LSTM states.
    """
    if gap >= x.shape[1]:
        return torch.zeros_like(x)
    diff = (x[:, gap:] - x[:, :-gap]) * scale
    return torch.cat([torch.zeros_like(x[:, :gap]), diff], dim=1)


FrameDiff = tuple[int, float] | None  # (gap, scale) of the difference channels, or none


class _VideoNet(nn.Module):
    head_prefix = "head."  # the classifier: replaced, not loaded, when the class count differs

    def __init__(self, width: int, frame_diff: FrameDiff) -> None:
        super().__init__()
        self.frame_diff = frame_diff
        self.encoder = FrameEncoder(6 if frame_diff else 3, width)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 1, 3, 1, 1), persistent=False)

    def frame_features(self, clips: torch.Tensor) -> torch.Tensor:
        """``(B, T, H, W, 3)`` uint8 -> ``(B, T, D)`` per-frame features."""
        b, t = clips.shape[:2]
        x = clips.permute(0, 1, 4, 2, 3).float().div_(255.0)  # (B, T, 3, H, W)
        x = (x - self.mean) / self.std
        if self.frame_diff:
            x = torch.cat([x, frame_differences(x, *self.frame_diff)], dim=2)
        return self.encoder(x.flatten(0, 1)).view(b, t, -1)


class CnnLstm(_VideoNet):
    """Per-frame CNN features, an LSTM over time, a linear head on the last hidden state."""

    def __init__(self, num_classes: int, width: int, hidden: int, dropout: float,
                 frame_diff: FrameDiff = (1, 1.0)) -> None:
        super().__init__(width, frame_diff)
        self.lstm = nn.LSTM(self.encoder.out_dim, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """``(B, T, H, W, 3)`` uint8 -> ``(B, num_classes)`` logits."""
        _, (h_n, _) = self.lstm(self.frame_features(clips))
        return self.head(h_n[-1])


class CnnPool(_VideoNet):
    """Per-frame CNN features averaged over time (TSN-like); blind to frame order."""

    def __init__(self, num_classes: int, width: int, dropout: float,
                 frame_diff: FrameDiff = (1, 1.0)) -> None:
        super().__init__(width, frame_diff)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.encoder.out_dim, num_classes))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.head(self.frame_features(clips).mean(dim=1))
