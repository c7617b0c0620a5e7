"""Typed clip records shared between stages, saved as headered CSV."""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vidops.errors import DataError
from vidops.fileio import atomic_write

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class ClipRecord:
    """One clip of the dataset, one row of artifacts/manifest.csv."""

    clip_id: str  # first 16 hex digits of sha256: identical bytes are one clip
    path: str  # relative to the project root, e.g. data/raw/slide/slide_000.mp4
    label: str  # class name (the folder under data/raw)
    group: str  # clips of one group (person, camera, session) never span two splits
    split: Split
    sha256: str
    bytes: int


@dataclass(frozen=True)
class FrameRecord:
    """Probe and content stats of one clip, one row of artifacts/frames/index.csv."""

    clip_id: str
    path: str
    frames_file: str  # <clip_id>.npy inside the frames folder; empty when decoding failed
    decoded_frames: int  # counted by decoding; 0 when decoding failed
    header_frames: int  # what the container claims
    fps: float
    width: int
    height: int
    duration_s: float
    codec: str
    mean_intensity: float  # of the sampled frames, in [0, 1]
    motion_energy: float  # mean absolute difference of consecutive sampled frames, [0, 1]
    decode_error: str  # empty when the clip decoded
    # Content digests (fileio.digest_file) of the frame files as written: a reused file is
    # checked against them, so a truncated, rewritten or half-replaced file is decoded again.
    frames_digest: str = ""
    views_digest: str = ""  # of <clip_id>.views.npy; empty without extract.train_views


def views_file(frames_file: str) -> str:
    """``<clip_id>.views.npy``: the jittered training views (``extract.train_views`` > 0),
    ``(K, T, H, W, 3)`` uint8 beside the deterministic ``<clip_id>.npy``."""
    return frames_file.removesuffix(".npy") + ".views.npy"


def write_records(path: Path, records: list, record_type: type) -> None:
    """Write dataclass records as CSV with a header; atomically, via a temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [f.name for f in dataclasses.fields(record_type)]

    def write(handle) -> None:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        for record in records:
            writer.writerow(dataclasses.asdict(record))

    atomic_write(path, write, text=True)


def read_records(path: Path, record_type: type) -> list:
    """Read CSV written by :func:`write_records`, converting each column to its field type.

    A column added in a later release (a field with a default) may be missing from an older
    file: the default is used.
    """
    fields = {f.name: f.type for f in dataclasses.fields(record_type)}
    optional = {f.name for f in dataclasses.fields(record_type)
                if f.default is not dataclasses.MISSING}
    casts = {"int": int, "float": float}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        present = set(reader.fieldnames or [])
        missing = set(fields) - present - optional
        if missing:
            raise DataError(f"{path}: missing columns {sorted(missing)}")
        return [
            record_type(**{k: casts.get(str(t), str)(row[k]) for k, t in fields.items()
                           if k in present})
            for row in reader
        ]


def read_manifest(path: Path) -> list[ClipRecord]:
    return read_records(path, ClipRecord)


def read_frame_index(path: Path) -> list[FrameRecord]:
    return read_records(path, FrameRecord)
