"""Video classifiers and the one function that builds them from config."""

from __future__ import annotations

from torch import nn

from vidops.config import ModelConfig
from vidops.models.video_nets import CnnLstm, CnnPool


def build_model(cfg: ModelConfig, num_classes: int) -> nn.Module:
    """The architecture named by ``cfg.arch``, randomly initialised (no downloads)."""
    if num_classes < 2:
        raise ValueError(f"need at least 2 classes to train a classifier, got {num_classes}")
    if cfg.arch == "cnn_lstm":
        return CnnLstm(num_classes, cfg.width, cfg.hidden, cfg.dropout, cfg.frame_diff)
    if cfg.arch == "cnn_pool":
        return CnnPool(num_classes, cfg.width, cfg.dropout, cfg.frame_diff)
    raise ValueError(f"unknown model.arch {cfg.arch!r}")
