"""The neural epoch loop: AdamW with a one-cycle schedule, mixed precision, DDP, checkpoints.

One epoch trains on the (distributed) loader, then rank 0 scores the whole val split and
tells every rank, so all stop at the same epoch. After every epoch the whole state
(weights, optimizer, schedule, history, best epoch) goes to the checkpoint, from which a
killed run resumes to the same result: each epoch is seeded by ``epoch_seed`` alone.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from vidops.config import TrainConfig
from vidops.data.clips import UsableClip
from vidops.training.augment import augment
from vidops.training.checkpoint import Checkpoints
from vidops.training.dataset import FramesDataset
from vidops.training.devices import TrainingDevice
from vidops.training.distributed import DistEnv, all_sum, broadcast
from vidops.training.results import BestEpoch, EpochStats, Timed, epoch_seed, report_epoch, score
from vidops.training.tracker import Tracker

log = logging.getLogger(__name__)

PREFETCH = 4  # batches each loader process keeps ready: enough to hide a slow disk read


class NeuralLoop:
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

    def run(self, progress: bool, tracker: Tracker | None, keep_best: bool,
            checkpoints: Checkpoints | None
            ) -> tuple[list[EpochStats], dict[str, torch.Tensor], EpochStats, int]:
        """Every epoch; returns the history, the kept weights, the kept epoch, the resumed epoch."""
        cfg, env = self.cfg, self.env
        history: list[EpochStats] = []
        best = BestEpoch()
        best_state = copy.deepcopy(self.model.state_dict())
        start, stopped = 1, False
        saved = broadcast(env, checkpoints.load() if checkpoints else None)
        if saved is not None:
            self._restore(saved)
            history = [EpochStats(**row) for row in saved["history"]]
            best = BestEpoch(history[saved["best_epoch"] - 1] if saved["best_epoch"] else None)
            best_state = saved["best_state"]
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
            report_epoch(tracker, stats)
            if best.offer(stats):
                best_state = copy.deepcopy(self.model.state_dict())
            stopped = keep_best and best.stale(epoch, cfg.patience)
            if stopped:
                log.info("early stop after epoch %d: no better val macro F1 since epoch %d",
                         epoch, best.epoch)
            if checkpoints:
                checkpoints.save({
                    "epoch": epoch, "stopped": stopped, "model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                    "history": [dataclasses.asdict(s) for s in history],
                    "best_f1": best.best.val_f1 if best.best else -1.0, "best_epoch": best.epoch,
                    "best_state": best_state,
                })
        if keep_best and best.best is not None:
            return history, best_state, best.best, start - 1
        return history, copy.deepcopy(self.model.state_dict()), history[-1], start - 1

    def _restore(self, saved: dict[str, Any]) -> None:
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])

    def _epoch(self, epoch: int, progress: bool) -> EpochStats:
        cfg, hw, env = self.cfg, self.hw, self.env
        seed = epoch_seed(cfg.seed, epoch)
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
        batches = Timed(self.loader)
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
