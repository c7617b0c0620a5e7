"""torchvision's 3D CNNs (r3d_18, mc3_18, r2plus1d_18) behind the same uint8 clip interface.

Randomly initialised (``weights=None``): nothing is downloaded. To start from Kinetics
weights, save them once with torchvision on a machine with network access and point
``model.pretrained_weights`` at the file (see models/pretrained.py).
"""

from __future__ import annotations

import torch
from torch import nn

from vidops.architectures import KINETICS
from vidops.models.video_nets import FrameDiff, frame_differences

# The statistics torchvision's Kinetics-400 weights were trained with: a pretrained
# checkpoint only transfers when its inputs are normalised the same way.
KINETICS_MEAN, KINETICS_STD = KINETICS.mean, KINETICS.std


def _builder(arch: str):
    # Imported here: torchvision costs 2.5 s at start-up, and most runs use no 3D model.
    from torchvision.models import video

    return {"r3d_18": video.r3d_18, "mc3_18": video.mc3_18, "r2plus1d_18": video.r2plus1d_18}[arch]


class Video3D(nn.Module):
    """``(B, T, H, W, 3)`` uint8 -> logits through a torchvision VideoResNet as ``self.net``."""

    head_prefix = "net.fc."  # the classifier: replaced, not loaded, when the class count differs

    def __init__(self, arch: str, num_classes: int, dropout: float,
                 frame_diff: FrameDiff = None) -> None:
        super().__init__()
        self.frame_diff = frame_diff
        net = _builder(arch)(weights=None)
        if frame_diff:
            # Same stem, twice the input channels: RGB then the frame differences.
            old = net.stem[0]
            net.stem[0] = nn.Conv3d(6, old.out_channels, old.kernel_size, old.stride,
                                    old.padding, bias=False)
        net.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(net.fc.in_features, num_classes))
        self.net = net
        self.register_buffer("mean", torch.tensor(KINETICS_MEAN), persistent=False)
        self.register_buffer("std", torch.tensor(KINETICS_STD), persistent=False)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        # Normalise in the clip's own (B, T, H, W, C) layout; the final permute to
        # (B, C, T, H, W) then has NDHWC strides, which is channels_last_3d: a model
        # converted to that memory format gets its input in it without a copy.
        x = (clips.float().div_(255.0) - self.mean) / self.std
        if self.frame_diff:
            x = torch.cat([x, frame_differences(x, *self.frame_diff)], dim=-1)
        return self.net(x.permute(0, 4, 1, 2, 3))
