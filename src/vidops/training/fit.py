"""Fit one architecture on one train/val pair of clip lists: used by train and by model selection.

The dispatch only: neural models go through the one epoch loop (epoch_loop.py); the
motion model and the feature families fit a head on per-clip features
(feature_heads.py). All return ``FitResult`` with the same history rows and the kept
epoch chosen by the one rule in results.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vidops.architectures import NEURAL_3D
from vidops.config import ModelConfig, TrainConfig
from vidops.data.clips import UsableClip
from vidops.models.factory import build_model
from vidops.models.feature_linear import FeatureLinear
from vidops.models.feature_temporal import FeatureTemporal
from vidops.models.motion import MotionLinear
from vidops.training.checkpoint import Checkpoints
from vidops.training.devices import TrainingDevice
from vidops.training.distributed import DistEnv
from vidops.training.epoch_loop import NeuralLoop
from vidops.training.feature_heads import fit_feature_head, fit_motion_head, fit_temporal_head
from vidops.training.results import FitResult
from vidops.training.tracker import Tracker


def fit(model_cfg: ModelConfig, cfg: TrainConfig, train: list[UsableClip], val: list[UsableClip],
        classes: list[str], hw: TrainingDevice, progress: bool = True,
        tracker: Tracker | None = None, keep_best: bool = True, checkpoints: Checkpoints | None = None,
        env: DistEnv | None = None, feature_cache: Path | None = None) -> FitResult:
    """Train ``model_cfg.arch`` on ``train``, score every epoch on ``val``.

    ``keep_best=False`` (cross-validation): no early stopping and the last epoch is kept,
    because choosing the epoch on a fold's held-out clips would inflate its score.
    ``feature_cache``: the folder of per-clip features for the feature families (None:
    computed without keeping them).
    """
    env = env or DistEnv()
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    model = build_model(model_cfg, len(classes)).to(hw.device)
    if isinstance(model, MotionLinear):
        # One scikit-learn fit, no collectives: every rank does it, only rank 0 logs.
        return fit_motion_head(model, model_cfg, cfg, train, val, classes, hw.device,
                               tracker if env.is_main else None, feature_cache)
    if isinstance(model, FeatureTemporal):
        return fit_temporal_head(model, cfg, train, val, classes, feature_cache,
                                 progress and env.is_main, tracker if env.is_main else None,
                                 keep_best)
    if isinstance(model, FeatureLinear):
        # keep_best=False means val is a cross-validation fold's held-out part: never fit on it.
        return fit_feature_head(model, model_cfg, cfg, train, val, classes, feature_cache,
                                progress and env.is_main, tracker if env.is_main else None,
                                refit=keep_best and cfg.refit_on_val)
    if cfg.channels_last and model_cfg.arch in NEURAL_3D:
        model = model.to(memory_format=torch.channels_last_3d)
    loop = NeuralLoop(model, cfg, train, val, classes, hw, env)
    history, state, kept, resumed = loop.run(progress and env.is_main,
                                             tracker if env.is_main else None, keep_best,
                                             checkpoints if env.is_main else None)
    model.load_state_dict(state)
    return FitResult(model.eval(), history, kept, resumed)
