"""What a fit returns, how an epoch is scored, and the one rule for the epoch that ships.

Every fit (the neural epoch loop, the temporal feature head, the one-step linear heads)
reports ``EpochStats`` rows, reports them through the same ``report_epoch``, seeds an
epoch with the same ``epoch_seed`` and keeps weights by the same ``BestEpoch`` rule, so
the epoch a train log and MLflow name is always the epoch whose weights were shipped.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.metrics import f1_score
from torch import nn
from torch.utils.data import DataLoader

from vidops.models.linear_head import StreamHeads
from vidops.training.tracker import Tracker


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
    # A linear head has no epochs: how its strengths (and fusion weights) were chosen is
    # its training curve.
    strength: StreamHeads | None = None
    # Logits of the val clips from the fit before any refit, where the fit computed them from
    # cached features anyway (feature heads): recipe CV reads its held-out answers here.
    val_logits: torch.Tensor | None = None


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's dropout, shuffle, view choice and augmentation.

    A function of ``(train.seed, epoch)`` only, so an epoch computes the same thing
    whether it follows the previous one in the same process or a resume from its checkpoint.
    """
    return seed * 100_003 + epoch


def epoch_key(stats: EpochStats) -> tuple[float, float]:
    """Higher is better: val macro F1, then lower val loss (ties are common on small val splits)."""
    return (stats.val_f1, -stats.val_loss)


class BestEpoch:
    """The best epoch so far under ``epoch_key``; the caller keeps its weights when ``offer`` says so."""

    def __init__(self, best: EpochStats | None = None) -> None:
        self.best = best

    def offer(self, stats: EpochStats) -> bool:
        """True when ``stats`` is strictly better than the best so far (it becomes the best)."""
        if self.best is None or epoch_key(stats) > epoch_key(self.best):
            self.best = stats
            return True
        return False

    @property
    def epoch(self) -> int:
        return self.best.epoch if self.best else 0

    def stale(self, epoch: int, patience: int) -> bool:
        """Early stop: ``patience`` epochs (0: never) without a better one."""
        return bool(patience and self.best and epoch - self.best.epoch >= patience)


def report_epoch(tracker: Tracker | None, stats: EpochStats) -> None:
    if tracker is not None:
        tracker.log_metrics({k: v for k, v in dataclasses.asdict(stats).items() if k != "epoch"},
                            step=stats.epoch)


class Timed:
    """Iterates a DataLoader and adds up the time spent waiting for each batch."""

    def __init__(self, loader: DataLoader) -> None:
        self.batches = iter(loader)
        self.waited = 0.0

    def __iter__(self) -> Timed:
        return self

    def __next__(self) -> Any:
        asked = time.perf_counter()
        try:
            return next(self.batches)
        finally:
            self.waited += time.perf_counter() - asked


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
