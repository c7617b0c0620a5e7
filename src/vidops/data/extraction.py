"""Frame extraction: decode T frames per clip into <frames>/<clip_id>.npy plus index.csv.

Incremental: the output is ``persist: true`` in dvc.yaml and carries a fingerprint of the
frame parameters, so a clip already extracted with the same parameters is not decoded
again, and adding k clips to N decodes k. A clip that fails to decode gets an index row
with the reason and no frames; it never stops the stage.

Parallel: clips are decoded through the per-clip executor (compute/executor.py): a pool
of ``extract.workers`` processes on this machine, or the Dask cluster Dask is configured
for. A local process writes its clip's .npy files atomically and returns the index row;
a Dask worker sends the row and the bytes back and this process writes them, so the
artifacts folder need not be shared and a worker killed mid-clip leaves nothing behind.
Either way the same code encodes the bytes: they are identical wherever they were decoded.

Resumable: every clip written is also appended to ``index.journal`` (one JSON row per
line, under the fingerprint of the frame parameters). A run interrupted after k of N
clips (Ctrl-C, a kill, a lost Dask client) leaves the journal; the next run checks those
k frame files like any other and decodes only the N - k left. A finished run folds the
journal into index.csv and removes it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vidops.compute.executor import Executor, open_executor
from vidops.compute.tasks import Done, Task
from vidops.config import ExtractConfig
from vidops.data.records import FrameRecord, read_frame_index, read_manifest, views_file, write_records
from vidops.fileio import atomic_write, atomic_write_json, digest_bytes, digest_file
from vidops.video.decode import DecodeError, content_stats, sample_views
from vidops.video.sampling import frames_needed, jitter_offsets

log = logging.getLogger(__name__)

INDEX = "index.csv"
FINGERPRINT = "params.json"
JOURNAL = "index.journal"


@dataclass(frozen=True)
class ExtractResult:
    clips: int  # unique clips in the manifest
    decoded: int  # clips decoded in this run
    reused: int  # clips whose frames were already there with the same parameters
    failed: list[str]  # "path: reason" of every clip that did not decode
    removed: int  # frame files of clips no longer in the manifest
    workers: int = 1  # processes (or Dask workers) that decoded
    short: int = 0  # clips with fewer frames than the sampler needs (extract.short_clip applied)
    rejected: int = 0  # clips whose stored frames failed their check and were decoded again
    executor: str = ""  # where the clips were decoded ("" when none was)
    decoded_by: dict[str, int] = field(default_factory=dict)  # worker -> clips it decoded


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
    failed: list[str] = []
    decoded_by: Counter[str] = Counter()
    workers, where_run = 0, ""
    if todo:  # a run with nothing new needs no pool and no cluster
        with open_executor(min(worker_count(cfg), len(todo))) as executor, \
                _Journal(frames_dir / JOURNAL, fingerprint(cfg)) as journal:
            for row, where in _decode_all(cfg, todo, frames_dir, executor, progress):
                if row.decode_error:
                    failed.append(f"{row.path}: {row.decode_error}")
                    log.warning("cannot decode %s: %s", row.path, row.decode_error)
                rows[row.clip_id] = row
                journal.add(row)
                decoded_by[where] += 1
            workers, where_run = executor.workers, executor.where
        log.info("decoded %d clips on %s: %s", len(todo), where_run,
                 ", ".join(f"{w} {n}" for w, n in sorted(decoded_by.items())))
    rows = {cid: rows[cid] for cid in clips}  # manifest order: index.csv does not depend on timing
    decoded = len(todo)
    keep = {r.frames_file for r in rows.values() if r.frames_file}
    if cfg.train_views:
        keep |= {views_file(name) for name in keep}
    removed = _remove_stale(frames_dir, keep)
    write_records(frames_dir / INDEX, list(rows.values()), FrameRecord)
    atomic_write_json(frames_dir / FINGERPRINT, {"fingerprint": fingerprint(cfg),
                                                 **dataclasses.asdict(cfg)})
    (frames_dir / JOURNAL).unlink(missing_ok=True)  # folded into index.csv
    needed = frames_needed(cfg)
    short = sum(1 for r in rows.values() if 0 < r.decoded_frames < needed)
    if short:
        log.info("%d clips have fewer than %d frames: extract.short_clip %s", short, needed,
                 cfg.short_clip)
    return ExtractResult(len(clips), decoded, reused, failed, removed, workers, short, rejected,
                         where_run, dict(sorted(decoded_by.items())))


def worker_count(cfg: ExtractConfig) -> int:
    return cfg.workers if cfg.workers > 0 else min(8, os.cpu_count() or 1)


@dataclass(frozen=True)
class Decoded:
    """What a worker sends back for one clip: its index row and its .npy files' bytes."""

    row: FrameRecord
    frames: bytes = b""
    views: bytes = b""
    unreadable: bool = False  # the worker could not read the clip (the one failure that
    # depends on where it ran)


