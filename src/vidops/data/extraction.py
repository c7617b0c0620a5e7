"""Frame extraction: decode T frames per clip into <frames>/<clip_id>.npy plus index.csv.

Incremental: the output is ``persist: true`` in dvc.yaml and carries a fingerprint of the
frame parameters, so a clip already extracted with the same parameters is not decoded
again, and adding k clips to N decodes k. A clip that fails to decode gets an index row
with the reason and no frames; it never stops the stage.

Parallel: clips are decoded by a bounded pool of ``extract.workers`` processes (spawned,
each recycled after a few hundred clips so a leaking decoder cannot grow without bound);
a worker returns only the index row, the frames go straight to disk, so the parent's
memory does not grow with the number of clips.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vidops.config import ExtractConfig
from vidops.data.records import FrameRecord, read_frame_index, read_manifest, views_file, write_records
from vidops.fileio import atomic_write, atomic_write_json, digest_bytes, digest_file
from vidops.video.decode import DecodeError, content_stats, sample_views
from vidops.video.sampling import frames_needed, jitter_offsets

log = logging.getLogger(__name__)

INDEX = "index.csv"
FINGERPRINT = "params.json"


@dataclass(frozen=True)
class ExtractResult:
    clips: int  # unique clips in the manifest
    decoded: int  # clips decoded in this run
    reused: int  # clips whose frames were already there with the same parameters
    failed: list[str]  # "path: reason" of every clip that did not decode
    removed: int  # frame files of clips no longer in the manifest
    workers: int = 1  # processes that decoded
    short: int = 0  # clips with fewer frames than the sampler needs (extract.short_clip applied)
    rejected: int = 0  # clips whose stored frames failed their check and were decoded again


def fingerprint(cfg: ExtractConfig) -> str:
    """Changes whenever a frame parameter changes, so old frames are never reused then."""
    frame_params = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "workers"}
    text = json.dumps(frame_params, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def extract_frames(cfg: ExtractConfig, manifest_path: Path, frames_dir: Path,
                   progress: bool = True) -> ExtractResult:
    clips = {r.clip_id: r for r in read_manifest(manifest_path)}  # identical bytes: decode once
    frames_dir.mkdir(parents=True, exist_ok=True)
    previous, rejected = _reusable_rows(cfg, frames_dir)
    rows: dict[str, FrameRecord] = {}
    todo = []
    for clip in clips.values():
        old = previous.get(clip.clip_id)
        if old is not None and old.path == clip.path:
            rows[clip.clip_id] = old
        else:
            todo.append(clip)
    reused = len(rows)
    workers = min(worker_count(cfg), len(todo)) or 1
    failed = []
    for row in _decode_all(cfg, todo, frames_dir, workers, progress):
        if row.decode_error:
            failed.append(f"{row.path}: {row.decode_error}")
            log.warning("cannot decode %s: %s", row.path, row.decode_error)
        rows[row.clip_id] = row
    rows = {cid: rows[cid] for cid in clips}  # manifest order: index.csv does not depend on timing
    decoded = len(todo)
    keep = {r.frames_file for r in rows.values() if r.frames_file}
    if cfg.train_views:
        keep |= {views_file(name) for name in keep}
    removed = _remove_stale(frames_dir, keep)
    write_records(frames_dir / INDEX, list(rows.values()), FrameRecord)
    atomic_write_json(frames_dir / FINGERPRINT, {"fingerprint": fingerprint(cfg),
                                                 **dataclasses.asdict(cfg)})
    needed = frames_needed(cfg)
    short = sum(1 for r in rows.values() if 0 < r.decoded_frames < needed)
    if short:
        log.info("%d clips have fewer than %d frames: extract.short_clip %s", short, needed,
                 cfg.short_clip)
    return ExtractResult(len(clips), decoded, reused, failed, removed, workers, short, rejected)


def worker_count(cfg: ExtractConfig) -> int:
    return cfg.workers if cfg.workers > 0 else min(8, os.cpu_count() or 1)


def _decode_all(cfg: ExtractConfig, todo: list, frames_dir: Path, workers: int, progress: bool,
                work=None):
    """Index rows of ``todo`` as they finish, in this process or in a pool of ``workers``.

    A decoder that crashes its process (FFmpeg and OpenCV are C code) breaks the pool;
    the clips it left are then decoded one at a time in a fresh one-worker pool, so the
    clip that crashes it again gets an index row saying so and the rest are extracted.
    ``work``: the per-clip function (tests pass one that crashes on purpose).
    """
    work = work or _extract_one
    bar = tqdm(total=len(todo), desc="extract", unit="clip", disable=not progress)
    if workers <= 1:
        for clip in todo:
            yield work(cfg, Path(clip.path), clip.clip_id, frames_dir)
            bar.update()
        bar.close()
        return
    done: set[str] = set()
    try:
        with _pool(workers) as pool:
            futures = {pool.submit(work, cfg, Path(c.path), c.clip_id, frames_dir): c for c in todo}
            for future in as_completed(futures):
                row = future.result()
                done.add(row.clip_id)
                yield row
                bar.update()
    except BrokenProcessPool:
        left = [c for c in todo if c.clip_id not in done]
        log.warning("a decoder crashed its worker process; decoding the %d clips left one at "
                    "a time to find the one that does it", len(left))
        for row in _isolated(cfg, left, frames_dir, work):
            yield row
            bar.update()
    bar.close()


def _pool(workers: int) -> ProcessPoolExecutor:
    # spawn: the parent may hold threads (tqdm, MLflow) that fork would copy mid-state;
    # recycling workers bounds what a leaking decoder can accumulate.
    return ProcessPoolExecutor(max_workers=workers, max_tasks_per_child=256,
                               mp_context=multiprocessing.get_context("spawn"))


def _isolated(cfg: ExtractConfig, clips: list, frames_dir: Path, work):
    pool = None
    for clip in clips:
        pool = pool or _pool(1)
        try:
            yield pool.submit(work, cfg, Path(clip.path), clip.clip_id, frames_dir).result()
        except BrokenProcessPool:
            pool.shutdown(wait=False)
            pool = None
            yield _failed_row(clip.clip_id, Path(clip.path),
                              "the decoder crashed its process on this file")
    if pool is not None:
        pool.shutdown()


def _failed_row(cid: str, path: Path, reason: str) -> FrameRecord:
    return FrameRecord(cid, path.as_posix(), "", 0, 0, 0.0, 0, 0, 0.0, "", 0.0, 0.0, reason)


def _extract_one(cfg: ExtractConfig, path: Path, cid: str, frames_dir: Path) -> FrameRecord:
    try:
        # The deterministic view, then the jittered training views, from one decode pass.
        clip, *jittered = sample_views(path, cfg, [0.5, *jitter_offsets(cfg, cid, cfg.train_views)])
    except DecodeError as err:
        return _failed_row(cid, path, err.reason)
    name = f"{cid}.npy"
    views = (_save_atomic(frames_dir / views_file(name), np.stack([v.frames for v in jittered]))
             if jittered else "")
    frames = _save_atomic(frames_dir / name, clip.frames)
    p = clip.probe
    intensity, motion = content_stats(clip.frames)
    return FrameRecord(cid, path.as_posix(), name, p.decoded_frames, p.header_frames,
                       round(p.fps, 4), p.width, p.height, round(p.duration_s, 4), p.codec,
                       round(intensity, 5), round(motion, 5), "", frames, views)


def _save_atomic(path: Path, array: np.ndarray) -> str:
    """Write ``array`` as .npy; returns the digest of the bytes written."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    data = buffer.getvalue()
    # A kill between write and rename leaves only a .tmp file, never a half-written .npy.
    atomic_write(path, lambda handle: handle.write(data))
    return digest_bytes(data)


