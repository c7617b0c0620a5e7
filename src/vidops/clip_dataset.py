"""The clips a model may learn from or be scored on, and a torch Dataset over their frames."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vidops.manifest import read_frame_index, read_manifest, views_file


@dataclass(frozen=True)
class UsableClip:
    clip_id: str
    path: str
    label: str
    group: str
    split: str
    frames_file: Path


def usable_clips(manifest_path: Path, frames_dir: Path, validation_path: Path) -> list[UsableClip]:
    """Clips that decoded and were not quarantined by validate, one per clip id."""
    quarantined = set(json.loads(validation_path.read_text()).get("quarantine", {}))
    frames = {r.clip_id: r for r in read_frame_index(frames_dir / "index.csv")}
    seen: set[str] = set()
    out = []
    for clip in read_manifest(manifest_path):
        row = frames.get(clip.clip_id)
        if clip.path in quarantined or clip.clip_id in seen or row is None or not row.frames_file:
            continue
        seen.add(clip.clip_id)
        out.append(UsableClip(clip.clip_id, clip.path, clip.label, clip.group, clip.split,
                              frames_dir / row.frames_file))
    return out


def class_names(clips: list[UsableClip]) -> list[str]:
    return sorted({c.label for c in clips})


class FramesDataset(Dataset):
    """Item: ``(T, H, W, 3)`` uint8 frames and the class index.

    With ``jitter``, each epoch draws one of the clip's views (the deterministic one or
    one of the ``extract.train_views`` jittered ones) from a generator seeded by
    ``(seed, epoch, item)``: reproducible, the same in every DataLoader worker, and the
    same after a resume. Call :meth:`set_epoch` before iterating (loader workers are
    not persistent, so each epoch's workers get the new epoch).
    """

    def __init__(self, clips: list[UsableClip], classes: list[str], jitter: bool = False,
                 seed: int = 0) -> None:
        self.clips = clips
        self.index = {name: i for i, name in enumerate(classes)}
        self.views = [_views_path(c.frames_file) if jitter else None for c in clips]
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        clip = self.clips[i]
        views = self.views[i]
        if views is not None:
            stored = np.load(views, mmap_mode="r")  # (K, T, H, W, 3): read one view only
            pick = np.random.default_rng((self.seed, self.epoch, i)).integers(len(stored) + 1)
            if pick:
                return torch.from_numpy(np.array(stored[pick - 1])), self.index[clip.label]
        return torch.from_numpy(np.load(clip.frames_file)), self.index[clip.label]


def _views_path(frames_file: Path) -> Path | None:
    path = frames_file.with_name(views_file(frames_file.name))
    return path if path.is_file() else None


def load_frames(clips: list[UsableClip]) -> np.ndarray:
    """All clips' frames stacked, ``(N, T, H, W, 3)`` uint8."""
    return np.stack([np.load(c.frames_file) for c in clips])
