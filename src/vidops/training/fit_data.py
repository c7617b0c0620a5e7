"""The clips one fit learns from and is scored on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidops.data.clips import UsableClip


@dataclass(frozen=True)
class FitData:
    """``train`` to learn from, ``val`` to score every epoch on, the class names (the index
    of a label is its output), and the feature families' per-clip cache (None: computed,
    not kept). ``val_held_out``: val is a cross-validation fold's held-out part, so it must
    never choose the epoch nor be fitted on (choosing on it would inflate the fold's score):
    the last epoch is kept and the feature heads are not refitted on train + val."""

    train: list[UsableClip]
    val: list[UsableClip]
    classes: list[str]
    feature_cache: Path | None = None
    val_held_out: bool = False
