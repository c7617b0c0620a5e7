"""Stage extract: the frames of every clip in the manifest (data/extraction.py does the work).

Incremental and parallel; see ``vidops.data.extraction``.
"""

from __future__ import annotations

from pathlib import Path

from vidops.config import ExtractConfig
from vidops.data.extraction import ExtractResult, extract_frames

__all__ = ["ExtractResult", "run_extract"]


def run_extract(cfg: ExtractConfig, manifest_path: Path, frames_dir: Path,
                progress: bool = True) -> ExtractResult:
    """Decode what is new or changed into ``frames_dir``; reuse the rest."""
    return extract_frames(cfg, manifest_path, frames_dir, progress)
