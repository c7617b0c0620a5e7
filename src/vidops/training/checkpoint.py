"""Per-epoch training checkpoints, so a killed training continues instead of starting over.

A checkpoint lives under ``train.checkpoint_dir/<key>/``, where the key hashes everything
the result depends on (model, train and frame params, the pretrained file, the train and
val clips with their labels): a run resumes only the training it would have repeated.
DVC deletes a stage's outputs before running it, so the folder is deliberately not one.
Writes are atomic (temporary file, then rename): a kill during a save leaves the previous
epoch's checkpoint intact.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import torch

from vidops.config import ExtractConfig, ModelConfig, TrainConfig
from vidops.data.clips import UsableClip
from vidops.fileio import atomic_write, atomic_write_json, sha256_file

log = logging.getLogger(__name__)

# Fields that change how fast training runs, not what it computes.
_NOT_IN_KEY = {"device", "num_workers", "checkpoint_dir", "resume", "compile", "processes"}


def training_key(model_cfg: ModelConfig, cfg: TrainConfig, frames: ExtractConfig,
                 train: list[UsableClip], val: list[UsableClip]) -> str:
    payload = {
        "model": dataclasses.asdict(model_cfg),
        "train": {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _NOT_IN_KEY},
        "frames": {k: v for k, v in dataclasses.asdict(frames).items() if k != "workers"},
        "clips": sorted((c.clip_id, c.label, c.split) for c in train + val),
    }
    if model_cfg.pretrained_weights and Path(model_cfg.pretrained_weights).is_file():
        payload["pretrained"] = sha256_file(Path(model_cfg.pretrained_weights))
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class Checkpoints:
    """The checkpoint folder of one training (by key)."""

    def __init__(self, root: Path, key: str) -> None:
        self.dir = root / key

    @property
    def last(self) -> Path:
        return self.dir / "last.pt"

    def load(self) -> dict[str, Any] | None:
        if not self.last.is_file():
            return None
        # weights_only: tensors and plain containers (optimizer and scheduler state are).
        return torch.load(self.last, map_location="cpu", weights_only=True)

    def save(self, state: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.last, lambda handle: torch.save(state, handle))

    def read_json(self, name: str) -> Any | None:
        path = self.dir / name
        return json.loads(path.read_text()) if path.is_file() else None

    def write_json(self, name: str, value: Any) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.dir / name, value)

    def clear(self) -> None:
        """After a finished training: the model folder now holds the result."""
        shutil.rmtree(self.dir, ignore_errors=True)

