"""A cache of per-clip features, so a feature is computed once per clip and reused.

Layout: ``<root>/<stream>-<extractor fingerprint>/<clip_id>-<frames digest>.npy``. The
folder's fingerprint hashes what the extractor computes with (its parameters, the
backbone's weights file, a code version); the file name adds the clip id and a digest
of the clip's extracted frames, so new frame parameters (size, T, sampling) or a
re-extracted clip miss the cache by construction. Nothing is ever invalidated by hand:
an entry either matches exactly or is not looked up. Every fold of ``model.arch: auto``,
the final fit and a retrain on more data read the same entries; adding k clips to N
computes k. Writes are atomic (temporary file, then rename). The cache is safe to delete.

Every entry is checked before it is reused: ``<entry>.b2`` (``fileio.write_with_digest``)
holds the digest of the entry's
bytes as written, and an entry whose bytes differ (edited, truncated, half-copied), or that
has no digest (a kill between the two writes), is computed again, with a warning naming it.

Like the training checkpoints it lives outside DVC's outputs (DVC deletes a stage's outputs
before running it, which would defeat the cache); ``dvc.yaml`` lists the feature code and
``model`` params as the train stage's dependencies, so DVC still re-runs what changed.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidops.errors import DataError
from vidops.fileio import (
    atomic_write,
    digest_bytes,
    digest_problem,
    file_digest,
    write_with_digest,
)

log = logging.getLogger(__name__)


def fingerprint(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class CacheCounts:
    computed: int = 0
    reused: int = 0
    rejected: int = 0  # entries that failed their check and were computed again


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
        key = file_frames_key(frames_file)  # on a hit the frames are never loaded
        found = self.lookup(clip_id, key)
        if found is not None:
            return found
        features = compute(load_frames(frames_file))
        self.put(clip_id, key, features)
        return np.asarray(features, dtype=np.float32)

    def lookup(self, clip_id: str, key: str) -> np.ndarray | None:
        """The stored features of the clip whose frames have ``key`` (``frames_key``), if
        there are good ones."""
        path = self._entry(clip_id, key)
        if path.is_file():
            problem = digest_problem(path)
            if not problem:
                self.counts.reused += 1
                return np.load(path)
            log.warning("%s: %s; computing the features of clip %s again", path, problem, clip_id)
            self.counts.rejected += 1
        return None

    def put(self, clip_id: str, key: str, features: np.ndarray) -> None:
        self._write(self._entry(clip_id, key), np.asarray(features, dtype=np.float32))
        self.counts.computed += 1

    def _entry(self, clip_id: str, key: str) -> Path:
        return self.dir / f"{clip_id}-{key}.npy"

    def _write(self, path: Path, features: np.ndarray) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        about = self.dir / "extractor.json"
        if not about.is_file():  # says what the folder's fingerprint stands for
            atomic_write(about, lambda f: f.write(json.dumps(self.extractor, indent=2).encode()))
        buffer = io.BytesIO()
        np.save(buffer, features)
        write_with_digest(path, buffer.getvalue())


def frames_key(data: bytes) -> str:
    """The part of an entry's name that stands for the clip's extracted frames (their bytes):
    computed once per clip and shared by every stream's cache. The first half of their
    content digest (``fileio.digest_bytes``), so a file's key comes from the digest every
    stage already checks it against (``file_frames_key``)."""
    return digest_bytes(data)[:16]


def file_frames_key(frames_file: Path) -> str:
    """``frames_key`` of a file's bytes, from its digest as hashed once per process."""
    return file_digest(frames_file)[:16]


def load_frames(frames_file: Path, data: bytes | None = None) -> np.ndarray:
    """A clip's extracted frames; an unreadable file is named, with what to do."""
    try:
        return np.load(io.BytesIO(data) if data is not None else frames_file)
    except (ValueError, EOFError, OSError) as err:
        raise DataError(f"{frames_file}: not a readable frames file ({err}); the extract stage "
                        "checks and re-decodes damaged frames: `dvc repro extract`") from None
