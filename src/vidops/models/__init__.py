"""Video classifiers and the one function that builds them from config."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from vidops.config import NEURAL_3D, ModelConfig
from vidops.models.motion import MotionLinear
from vidops.models.pretrained import load_pretrained
from vidops.models.video3d import Video3D
from vidops.models.video_nets import CnnLstm, CnnPool


def build_model(cfg: ModelConfig, num_classes: int, load_weights: bool = True) -> nn.Module:
    """The architecture named by ``cfg.arch``: random, or from ``cfg.pretrained_weights``.

    ``load_weights=False`` skips the pretrained file (loading a trained model.pt next).
    """
    if num_classes < 2:
        raise ValueError(f"need at least 2 classes to train a classifier, got {num_classes}")
    diff = (cfg.diff_gap, cfg.diff_scale) if cfg.frame_diff else None
    model: nn.Module
    if cfg.arch == "cnn_lstm":
        model = CnnLstm(num_classes, cfg.width, cfg.hidden, cfg.dropout, diff)
    elif cfg.arch == "cnn_pool":
        model = CnnPool(num_classes, cfg.width, cfg.dropout, diff)
    elif cfg.arch in NEURAL_3D:
        model = Video3D(cfg.arch, num_classes, cfg.dropout, diff)
    elif cfg.arch == "motion_linear":
        return MotionLinear(num_classes, cfg.motion_threshold, cfg.motion_segments)
    elif cfg.arch == "auto":
        raise ValueError("model.arch auto is resolved by the train stage's model selection; "
                         "build_model needs a concrete architecture")
    else:
        raise ValueError(f"unknown model.arch {cfg.arch!r}")
    if cfg.pretrained_weights and load_weights:
        load_pretrained(model, Path(cfg.pretrained_weights))
    return model
