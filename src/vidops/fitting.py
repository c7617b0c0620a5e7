"""Fit one architecture on one train/val pair of clip lists: used by train and by model selection.

Neural models: AdamW with a one-cycle schedule, optional mixed precision, channels-last
3D convolutions, ``torch.compile`` and DistributedDataParallel; early stopping on
validation macro F1 with the best epoch kept; a checkpoint after every epoch from which
a killed run resumes to the same result. The motion model and the feature families
(feature_fitting.py): features once, a logistic regression fitted by scikit-learn (one
"epoch"). All return the same history rows.

Reproducibility: every epoch reseeds dropout, the shuffle, the view choice and the
augmentation from ``(train.seed, epoch)``, so an epoch computes the same thing whether
it follows the previous one in the same process or a resume from its checkpoint.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import f1_score
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from vidops.augment import augment
from vidops.checkpoint import Checkpoints
from vidops.clip_dataset import FramesDataset, UsableClip
from vidops.config import NEURAL_3D, ModelConfig, TrainConfig
from vidops.devices import TrainingDevice
from vidops.distributed import DistEnv, all_sum, broadcast
from vidops.models import build_model
from vidops.models.feature_linear import FeatureLinear
from vidops.models.feature_temporal import FeatureTemporal
from vidops.models.linear_head import fit_linear_head
from vidops.models.motion import MotionLinear

log = logging.getLogger(__name__)

PREFETCH = 4  # batches each loader process keeps ready: enough to hide a slow disk read


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    val_f1: float
    lr: float
    seconds: float  # training and validation of this epoch
    clips_per_s: float  # training throughput (all processes)
    data_wait: float  # share of the training time spent waiting for the next batch


@dataclass(frozen=True)
class FitResult:
    model: nn.Module  # with the kept epoch's weights, in eval mode
    history: list[EpochStats]
    kept: EpochStats  # the epoch whose weights ``model`` holds
    resumed_from: int = 0  # the epoch a checkpoint brought back (0: started fresh)


def fit(model_cfg: ModelConfig, cfg: TrainConfig, train: list[UsableClip], val: list[UsableClip],
        classes: list[str], hw: TrainingDevice, progress: bool = True,
        log_metrics: bool = True, keep_best: bool = True, checkpoints: Checkpoints | None = None,
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
        return _fit_motion(model, model_cfg, cfg, train, val, classes, hw.device,
                           log_metrics and env.is_main)
    if isinstance(model, FeatureTemporal):
        from vidops.feature_fitting import fit_temporal_head

        return fit_temporal_head(model, cfg, train, val, classes, feature_cache,
                                 progress and env.is_main, log_metrics and env.is_main, keep_best)
    if isinstance(model, FeatureLinear):
        from vidops.feature_fitting import fit_feature_head

        # keep_best=False means val is a cross-validation fold's held-out part: never fit on it.
        return fit_feature_head(model, model_cfg, cfg, train, val, classes, feature_cache,
                                progress and env.is_main, log_metrics and env.is_main,
                                refit=keep_best and cfg.refit_on_val)
    if cfg.channels_last and model_cfg.arch in NEURAL_3D:
        model = model.to(memory_format=torch.channels_last_3d)
    loop = _NeuralLoop(model, cfg, train, val, classes, hw, env)
    history, state, resumed = loop.run(progress and env.is_main, log_metrics and env.is_main,
                                       keep_best, checkpoints if env.is_main else None)
    kept = max(history, key=lambda s: (s.val_f1, -s.val_loss)) if keep_best else history[-1]
    model.load_state_dict(state)
    return FitResult(model.eval(), history, kept, resumed)


class _NeuralLoop:
    def __init__(self, model: nn.Module, cfg: TrainConfig, train: list[UsableClip],
                 val: list[UsableClip], classes: list[str], hw: TrainingDevice,
                 env: DistEnv) -> None:
        self.model, self.cfg, self.hw, self.env = model, cfg, hw, env
        cuda = hw.device.type == "cuda"
        self.dataset = FramesDataset(train, classes, jitter=cfg.augment.temporal_jitter,
                                     seed=cfg.seed)
        self.sampler = (DistributedSampler(self.dataset, env.world_size, env.rank, shuffle=True,
                                           seed=cfg.seed) if env.active else None)
        self.generator = torch.Generator()
        # Loader processes are not persistent: each epoch's get the dataset's new epoch.
        self.loader = DataLoader(self.dataset, batch_size=cfg.batch_size,
                                 shuffle=self.sampler is None, sampler=self.sampler,
                                 generator=self.generator, num_workers=hw.workers,
                                 pin_memory=cuda, prefetch_factor=PREFETCH if hw.workers else None)
        self.val_loader = DataLoader(FramesDataset(val, classes), batch_size=cfg.batch_size,
                                     pin_memory=cuda)
        net: nn.Module = model
        if env.active:
            log.info("rank %d/%d trains on %d of %d clips per epoch", env.rank, env.world_size,
                     len(self.sampler or []), len(self.dataset))
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(model, device_ids=[hw.device] if cuda else None)
        self.forward: Any = torch.compile(net) if cfg.compile else net
        # A model with a pretrained part gives its own groups (a slower backbone).
        groups = (model.param_groups(cfg.lr) if hasattr(model, "param_groups")
                  else [{"params": list(model.parameters()), "lr": cfg.lr}])
        self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=[g["lr"] for g in groups],
            total_steps=cfg.epochs * len(self.loader))
        self.scaler = torch.amp.GradScaler(hw.device.type, enabled=hw.needs_scaler)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

    def run(self, progress: bool, log_metrics: bool, keep_best: bool,
            checkpoints: Checkpoints | None) -> tuple[list[EpochStats], dict[str, torch.Tensor], int]:
        import mlflow

        cfg, env = self.cfg, self.env
        history: list[EpochStats] = []
        best_f1, best_epoch = -1.0, 0
        best_state = copy.deepcopy(self.model.state_dict())
        start, stopped = 1, False
        saved = broadcast(env, checkpoints.load() if checkpoints else None)
        if saved is not None:
            self._restore(saved)
            history = [EpochStats(**row) for row in saved["history"]]
            best_f1, best_epoch, best_state = saved["best_f1"], saved["best_epoch"], saved["best_state"]
            start, stopped = saved["epoch"] + 1, saved["stopped"]
            log.info("resuming from the checkpoint of epoch %d/%d", saved["epoch"], cfg.epochs)
        for epoch in range(start, cfg.epochs + 1):
            if stopped:
                break
            stats = self._epoch(epoch, progress)
            history.append(stats)
            log.info("epoch %d/%d train_loss %.4f val_loss %.4f val_f1 %.3f (%.1f clips/s, "
                     "data wait %.0f%%)", epoch, cfg.epochs, stats.train_loss, stats.val_loss,
                     stats.val_f1, stats.clips_per_s, 100 * stats.data_wait)
            if log_metrics:
                mlflow.log_metrics({k: v for k, v in dataclasses.asdict(stats).items()
                                    if k != "epoch"}, step=epoch)
            if stats.val_f1 > best_f1:
                best_f1, best_epoch = stats.val_f1, epoch
                best_state = copy.deepcopy(self.model.state_dict())
            stopped = bool(keep_best and cfg.patience and epoch - best_epoch >= cfg.patience)
            if stopped:
                log.info("early stop after epoch %d: no better val macro F1 since epoch %d",
                         epoch, best_epoch)
            if checkpoints:
                checkpoints.save({
                    "epoch": epoch, "stopped": stopped, "model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                    "history": [dataclasses.asdict(s) for s in history],
                    "best_f1": best_f1, "best_epoch": best_epoch, "best_state": best_state,
                })
        state = best_state if keep_best else copy.deepcopy(self.model.state_dict())
        return history, state, start - 1

    def _restore(self, saved: dict[str, Any]) -> None:
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])

    def _epoch(self, epoch: int, progress: bool) -> EpochStats:
        cfg, hw, env = self.cfg, self.hw, self.env
        seed = cfg.seed * 100_003 + epoch
        torch.manual_seed(seed)  # dropout
        self.generator.manual_seed(seed)  # shuffle
        self.dataset.set_epoch(epoch)  # which stored view
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
        views = torch.Generator().manual_seed(seed)  # spatial augmentation
        lr = self.optimizer.param_groups[0]["lr"]
        self.model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        start = time.perf_counter()
        batches = _Timed(self.loader)
        bar = tqdm(total=len(self.loader), desc=f"epoch {epoch}/{cfg.epochs}", unit="batch",
                   disable=not progress, leave=False)
        for batch in batches:
            clips = batch[0].to(hw.device, non_blocking=True)
            targets = batch[1].to(hw.device, non_blocking=True)
            clips = augment(clips, cfg.augment, views)
            with torch.autocast(hw.device.type, dtype=hw.amp_dtype, enabled=hw.amp_dtype is not None):
                logits = self.forward(clips)
            loss = self.criterion(logits.float(), targets)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            loss_sum += loss.item() * len(targets)  # .item() syncs: step times are real
            correct += int((logits.argmax(1) == targets).sum())
            seen += len(targets)
            bar.update()
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}")
        bar.close()
        train_s = time.perf_counter() - start
        loss_sum, correct, seen = all_sum(env, [loss_sum, correct, seen], hw.device)
        # Rank 0 scores the full val split on the bare model (a DDP forward on one rank
        # would wait for the others) and tells everyone, so all stop at the same epoch.
        val = broadcast(env, score(self.model, self.val_loader, hw.device) if env.is_main else None)
        return EpochStats(epoch, loss_sum / seen, correct / seen, *val, lr,
                          time.perf_counter() - start, seen / train_s, batches.waited / train_s)


class _Timed:
    """Iterates a DataLoader and adds up the time spent waiting for each batch."""

    def __init__(self, loader: DataLoader) -> None:
        self.batches = iter(loader)
        self.waited = 0.0

    def __iter__(self) -> _Timed:
        return self

    def __next__(self) -> Any:
        asked = time.perf_counter()
        try:
            return next(self.batches)
        finally:
            self.waited += time.perf_counter() - asked


def _fit_motion(model: MotionLinear, model_cfg: ModelConfig, cfg: TrainConfig,
                train: list[UsableClip], val: list[UsableClip], classes: list[str],
                device: torch.device, log_metrics: bool) -> FitResult:
    import mlflow

    start = time.perf_counter()
    features, targets, waited = _features(model, train, classes, device, cfg.batch_size)
    fit_linear_head(model, features, targets, len(classes), model_cfg.motion_c, cfg.seed)
    train_s = time.perf_counter() - start
    model.eval()
    criterion = nn.CrossEntropyLoss()
    train_loss, train_acc, _ = score(model, DataLoader(FramesDataset(train, classes),
                                                       batch_size=cfg.batch_size),
                                     device, criterion)
    val_loss, val_acc, val_f1 = score(model, DataLoader(FramesDataset(val, classes),
                                                        batch_size=cfg.batch_size),
                                      device, criterion)
    stats = EpochStats(1, train_loss, train_acc, val_loss, val_acc, val_f1, 0.0,
                       time.perf_counter() - start, len(train) / train_s, waited / train_s)
    log.info("motion_linear on %d clips (%d features): train acc %.3f, val macro F1 %.3f",
             len(train), features.shape[1], train_acc, val_f1)
    if log_metrics:
        mlflow.log_metrics({k: v for k, v in dataclasses.asdict(stats).items() if k != "epoch"},
                           step=1)
    return FitResult(model, [stats], stats)


def _features(model: MotionLinear, clips: list[UsableClip], classes: list[str],
              device: torch.device, batch_size: int) -> tuple[np.ndarray, np.ndarray, float]:
    feats, targets = [], []
    batches = _Timed(DataLoader(FramesDataset(clips, classes), batch_size=batch_size))
    with torch.inference_mode():
        for clip_batch, target in batches:
            feats.append(model.features(clip_batch.to(device)).cpu().numpy())
            targets.append(target.numpy())
    return np.concatenate(feats).astype(np.float64), np.concatenate(targets), batches.waited


def score(model: nn.Module, loader: DataLoader, device: torch.device,
          criterion: nn.Module | None = None) -> tuple[float, float, float]:
    """Cross-entropy (unsmoothed), accuracy and macro F1 over ``loader`` in eval mode."""
    model.eval()
    logits, truth = [], []
    with torch.inference_mode():
        for clips, targets in loader:
            logits.append(model(clips.to(device)).float().cpu())
            truth.append(targets)
    return score_logits(torch.cat(logits), torch.cat(truth), criterion)


def score_logits(logits: torch.Tensor, targets: torch.Tensor,
                 criterion: nn.Module | None = None) -> tuple[float, float, float]:
    """Mean cross-entropy, accuracy and macro F1 of ``(N, classes)`` logits."""
    criterion = criterion or nn.CrossEntropyLoss()
    with torch.inference_mode():
        loss = float(criterion(logits.float(), targets))
    preds, truth = logits.argmax(1).tolist(), targets.tolist()
    # Classes neither present nor predicted are left out: a small val split or a
    # cross-validation fold may lack a class, and that is not the model's error.
    f1 = f1_score(truth, preds, labels=sorted(set(truth) | set(preds)), average="macro",
                  zero_division=0)
    accuracy = float(np.mean(np.array(preds) == np.array(truth)))
    return loss, accuracy, float(f1)
