"""Per-epoch training checkpoints, so a killed training continues instead of starting over.

A checkpoint lives under ``train.checkpoint_dir/<key>/``, where the key hashes everything
the result depends on (model, train and frame params, the pretrained file, the train and
val clips with their labels): a run resumes only the training it would have repeated.
DVC deletes a stage's outputs before running it, so the folder is deliberately not one.
Writes are atomic (temporary file, then rename), and a digest of the checkpoint is written
after it: a checkpoint whose bytes differ from its digest (or that has none) is not
resumed from; training starts over with a warning naming the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import torch

from vidops.config import ExtractConfig, ModelConfig, TrainConfig
from vidops.data.clips import UsableClip
from vidops.fileio import atomic_write, atomic_write_json, digest_bytes, sha256_file

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

    @property
    def digest(self) -> Path:
        return self.dir / "last.pt.b2"

    def load(self) -> dict[str, Any] | None:
        """The last epoch's state, if it is the file that was written; else None (start over)."""
        if not self.last.is_file():
            return None
        data = self.last.read_bytes()
        recorded = self.digest.read_text().strip() if self.digest.is_file() else ""
        if recorded != digest_bytes(data):
            log.warning("%s: %s; training starts over", self.last,
                        "no digest beside it (not finished)" if not recorded
                        else "its bytes differ from the digest written with it")
            return None
        # weights_only: tensors and plain containers (optimizer and scheduler state are).
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)

    def save(self, state: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        data = buffer.getvalue()
        self.digest.unlink(missing_ok=True)  # no digest while last.pt is being replaced
        atomic_write(self.last, lambda handle: handle.write(data))
        atomic_write(self.digest, lambda handle: handle.write(digest_bytes(data).encode()))

    def read_json(self, name: str) -> Any | None:
        path = self.dir / name
        return json.loads(path.read_text()) if path.is_file() else None

    def write_json(self, name: str, value: Any) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.dir / name, value)

    def clear(self) -> None:
        """After a finished training: the model folder now holds the result."""
        shutil.rmtree(self.dir, ignore_errors=True)

