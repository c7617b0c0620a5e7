"""Per-epoch training checkpoints, so a killed training continues instead of starting over.

A checkpoint lives under ``train.checkpoint_dir/<key>/``, where the key hashes everything
the result depends on (model, train and frame params, the pretrained file, the train and
val clips with their labels): a run resumes only the training it would have repeated.
DVC deletes a stage's outputs before running it, so the folder is deliberately not one.
Each epoch's checkpoint is a new file, ``epoch-<N>.pt``, written atomically (temporary file,
then rename) and followed by ``epoch-<N>.pt.b2``, the digest of its bytes; only then are the
older epochs' files removed. So a kill at any moment leaves the previous finished checkpoint
or the new one, never neither (overwriting one ``last.pt`` in place could not: a kill between
the file and its digest lost the epoch before too). A checkpoint whose bytes differ from its
digest, or that has none, is not resumed from: the newest one that checks out is, and
training starts over only when none does, with a warning naming each file passed over.
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
from vidops.fileio import (
    atomic_write_json,
    digest_path,
    digest_problem,
    sha256_file,
    write_with_digest,
)

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

    def path(self, epoch: int) -> Path:
        return self.dir / f"epoch-{epoch:04d}.pt"

    def files(self) -> list[Path]:
        """The checkpoint files present, newest epoch first."""
        return sorted(self.dir.glob("epoch-*.pt"), reverse=True)

    def load(self) -> dict[str, Any] | None:
        """The newest epoch's state whose file is the one written; None: start over."""
        for checkpoint in self.files():
            data = checkpoint.read_bytes()
            problem = digest_problem(checkpoint, data)
            if not problem:
                # weights_only: tensors and plain containers (optimizer and scheduler state are).
                return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            log.warning("%s: %s; not resumed from", checkpoint, problem)
        if self.files():
            log.warning("%s: no checkpoint checks out; training starts over", self.dir)
        return None

    def save(self, state: dict[str, Any]) -> None:
        """Write epoch ``state["epoch"]``; the older epochs go only once it is complete."""
        self.dir.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        checkpoint = self.path(int(state["epoch"]))
        write_with_digest(checkpoint, buffer.getvalue())  # its digest is what makes it count
        for old in self.files():
            if old != checkpoint:
                digest_path(old).unlink(missing_ok=True)  # first: a lone file is never trusted
                old.unlink(missing_ok=True)

    def read_json(self, name: str) -> Any | None:
        path = self.dir / name
        return json.loads(path.read_text()) if path.is_file() else None

    def write_json(self, name: str, value: Any) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.dir / name, value)

    def clear(self) -> None:
        """After a finished training: the model folder now holds the result."""
        shutil.rmtree(self.dir, ignore_errors=True)