def _decode_all(cfg: ExtractConfig, todo: list, frames_dir: Path, executor: Executor,
                progress: bool, work: Callable[..., Decoded] | None = None
                ) -> Iterator[tuple[FrameRecord, str]]:
    """Index rows of ``todo`` (and the worker that decoded each) as they finish.

    A clip whose decoder crashes every process it runs in (FFmpeg and OpenCV are C code)
    gets a row saying so; the others are extracted. ``work``: the per-clip function
    (tests pass one that crashes on purpose).
    """
    work = work or _extract_one
    # Workers read the clip where this process sees it: an absolute path (the contract
    # with a Dask cluster is a filesystem shared at the same path, compute/dask_cluster.py).
    # Processes on this machine write the frames themselves (as fast as the release before
    # the seam); a cluster's workers send the bytes back and this process writes them.
    out = None if executor.remote else str(frames_dir)
    tasks = [Task(c.clip_id, (cfg, c.path, str(Path(c.path).resolve()), c.clip_id, out))
             for c in todo]
    paths = {c.clip_id: c.path for c in todo}
    bar = tqdm(total=len(todo), desc="extract", unit="clip", disable=not progress)
    for done in executor.run(work, tasks):
        yield _store(done, paths[done.key], frames_dir, executor), done.where
        bar.update()
    bar.close()


def _store(done: Done, path: str, frames_dir: Path, executor: Executor) -> FrameRecord:
    """Write what a worker decoded, atomically; the row to index."""
    if done.crashed:
        return _failed_row(done.key, Path(path), f"the decoder crashed its process on this file "
                                                 f"({done.crashed})")
    decoded: Decoded = done.value
    row = decoded.row
    if decoded.unreadable and executor.remote:
        # Only this failure depends on where it ran: say which worker could not see the file.
        return dataclasses.replace(row, decode_error=f"{row.decode_error} (on worker {done.where})")
    _write_frames(decoded, frames_dir)  # nothing to write when the worker wrote them
    return row


def _failed_row(cid: str, path: Path, reason: str) -> FrameRecord:
    return FrameRecord(cid, path.as_posix(), "", 0, 0, 0.0, 0, 0, 0.0, "", 0.0, 0.0, reason)


def _extract_one(_shared: None, cfg: ExtractConfig, path: str, source: str, cid: str,
                 out: str | None = None) -> Decoded:
    """Decode one clip (on whichever worker runs it): the row and the .npy bytes to write.

    ``path``: as the manifest names it (what the row records); ``source``: where to read it;
    ``out``: the frames folder when this worker writes the files itself (same machine).
    """
    if not os.access(source, os.R_OK):
        why = "no such file" if not os.path.exists(source) else "permission denied"
        return Decoded(_failed_row(cid, Path(path), f"cannot read {source} ({why})"),
                       unreadable=True)
    try:
        # The deterministic view, then the jittered training views, from one decode pass.
        clip, *jittered = sample_views(Path(source), cfg,
                                       [0.5, *jitter_offsets(cfg, cid, cfg.train_views)])
    except DecodeError as err:
        return Decoded(_failed_row(cid, Path(path), err.reason))
    name = f"{cid}.npy"
    views = _npy_bytes(np.stack([v.frames for v in jittered])) if jittered else b""
    frames = _npy_bytes(clip.frames)
    p = clip.probe
    intensity, motion = content_stats(clip.frames)
    row = FrameRecord(cid, Path(path).as_posix(), name, p.decoded_frames, p.header_frames,
                      round(p.fps, 4), p.width, p.height, round(p.duration_s, 4), p.codec,
                      round(intensity, 5), round(motion, 5), "", digest_bytes(frames),
                      digest_bytes(views) if views else "")
    decoded = Decoded(row, frames, views)
    if out is None:
        return decoded
    _write_frames(decoded, Path(out))
    return Decoded(row)


