"""The one function that builds a video classifier from config, by its row in the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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

# The constructor arguments each kind of net takes; model.json records exactly these
# (models/preset.py), so a trained model is rebuilt without reading params.
NET_ARGS: dict[str, tuple[str, ...]] = {
    "cnn_lstm": ("width", "hidden", "dropout", "diff"),
    "frames2d": ("width", "dropout", "diff"),
    "video3d": ("dropout", "diff"),
    "motion": ("threshold", "segments"),
    "features": ("backbone", "backbone_frames"),
    "feature_temporal": ("backbone", "backbone_frames", "hidden", "dropout"),
    "tsn": ("backbone", "backbone_frames", "dropout", "backbone_lr_scale"),
}


def net_kind(arch: str) -> str:
    return "cnn_lstm" if arch == "cnn_lstm" else ARCHITECTURES[arch].family


def net_args(cfg: ModelConfig) -> dict[str, Any]:
    """What ``cfg.arch``'s constructor takes, from the params of today's ``model`` section."""
    every = {"width": cfg.width, "hidden": cfg.hidden, "dropout": cfg.dropout,
             "diff": [cfg.diff_gap, cfg.diff_scale] if cfg.frame_diff else None,
             "threshold": cfg.motion_threshold, "segments": cfg.motion_segments,
             "backbone": cfg.backbone, "backbone_frames": cfg.backbone_frames,
             "backbone_lr_scale": cfg.backbone_lr_scale}
    return {key: every[key] for key in NET_ARGS[net_kind(cfg.arch)]}


def build_net(arch: str, num_classes: int, args: dict[str, Any]) -> nn.Module:
    """The untrained net of ``arch`` from its constructor arguments (``net_args``)."""
    spec = ARCHITECTURES[arch]
    diff = tuple(args["diff"]) if args.get("diff") else None
    kind = net_kind(arch)
    if kind == "cnn_lstm":
        return CnnLstm(num_classes, args["width"], args["hidden"], args["dropout"], diff)
    if kind == "frames2d":
        return CnnPool(num_classes, args["width"], args["dropout"], diff)
    if kind == "video3d":
        return Video3D(arch, num_classes, args["dropout"], diff)
    if kind == "motion":
        return MotionLinear(num_classes, args["threshold"], args["segments"])
    if kind == "feature_temporal":
        return FeatureTemporal(num_classes, spec.streams, args["backbone"], args["backbone_frames"],
                               args["hidden"], args["dropout"])
    if kind == "features":
        return FeatureLinear(num_classes, spec.streams, args["backbone"], args["backbone_frames"])
    return AppearanceTSN(num_classes, args["backbone"], args["backbone_frames"], args["dropout"],
                         args["backbone_lr_scale"])


def build_model(cfg: ModelConfig, num_classes: int, load_weights: bool = True) -> nn.Module:
    """The architecture named by ``cfg.arch``: random, or from ``cfg.pretrained_weights``;
    the backbone of the families that have one from the packaged ImageNet weights.

    ``load_weights=False`` skips both (loading a trained model.pt next).
    """
    if num_classes < 2:
        raise DataError(f"need at least 2 classes to train a classifier, got {num_classes}")
    if cfg.arch == "auto":
        raise ValueError("model.arch auto is resolved by the train stage's model selection; "
                         "build_model needs a concrete architecture")
    model = build_net(cfg.arch, num_classes, net_args(cfg))  # config refused unknown names
    if not load_weights:
        return model
    embedder = getattr(model, "embedder", None)
    if embedder is not None:
        load_backbone(embedder.net, weights_file(cfg.backbone, cfg.pretrained_weights),
                      embedder.variant)
    elif cfg.pretrained_weights and ARCHITECTURES[cfg.arch].family in ("frames2d", "video3d"):
        load_pretrained(model, Path(cfg.pretrained_weights))
    return model
