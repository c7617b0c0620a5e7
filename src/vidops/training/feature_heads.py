"""Fit a head on per-clip features: the feature families (``flow_linear``,
``appearance_linear``, ``fusion_linear``, ``fusion_temporal``) and ``motion_linear``.

Each clip's per-frame stream rows come from the feature cache (clip_features.py), so no
clip's features are computed twice across the folds and fits. The head's strength is
chosen by group cross-validation inside the training clips (models/linear_head.py),
then the head is fitted on all of them and scored on val from the same cached rows.

A linear head has no epoch to pick, so val has nothing left to choose once it has been
scored: with ``train.refit_on_val`` the head that ships is refitted on train + val (its
strength chosen again on their groups). On small data that is most of what there is to
learn from: on ``udacity_ps7`` (one person per split) it doubles the people the model
has seen. The val figures reported are those of the fit on train alone, before the refit.
"""

from __future__ import annotations

import copy
import logging
import time

import numpy as np
import torch
from torch import nn

from vidops.config import ModelConfig, TrainConfig
from vidops.data.clips import UsableClip
from vidops.models.feature_linear import FeatureLinear, pool_rows
from vidops.models.feature_temporal import FeatureTemporal
from vidops.models.linear_head import (
    Extra,
    HeadSearch,
    StreamHeads,
    block_weights,
    fit_linear_head,
    fit_stream_heads,
)
from vidops.models.motion import MotionLinear
from vidops.training.clip_features import clip_rows, motion_features
from vidops.training.fit_data import HeadJob
from vidops.training.results import (
    BestEpoch,
    EpochStats,
    FitResult,
    epoch_seed,
    report_epoch,
    score_logits,
)

log = logging.getLogger(__name__)


def mirrored_views(model: FeatureLinear, clips: list[UsableClip],
                   rows: list[dict[str, np.ndarray]], targets: np.ndarray) -> list[Extra | None]:
    """Per stream, the pooled features of ``clips`` flipped left to right, as training-only
    rows; None for a stream whose flipped rows do not follow from the clip's own
    (appearance: a second backbone pass per clip, which measured no better: recipe CV on
    ut_set1 0.945 with both streams mirrored, 0.951 with flow only; demo 0.964, 0.961)."""
    groups = np.array([c.group for c in clips])
    return [Extra(np.stack([pool_rows(model.mirror_rows(s, r[s]), model.segments) for r in rows]),
                  targets, groups) if model.mirrors_rows(s) else None for s in model.streams]


def fit_feature_head(model: FeatureLinear, job: HeadJob) -> FitResult:
    """Fit the heads on train, score val; with ``train.refit_on_val`` (and val not a fold's
    held-out part) the head that ships is fitted again on train + val."""
    start = time.perf_counter()
    model_cfg, cfg, progress, tracker = job.model_cfg, job.cfg, job.progress, job.tracker
    data = job.data
    train, val, classes, cache_root = data.train, data.val, data.classes, data.feature_cache
    refit = cfg.refit_on_val and not data.val_held_out
    index = {name: i for i, name in enumerate(classes)}
    rows_train = clip_rows(model, train, cache_root, progress)
    rows_val = clip_rows(model, val, cache_root, progress)
    x_train = np.stack([model.pooled(r) for r in rows_train])
    x_val = np.stack([model.pooled(r) for r in rows_val])
    y_train = np.array([index[c.label] for c in train])
    y_val = torch.tensor([index[c.label] for c in val])
    heads = _fit_heads(model, model_cfg, cfg, train, rows_train, x_train, y_train, classes)
    chosen = heads
    model.eval()
    with torch.inference_mode():
        train_logits = model.logits(torch.from_numpy(x_train)).cpu()
        val_logits = model.logits(torch.from_numpy(x_val)).cpu()
    train_loss, train_acc, _ = score_logits(train_logits, torch.from_numpy(y_train))
    val_loss, val_acc, val_f1 = score_logits(val_logits, y_val)
    if refit:
        x_all = np.concatenate([x_train, x_val])
        y_all = np.concatenate([y_train, y_val.numpy()])
        # The curve keeps the train-only paths: the val figures drawn beside them are their fit's.
        chosen = _fit_heads(model, model_cfg, cfg, train + val, rows_train + rows_val, x_all,
                            y_all, classes)
        log.info("%s: head refitted on train + val (%d clips, %s)", model_cfg.arch,
                 len(x_all), chosen.summary())
    seconds = time.perf_counter() - start
    stats = EpochStats(1, train_loss, train_acc, val_loss, val_acc, val_f1, 0.0, seconds,
                       len(train) / seconds, 0.0)
    log.info("%s on %d clips (%d features, %s): train acc %.3f, val macro F1 %.3f",
             model_cfg.arch, len(train), x_train.shape[1], heads.summary(), train_acc, val_f1)
    if tracker is not None:
        report_epoch(tracker, stats)
        tracker.log_metrics(chosen.metrics())
        tracker.set_tags({"head_fitted_on": "train+val" if refit else "train"})
    return FitResult(model, [stats], stats, strength=heads, val_logits=val_logits)