def _write_frames(decoded: Decoded, frames_dir: Path) -> None:
    # A kill between write and rename leaves only a .tmp file, never a half-written .npy.
    if decoded.views:
        atomic_write(frames_dir / views_file(decoded.row.frames_file),
                     lambda f: f.write(decoded.views))
    if decoded.frames:
        atomic_write(frames_dir / decoded.row.frames_file, lambda f: f.write(decoded.frames))


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


class _Journal:
    """``index.journal``: the rows written so far in this run, so an interrupted run resumes."""

    def __init__(self, path: Path, stamp: str) -> None:
        self.path, self.stamp = path, stamp
        self.handle = None

    def __enter__(self) -> _Journal:
        return self

    def add(self, row: FrameRecord) -> None:
        if self.handle is None:
            fresh = not self.path.is_file() or _journal_stamp(self.path) != self.stamp
            self.handle = self.path.open("w" if fresh else "a", encoding="utf-8")
            if fresh:
                self.handle.write(json.dumps({"fingerprint": self.stamp}) + "\n")
        # One line per row, flushed: a kill loses at most the line being written.
        self.handle.write(json.dumps(dataclasses.asdict(row)) + "\n")
        self.handle.flush()

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()


def _journal_stamp(path: Path) -> str:
    with path.open(encoding="utf-8") as handle:
        try:
            return json.loads(handle.readline()).get("fingerprint", "")
        except ValueError:
            return ""


def _journal_rows(path: Path, stamp: str) -> list[FrameRecord]:
    """The rows an interrupted run journaled under the same frame parameters."""
    if not path.is_file() or _journal_stamp(path) != stamp:
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        try:
            rows.append(FrameRecord(**json.loads(line)))
        except (ValueError, TypeError):
            break  # the line a kill tore: everything after it is unknown
    return rows


def _reusable_rows(cfg: ExtractConfig, frames_dir: Path) -> tuple[dict[str, FrameRecord], int]:
    """Rows (index.csv, then an interrupted run's journal) whose frame files are what the
    row says; and how many were not."""
    stamp, index = frames_dir / FINGERPRINT, frames_dir / INDEX
    candidates: list[FrameRecord] = []
    if stamp.is_file() and index.is_file():
        if json.loads(stamp.read_text()).get("fingerprint") == fingerprint(cfg):
            candidates = read_frame_index(index)
        else:
            log.info("frame parameters changed: re-extracting every clip")
            # Forget the old parameters before any frame file is rewritten: a kill during
            # the re-extraction must not leave old and new frames under a fingerprint that
            # vouches for them all.
            stamp.unlink()
    journaled = _journal_rows(frames_dir / JOURNAL, fingerprint(cfg))
    if journaled:
        log.info("%s: resuming an interrupted run (%d clips already written)",
                 frames_dir / JOURNAL, len(journaled))
    rows, rejected = {}, 0
    for row in [*candidates, *journaled]:  # a journaled row is newer than the index's
        if not row.frames_file:
            rows.pop(row.clip_id, None)
            continue  # failed last time: tried again
        problem = reuse_problem(cfg, frames_dir, row)
        if problem:
            log.warning("%s: %s; decoding %s again", frames_dir / row.frames_file, problem, row.path)
            rejected += 1
            rows.pop(row.clip_id, None)
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
