"""Video classifiers and the one function that builds them from config."""

from __future__ import annotations

from torch import nn

from vidops.config import ModelConfig
from vidops.models.motion import MotionLinear
from vidops.models.video_nets import CnnLstm, CnnPool


def build_model(cfg: ModelConfig, num_classes: int) -> nn.Module:
    """The architecture named by ``cfg.arch``, randomly initialised (no downloads)."""
    if num_classes < 2:
        raise ValueError(f"need at least 2 classes to train a classifier, got {num_classes}")
    diff = (cfg.diff_gap, cfg.diff_scale) if cfg.frame_diff else None
    if cfg.arch == "cnn_lstm":
        return CnnLstm(num_classes, cfg.width, cfg.hidden, cfg.dropout, diff)
    if cfg.arch == "cnn_pool":
        return CnnPool(num_classes, cfg.width, cfg.dropout, diff)
    if cfg.arch == "motion_linear":
        return MotionLinear(num_classes, cfg.motion_threshold, cfg.motion_segments)
    if cfg.arch == "auto":
        raise ValueError("model.arch auto is resolved by the train stage's model selection; "
                         "build_model needs a concrete architecture")
    raise ValueError(f"unknown model.arch {cfg.arch!r}")
