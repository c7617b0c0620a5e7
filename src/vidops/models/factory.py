"""The one function that builds a video classifier from config, by its row in the table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from vidops.architectures import ARCHITECTURES, Architecture
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


def _diff(args: dict[str, Any]) -> tuple[int, float] | None:
    return tuple(args["diff"]) if args.get("diff") else None  # type: ignore[return-value]


@dataclass(frozen=True)
class NetFamily:
    """One kind of net: the constructor arguments model.json records (models/preset.py, so a
    trained model is rebuilt without reading params) and how they make the net. Adding a
    family is a row here and its row in architectures.py."""

    args: tuple[str, ...]
    make: Callable[[Architecture, int, dict[str, Any]], nn.Module]


FAMILIES: dict[str, NetFamily] = {
    "cnn_lstm": NetFamily(("width", "hidden", "dropout", "diff"), lambda spec, n, a: CnnLstm(
        n, a["width"], a["hidden"], a["dropout"], _diff(a))),
    "frames2d": NetFamily(("width", "dropout", "diff"), lambda spec, n, a: CnnPool(
        n, a["width"], a["dropout"], _diff(a))),
    "video3d": NetFamily(("dropout", "diff"), lambda spec, n, a: Video3D(
        spec.name, n, a["dropout"], _diff(a))),
    "motion": NetFamily(("threshold", "segments"), lambda spec, n, a: MotionLinear(
        n, a["threshold"], a["segments"])),
    "features": NetFamily(("backbone", "backbone_frames"), lambda spec, n, a: FeatureLinear(
        n, spec.streams, a["backbone"], a["backbone_frames"])),
    "feature_temporal": NetFamily(
        ("backbone", "backbone_frames", "hidden", "dropout"), lambda spec, n, a: FeatureTemporal(
            n, spec.streams, a["backbone"], a["backbone_frames"], a["hidden"], a["dropout"])),
    "tsn": NetFamily(
        ("backbone", "backbone_frames", "dropout", "backbone_lr_scale"),
        lambda spec, n, a: AppearanceTSN(n, a["backbone"], a["backbone_frames"], a["dropout"],
                                         a["backbone_lr_scale"])),
}
NET_ARGS: dict[str, tuple[str, ...]] = {kind: family.args for kind, family in FAMILIES.items()}


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
    return FAMILIES[net_kind(arch)].make(ARCHITECTURES[arch], num_classes, args)


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
