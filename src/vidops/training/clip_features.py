"""Per-clip features of the feature families and of ``motion_linear``, computed once.

Each clip's per-frame stream rows come from the feature cache (features/cache.py):
computed once per clip from its extracted frames with the model's own
:meth:`~vidops.models.feature_linear.FeatureLinear.stream_rows` (through the per-clip
executor: a local pool or a Dask cluster, compute/executor.py), then reused by every fold
of ``model.arch: auto``, of the recipe cross-validation, the final fit and later retrains.
The heads fitted on them are in feature_heads.py.
"""

from __future__ import annotations

import copy
import logging
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vidops.compute.executor import GPU_VARIABLE, open_executor, scheduler_address
from vidops.compute.tasks import Task
from vidops.data.clips import UsableClip
from vidops.errors import DataError
from vidops.features.cache import FeatureCache, file_frames_key, load_frames
from vidops.models.feature_linear import FeatureLinear, FeatureStreams
from vidops.models.motion import MotionLinear

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


def motion_features(model: MotionLinear, clips: list[UsableClip], device: torch.device,
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
