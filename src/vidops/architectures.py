"""The one table of architectures: every other place (config, factory, fit, auto) reads it.

Adding an architecture of an existing family is one row here; a new family also needs its
params section (``config.ModelConfig``), its row in ``models/factory.FAMILIES`` (constructor
arguments from that section, and the net), its input scaling in ``FRAME_NORMALISATION``
below (a net that reads frames) and, when it fits a head on per-clip features instead of
training for epochs, its row in ``training/fit.HEAD_FITS``. No other place branches on the
family. Standard library only, so the config loader can check ``model.arch`` without
importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["frames2d", "cnn_lstm", "video3d", "motion", "features", "feature_temporal",
                 "tsn"]


@dataclass(frozen=True)
class Normalisation:
    """How a network's input is scaled: ``(pixel / 255 - mean) / std`` per RGB channel."""

    name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def as_dict(self) -> dict:
        return {"name": self.name, "scale": 1 / 255, "mean": list(self.mean), "std": list(self.std)}


IMAGENET = Normalisation("imagenet", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
# torchvision's video models were trained on Kinetics-400 with these statistics.
KINETICS = Normalisation("kinetics-400", (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989))
# TF EfficientNet-Lite maps pixels to [-1, 1].
EFFICIENTNET_LITE = Normalisation("efficientnet-lite", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


@dataclass(frozen=True)
class Architecture:
    name: str
    family: Family
    streams: tuple[str, ...] = ()  # per-frame feature streams (feature families)
    backbone: bool = False  # the pretrained EfficientNet-Lite is inside
    has_weights: bool = True  # model.pretrained_weights has something to load
    uses_views: bool = True  # trains on the DataLoader's clips: train_views and augment apply

    @property
    def fits_a_head(self) -> bool:
        """Fits a head on per-clip features (no epochs): cheap enough to fit k times over."""
        return self.family in ("motion", "features", "feature_temporal")

    def normalisation(self) -> dict:
        """What ``model.json`` records about the input scaling this architecture uses."""
        if self.family in FRAME_NORMALISATION:
            return FRAME_NORMALISATION[self.family].as_dict()
        if self.family == "motion":
            return STREAM_NORMALISATION["motion"]
        return {"streams": {s: STREAM_NORMALISATION[s] for s in self.streams}}


# The nets that read frames normalise them like the weights they start from; the feature
# streams each read theirs (grey levels for motion and flow, the backbone's for appearance).
FRAME_NORMALISATION = {"frames2d": IMAGENET, "cnn_lstm": IMAGENET, "video3d": KINETICS,
                       "tsn": EFFICIENTNET_LITE}
STREAM_NORMALISATION = {"motion": {"name": "bt601-grey", "scale": 1 / 255},
                        "flow": {"name": "bt601-grey", "scale": 1 / 255},
                        "appearance": EFFICIENTNET_LITE.as_dict()}


ARCHITECTURES: dict[str, Architecture] = {a.name: a for a in (
    Architecture("cnn_lstm", "cnn_lstm"),
    Architecture("cnn_pool", "frames2d"),
    Architecture("motion_linear", "motion", has_weights=False, uses_views=False),
    Architecture("r3d_18", "video3d"),
    Architecture("mc3_18", "video3d"),
    Architecture("r2plus1d_18", "video3d"),
    Architecture("flow_linear", "features", ("flow",), has_weights=False, uses_views=False),
    Architecture("appearance_linear", "features", ("appearance",), backbone=True, uses_views=False),
    Architecture("fusion_linear", "features", ("flow", "appearance"), backbone=True,
                 uses_views=False),
    Architecture("fusion_temporal", "feature_temporal", ("flow", "appearance"), backbone=True,
                 uses_views=False),
    Architecture("appearance_tsn", "tsn", backbone=True),
)}
NEURAL_3D = tuple(a.name for a in ARCHITECTURES.values() if a.family == "video3d")
