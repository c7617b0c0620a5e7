"""Fit one architecture on one train/val pair of clip lists: used by train and by model selection.

Neural models: AdamW with a one-cycle schedule, label smoothing, early stopping on
validation macro F1, best epoch kept. The motion model: features once, a logistic
regression fitted by scikit-learn (one "epoch"). Both return the same history rows.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import f1_score
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from vidops.clip_dataset import FramesDataset, UsableClip
from vidops.config import ModelConfig, TrainConfig
from vidops.models import build_model
from vidops.models.motion import MotionLinear, fit_linear_head

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    val_f1: float
    lr: float
    seconds: float


@dataclass(frozen=True)
class FitResult:
    model: nn.Module  # with the kept epoch's weights, in eval mode
    history: list[EpochStats]
    kept: EpochStats  # the epoch whose weights ``model`` holds


def fit(model_cfg: ModelConfig, cfg: TrainConfig, train: list[UsableClip], val: list[UsableClip],
        classes: list[str], device: torch.device, progress: bool = True,
        log_metrics: bool = True, keep_best: bool = True) -> FitResult:
    """Train ``model_cfg.arch`` on ``train``, score every epoch on ``val``.

    ``keep_best=False`` (cross-validation): no early stopping and the last epoch is kept,
    because choosing the epoch on a fold's held-out clips would inflate its score.
    """
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    model = build_model(model_cfg, len(classes)).to(device)
    if isinstance(model, MotionLinear):
        return _fit_motion(model, model_cfg, cfg, train, val, classes, device, log_metrics)
    history, state = _fit_neural(model, cfg, train, val, classes, device, progress, log_metrics,
                                 keep_best)
    kept = max(history, key=lambda s: (s.val_f1, -s.val_loss)) if keep_best else history[-1]
    model.load_state_dict(state)
    return FitResult(model.eval(), history, kept)


def _fit_neural(model: nn.Module, cfg: TrainConfig, train: list[UsableClip], val: list[UsableClip],
                classes: list[str], device: torch.device, progress: bool, log_metrics: bool,
                keep_best: bool) -> tuple[list[EpochStats], dict[str, torch.Tensor]]:
    import mlflow

    generator = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(FramesDataset(train, classes), batch_size=cfg.batch_size, shuffle=True,
                        generator=generator, num_workers=cfg.num_workers,
                        pin_memory=device.type == "cuda")
    val_loader = DataLoader(FramesDataset(val, classes), batch_size=cfg.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, total_steps=cfg.epochs * len(loader))
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    history: list[EpochStats] = []
    best_f1, best_epoch, best_state = -1.0, 0, copy.deepcopy(model.state_dict())
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        model.train()
        losses, correct, seen = [], 0, 0
        bar = tqdm(loader, desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", disable=not progress,
                   leave=False)
        for clips, targets in bar:
            clips = clips.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            logits = model(clips)
            loss = criterion(logits, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            correct += int((logits.argmax(1) == targets).sum())
            seen += len(targets)
            bar.set_postfix(loss=f"{np.mean(losses):.3f}")
        val_loss, val_acc, val_f1 = score(model, val_loader, device)
        stats = EpochStats(epoch, float(np.mean(losses)), correct / seen, val_loss, val_acc,
                           val_f1, lr, time.perf_counter() - start)
        history.append(stats)
        log.info("epoch %d/%d train_loss %.4f val_loss %.4f val_f1 %.3f", epoch, cfg.epochs,
                 stats.train_loss, stats.val_loss, stats.val_f1)
        if log_metrics:
            mlflow.log_metrics({k: v for k, v in dataclasses.asdict(stats).items() if k != "epoch"},
                               step=epoch)
        if val_f1 > best_f1:
            best_f1, best_epoch, best_state = val_f1, epoch, copy.deepcopy(model.state_dict())
        if keep_best and cfg.patience and epoch - best_epoch >= cfg.patience:
            log.info("early stop after epoch %d: no better val macro F1 since epoch %d",
                     epoch, best_epoch)
            break
    return history, best_state if keep_best else copy.deepcopy(model.state_dict())


def _fit_motion(model: MotionLinear, model_cfg: ModelConfig, cfg: TrainConfig,
                train: list[UsableClip], val: list[UsableClip], classes: list[str],
                device: torch.device, log_metrics: bool) -> FitResult:
    import mlflow

    start = time.perf_counter()
    features, targets = _features(model, train, classes, device, cfg.batch_size)
    fit_linear_head(model, features, targets, len(classes), model_cfg.motion_c, cfg.seed)
    model.eval()
    criterion = nn.CrossEntropyLoss()
    train_loss, train_acc, _ = score(model, DataLoader(FramesDataset(train, classes),
                                                       batch_size=cfg.batch_size),
                                     device, criterion)
    val_loss, val_acc, val_f1 = score(model, DataLoader(FramesDataset(val, classes),
                                                        batch_size=cfg.batch_size),
                                      device, criterion)
    stats = EpochStats(1, train_loss, train_acc, val_loss, val_acc, val_f1, 0.0,
                       time.perf_counter() - start)
    log.info("motion_linear on %d clips (%d features): train acc %.3f, val macro F1 %.3f",
             len(train), features.shape[1], train_acc, val_f1)
    if log_metrics:
        mlflow.log_metrics({k: v for k, v in dataclasses.asdict(stats).items() if k != "epoch"},
                           step=1)
    return FitResult(model, [stats], stats)


def _features(model: MotionLinear, clips: list[UsableClip], classes: list[str],
              device: torch.device, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    feats, targets = [], []
    with torch.inference_mode():
        for batch, target in DataLoader(FramesDataset(clips, classes), batch_size=batch_size):
            feats.append(model.features(batch.to(device)).cpu().numpy())
            targets.append(target.numpy())
    return np.concatenate(feats).astype(np.float64), np.concatenate(targets)


def score(model: nn.Module, loader: DataLoader, device: torch.device,
          criterion: nn.Module | None = None) -> tuple[float, float, float]:
    """Cross-entropy (unsmoothed), accuracy and macro F1 over ``loader`` in eval mode."""
    criterion = criterion or nn.CrossEntropyLoss()
    model.eval()
    losses, preds, truth = [], [], []
    with torch.inference_mode():
        for clips, targets in loader:
            logits = model(clips.to(device))
            losses.append(criterion(logits, targets.to(device)).item() * len(targets))
            preds += logits.argmax(1).cpu().tolist()
            truth += targets.tolist()
    # Classes neither present nor predicted are left out: a small val split or a
    # cross-validation fold may lack a class, and that is not the model's error.
    f1 = f1_score(truth, preds, labels=sorted(set(truth) | set(preds)), average="macro",
                  zero_division=0)
    accuracy = float(np.mean(np.array(preds) == np.array(truth)))
    return float(sum(losses) / len(truth)), accuracy, float(f1)
