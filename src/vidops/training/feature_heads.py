"""Fit a head on per-clip features: the linear families (``flow_linear``,
``appearance_linear``, ``fusion_linear``, ``motion_linear``: one path, a stream each) and
``fusion_temporal``.

Each clip's features come from the feature cache (clip_features.py), so no clip's
features are computed twice across the folds and fits. A linear head's strength is
chosen by group cross-validation inside the training clips (models/linear_head.py),
then the head is fitted on all of them and scored on val from the same cached features.

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
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vidops.data.clips import UsableClip
from vidops.models.feature_linear import FeatureLinear, pool_rows
from vidops.models.feature_temporal import FeatureTemporal
from vidops.models.linear_head import (
    Extra,
    HeadSearch,
    StreamHeads,
    block_weights,
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


@dataclass(frozen=True)
class _HeadInputs:
    """What a linear head is fitted on for some clips: the features, and per stream the
    training-only rows of their mirrored views (None: none)."""

    x: np.ndarray
    views: list[Extra | None] | None


def _head_inputs(model: FeatureLinear | MotionLinear, job: HeadJob, clips: list[UsableClip],
                 y: np.ndarray, fitted: bool) -> _HeadInputs:
    """The per-clip features of ``clips`` (from the cache), and, when a head will be
    ``fitted`` on them, their mirrored views where ``model.heads.mirror`` allows them (the
    flow stream only: ``mirrored_views``)."""
    if isinstance(model, MotionLinear):
        return _HeadInputs(motion_features(model, clips, job.device, job.data.feature_cache), None)
    rows = clip_rows(model, clips, job.data.feature_cache, job.progress)
    x = np.stack([model.pooled(r) for r in rows])
    mirror = fitted and job.model_cfg.heads.mirror != "off"
    return _HeadInputs(x, mirrored_views(model, clips, rows, y) if mirror else None)


def fit_feature_head(model: FeatureLinear | MotionLinear, job: HeadJob) -> FitResult:
    """The one "per-clip features, then a linear head" fit of every feature family
    (flow, appearance and motion are streams of it): a head per stream, its strength chosen
    from ``model.heads.c`` by held-out log loss inside train; score val; with
    ``train.refit_on_val`` (and val not a fold's held-out part) the head that ships is
    fitted again on train + val, its strength chosen again."""
    start = time.perf_counter()
    cfg, tracker, data, arch = job.cfg, job.tracker, job.data, job.model_cfg.arch
    train, val, classes = data.train, data.val, data.classes
    refit = cfg.refit_on_val and not data.val_held_out
    index = {name: i for i, name in enumerate(classes)}
    y_train = np.array([index[c.label] for c in train])
    y_val = np.array([index[c.label] for c in val])
    on_train = _head_inputs(model, job, train, y_train, fitted=True)
    on_val = _head_inputs(model, job, val, y_val, fitted=refit)  # scored only, unless refit
    heads = _fit_heads(model, job, train, on_train, y_train)
    chosen = heads
    model.eval()
    with torch.inference_mode():
        train_logits = model.logits(torch.from_numpy(on_train.x)).cpu()
        val_logits = model.logits(torch.from_numpy(on_val.x)).cpu()
    train_loss, train_acc, _ = score_logits(train_logits, torch.from_numpy(y_train))
    val_loss, val_acc, val_f1 = score_logits(val_logits, torch.from_numpy(y_val))
    if refit:
        both = _HeadInputs(np.concatenate([on_train.x, on_val.x]), None if on_train.views is None
                           else [_joined(a, b) for a, b in zip(on_train.views, on_val.views or [],
                                                               strict=True)])
        # The curve keeps the train-only paths: the val figures drawn beside them are their fit's.
        chosen = _fit_heads(model, job, train + val, both, np.concatenate([y_train, y_val]))
        log.info("%s: head refitted on train + val (%d clips, %s)", arch, len(both.x),
                 chosen.summary())
    seconds = time.perf_counter() - start
    stats = EpochStats(1, train_loss, train_acc, val_loss, val_acc, val_f1, 0.0, seconds,
                       len(train) / seconds, 0.0)
    log.info("%s on %d clips (%d features, %s): train acc %.3f, val macro F1 %.3f",
             arch, len(train), on_train.x.shape[1], heads.summary(), train_acc, val_f1)
    if tracker is not None:
        report_epoch(tracker, stats)
        tracker.log_metrics(chosen.metrics())
        tracker.set_tags({"head_fitted_on": "train+val" if refit else "train"})
    return FitResult(model, [stats], stats, strength=heads, val_logits=val_logits)


def _joined(a: Extra | None, b: Extra | None) -> Extra | None:
    if a is None or b is None:
        return None
    return Extra(np.concatenate([a.features, b.features]), np.concatenate([a.targets, b.targets]),
                 np.concatenate([a.groups, b.groups]))


def _fit_heads(model: FeatureLinear | MotionLinear, job: HeadJob, clips: list[UsableClip],
               inputs: _HeadInputs, y: np.ndarray) -> StreamHeads:
    """The heads on ``clips``, with the streams' mirrored views where ``model.heads.mirror``
    says so (``auto``: per stream, where they lower its held-out log loss;
    models/linear_head.py)."""
    heads_cfg = job.model_cfg.heads
    return fit_stream_heads(model, inputs.x, y, [c.group for c in clips],
                            HeadSearch(len(job.data.classes), heads_cfg.c, job.cfg.seed),
                            model.head_streams(), inputs.views, decide=heads_cfg.mirror == "auto")


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
