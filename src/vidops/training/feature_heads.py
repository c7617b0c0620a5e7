"""Fit a head on per-clip features: the feature families (``flow_linear``,
``appearance_linear``, ``fusion_linear``, ``fusion_temporal``) and ``motion_linear``.

Each clip's per-frame stream rows come from the feature cache (features/cache.py):
computed once per clip from its extracted frames with the model's own
:meth:`~vidops.models.feature_linear.FeatureLinear.stream_rows`, then reused by every
fold of ``model.arch: auto``, the final fit and later retrains. The head's strength is
chosen by group cross-validation inside the training clips (models/linear_head.py),
then the head is fitted on all of them and scored on val from the same cached rows:
no clip's features are computed twice.

A linear head has no epoch to pick, so val has nothing left to choose once it has been
scored: with ``train.refit_on_val`` the head that ships is refitted on train + val (its
strength chosen again on their groups). On small data that is most of what there is to
learn from: on ``udacity_ps7`` (one person per split) it doubles the people the model
has seen. The val figures reported are those of the fit on train alone, before the refit.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from vidops.compute.executor import GPU_VARIABLE, open_executor, scheduler_address
from vidops.compute.tasks import Task
from vidops.config import ModelConfig, TrainConfig
from vidops.data.clips import UsableClip
from vidops.errors import DataError
from vidops.features.cache import FeatureCache, file_frames_key, load_frames
from vidops.models.feature_linear import FeatureLinear, FeatureStreams, pool_rows
from vidops.models.feature_temporal import FeatureTemporal
from vidops.models.linear_head import (
    Extra,
    StreamHeads,
    block_weights,
    fit_linear_head,
    fit_stream_heads,
)
from vidops.models.motion import MotionLinear
from vidops.training.results import (
    BestEpoch,
    EpochStats,
    FitResult,
    epoch_seed,
    report_epoch,
    score_logits,
)
from vidops.training.tracker import Tracker

log = logging.getLogger(__name__)


def clip_rows(model: FeatureStreams, clips: list[UsableClip], cache_root: Path | None,
              progress: bool = False) -> list[dict[str, np.ndarray]]:
    """Per clip, each stream's rows: from the cache where it has them, else computed
    through the per-clip executor (compute/executor.py) and stored."""
    on_gpu = any(s != "flow" for s in model.streams) and _features_on_gpu(model)
    found: dict[str, dict[int, np.ndarray]] = {s: {} for s in model.streams}
    caches: dict[str, FeatureCache] = {}
    keys: list[str] = []
    if cache_root is not None:
        for stream in model.streams:
            # GPU kernels give other bytes than the CPU's: their rows are cached apart.
            gpu = {"device": "cuda"} if on_gpu and stream != "flow" else {}
            caches[stream] = FeatureCache(cache_root, stream, {**model.extractor(stream), **gpu})
        keys = [file_frames_key(clip.frames_file) for clip in clips]
        for stream, cache in caches.items():
            for i, clip in enumerate(clips):
                hit = cache.lookup(clip.clip_id, keys[i])
                if hit is not None:
                    found[stream][i] = hit
    wanted = {i: tuple(s for s in model.streams if i not in found[s]) for i in range(len(clips))}
    wanted = {i: streams for i, streams in wanted.items() if streams}
    if wanted:
        for i, rows in _compute_rows(model, clips, wanted, on_gpu, progress):
            for stream, value in rows.items():
                found[stream][i] = value
                if stream in caches:
                    caches[stream].put(clips[i].clip_id, keys[i], value)
    for stream, cache in caches.items():
        log.info("features %s: %d clips, %d computed, %d reused, %d failed their check (%s)",
                 stream, len(clips), cache.counts.computed, cache.counts.reused,
                 cache.counts.rejected, cache.dir)
    return [{s: found[s][i] for s in model.streams} for i in range(len(clips))]


# Below this many clips, starting worker processes (each imports torch, about 3 s) costs
# more than running them side by side saves.
_POOL_FROM = 20


def _features_on_gpu(model: FeatureStreams) -> bool:
    """Backbone features on a GPU: this machine's when the model is on one; on a Dask
    cluster only when asked (``VIDOPS_DASK_GPU=1``), and then only on the workers started
    with ``--resources GPU=1``. Decided before any lookup, because it is part of the key."""
    if scheduler_address()[0]:
        return os.environ.get(GPU_VARIABLE, "") == "1"
    return _device(model).type == "cuda"


def _compute_rows(model: FeatureStreams, clips: list[UsableClip],
                  wanted: dict[int, tuple[str, ...]], on_gpu: bool, progress: bool
                  ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """The ``wanted`` streams of each clip, computed where per-clip work runs (one task per
    clip, one executor for all streams), as each clip's come back."""
    local = 1 if on_gpu or len(wanted) < _POOL_FROM else min(8, os.cpu_count() or 1)
    computed_by: Counter[str] = Counter()
    bar = tqdm(total=len(wanted), desc="features", unit="clip", disable=not progress,
               leave=False)
    with open_executor(local) as executor:
        # The frames travel with the task, read one window ahead of the results.
        tasks = (Task(str(i), (streams, clips[i].frames_file.read_bytes(), on_gpu))
                 for i, streams in wanted.items())
        shared = model if executor.workers == 1 and not executor.remote else _cpu_copy(model)
        for done in executor.run(stream_rows_task, tasks, shared=shared,
                                 resources={"GPU": 1} if on_gpu and executor.remote else None):
            clip = clips[int(done.key)]
            if done.crashed:
                raise DataError(f"{clip.frames_file}: computing its features {done.crashed}; "
                                "the clip cannot be used until that is fixed")
            computed_by[done.where] += 1
            bar.update()
            yield int(done.key), done.value
        where_run = executor.where
    bar.close()
    log.info("features of %d clips computed on %s (%s)", len(wanted), where_run,
             ", ".join(f"{w} {n}" for w, n in sorted(computed_by.items())))


