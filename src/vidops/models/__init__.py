"""Video classifiers and the one function that builds them from config."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from vidops.config import FEATURE_FAMILIES, NEURAL_3D, ModelConfig
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
    elif cfg.arch in FEATURE_FAMILIES:
        return _feature_model(cfg, num_classes, load_weights)
    elif cfg.arch == "appearance_tsn":
        return _tsn_model(cfg, num_classes, load_weights)
    elif cfg.arch == "auto":
        raise ValueError("model.arch auto is resolved by the train stage's model selection; "
                         "build_model needs a concrete architecture")
    else:
        raise ValueError(f"unknown model.arch {cfg.arch!r}")
    if cfg.pretrained_weights and load_weights:
        load_pretrained(model, Path(cfg.pretrained_weights))
    return model


def _feature_model(cfg: ModelConfig, num_classes: int, load_weights: bool) -> nn.Module:
    """A feature family; its backbone (if any) from the packaged ImageNet weights or a user file."""
    # Imported here: the feature code imports vidops.models.pretrained, so a module-level
    # import would be circular.
    from vidops.features.appearance import load_backbone, weights_file
    from vidops.models.feature_linear import STREAMS, FeatureLinear
    from vidops.models.feature_temporal import TEMPORAL, FeatureTemporal

    model: FeatureLinear | FeatureTemporal
    if cfg.arch in TEMPORAL:
        model = FeatureTemporal(num_classes, TEMPORAL[cfg.arch], cfg.backbone, cfg.backbone_frames,
                                cfg.hidden, cfg.dropout)
    else:
        model = FeatureLinear(num_classes, STREAMS[cfg.arch], cfg.backbone, cfg.backbone_frames)
    if model.embedder is not None and load_weights:
        load_backbone(model.embedder.net, weights_file(cfg.backbone, cfg.pretrained_weights),
                      model.embedder.variant)
    return model


def _tsn_model(cfg: ModelConfig, num_classes: int, load_weights: bool) -> nn.Module:
    """The backbone from the packaged ImageNet weights (or the user's file); a new head."""
    # Imported here for the reason given in _feature_model.
    from vidops.features.appearance import load_backbone, weights_file
    from vidops.models.appearance_tsn import AppearanceTSN

    model = AppearanceTSN(num_classes, cfg.backbone, cfg.backbone_frames, cfg.dropout,
                          cfg.backbone_lr_scale)
    if load_weights:
        load_backbone(model.embedder.net, weights_file(cfg.backbone, cfg.pretrained_weights),
                      model.embedder.variant)
    return model