def _fit_heads(model: FeatureLinear, model_cfg: ModelConfig, cfg: TrainConfig,
               clips: list[UsableClip], rows: list[dict[str, np.ndarray]], x: np.ndarray,
               y: np.ndarray, classes: list[str]) -> StreamHeads:
    """The heads on ``clips``, with the streams' mirrored views where ``model.heads.mirror`` says
    so (``auto``: per stream, where they lower its held-out log loss; models/linear_head.py)."""
    heads_cfg = model_cfg.heads
    views = mirrored_views(model, clips, rows, y) if heads_cfg.mirror != "off" else None
    return fit_stream_heads(model, x, y, [c.group for c in clips],
                            HeadSearch(len(classes), heads_cfg.c, cfg.seed),
                            list(zip(model.streams, model.blocks, strict=True)), views,
                            decide=heads_cfg.mirror == "auto")


def fit_temporal_head(model: FeatureTemporal, job: HeadJob) -> FitResult:
    """Train the temporal head on cached rows; keep the best val epoch (or the last in CV)."""
    cfg, progress, tracker, data = job.cfg, job.progress, job.tracker, job.data
    train, val, classes, cache_root = data.train, data.val, data.classes, data.feature_cache
    keep_best = not data.val_held_out
    index = {name: i for i, name in enumerate(classes)}
    x_train = torch.from_numpy(np.stack([model.sequence(r) for r in
                                         clip_rows(model, train, cache_root, progress)]))
    x_val = torch.from_numpy(np.stack([model.sequence(r) for r in
                                       clip_rows(model, val, cache_root, progress)]))
    y_train = torch.tensor([index[c.label] for c in train])
    y_val = torch.tensor([index[c.label] for c in val])
    flat = x_train.reshape(-1, x_train.shape[-1]).double()
    scale = flat.std(0, unbiased=False).clamp_min(1e-6).numpy() * block_weights(model.blocks)
    with torch.no_grad():
        model.mean.copy_(flat.mean(0).float())
        model.scale.copy_(torch.from_numpy(scale).float())
    torch.manual_seed(cfg.seed)
    model.apply(lambda m: m.reset_parameters() if isinstance(m, nn.Linear | nn.Conv1d) else None)
    optimizer = torch.optim.AdamW([p for n, p in model.named_parameters()
                                   if not n.startswith("embedder.")],
                                  lr=cfg.lr, weight_decay=cfg.weight_decay)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    history: list[EpochStats] = []
    best, best_state = BestEpoch(), None
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(
            epoch_seed(cfg.seed, epoch)))
        for batch in order.split(cfg.batch_size):
            loss = criterion(model.logits(x_train[batch]), y_train[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.inference_mode():
            train_loss, train_acc, _ = score_logits(model.logits(x_train), y_train)
            val_loss, val_acc, val_f1 = score_logits(model.logits(x_val), y_val)
        seconds = time.perf_counter() - start
        stats = EpochStats(epoch, train_loss, train_acc, val_loss, val_acc, val_f1, cfg.lr,
                           seconds, len(train) / seconds, 0.0)
        history.append(stats)
        report_epoch(tracker, stats)
        if best.offer(stats):
            best_state = copy.deepcopy(model.state_dict())
        if keep_best and best.stale(epoch, cfg.patience):
            break
    if keep_best and best.best is not None:
        model.load_state_dict(best_state)
    kept = best.best if keep_best and best.best is not None else history[-1]
    log.info("fusion_temporal on %d clips: epoch %d kept, val macro F1 %.3f", len(train),
             kept.epoch, kept.val_f1)
    return FitResult(model.eval(), history, kept)


def fit_motion_head(model: MotionLinear, job: HeadJob) -> FitResult:
    """Fit ``motion_linear``'s head (fixed ``model.motion.c``) on its per-clip features,
    read from the feature cache like the other feature heads (every fold of ``auto`` and
    of the recipe cross-validation would otherwise compute them again: 56 of 70 s of a
    recipe CV on 60 real clips)."""
    start = time.perf_counter()
    model_cfg, cfg, device, tracker, data = job.model_cfg, job.cfg, job.device, job.tracker, job.data
    train, val, classes, cache_root = data.train, data.val, data.classes, data.feature_cache
    index = {name: i for i, name in enumerate(classes)}
    x_train = motion_features(model, train, device, cache_root)
    x_val = motion_features(model, val, device, cache_root)
    y_train = np.array([index[c.label] for c in train])
    y_val = torch.tensor([index[c.label] for c in val])
    fit_linear_head(model, x_train, y_train, len(classes), model_cfg.motion.c, cfg.seed)
    model.eval()
    with torch.inference_mode():
        train_logits, val_logits = (model.head((torch.from_numpy(x).float().to(device) - model.mean)
                                               / model.scale).cpu() for x in (x_train, x_val))
    train_loss, train_acc, _ = score_logits(train_logits, torch.from_numpy(y_train))
    val_loss, val_acc, val_f1 = score_logits(val_logits, y_val)
    seconds = time.perf_counter() - start
    stats = EpochStats(1, train_loss, train_acc, val_loss, val_acc, val_f1, 0.0, seconds,
                       len(train) / seconds, 0.0)
    log.info("motion_linear on %d clips (%d features): train acc %.3f, val macro F1 %.3f",
             len(train), x_train.shape[1], train_acc, val_f1)
    report_epoch(tracker, stats)
    return FitResult(model, [stats], stats, val_logits=val_logits)