def _reusable_rows(cfg: ExtractConfig, frames_dir: Path) -> tuple[dict[str, FrameRecord], int]:
    """Index rows whose frame files are what the row says; and how many were not."""
    stamp, index = frames_dir / FINGERPRINT, frames_dir / INDEX
    if not (stamp.is_file() and index.is_file()):
        return {}, 0
    if json.loads(stamp.read_text()).get("fingerprint") != fingerprint(cfg):
        log.info("frame parameters changed: re-extracting every clip")
        # Forget the old parameters before any frame file is rewritten: a kill during the
        # re-extraction must not leave old and new frames under a fingerprint that vouches
        # for them all.
        stamp.unlink()
        return {}, 0
    rows, rejected = {}, 0
    for row in read_frame_index(index):
        if not row.frames_file:
            continue  # failed last time: tried again
        problem = reuse_problem(cfg, frames_dir, row)
        if problem:
            log.warning("%s: %s; decoding %s again", frames_dir / row.frames_file, problem, row.path)
            rejected += 1
            continue
        rows[row.clip_id] = row
    return rows, rejected


def reuse_problem(cfg: ExtractConfig, frames_dir: Path, row: FrameRecord) -> str:
    """Why the frame files of ``row`` cannot be reused, or "" when they are what it says."""
    expected = (cfg.num_frames, cfg.size, cfg.size, 3)
    files = [(row.frames_file, row.frames_digest, expected)]
    if cfg.train_views:
        files.append((views_file(row.frames_file), row.views_digest, (cfg.train_views, *expected)))
    for name, digest, shape in files:
        path = frames_dir / name
        if not path.is_file():
            return "missing"
        problem = _npy_problem(path, shape)
        if problem:
            return problem
        if not digest:
            return "no content digest recorded (written by an older release)"
        if digest_file(path) != digest:
            return "content differs from the digest recorded when it was written"
    return ""


def _npy_problem(path: Path, shape: tuple[int, ...]) -> str:
    """Header and size of a .npy file against the shape it must hold (uint8)."""
    try:
        with path.open("rb") as handle:
            version = np.lib.format.read_magic(handle)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            header = read(handle)
            offset = handle.tell()
    except (ValueError, OSError, EOFError) as err:
        return f"not a readable .npy file ({err})"
    found, _, dtype = header
    if tuple(found) != shape or dtype != np.uint8:
        return f"holds {dtype} {tuple(found)}, the frame parameters need uint8 {shape}"
    if path.stat().st_size != offset + int(np.prod(shape)):
        return f"truncated or padded: {path.stat().st_size} bytes, expected {offset + int(np.prod(shape))}"
    return ""


def _remove_stale(frames_dir: Path, keep: set[str]) -> int:
    stale = [p for p in frames_dir.glob("*.npy") if p.name not in keep]
    stale += list(frames_dir.glob("*.tmp"))
    for path in stale:
        path.unlink()
    return len(stale)
