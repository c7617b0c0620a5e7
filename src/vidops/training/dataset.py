"""A torch Dataset over the extracted frames of usable clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vidops.data.clips import UsableClip
from vidops.data.records import views_file


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
