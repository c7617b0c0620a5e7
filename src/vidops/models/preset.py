"""``model.json``: what a trained model needs to answer, owned by the code that reads it.

Written once at train time from params (``preset_from_params``) and read back without the
params loader (``read_preset``): renaming or removing a ``model.*`` or ``extract.*`` param
never makes a model already in a team's registry unloadable. The preset holds the family,
the constructor arguments of its net (``factory.NET_ARGS``), the classes, how frames are
sampled and resized, and the normalisation the net applies inside.

Format 1 is this layout. Folders of earlier releases (format 0, no ``format`` key) held
the two params sections as they were then; they are read through the names those releases
used, frozen here, not through today's params. A newer format is refused by name.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidops.architectures import ARCHITECTURES
from vidops.config import ExtractConfig, ModelConfig
from vidops.errors import DataError
from vidops.fileio import atomic_write_json
from vidops.models.factory import NET_ARGS, net_args

FORMAT = 1


@dataclass(frozen=True)
class FramePreset:
    """How a clip becomes the model's input frames (``extract`` at train time)."""

    num_frames: int
    sampling: str
    stride: int
    short_clip: str
    size: int
    resize: str

    @classmethod
    def of(cls, cfg: ExtractConfig) -> FramePreset:
        return cls(cfg.num_frames, cfg.sampling, cfg.stride, cfg.short_clip, cfg.size, cfg.resize)

    @classmethod
    def read(cls, data: dict[str, Any]) -> FramePreset:
        """From model.json's ``frames``: exactly these fields, whatever else it holds."""
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})

    def extract_config(self) -> ExtractConfig:
        """The decoder's settings for these frames (the one place a preset meets params)."""
        return ExtractConfig(num_frames=self.num_frames, sampling=self.sampling,  # type: ignore[arg-type]
                             stride=self.stride, short_clip=self.short_clip,  # type: ignore[arg-type]
                             size=self.size, resize=self.resize)  # type: ignore[arg-type]


@dataclass(frozen=True)
class InferencePreset:
    arch: str
    classes: list[str]
    frames: FramePreset
    net: dict[str, Any]  # the constructor arguments of the arch's net
    normalisation: dict[str, Any] = field(default_factory=dict)  # recorded, applied by the net
    format: int = FORMAT


def preset_from_params(model_cfg: ModelConfig, frames_cfg: ExtractConfig,
                       classes: list[str]) -> InferencePreset:
    return InferencePreset(model_cfg.arch, list(classes), FramePreset.of(frames_cfg),
                           net_args(model_cfg), ARCHITECTURES[model_cfg.arch].normalisation())


def write_preset(path: Path, preset: InferencePreset) -> None:
    atomic_write_json(path, {"format": preset.format, **dataclasses.asdict(preset),
                             "input": "(B, T, H, W, 3) uint8 RGB; the model normalises internally"})


def read_preset(path: Path) -> InferencePreset:
    """The preset in ``path``, of this format or an earlier one; anything else is refused
    naming the file and what is wrong."""
    try:
        data = json.loads(path.read_text())
        version = int(data.get("format", 0))
    except (OSError, ValueError, TypeError, AttributeError) as err:
        raise DataError(f"{path}: not a model preset ({err})") from None
    if version > FORMAT:
        raise DataError(f"{path}: model preset format {version} is newer than this vidops "
                        f"reads (format {FORMAT}); install the vidops release that trained it "
                        "or a later one")
    try:
        preset = _format0(data) if version == 0 else _format1(data)
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"{path}: model preset format {version} is incomplete or malformed "
                        f"({type(err).__name__}: {err})") from None
    if preset.arch not in ARCHITECTURES:
        raise DataError(f"{path}: model family {preset.arch!r} is not one this vidops knows "
                        f"({', '.join(sorted(ARCHITECTURES))})")
    return preset


def _format1(data: dict[str, Any]) -> InferencePreset:
    return InferencePreset(str(data["arch"]), list(data["classes"]),
                           FramePreset.read(data["frames"]), dict(data["net"]),
                           dict(data.get("normalisation", {})), FORMAT)


# Format 0: the `model` and `extract` params sections as the releases up to 2026-12-06 named
# them. Frozen: a later rename of a param changes net_args, never this.
_FORMAT0_DEFAULTS = {"width": 16, "hidden": 64, "dropout": 0.2, "frame_diff": True,
                     "diff_gap": 1, "diff_scale": 1.0, "motion_threshold": 0.06,
                     "motion_segments": 2, "backbone": "efficientnet_lite0",
                     "backbone_frames": 8, "backbone_lr_scale": 0.1}
_FORMAT0_FRAMES = {"num_frames": 16, "sampling": "uniform", "stride": 2,
                   "short_clip": "stretch", "size": 112, "resize": "crop"}


def _format0(data: dict[str, Any]) -> InferencePreset:
    model = {**_FORMAT0_DEFAULTS, **data["model"]}
    every = {"width": model["width"], "hidden": model["hidden"], "dropout": model["dropout"],
             "diff": [model["diff_gap"], model["diff_scale"]] if model["frame_diff"] else None,
             "threshold": model["motion_threshold"], "segments": model["motion_segments"],
             "backbone": model["backbone"], "backbone_frames": model["backbone_frames"],
             "backbone_lr_scale": model["backbone_lr_scale"]}
    arch = str(model["arch"])
    if arch not in ARCHITECTURES:
        raise ValueError(f"model family {arch!r} is not one this vidops knows")
    net = {key: every[key] for key in NET_ARGS[ARCHITECTURES[arch].family]}
    return InferencePreset(arch, list(data["classes"]),
                           FramePreset.read({**_FORMAT0_FRAMES, **data["frames"]}),
                           net, dict(data.get("normalisation", {})), 0)
