"""The one function that builds a video classifier from config, by its row in the table."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from vidops.architectures import ARCHITECTURES
from vidops.config import ModelConfig
from vidops.errors import DataError
from vidops.features.appearance import load_backbone, weights_file
from vidops.models.appearance_tsn import AppearanceTSN
from vidops.models.feature_linear import FeatureLinear
from vidops.models.feature_temporal import FeatureTemporal
from vidops.models.motion import MotionLinear
from vidops.models.pretrained import load_pretrained
from vidops.models.video3d import Video3D
from vidops.models.video_nets import CnnLstm, CnnPool


def build_model(cfg: ModelConfig, num_classes: int, load_weights: bool = True) -> nn.Module:
    """The architecture named by ``cfg.arch``: random, or from ``cfg.pretrained_weights``.

    ``load_weights=False`` skips the pretrained file (loading a trained model.pt next).
    """
    if num_classes < 2:
        raise DataError(f"need at least 2 classes to train a classifier, got {num_classes}")
    if cfg.arch == "auto":
        raise ValueError("model.arch auto is resolved by the train stage's model selection; "
                         "build_model needs a concrete architecture")
    spec = ARCHITECTURES[cfg.arch]  # config refused unknown names
    diff = (cfg.diff_gap, cfg.diff_scale) if cfg.frame_diff else None
    model: nn.Module
    if spec.family == "frames2d" and spec.name == "cnn_lstm":
        model = CnnLstm(num_classes, cfg.width, cfg.hidden, cfg.dropout, diff)
    elif spec.family == "frames2d":
        model = CnnPool(num_classes, cfg.width, cfg.dropout, diff)
    elif spec.family == "video3d":
        model = Video3D(cfg.arch, num_classes, cfg.dropout, diff)
    elif spec.family == "motion":
        return MotionLinear(num_classes, cfg.motion_threshold, cfg.motion_segments)
    elif spec.family in ("features", "feature_temporal"):
        return _feature_model(cfg, num_classes, load_weights)
    else:
        return _tsn_model(cfg, num_classes, load_weights)
    if cfg.pretrained_weights and load_weights:
        load_pretrained(model, Path(cfg.pretrained_weights))
    return model


def _feature_model(cfg: ModelConfig, num_classes: int, load_weights: bool) -> nn.Module:
    """A feature family; its backbone (if any) from the packaged ImageNet weights or a user file."""
    spec = ARCHITECTURES[cfg.arch]
    model: FeatureLinear | FeatureTemporal
    if spec.family == "feature_temporal":
        model = FeatureTemporal(num_classes, spec.streams, cfg.backbone, cfg.backbone_frames,
                                cfg.hidden, cfg.dropout)
    else:
        model = FeatureLinear(num_classes, spec.streams, cfg.backbone, cfg.backbone_frames)
    if model.embedder is not None and load_weights:
        load_backbone(model.embedder.net, weights_file(cfg.backbone, cfg.pretrained_weights),
                      model.embedder.variant)
    return model


def _tsn_model(cfg: ModelConfig, num_classes: int, load_weights: bool) -> nn.Module:
    """The backbone from the packaged ImageNet weights (or the user's file); a new head."""
    model = AppearanceTSN(num_classes, cfg.backbone, cfg.backbone_frames, cfg.dropout,
                          cfg.backbone_lr_scale)
    if load_weights:
        load_backbone(model.embedder.net, weights_file(cfg.backbone, cfg.pretrained_weights),
                      model.embedder.variant)
    return model
