"""The clips a model may learn from or be scored on: decoded, not quarantined, one per id."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidops.data.records import read_frame_index, read_manifest


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


def load_frames(clips: list[UsableClip]) -> np.ndarray:
    """All clips' frames stacked, ``(N, T, H, W, 3)`` uint8."""
    return np.stack([np.load(c.frames_file) for c in clips])
