"""Which frame indices to take from a clip: the sampling strategies of ``extract.sampling``."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from vidops.config import ExtractConfig
from vidops.errors import VidopsError

# Where in its segment each frame is taken: one offset for all segments, or one per
# segment (TSN's random training offsets). Dense sampling uses a single window offset.
Offset = float | Sequence[float]


class ShortClip(VidopsError, ValueError):
    """The clip has fewer frames than the sampler needs and the policy is ``reject``."""


def uniform_indices(num_decoded: int, num_frames: int, offset: float = 0.5) -> list[int]:
    """One frame from each of ``num_frames`` equal segments of ``[0, num_decoded)``.

    ``offset`` in [0, 1) is where in its segment each frame is taken: 0.5 is the centre
    (the deterministic view); other offsets give the shifted views that video-level
    evaluation averages over. Spans the whole clip, so a motion that happens late is
    still seen. A clip shorter than ``num_frames`` repeats frames (each index is the frame
    shown at that moment), which keeps the time axis evenly spaced instead of padding.
    """
    if not 0.0 <= offset < 1.0:
        raise ValueError(f"offset must be in [0, 1), got {offset}")
    _check(num_decoded, num_frames)
    return [min(num_decoded - 1, int((i + offset) * num_decoded / num_frames))
            for i in range(num_frames)]


def segment_indices(num_decoded: int, offsets: list[float]) -> list[int]:
    """TSN: one frame per equal segment, each at its own offset in [0, 1) (random in training)."""
    _check(num_decoded, len(offsets))
    t = len(offsets)
    return [min(num_decoded - 1, int((i + o) * num_decoded / t)) for i, o in enumerate(offsets)]


def dense_indices(num_decoded: int, num_frames: int, stride: int, offset: float = 0.5) -> list[int]:
    """``num_frames`` consecutive frames ``stride`` apart; ``offset`` places the window
    (0: at the start, 0.5: centred, towards 1: at the end)."""
    _check(num_decoded, num_frames)
    span = (num_frames - 1) * stride + 1
    start = int(offset * (num_decoded - span + 1)) if num_decoded >= span else 0
    return [start + i * stride for i in range(num_frames)]


def frames_needed(cfg: ExtractConfig) -> int:
    """Frames a clip must have so that no sampled index repeats."""
    return (cfg.num_frames - 1) * cfg.stride + 1 if cfg.sampling == "dense" else cfg.num_frames


def sample_indices(num_decoded: int, cfg: ExtractConfig, offset: Offset = 0.5) -> list[int]:
    """The indices ``cfg`` asks for in a clip of ``num_decoded`` frames, short clips included.

    ``extract.short_clip`` decides for clips with fewer than :func:`frames_needed` frames:
    ``stretch`` spreads the T indices evenly over what there is (frames repeat in place),
    ``repeat_last`` takes what there is in order and repeats the last frame, ``loop``
    starts again from the first frame, ``reject`` refuses the clip (it is then recorded
    in the frame index with the reason, like an undecodable one).
    """
    _check(num_decoded, cfg.num_frames)
    needed = frames_needed(cfg)
    if num_decoded < needed:
        policy = cfg.short_clip
        if policy == "reject":
            raise ShortClip(f"{num_decoded} frames, fewer than the {needed} that "
                            f"extract.sampling {cfg.sampling} needs (extract.short_clip: reject)")
        step = cfg.stride if cfg.sampling == "dense" else 1
        if policy == "repeat_last":
            return [min(i * step, (num_decoded - 1) // step * step) for i in range(cfg.num_frames)]
        if policy == "loop":
            return [(i * step) % num_decoded for i in range(cfg.num_frames)]
        # stretch (below)
    if isinstance(offset, Sequence):
        if len(offset) != cfg.num_frames:
            raise ValueError(f"{len(offset)} segment offsets for {cfg.num_frames} frames")
        if cfg.sampling == "dense" and num_decoded >= needed:
            return dense_indices(num_decoded, cfg.num_frames, cfg.stride, offset[0])
        return segment_indices(num_decoded, list(offset))
    if cfg.sampling == "dense" and num_decoded >= needed:
        return dense_indices(num_decoded, cfg.num_frames, cfg.stride, offset)
    return uniform_indices(num_decoded, cfg.num_frames, offset)


def jitter_offsets(cfg: ExtractConfig, seed: str, views: int) -> list[Offset]:
    """``views`` random training views, reproducible from ``seed`` (the clip id).

    segment: an independent offset per segment (TSN); uniform: one shift of the whole
    grid; dense: a random window position.
    """
    out: list[Offset] = []
    for view in range(views):
        digest = hashlib.sha256(f"{seed}:{view}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        if cfg.sampling == "segment":
            out.append([rng.random() for _ in range(cfg.num_frames)])
        else:
            out.append(rng.random())
    return out


def _check(num_decoded: int, num_frames: int) -> None:
    if num_decoded <= 0:
        raise ValueError(f"cannot sample from a clip with {num_decoded} frames")
    if num_frames <= 0:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
