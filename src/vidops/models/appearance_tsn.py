"""``appearance_tsn``: the ImageNet backbone fine-tuned end to end, TSN-style.

Temporal Segment Networks (Wang et al., 2016): ``backbone_frames`` frames spread over the
clip (one per segment; the training views of ``extract.train_views`` move them within
their segments) each go through the same 2D backbone; the per-frame features are
averaged (TSN's consensus; with a linear head, averaging features or class scores is the
same) and one linear layer gives the logits.

Two choices follow TSN's advice for small video datasets:

- batch-norm statistics stay those of ImageNet (the embedder keeps its network in eval
  mode; weights and batch-norm scales still learn): a batch of 8 clips gives noisy
  statistics that would drift away from what the weights were trained with;
- the backbone learns ``model.tsn.lr_scale`` times slower than the new head
  (:meth:`AppearanceTSN.param_groups`): the head starts from nothing, the backbone from
  features worth keeping.

It is a neural arch like ``cnn_pool``: trained by the epoch loop of training/epoch_loop.py (AMP, DDP,
checkpoints, early stopping), saved as one state dict with the backbone inside. A GPU
makes it practical; on 2 CPU cores an epoch over a few hundred clips takes minutes, so
``auto`` only tries it where training runs on CUDA (``model.gpu_candidates``).
"""

from __future__ import annotations

import torch
from torch import nn

from vidops.features.appearance import FrameEmbedder
from vidops.features.efficientnet_lite import FEATURES
from vidops.models.feature_linear import backbone_indices


class AppearanceTSN(nn.Module):
    """``(B, T, H, W, 3)`` uint8 clips -> ``(B, classes)`` logits through a trainable backbone."""

    head_prefix = "head."  # replaced, not loaded, when a pretrained file has another class count

    def __init__(self, num_classes: int, backbone: str, segments: int, dropout: float,
                 backbone_lr_scale: float = 0.1) -> None:
        super().__init__()
        self.embedder = FrameEmbedder(backbone)
        self.segments = segments
        self.backbone_lr_scale = backbone_lr_scale
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(FEATURES, num_classes))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        b, t = clips.shape[:2]
        picked = clips[:, backbone_indices(t, self.segments)]
        features = self.embedder(picked.flatten(0, 1)).view(b, picked.shape[1], -1)
        return self.head(features.mean(dim=1))

    def param_groups(self, lr: float) -> list[dict]:
        """AdamW groups: the backbone at ``lr * backbone_lr_scale``, the head at ``lr``."""
        return [{"params": list(self.embedder.parameters()), "lr": lr * self.backbone_lr_scale},
                {"params": list(self.head.parameters()), "lr": lr}]
