"""The clips one fit learns from and is scored on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from vidops.config import ModelConfig, TrainConfig
from vidops.data.clips import UsableClip
from vidops.training.tracker import Tracker


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


@dataclass(frozen=True)
class HeadJob:
    """One fit of a head on per-clip features (training/feature_heads.py): the params, the
    clips, where the model runs, and what it reports to (None: nothing, e.g. a DDP rank
    other than 0)."""

    model_cfg: ModelConfig
    cfg: TrainConfig
    data: FitData
    device: torch.device
    progress: bool = False
    tracker: Tracker | None = None
