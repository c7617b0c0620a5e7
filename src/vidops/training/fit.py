"""Fit one architecture on one train/val pair of clip lists: used by train and by model selection.

The dispatch only, by the architecture's family: the families in ``HEAD_FITS`` fit a head
on per-clip features (feature_heads.py); every other goes through the one epoch loop
(epoch_loop.py). All return ``FitResult`` with the same history rows and the kept
epoch chosen by the one rule in results.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from vidops.architectures import ARCHITECTURES, NEURAL_3D
from vidops.config import ModelConfig, TrainConfig
from vidops.models.factory import build_model
from vidops.training.checkpoint import Checkpoints
from vidops.training.devices import TrainingDevice
from vidops.training.distributed import DistEnv
from vidops.training.epoch_loop import NeuralLoop
from vidops.training.feature_heads import fit_feature_head, fit_temporal_head
from vidops.training.fit_data import FitData, HeadJob
from vidops.training.results import FitResult
from vidops.training.tracker import Tracker

# The families that fit a head on per-clip features, each with its fit; every other family
# trains for epochs in the one neural loop.
HEAD_FITS: dict[str, Callable[[Any, HeadJob], FitResult]] = {
    "motion": fit_feature_head,
    "feature_temporal": fit_temporal_head,
    "features": fit_feature_head,
}


def fit(model_cfg: ModelConfig, cfg: TrainConfig, data: FitData, hw: TrainingDevice,
        progress: bool = True, tracker: Tracker | None = None,
        checkpoints: Checkpoints | None = None, env: DistEnv | None = None) -> FitResult:
    """Train ``model_cfg.arch`` on ``data.train``, score every epoch on ``data.val``.

    ``data.val_held_out`` (cross-validation): no early stopping and the last epoch is kept,
    because choosing the epoch on a fold's held-out clips would inflate its score.
    """
    env = env or DistEnv()
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    model = build_model(model_cfg, len(data.classes)).to(hw.device)
    tracker = tracker if env.is_main else None
    progress = progress and env.is_main
    fit_head = HEAD_FITS.get(ARCHITECTURES[model_cfg.arch].family)
    if fit_head is not None:
        # No collectives in a head's fit: every rank does it, only rank 0 logs.
        return fit_head(model, HeadJob(model_cfg, cfg, data, hw.device, progress, tracker))
    if cfg.channels_last and model_cfg.arch in NEURAL_3D:
        model = model.to(memory_format=torch.channels_last_3d)
    loop = NeuralLoop(model, cfg, data.train, data.val, data.classes, hw, env)
    history, state, kept, resumed = loop.run(progress, tracker, not data.val_held_out,
                                             checkpoints if env.is_main else None)
    model.load_state_dict(state)
    return FitResult(model.eval(), history, kept, resumed)
