"""Feature families: pretrained appearance and/or optical-flow features, pooled over time,
then a logistic-regression head.

| arch | streams |
| --- | --- |
| ``flow_linear`` | optical-flow descriptors (features/optical_flow.py) |
| ``appearance_linear`` | ImageNet EfficientNet-Lite embeddings of the frames |
| ``fusion_linear`` | both, fused late with learnt weights (models/linear_head.py) |

A stream gives one row per frame (appearance) or per pair of consecutive distinct frames (flow);
a clip is described by each stream's mean over time, spread over time (std) and mean
absolute change from one row to the next. The mean of signed changes would collapse to
(last - first) / (T - 1); the absolute change keeps how much things change. Models saved
before 2026-12-06 also pooled the mean over each third of the clip (``segments=3``); with
32 frames a clip that doubled the features for no gain (group CV, flow: ut_set1 0.853
with thirds, 0.895 without; udacity_ps7 1.000 both; demo 0.953 and 0.942, within their
spread), so they are gone from new models and still read in old ones (artifact.py).

The module takes ``(B, T, H, W, 3)`` uint8 clips and returns logits like every other
vidops model, with the backbone's weights inside its state dict, so the model folder
alone turns a decoded clip into probabilities. Training does not call ``forward``: it
reads each stream's rows from the feature cache (computed once per clip with
:meth:`stream_rows`, the same code ``forward`` runs), pools them and fits the head.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn

from vidops.features import optical_flow as flow
from vidops.features.appearance import FrameEmbedder
from vidops.features.efficientnet_lite import FEATURES

ROW_DIMS = {"flow": flow.DIM, "appearance": FEATURES}
LEGACY_SEGMENTS = 3  # the temporal thirds of models saved before 2026-12-06


def pools(segments: int) -> int:
    """Pooled vectors per stream: mean, std, mean absolute change, then one per segment."""
    return 3 + segments


POOLS = pools(0)


def pool_rows(rows: np.ndarray, segments: int = 0) -> np.ndarray:
    """``(R, D)`` rows of one clip -> ``(pools(segments) * D,)`` clip features (module doc)."""
    r = len(rows)
    change = np.abs(np.diff(rows, axis=0)).mean(0) if r > 1 else np.zeros(rows.shape[1])
    # Segment k covers rows [k R / n, (k + 1) R / n), at least one row when R < n.
    bounds = [(k * r // segments, max((k + 1) * r // segments, k * r // segments + 1))
              for k in range(segments)]
    parts = [rows[min(a, r - 1):b].mean(0) for a, b in bounds]
    return np.concatenate([rows.mean(0), rows.std(0), change, *parts]).astype(np.float32)


def backbone_indices(num_frames: int, backbone_frames: int) -> list[int]:
    """Evenly spread frames for the backbone (appearance changes slowly; it is the cost)."""
    k = min(num_frames, backbone_frames)
    return [int((i + 0.5) * num_frames / k) for i in range(k)]


class FeatureStreams(nn.Module):
    """The per-frame feature streams of a clip; subclasses add a head over them."""

    def __init__(self, streams: tuple[str, ...], backbone: str, backbone_frames: int) -> None:
        super().__init__()
        unknown = set(streams) - set(ROW_DIMS)
        if not streams or unknown:
            raise ValueError(f"unknown feature streams {sorted(unknown)}; known: {sorted(ROW_DIMS)}")
        self.streams = streams
        self.backbone_frames = backbone_frames
        self.embedder = FrameEmbedder(backbone) if "appearance" in streams else None

    def stream_rows(self, clip: np.ndarray, stream: str) -> np.ndarray:
        """One clip ``(T, H, W, 3)`` uint8 -> ``(R, D)`` float32 rows of ``stream``."""
        if stream == "flow":
            return flow.flow_descriptors(clip)
        assert self.embedder is not None, "appearance rows need the backbone"
        frames = torch.from_numpy(np.ascontiguousarray(clip[backbone_indices(len(clip),
                                                                             self.backbone_frames)]))
        device = next(self.embedder.parameters()).device
        with torch.inference_mode():
            return self.embedder(frames.to(device)).float().cpu().numpy()

    def mirrors_rows(self, stream: str) -> bool:
        """Whether the rows of a clip flipped left to right follow from the clip's own rows."""
        return stream == "flow"

    def mirror_rows(self, stream: str, rows: np.ndarray) -> np.ndarray:
        """The rows of the flipped clip from the clip's own (where ``mirrors_rows``)."""
        assert self.mirrors_rows(stream)
        return flow.mirror_descriptors(rows)

    def extractor(self, stream: str) -> dict:
        """Everything a stream's rows depend on besides the frames: the feature cache's key."""
        if stream == "flow":
            return {"stream": "flow", "size": flow.FLOW_SIZE, "bins": flow.BINS, "grid": flow.GRID,
                    "estimators": list(flow.ESTIMATORS),
                    # 2: sums over all pairs at once (float64): other low bits than 1;
                    # 3: pairs of a frame with its copy skipped
                    "version": 3}
        assert self.embedder is not None
        digest = hashlib.sha256()
        for key, tensor in sorted(self.embedder.state_dict().items()):
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().numpy().tobytes())
        return {"stream": "appearance", "variant": self.embedder.variant,
                "weights": digest.hexdigest()[:16], "backbone_frames": self.backbone_frames,
                # 2: computed with one torch thread, so the bytes do not depend on the machine
                "version": 2}

    def clip_rows(self, clips: torch.Tensor) -> list[dict[str, np.ndarray]]:
        """``(B, T, H, W, 3)`` uint8 -> per clip, each stream's rows."""
        return [{s: self.stream_rows(c, s) for s in self.streams} for c in clips.cpu().numpy()]


class FeatureLinear(FeatureStreams):
    """Streams of per-frame features -> pooled over time -> standardised -> one linear layer."""

    def __init__(self, num_classes: int, streams: tuple[str, ...], backbone: str,
                 backbone_frames: int, segments: int = 0) -> None:
        super().__init__(streams, backbone, backbone_frames)
        self.segments = segments
        self.blocks = [pools(segments) * ROW_DIMS[s] for s in streams]
        dim = sum(self.blocks)
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.head = nn.Linear(dim, num_classes)
        nn.init.zeros_(self.head.weight)  # unfitted: uniform probabilities, not noise
        nn.init.zeros_(self.head.bias)

    def pooled(self, rows: dict[str, np.ndarray]) -> np.ndarray:
        """Each stream's ``(R, D)`` rows of one clip -> its ``(F,)`` clip features."""
        return np.concatenate([pool_rows(rows[s], self.segments) for s in self.streams])

    def head_streams(self) -> list[tuple[str, int]]:
        """Each stream and its columns, for the linear-head fit (training/feature_heads.py)."""
        return list(zip(self.streams, self.blocks, strict=True))

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, F)`` pooled clip features -> ``(B, classes)``."""
        return self.head((features.to(self.mean.device) - self.mean) / self.scale)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """``(B, T, H, W, 3)`` uint8 -> ``(B, classes)`` logits."""
        features = np.stack([self.pooled(rows) for rows in self.clip_rows(clips)])
        return self.logits(torch.from_numpy(features))
