"""Spatial augmentation of training batches: one random draw per clip, the same for all its frames.

Per-frame draws would make a static scene jitter, i.e. invent motion, which is exactly
what the models learn from. Works on uint8 ``(B, T, H, W, 3)`` batches on any device
(after the copy to the GPU, so loader processes stay cheap) and returns the same format.
Parameters are drawn from a CPU generator, so a seed gives the same views on CPU and GPU.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vidops.config import AugmentConfig
from vidops.video.transforms import LUMA


def is_identity(cfg: AugmentConfig) -> bool:
    return cfg.crop_scale >= 1.0 and not cfg.flip and cfg.color == 0.0


def augment(clips: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    if is_identity(cfg):
        return clips
    _, _, h, w, _ = clips.shape
    x = clips.permute(0, 1, 4, 2, 3).float()  # (B, T, 3, H, W)
    out = []
    for clip in x:
        if cfg.crop_scale < 1.0:
            clip = _resized_crop(clip, cfg.crop_scale, h, w, generator)
        if cfg.flip and _uniform(generator, 0.0, 1.0) < 0.5:
            clip = clip.flip(-1)
        if cfg.color > 0.0:
            clip = _colour(clip, cfg.color, generator)
        out.append(clip)
    batch = torch.stack(out).clamp_(0, 255).round_().to(torch.uint8)
    return batch.permute(0, 1, 3, 4, 2).contiguous()


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _resized_crop(clip: torch.Tensor, min_scale: float, h: int, w: int,
                  generator: torch.Generator) -> torch.Tensor:
    """Inception-style crop: area share in [min_scale, 1], aspect in [3/4, 4/3], back to h x w."""
    area = _uniform(generator, min_scale, 1.0) * h * w
    ratio = math.exp(_uniform(generator, math.log(3 / 4), math.log(4 / 3)))
    ch = max(1, min(h, round(math.sqrt(area / ratio))))
    cw = max(1, min(w, round(math.sqrt(area * ratio))))
    top = int(torch.randint(0, h - ch + 1, (), generator=generator))
    left = int(torch.randint(0, w - cw + 1, (), generator=generator))
    crop = clip[:, :, top:top + ch, left:left + cw]
    return F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)


def _colour(clip: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    weights = torch.tensor(LUMA, device=clip.device).view(1, 3, 1, 1)
    clip = clip * _uniform(generator, 1 - strength, 1 + strength)  # brightness
    grey = (clip * weights).sum(1, keepdim=True)
    mean = grey.mean()
    clip = (clip - mean) * _uniform(generator, 1 - strength, 1 + strength) + mean  # contrast
    grey = (clip * weights).sum(1, keepdim=True)
    return grey + (clip - grey) * _uniform(generator, 1 - strength, 1 + strength)  # saturation
