"""A cache of per-clip features, so a feature is computed once per clip and reused.

Layout: ``<root>/<stream>-<extractor fingerprint>/<clip_id>-<frames digest>.npy``. The
folder's fingerprint hashes what the extractor computes with (its parameters, the
backbone's weights file, a code version); the file name adds the clip id and a digest
of the clip's extracted frames, so new frame parameters (size, T, sampling) or a
re-extracted clip miss the cache by construction. Nothing is ever invalidated by hand:
an entry either matches exactly or is not looked up. Every fold of ``model.arch: auto``,
the final fit and a retrain on more data read the same entries; adding k clips to N
computes k. Writes are atomic (temporary file, then rename). The cache is safe to delete.

Like the training checkpoints it lives outside DVC's outputs (DVC deletes a stage's outputs
before running it, which would defeat the cache); ``dvc.yaml`` lists the feature code and
``model`` params as the train stage's dependencies, so DVC still re-runs what changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidops.fileio import atomic_write


def fingerprint(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class CacheCounts:
    computed: int = 0
    reused: int = 0


class FeatureCache:
    """Features of one stream (``flow``, ``appearance``) for one extractor fingerprint."""

    def __init__(self, root: Path, stream: str, extractor: dict) -> None:
        self.dir = root / f"{stream}-{fingerprint(extractor)}"
        self.stream = stream
        self.extractor = extractor
        self.counts = CacheCounts()

    def get(self, clip_id: str, frames_file: Path,
            compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """The clip's features; computed from its frames (and stored) when missing."""
        data = frames_file.read_bytes()
        digest = hashlib.blake2b(data, digest_size=8).hexdigest()
        path = self.dir / f"{clip_id}-{digest}.npy"
        if path.is_file():
            self.counts.reused += 1
            return np.load(path)
        features = np.asarray(compute(np.load(frames_file)), dtype=np.float32)
        self._write(path, features)
        self.counts.computed += 1
        return features

    def _write(self, path: Path, features: np.ndarray) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        about = self.dir / "extractor.json"
        if not about.is_file():  # says what the folder's fingerprint stands for
            atomic_write(about, lambda f: f.write(json.dumps(self.extractor, indent=2).encode()))
        atomic_write(path, lambda f: np.save(f, features))
