"""The one function that builds a video classifier from config, by its row in the table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from vidops.architectures import ARCHITECTURES, Architecture
from vidops.config import FramesNetConfig, ModelConfig
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


def _diff_of(section: FramesNetConfig) -> list[int | float] | None:
    return [section.diff, section.diff_scale] if section.diff else None


def _backbone(m: ModelConfig) -> dict[str, Any]:
    return {"backbone": m.backbone.name, "backbone_frames": m.backbone.frames}


@dataclass(frozen=True)
class NetFamily:
    """One kind of net: its constructor arguments, read from its own params section (they
    are what model.json records, models/preset.py, so a trained model is rebuilt without
    reading params), and how they make the net. Adding a family is a row here, its row in
    architectures.py and its section in config.ModelConfig."""

    args: Callable[[ModelConfig], dict[str, Any]]
    make: Callable[[Architecture, int, dict[str, Any]], nn.Module]


FAMILIES: dict[str, NetFamily] = {
    "cnn_lstm": NetFamily(
        lambda m: {"width": m.cnn.width, "hidden": m.cnn.hidden, "dropout": m.cnn.dropout,
                   "diff": _diff_of(m.cnn)},
        lambda spec, n, a: CnnLstm(n, a["width"], a["hidden"], a["dropout"], _diff(a))),
    "frames2d": NetFamily(
        lambda m: {"width": m.cnn.width, "dropout": m.cnn.dropout, "diff": _diff_of(m.cnn)},
        lambda spec, n, a: CnnPool(n, a["width"], a["dropout"], _diff(a))),
    "video3d": NetFamily(
        lambda m: {"dropout": m.video3d.dropout, "diff": _diff_of(m.video3d)},
        lambda spec, n, a: Video3D(spec.name, n, a["dropout"], _diff(a))),
    "motion": NetFamily(
        lambda m: {"threshold": m.motion.threshold, "segments": m.motion.segments},
        lambda spec, n, a: MotionLinear(n, a["threshold"], a["segments"])),
    "features": NetFamily(_backbone, lambda spec, n, a: FeatureLinear(
        n, spec.streams, a["backbone"], a["backbone_frames"])),
    "feature_temporal": NetFamily(
        lambda m: {**_backbone(m), "hidden": m.temporal.hidden, "dropout": m.temporal.dropout},
        lambda spec, n, a: FeatureTemporal(n, spec.streams, a["backbone"], a["backbone_frames"],
                                           a["hidden"], a["dropout"])),
    "tsn": NetFamily(
        lambda m: {**_backbone(m), "dropout": m.tsn.dropout, "backbone_lr_scale": m.tsn.lr_scale},
        lambda spec, n, a: AppearanceTSN(n, a["backbone"], a["backbone_frames"], a["dropout"],
                                         a["backbone_lr_scale"])),
}
# The argument names of each family (model.json's format-0 reader picks these out).
NET_ARGS: dict[str, tuple[str, ...]] = {kind: tuple(family.args(ModelConfig()))
                                        for kind, family in FAMILIES.items()}


def net_args(cfg: ModelConfig) -> dict[str, Any]:
    """What ``cfg.arch``'s constructor takes, from its family's params section."""
    return FAMILIES[ARCHITECTURES[cfg.arch].family].args(cfg)


def build_net(arch: str, num_classes: int, args: dict[str, Any]) -> nn.Module:
    """The untrained net of ``arch`` from its constructor arguments (``net_args``)."""
    return FAMILIES[ARCHITECTURES[arch].family].make(ARCHITECTURES[arch], num_classes, args)


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
        load_backbone(embedder.net, weights_file(cfg.backbone.name, cfg.pretrained_weights),
                      embedder.variant)
    elif cfg.pretrained_weights and ARCHITECTURES[cfg.arch].has_weights:  # a net of its own
        load_pretrained(model, Path(cfg.pretrained_weights))
    return model