def stream_rows_task(model: FeatureStreams, streams: tuple[str, ...], data: bytes,
                     on_gpu: bool) -> dict[str, np.ndarray]:
    """One clip's rows of ``streams`` from its frames file's bytes (runs on any worker).

    On the CPU torch runs one thread here, whatever the machine: its multi-threaded kernels
    sum in another order, so the bytes would depend on the core count of whoever computed
    them. Parallelism comes from running clips side by side instead.
    """
    frames = load_frames(Path("<frames>"), data)
    if on_gpu and _device(model).type != "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("this Dask worker was started with --resources GPU=1 but torch "
                               "sees no CUDA device here")
        model.to("cuda")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {s: np.asarray(model.stream_rows(frames, s), dtype=np.float32) for s in streams}
    finally:
        torch.set_num_threads(threads)


def _device(model: FeatureStreams) -> torch.device:
    return next(iter(model.parameters()), torch.empty(0)).device


def _cpu_copy(model: FeatureStreams) -> FeatureStreams:
    """What is shipped to workers: a CPU copy (a worker with a GPU moves it there)."""
    return copy.deepcopy(model).cpu()


def clip_features(model: FeatureLinear, clips: list[UsableClip], cache_root: Path | None,
                  progress: bool = False) -> np.ndarray:
    """``(N, F)`` pooled features of ``clips``, from the cache where it has them."""
    return np.stack([model.pooled(r) for r in clip_rows(model, clips, cache_root, progress)])


def mirrored_views(model: FeatureLinear, clips: list[UsableClip],
                   rows: list[dict[str, np.ndarray]], targets: np.ndarray) -> list[Extra | None]:
    """Per stream, the pooled features of ``clips`` flipped left to right, as training-only
    rows; None for a stream whose flipped rows do not follow from the clip's own
    (appearance: a second backbone pass per clip, which measured no better: recipe CV on
    ut_set1 0.945 with both streams mirrored, 0.951 with flow only; demo 0.964, 0.961)."""
    groups = np.array([c.group for c in clips])
    return [Extra(np.stack([pool_rows(model.mirror_rows(s, r[s]), model.segments) for r in rows]),
                  targets, groups) if model.mirrors_rows(s) else None for s in model.streams]


def fit_feature_head(model: FeatureLinear, model_cfg: ModelConfig, cfg: TrainConfig,
                     train: list[UsableClip], val: list[UsableClip], classes: list[str],
                     cache_root: Path | None, progress: bool, tracker: Tracker | None,
                     refit: bool = False) -> FitResult:
    start = time.perf_counter()
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
    """The heads on ``clips``, with the streams' mirrored views where ``model.mirror`` says
    so (``auto``: per stream, where they lower its held-out log loss; models/linear_head.py)."""
    views = mirrored_views(model, clips, rows, y) if model_cfg.mirror != "off" else None
    return fit_stream_heads(model, x, y, [c.group for c in clips], len(classes),
                            model_cfg.head_c, cfg.seed, model.blocks, model.streams, views,
                            decide=model_cfg.mirror == "auto")


def fit_temporal_head(model: FeatureTemporal, cfg: TrainConfig, train: list[UsableClip],
                      val: list[UsableClip], classes: list[str], cache_root: Path | None,
                      progress: bool, tracker: Tracker | None, keep_best: bool) -> FitResult:
    """Train the temporal head on cached rows; keep the best val epoch (or the last in CV)."""
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


def fit_motion_head(model: MotionLinear, model_cfg: ModelConfig, cfg: TrainConfig,
                    train: list[UsableClip], val: list[UsableClip], classes: list[str],
                    device: torch.device, tracker: Tracker | None,
                    cache_root: Path | None = None) -> FitResult:
    """Fit ``motion_linear``'s head (fixed ``model.motion_c``) on its per-clip features,
    read from the feature cache like the other feature heads (every fold of ``auto`` and
    of the recipe cross-validation would otherwise compute them again: 56 of 70 s of a
    recipe CV on 60 real clips)."""
    start = time.perf_counter()
    index = {name: i for i, name in enumerate(classes)}
    x_train = _motion_features(model, train, device, cache_root)
    x_val = _motion_features(model, val, device, cache_root)
    y_train = np.array([index[c.label] for c in train])
    y_val = torch.tensor([index[c.label] for c in val])
    fit_linear_head(model, x_train, y_train, len(classes), model_cfg.motion_c, cfg.seed)
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


def _motion_features(model: MotionLinear, clips: list[UsableClip], device: torch.device,
                     cache_root: Path | None) -> np.ndarray:
    """``(N, F)`` float64 motion features of ``clips``, from the cache where it has them."""
    def compute(frames: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model.features(torch.from_numpy(frames)[None].to(device)).cpu().numpy()[0]

    if cache_root is None:
        return np.stack([compute(np.load(c.frames_file)) for c in clips]).astype(np.float64)
    # GPU kernels give other bytes than the CPU's: their features are cached apart.
    cache = FeatureCache(cache_root, "motion", {
        "stream": "motion", "threshold": model.threshold, "segments": model.segments,
        "version": 1, **({"device": "cuda"} if device.type == "cuda" else {})})
    features = np.stack([cache.get(c.clip_id, c.frames_file, compute) for c in clips])
    log.info("features motion: %d clips, %d computed, %d reused, %d failed their check (%s)",
             len(clips), cache.counts.computed, cache.counts.reused, cache.counts.rejected,
             cache.dir)
    return features.astype(np.float64)
