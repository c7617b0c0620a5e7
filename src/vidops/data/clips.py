"""The clips a model may learn from or be scored on: decoded, not quarantined, one per id."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidops.data.records import read_frame_index, read_manifest
from vidops.errors import DataError
from vidops.fileio import file_digest


@dataclass(frozen=True)
class UsableClip:
    clip_id: str
    path: str
    label: str
    group: str
    split: str
    frames_file: Path


def usable_clips(manifest_path: Path, frames_dir: Path, validation_path: Path) -> list[UsableClip]:
    """Clips that decoded and were not quarantined by validate, one per clip id.

    Each clip's frames file is checked against the digest extract recorded for it: frames
    edited, truncated or swapped between clips (same shape, so nothing else notices) are
    refused, naming the file, instead of being trained on or scored as another clip."""
    quarantined = set(json.loads(validation_path.read_text()).get("quarantine", {}))
    frames = {r.clip_id: r for r in read_frame_index(frames_dir / "index.csv")}
    seen: set[str] = set()
    out = []
    for clip in read_manifest(manifest_path):
        row = frames.get(clip.clip_id)
        if clip.path in quarantined or clip.clip_id in seen or row is None or not row.frames_file:
            continue
        seen.add(clip.clip_id)
        _check_frames(frames_dir / row.frames_file, row.frames_digest)
        out.append(UsableClip(clip.clip_id, clip.path, clip.label, clip.group, clip.split,
                              frames_dir / row.frames_file))
    return out


def _check_frames(path: Path, digest: str) -> None:
    if not path.is_file():
        raise DataError(f"{path}: frames file missing; `dvc repro extract` decodes it again")
    if digest and file_digest(path) != digest:
        raise DataError(f"{path}: content differs from the digest extract recorded for it "
                        "(edited, truncated or swapped with another clip's); `dvc repro extract` "
                        "decodes it again")


def class_names(clips: list[UsableClip]) -> list[str]:
    return sorted({c.label for c in clips})


def load_frames(clips: list[UsableClip]) -> np.ndarray:
    """All clips' frames stacked, ``(N, T, H, W, 3)`` uint8."""
    return np.stack([np.load(c.frames_file) for c in clips])
