"""Classical motion features and a linear classifier, as a torch module like the others.

Frame differencing gives binary motion masks; from them a motion history image (MHI:
how recently each pixel moved), a motion energy image (MEI: whether it moved at all)
and one MEI per time segment (order: arms up, then down). Each image is described by a
coarse grid of its values, a histogram of oriented gradients (HOG: the shape of the
moving region) and the seven Hu moments (shape, invariant to position and scale).

Why a module and not a scikit-learn pipeline: the logistic regression is fitted with
scikit-learn (:func:`vidops.models.linear_head.fit_linear_head`) and copied, with its
standardisation, into buffers and one ``nn.Linear``. The model is then a state dict of
tensors that takes ``(B, T, H, W, 3)`` uint8 clips and returns logits, exactly like the
CNNs, so evaluation, registration, the gate and the served pyfunc do not know which
family won, and nothing is unpickled.

On tens of clips this family trains in seconds and does not need pretrained weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidops.errors import DataError
from vidops.video.transforms import LUMA

SIZE = 64  # motion images are computed at SIZE x SIZE whatever the extraction size
GRID = 8  # grid of mean values per motion image
HOG_SIZE = 32  # HOG runs on motion images shrunk to this: coarse shape generalises across people
CELL = 8  # HOG cell, pixels
BINS = 9  # HOG orientation bins over 0-180 degrees


def feature_dim(segments: int) -> int:
    cells = HOG_SIZE // CELL
    per_image = GRID * GRID + (cells - 1) ** 2 * 4 * BINS + 7
    return (2 + segments) * per_image


def _gaussian_kernel() -> torch.Tensor:
    # 5x5 binomial kernel: suppresses sensor noise that would otherwise count as motion.
    row = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
    kernel = torch.outer(row, row)
    return (kernel / kernel.sum()).view(1, 1, 5, 5)


def motion_images(clips: torch.Tensor, threshold: float, segments: int) -> torch.Tensor:
    """``(B, T, H, W, 3)`` uint8 -> ``(B, 2 + segments, SIZE, SIZE)``: MHI, MEI, segment MEIs."""
    b, t = clips.shape[:2]
    if t < 2:
        raise DataError(f"motion features need at least 2 frames per clip, got {t} "
                         "(raise extract.num_frames)")
    grey = (clips.float() / 255.0 * clips.new_tensor(LUMA, dtype=torch.float32)).sum(-1)
    grey = F.interpolate(grey, size=(SIZE, SIZE), mode="area")  # frames as channels
    kernel = _gaussian_kernel().to(grey.device)
    grey = F.conv2d(F.pad(grey.reshape(b * t, 1, SIZE, SIZE), (2, 2, 2, 2), mode="replicate"),
                    kernel).view(b, t, SIZE, SIZE)
    moving = (grey[:, 1:] - grey[:, :-1]).abs() > threshold  # (B, T-1, S, S)
    steps = t - 1
    # MHI with tau = steps: a pixel that last moved at step k has value (k + 1) / steps.
    recency = torch.arange(1, steps + 1, device=grey.device, dtype=torch.float32) / steps
    mhi = (moving.float() * recency.view(1, steps, 1, 1)).amax(1)
    mei = moving.any(1).float()
    parts = [mhi, mei] + [chunk.any(1).float() if chunk.shape[1] else torch.zeros_like(mei)
                          for chunk in torch.tensor_split(moving, segments, dim=1)]
    return torch.stack(parts, dim=1)


def hog(images: torch.Tensor) -> torch.Tensor:
    """``(N, S, S)`` -> ``(N, D)`` HOG: 2x2-cell blocks, L2-normalised, unsigned orientations."""
    x = images.unsqueeze(1)
    gx = F.conv2d(F.pad(x, (1, 1, 0, 0), mode="replicate"), x.new_tensor([[[[-1.0, 0.0, 1.0]]]]))
    gy = F.conv2d(F.pad(x, (0, 0, 1, 1), mode="replicate"), x.new_tensor([[[[-1.0], [0.0], [1.0]]]]))
    magnitude = torch.hypot(gx, gy).squeeze(1)
    angle = torch.remainder(torch.atan2(gy, gx).squeeze(1), torch.pi)
    bins = (angle / (torch.pi / BINS)).long().clamp_(max=BINS - 1)
    votes = F.one_hot(bins, BINS).float() * magnitude.unsqueeze(-1)  # (N, S, S, BINS)
    cells = F.avg_pool2d(votes.permute(0, 3, 1, 2), CELL) * CELL * CELL  # (N, BINS, C, C)
    blocks = torch.cat([cells[:, :, :-1, :-1], cells[:, :, 1:, :-1],
                        cells[:, :, :-1, 1:], cells[:, :, 1:, 1:]], dim=1)
    blocks = blocks / (blocks.norm(dim=1, keepdim=True) + 1e-6)
    return blocks.flatten(1)


def hu_moments(images: torch.Tensor) -> torch.Tensor:
    """``(N, S, S)`` -> ``(N, 7)`` Hu invariants, log-scaled as ``-sign(h) log10|h|``."""
    img = images.double()
    n, h, w = img.shape
    ys = torch.arange(h, dtype=img.dtype, device=img.device).view(1, h, 1)
    xs = torch.arange(w, dtype=img.dtype, device=img.device).view(1, 1, w)
    m00 = img.sum((1, 2)).clamp_min(1e-12)
    xbar = (img * xs).sum((1, 2)) / m00
    ybar = (img * ys).sum((1, 2)) / m00
    dx, dy = xs - xbar.view(n, 1, 1), ys - ybar.view(n, 1, 1)

    def eta(p: int, q: int) -> torch.Tensor:
        return (img * dx**p * dy**q).sum((1, 2)) / m00 ** (1 + (p + q) / 2)

    n20, n02, n11 = eta(2, 0), eta(0, 2), eta(1, 1)
    n30, n03, n21, n12 = eta(3, 0), eta(0, 3), eta(2, 1), eta(1, 2)
    a, b = n30 + n12, n21 + n03
    hu = torch.stack([
        n20 + n02,
        (n20 - n02) ** 2 + 4 * n11**2,
        (n30 - 3 * n12) ** 2 + (3 * n21 - n03) ** 2,
        a**2 + b**2,
        (n30 - 3 * n12) * a * (a**2 - 3 * b**2) + (3 * n21 - n03) * b * (3 * a**2 - b**2),
        (n20 - n02) * (a**2 - b**2) + 4 * n11 * a * b,
        (3 * n21 - n03) * a * (a**2 - 3 * b**2) - (n30 - 3 * n12) * b * (3 * a**2 - b**2),
    ], dim=1)
    return (-torch.sign(hu) * torch.log10(hu.abs() + 1e-30)).float()


class MotionLinear(nn.Module):
    """Motion features -> one linear layer (a logistic regression fitted by scikit-learn)."""

    def __init__(self, num_classes: int, threshold: float, segments: int) -> None:
        super().__init__()
        self.threshold = threshold
        self.segments = segments
        dim = feature_dim(segments)
        # Standardisation kept apart from the weights: folding 1/scale into them loses
        # float32 precision on near-constant features.
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.head = nn.Linear(dim, num_classes)
        nn.init.zeros_(self.head.weight)  # unfitted: uniform probabilities, not noise
        nn.init.zeros_(self.head.bias)

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        """``(B, T, H, W, 3)`` uint8 -> ``(B, feature_dim)`` float."""
        images = motion_images(clips, self.threshold, self.segments)  # (B, K, S, S)
        b, k = images.shape[:2]
        flat = images.flatten(0, 1)
        grid = F.adaptive_avg_pool2d(flat.unsqueeze(1), GRID).flatten(1)
        small = F.interpolate(flat.unsqueeze(1), size=(HOG_SIZE, HOG_SIZE), mode="area").squeeze(1)
        per_image = torch.cat([grid, hog(small), hu_moments(flat)], dim=1)
        return per_image.view(b, k * per_image.shape[1])

    def head_streams(self) -> list[tuple[str, int]]:
        """One stream for the linear-head fit (training/feature_heads.py)."""
        return [("motion", self.mean.numel())]

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, feature_dim)`` clip features -> ``(B, classes)``."""
        return self.head((features.float().to(self.mean.device) - self.mean) / self.scale)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.logits(self.features(clips))
